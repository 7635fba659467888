"""What conditions mean, once, for both engines.

:func:`holds` is the meaning of a condition; everything else here is derived from it and must
agree with it: :func:`fast_test` and :func:`single_fact_test` compile single-fact conditions into
quick closures (each falls back to :func:`holds` for a shape it does not know), :func:`key_text`
and :func:`index_value` are the canonical forms under which values that ``==`` holds for meet in
joins and indexes, and :func:`check_guards` evaluates ``not``/``exists``. Both the durable_rules
engine (:mod:`.durable_run`) and the reference evaluator (:mod:`.reference`) evaluate conditions only
through these, so they can only differ in how they *combine* facts: joins, chaining, negation
order. That is what the differential test compares; ``tests/engine/test_semantics.py`` holds the
closures to :func:`holds` shape by shape.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, Optional

from ..checker.ir import (AllOf, AnyOf, Cmp, Const, FactRecord, Has, InSet, Match, NotOf, NullRef, PathRef, PatternIR, RuleIR, TodayRef)
from .records import Guard, NegationCycle

MISSING = object()

DEFAULT_MAX_DERIVED = 100_000


# ---- values --------------------------------------------------------------------------------------------------


def path_value(p: PathRef, own: Optional[FactRecord], env: dict[str, FactRecord], facts: dict[str, FactRecord]) -> Any:
    fact = own if p.binding is None else env.get(p.binding)
    if fact is None:
        return MISSING
    if not p.fields:
        return fact.id
    cur: Any = fact
    last = len(p.fields) - 1
    for i, f in enumerate(p.fields):
        if f == "id":
            v = cur.id
        elif f == "title":
            v = cur.title if cur.title is not None else MISSING
        else:
            v = cur.values.get(f, MISSING)
        if v is MISSING:
            return MISSING
        if i < last:
            cur = facts.get(v) if isinstance(v, str) else None
            if cur is None:
                return MISSING
        else:
            return v
    return MISSING


def value_of(x, own, env, facts, today: dt.date) -> Any:
    if isinstance(x, PathRef):
        return path_value(x, own, env, facts)
    if isinstance(x, Const):
        return x.value
    if isinstance(x, TodayRef):
        return today
    return MISSING


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _order(op: str, a: Any, b: Any) -> bool:
    ok = (isinstance(a, (int, float)) and not isinstance(a, bool) and isinstance(b, (int, float)) and not isinstance(b, bool)) \
        or (isinstance(a, dt.date) and isinstance(b, dt.date))
    if not ok:
        return False
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def holds(c, own: Optional[FactRecord], env: dict[str, FactRecord], facts: dict[str, FactRecord], today: dt.date) -> bool:
    """Truth of a resolved condition. A comparison involving an absent value is false; only
    ``== null`` is true for it."""
    if isinstance(c, Cmp):
        if isinstance(c.right, NullRef):
            v = value_of(c.left, own, env, facts, today)
            return (v is MISSING) if c.op == "==" else (v is not MISSING)
        a = value_of(c.left, own, env, facts, today)
        if a is MISSING:
            return False
        b = value_of(c.right, own, env, facts, today)
        if b is MISSING:
            return False
        if c.op == "==":
            return _equal(a, b)
        if c.op == "!=":
            return not _equal(a, b)
        return _order(c.op, a, b)
    if isinstance(c, AllOf):
        return all(holds(i, own, env, facts, today) for i in c.items)
    if isinstance(c, AnyOf):
        return any(holds(i, own, env, facts, today) for i in c.items)
    if isinstance(c, NotOf):
        return not holds(c.item, own, env, facts, today)
    if isinstance(c, InSet):
        a = value_of(c.left, own, env, facts, today)
        if a is MISSING:
            return False
        for it in c.items:
            b = value_of(it, own, env, facts, today)
            if b is not MISSING and _equal(a, b):
                return True
        return False
    if isinstance(c, Has):
        xs = value_of(c.left, own, env, facts, today)
        if xs is MISSING or not isinstance(xs, tuple):
            return False
        y = value_of(c.item, own, env, facts, today)
        if y is MISSING:
            return False
        if c.any:  # two lists that share an item
            return isinstance(y, tuple) and any(_equal(x, z) for x in xs for z in y)
        return any(_equal(x, y) for x in xs)
    if isinstance(c, Match):
        a = value_of(c.left, own, env, facts, today)
        if a is MISSING or not isinstance(a, str):
            return False
        return c.regex.search(a) is not None
    raise AssertionError(type(c))


# ---- guards ----------------------------------------------------------------------------------------------------


def condition_text(c, env: dict[str, FactRecord], facts: dict[str, FactRecord], today: dt.date) -> str:
    """A condition as text with the values of earlier bindings filled in, for ``absent`` proofs."""

    def opnd(x) -> str:
        if isinstance(x, PathRef):
            if x.binding is None:
                return ".".join(x.fields) if x.fields else "id"
            v = path_value(x, None, env, facts)
            return show_value(v) if v is not MISSING else f"{x.binding}.{'.'.join(x.fields)}"
        if isinstance(x, Const):
            return show_value(x.value)
        if isinstance(x, TodayRef):
            return today.isoformat()
        if isinstance(x, NullRef):
            return "null"
        return "?"

    def go(c, top=False) -> str:
        if isinstance(c, Cmp):
            return f"{opnd(c.left)} {c.op} {opnd(c.right)}"
        if isinstance(c, AllOf):
            return " and ".join(go(i) for i in c.items)
        if isinstance(c, AnyOf):
            s = " or ".join(go(i) for i in c.items)
            return s if top else f"({s})"
        if isinstance(c, NotOf):
            return f"not ({go(c.item)})"
        if isinstance(c, InSet):
            return f"{opnd(c.left)} in [{', '.join(opnd(i) for i in c.items)}]"
        if isinstance(c, Has):
            return f"{opnd(c.left)} {'intersects' if c.any else 'contains'} {opnd(c.item)}"
        if isinstance(c, Match):
            return f"{opnd(c.left)} matches {json.dumps(c.pattern, ensure_ascii=False)}"
        return "?"

    return go(c, top=True)


def show_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, tuple):
        return "[" + ", ".join(show_value(x) for x in v) + "]"
    if isinstance(v, str):
        return v if all(ch.isalnum() or ch in "_.-" for ch in v) and v else json.dumps(v, ensure_ascii=False)
    return str(v)


def check_guards(guards: list[PatternIR], env: dict[str, FactRecord], bound: set[str],
                 by_type: dict[str, list[FactRecord]], facts: dict[str, FactRecord], today: dt.date,
                 candidates=None) -> Optional[tuple[Guard, ...]]:
    """Evaluate ``not``/``exists`` patterns against complete fact sets. Facts bound by the match's
    positive patterns are not candidates. The evidence of an ``exists`` is its qualifying fact with
    the smallest id, whatever the order of ``by_type``. Returns the evidence, or None when a guard
    fails. ``candidates(pattern, env)``, when given, narrows the facts to look at (an index); it
    must return every fact that can satisfy the pattern."""
    out = []
    for g in guards:
        witness = None
        for cand in (candidates(g, env) if candidates is not None else by_type.get(g.type, ())):
            if cand.id in bound or (witness is not None and cand.id >= witness):
                continue
            if g.cond is None or holds(g.cond, cand, env, facts, today):
                witness = cand.id
                if g.kind == "not":
                    break  # one blocker is enough
        if (witness is None) == (g.kind == "exists"):
            return None
        text = f"{g.type} where {condition_text(g.cond, env, facts, today)}" if g.cond is not None else g.type
        if g.kind == "not":
            out.append(Guard("not", f"no {text}"))
        else:
            out.append(Guard("exists", f"some {text}", witness))
    return tuple(out)


# ---- derived facts --------------------------------------------------------------------------------------------


def derived_id(type_name: str, values: dict[str, Any]) -> str:
    """A derived fact's id: a function of its type and fields, so it is stable between runs."""
    payload = json.dumps([type_name, sorted((k, _jsonable(v)) for k, v in values.items())], ensure_ascii=False,
                         separators=(",", ":"))
    return f"{type_name}#{hashlib.sha256(payload.encode()).hexdigest()[:10]}"


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.date):
        return {"date": v.isoformat()}
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def derive_values(rule: RuleIR, env: dict[str, FactRecord], facts: dict[str, FactRecord], today: dt.date
                  ) -> Optional[dict[str, Any]]:
    """The field values a rule derives for one match; None when a required value is absent (a rule
    never derives a fact with a missing required field)."""
    out = {}
    for name, op in rule.derive.items():
        v = value_of(op, None, env, facts, today)
        if v is MISSING:
            return None
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        out[name] = v
    return out


# ---- stratification --------------------------------------------------------------------------------------------


def stratify(rules: list[RuleIR]) -> dict[str, int]:
    """Stratum of each rule: a rule comes after every rule deriving a type it tests with
    ``not``/``exists`` (strictly) or matches positively (same stratum or later). Criteria derive
    nothing and run after all rules."""
    derived_by: dict[str, list[RuleIR]] = {}
    for r in rules:
        derived_by.setdefault(r.derive_type, []).append(r)
    stratum = {r.name: 0 for r in rules}
    for _ in range(len(rules) + 2):
        changed = False
        for r in rules:
            s = stratum[r.name]
            for p in r.patterns:
                for dep in derived_by.get(p.type, []):
                    need = stratum[dep.name] + (1 if p.kind != "match" else 0)
                    if need > s:
                        s = need
            if s != stratum[r.name]:
                if s > len(rules):
                    raise NegationCycle(sorted(x.name for x in rules if stratum[x.name] >= len(rules) - 1))
                stratum[r.name] = s
                changed = True
        if not changed:
            return stratum
    raise NegationCycle(sorted(r.name for r in rules))


def split_patterns(patterns: list[PatternIR]) -> tuple[list[PatternIR], list[PatternIR]]:
    return [p for p in patterns if p.kind == "match"], [p for p in patterns if p.kind != "match"]


# ---- compiled single-fact tests -------------------------------------------------------------------

def key_text(v: Any) -> Optional[str]:
    """Canonical, type-tagged text of a join value; None for values that do not join."""
    if v.__class__ is str:  # the common case first
        return "s:" + v
    if isinstance(v, bool):
        return "b:1" if v else "b:0"
    if isinstance(v, int):
        return f"n:{v}"
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return None
        return f"n:{int(v)}" if v.is_integer() else f"n:{v!r}"
    if isinstance(v, dt.date):
        return f"d:{v.isoformat()}"
    if isinstance(v, str):
        return "s:" + v
    return None


def conjuncts(c) -> list:
    if isinstance(c, AllOf):
        out = []
        for i in c.items:
            out += conjuncts(i)
        return out
    return [c]


def index_value(v: Any) -> Any:
    """A hashable key under which values equal by :func:`~.semantics.holds` (``==``) meet: ``True``
    and ``1`` are different values there, ``1`` and ``1.0`` the same. Raises TypeError for a value
    that cannot be hashed (the caller then scans)."""
    if isinstance(v, float) and v != v:
        raise TypeError("NaN equals nothing")
    hash(v)
    return (type(v) is bool, v)


def getter(p: Any):
    """A function reading a path of the fact itself (one field, or the id or title), or None."""
    if not (isinstance(p, PathRef) and p.binding is None and len(p.fields) <= 1):
        return None
    if not p.fields or p.fields[0] == "id":
        return lambda f: f.id
    name = p.fields[0]
    if name == "title":
        return lambda f: f.title if f.title is not None else MISSING
    return lambda f: f.values.get(name, MISSING)


_SCALARS = (str, int, float, dt.date)


def fast_test(c):
    """A function ``fact -> bool`` equal to ``holds(c, fact, {}, ...)`` for the common single-fact
    conditions (presence, ``==``/``!=`` with a constant, ``in`` a list of constants, and/or/not of
    these), or None for anything else (evaluated by :func:`~.semantics.holds`)."""
    if isinstance(c, Cmp):
        left, right = c.left, c.right
        if isinstance(left, Const) and not isinstance(right, (Const, NullRef)):
            left, right = right, left
        get = getter(left)
        if get is None:
            return None
        if isinstance(right, NullRef):
            if c.op == "==":
                return lambda f: get(f) is MISSING
            if c.op == "!=":
                return lambda f: get(f) is not MISSING
            return None
        if not isinstance(right, Const) or not isinstance(right.value, _SCALARS) or c.op not in ("==", "!="):
            return None
        want = right.value
        if isinstance(want, float) and want != want:
            return None
        if isinstance(want, bool):
            def eq(f):
                v = get(f)
                return type(v) is bool and v == want
        else:
            def eq(f):
                v = get(f)
                return v is not MISSING and type(v) is not bool and v == want
        if c.op == "==":
            return eq
        return lambda f: get(f) is not MISSING and not eq(f)
    if isinstance(c, InSet):
        get = getter(c.left)
        if get is None or not all(isinstance(i, Const) and isinstance(i.value, _SCALARS) for i in c.items):
            return None
        if any(isinstance(i.value, float) and i.value != i.value for i in c.items):
            return None
        keys = frozenset((type(i.value) is bool, i.value) for i in c.items)

        def member(f):
            v = get(f)
            if v is MISSING:
                return False
            try:
                return (type(v) is bool, v) in keys
            except TypeError:  # an unhashable value equals no constant
                return False
        return member
    if isinstance(c, (AllOf, AnyOf)):
        parts = [fast_test(i) for i in c.items]
        if any(p is None for p in parts):
            return None
        return all_of(parts) if isinstance(c, AllOf) else any_of(parts)
    if isinstance(c, NotOf):
        inner = fast_test(c.item)
        return None if inner is None else (lambda f: not inner(f))
    return None


_EQ, _IN, _PRESENT, _ABSENT, _NE = range(5)


def field_test(c) -> Optional[tuple]:
    """``(op, field, constant)`` for the commonest single-fact conditions, on one field of the
    fact (not its id or title) against strings: ``== "s"``, ``!= "s"``, ``in [strings]``, ``!=
    null``, ``== null``; None otherwise. A string equals only a string (never a number, a
    boolean or a date), so these need none of :func:`fast_test`'s type checks."""
    if isinstance(c, Cmp) and c.op in ("==", "!="):
        left, right = c.left, c.right
        if isinstance(left, (Const, NullRef)):
            left, right = right, left
        if not (isinstance(left, PathRef) and left.binding is None and len(left.fields) == 1
                and left.fields[0] not in ("id", "title")):
            return None
        name = left.fields[0]
        if isinstance(right, NullRef):
            return (_ABSENT if c.op == "==" else _PRESENT, name, None)
        if isinstance(right, Const) and right.value.__class__ is str:
            return (_EQ if c.op == "==" else _NE, name, right.value)
        return None
    if isinstance(c, InSet) and isinstance(c.left, PathRef) and c.left.binding is None \
            and len(c.left.fields) == 1 and c.left.fields[0] not in ("id", "title") \
            and all(isinstance(i, Const) and i.value.__class__ is str for i in c.items):
        return (_IN, c.left.fields[0], frozenset(i.value for i in c.items))
    return None


def field_tests(simple: list, rest: list):
    """``fact -> bool``: every :func:`field_test` in ``simple`` and every function in ``rest``
    holds, in one call per fact."""
    simple = tuple(simple)
    others = all_of(rest) if rest else None

    def test(f) -> bool:
        values = f.values
        for op, name, arg in simple:
            if op == _EQ:
                if values.get(name, MISSING) != arg:
                    return False
            elif op == _IN:
                try:
                    if values.get(name, MISSING) not in arg:
                        return False
                except TypeError:  # an unhashable value equals no constant
                    return False
            elif op == _PRESENT:
                if name not in values:
                    return False
            elif op == _ABSENT:
                if name in values:
                    return False
            else:
                v = values.get(name, MISSING)
                if v is MISSING or v == arg:
                    return False
        return others is None or others(f)
    return test


def all_of(tests: list):
    """``fact -> bool``: every test holds (a loop: ``all()`` over a generator costs twice as much)."""
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda f: first(f) and second(f)

    def conj(f):
        for t in tests:
            if not t(f):
                return False
        return True
    return conj


def any_of(tests: list):
    def disj(f):
        for t in tests:
            if t(f):
                return True
        return False
    return disj


def single_fact_test(conds: list, store: Optional[dict], today: Optional[dt.date]):
    """``fact -> bool``: the conjunction of ``conds``, single-fact conditions on one fact, as one
    closure: string-field tests in one call (:func:`field_tests`), other common shapes as
    :func:`fast_test` closures, anything else through :func:`holds` (on ``store`` and ``today``).
    With ``store`` None: None when some condition needs :func:`holds`, since the closure would then
    belong to one run; otherwise the closure, which depends on no run and can serve them all."""
    simple, tests = [], []
    for cond in (lit for c in conds for lit in conjuncts(c)):
        plain = field_test(cond)
        if plain is not None:
            simple.append(plain)
            continue
        t = fast_test(cond)
        if t is None:
            if store is None:
                return None

            def t(f, cond=cond):
                return holds(cond, f, {}, store, today)
        tests.append(t)
    if simple:
        return field_tests(simple, tests)
    return all_of(tests) if tests else (lambda f: True)
