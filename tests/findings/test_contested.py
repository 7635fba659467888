"""A pair that is both a synergy and a conflict: France's recruitment of nurses trained in Mauritius
is a skills partnership (+2) and a drain on the nursing workforce Mauritius plans to grow (-2).
Both are reported, side by side; the synergy is marked as contested and left out of the coherence
index, which would otherwise net the two out (docs/report-format.md, docs/criteria.md)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

import coherence_rules as C
from coherence_rules.render import render_report

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "partnership"
AS_OF = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def report():
    return C.check([FIXTURE], as_of=AS_OF)


def _one(report, code):
    [f] = [f for f in report.findings if f.criterion == code]
    return f


def test_both_findings_are_reported_and_the_synergy_is_contested(report):
    synergy, drain = _one(report, "SKILLS-PARTNERSHIP"), _one(report, "WORKFORCE-DRAIN")
    assert "FRMU.3" in synergy.facts and "FRMU.3" in drain.facts
    assert report.contested() == {synergy.fingerprint: [drain.fingerprint]}
    doc = report.to_dict()
    by_code = {f["criterion"]: f for f in doc["findings"]}
    assert by_code["SKILLS-PARTNERSHIP"]["contested_by"] == [drain.fingerprint]
    assert by_code["WORKFORCE-DRAIN"]["contested_by"] == []
    assert doc["summary"]["contested_synergies"] == 1


def test_the_index_leaves_the_contested_synergy_out(report):
    counted = [f.score for f in report.findings if f.criterion != "SKILLS-PARTNERSHIP"]
    assert report.summary()["coherence_index"] == round(sum(counted) / (3 * len(counted)), 4)
    assert report.summary()["synergies"] == 1  # still counted as a finding


def test_every_format_says_so(report):
    text = render_report(report, "text")
    assert "= contested by WORKFORCE-DRAIN on FRMU.3, HSS.2.1, MU: shown, and left out of the coherence index" in text
    html = render_report(report, "html")
    assert "Contested:" in html and "the synergy is left out of the coherence index" in html


def test_an_accepted_drain_no_longer_contests(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "set")
    path = tmp_path / "set" / "nurses.policy"
    path.write_text(path.read_text(encoding="utf-8") + '\naccept WORKFORCE-DRAIN on [HSS.2.1] {\n'
                    '  reason: "Recruitment capped by the 2026 mobility agreement"\n  until: 2027-12-31\n}\n',
                    encoding="utf-8")
    report = C.check([tmp_path / "set"], as_of=AS_OF)
    assert _one(report, "WORKFORCE-DRAIN").status == "accepted"
    assert report.contested() == {}


def test_a_constraining_conflict_on_the_same_fact_does_not_contest(report):
    # INST-NO-LEAD (-1) stands on FRMU.3 too: a missing lead actor does not undo the partnership
    assert any(f.criterion == "INST-NO-LEAD" and "FRMU.3" in f.facts for f in report.findings)
    [against] = report.contested().values()
    assert all(next(f for f in report.findings if f.fingerprint == fp).score <= -2 for fp in against)
