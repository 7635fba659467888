"""`compare` (two agreements topic by topic) and `diff` (findings new, resolved and unchanged between
two versions of a policy set)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from coherence_rules.commands.compare import compare_sets
from coherence_rules.commands.diff import diff_sets
from coherence_rules.render import batch_text

POLICIES = Path(__file__).resolve().parents[2] / "policies"
AS_OF = dt.date(2026, 11, 23)

UNFUNDED = """
# Amendment 2026/3: a mentoring network for returning graduates, announced before its budget line.
measure NMDP.4.4 "Mentoring network linking diaspora professionals with returning graduates" {
  instrument: NMDP
  area: diaspora
  effect: facilitate
  group: diaspora
  delivered_by: EDB
  funded: false
  cite: "National Migration and Development Policy, amendment 2026/3, measure 4.4"
}
"""


@pytest.fixture
def versions(tmp_path, monkeypatch):
    """mauritius-old and mauritius-new: two copies of the Mauritius set to amend."""
    for name in ("mauritius-old", "mauritius-new"):
        shutil.copytree(POLICIES / "mauritius", tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def amend(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_lifting_the_nurse_cap_resolves_adm_sector(versions):
    # the amendment turns the cap of reg. 7 into facilitated admission; fact ids stay the same
    amend(versions / "mauritius-new" / "instruments.policy",
          'measure WPR.7 "Annual cap on work permits for foreign nurses" {\n  instrument: WPR\n'
          '  area: labour_migration\n  effect: restrict',
          'measure WPR.7 "Fast-track work permits for foreign nurses" {\n  instrument: WPR\n'
          '  area: labour_migration\n  effect: facilitate')
    result = diff_sets("mauritius-old", "mauritius-new", as_of=AS_OF)
    doc = result.to_dict()
    assert doc["schema"] == "coherence-diff/2"
    assert (doc["old"], doc["new"]) == ("mauritius-old", "mauritius-new")
    resolved = {(f["criterion"], tuple(f["facts"])) for f in doc["resolved"]}
    assert ("ADM-SECTOR", ("HSS.2.1", "WPR.7")) in resolved
    assert doc["new_findings"] == []
    assert {f["criterion"] for f in doc["unchanged"]} >= {"OBJ-NO-INDICATOR", "MEASURE-UNFUNDED"}
    old_fp = {f.fingerprint for f in result.old.findings}
    assert all(f["fingerprint"] in old_fp for f in doc["unchanged"])
    assert len(doc["unchanged"]) + len(doc["resolved"]) == len(result.old.findings)
    assert result.failing() == []
    text = batch_text.render_diff_text(doc)
    assert "resolved (" in text and "- ADM-SECTOR [HSS.2.1, WPR.7]" in text
    # the edit behind it: the measure's effect changed, at its location in the new version
    adm = next(f for f in doc["resolved"] if f["criterion"] == "ADM-SECTOR")
    [edit] = [e for e in adm["edits"] if e["fact"] == "WPR.7"]
    assert edit["change"] == "changed"
    assert {"field": "effect", "old": "restrict", "new": "facilitate"} in edit["fields"]
    assert "WPR.7: effect changed from restrict to facilitate" in text


def test_an_unfunded_measure_is_a_new_finding(versions):
    with open(versions / "mauritius-new" / "instruments.policy", "a", encoding="utf-8") as f:
        f.write(UNFUNDED)
    result = diff_sets("mauritius-old", "mauritius-new", as_of=AS_OF)
    doc = result.to_dict()
    assert [(f["criterion"], f["facts"], f["status"]) for f in doc["new_findings"]] == [
        ("MEASURE-UNFUNDED", ["NMDP.4.4"], "open")]
    assert doc["resolved"] == []
    assert [f.criterion for f in result.failing(-1)] == ["MEASURE-UNFUNDED"]
    assert result.failing(-2) == []  # it scores -1
    assert doc["summary"]["new_conflicts"] == 1
    md = batch_text.render_diff_markdown(doc)
    assert "## New findings (1)" in md and "NMDP.4.4" in md


def test_an_accept_changes_a_status_not_the_match(versions):
    with open(versions / "mauritius-new" / "instruments.policy", "a", encoding="utf-8") as f:
        f.write('\naccept ADM-SECTOR on [HSS.2.1, WPR.7] { reason: "Cabinet decision 2026/12"  until: 2027-12-31 }\n')
    doc = diff_sets("mauritius-old", "mauritius-new", as_of=AS_OF).to_dict()
    assert doc["new_findings"] == [] and doc["resolved"] == []
    [changed] = doc["status_changed"]
    assert (changed["criterion"], changed["status"]) == ("ADM-SECTOR", "accepted")
    assert changed["acceptance_change"]["change"] == "accept added" and changed["acceptance_change"]["was"] == "open"
    assert all(f["criterion"] != "ADM-SECTOR" for f in doc["unchanged"])


AMENDMENT = {
    # resolves OBJ-NO-INDICATOR on NMDP.2: the objective gains an indicator
    "resolve": ('objective NMDP.2 "Reverse the brain drain of highly skilled Mauritians" {',
                'objective NMDP.2 "Reverse the brain drain of highly skilled Mauritians" {\n'
                '  indicator: "highly skilled Mauritians returning per year"'),
}
NEW_OBJECTIVE = """
# Amendment 2026/4: a protection objective, not yet monitored.
objective NMDP.6 "Protect Mauritian workers abroad from abusive recruitment" {
  instrument: NMDP
  aim: protect
  target: protection
  group: workers
}

accept LABOUR-NO-EVIDENCE on [WPR.7] { reason: "Shortage study commissioned, due in 2027"  until: 2027-12-31 }
"""


def test_an_amendment_that_resolves_accepts_and_introduces_in_every_format(versions):
    """One amendment: an indicator resolves a finding, an accept changes another's status, a new
    objective introduces a third. Every format shows exactly those three changes, with the edits."""
    from coherence_rules.render.html import render_diff_html

    path = versions / "mauritius-new" / "instruments.policy"
    text = path.read_text(encoding="utf-8")
    assert AMENDMENT["resolve"][0] in text
    path.write_text(text.replace(*AMENDMENT["resolve"], 1) + NEW_OBJECTIVE, encoding="utf-8")
    result = diff_sets("mauritius-old", "mauritius-new", as_of=AS_OF)
    doc = result.to_dict()
    assert [(f["criterion"], f["facts"]) for f in doc["resolved"]] == [("OBJ-NO-INDICATOR", ["NMDP.2"])]
    assert [(f["criterion"], f["facts"]) for f in doc["new_findings"]] == [("OBJ-NO-INDICATOR", ["NMDP.6"])]
    assert [(f["criterion"], f["facts"], f["status"]) for f in doc["status_changed"]] == [
        ("LABOUR-NO-EVIDENCE", ["WPR.7"], "accepted")]
    assert doc["summary"]["new_findings"] == 1 and doc["summary"]["resolved"] == 1
    assert doc["summary"]["status_changed"] == 1
    assert doc["summary"]["unchanged"] == len(result.old.findings) - 2
    [resolved], [new] = doc["resolved"], doc["new_findings"]
    assert [(e["fact"], e["change"]) for e in resolved["edits"]] == [("NMDP.2", "changed")]
    assert resolved["edits"][0]["fields"] == [{"field": "indicator", "old": None,
                                               "new": "highly skilled Mauritians returning per year"}]
    assert [(e["fact"], e["change"]) for e in new["edits"]] == [("NMDP.6", "added")]
    assert new["edits"][0]["new_location"]["file"] == "mauritius-new/instruments.policy"

    lines = {
        "text": ["resolved (1)", "- OBJ-NO-INDICATOR [NMDP.2]", "because: NMDP.2: indicator changed from (none) to "
                 "highly skilled Mauritians returning per year", "new (1)", "+ OBJ-NO-INDICATOR [NMDP.6]",
                 "because: NMDP.6 “Protect Mauritian workers abroad from abusive recruitment” added",
                 "status changed (1)", "~ LABOUR-NO-EVIDENCE [WPR.7] -1 accepted", "accept added until 2027-12-31",
                 "(was open)"],
        "markdown": ["## Resolved findings (1)", "## New findings (1)", "## Findings whose status changed (1)",
                     "accepted (was open)", "NMDP.6 “Protect Mauritian workers abroad from abusive recruitment” added"],
    }
    rendered = {"text": batch_text.render_diff_text(doc), "markdown": batch_text.render_diff_markdown(doc)}
    for fmt, needles in lines.items():
        for needle in needles:
            assert needle in rendered[fmt], (fmt, needle)
    html = render_diff_html(doc)
    assert "Resolved findings (1)" in html and "New findings (1)" in html and "Status changed (1)" in html
    resolved_card = html[html.index('id="resolved"'):html.index('id="changed"')]
    assert "st-resolved" in resolved_card and "st-open" not in resolved_card and "Not resolved" not in resolved_card
    assert "Accepted (was open)" in html
    assert "indicator changed from (none) to highly skilled Mauritians returning per year" in html


@pytest.fixture
def agreements(tmp_path, monkeypatch):
    shutil.copytree(POLICIES / "agreements" / "nl-turkey-1964", tmp_path / "nl-tr-1964")
    shutil.copytree(POLICIES / "agreements" / "nl-turkey-1964", tmp_path / "nl-tr-revised")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_compare_shows_the_changed_topic(agreements):
    md = agreements / "nl-tr-revised" / "agreement.md"
    text = md.read_text(encoding="utf-8")
    # the revision puts repatriation costs on the worker, and adds a Dutch law on family reunification
    start = text.index("clause NL-TR-1964.A20.return")
    p = text.index("provision:", start)
    end = text.index("\n", p)
    text = text[:p] + 'provision: "worker_pays"' + text[end:]
    text += ('\n```policy\nlaw NLD.family "Dutch Aliens Act, family reunification" {\n  jurisdiction: NLD\n'
             '  topic: family\n  provision: "Family reunification after one year of lawful residence"\n}\n```\n')
    md.write_text(text, encoding="utf-8")

    result = compare_sets("nl-tr-1964", "nl-tr-revised", as_of=AS_OF)
    doc = result.to_dict()
    assert doc["schema"] == "coherence-compare/2"
    assert [(s["label"], s["name"]) for s in doc["sides"]] == [("A", "nl-tr-1964"), ("B", "nl-tr-revised")]
    rows = {r["topic"]: r for r in doc["topics"]}
    # the changed position is the one differing position
    assert rows["return"]["status"] == "differing positions"
    assert "worker_pays" in rows["return"]["positions"]["B"]
    assert "worker_pays" not in rows["return"]["positions"]["A"]
    assert sum(1 for r in doc["topics"] if r["status"] == "differing positions") == 1
    # the law only B has: its provision is prose, shown and not compared
    assert rows["family"]["covered_by"] == ["B"] and rows["family"]["missing"] == ["A"]
    assert rows["family"]["status"] == "side by side"
    (law,) = rows["family"]["clauses"]["B"]
    assert law["type"] == "law" and law["position"] is None and law["text"].startswith("Family reunification")
    # several clauses on wages, in article order, one of them taking the same position on both sides
    assert rows["wages"]["status"] == "same positions"
    assert [c["cite"] for c in rows["wages"]["clauses"]["A"]] == ["Art. 3(2)", "Art. 4(2)", "Art. 17(1)"]
    # the checklist's topics first, in its order, then the others in the topic enum's order
    order = [r["topic"] for r in doc["topics"]]
    assert order.index("recruitment_costs") < order.index("contract") < order.index("wages") < order.index("family")
    assert doc["sides"][0]["findings"] == []
    for render in (batch_text.render_compare_text, batch_text.render_compare_table, batch_text.render_compare_markdown):
        out = render(doc)
        assert "return" in out and "differing positions" in out and "law of NLD" in out


def test_compare_lists_each_sides_findings(agreements):
    result = compare_sets(POLICIES / "sweden", "nl-tr-1964", as_of=AS_OF)
    doc = result.to_dict()
    assert sorted(f["criterion"] for f in doc["sides"][0]["findings"]) == ["GENDER-NO-ANALYSIS", "INST-TWO-LEADS"]
    assert doc["topics"] and all(r["covered_by"] == ["B"] for r in doc["topics"])
    assert "INST-TWO-LEADS" in batch_text.render_compare_text(doc)
