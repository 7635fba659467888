"""What conditions mean, once, for both engines; and what a run produces.

Both the durable_rules engine (:mod:`.durable`) and the reference evaluator (:mod:`.reference`)
evaluate single-fact conditions, residual join conditions and ``not``/``exists`` guards through
:func:`holds`, so they can only differ in how they *combine* facts: joins, chaining, negation
order. That is exactly what the differential test compares.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from ..checker.program import (AllOf, AnyOf, Cmp, Const, CriterionIR, FactRecord, Has, InSet, Match, NotOf, NullRef,
                     PathRef, PatternIR, Program, RuleIR, TodayRef)
from ..diagnostics import Diagnostic

MISSING = object()

DEFAULT_MAX_DERIVED = 100_000


class DerivationLimit(Exception):
    """More facts were derived than the limit allows."""

    def __init__(self, limit: int, rule: str):
        super().__init__(f"rules derived more than {limit} facts (last: rule '{rule}')")
        self.limit = limit
        self.rule = rule


@dataclass(frozen=True, slots=True)
class Guard:
    """Evidence for a ``not`` or ``exists`` pattern of one match: what was absent, or which fact
    (the first by id) showed existence."""

    kind: str  # "not" | "exists"
    text: str
    witness: Optional[str] = None


@dataclass(frozen=True, slots=True)
class Derivation:
    rule: str
    premises: tuple[tuple[str, str], ...]  # (binding, fact id) per positive pattern
    guards: tuple[Guard, ...] = ()


@dataclass(slots=True)
class MatchRecord:
    """One firing of a criterion: the facts bound to its positive patterns, and its guards."""

    criterion: str
    bindings: tuple[tuple[str, str], ...]
    guards: tuple[Guard, ...] = ()

    @property
    def fact_ids(self) -> tuple[str, ...]:
        return tuple(sorted({fid for _, fid in self.bindings}))


@dataclass
class RunResult:
    """What an engine produced: criterion matches (one per distinct set of facts) and derived facts
    with every derivation of each."""

    matches: list[MatchRecord] = field(default_factory=list)
    derived: dict[str, FactRecord] = field(default_factory=dict)
    derivations: dict[str, list[Derivation]] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: memory private to the child processes that ran the engine, in bytes, summed over children
    #: that ran at once (pages they allocated or copied from the parent); 0 when not known
    child_memory: int = 0
    #: peak resident set size of the process when it forked those children, in bytes, plus what it
    #: received from them; with ``child_memory``, the most the run held at once (0: not known)
    parent_memory: int = 0

    def finding_keys(self) -> set[tuple[str, tuple[str, ...]]]:
        return {(m.criterion, m.fact_ids) for m in self.matches}

    def derivation_keys(self) -> set[tuple[str, str, tuple[str, ...]]]:
        return {(fid, d.rule, tuple(sorted(f for _, f in d.premises))) for fid, ds in self.derivations.items() for d in ds}


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
            return f"{opnd(c.left)} contains {opnd(c.item)}"
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


class NegationCycle(Exception):
    def __init__(self, rules: list[str]):
        super().__init__("rules depend on each other through `not`/`exists`: " + ", ".join(rules))
        self.rules = rules


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
