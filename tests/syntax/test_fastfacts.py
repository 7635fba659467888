"""The fast fact readers (the line reader and the token reader) must build exactly the tree, spans
and comments the Lark parser builds, or give up and leave the source to Lark."""

from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coherence_rules.syntax import ast as A
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

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import generate

    text = generate.generate(300, 3)
    fast = P.parse_fast(text, "g.policy")
    assert fast is not None
    assert F._parse_lines(text, "g.policy", 0) is not None  # read a line at a time, the fastest way
    assert A.to_data(fast) == A.to_data(_lark(text, "g.policy")[0])
