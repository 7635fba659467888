"""Coherence's own engine stage, for `bench/run.py`.

`run(facts)` takes the flat fact dicts of `bench/generate.generate_facts` (ids as strings,
references as ids, enum members as strings, `jurisdiction` already filled where the schema
inherits it) and returns the normalised findings of the ruleset `bench/rules.rules`:

    BENCH-R1 on [o, m]   -> ("R1", o.id, m.id)
    BENCH-R2 on [o, p]   -> ("R2", o.id, p.occupation, p.jurisdiction)
    BENCH-R3 on [o]      -> ("R3", o.id)
    BENCH-R4 on [a]      -> ("R4", a.area, a.jurisdiction)

The ruleset is read and checked once, at import (with the built-in schema), and compiled for
durable_rules once (:class:`~coherence_rules.engine.compiler.CompiledRuleset`), as a batch run does.
`run` times the engine stage of a real run: the dicts become checked fact records (the values are
already typed: strings, enum members, ids), the compiled ruleset runs on them (a forked child
asserts the facts into durable_rules, chains, evaluates guards and records every match and
derivation), and the matches are read back as tuples. Python's cycle collector is paused during
the stage, as `coherence check` and `coherence batch` pause it around theirs (the records hold no
cycles). A run of at least 20,000 facts is split by jurisdiction between one child per processor
(`coherence_rules.engine.isolation.SPLIT_MIN_FACTS`), as in any coherence run of a ruleset that
allows it. Each child reads the memory private to it, which coherence's commands skip.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from coherence_rules.checker import check
from coherence_rules.checker.ir import FactRecord
from coherence_rules.engine import isolation
from coherence_rules.engine.compiler import CompiledRuleset
from coherence_rules.runtime import paused_gc
from coherence_rules.session import Session

RULES = Path(__file__).resolve().parents[1] / "rules.rules"
TODAY = dt.date(2026, 1, 1)


def _compile() -> CompiledRuleset:
    ws = Session(rulesets=[str(RULES)]).workspace
    program = check(ws.rule_modules)
    errors = [d for d in ws.diagnostics + list(program.diagnostics) if d.is_error]
    if errors:
        raise RuntimeError(f"bench/rules.rules does not check: {errors[0].message}")
    return CompiledRuleset(program)


COMPILED = _compile()
isolation.MEASURE_MEMORY = True  # the engine's children report their memory (`memory_at_once`)


def _records(facts: list[dict]) -> list[FactRecord]:
    out = []
    append = out.append
    for fact in facts:
        values = dict(fact)
        fid = values.pop("id")
        kind = values.pop("type")
        title = values.pop("title", None)
        append(FactRecord(fid, kind, title, values, None))
    return out


def _normalise(match, facts: dict, derived: dict) -> tuple:
    code = match.criterion
    env = dict(match.bindings)
    if code == "BENCH-R1":
        return ("R1", env["o"], env["m"])
    if code == "BENCH-R2":
        p = derived[env["p"]].values
        return ("R2", env["o"], p["occupation"], p["jurisdiction"])
    if code == "BENCH-R3":
        return ("R3", env["o"])
    a = derived[env["a"]].values
    return ("R4", a["area"], a["jurisdiction"])


_last = {"child_memory": 0, "parent_memory": 0}


def memory_at_once(rss_before: int) -> int:
    """The most memory the last run held at once above ``rss_before`` (the process's peak resident
    set size before it): what the process held when it forked the engine's children, what it
    received from them, and the memory private to the children, summed (they run at once)."""
    if not _last["parent_memory"]:
        return 0
    return max(0, _last["parent_memory"] - rss_before) + _last["child_memory"]


@paused_gc()  # as coherence's own pipeline runs its stages
def run(facts: list[dict]) -> set[tuple]:
    records = _records(facts)
    result = COMPILED.run(records, TODAY)
    _last["child_memory"], _last["parent_memory"] = result.child_memory, result.parent_memory
    return {_normalise(m, None, result.derived) for m in result.matches}
