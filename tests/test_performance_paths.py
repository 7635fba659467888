"""The fast paths must answer exactly as the slow ones: the fact scanner as the Lark parser (trees
and spans), the parse cache as a fresh parse (and a damaged cache as no cache), batched and
partitioned engine runs as the one-fact-at-a-time engine."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coherence_rules.syntax import ast as A
from coherence_rules.sources import cache
from coherence_rules.syntax import parser as P
from coherence_rules.syntax import fastfacts as F
from coherence_rules.syntax.fastfacts import parse_facts

# ---- fast path == Lark ------------------------------------------------------------------------------------

WORDS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}", fullmatch=True).filter(
    lambda w: w not in ("enum", "extend", "type", "ruleset", "rule", "criterion", "test", "accept"))
STRINGS = st.text(alphabet=st.sampled_from(list('ab \\"#é{}:,[]x')), max_size=8).map(
    lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"')
NUMBERS = st.from_regex(r"[+-]?[0-9]{1,5}(\.[0-9]{1,3})?", fullmatch=True)
DATES = st.from_regex(r"[0-9]{4}-[0-9]{2}(-[0-9]{2})?", fullmatch=True)
SPACE = st.sampled_from([" ", "  ", "\n", " # note\n", "\n\n", "\t", " \n  "])


@st.composite
def adjacent(draw):
    parts = draw(st.lists(STRINGS, min_size=1, max_size=3))
    return draw(SPACE).join(parts)


SCALARS = st.one_of(WORDS, adjacent(), NUMBERS, DATES, st.sampled_from(["true", "false"]))


@st.composite
def values(draw):
    if draw(st.booleans()):
        return draw(SCALARS)
    items = draw(st.lists(SCALARS, max_size=4))
    sep = draw(st.sampled_from([",", ", ", " ,\n"]))
    trail = draw(st.sampled_from(["", ","])) if items else ""
    return "[" + draw(SPACE) + sep.join(items) + trail + "]"


@st.composite
def fields(draw):
    out = []
    for _ in range(draw(st.integers(0, 4))):
        out.append(f"{draw(WORDS)}{draw(st.sampled_from([':', ' :', ': ', ':  ']))}{draw(values())}{draw(SPACE)}")
    return "".join(out)


@st.composite
def statements(draw):
    if draw(st.integers(0, 5)) == 0:
        ids = draw(st.lists(WORDS, max_size=3))
        return f"accept {draw(WORDS)} on [{', '.join(ids)}] {{{draw(SPACE)}{draw(fields())}}}"
    title = draw(st.one_of(st.just(""), adjacent().map(lambda s: " " + s)))
    return f"{draw(WORDS)} {draw(WORDS)}{title} {{{draw(SPACE)}{draw(fields())}}}"


@st.composite
def sources(draw):
    items = draw(st.lists(statements(), max_size=4))
    return draw(st.sampled_from(["", "# head\n", "\n"])) + draw(SPACE).join(items) + draw(
        st.sampled_from(["", "\n", "  # tail"]))


def _lark(text, file="t.policy", kind="policy", line_offset=0):
    padded = ("\n" * line_offset) + text if line_offset else text
    return P._parse_lark(text, padded, file, kind, line_offset)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources(), st.integers(0, 3))
def test_fast_path_builds_the_tree_lark_builds(text, line_offset):
    fast = P.parse_fast(text, "t.policy", "policy", line_offset)
    slow, diags = _lark(text, line_offset=line_offset)
    if fast is None:
        return  # given up: parse_source uses Lark, nothing to compare
    assert not diags, (text, diags)
    assert A.to_data(fast) == A.to_data(slow)


def _readers(text, line_offset):
    """The trees of the line reader and of the token reader (None where one gives up)."""
    lines = F._parse_lines(text, "t.policy", line_offset)
    toks = F._tokens(text, 1 + line_offset)
    try:
        tokens = F._Parser("t.policy", *toks).items() if toks is not None else None
    except (F._GiveUp, IndexError):
        tokens = None
    return lines, tokens


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources(), st.integers(0, 3))
def test_each_reader_builds_the_tree_lark_builds(text, line_offset):
    """The two readers of the fast path, each on its own: whatever either reads, it reads as Lark does."""
    slow, diags = _lark(text, line_offset=line_offset)
    lines, tokens = _readers(text, line_offset)
    if lines is not None:
        assert not diags, (text, diags)
        assert A.to_data(lines[0]) == A.to_data(slow.items)
        assert A.to_data(lines[1]) == A.to_data(slow.comments)
    if tokens is not None:
        assert not diags, (text, diags)
        assert A.to_data(tokens) == A.to_data(slow.items)


@st.composite
def one_line_values(draw):
    if draw(st.booleans()):
        return draw(st.one_of(WORDS, STRINGS, NUMBERS, DATES, st.sampled_from(["true", "false"])))
    items = draw(st.lists(st.one_of(WORDS, STRINGS, NUMBERS, DATES), max_size=3))
    return "[" + draw(st.sampled_from(["", " "])) + draw(st.sampled_from([",", ", ", " , "])).join(items) + (
        draw(st.sampled_from(["", ","])) if items else "") + "]"


@st.composite
def line_sources(draw):
    """Facts as people and importers write them: a header per line, fields on its line or on the
    following ones, lists on one line, comments at the ends of lines."""
    out = []
    for _ in range(draw(st.integers(1, 4))):
        title = draw(st.one_of(st.just(""), STRINGS.map(lambda s: " " + s)))
        head = f"{draw(WORDS)} {draw(WORDS)}{title} {{"
        fields = [f"{draw(WORDS)}{draw(st.sampled_from([':', ': ', ' : ']))}{draw(one_line_values())}"
                  for _ in range(draw(st.integers(0, 4)))]
        end = draw(st.sampled_from([" # note", "", "\t"]))
        if draw(st.booleans()):
            out.append(head + " " + "  ".join(fields) + " }" + end)
        else:
            out.append("\n".join([head] + ["  " + f + end for f in fields] + ["}"]))
    return draw(st.sampled_from(["", "# head\n", "\r\n"])) + "\n".join(out) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line_sources(), st.integers(0, 3))
def test_line_reader_reads_facts_written_a_line_at_a_time(text, line_offset):
    slow, diags = _lark(text, line_offset=line_offset)
    assert not diags, (text, diags)
    lines = F._parse_lines(text, "t.policy", line_offset)
    assert lines is not None, text
    assert A.to_data(lines[0]) == A.to_data(slow.items)
    assert A.to_data(lines[1]) == A.to_data(slow.comments)


@pytest.mark.parametrize("text", [
    'instrument X "A" "B" { kind: x }', 'accept C1 on [a] { reason: "r" }', 'instrument X { tags: [a,\n b] }',
    'instrument X\n{ kind: x }', 'instrument X { t: "a" "b" }', 'rule R { }',
])
def test_line_reader_leaves_other_shapes_to_the_token_reader(text):
    assert F._parse_lines(text, "t.policy", 0) is None


@pytest.mark.parametrize("text", [
    'instrument X "A" "B" { kind: strategy  tags: [a, b,]  n: -1.5  d: 2020-01  on: true  e: [] }',
    'accept C1 on [a, b] { reason: "x \\" y" }\nmeasure M { x: 1 }',
    "objective O {\n  # a comment\n  aim: increase # trailing\n}\n",
])
def test_fast_path_examples(text):
    fast = P.parse_fast(text, "t.policy")
    assert fast is not None
    assert A.to_data(fast) == A.to_data(_lark(text)[0])


@pytest.mark.parametrize("text", [
    'type t { x: string }', 'criterion C { }', 'instrument X { kind: [[a]] }', 'instrument X { t: "bad \\q" }',
    'instrument X { kind strategy }', 'instrument X { t: "open', 'instrument 12x { }', 'instrument X { n: 12abc }',
    'instrument X { kind: strategy', 'instrument X { a: 1 } }',
])
def test_fast_path_gives_up_and_lark_reports(text):
    assert parse_facts(text, "t.policy") is None
    module, diags = P.parse_source(text, "t.policy")
    if not text.startswith(("type", "criterion")):
        assert diags  # the syntax error is reported by the full parser


def test_fast_path_agrees_on_generated_policy_set():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import generate

    text = generate.generate(300, 3)
    fast = P.parse_fast(text, "g.policy")
    assert fast is not None
    assert F._parse_lines(text, "g.policy", 0) is not None  # read a line at a time, the fastest way
    assert A.to_data(fast) == A.to_data(_lark(text, "g.policy")[0])


# ---- the parse cache --------------------------------------------------------------------------------------

RULES_TEXT = 'criterion C "t" { dimension: internal  score: -1  source: "s"  message: "m"  advice: "a"\n' \
             '  when { x: a where k == red } }\n'


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("COHERENCE_NO_CACHE", raising=False)
    return tmp_path / "coherence" / "parse"


def _entries(d):
    return sorted(p for p in d.iterdir() if not p.name.startswith(".")) if d.exists() else []


def test_cache_hit_returns_the_same_tree(cache_home):
    first, _ = cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    assert len(_entries(cache_home)) == 1
    assert oct(cache_home.stat().st_mode & 0o777) == "0o700"
    again, diags = cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    assert not diags and A.to_data(again) == A.to_data(first)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "empty"])
def test_damaged_entry_is_a_miss_and_is_removed(cache_home, damage):
    first, _ = cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    (entry,) = _entries(cache_home)
    data = entry.read_bytes()
    entry.write_bytes({"truncate": data[: len(data) // 2], "garbage": os.urandom(200),
                       "flip": data[:-5] + bytes([data[-5] ^ 1]) + data[-4:], "empty": b""}[damage])
    k = cache.key(RULES_TEXT, "r.rules", "rules", 0)
    assert cache.read(k) is None
    assert not entry.exists()
    again, diags = cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    assert not diags and A.to_data(again) == A.to_data(first)


def test_version_change_is_a_miss(cache_home, monkeypatch):
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    k = cache.key(RULES_TEXT, "r.rules", "rules", 0)
    monkeypatch.setattr(cache, "__version__", "99.0")
    assert cache.key(RULES_TEXT, "r.rules", "rules", 0) != k
    monkeypatch.setattr(cache, "SCHEMA_VERSION", "99")
    assert cache.read(cache.key(RULES_TEXT, "r.rules", "rules", 0)) is None


def test_old_format_entry_is_a_miss(cache_home, monkeypatch):
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    monkeypatch.setattr(cache, "MAGIC", b"coherence-parse-cache 999\n")
    assert cache.read(cache.key(RULES_TEXT, "r.rules", "rules", 0)) is None


def test_disabled_by_environment(cache_home, monkeypatch):
    monkeypatch.setenv("COHERENCE_NO_CACHE", "1")
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    assert _entries(cache_home) == []


def test_facts_only_sources_are_not_cached(cache_home):
    cache.cached_parse("measure M { x: 1 }", "m.policy", "policy", 0, P.parse_source)
    assert _entries(cache_home) == []


def test_shared_cache_directory_is_not_used(cache_home):
    cache_home.mkdir(parents=True)
    os.chmod(cache_home, 0o777)
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    assert _entries(cache_home) == []
    assert cache.cache_dir() is None


def _write_many(home: str, n: int) -> None:
    os.environ["XDG_CACHE_HOME"] = home
    from coherence_rules.sources import cache as c
    from coherence_rules.syntax.parser import parse_source

    module, _ = parse_source(RULES_TEXT, "r.rules", kind="rules")
    k = c.key(RULES_TEXT, "r.rules", "rules", 0)
    for _ in range(n):
        c.write(k, module)
        assert c.read(k) is not None


def test_concurrent_writers_of_one_key(cache_home):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(cache_home.parent.parent), 40)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert len(_entries(cache_home)) == 1
    assert not [p for p in cache_home.iterdir() if p.name.startswith(".tmp-")]
    assert cache.read(cache.key(RULES_TEXT, "r.rules", "rules", 0)) is not None


def test_prune_keeps_the_directory_bounded(cache_home):
    cache.cached_parse(RULES_TEXT, "r.rules", "rules", 0, P.parse_source)
    for i in range(5):
        (cache_home / f"{i:064x}.pickle").write_bytes(b"x" * 1000)
    cache.prune(cache_home, max_bytes=2000, keep=1500)
    assert sum(p.stat().st_size for p in _entries(cache_home)) <= 2000


# ---- engine: batches and partitions -----------------------------------------------------------------------


def test_refused_batch_is_asserted_again_one_by_one(monkeypatch):
    """A batch the engine refuses (an id hash collision inside it) is not half-used: the partition
    starts over in a fresh state, one fact at a time."""
    import durable_rules_engine as dre

    import coherence_rules.engine.isolation as durable_mod
    from coherence_rules.engine.compiler import CompiledRuleset
    from tests.test_engine import SCHEMA_SMALL, TODAY, build

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

    bench = Path(__file__).resolve().parents[1] / "bench"
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

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
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

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
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
    from tests.test_engine import build

    program = build(SPLIT_SCHEMA + rule + "\n" + JOIN, "")
    with CompiledRuleset(program) as c:
        assert c.partition_field == "k"
        assert c.splittable is splittable


def test_split_run_fires_a_criterion_of_guards_only_once(monkeypatch):
    import coherence_rules.engine.isolation as durable
    from coherence_rules.engine import run
    from coherence_rules.engine.compiler import CompiledRuleset
    from tests.test_engine import TODAY, build

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
