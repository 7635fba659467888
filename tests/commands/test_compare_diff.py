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
    assert doc["schema"] == "coherence-diff/1"
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
    assert [(c["criterion"], c["old"], c["new"]) for c in doc["status_changes"]] == [("ADM-SECTOR", "open", "accepted")]


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
    assert doc["schema"] == "coherence-compare/1"
    rows = {r["topic"]: r for r in doc["topics"]}
    assert rows["return"]["status"] == "differ"
    assert "worker_pays" in rows["return"]["b"]
    assert "worker_pays" not in rows["return"]["a"]
    assert rows["family"]["status"] == "only B" and rows["family"]["a"] == ""
    assert "(law of NLD)" in rows["family"]["b"]
    assert rows["wages"]["status"] == "same"
    assert "; " in rows["wages"]["a"]  # several clauses on wages, joined
    assert sum(1 for r in doc["topics"] if r["status"] == "differ") == 1
    # topics in the order of the topic enum
    order = [r["topic"] for r in doc["topics"]]
    assert order.index("recruitment_costs") < order.index("contract") < order.index("wages") < order.index("family")
    assert doc["a"]["findings"] == [] and doc["a"]["name"] == "nl-tr-1964"
    for render in (batch_text.render_compare_text, batch_text.render_compare_table, batch_text.render_compare_markdown):
        out = render(doc)
        assert "return" in out and "differ" in out


def test_compare_lists_each_sides_findings(agreements):
    result = compare_sets(POLICIES / "sweden", "nl-tr-1964", as_of=AS_OF)
    doc = result.to_dict()
    assert [f["criterion"] for f in doc["a"]["findings"]] == ["INST-TWO-LEADS"]
    assert all(r["status"] == "only B" for r in doc["topics"])
    assert "INST-TWO-LEADS" in batch_text.render_compare_text(doc)
