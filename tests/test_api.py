"""The Python API a notebook user sees: check(), lint(), the Report object."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import coherence_rules
from coherence_rules.findings.report import Report

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 11, 23)


def test_check_returns_a_report_a_notebook_can_show(monkeypatch):
    monkeypatch.chdir(ROOT)
    report = coherence_rules.check("policies/mauritius", as_of=AS_OF)
    assert isinstance(report, Report)
    adm = [f for f in report.findings if f.criterion == "ADM-SECTOR"]
    assert [f.facts for f in adm] == [["HSS.2.1", "WPR.7"]]
    assert adm[0].label == "counteracting" and adm[0].score == -2
    assert adm[0].trace.children[0].id == "HSS.2.1"
    html = report._repr_html_()
    assert "<html" in html and "ADM-SECTOR" in html
    assert "findings" in repr(report)
    # calling check twice in one process works (the API function is not shadowed by a module)
    again = coherence_rules.check(["policies/mauritius"], as_of=AS_OF)
    assert again.to_json() == report.to_json()


def test_summary_index_and_matrix(monkeypatch):
    monkeypatch.chdir(ROOT)
    report = coherence_rules.check(["policies/mauritius"], as_of=AS_OF)
    s = report.summary()
    assert s["findings"] == len(report.findings)
    counted = [f for f in report.findings if not (f.status == "accepted" and f.score < 0)]
    assert s["coherence_index"] == round(sum(f.score for f in counted) / (3 * len(counted)), 4)
    assert sum(s["by_score"].values()) == s["findings"]
    m = report.matrix()
    cell = [c for c in m["cells"] if (c["a"], c["b"]) == ("HSS", "WPR")]
    assert cell and cell[0]["worst"] == -2
    fp = [f.fingerprint for f in report.findings if f.criterion == "ADM-SECTOR"][0]
    assert fp in cell[0]["findings"]
    doc = json.loads(report.to_json())
    assert doc["schema"] == "coherence-report/1" and doc["summary"] == json.loads(json.dumps(s))


def test_lint_api_returns_diagnostics(tmp_path):
    p = tmp_path / "x.policy"
    p.write_text("jurisdiction MU { level: national }\njurisdiction MU { level: national }\n")
    result = coherence_rules.lint(p)
    assert [d.code for d in result.errors] == ["E201"]
    assert result.errors[0].span.line == 2


def test_bad_input_gives_a_report_with_diagnostics_and_no_findings(tmp_path):
    p = tmp_path / "x.policy"
    p.write_text("measure M { instrument: NOPE  area: admission  effect: restrict }\n")
    report = coherence_rules.check([p], as_of=AS_OF)
    assert report.findings == [] and {d.code for d in report.errors} == {"E203"}
