"""The durable_rules engine against the reference evaluator, the shapes the compiler emits,
stratified negation, derived facts, isolation and memory."""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coherence_rules.checker import check
from coherence_rules.diagnostics import render_all_text
from coherence_rules.engine import DerivationLimit, run
from coherence_rules.engine.compiler import EMITTED_SHAPES, MAX_JOINS_PER_PATTERN, CompiledRuleset
from coherence_rules.syntax.parser import parse_source
from coherence_rules.session import Session

from tests.engine_programs import facts as facts_strategy
from tests.engine_programs import partitioned_program
from tests.engine_programs import program as program_strategy

TODAY = dt.date(2026, 11, 23)


def build(rules_text: str, policy_text: str):
    schema = Session(rulesets=[]).workspace  # the built-in schema only
    mods = list(schema.rule_modules)
    m, d = parse_source(rules_text, "gen.rules", "rules")
    assert not d, render_all_text(d)
    mods.append(m)
    m, d = parse_source(policy_text, "gen.policy") if policy_text.strip() else (None, [])
    assert not d, render_all_text(d)
    if m is not None:
        mods.append(m)
    program = check(mods)
    assert not program.errors, render_all_text(program.errors) + "\n" + rules_text
    return program


def both(program):
    ref = run(program, program.facts, TODAY, engine="reference")
    dur = run(program, program.facts, TODAY, engine="durable")
    return ref, dur


def _same_answers(rules_text: str, policy_text: str) -> None:
    program = build(rules_text, policy_text)
    ref, dur = both(program)
    assert dur.finding_keys() == ref.finding_keys(), rules_text + "\n" + policy_text
    assert dur.derivation_keys() == ref.derivation_keys(), rules_text + "\n" + policy_text
    # guard evidence of the representative match is the same too
    assert [(m.criterion, m.bindings, m.guards) for m in dur.matches] == \
        sorted([(m.criterion, m.bindings, m.guards) for m in ref.matches], key=lambda x: (x[0], tuple(sorted(i for _, i in x[1]))))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(program_strategy(), facts_strategy())
def test_differential_random_programs(rules_text, policy_text):
    """Random criteria (joins, negations, chains, lists) over random facts: same findings and the
    same derivations from both engines (500 programs; the slow run draws 5,000)."""
    _same_answers(rules_text, policy_text)


@pytest.mark.slow
@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(program_strategy(), facts_strategy())
def test_differential_random_programs_long(rules_text, policy_text):
    """The same as :func:`test_differential_random_programs`, on 5,000 programs."""
    _same_answers(rules_text, policy_text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program_strategy(), facts_strategy(), st.randoms(use_true_random=False))
def test_fact_order_does_not_matter(rules_text, policy_text, rnd):
    """Negation and derivations give the same answer whatever the order of facts in the files."""
    lines = policy_text.splitlines()
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    a = build(rules_text, "\n".join(lines))
    b = build(rules_text, "\n".join(shuffled))
    ra = run(a, a.facts, TODAY)
    rb = run(b, list(reversed(b.facts)), TODAY)
    assert ra.finding_keys() == rb.finding_keys()
    assert ra.derivation_keys() == rb.derivation_keys()


def _shape_ok(cond) -> bool:
    if set(cond) != {"$and"}:
        return False
    items = cond["$and"]
    if len(items) < 2 or set(items[0]) != {"t"} or not isinstance(items[0]["t"], str):
        return False
    flag = items[1]
    if len(flag) != 1 or list(flag.values()) != [1] or not list(flag)[0].startswith("p"):
        return False
    joins = items[2:]
    if len(joins) > MAX_JOINS_PER_PATTERN:
        return False
    for j in joins:
        if len(j) != 1:
            return False
        (key, target), = j.items()
        if not key.startswith("k") or not isinstance(target, dict) or len(target) != 1:
            return False
        (alias, other), = target.items()
        if not alias.startswith("a") or not other.startswith("k"):
            return False
    return True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program_strategy())
def test_compiler_emits_only_safe_shapes(rules_text):
    """Every condition the compiler emits is one of EMITTED_SHAPES: a type test, one flag, and up to
    MAX_JOINS_PER_PATTERN equality joins to earlier aliases. Nothing else reaches durable_rules."""
    program = build(rules_text, "")
    with CompiledRuleset(program) as c:
        for rule in c.definition.values():
            assert set(rule) == {"all"}
            for entry in rule["all"]:
                (alias, cond), = entry.items()
                assert not alias.endswith("$not")
                assert _shape_ok(cond), json.dumps(cond)


def _instantiate(shape: dict, joins: int) -> dict:
    return {"$and": [{"t": "a"}, {"p0": 1}] + [{"k0": {"a0": "k1"}}] * joins}


@pytest.mark.parametrize("joins", range(len(EMITTED_SHAPES)))
def test_each_emitted_shape_against_the_reference(joins):
    """Each listed shape, written as a criterion, gives the reference evaluator's answer."""
    conds = ["k == x0.k", "n == x0.n"][:joins]
    where = (" where " + " and ".join(conds)) if conds else ""
    rules = SCHEMA_SMALL + f"""
criterion S "shape" {{ dimension: internal  score: -1  source: "s"  message: "m"  advice: "a"
  when {{ x0: a where k != null
          x1: a{where} }} }}"""
    policy = "\n".join(f"a a{i} {{ k: {c}  n: {n} }}" for i, (c, n) in
                       enumerate(itertools.product(["red", "blue"], [1, 2])))
    program = build(rules, policy)
    ref, dur = both(program)
    assert dur.finding_keys() == ref.finding_keys()
    # 4 facts: no join -> every ordered pair of distinct facts, collapsed to 6 unordered pairs;
    # k equal -> pairs sharing a colour (2); k and n equal -> none (all facts differ)
    assert len(ref.finding_keys()) == {0: 6, 1: 2, 2: 0}[joins]


SCHEMA_SMALL = """
enum colour { red green blue }
type a "A" { k: colour?  n: number? }
"""


NEGATION_RULES = """
type staffed "derived" { jurisdiction: ref jurisdiction }
rule staffed-by-lead { when { r: role where role == lead } derive staffed { jurisdiction: r.jurisdiction } }
criterion NEG "no lead" { dimension: institutional  score: -1  source: "s"  message: "{m}"  advice: "a"
  when { m: measure
         not staffed where jurisdiction == m.jurisdiction } }
"""


@pytest.mark.parametrize("order", ["blocker first", "blocker last"])
def test_negation_on_a_derived_fact_is_stratified(order):
    """The blocking fact is derived by another rule: whatever the order, the criterion must not fire
    where it is blocked (durable_rules' own $not gets this wrong when the blocker arrives later)."""
    facts = [
        'jurisdiction MU { level: national }', 'jurisdiction KE { level: national }',
        'actor PIO { kind: agency  jurisdiction: MU }', 'instrument WPR { kind: regulation  jurisdiction: MU }',
        'instrument KNMP { kind: policy  jurisdiction: KE }',
        'measure WPR.7 { instrument: WPR  area: admission  effect: restrict }',
        'measure K.1 { instrument: KNMP  area: admission  effect: restrict }',
    ]
    blocker = 'role ZZ.lead { actor: PIO  area: admission  role: lead }'
    policy = "\n".join([blocker] + facts if order == "blocker first" else facts + [blocker])
    program = build(NEGATION_RULES, policy)
    ref, dur = both(program)
    assert dur.finding_keys() == ref.finding_keys() == {("NEG", ("K.1",))}


def test_identical_derived_facts_are_one_fact_with_every_derivation():
    rules = """
type topic_seen "derived" { topic: topic }
rule from-clause { when { c: clause } derive topic_seen { topic: c.topic } }
rule from-law { when { l: law } derive topic_seen { topic: l.topic } }
criterion SEEN "seen" { dimension: bilateral  score: 1  source: "s"  message: "{t.topic}"  advice: "a"
  when { t: topic_seen } }
"""
    policy = """
jurisdiction NL { level: national }  jurisdiction TR { level: national }
agreement A { kind: bilateral_labour  parties: [NL, TR] }
clause A.3 { agreement: A  topic: wages  provision: "equal pay" }
clause A.4 { agreement: A  topic: wages  provision: "same wages as nationals" }
law NL.W { jurisdiction: NL  topic: wages  provision: "minimum wage act" }
"""
    program = build(rules, policy)
    ref, dur = both(program)
    assert len(dur.derived) == 1
    (fid, ds), = dur.derivations.items()
    assert sorted(d.rule for d in ds) == ["from-clause", "from-clause", "from-law"]
    assert dur.derivation_keys() == ref.derivation_keys()
    assert len(dur.matches) == 1


def test_exists_matches_once_however_many_facts_qualify():
    rules = """
criterion EX "instrument with measures" { dimension: internal  score: -1  source: "s"  message: "{i}"  advice: "a"
  when { i: instrument
         exists measure where instrument == i } }
"""
    policy = "jurisdiction MU { level: national }\ninstrument P { kind: policy  jurisdiction: MU }\n" + "\n".join(
        f"measure M{i} {{ instrument: P  area: admission  effect: restrict }}" for i in range(5))
    program = build(rules, policy)
    ref, dur = both(program)
    assert dur.finding_keys() == ref.finding_keys() == {("EX", ("P",))}
    assert dur.matches[0].guards[0].witness == "M0"


def test_runaway_rules_stop_at_the_limit():
    rules = """
type step "derived" { n: number  jurisdiction: ref jurisdiction }
rule seed { when { j: jurisdiction } derive step { n: 0  jurisdiction: j } }
rule grow { when { s: step  t: step where jurisdiction == s.jurisdiction } derive step { n: 1  jurisdiction: s.jurisdiction } }
"""
    # rules over finite facts derive finitely many facts (no arithmetic), so the limit is what
    # stops a rule set that derives more than the user allows
    program = build(rules, "jurisdiction MU { level: national }")
    dur = run(program, program.facts, TODAY)
    assert len(dur.derived) == 1
    program2 = build(rules, "\n".join(f"jurisdiction J{i} {{ level: national }}" for i in range(30)))
    # a run that stops returns the reason as a diagnostic (E501 at the rule that went past the limit)
    for engine in ("durable", "reference"):
        stopped = run(program2, program2.facts, TODAY, max_derived=10, engine=engine)
        assert [d.code for d in stopped.diagnostics] == ["E501"], engine
        assert stopped.diagnostics[0].span is not None and stopped.matches == []
    with pytest.raises(DerivationLimit):  # the compiled ruleset itself raises; engine.run reports
        with CompiledRuleset(program2) as c:
            c.run(program2.facts, TODAY, max_derived=10)


def test_compiled_ruleset_is_reused_and_runs_are_isolated():
    program = build(NEGATION_RULES, "\n".join([
        'jurisdiction MU { level: national }', 'instrument WPR { kind: regulation  jurisdiction: MU }',
        'measure WPR.7 { instrument: WPR  area: admission  effect: restrict }']))
    with CompiledRuleset(program) as c:
        first = c.run(program.facts, TODAY)
        # a second run on no facts sees nothing of the first run's state
        empty = c.run([f for f in program.facts if f.type == "jurisdiction"], TODAY)
        again = c.run(program.facts, TODAY)
    assert first.finding_keys() == again.finding_keys() == {("NEG", ("WPR.7",))}
    assert empty.finding_keys() == set()


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import resource

    return pages * resource.getpagesize() // 1024


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs /proc")
def test_memory_stays_flat_over_many_runs():
    """A smaller version of the 10,000-run benchmark (bench/isolation.py): 600 runs, half compiling
    the ruleset again each time, half reusing one, must not grow resident memory by 20 MB."""
    program = build(NEGATION_RULES, "\n".join([
        'jurisdiction MU { level: national }', 'actor PIO { kind: agency  jurisdiction: MU }',
        'instrument WPR { kind: regulation  jurisdiction: MU }',
        'measure WPR.7 { instrument: WPR  area: admission  effect: restrict }',
        'role R { actor: PIO  area: visa  role: lead }']))
    for _ in range(50):
        run(program, program.facts, TODAY)
    gc.collect()
    before = _rss_kib()
    for _ in range(300):
        run(program, program.facts, TODAY)
    with CompiledRuleset(program) as c:
        for _ in range(300):
            c.run(program.facts, TODAY)
    gc.collect()
    grown = _rss_kib() - before
    assert grown < 20 * 1024, f"resident memory grew by {grown} KiB over 600 runs"


def test_id_hash_collisions_are_detected_not_merged(monkeypatch):
    """durable_rules compares ids by a 32-bit hash; when it reports a new fact as a duplicate the
    engine re-asserts it under another internal id. Simulated by making the engine answer
    'duplicate' once for a fact."""
    import durable_rules_engine as dre

    program = build(SCHEMA_SMALL + """
criterion P "pairs" { dimension: internal  score: -1  source: "s"  message: "m"  advice: "a"
  when { x: a  y: a where k == x.k } }""", "a a1 { k: red }\na a2 { k: red }")
    real = dre.assert_fact
    calls = {"n": 0}

    def flaky(handle, text):
        if json.loads(text)["id"] == "a2" and calls["n"] == 0:
            calls["n"] += 1
            return (2, 0)
        return real(handle, text)

    import coherence_rules.engine.isolation as durable_mod

    monkeypatch.setattr(durable_mod, "FORK", False)  # the fake must run in this process to be observed
    with CompiledRuleset(program) as c:
        monkeypatch.setattr(c, "dre", type("E", (), {
            "assert_fact": staticmethod(flaky), "start_action_for_state": staticmethod(dre.start_action_for_state),
            "complete_and_start_action": staticmethod(dre.complete_and_start_action),
            "create_ruleset": staticmethod(dre.create_ruleset)}))
        res = c.run(program.facts, TODAY)
    assert calls["n"] == 1
    assert res.finding_keys() == {("P", ("a1", "a2"))}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(partitioned_program(split_safe=True), facts_strategy(), st.integers(2, 3))
def test_differential_run_split_between_processes(rules_text, policy_text, processes):
    """A run split by partition between several child processes answers as the reference."""
    import coherence_rules.engine.isolation as durable

    program = build(rules_text, policy_text)
    merged = []
    saved = durable.SPLIT_MIN_FACTS, durable._processes, durable._merge
    durable.SPLIT_MIN_FACTS, durable._processes = 0, lambda: processes
    durable._merge = lambda results, limit: merged.append(len(results)) or saved[2](results, limit)
    try:
        with CompiledRuleset(program) as c:
            assert c.splittable or _too_many_disjuncts(c)
            dur = c.run(program.facts, TODAY)
    finally:
        durable.SPLIT_MIN_FACTS, durable._processes, durable._merge = saved
    assert merged == ([processes] if c.splittable else [])
    ref = run(program, program.facts, TODAY, engine="reference")
    assert dur.finding_keys() == ref.finding_keys(), rules_text + "\n" + policy_text
    assert dur.derivation_keys() == ref.derivation_keys(), rules_text + "\n" + policy_text


def _too_many_disjuncts(c: CompiledRuleset) -> bool:
    """Some multi-pattern disjunct joins nothing in the engine (its conditions are all filters)."""
    return any(len(d.aliases) > 1 and not d.joins for d in c.disjuncts.values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(partitioned_program(), facts_strategy())
def test_differential_partitioned_working_memory(rules_text, policy_text):
    """When every rule joins its patterns on one field, working memory is split by that field's
    value; the answers are still the reference evaluator's."""
    program = build(rules_text, policy_text)
    with CompiledRuleset(program) as c:
        # a condition whose `or`s multiply into more than MAX_DISJUNCTS conjunctions is kept
        # whole as a filter evaluated in Python: its join is then not the engine's to partition on
        assert c.partition_field == "k" or _too_many_disjuncts(c)
    ref, dur = both(program)
    assert dur.finding_keys() == ref.finding_keys(), rules_text + "\n" + policy_text
    assert dur.derivation_keys() == ref.derivation_keys(), rules_text + "\n" + policy_text


def test_a_condition_with_too_many_disjuncts_still_joins_on_its_equalities():
    """MEASURE-CONFLICT's facilitating pattern has four `or`s across facts (area, occupation,
    group, origin: 54 disjuncts, more than MAX_DISJUNCTS). The `or`s whose branches compare a
    field with the other measure's by `==` are still split, so that a branch joins on `area`
    (and on occupation and group) in the engine; the rest stays one residual test."""
    import datetime as dt
    from pathlib import Path

    from coherence_rules.engine.compiler import MAX_DISJUNCTS

    s = Session([Path(__file__).resolve().parents[2] / "policies" / "mauritius"], as_of=dt.date(2026, 11, 23))
    compiled = s.rules.alone().compiled
    mine = [d for d in compiled.disjuncts.values() if d.owner == "MEASURE-CONFLICT"]
    assert 1 < len(mine) <= MAX_DISJUNCTS
    joined = [{mine_key.fields for i, mine_key, _, _ in d.joins if i == 2} for d in mine]
    assert any(("area",) in keys for keys in joined)
    assert any({("area",), ("occupation",), ("group",)} <= keys for keys in joined)
    assert all(d.residual for d in mine)  # origin's `or` is checked on activation


def test_a_test_of_another_patterns_fact_alone_becomes_part_of_its_flag():
    """`r.area in [...]` written in f's condition tests r alone: it is compiled into r's flag for
    that disjunct, never left to be checked in Python on every pair durable_rules makes (135,876
    MEASURE-CONFLICT activations at 10,000 generated facts before, 6,735 after)."""
    import datetime as dt
    from pathlib import Path

    from coherence_rules.checker.ir import operand_bindings

    s = Session([Path(__file__).resolve().parents[2] / "policies" / "mauritius"], as_of=dt.date(2026, 11, 23))
    compiled = s.rules.alone().compiled
    for d in compiled.disjuncts.values():
        for binding, lit in d.residual:
            names = operand_bindings(lit)
            alone = len(names) == 1 and not names & {None, binding} and names <= set(d.bindings)
            assert not alone, (d.owner, lit)
    mc = [d for d in compiled.disjuncts.values() if d.owner == "MEASURE-CONFLICT"]
    assert any(len(d.residual) == 1 for d in mc)  # only origin's `or` is left on activation
