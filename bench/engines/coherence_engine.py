"""PLUG-IN POINT: coherence's own engine stage, for `bench/run.py`.

`run(facts)` must take the flat fact dicts of `bench/generate.generate_facts` (ids as strings,
references as ids, enum members as strings, `jurisdiction` already filled where the schema
inherits it) and return the normalised findings of the ruleset `bench/rules.rules`:

    BENCH-R1 on [o, m]   -> ("R1", o.id, m.id)
    BENCH-R2 on [o, p]   -> ("R2", o.id, p.occupation, p.jurisdiction)
    BENCH-R3 on [o]      -> ("R3", o.id)
    BENCH-R4 on [a]      -> ("R4", a.area, a.jurisdiction)

What `run` times is the engine stage only: compiling the ruleset may happen once at import time
(a batch run compiles once and runs many policy sets), but loading the facts into the engine,
forward chaining and collecting the findings (with their derivation records, as in a real run)
belong inside `run`. Parsing is measured separately by `bench/parse_bench.py`.

Until it is implemented, `run` raises NotImplementedError and `bench/run.py` lists the engine as
"not available".
"""

from __future__ import annotations

from pathlib import Path

RULES = Path(__file__).resolve().parents[1] / "rules.rules"


def run(facts: list[dict]) -> set[tuple]:
    raise NotImplementedError("the coherence engine is not plugged into the benchmark yet "
                              "(bench/engines/coherence_engine.py)")
