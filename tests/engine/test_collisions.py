"""durable_rules compares stored ids by a 32-bit hash (ENGINE_NOTES.md): distinct ids collide. A
refused batch and a duplicate reported for a new fact must never lose, merge or misattribute a fact,
whenever they happen: before any activation, after activations of earlier batches, or in the
middle of the one-by-one retry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CRITERION = """
criterion P "pairs" { dimension: internal  score: -1  source: "s"  message: "m"  advice: "a"
  when { x: a  y: a where k == x.k } }"""
FACTS = "\n".join(f"a a{i} {{ k: {'red' if i % 2 else 'blue'} }}" for i in range(1, 9))


def _expected() -> set:
    reds = [f"a{i}" for i in range(1, 9) if i % 2]
    blues = [f"a{i}" for i in range(1, 9) if not i % 2]
    return {("P", tuple(sorted((x, y)))) for group in (reds, blues) for x in group for y in group if x != y}


def _run(monkeypatch, refuse: set, duplicate_ids: set, batch: int = 2, batches: bool = True):
    """Run the program in process with batches of ``batch`` facts (the facts are partitioned by
    ``k``: two states, red and blue); the batches numbered in ``refuse`` (1-based, in assert
    order) are *stored* by the engine and then reported refused, as a collision in a batch's
    middle leaves it; ``assert_fact`` reports a duplicate the first time it sees each of
    ``duplicate_ids`` (a collision with a fact already in the state). Without ``batches`` the
    engine has no ``assert_facts``: every fact goes one by one."""
    import durable_rules_engine as dre

    import coherence_rules.engine.durable_run as run_mod
    import coherence_rules.engine.isolation as isolation
    from coherence_rules.engine.compiler import CompiledRuleset
    from tests.engine.test_differential import SCHEMA_SMALL, TODAY, build

    program = build(SCHEMA_SMALL + CRITERION, FACTS)
    calls = {"batches": 0, "refused": 0, "duplicates": 0}
    pending = set(duplicate_ids)

    def facts(handle, text):
        calls["batches"] += 1
        code, offset = dre.assert_facts(handle, text)  # stored: activations exist
        if calls["batches"] in refuse:
            calls["refused"] += 1
            return (2, offset)
        return (code, offset)

    def fact(handle, text):
        import json
        fid = json.loads(text)["id"]
        if fid in pending:
            pending.discard(fid)
            calls["duplicates"] += 1
            return (2, 0)
        return dre.assert_fact(handle, text)

    monkeypatch.setattr(isolation, "FORK", False)
    monkeypatch.setattr(run_mod, "BATCH", batch)
    with CompiledRuleset(program) as c:
        engine = {
            "assert_fact": staticmethod(fact), "assert_facts": staticmethod(facts),
            "start_action_for_state": staticmethod(dre.start_action_for_state),
            "complete_and_start_action": staticmethod(dre.complete_and_start_action),
            "create_ruleset": staticmethod(dre.create_ruleset)}
        if not batches:
            del engine["assert_facts"]
        monkeypatch.setattr(c, "dre", type("E", (), engine))
        res = c.run(program.facts, TODAY)
    return res, calls


@pytest.mark.parametrize("refuse", [{1}, {2}, {4}, {2, 3}])
def test_batch_refused_after_activations_loses_nothing(monkeypatch, refuse):
    """The refused batch comes after earlier batches whose facts already joined (activations are
    waiting in the state): the retry must not read them, nor re-assert into that state."""
    res, calls = _run(monkeypatch, refuse, set())
    assert calls["refused"] == len(refuse)
    assert res.finding_keys() == _expected()


@pytest.mark.parametrize("ids", [{"a1"}, {"a3", "a4"}, {"a8"}])
def test_duplicates_during_the_retry_are_renamed_not_merged(monkeypatch, ids):
    """While the partition is asserted again one by one, a new fact reported as a duplicate is
    stored under another internal id and still reported under its own."""
    res, calls = _run(monkeypatch, {2, 3}, ids)  # the second batch of each state
    assert calls["duplicates"] == len(ids)
    assert res.finding_keys() == _expected()


def test_duplicates_without_batches(monkeypatch):
    """An engine without batches asserts one by one from the start: duplicates reported after
    earlier facts joined are renamed and still join."""
    res, calls = _run(monkeypatch, set(), {"a2", "a5", "a8"}, batches=False)
    assert calls["duplicates"] == 3
    assert res.finding_keys() == _expected()


#: Two ids whose 32-bit FNV-1 hashes (durable_rules' identity of a stored fact) are equal.
COLLIDING = ("AB.773848", "AB.1160146")


def test_the_hash_durable_rules_compares_is_emulated():
    import json

    import durable_rules_engine as dre

    from coherence_rules.engine.durable_run import _fnv1, _id_text

    assert _fnv1(_id_text(COLLIDING[0])) == _fnv1(_id_text(COLLIDING[1]))
    assert _id_text("a\u0001b") == "a\\u0001b"
    handle = dre.create_ruleset("collisions", json.dumps(
        {"r": {"all": [{"a": {"t": "x"}}, {"b": {"$and": [{"t": "y"}, {"k": {"a": "k"}}]}}]}}))
    assert dre.assert_fact(handle, json.dumps({"id": COLLIDING[0], "t": "x", "k": 1, "sid": "s"}))[0] == 0
    assert dre.assert_fact(handle, json.dumps({"id": COLLIDING[1], "t": "x", "k": 1, "sid": "s"}))[0] == 2


def test_colliding_ids_are_renamed_before_asserting(monkeypatch):
    """Two facts whose ids collide in the engine's hash, in one state: the second is asserted
    under another internal id from the start, so no batch is refused (a refusal makes the whole
    partition be asserted again: twice the memory at a million facts), and both are matched."""
    import durable_rules_engine as dre

    import coherence_rules.engine.isolation as isolation
    from coherence_rules.engine.compiler import CompiledRuleset
    from tests.engine.test_differential import SCHEMA_SMALL, TODAY, build

    facts = "\n".join(f"a {fid} {{ k: red }}" for fid in COLLIDING) + "\na a3 { k: blue }"
    program = build(SCHEMA_SMALL + CRITERION, facts)
    codes = []

    def batches(handle, text):
        code, offset = dre.assert_facts(handle, text)
        codes.append(code)
        return code, offset

    monkeypatch.setattr(isolation, "FORK", False)
    with CompiledRuleset(program) as c:
        monkeypatch.setattr(c, "dre", type("E", (), {
            "assert_fact": staticmethod(dre.assert_fact), "assert_facts": staticmethod(batches),
            "start_action_for_state": staticmethod(dre.start_action_for_state),
            "complete_and_start_action": staticmethod(dre.complete_and_start_action),
            "create_ruleset": staticmethod(dre.create_ruleset)}))
        res = c.run(program.facts, TODAY)
    assert codes and set(codes) == {0}
    assert res.finding_keys() == {("P", tuple(sorted(COLLIDING)))}


@pytest.mark.slow
def test_core_ruleset_on_a_generated_set_where_ids_collide(tmp_path):
    """The 100,000-fact set of seed 1 has an id hash collision (found with ``bench/generate.py
    100000 --seed 1``; before the fix: E502 KeyError 'SAU.POL15.O3', after the refused batch was
    asserted again into its own state)."""
    policy = tmp_path / "g.policy"
    subprocess.run([sys.executable, str(ROOT / "bench" / "generate.py"), "100000", "--seed", "1",
                    "--out", str(policy)], check=True)
    proc = subprocess.run([sys.executable, "-m", "coherence_rules.cli", "check", str(policy), "--format", "json",
                           "-o", str(tmp_path / "report.json"), "--max-derived", "1000000"],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COHERENCE_NO_CACHE": "1"})
    assert "E502" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert json.loads((tmp_path / "report.json").read_text())["findings"]
