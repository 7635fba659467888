"""The report's view by global framework: the SDG targets and GCM objectives a set names, the
findings involving a fact serving each, and the interactions between targets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import coherence_rules as C
from coherence_rules.findings.frameworks import target_key
from coherence_rules.render import render_report

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "frameworks"
REFERENCE = ROOT / "policies" / "reference"


@pytest.fixture(scope="module")
def report():
    return C.check([FIXTURE], with_=[REFERENCE], as_of=dt.date(2026, 11, 23))


def _by_code(report):
    return {f.criterion: f.fingerprint for f in report.findings}


def test_targets_list_their_facts_and_findings(report):
    view = report.frameworks()
    codes = _by_code(report)
    assert [t["id"] for t in view["targets"]] == ["SDG-3.c", "SDG-10.c", "GCM-19", "GCM-20"]
    rows = {t["id"]: t for t in view["targets"]}
    assert rows["SDG-3.c"]["facts"] == ["PLAN.1"]
    assert rows["SDG-3.c"]["findings"] == [codes["ADM-SECTOR"]]
    assert (rows["SDG-3.c"]["worst"], rows["SDG-3.c"]["best"]) == (-2, -2)
    assert rows["GCM-19"]["facts"] == ["PLAN.2", "PLAN.4"]
    assert rows["GCM-19"]["findings"] == [codes["DIASPORA-SYNERGY"]]
    assert rows["GCM-20"]["framework"] == "GCM" and rows["SDG-10.c"]["framework"] == "SDG"
    assert rows["GCM-20"]["title"].startswith("Promote faster, safer and cheaper transfer of remittances")


def test_interactions_pair_targets_of_different_facts(report):
    view = report.frameworks()
    pairs = {(c["a"], c["b"]): (c["worst"], c["best"]) for c in view["interactions"]}
    # PLAN.4 serves SDG-10.c, GCM-19 and GCM-20 and PLAN.2 serves GCM-19: the synergy between them
    # links each target of one to each target of the other; the targets of one fact alone never pair
    assert pairs == {("SDG-10.c", "GCM-19"): (1, 1), ("GCM-19", "GCM-19"): (1, 1), ("GCM-19", "GCM-20"): (1, 1)}
    # the admission cap serves nothing: its conflict with PLAN.1 shows on SDG-3.c only
    assert not any("SDG-3.c" in k for k in pairs)


def test_the_view_is_in_the_json_report(report):
    doc = report.to_dict()
    assert doc["frameworks"] == report.frameworks()


def test_text_markdown_and_html_show_the_view(report):
    text = render_report(report, "text")
    assert "Global frameworks: the set serves 2 SDG targets and 2 GCM objectives" in text
    assert "served by PLAN.1; findings: -2 (ADM-SECTOR)" in text
    assert "GCM-19, between two facts serving it: +1 (DIASPORA-SYNERGY)" in text
    md = render_report(report, "markdown")
    assert "## Global frameworks" in md and "| GCM-19 Create conditions" in md
    html = render_report(report, "html")
    assert 'id="frameworks"' in html and "Between targets" in html
    anchor = html.split('<section id="frameworks"')[1].split("</section>")[0]
    assert 'href="#f-' in anchor  # each finding links to its card


def test_a_set_that_names_no_target_has_an_empty_view():
    report = C.check([ROOT / "policies" / "kenya-ncm"], as_of=dt.date(2026, 11, 23))
    assert report.frameworks() == {"targets": [], "interactions": []}
    assert "Global frameworks" not in render_report(report, "text")
    assert 'id="frameworks"' not in render_report(report, "html")


def test_targets_sort_by_framework_then_numbering():
    ids = ["GCM-18", "SDG-10.7", "SDG-3.c", "GCM-2", "SDG-3.9", "SDG-17.18"]
    assert sorted(ids, key=target_key) == ["SDG-3.9", "SDG-3.c", "SDG-10.7", "SDG-17.18", "GCM-2", "GCM-18"]
