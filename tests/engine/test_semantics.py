"""One meaning of a condition: :func:`holds` is the specification, and every closure the engine
compiles from a condition, and every canonical form under which values meet in joins and
indexes, must agree with it (coherence_rules/engine/semantics.py)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from coherence_rules.checker.ir import AllOf, AnyOf, Cmp, Const, FactRecord, InSet, NotOf, NullRef, PathRef
from coherence_rules.engine.semantics import (MISSING, _equal, fast_test, field_test, holds, index_value, key_text,
                                              single_fact_test)

TODAY = dt.date(2026, 11, 23)
FIELDS = ("a", "b")

scalars = st.one_of(
    st.sampled_from(["nurse", "teacher", "", "1", "true"]),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, 1.5, -2.0]),
    st.booleans(),
    st.sampled_from([dt.date(2020, 1, 1), dt.date(2026, 11, 23)]),
)
values = st.one_of(scalars, st.tuples(scalars, scalars))


def path(name: str) -> PathRef:
    return PathRef(None, (name,), None)


@st.composite
def conditions(draw, depth: int = 0):
    kinds = ["eq", "ne", "null", "notnull", "in"] + (["and", "or", "not"] if depth < 2 else [])
    kind = draw(st.sampled_from(kinds))
    f = path(draw(st.sampled_from(FIELDS)))
    if kind in ("eq", "ne"):
        return Cmp("==" if kind == "eq" else "!=", f, Const(draw(scalars)))
    if kind == "null":
        return Cmp("==", f, NullRef())
    if kind == "notnull":
        return Cmp("!=", f, NullRef())
    if kind == "in":
        return InSet(f, tuple(Const(v) for v in draw(st.lists(scalars, min_size=1, max_size=3))))
    if kind == "not":
        return NotOf(draw(conditions(depth + 1)))
    items = tuple(draw(st.lists(conditions(depth + 1), min_size=1, max_size=3)))
    return AllOf(items) if kind == "and" else AnyOf(items)


@st.composite
def facts(draw):
    vals = {}
    for name in FIELDS:
        v = draw(st.one_of(st.just(MISSING), values))
        if v is not MISSING:
            vals[name] = v
    return FactRecord("F1", "t", None, vals, None)


@settings(max_examples=3000, deadline=None)
@given(conditions(), facts())
def test_compiled_single_fact_tests_agree_with_holds(cond, fact):
    expected = holds(cond, fact, {}, {}, TODAY)
    assert single_fact_test([cond], {}, TODAY)(fact) is expected
    quick = fast_test(cond)
    if quick is not None:
        assert quick(fact) is expected


@settings(max_examples=2000, deadline=None)
@given(st.lists(conditions(), min_size=1, max_size=4), facts())
def test_a_flag_is_the_conjunction_of_its_conditions(conds, fact):
    assert single_fact_test(conds, {}, TODAY)(fact) is all(holds(c, fact, {}, {}, TODAY) for c in conds)


def test_field_tests_cover_string_comparisons_only():
    assert field_test(Cmp("==", path("a"), Const("nurse"))) is not None
    assert field_test(InSet(path("a"), (Const("x"), Const("y")))) is not None
    assert field_test(Cmp("!=", path("a"), NullRef())) is not None
    # a number, a boolean or a date needs the type checks of fast_test or holds
    for other in (Const(1), Const(True), Const(TODAY)):
        assert field_test(Cmp("==", path("a"), other)) is None
    assert field_test(Cmp("==", PathRef(None, ("id",), None), Const("F1"))) is None


@settings(max_examples=2000, deadline=None)
@given(scalars, scalars)
def test_join_keys_meet_exactly_when_values_are_equal(a, b):
    assert (key_text(a) == key_text(b)) is _equal(a, b)
    assert (index_value(a) == index_value(b)) is _equal(a, b)


def test_values_that_never_join():
    assert key_text(float("nan")) is None and key_text(float("inf")) is None and key_text(MISSING) is None
    assert key_text(True) != key_text(1) and key_text(1) == key_text(1.0) and key_text("1") != key_text(1)
