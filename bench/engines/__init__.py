"""Engines the benchmark compares: each module exposes `run(facts) -> set[tuple]`.

`facts` are the flat dicts of `bench.generate.generate_facts` (jurisdiction already filled where
it is inherited). The result is the set of normalised findings of the four benchmark rules
(bench/README.md):

    ("R1", objective_id, measure_id)
    ("R2", objective_id, occupation, jurisdiction)
    ("R3", objective_id)
    ("R4", area, jurisdiction)

`run` is the engine stage only: loading the facts into the engine, running the rules and reading
the findings back. Generating the facts is not part of it.
"""
