"""The shipped rulesets: every criterion has a test where it fires and a near miss where it must
not, its documentation, and the scores and dimensions CRITERIA.md fixes."""

from __future__ import annotations

import pytest

from coherence_rules.checker import check
from coherence_rules.session import Session, builtin_rulesets

# CRITERIA.md: code -> (score, dimension); names are public interface
CORE = {
    "ADM-SECTOR": (-2, "horizontal"), "WORKFORCE-DRAIN": (-2, "external"), "SILO": (-2, "horizontal"),
    "REMIT-INVEST": (-2, "horizontal"), "INTEGRATION-ACCESS": (-1, "horizontal"),
    "SUBNATIONAL-UNCOORDINATED": (-1, "vertical"), "CHILDREN-EDUCATION": (-1, "vertical"),
    "INST-NO-LEAD": (-1, "institutional"), "INST-TWO-LEADS": (-1, "institutional"),
    "OBJ-NO-INDICATOR": (-1, "evidence"), "LABOUR-NO-EVIDENCE": (-1, "evidence"),
    "MEASURE-UNFUNDED": (-1, "resources"), "NO-CONSULTATION": (-1, "whole_of_society"),
    "INTL-OBLIGATION": (-3, "international"), "WHO-SAFEGUARD": (-2, "international"), "BLA-GAP": (-1, "bilateral"),
    "BLA-LAW-CONFLICT": (-2, "bilateral"), "RETURN-NO-REINTEGRATION": (-1, "external"),
    "INSTRUMENT-EXPIRED": (-1, "internal"), "SKILLS-PARTNERSHIP": (2, "external"), "DIASPORA-SYNERGY": (1, "horizontal"),
    # CRITERIA.md v0.2, and the two criteria designed from the seeds' guiding principles
    "MEASURE-CONFLICT": (-2, "horizontal"), "OBJECTIVE-MEASURE": (-2, "horizontal"),
    "GENDER-NO-ANALYSIS": (-1, "evidence"), "CHILD-BEST-INTERESTS": (-2, "international"),
}


@pytest.fixture(scope="module")
def program():
    ws = Session(rulesets=builtin_rulesets()).workspace
    p = check(ws.rule_modules)
    assert not p.errors
    return p


def test_core_criteria_are_exactly_those_of_criteria_md(program):
    core = {c.code: (c.score, c.dimension) for c in program.criteria if c.ruleset == "core"}
    assert core == CORE


def test_every_criterion_has_a_firing_test_and_a_near_miss(program):
    for c in program.criteria:
        expectations = [e for t in program.tests for e in t.expectations if e.code == c.code]
        fires = [e for e in expectations if e.kind == "on" or (e.kind == "count" and e.count > 0)]
        misses = [e for e in expectations if e.kind == "no" or (e.kind == "count" and e.count == 0)]
        assert fires, f"{c.code} has no test where it fires"
        assert misses, f"{c.code} has no near-miss test"


def test_every_criterion_is_documented(program):
    for c in program.criteria:
        for key in ("detects", "why", "example", "resolution"):
            assert c.docs.get(key, "").strip(), f"{c.code} has no `{key}`"
        assert c.source.strip() and c.advice.strip() and c.message.strip()


def test_shipped_essential_topics(program):
    topics = sorted(f.values["topic"] for f in program.facts if f.type == "essential_topic"
                    and f.values["kind"] == "bilateral_labour")
    # the seven topics of the first version, and the rest of ILO C97's Annex II checklist
    assert topics == sorted(["recruitment_costs", "contract", "wages", "social_security", "complaints",
                             "joint_committee", "return", "recruitment_channels", "labour_market_test", "travel",
                             "pre_departure_information", "reception", "reemployment", "contract_enforcement"])
    cites = {f.values["topic"]: f.values.get("cite", "") for f in program.facts if f.type == "essential_topic"
             and f.values["kind"] == "bilateral_labour"}
    assert all(c.startswith("ILO C97") for c in cites.values()), cites
