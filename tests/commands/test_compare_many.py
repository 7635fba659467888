"""`coherence compare A B [C...]` and `compare --against MODEL A [B...]`: the real agreements topic by
topic, article by article; differing positions are marked, prose is shown and never called a
clash; the checklist topics every side misses are listed; the rulesets are read once."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from coherence_rules.commands.compare import compare_many, side_labels
from coherence_rules.commands.topics import article_key
from coherence_rules.render import batch_text
from tests.clirunner import invoke

ROOT = Path(__file__).resolve().parents[2]
AGREEMENTS = ROOT / "policies" / "agreements"
AS_OF = dt.date(2026, 11, 23)
THREE = ["policies/agreements/nl-italy-1960", "policies/agreements/nl-turkey-1964",
         "policies/agreements/nl-morocco-1969"]
RENDERERS = (batch_text.render_compare_text, batch_text.render_compare_table, batch_text.render_compare_markdown)


@pytest.fixture(scope="module")
def three():
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        yield compare_many(THREE, as_of=AS_OF).to_dict()


def rows_of(doc: dict) -> dict:
    return {r["topic"]: r for r in doc["topics"]}


def test_three_agreements_topic_by_topic(three):
    doc = three
    assert doc["schema"] == "coherence-compare/2" and doc["against"] is None
    assert [(s["label"], s["name"], s["agreements"][0]["id"]) for s in doc["sides"]] == [
        ("A", THREE[0], "NL-IT-1960"), ("B", THREE[1], "NL-TR-1964"), ("C", THREE[2], "NL-MA-1969")]
    rows = rows_of(doc)
    # positions that are not the same: differing positions
    assert rows["travel"]["status"] == "differing positions"
    assert rows["travel"]["positions"] == {"A": ["employer_pays", "state_pays"], "B": ["employer_pays"],
                                           "C": ["state_pays"]}
    assert rows["recruitment_channels"]["status"] == "differing positions"
    assert rows["recruitment_channels"]["positions"] == {"A": ["public_service_only"], "C": ["authorised_agencies"]}
    assert rows["joint_committee"]["positions"] == {"A": ["on_request"], "B": ["on_request"], "C": ["standing"]}
    # the same position everywhere
    assert rows["wages"]["status"] == "same positions"
    assert rows["wages"]["positions"] == {s: ["equal_treatment"] for s in "ABC"}
    # prose on all three sides, worded differently: shown, never compared
    lmt = rows["labour_market_test"]
    assert lmt["status"] == "side by side" and lmt["positions"] == {} and lmt["covered_by"] == ["A", "B", "C"]
    assert len({c["text"] for side in lmt["clauses"].values() for c in side}) == 3
    # one side only
    assert rows["training"]["covered_by"] == ["A"] and rows["training"]["missing"] == ["B", "C"]
    assert rows["family"]["status"] == "side by side"  # one position alone is nothing to compare
    # article by article, in article order, with citations
    for r in doc["topics"]:
        for clauses in r["clauses"].values():
            assert [c["cite"] for c in clauses] == sorted((c["cite"] for c in clauses), key=article_key)
            assert all(c["cite"] and c["location"]["line"] > 0 for c in clauses)
    assert [c["cite"] for c in rows["travel"]["clauses"]["B"]] == ["Art. 11(2)-(3)", "Art. 12", "Exchange of notes, I"]
    assert [c["cite"] for c in rows["wages"]["clauses"]["C"]] == ["Art. 2(3)", "Art. 3(2)", "Art. 16(1)", "Art. 19(2)"]
    s = doc["summary"]
    assert s["sides"] == 3 and s["topics"] == len(doc["topics"]) == 25
    assert s["differing_positions"] + s["same_positions"] + s["side_by_side"] == 25
    assert s["differing_positions"] == 5 and s["missing_everywhere"] == 0
    # the checklist first, in its order
    order = [r["topic"] for r in doc["topics"]]
    assert order[:3] == ["recruitment_channels", "labour_market_test", "recruitment_costs"]
    assert order.index("joint_committee") < order.index("working_conditions") < order.index("family")


def test_prose_is_never_called_a_clash(three):
    for render in RENDERERS:
        out = render(three)
        assert "clash" not in out and "differ " not in out
        for block in re.split(r"\n(?===)", out):
            if block.startswith("== the labour market test"):
                assert "side by side" in block and "differ" not in block
        assert "differing positions" in out
    text = batch_text.render_compare_text(three)
    assert "== the journey (travel): differing positions (A: employer_pays, state_pays; B: employer_pays; " \
           "C: state_pays)" in text
    assert "== the labour market test (labour_market_test): side by side\n" in text
    assert "    Art. 11(2)-(3) [employer_pays]  The Directorate organises and pays the journey" in text
    assert "« Le transport depuis les lieux de départ" in text
    md = batch_text.render_compare_markdown(three)
    assert "| the journey | **differing positions** |" in md and "| the labour market test | side by side |" in md


def test_a_reworded_article_is_side_by_side_and_a_changed_position_differs(tmp_path, monkeypatch):
    for name in ("a", "b", "c"):
        shutil.copytree(AGREEMENTS / "nl-turkey-1964", tmp_path / name)
    monkeypatch.chdir(tmp_path)
    md = tmp_path / "b" / "agreement.md"
    text = md.read_text(encoding="utf-8")
    # b rewords Art. 2 (prose) and puts the return journey on the worker (a position)
    assert text.count("la Direction fournit, tous les six mois au moins") == 2  # the quotation and the fact
    text = text.replace("la Direction fournit, tous les six mois au moins", "la Direction fournit, chaque trimestre")
    start = text.index("clause NL-TR-1964.A20.return")
    at = text.index('provision: "employer_pays"', start)
    md.write_text(text[:at] + 'provision: "worker_pays"' + text[at + len('provision: "employer_pays"'):],
                  encoding="utf-8")
    doc = compare_many(["a", "b", "c"], as_of=AS_OF).to_dict()
    rows = rows_of(doc)
    assert rows["labour_market_test"]["status"] == "side by side"
    assert rows["labour_market_test"]["clauses"]["A"][0]["text"] != rows["labour_market_test"]["clauses"]["B"][0]["text"]
    assert rows["return"]["status"] == "differing positions"
    assert rows["return"]["positions"] == {"A": ["employer_pays"], "B": ["worker_pays"], "C": ["employer_pays"]}
    assert [r["topic"] for r in doc["topics"] if r["status"] == "differing positions"] == ["return"]
    # identical copies: every topic with positions has the same ones
    same = compare_many(["a", "c"], as_of=AS_OF).to_dict()
    assert same["summary"]["differing_positions"] == 0 and same["summary"]["same_positions"] > 0


def test_the_checklist_topics_every_side_misses(monkeypatch):
    monkeypatch.chdir(ROOT)
    sides = ["policies/agreements/nl-france-labour-treaty-1948", "policies/agreements/nl-luxembourg-farmworkers-1950"]
    doc = compare_many(sides, as_of=AS_OF).to_dict()
    missing = [m["topic"] for m in doc["missing_everywhere"]]
    assert missing == ["labour_market_test", "recruitment_costs", "travel", "reception", "contract_enforcement"]
    assert doc["missing_everywhere"][3] == {"topic": "reception", "label": "reception on arrival",
                                            "kinds": ["bilateral_labour"], "cites": ["ILO C97, Annex II, Art. 7 and 8"]}
    assert doc["summary"]["missing_everywhere"] == 5
    covered = {r["topic"] for r in doc["topics"]}
    assert not covered & set(missing)
    text = batch_text.render_compare_text(doc)
    assert "checklist topics none of them covers:\n  the labour market test (labour_market_test): ILO C97" in text
    assert "## Checklist topics none of them covers" in batch_text.render_compare_markdown(doc)


def test_against_a_model(monkeypatch):
    monkeypatch.chdir(ROOT)
    doc = compare_many(["policies/agreements/nl-greece-1966", "policies/agreements/nl-france-labour-treaty-1948"],
                       against="policies/agreements/nl-turkey-1964", as_of=AS_OF).to_dict()
    assert doc["against"] == "model"
    assert [(s["label"], s["agreements"][0]["id"]) for s in doc["sides"]] == [
        ("model", "NL-TR-1964"), ("A", "NL-GR-1966"), ("B", "NL-FR-1948")]
    rows = rows_of(doc)
    assert rows["travel"]["against_model"] == {"A": "same position", "B": "missing"}
    assert rows["travel"]["status"] == "same positions"
    assert rows["recruitment_costs"]["against_model"] == {"A": "differing position", "B": "missing"}
    assert rows["recruitment_costs"]["status"] == "differing positions"
    # B takes another position than the model on the joint committee; A the model's
    assert rows["joint_committee"]["against_model"] == {"A": "same position", "B": "differing position"}
    assert rows["family"]["against_model"] == {"B": "not in the model"}
    assert rows["contract"]["against_model"] == {"A": "side by side", "B": "side by side"}
    assert "model" not in rows["family"]["covered_by"]
    for render in RENDERERS:
        out = render(doc)
        assert "model" in out and "not in the model" in out and "differing position" in out
    text = batch_text.render_compare_text(doc)
    assert text.splitlines()[1].startswith("model: policies/agreements/nl-turkey-1964 (NL-TR-1964")
    assert "  B: nothing on this topic  (missing)" in text


def test_the_command(monkeypatch):
    monkeypatch.chdir(ROOT)
    r = invoke("compare", *THREE, "--format", "json", "--as-of", "2026-11-23")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["schema"] == "coherence-compare/2" and [s["label"] for s in doc["sides"]] == ["A", "B", "C"]
    for fmt in ("text", "table", "markdown"):
        out = invoke("compare", *THREE, "-f", fmt, "--as-of", "2026-11-23")
        assert out.exit_code == 0 and "differing positions" in out.stdout and "NL-MA-1969" in out.stdout
    one = invoke("compare", "--against", THREE[1], THREE[0], "-f", "json", "--as-of", "2026-11-23")
    assert one.exit_code == 0 and [s["label"] for s in json.loads(one.stdout)["sides"]] == ["model", "A"]
    bad = invoke("compare", THREE[0], "--as-of", "2026-11-23")
    assert bad.exit_code == 2 and "two policy sets or more" in bad.stderr
    assert invoke("compare", THREE[0], "policies/agreements/no-such-set", "--as-of", "2026-11-23").exit_code == 2


def test_every_side_is_read_once_on_rulesets_read_once(monkeypatch):
    from coherence_rules import checker
    from coherence_rules.sources import loader

    parsed: list[str] = []
    checked: list[int] = []
    real_load, real_check = loader.load_file, checker.check

    def counting_load(path, explicit, loaded, shown=None):
        parsed.append(str(path))
        return real_load(path, explicit, loaded, shown)

    def counting_check(modules):
        checked.append(1)
        return real_check(modules)

    monkeypatch.setattr(loader, "load_file", counting_load)
    monkeypatch.setattr(checker, "check", counting_check)
    monkeypatch.chdir(ROOT)
    result = compare_many(THREE, as_of=AS_OF)
    assert not result.errors
    files = sorted(str(p.relative_to(ROOT)) for side in THREE for p in (ROOT / side).iterdir() if p.suffix == ".md")
    assert sorted(parsed) == files  # every file of each side read once
    assert len(checked) == 1 + 3  # the rulesets alone once, then each side


def test_side_labels():
    assert side_labels(3) == ["A", "B", "C"]
    assert side_labels(28)[-3:] == ["Z", "AA", "AB"]
