"""Tests written in the language, next to the criteria (``coherence test``).

Each test runs on its own: the rulesets' reference facts plus its ``given`` facts. The compiled
ruleset is built once and reused for every test. Coverage counts the criteria and rules that
fired in at least one test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..checker import check_test_facts
from ..checker.ir import TestIR
from ..diagnostics import Diagnostic
from ..findings.build import Finding, build_findings


@dataclass
class TestOutcome:
    __test__ = False

    name: str
    ruleset: str
    location: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "ruleset": self.ruleset, "location": self.location, "passed": self.passed,
            "failures": self.failures,
            "findings": [{"criterion": f.criterion, "facts": f.facts, "message": f.message} for f in self.findings],
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


@dataclass
class TestRun:
    __test__ = False

    outcomes: list[TestOutcome]
    criteria: list[str]
    rules: list[str]
    fired_criteria: set[str]
    fired_rules: set[str]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def coverage(self) -> float:
        total = len(self.criteria) + len(self.rules)
        if total == 0:
            return 100.0
        hit = len(self.fired_criteria & set(self.criteria)) + len(self.fired_rules & set(self.rules))
        return 100.0 * hit / total

    def uncovered(self) -> list[str]:
        return self.unfired_criteria() + self.underived_rules()

    def unfired_criteria(self) -> list[str]:
        """The criteria that fired in no test."""
        return sorted(set(self.criteria) - self.fired_criteria)

    def underived_rules(self) -> list[str]:
        """The derivation rules that derived no fact in any test."""
        return sorted(set(self.rules) - self.fired_rules)


def _matches_ids(f: Finding, ids: list[str]) -> bool:
    return all(i in f.named for i in ids)


def _compare(op: str, a: int, b: int) -> bool:
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def evaluate(test: TestIR, findings: list[Finding]) -> list[str]:
    """The failure messages of a test's expectations against the findings of its run."""
    failures = []
    for e in test.expectations:
        of_code = [f for f in findings if f.criterion == e.code]
        if e.kind == "on":
            if not any(_matches_ids(f, e.ids) for f in of_code):
                failures.append(f"expected {e.code} on [{', '.join(e.ids)}]")
        elif e.kind == "no":
            if of_code:
                failures.append(f"expected no {e.code}, got {len(of_code)}")
        else:
            if not _compare(e.op, len(of_code), e.count):
                failures.append(f"expected count {e.code} {e.op} {e.count}, got {len(of_code)}")
    return failures


def run_tests(session, *, rulesets: Optional[set[str]] = None) -> Optional[TestRun]:
    """Run the tests of ``session``'s program (only those of ``rulesets`` when given), each on the
    rulesets' reference facts plus its own ``given`` facts, on the session's compiled ruleset.
    None when the rulesets do not check (``session.diagnostics`` say why)."""
    from .. import engine

    if not session.run_until("compile") or session.stopped is not None:
        return None
    program, compiled, today = session.program, session.compiled, session.as_of
    rule_files = {m.file for m in session.workspace.rule_modules}
    reference = [f for f in program.facts if f.span is not None and f.span.file in rule_files]
    reference_ids = frozenset(f.id for f in reference)
    outcomes = []
    fired_c: set[str] = set()
    fired_r: set[str] = set()
    for t in (t for t in program.tests if rulesets is None or t.ruleset in rulesets):
        loc = f"{t.span.file}:{t.span.line}"
        facts, diags = check_test_facts(program, t, reference)
        if any(d.is_error for d in diags):
            outcomes.append(TestOutcome(t.name, t.ruleset, loc, False, ["the given facts do not check"], [], diags))
            continue
        result = engine.run(program, facts, today, engine=session.engine, compiled=compiled)
        if result.diagnostics:
            outcomes.append(TestOutcome(t.name, t.ruleset, loc, False, ["the run stopped"], [],
                                        diags + result.diagnostics))
            continue
        store = {f.id: f for f in facts}
        store.update(result.derived)
        findings, _, _ = build_findings(program, result, store, today, reference=reference_ids)
        fired_c |= {f.criterion for f in findings}
        fired_r |= {d.rule for ds in result.derivations.values() for d in ds}
        failures = evaluate(t, findings)
        outcomes.append(TestOutcome(t.name, t.ruleset, loc, not failures, failures, findings, diags))
    criteria = [c.code for c in program.criteria if rulesets is None or c.ruleset in rulesets]
    rules = [r.name for r in program.rules if rulesets is None or r.ruleset in rulesets]
    return TestRun(outcomes, criteria, rules, fired_c, fired_r)


# ---- the tests a criterion should have (``lint --require-tests``) --------------------------------------------

def _fires(e) -> bool:
    """Whether an expectation asks for the criterion to fire (at least once)."""
    if e.kind == "on":
        return True
    if e.kind != "count":
        return False
    return (e.op == "==" and e.count >= 1) or (e.op == ">=" and e.count >= 1) or (e.op == ">" and e.count >= 0) \
        or (e.op == "!=" and e.count == 0)


def _near_miss(e) -> bool:
    """Whether an expectation asks for the criterion not to fire: ``expect no``, ``count == 0``."""
    if e.kind == "no":
        return True
    return e.kind == "count" and ((e.op == "==" and e.count == 0) or (e.op == "<" and e.count == 1)
                                  or (e.op == "<=" and e.count == 0))


def missing_tests(program, *, include_builtin: bool = False) -> list[Diagnostic]:
    """W409 for each criterion without a test where it fires or without a near miss (a test where it
    must not fire), the convention the core ruleset keeps. The tests may be anywhere in the
    program. Criteria of the built-in rulesets (``coherence_rules/rulesets/...``) are left out unless
    ``include_builtin``: linting a policy set should not report on the rulesets it is checked with."""
    from ..session import BUILTIN_PREFIX

    fires: set[str] = set()
    misses: set[str] = set()
    for t in program.tests:
        for e in t.expectations:
            if _fires(e):
                fires.add(e.code)
            if _near_miss(e):
                misses.add(e.code)
    out = []
    for c in program.criteria:
        if c.span is None or (c.span.file.startswith(BUILTIN_PREFIX) and not include_builtin):
            continue
        fire, miss = "test where it fires", "near miss (a test where it must not fire)"
        lacks = [what for what, have in ((fire, c.code in fires), (miss, c.code in misses)) if not have]
        if not lacks:
            continue
        example = {fire: f"`expect {c.code} on [...]`", miss: f"`expect no {c.code}`"}
        out.append(Diagnostic.make(
            "W409", f"criterion {c.code} has no {' and no '.join(lacks)}", c.span,
            label="not covered by the tests",
            help="add " + " and ".join(f"a test with {example[w]}" for w in lacks)
                 + ("; a near miss copies a firing test and changes the one fact that makes the difference"
                    if miss in lacks else "")))
    return out
