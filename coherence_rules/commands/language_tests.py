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
        return sorted(set(self.criteria) - self.fired_criteria) + sorted(set(self.rules) - self.fired_rules)


def _matches_ids(f: Finding, ids: list[str]) -> bool:
    basis = set(f.facts) | {d["id"] for d in f.fact_details}
    return all(i in basis for i in ids)


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
        findings, _, _ = build_findings(program, result, store, today)
        fired_c |= {f.criterion for f in findings}
        fired_r |= {d.rule for ds in result.derivations.values() for d in ds}
        failures = evaluate(t, findings)
        outcomes.append(TestOutcome(t.name, t.ruleset, loc, not failures, failures, findings, diags))
    criteria = [c.code for c in program.criteria if rulesets is None or c.ruleset in rulesets]
    rules = [r.name for r in program.rules if rulesets is None or r.ruleset in rulesets]
    return TestRun(outcomes, criteria, rules, fired_c, fired_r)
