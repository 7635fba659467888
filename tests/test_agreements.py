"""The real agreements (policies/agreements): every source text has its set, every set checks
clean and gives the findings its README lists, and every quoted article is the source's own words."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path

import pytest

from coherence_rules.session import Session, lint

ROOT = Path(__file__).resolve().parent.parent
AGREEMENTS = ROOT / "policies" / "agreements"
SOURCES = ROOT.parent / "shared" / "data" / "real" / "agreements"
AS_OF = dt.date(2026, 11, 23)

#: The checklist topics each set has no clause on (its BLA-GAP findings), as its README lists them.
GAPS = {
    "nl-italy-mines-1948": {"labour_market_test", "reemployment"},
    "nl-france-labour-treaty-1948": {"labour_market_test", "recruitment_costs", "travel", "pre_departure_information",
                                     "reception", "contract_enforcement"},
    "nl-luxembourg-farmworkers-1950": {"labour_market_test", "recruitment_costs", "travel", "contract", "reception",
                                       "complaints", "contract_enforcement"},
    "benelux-labour-treaty-1956": {"recruitment_costs", "contract", "pre_departure_information", "reception",
                                   "return"},
    "nl-italy-1960": {"social_security", "complaints", "contract_enforcement"},
    "nl-spain-1961": set(),
    "nl-portugal-1963": set(),
    "nl-turkey-1964": set(),
    "nl-greece-1966": set(),
    "nl-morocco-1969": set(),
    "nl-tunisia-1971": set(),
    "ss-nl-italy-1952": set(),
    "ss-nl-turkey-1966": set(),
    "ss-nl-greece-1966": set(),
    "ss-nl-morocco-1972": set(),
    "ss-nl-spain-1974": set(),
    "ss-nl-yugoslavia-1977": set(),
    "ss-nl-tunisia-1978": {"employment_injury"},
    "ss-nl-portugal-1979": set(),
}


def test_every_set_is_listed():
    assert sorted(p.name for p in AGREEMENTS.iterdir() if p.is_dir()) == sorted(GAPS)


@pytest.mark.skipif(not SOURCES.is_dir(), reason="the source texts (../shared/data/real/agreements) are not here")
def test_every_source_text_has_its_set():
    assert sorted(p.stem for p in SOURCES.glob("*.md") if p.name != "README.md") == sorted(GAPS)


@pytest.fixture(scope="module")
def sessions():
    from coherence_rules.session import Rulesets

    rules = Rulesets(None)
    return {name: Session([AGREEMENTS / name], rules=rules, as_of=AS_OF) for name in GAPS}


@pytest.mark.parametrize("name", sorted(GAPS))
def test_set_lints_clean_and_gives_its_expected_findings(name, sessions):
    s = sessions[name]
    result = lint(s)
    assert result.diagnostics == [], [d.message for d in result.diagnostics]
    report = s.report
    gaps = {next(i for i in f.named if i.startswith("ET.")).rsplit(".", 1)[1]
            for f in report.findings if f.criterion == "BLA-GAP"}
    assert {f.criterion for f in report.findings} <= {"BLA-GAP"}, [f.message for f in report.findings]
    assert len([f for f in report.findings if f.criterion == "BLA-GAP"]) == len(GAPS[name])
    assert gaps == GAPS[name]
    agreements = [f for f in s.program.facts if f.type == "agreement"]
    assert len(agreements) == 1
    kind = "social_security" if name.startswith("ss-") else "bilateral_labour"
    assert agreements[0].values["kind"] == kind and agreements[0].values.get("signed")
    clauses = [f for f in s.program.facts if f.type == "clause"]
    assert len(clauses) >= 15
    for c in clauses:
        assert c.title and c.values.get("cite") and c.values.get("text"), c.id
        p = c.values.get("provision")
        assert p is None or re.fullmatch(r"[a-z][a-z0-9_]*", p), f"{c.id}: provision must be a position"
    readme = (AGREEMENTS / name / "README.md").read_text(encoding="utf-8")
    assert "Ambiguities" in readme and "Expected findings" in readme


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("*", "")
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.skipif(not SOURCES.is_dir(), reason="the source texts (../shared/data/real/agreements) are not here")
@pytest.mark.parametrize("name", sorted(GAPS))
def test_quoted_words_are_the_sources(name, sessions):
    source = _normal((SOURCES / f"{name}.md").read_text(encoding="utf-8"))
    missing = []
    for c in (f for f in sessions[name].program.facts if f.type == "clause"):
        for piece in re.split(r"\[\.\.\.\]|\[…\]|\.\.\.|…", c.values["text"]):  # omissions are marked
            piece = _normal(piece)
            if piece and piece not in source:
                missing.append((c.id, piece[:80]))
    assert not missing, missing[:5]
