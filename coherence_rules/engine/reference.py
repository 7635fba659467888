"""The reference evaluator: a plain-Python reading of the language, written to be obviously right
rather than fast. Nested loops over candidate facts in pattern order, guards on complete fact
sets, derivation rules to a fixpoint stratum by stratum.

It is the oracle of the differential tests against the durable_rules engine, and runs with
``engine="reference"`` (``coherence check --engine reference``).
"""

from __future__ import annotations

import datetime as dt
from typing import Iterator, Optional

from ..checker.ir import CriterionIR, FactRecord, PatternIR, Program
from .records import Derivation, DerivationLimit, MatchRecord, RunResult
from .semantics import (DEFAULT_MAX_DERIVED, check_guards,
                        derive_values, derived_id, holds, split_patterns, stratify)


def enumerate_matches(patterns: list[PatternIR], by_type: dict[str, list[FactRecord]], facts: dict[str, FactRecord],
                      today: dt.date) -> Iterator[tuple[dict[str, FactRecord], tuple]]:
    """Every assignment of distinct facts to the positive patterns that satisfies their conditions
    and the guards: ``(env, guards)`` pairs, in a deterministic order."""
    positive, guards = split_patterns(patterns)

    def go(i: int, env: dict[str, FactRecord], bound: list[str]):
        if i == len(positive):
            ev = check_guards(guards, env, set(bound), by_type, facts, today)
            if ev is not None:
                yield dict(env), ev
            return
        p = positive[i]
        for cand in by_type.get(p.type, ()):
            if cand.id in bound:
                continue
            if p.binding:
                env[p.binding] = cand
            if p.cond is None or holds(p.cond, cand, env, facts, today):
                bound.append(cand.id)
                yield from go(i + 1, env, bound)
                bound.pop()
            if p.binding:
                env.pop(p.binding, None)

    yield from go(0, {}, [])


def run_reference(program: Program, facts: list[FactRecord], today: dt.date,
                  max_derived: int = DEFAULT_MAX_DERIVED, criteria: Optional[list[CriterionIR]] = None) -> RunResult:
    result = RunResult()
    store: dict[str, FactRecord] = {f.id: f for f in facts}
    by_type: dict[str, list[FactRecord]] = {}
    for f in sorted(facts, key=lambda f: f.id):
        by_type.setdefault(f.type, []).append(f)
    strata = stratify(program.rules)
    seen_derivations: set[tuple] = set()
    for level in sorted(set(strata.values())):
        rules = [r for r in program.rules if strata[r.name] == level]
        changed = True
        while changed:
            changed = False
            for rule in rules:
                for env, guards in list(enumerate_matches(rule.patterns, by_type, store, today)):
                    values = derive_values(rule, env, store, today)
                    if values is None:
                        continue
                    fid = derived_id(rule.derive_type, values)
                    premises = tuple((p.binding, env[p.binding].id) for p in rule.patterns
                                     if p.kind == "match" and p.binding)
                    key = (fid, rule.name, premises)
                    if key in seen_derivations:
                        continue
                    seen_derivations.add(key)
                    if fid not in store:
                        if len(result.derived) >= max_derived:
                            raise DerivationLimit(max_derived, rule.name)
                        rec = FactRecord(fid, rule.derive_type, None, values, None, derived=True)
                        store[fid] = rec
                        result.derived[fid] = rec
                        by_type.setdefault(rule.derive_type, []).append(rec)
                        changed = True
                    result.derivations.setdefault(fid, []).append(Derivation(rule.name, premises, guards))
    best: dict[tuple, MatchRecord] = {}
    for crit in (criteria if criteria is not None else program.criteria):
        for env, guards in enumerate_matches(crit.patterns, by_type, store, today):
            bindings = tuple((p.binding, env[p.binding].id) for p in crit.patterns if p.kind == "match" and p.binding)
            m = MatchRecord(crit.code, bindings, guards)
            key = (crit.code, m.fact_ids)
            # one finding per distinct set of facts; its proof is the match with the smallest bindings
            if key not in best or m.bindings < best[key].bindings:
                best[key] = m
    result.matches = [best[k] for k in sorted(best)]
    for ds in result.derivations.values():
        ds.sort(key=lambda d: (d.rule, d.premises))
    return result
