"""How runs happen: batched and partitioned asserts, split runs between processes and the forked
child must answer exactly as one process asserting one fact at a time; a crashed child is an error."""

from __future__ import annotations

import os

import pytest



# ---- engine: batches and partitions -----------------------------------------------------------------------


def test_refused_batch_is_asserted_again_one_by_one(monkeypatch):
    """A batch the engine refuses (an id hash collision inside it) is not half-used: the partition
    starts over in a fresh state, one fact at a time."""
    import durable_rules_engine as dre

    import coherence_rules.engine.isolation as durable_mod
    from coherence_rules.engine.compiler import CompiledRuleset
    from tests.engine.test_differential import SCHEMA_SMALL, TODAY, build

    program = build(SCHEMA_SMALL + """
criterion P "pairs" { dimension: internal  score: -1  source: "s"  message: "m"  advice: "a"
  when { x: a  y: a where k == x.k } }""", "a a1 { k: red }\na a2 { k: red }\na a3 { k: blue }")
    calls = {"batches": 0}

    def refusing(handle, text):
        calls["batches"] += 1
        if calls["batches"] == 1:
            return (2, 0)
        return dre.assert_facts(handle, text)

    monkeypatch.setattr(durable_mod, "FORK", False)
    with CompiledRuleset(program) as c:
        monkeypatch.setattr(c, "dre", type("E", (), {
            "assert_fact": staticmethod(dre.assert_fact), "assert_facts": staticmethod(refusing),
            "start_action_for_state": staticmethod(dre.start_action_for_state),
            "complete_and_start_action": staticmethod(dre.complete_and_start_action),
            "create_ruleset": staticmethod(dre.create_ruleset)}))
        res = c.run(program.facts, TODAY)
    assert calls["batches"] >= 1
    assert res.finding_keys() == {("P", ("a1", "a2"))}


def test_bench_rules_are_partitioned_and_agree_with_the_floor():
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "bench"
    sys.path.insert(0, str(bench))
    import generate
    from engines import coherence_engine, floor

    assert coherence_engine.COMPILED.partition_field == "jurisdiction"
    facts = generate.generate_facts(3000, 7)
    assert coherence_engine.run(facts) == floor.run(facts)


def test_one_pattern_rules_never_reach_durable_rules():
    """Disjuncts with one positive pattern are activated in Python by their flag; durable_rules gets
    only the disjuncts that join, and only the flags those test."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from engines import coherence_engine

    c = coherence_engine.COMPILED
    joined = {d.owner for d in c.disjuncts.values() if len(d.aliases) > 1}
    direct = {c.disjuncts[name].owner for names in c.direct.values() for name in names}
    assert joined == {"BENCH-R1", "BENCH-R2"}
    assert direct == {"BENCH-R3", "BENCH-R4", "bench-pressure", "bench-area-in-use"}
    assert set(c.definition) == {name for name, d in c.disjuncts.items() if d.owner in joined}
    assert c.engine_flags == {flag for d in c.disjuncts.values() if d.owner in joined for flag in d.flags}
    assert not c.engine_flags & {d.flags[0] for d in c.disjuncts.values() if d.owner in {"BENCH-R3", "bench-area-in-use"}}


def _bench_compiled():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import generate
    from engines import coherence_engine

    return generate, coherence_engine


def _content(res):
    return ([(m.criterion, m.bindings, m.guards) for m in res.matches],
            {k: (v.type, v.values) for k, v in res.derived.items()},
            {k: [(d.rule, d.premises, d.guards) for d in ds] for k, ds in sorted(res.derivations.items())})


@pytest.mark.parametrize("processes", [2, 3])
def test_split_run_records_what_one_process_records(monkeypatch, processes):
    """Split between processes by jurisdiction, a run records the same matches (with their guard
    evidence), derived facts and derivations, in the same order, as one process."""
    import coherence_rules.engine.isolation as durable

    generate, coherence_engine = _bench_compiled()
    records = coherence_engine._records(generate.generate_facts(4000, 3))
    monkeypatch.setattr(durable, "MEASURE_MEMORY", True)
    one = coherence_engine.COMPILED.run(records, coherence_engine.TODAY)
    assert one.matches and one.derived
    monkeypatch.setattr(durable, "SPLIT_MIN_FACTS", 0)
    monkeypatch.setattr(durable, "_processes", lambda: processes)
    parts = durable._split(coherence_engine.COMPILED, records, processes)
    assert sorted(f.id for p in parts for f in p) == sorted(f.id for f in records)
    assert all(len(p) > len(records) // (2 * processes) for p in parts)  # balanced
    split = coherence_engine.COMPILED.run(records, coherence_engine.TODAY)
    assert _content(split) == _content(one)
    if os.path.exists("/proc/self/smaps_rollup"):
        assert split.child_memory > 0 and one.child_memory > 0


def test_split_keeps_each_partition_in_one_process():
    generate, coherence_engine = _bench_compiled()
    records = coherence_engine._records(generate.generate_facts(3000, 5))
    from coherence_rules.engine.isolation import _split

    owners: dict = {}
    for i, part in enumerate(_split(coherence_engine.COMPILED, records, 2)):
        assert [f.id for f in part] == sorted(f.id for f in part)
        for f in part:
            j = f.values.get("jurisdiction")
            if j is None:
                assert i == 0  # facts without a value stay with the first process
            else:
                assert owners.setdefault(j, i) == i


SPLIT_SCHEMA = """
enum colour { red green blue }
type a "A" { k: colour?  n: number? }
type b "B" { k: colour? }
type pair "derived" { k: colour }
"""
JOIN = 'criterion J "joined" { dimension: internal  score: -1  source: "s"  message: "m"  advice: "a"\n' \
       '  when { x: a  y: pair where k == x.k } }\n'


@pytest.mark.parametrize("rule, splittable", [
    ('rule p { when { x: a  y: b where k == x.k } derive pair { k: x.k } }', True),
    # a derived fact whose partition value is not one of its premises' own
    ('rule p { when { x: a  y: b where k == x.k } derive pair { k: red } }', False),
    # a guard over a derived type: a process sees only its own derived facts
    ('rule p { when { x: a  y: b where k == x.k } derive pair { k: x.k } }\n'
     'criterion G "guarded" { dimension: internal  score: -1  source: "s"  message: "m"  advice: "a"\n'
     '  when { x: a  not pair where k == x.k } }', False),
])
def test_a_run_is_split_only_when_the_ruleset_allows_it(rule, splittable):
    from coherence_rules.engine.compiler import CompiledRuleset
    from tests.engine.test_differential import build

    program = build(SPLIT_SCHEMA + rule + "\n" + JOIN, "")
    with CompiledRuleset(program) as c:
        assert c.partition_field == "k"
        assert c.splittable is splittable


def test_split_run_fires_a_criterion_of_guards_only_once(monkeypatch):
    import coherence_rules.engine.isolation as durable
    from coherence_rules.engine import run
    from coherence_rules.engine.compiler import CompiledRuleset
    from tests.engine.test_differential import TODAY, build

    rules = SPLIT_SCHEMA + 'rule p { when { x: a  y: b where k == x.k } derive pair { k: x.k } }\n' + JOIN + \
        'criterion N "no blue b" { dimension: internal  score: -1  source: "s"  message: "m"  advice: "a"\n' \
        '  when { not b where k == blue } }\n'
    facts = "\n".join(f"a a{i} {{ k: {c} }}\nb b{i} {{ k: {c} }}" for i, c in enumerate(["red", "green", "red", "green"]))
    program = build(rules, facts)
    monkeypatch.setattr(durable, "SPLIT_MIN_FACTS", 0)
    monkeypatch.setattr(durable, "_processes", lambda: 2)
    with CompiledRuleset(program) as c:
        assert c.splittable
        split = c.run(program.facts, TODAY)
    reference = run(program, program.facts, TODAY, engine="reference")
    assert [m.criterion for m in split.matches].count("N") == 1
    assert split.finding_keys() == reference.finding_keys()
    assert split.derivation_keys() == reference.derivation_keys()


@pytest.mark.parametrize("given, expected", [("1", 1), ("3", 3), ("99", 4), ("0", None), ("two", None), ("", None)])
def test_engine_processes_from_the_environment(monkeypatch, given, expected):
    import coherence_rules.engine.isolation as durable

    monkeypatch.setenv("COHERENCE_ENGINE_PROCESSES", given)
    monkeypatch.setattr(durable.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert durable._processes() == (expected if expected is not None else min(2, durable.MAX_PROCESSES))


@pytest.mark.parametrize("processes", [1, 2])
def test_a_crashed_engine_child_is_an_engine_error(monkeypatch, processes):
    """A child killed inside the engine (here: by a signal) is reported, never waited on forever,
    and in a split run the other children are still reaped."""
    import signal

    import coherence_rules.engine.isolation as durable

    generate, coherence_engine = _bench_compiled()
    records = coherence_engine._records(generate.generate_facts(2000, 2))
    real = durable.EngineRun.run

    def crash(self, facts=None, first=True):
        if not first or processes == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, facts, first)

    spawned = []
    spawn = durable._spawn

    def tracked(work):
        pid, r = spawn(work)
        spawned.append(pid)
        return pid, r

    monkeypatch.setattr(durable.EngineRun, "run", crash)
    monkeypatch.setattr(durable, "_spawn", tracked)
    monkeypatch.setattr(durable, "SPLIT_MIN_FACTS", 0)
    monkeypatch.setattr(durable, "_processes", lambda: processes)
    with pytest.raises(durable.EngineError, match="signal 9"):
        coherence_engine.COMPILED.run(records, coherence_engine.TODAY)
    assert len(spawned) == processes
    for pid in spawned:  # every child was reaped
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
