"""The compile and run stages: criteria and rules compiled to a durable_rules ruleset
(:mod:`.compiler`), run through its C API with no ``Host`` and no background threads (:mod:`.durable_run`),
in a child process (:mod:`.isolation`); what conditions mean is :mod:`.semantics`, what a run
produces :mod:`.records`. The reference evaluator (:mod:`.reference`) gives the same answers by
plain nested loops: it is the oracle of the differential tests, and ``engine="reference"`` runs it.
No durable_rules object leaves this package.

What durable_rules is given, and why (see ENGINE_NOTES in the design documents):

- **Only safe condition shapes.** Every pattern compiles to exactly one shape:
  ``{"$and": [{"t": TYPE}, {"pN": 1}, {"kA": {ALIAS: "kB"}}, ...]}``: a type test, one flag test,
  and equality joins to earlier aliases. :data:`.compiler.EMITTED_SHAPES` lists them; a test runs each
  against the reference evaluator. No ``$not``, no ``$or``/``any``, no non-equality join, no regex
  reaches the engine, so the segfault of non-equality joins inside ``$and`` (upstream #381), the
  order-dependent negation and the union-firing of ``any`` cannot happen.
- **Single-fact conditions are precomputed.** Everything a pattern says about its own fact
  (constants, ``in``, ``matches`` with RE2 regular expressions, ``contains``, ``today``,
  presence) is evaluated once per fact in Python and handed over as a flag ``pN: 1``.
- **Only joins reach the engine.** A disjunct with one positive pattern is activated, in Python,
  by each fact its flag holds for: asserting the fact and decoding the activation back would
  give the same answer slower. durable_rules is given only the facts, flags and keys that
  disjuncts with several patterns test.
- **Joins compare canonical strings.** Join keys are type-tagged strings (``s:nurse``, ``n:1``,
  ``d:2020-01-01``), so durable_rules' value coercions (``"1" == 1``, int/float joins) cannot
  change an answer. No user value reaches the engine otherwise: facts carry only ``id``, ``t``,
  flags and keys.
- **Other joins are residual filters** evaluated in Python on each activation (``!=``, ``<``,
  ``contains`` between two facts, comparisons through ``or``): always right, and quadratic only
  where the criterion itself is.
- **Disjunctions across facts** become one durable rule per disjunct.
- **Negation is stratified.** ``not``/``exists`` patterns never reach the engine: they are
  evaluated in Python when an activation is processed, and activations are processed stratum by
  stratum, criteria last, so the facts a guard looks at are complete whatever the order of facts
  in the files.
- **Ids.** Each fact gets an explicit id; a duplicate-id answer (code 2) for a fact that is new
  means the engine's 32-bit id hash collided (upstream #376): the fact is re-asserted under
  another internal id, never merged.
- **Partitions.** When all joins share one field, facts go to separate states by its value
  (:meth:`.compiler.CompiledRuleset._partition_field`, at most :data:`.durable_run.MAX_STATES` states), and a large run
  of a ruleset that allows it is split by that field between one child process per processor
  (:func:`.isolation.run_forked`, :meth:`.compiler.CompiledRuleset._splittable`).
- **Isolation by process.** durable_rules cannot be cleaned up reliably after a run: measured,
  ``delete_state`` double-frees whenever the state holds partial join frames (the normal case),
  ``retract_fact`` crashes for some states of rulesets with many rules, and ``delete_ruleset``
  leaks about 100 KB per ruleset. So the durable ruleset of a compiled definition is created once
  per process (a small cache, :func:`.compiler._acquire`) and never touched again by the parent: each run
  forks a child process that inherits the ruleset copy-on-write, asserts and matches, sends its
  records back through a pipe, and exits. The parent's memory does not grow however many runs it
  makes, one run cannot see another's facts, and a crash of the engine becomes an ``E502``
  diagnostic instead of killing the caller. Where ``fork`` is not available the run happens in
  process on a fresh ruleset that is then abandoned (correct, but it leaks).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Optional

from ..checker.ir import CriterionIR, FactRecord, Program
from ..diagnostics import Diagnostic
from .compiler import CompiledRuleset
from .records import (Derivation, DerivationLimit, EngineError, Guard, MatchRecord, NegationCycle, RunResult)
from .semantics import DEFAULT_MAX_DERIVED

def compile(program: Program, criteria: Optional[list[CriterionIR]] = None) -> CompiledRuleset:
    """The program's criteria (or only ``criteria``) and rules compiled for durable_rules, reusable
    for any number of runs (each run gets its own state). Raises :class:`NegationCycle` for rules
    that depend on each other through ``not``/``exists`` (the check stage reports those first)."""
    return CompiledRuleset(program, criteria)


def run(program: Program, facts: list[FactRecord], today: dt.date, *, engine: str = "durable",
        max_derived: int = DEFAULT_MAX_DERIVED, compiled: Optional[CompiledRuleset] = None,
        reuse_child: bool = False) -> RunResult:
    """Forward-chain the program's rules over ``facts`` and match its criteria, on durable_rules
    (reusing ``compiled`` when given) or on the reference evaluator. A run that stops (more derived
    facts than ``max_derived``, an engine failure, rules that depend on each other through
    negation) returns a result whose ``diagnostics`` say why (E501, E502, E218) instead of
    raising. ``reuse_child``: make the run in ``compiled``'s long-lived child (:mod:`.child`), as a
    process that checks one set again and again does."""
    from .isolation import run_compiled

    try:
        if engine == "reference":
            from .reference import run_reference

            return cap_findings(program, run_reference(program, facts, today, max_derived))
        if compiled is not None:
            return cap_findings(program, run_compiled(compiled, facts, today, max_derived, reuse_child))
        with CompiledRuleset(program) as c:
            return cap_findings(program, run_compiled(c, facts, today, max_derived))
    except DerivationLimit as e:
        return RunResult(diagnostics=[Diagnostic.make(
            "E501", str(e), _rule_span(program, e.rule), help="raise --max-derived if the policy set is really that large")])
    except NegationCycle as e:
        return RunResult(diagnostics=[cycle_diagnostic(program, e)])
    except EngineError as e:
        return RunResult(diagnostics=[Diagnostic.make(
            "E502", f"the rule engine failed: {e}", None,
            help="this is a bug; please report it with the policy set and rulesets that trigger it")])


#: Findings one criterion may have in one run (``COHERENCE_MAX_FINDINGS`` changes it): past this
#: many, a criterion's patterns are almost surely unrelated (W407), and its report would be
#: hundreds of megabytes.
DEFAULT_MAX_FINDINGS = 10_000


def max_findings() -> int:
    """The findings limit per criterion: ``COHERENCE_MAX_FINDINGS`` when it is a positive whole
    number, else :data:`DEFAULT_MAX_FINDINGS`."""
    given = os.environ.get("COHERENCE_MAX_FINDINGS", "").strip()
    return int(given) if given.isdigit() and int(given) > 0 else DEFAULT_MAX_FINDINGS


def cap_findings(program: Program, result: RunResult, limit: Optional[int] = None) -> RunResult:
    """Keep at most ``limit`` findings per criterion (:func:`max_findings` by default): the
    matches of the first ``limit`` findings in the order of the run's matches (by criterion, then
    fact ids, so the same ones whatever the order of the files), with one W408 per criterion that
    had more. A finding is what the findings stage makes of matches: one per set of facts, or per
    set of its ``about`` facts."""
    limit = limit or max_findings()
    about = {c.code: c.about for c in program.criteria}
    count: dict[str, int] = {}
    if len(result.matches) <= limit:
        return result
    kept = []
    seen: set = set()
    dropped: dict[str, set] = {}
    for m in result.matches:
        a = about.get(m.criterion)
        key = (m.criterion, m.fact_ids if a is None else
               tuple(sorted({fid for binding, fid in m.bindings if binding in a})))
        if key not in seen:
            if count.get(m.criterion, 0) >= limit:
                dropped.setdefault(m.criterion, set()).add(key)
                continue
            seen.add(key)
            count[m.criterion] = count.get(m.criterion, 0) + 1
        kept.append(m)
    if not dropped:
        return result
    result.matches = kept
    spans = {c.code: c.span for c in program.criteria}
    for code in sorted(dropped):
        result.diagnostics.append(Diagnostic.make(
            "W408", f"criterion {code} has more than {limit:,} findings: the report keeps the first {limit:,} "
                    f"by fact ids and drops {len(dropped[code]):,}", spans.get(code),
            help="relate the criterion's patterns (see W407); set COHERENCE_MAX_FINDINGS to raise the limit"))
    return result


def cycle_diagnostic(program: Program, e: NegationCycle) -> Diagnostic:
    """E218 for rules that depend on each other through ``not``/``exists``."""
    return Diagnostic.make("E218", str(e), _rule_span(program, e.rules[0]) if e.rules else None,
                           help="a rule cannot depend, through `not` or `exists`, on what it derives itself")


def _rule_span(program: Program, name: str):
    return next((r.span for r in program.rules if r.name == name), None)


__all__ = ["compile", "run", "cap_findings", "max_findings", "DEFAULT_MAX_FINDINGS", "cycle_diagnostic", "CompiledRuleset", "RunResult", "MatchRecord", "Derivation", "Guard",
           "DerivationLimit", "NegationCycle", "EngineError", "DEFAULT_MAX_DERIVED"]
