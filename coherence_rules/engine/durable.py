"""The production engine: criteria and rules compiled to a durable_rules ruleset, run through the
C API (no ``Host``, no background threads).

What durable_rules is given, and why (see ENGINE_NOTES in the design documents):

- **Only safe condition shapes.** Every pattern compiles to exactly one shape:
  ``{"$and": [{"t": TYPE}, {"pN": 1}, {"kA": {ALIAS: "kB"}}, ...]}``: a type test, one flag test,
  and equality joins to earlier aliases. :data:`EMITTED_SHAPES` lists them; a test runs each
  against the reference evaluator. No ``$not``, no ``$or``/``any``, no non-equality join, no regex
  reaches the engine, so the segfault of non-equality joins inside ``$and`` (upstream #381), the
  order-dependent negation and the union-firing of ``any`` cannot happen.
- **Single-fact conditions are precomputed.** Everything a pattern says about its own fact
  (constants, ``in``, ``matches`` with Python regular expressions, ``contains``, ``today``,
  presence) is evaluated once per fact in Python and handed over as a flag ``pN: 1``.
- **Only joins reach the engine.** A disjunct with one positive pattern is activated, in Python,
  by each fact its flag holds for: asserting the fact and decoding the activation back would
  give the same answer slower. durable_rules is given only the facts, flags and keys that
  disjuncts with several patterns test.
- **Joins compare canonical strings.** Join keys are type-tagged strings (``s:nurse``, ``n:1``,
  ``d:2020-01-01``), so durable_rules' value coercions (``"1" == 1``, int/float joins) cannot
  change an answer. No user value reaches the engine otherwise: facts carry only ``id``, ``t``,
  flags and keys.
- **Other joins are residual filters** evaluated in Python on each activation (``!=``, ``<``,
  ``contains`` between two facts, comparisons through ``or``): always right, and quadratic only
  where the criterion itself is.
- **Disjunctions across facts** become one durable rule per disjunct.
- **Negation is stratified.** ``not``/``exists`` patterns never reach the engine: they are
  evaluated in Python when an activation is processed, and activations are processed stratum by
  stratum, criteria last, so the facts a guard looks at are complete whatever the order of facts
  in the files.
- **Ids.** Each fact gets an explicit id; a duplicate-id answer (code 2) for a fact that is new
  means the engine's 32-bit id hash collided (upstream #376): the fact is re-asserted under
  another internal id, never merged.
- **Partitions.** When all joins share one field, facts go to separate states by its value
  (:meth:`CompiledRuleset._partition_field`, at most :data:`MAX_STATES` states), and a large run
  of a ruleset that allows it is split by that field between one child process per processor
  (:func:`_run_forked`, :meth:`CompiledRuleset._splittable`).
- **Isolation by process.** durable_rules cannot be cleaned up reliably after a run: measured,
  ``delete_state`` double-frees whenever the state holds partial join frames (the normal case),
  ``retract_fact`` crashes for some states of rulesets with many rules, and ``delete_ruleset``
  leaks about 100 KB per ruleset. So the durable ruleset of a compiled definition is created once
  per process (a small cache, :func:`_acquire`) and never touched again by the parent: each run
  forks a child process that inherits the ruleset copy-on-write, asserts and matches, sends its
  records back through a pipe, and exits. The parent's memory does not grow however many runs it
  makes, one run cannot see another's facts, and a crash of the engine becomes an ``E502``
  diagnostic instead of killing the caller. Where ``fork`` is not available the run happens in
  process on a fresh ruleset that is then abandoned (correct, but it leaks).
"""

from __future__ import annotations

import bisect
import datetime as dt
import gc
import itertools
import json
import operator
import os
import pickle
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from ..checker.program import (AllOf, AnyOf, Cmp, Const, CriterionIR, FactRecord, Has, InSet, Match, NotOf, NullRef, PathRef,
                     PatternIR, Program, RuleIR, TodayRef, operand_bindings)
from ..runtime import paused_gc, peak_rss
from .semantics import (DEFAULT_MAX_DERIVED, MISSING, Derivation, DerivationLimit, Guard, MatchRecord, RunResult,
                        check_guards, derived_id, holds, path_value, split_patterns, stratify, value_of)

#: The condition shapes the compiler emits, as templates. ``TYPE``, ``FLAG``, ``KEY``, ``ALIAS``
#: and ``OTHERKEY`` are placeholders; joins repeat.
EMITTED_SHAPES = (
    {"$and": [{"t": "TYPE"}, {"FLAG": 1}]},
    {"$and": [{"t": "TYPE"}, {"FLAG": 1}, {"KEY": {"ALIAS": "OTHERKEY"}}]},
    {"$and": [{"t": "TYPE"}, {"FLAG": 1}, {"KEY": {"ALIAS": "OTHERKEY"}}, {"KEY": {"ALIAS": "OTHERKEY"}}]},
)

MAX_JOINS_PER_PATTERN = 4
MAX_DISJUNCTS = 32
_JOINABLE = ("string", "number", "date", "bool", "enum", "ref")

_counter = itertools.count(1)
_lock = threading.Lock()

STATE_ID = "coherence"
HANDLE_CACHE_SIZE = 64


class _Handle:
    """A durable_rules ruleset kept for reuse, with the lock that makes its runs one at a time."""

    def __init__(self, handle: int):
        self.handle = handle
        self.lock = threading.Lock()


_handles: "dict[str, _Handle]" = {}


def _acquire(definition_json: str) -> _Handle:
    """The cached durable ruleset for a definition, created on first use. Least recently used
    handles beyond :data:`HANDLE_CACHE_SIZE` are forgotten, not deleted (see the module docstring)."""
    import durable_rules_engine as dre

    with _lock:
        h = _handles.pop(definition_json, None)
        if h is None:
            h = _Handle(dre.create_ruleset(f"coherence_{next(_counter)}", definition_json))
        _handles[definition_json] = h
        while len(_handles) > HANDLE_CACHE_SIZE:
            # forget the least recently used ruleset; deleting it would leak as much as keeping it
            # and risks the crash described above, so its memory stays with the process
            del _handles[next(iter(_handles))]
        return h


def _key_text(v: Any) -> Optional[str]:
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


# ---- compilation --------------------------------------------------------------------------------------------


@dataclass
class _Flag:
    """One precomputed single-fact test: the conjunction ``conds`` on a fact of ``type``."""

    name: str
    type: str
    conds: list


@dataclass
class _Key:
    name: str
    type: str
    fields: tuple[str, ...]


@dataclass
class _Disjunct:
    """One durable rule: a conjunctive version of a criterion's or rule's positive patterns."""

    rule_name: str
    owner: str  # criterion code or rule name
    is_criterion: bool
    aliases: list[str]  # durable alias per positive pattern
    bindings: list[str]
    residual: list  # conditions checked in Python on activation, with their pattern's binding
    definition: list
    # the equality joins durable_rules evaluates: (pattern index, own key, earlier pattern index, its key)
    joins: list = field(default_factory=list)
    flags: list = field(default_factory=list)  # the flag of each pattern


def _literals(c) -> list:
    if isinstance(c, AllOf):
        out = []
        for i in c.items:
            out += _literals(i)
        return out
    return [c]


def _dnf(c, own: Optional[str]) -> list[list]:
    """Disjunctive normal form, splitting only on ``or`` that involves other bindings (an ``or``
    over the pattern's own fact stays one precomputed test)."""
    if c is None:
        return [[]]
    if not (operand_bindings(c) - {None, own}):
        return [[c]]
    if isinstance(c, AllOf):
        out = [[]]
        for i in c.items:
            out = [a + b for a in out for b in _dnf(i, own)]
            if len(out) > MAX_DISJUNCTS:
                return [[c]]
        return out
    if isinstance(c, AnyOf):
        out = []
        for i in c.items:
            out += _dnf(i, own)
        return out if len(out) <= MAX_DISJUNCTS else [[c]]
    if isinstance(c, NotOf):
        inner = c.item
        if isinstance(inner, AnyOf):
            return _dnf(AllOf(tuple(NotOf(i) for i in inner.items)), own)
        if isinstance(inner, AllOf):
            return _dnf(AnyOf(tuple(NotOf(i) for i in inner.items)), own)
        if isinstance(inner, NotOf):
            return _dnf(inner.item, own)
        return [[c]]
    return [[c]]


def _index_value(v: Any) -> Any:
    """A hashable key under which values equal by :func:`~.semantics.holds` (``==``) meet: ``True``
    and ``1`` are different values there, ``1`` and ``1.0`` the same. Raises TypeError for a value
    that cannot be hashed (the caller then scans)."""
    if isinstance(v, float) and v != v:
        raise TypeError("NaN equals nothing")
    hash(v)
    return (type(v) is bool, v)


def _getter(p: Any):
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


def _fast_test(c):
    """A function ``fact -> bool`` equal to ``holds(c, fact, {}, ...)`` for the common single-fact
    conditions (presence, ``==``/``!=`` with a constant, ``in`` a list of constants, and/or/not of
    these), or None for anything else (evaluated by :func:`~.semantics.holds`)."""
    if isinstance(c, Cmp):
        left, right = c.left, c.right
        if isinstance(left, Const) and not isinstance(right, (Const, NullRef)):
            left, right = right, left
        get = _getter(left)
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
        get = _getter(c.left)
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
        parts = [_fast_test(i) for i in c.items]
        if any(p is None for p in parts):
            return None
        return _all_of(parts) if isinstance(c, AllOf) else _any_of(parts)
    if isinstance(c, NotOf):
        inner = _fast_test(c.item)
        return None if inner is None else (lambda f: not inner(f))
    return None


_EQ, _IN, _PRESENT, _ABSENT, _NE = range(5)


def _field_test(c) -> Optional[tuple]:
    """``(op, field, constant)`` for the commonest single-fact conditions, on one field of the
    fact (not its id or title) against strings: ``== "s"``, ``!= "s"``, ``in [strings]``, ``!=
    null``, ``== null``; None otherwise. A string equals only a string (never a number, a
    boolean or a date), so these need none of :func:`_fast_test`'s type checks."""
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


def _field_tests(simple: list, rest: list):
    """``fact -> bool``: every :func:`_field_test` in ``simple`` and every function in ``rest``
    holds, in one call per fact."""
    simple = tuple(simple)
    others = _all_of(rest) if rest else None

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


def _all_of(tests: list):
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


def _any_of(tests: list):
    def disj(f):
        for t in tests:
            if t(f):
                return True
        return False
    return disj


def _guard_probes(g: PatternIR) -> tuple[tuple[tuple[str, ...], Any], ...]:
    """Equalities every candidate of guard ``g`` must satisfy, as ``(own field path, other side)``:
    the conjuncts of its condition comparing one field of the candidate with a constant or with a
    value of an earlier binding. A guard is evaluated on the candidates whose fields equal those
    values (a hash lookup) instead of on every fact of its type; the full condition is still
    checked on each, so the answer (and the first witness by id) is the same as a scan's."""
    if g.cond is None:
        return ()
    out = []
    for lit in _literals(g.cond):
        if not isinstance(lit, Cmp) or lit.op != "==":
            continue
        for mine, other in ((lit.left, lit.right), (lit.right, lit.left)):
            if not (isinstance(mine, PathRef) and mine.binding is None and len(mine.fields) == 1):
                continue
            if isinstance(other, Const) or (isinstance(other, PathRef) and other.binding is not None):
                out.append((mine.fields, other))
                break
    return tuple(out)


class CompiledRuleset:
    """A program's criteria and rules compiled for durable_rules; reusable across runs (each run
    gets its own state). Call :meth:`close` (or use it as a context manager) to free it."""

    def __init__(self, program: Program, criteria: Optional[list[CriterionIR]] = None):
        import durable_rules_engine as dre

        self._dre = dre
        self.program = program
        self.criteria = list(program.criteria if criteria is None else criteria)
        self.rules = list(program.rules)
        self.strata = stratify(self.rules)
        self.flags: dict[str, list[_Flag]] = {}
        self.keys: dict[str, list[_Key]] = {}
        self._key_index: dict[tuple[str, tuple[str, ...]], _Key] = {}
        self.disjuncts: dict[str, _Disjunct] = {}
        self.guards: dict[str, list[PatternIR]] = {}
        self.guard_probes: dict[int, tuple] = {}
        self.positives: dict[str, list[PatternIR]] = {}
        self.guard_only: list[tuple[str, bool]] = []
        self.by_name: dict[str, Any] = {}
        #: flag -> the one-pattern disjuncts it activates. They never reach durable_rules: a fact
        #: whose flag holds is an activation, so asserting it and decoding the activation back
        #: would only cost time.
        self.direct: dict[str, list[str]] = {}
        self.engine_flags: set[str] = set()  # flags some durable rule tests
        definition: dict[str, Any] = {}
        for owner, is_crit, patterns in itertools.chain(
                ((r.name, False, r.patterns) for r in self.rules),
                ((c.code, True, c.patterns) for c in self.criteria)):
            self.by_name[owner] = next(x for x in (self.rules if not is_crit else self.criteria)
                                       if (x.name if not is_crit else x.code) == owner)
            positive, guards = split_patterns(patterns)
            self.guards[owner] = guards
            for g in guards:
                self.guard_probes[id(g)] = _guard_probes(g)
            self.positives[owner] = positive
            if not positive:
                self.guard_only.append((owner, is_crit))
                continue
            for n, d in enumerate(self._compile(owner, is_crit, positive)):
                name = f"{'c' if is_crit else 'r'}{len(self.disjuncts)}"
                d.rule_name = name
                self.disjuncts[name] = d
                if len(d.aliases) == 1:  # its activations are the facts its flag holds for
                    self.direct.setdefault(d.flags[0], []).append(name)
                else:
                    definition[name] = {"all": d.definition}
                    self.engine_flags.update(d.flags)
        self.definition = definition
        self.partition_field = self._partition_field()
        self.splittable = self._splittable()
        self._cached = _acquire(json.dumps(definition, ensure_ascii=False, sort_keys=True)) if definition else None
        self._handle = self._cached.handle if self._cached is not None else None

    def _splittable(self) -> bool:
        """Whether a run can be split between processes by value of the partition field, each
        process running the facts of its own partitions (:func:`_run_forked`): every rule derives
        the partition field from one of its own facts (so a derived fact belongs to the partition
        of its premises, in the same process), no guard looks at a derived type (guards see every
        fact of their type, and a process holds only its own derived facts), and no derived type
        refers to another (a path through it could lead to another process's fact). Facts the
        rules do not derive are in every process."""
        name = self.partition_field
        if name is None or name in ("id", "title"):
            return False
        derived = {r.derive_type for r in self.rules}
        for r in self.rules:
            op = r.derive.get(name)
            if not (isinstance(op, PathRef) and op.fields == (name,)
                    and op.binding in {p.binding for p in self.positives[r.name]}):
                return False
        if any(g.type in derived for guards in self.guards.values() for g in guards):
            return False
        for t in derived:
            spec = self.program.schema.types.get(t)
            if spec is None:
                return False
            for f in spec.fields.values():
                target = f.type.item if f.type.kind == "list" else f.type
                if target is not None and target.kind == "ref" and target.name in derived:
                    return False
        return True

    def _partition_field(self) -> Optional[str]:
        """A field on which every join of every durable rule is connected: each rule with several
        patterns joins all of them, directly or through one another, by equalities of this one
        field. Facts are then split by the field's value into separate working memories (states
        with their own session id) that never join each other: a match can only bind facts whose
        values of the field are equal, so no match is lost, and each state stays small. None when
        no field connects every rule (then all facts share one state)."""
        multi = [d for d in self.disjuncts.values() if len(d.aliases) > 1]
        if not multi:
            return None
        candidates = sorted({k.fields[0] for k in self._key_index.values() if len(k.fields) == 1})
        for name in candidates:
            if all(self._connected(d, name) for d in multi):
                return name
        return None

    @staticmethod
    def _connected(d: _Disjunct, name: str) -> bool:
        parent = list(range(len(d.aliases)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i, mine, other_i, theirs in d.joins:
            if mine.fields == (name,) and theirs.fields == (name,):
                parent[find(i)] = find(other_i)
        return len({find(i) for i in range(len(d.aliases))}) == 1

    def _flag(self, type_name: str, conds: list) -> _Flag:
        lst = self.flags.setdefault(type_name, [])
        for f in lst:
            if f.conds == conds:
                return f
        f = _Flag(f"p{sum(len(v) for v in self.flags.values())}", type_name, conds)
        lst.append(f)
        return f

    def _key(self, type_name: str, fields: tuple[str, ...]) -> _Key:
        k = self._key_index.get((type_name, fields))
        if k is None:
            k = _Key(f"k{len(self._key_index)}", type_name, fields)
            self._key_index[(type_name, fields)] = k
            self.keys.setdefault(type_name, []).append(k)
        return k

    def _compile(self, owner: str, is_crit: bool, positive: list[PatternIR]) -> list[_Disjunct]:
        per_pattern = [_dnf(p.cond, p.binding) for p in positive]
        combos = [[]]
        for alts in per_pattern:
            combos = [c + [a] for c in combos for a in alts]
            if len(combos) > MAX_DISJUNCTS:
                combos = [[[p.cond] if p.cond is not None else [] for p in positive]]
                break
        out = []
        index = {p.binding: i for i, p in enumerate(positive)}
        for combo in combos:
            own_conds: list[list] = [[] for _ in positive]
            joins: list[list[tuple[_Key, int, _Key]]] = [[] for _ in positive]
            residual = []
            for i, (p, lits) in enumerate(zip(positive, combo)):
                for lit in lits:
                    others = operand_bindings(lit) - {None, p.binding}
                    if not others:
                        own_conds[i].append(lit)
                        continue
                    j = self._as_join(lit, p, index, positive, i)
                    if j is not None and len(joins[i]) < MAX_JOINS_PER_PATTERN:
                        mine, other_i, theirs = j
                        joins[i].append((mine, other_i, theirs))
                        # an equality join holds only when both values are present
                        own_conds[i].append(Cmp("!=", PathRef(None, mine.fields, None), NullRef()))
                        own_conds[other_i].append(Cmp("!=", PathRef(None, theirs.fields, None), NullRef()))
                    else:
                        residual.append((p.binding, lit))
            aliases = [f"a{i}" for i in range(len(positive))]
            definition = []
            flags = []
            for i, p in enumerate(positive):
                flag = self._flag(p.type, own_conds[i])
                flags.append(flag.name)
                conds: list[Any] = [{"t": p.type}, {flag.name: 1}]
                for mine, other_i, theirs in joins[i]:
                    conds.append({mine.name: {aliases[other_i]: theirs.name}})
                definition.append({aliases[i]: {"$and": conds}})
            out.append(_Disjunct("", owner, is_crit, aliases, [p.binding for p in positive], residual, definition,
                                 [(i, mine, other_i, theirs) for i in range(len(positive))
                                  for mine, other_i, theirs in joins[i]], flags))
        return out

    def _as_join(self, lit, p: PatternIR, index: dict, positive: list[PatternIR], i: int):
        """``(own key, other pattern index, other key)`` when ``lit`` is an equality between a path
        of this pattern's fact and a path of one earlier binding, else None."""
        if not isinstance(lit, Cmp) or lit.op != "==":
            return None
        a, b = lit.left, lit.right
        if not (isinstance(a, PathRef) and isinstance(b, PathRef)):
            return None
        if a.binding in (None, p.binding) and b.binding not in (None, p.binding):
            mine, theirs = a, b
        elif b.binding in (None, p.binding) and a.binding not in (None, p.binding):
            mine, theirs = b, a
        else:
            return None
        if mine.type is None or mine.type.kind not in _JOINABLE or theirs.type.kind not in _JOINABLE:
            return None
        other_i = index.get(theirs.binding)
        if other_i is None or other_i >= i:
            return None
        return (self._key(p.type, mine.fields), other_i, self._key(positive[other_i].type, theirs.fields))

    # ---- running

    def close(self) -> None:
        """Release this object. The durable ruleset stays in the process cache for the next
        compilation of the same definition."""
        self._handle = None
        self._cached = None

    def __enter__(self) -> "CompiledRuleset":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def run(self, facts: list[FactRecord], today: dt.date, max_derived: int = DEFAULT_MAX_DERIVED) -> RunResult:
        with paused_gc():  # a run makes tens of thousands of records and no reference cycles
            return self._run(facts, today, max_derived)

    def _run(self, facts: list[FactRecord], today: dt.date, max_derived: int) -> RunResult:
        if self._cached is None:  # nothing reaches the engine: guards only
            return _Run(self, facts, today, max_derived).execute()
        if hasattr(os, "fork") and FORK:
            with self._cached.lock:
                return _run_forked(self, facts, today, max_derived)
        # no fork: a fresh ruleset for this run, abandoned afterwards
        fresh = self._dre.create_ruleset(f"coherence_{next(_counter)}", json.dumps(self.definition, sort_keys=True))
        saved = self._handle
        self._handle = fresh
        try:
            return _Run(self, facts, today, max_derived).execute()
        finally:
            self._handle = saved


class EngineError(Exception):
    pass


class _Run:
    def __init__(self, compiled: CompiledRuleset, facts: list[FactRecord], today: dt.date, max_derived: int):
        self.c = compiled
        self.today = today
        self.max_derived = max_derived
        self.store: dict[str, FactRecord] = {f.id: f for f in facts}
        self.by_type: dict[str, list[FactRecord]] = {}
        for f in sorted(facts, key=_fact_id):
            self.by_type.setdefault(f.type, []).append(f)
        self.result = RunResult()
        self.sid = STATE_ID
        self.internal: dict[str, str] = {}  # internal id -> fact id
        self.queued: dict[int, list] = {}
        self.criterion_acts: list = []
        self.pending: list[FactRecord] = []
        self.seen_derivations: set = set()
        self.matches: dict[tuple, MatchRecord] = {}
        self.sids: dict[str, str] = {}  # partition value -> session id
        self.retired = 0
        self.derived_ids: dict[tuple, str] = {}
        self.plans: dict[str, tuple] = {}  # rule -> (guards, deriver, positive bindings, several disjuncts)
        self.guard_index: dict[tuple, dict] = {}  # (type, own field paths) -> key values -> candidates
        # per type: (flag, test, whether durable_rules needs it, the disjuncts it activates directly)
        self.flag_tests: dict[str, list] = {
            t: [(fl.name, self._flag_test(fl), fl.name in compiled.engine_flags,
                 tuple(compiled.disjuncts[d] for d in compiled.direct.get(fl.name, ())))
                for fl in flags]
            for t, flags in compiled.flags.items()}
        self.key_getters: dict[str, list] = {
            t: [(k.name, _getter(PathRef(None, k.fields, None)) or self._path_getter(k.fields)) for k in keys]
            for t, keys in compiled.keys.items()}

    def execute(self) -> RunResult:
        """Run over every fact."""
        res = self.run()
        res.derivations = _derivations(res.derivations)
        return res

    def run(self, facts: Optional[list[FactRecord]] = None, first: bool = True) -> RunResult:
        """Run over every fact, or, in one process of a split run (:func:`_run_forked`), over
        ``facts``, the facts of its partitions, sorted by id; only the ``first`` process evaluates
        what belongs to no partition (criteria made only of guards). The derivations are left as
        the plain tuples a child sends back, ``(rule, premises, guards as tuples or None)``."""
        c = self.c
        self._assert_all(sorted(self.store.values(), key=_fact_id) if facts is None else facts)
        self._loop()
        for owner, is_crit in c.guard_only:
            if is_crit and first:
                self._fire_criterion(owner, {})
        # in any order: a criterion's match keeps the smallest bindings of its facts
        for name, env in self.criterion_acts:
            if env.__class__ is not dict:  # a one-pattern criterion's fact
                env = {c.disjuncts[name].bindings[0]: env}
            self._criterion_activation(name, env)
        res = self.result
        res.matches = [self.matches[k] for k in sorted(self.matches)]
        for ds in res.derivations.values():
            if len(ds) > 1:
                ds.sort(key=_rule_and_premises)
        return res

    # facts into the engine

    def _flag_test(self, flag: _Flag):
        """``fact -> bool``: the conjunction of a flag's conditions on one fact."""
        simple, tests = [], []
        for cond in (lit for c in flag.conds for lit in _literals(c)):
            plain = _field_test(cond)
            if plain is not None:
                simple.append(plain)
                continue
            t = _fast_test(cond)
            if t is None:
                def t(f, cond=cond):
                    return holds(cond, f, {}, self.store, self.today)
            tests.append(t)
        if simple:
            return _field_tests(simple, tests)
        return _all_of(tests) if tests else (lambda f: True)

    def _path_getter(self, fields: tuple):
        ref = PathRef(None, fields, None)
        return lambda f: path_value(ref, f, {}, self.store)

    def _engine_fact(self, f: FactRecord) -> Optional[dict]:
        """Activate the one-pattern disjuncts ``f`` satisfies, and return what durable_rules must
        be given of it for the others (None when nothing)."""
        tests = self.flag_tests.get(f.type)
        if not tests:
            return None
        rec: Optional[dict[str, Any]] = None
        for name, test, engine, direct in tests:
            if test(f):
                for d in direct:  # queued with the fact alone; its one binding is added when run
                    if d.is_criterion:
                        self.criterion_acts.append((d.rule_name, f))
                    else:
                        self.queued.setdefault(self.c.strata[d.owner], []).append((d.rule_name, f))
                if engine:
                    if rec is None:
                        rec = {}
                    rec[name] = 1
        if rec is None:
            return None
        for name, get in self.key_getters.get(f.type, ()):
            v = get(f)
            if v is not MISSING:
                text = _key_text(v)
                if text is not None:
                    rec[name] = text
        rec["t"] = f.type
        rec["sid"] = self._sid(f)
        return rec

    def _sid(self, f: FactRecord) -> str:
        """The state (working memory) a fact goes to: one per value of the partition field, up to
        :data:`MAX_STATES`, then values share states in turn (facts without a value share one),
        numbered so that no user text reaches the engine."""
        name = self.c.partition_field
        if name is None:
            return self.sid
        v = f.values.get(name, MISSING) if name not in ("id", "title") else path_value(
            PathRef(None, (name,), None), f, {}, self.store)
        text = _key_text(v)  # None for MISSING too
        if text is None:
            return self.sid
        sid = self.sids.get(text)
        if sid is None:
            sid = self.sids[text] = f"{self.sid}.{len(self.sids) % MAX_STATES + 1}"
        return sid

    def _assert_all(self, facts: list[FactRecord]) -> None:
        """Assert the given facts, a state (partition) at a time, in batches of
        :data:`BATCH`; then process each state's activations. A batch the engine refuses (an id
        hash collision, see :meth:`_assert`) leaves its state unused: the partition's facts are
        asserted again one by one into a fresh state, whose answers are the only ones read."""
        groups: dict[str, list[tuple[FactRecord, dict]]] = {}
        for f in facts:
            rec = self._engine_fact(f)
            if rec is not None:
                rec["id"] = f.id
                groups.setdefault(rec["sid"], []).append((f, rec))
        dre = self.c._dre
        handle = self.c._handle
        assert_facts = getattr(dre, "assert_facts", None)
        for sid, group in groups.items():
            if assert_facts is None:  # an engine without batches
                for f, rec in group:
                    self._assert_record(f, rec)
                continue
            offset = None
            ok = True
            for i in range(0, len(group), BATCH):
                chunk = group[i:i + BATCH]
                code, offset = assert_facts(handle, json.dumps([rec for _, rec in chunk], ensure_ascii=False))
                if code != 0:
                    ok = False
                    break
            if ok:
                for f, _ in group:
                    self.internal[f.id] = f.id
                self._drain(offset)
                continue
            # start the partition over in a state of its own, one fact at a time
            self.retired += 1
            fresh = f"{sid}~{self.retired}"
            for key, value in self.sids.items():
                if value == sid:
                    self.sids[key] = fresh
            if self.sid == sid:
                self.sid = fresh
            for f, rec in group:
                self._assert_record(f, rec)

    def _assert(self, f: FactRecord) -> None:
        rec = self._engine_fact(f)
        if rec is not None:
            self._assert_record(f, rec)

    def _assert_record(self, f: FactRecord, rec: dict) -> None:
        """Assert one fact's engine record, under another internal id while the engine's id hash
        collides."""
        dre = self.c._dre
        internal = f.id
        for attempt in range(8):
            rec["id"] = internal
            text = json.dumps(rec, ensure_ascii=False)
            code, offset = dre.assert_fact(self.c._handle, text)
            if code == 2:
                # a new fact reported as a duplicate: the engine's id hash collided; never merge
                internal = f"{f.id}\u0001{attempt + 1}"
                continue
            self.internal[internal] = f.id
            if code == 0:
                self._drain(offset)
            return
        raise EngineError(f"could not store fact '{f.id}': its id keeps colliding in the engine")

    def _drain(self, offset: int) -> None:
        dre = self.c._dre
        res = dre.start_action_for_state(self.c._handle, offset)
        if not res:
            return
        message = res[1]
        while message:
            self._activation(json.loads(message))
            message = dre.complete_and_start_action(self.c._handle, offset)

    def _activation(self, message: dict) -> None:
        for rule_name, aliases in message.items():
            d = self.c.disjuncts[rule_name]
            env = {}
            for alias, binding in zip(d.aliases, d.bindings):
                fid = self.internal[aliases[alias]["id"]]
                env[binding] = self.store[fid]
            if d.is_criterion:
                self.criterion_acts.append((rule_name, env))
            else:
                self.queued.setdefault(self.c.strata[d.owner], []).append((rule_name, env))

    # processing

    def _loop(self) -> None:
        # guard-only rules run once their stratum comes up
        guard_only_rules = {owner for owner, is_crit in self.c.guard_only if not is_crit}
        done_guard_only: set[str] = set()
        while True:
            while self.pending:
                batch, self.pending = self.pending, []
                for f in batch:
                    self._assert(f)
            levels = [lvl for lvl, acts in self.queued.items() if acts]
            waiting = sorted(self.c.strata[r] for r in guard_only_rules - done_guard_only)
            if not levels and not waiting:
                return
            level = min(levels + waiting)
            for r in sorted(guard_only_rules - done_guard_only):
                if self.c.strata[r] == level:
                    done_guard_only.add(r)
                    self._rule_activation_env(self.c.by_name[r], {}, None)
            acts = self.queued.pop(level, [])
            for rule_name, env in acts:
                d = self.c.disjuncts[rule_name]
                if env.__class__ is not dict:  # a one-pattern rule's fact
                    env = {d.bindings[0]: env}
                self._rule_activation_env(self.c.by_name[d.owner], env, d)

    def _residual_ok(self, d, env) -> bool:
        for binding, lit in d.residual:
            own = env.get(binding)
            if not holds(lit, own, env, self.store, self.today):
                return False
        return True

    def _deriver(self, rule: RuleIR):
        """``env -> values or None``: :func:`~.semantics.derive_values` for ``rule``, with fields
        copied from a bound fact read directly."""
        parts = []
        for name, op in rule.derive.items():
            if isinstance(op, PathRef) and op.binding is not None and len(op.fields) == 1 \
                    and op.fields[0] not in ("id", "title"):
                parts.append((name, op.binding, op.fields[0], None))
            else:
                parts.append((name, None, None, op))
        store, today = self.store, self.today

        def derive(env: dict) -> Optional[dict]:
            out = {}
            for name, binding, fname, op in parts:
                if op is None:
                    fact = env.get(binding)
                    v = fact.values.get(fname, MISSING) if fact is not None else MISSING
                else:
                    v = value_of(op, None, env, store, today)
                if v is MISSING:
                    return None
                if v.__class__ is float and v.is_integer():
                    v = int(v)
                out[name] = v
            return out
        return derive

    def _rule_activation_env(self, rule: RuleIR, env: dict, d) -> None:
        plan = self.plans.get(rule.name)
        if plan is None:
            # several disjuncts can match the same facts; one disjunct matches them once
            several = sum(1 for d in self.c.disjuncts.values() if d.owner == rule.name) > 1
            plan = self.plans[rule.name] = (self.c.guards[rule.name], self._deriver(rule),
                                            tuple(p.binding for p in self.c.positives[rule.name]), several)
        guard_patterns, derive, bindings, several = plan
        if d is not None and d.residual and not self._residual_ok(d, env):
            return
        if guard_patterns:
            guards = self._check_guards(guard_patterns, env, {f.id for f in env.values()})
            if guards is None:
                return
        else:
            guards = ()
        values = derive(env)
        if values is None:
            return
        given = tuple(values.values())
        for v in given:
            if v.__class__ is not str:  # 1, 1.0 and True are one key in a dict: no memo
                fid = derived_id(rule.derive_type, values)
                break
        else:  # the common case, strings only: remember the hash (a rule's fields keep their order)
            memo = (rule.name, given)
            fid = self.derived_ids.get(memo)
            if fid is None:
                fid = self.derived_ids[memo] = derived_id(rule.derive_type, values)
        premises = tuple([(b, env[b].id) for b in bindings])
        if several:
            key = (fid, rule.name, premises)
            if key in self.seen_derivations:
                return
            self.seen_derivations.add(key)
        if fid not in self.store:
            if len(self.result.derived) >= self.max_derived:
                raise DerivationLimit(self.max_derived, rule.name)
            rec = FactRecord(fid, rule.derive_type, None, values, None, derived=True)
            self.store[fid] = rec
            self.result.derived[fid] = rec
            self.by_type.setdefault(rec.type, []).append(rec)
            for k in [k for k in self.guard_index if k[0] == rec.type]:
                del self.guard_index[k]
            self.pending.append(rec)
        self.result.derivations.setdefault(fid, []).append((rule.name, premises, _plain_guards(guards)))

    def _candidates(self, g: PatternIR, env: dict) -> list[FactRecord]:
        """The facts of ``g``'s type that can satisfy its equalities with constants and earlier
        bindings (all of them when it has none)."""
        everything = self.by_type.get(g.type, ())
        probes = self.c.guard_probes.get(id(g))
        if not probes or len(everything) < 16:
            return everything
        try:
            wanted = []
            for _, other in probes:
                v = other.value if isinstance(other, Const) else path_value(other, None, env, self.store)
                if v is MISSING:
                    return ()  # an equality with an absent value holds for no candidate
                wanted.append(_index_value(v))
            paths = tuple(p for p, _ in probes)
            index = self.guard_index.get((g.type, paths))
            if index is None:
                index = self.guard_index[(g.type, paths)] = {}
                refs = [PathRef(None, p, None) for p in paths]
                for cand in everything:
                    key = []
                    for ref in refs:
                        v = path_value(ref, cand, {}, self.store)
                        if v is MISSING:
                            break
                        key.append(_index_value(v))
                    else:
                        index.setdefault(tuple(key), []).append(cand)
            return index.get(tuple(wanted), ())
        except TypeError:  # an unhashable value: scan
            return everything

    def _check_guards(self, guards: list[PatternIR], env: dict, bound: set) -> Optional[tuple[Guard, ...]]:
        """:func:`~.semantics.check_guards`, with candidates looked up instead of scanned (same
        answer, same evidence: the qualifying fact with the smallest id)."""
        return check_guards(guards, env, bound, self.by_type, self.store, self.today, candidates=self._candidates)

    def _criterion_activation(self, rule_name: str, env: dict) -> None:
        d = self.c.disjuncts[rule_name]
        if not self._residual_ok(d, env):
            return
        self._fire_criterion(d.owner, env)

    def _fire_criterion(self, code: str, env: dict) -> None:
        bound = {f.id for f in env.values()}
        guards = self._check_guards(self.c.guards[code], env, bound)
        if guards is None:
            return
        bindings = tuple((p.binding, env[p.binding].id) for p in self.c.positives[code])
        m = MatchRecord(code, bindings, guards)
        key = (code, m.fact_ids)
        prev = self.matches.get(key)
        if prev is None or m.bindings < prev.bindings:
            self.matches[key] = m


_fact_id = operator.attrgetter("id")
_rule_and_premises = operator.itemgetter(0, 1)


#: Facts per ``assert_facts`` call.
BATCH = 512
#: Durable states per run. A state costs about 120 KB however few facts it holds (its tables
#: have a fixed size), so partitions beyond this many share states; a match still binds only
#: facts with equal values of the partition field, because that equality is part of every join.
MAX_STATES = 8

FORK = True  # tests may turn it off to exercise the in-process path


#: A run over at least this many facts is split between processes when the ruleset allows it.
SPLIT_MIN_FACTS = 20_000
#: At most this many processes per split run (and no more than the processor count).
MAX_PROCESSES = 4


def _processes() -> int:
    """Processes a split run uses: ``COHERENCE_ENGINE_PROCESSES`` when set to a whole number
    (1 never splits), else one per processor this process may use; at most :data:`MAX_PROCESSES`."""
    given = os.environ.get("COHERENCE_ENGINE_PROCESSES", "").strip()
    if given.isdigit() and int(given) >= 1:
        return min(MAX_PROCESSES, int(given))
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_PROCESSES, cpus))


def _split(compiled: CompiledRuleset, facts: list[FactRecord], n: int) -> list[list[FactRecord]]:
    """The facts dealt to ``n`` processes by value of the partition field, each process's sorted
    by id. Values are dealt in the order they first appear in ``facts``, each process taking the
    next ones until it holds its share; facts without a value go to the first process. Facts
    given together (one file, one country, one type) were made together and lie together in
    memory, and a forked process copies every page it writes to, even only to count a reference:
    dealing runs of the given order keeps each process on pages of its own (dealing by size, the
    two processes of a 100,000-fact run each copied nearly all the parent's records)."""
    name = compiled.partition_field
    sizes: dict[str, int] = {}
    texts = []
    for f in facts:
        text = _key_text(f.values.get(name, MISSING))  # None for no value, as in _Run._sid
        texts.append(text)
        if text is not None:
            sizes[text] = sizes.get(text, 0) + 1
    share = len(facts) / n
    load = len(facts) - sum(sizes.values())  # without a value: the first process
    owner: dict[str, int] = {}
    i = 0
    for text, size in sizes.items():
        if load >= (i + 1) * share and i < n - 1:
            i += 1
        owner[text] = i
        load += size
    parts: list[list[FactRecord]] = [[] for _ in range(n)]
    for f, text in zip(facts, texts):
        parts[owner[text] if text is not None else 0].append(f)
    for part in parts:
        part.sort(key=_fact_id)
    return parts


def _run_forked(compiled: CompiledRuleset, facts: list[FactRecord], today: dt.date, max_derived: int) -> RunResult:
    """Run in a child process (see the module docstring) and return what it recorded. A large run
    of a ruleset that allows it (:meth:`CompiledRuleset._splittable`) is split by partition
    between several children, one per processor, and their records are merged."""
    n = _processes() if compiled.splittable and len(facts) >= SPLIT_MIN_FACTS else 1
    if n == 1:
        peak = peak_rss()[0]
        res = _collect(*_spawn(lambda: _Run(compiled, facts, today, max_derived).run()))
        res.parent_memory += peak
        return res
    parts = _split(compiled, facts, n)
    run = _Run(compiled, facts, today, max_derived)  # built once, inherited by every child
    peak = peak_rss()[0]
    children = [_spawn(lambda part=part, first=(i == 0): run.run(part, first))
                for i, part in enumerate(parts)]
    results, stopped = [], None
    for pid, r in children:  # every child is waited for, even after one has failed
        try:
            results.append(_collect(pid, r))
        except (DerivationLimit, EngineError) as e:
            stopped = stopped or e
    if stopped is not None:
        raise stopped
    res = _merge(results, max_derived)
    res.parent_memory += peak
    return res


def _private_bytes() -> int:
    """Memory private to this process (resident pages it allocated, or copied from its parent on
    writing them), from Linux's ``/proc/self/smaps_rollup``; 0 where that is not available."""
    try:
        with open("/proc/self/smaps_rollup", encoding="ascii") as f:
            return sum(int(line.split()[1]) * 1024 for line in f if line.startswith(("Private_Clean:", "Private_Dirty:")))
    except (OSError, ValueError, IndexError):
        return 0


def _spawn(work) -> tuple[int, int]:
    """Fork a child that runs ``work()`` and writes what it returns (or what stopped it) to a pipe;
    the child's pid and the pipe's reading end."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: run, send, exit without running the parent's exit handlers
        status = 1
        try:
            os.close(r)
            try:
                # the child exits when done: no cycle collection (it would scan every fact
                # record again and again while the run allocates)
                gc.disable()
                res = work()
                # plain tuples: unpickling dataclasses costs several times more
                payload = ("ok", (
                    [(m.criterion, m.bindings, _plain_guards(m.guards)) for m in res.matches],
                    {k: (v.type, v.values) for k, v in res.derived.items()},
                    res.derivations))  # already plain tuples (_Run.run)
            except DerivationLimit as e:
                payload = ("limit", (e.limit, e.rule))
            except BaseException as e:  # noqa: BLE001 - reported to the parent as an engine error
                payload = ("error", f"{type(e).__name__}: {e}")
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            memory = _private_bytes()  # at its largest: the records and their pickle both held
            with os.fdopen(w, "wb") as out:
                out.write(memory.to_bytes(8, "little"))
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(w)
    return pid, r


def _collect(pid: int, r: int) -> RunResult:
    """What the child ``pid`` sent through ``r``, once it has exited."""
    with os.fdopen(r, "rb") as inp:
        data = inp.read()
    _, wstatus = os.waitpid(pid, 0)
    if len(data) <= 8:
        sig = os.WTERMSIG(wstatus) if os.WIFSIGNALED(wstatus) else None
        raise EngineError("the rule engine stopped" + (f" with signal {sig}" if sig else f" (status {wstatus})"))
    memory = int.from_bytes(data[:8], "little")
    with paused_gc():  # tens of thousands of records, no cycles
        kind, body = pickle.loads(memoryview(data)[8:])  # our own child's bytes, never user input
        if kind == "limit":
            raise DerivationLimit(*body)
        if kind == "error":
            raise EngineError(body)
        matches, derived, derivations = body
        res = RunResult(matches=[MatchRecord(c, b, _guards(g)) for c, b, g in matches],
                        derivations=_derivations(derivations))
        res.derived = {k: FactRecord(k, t, None, values, None, derived=True) for k, (t, values) in derived.items()}
        res.child_memory = memory
        res.parent_memory = len(data)
        return res


def _plain_guards(guards: tuple[Guard, ...]) -> Optional[list[tuple]]:
    """Guards as the plain tuples a child records and sends back (None for none): unpickling
    dataclasses costs several times more."""
    return [(g.kind, g.text, g.witness) for g in guards] if guards else None


def _guards(plain: Optional[list[tuple]]) -> tuple[Guard, ...]:
    return tuple(Guard(*g) for g in plain) if plain else ()


def _derivations(plain: dict[str, list[tuple]]) -> dict[str, list[Derivation]]:
    """Derivations from the plain ``(rule, premises, guards)`` tuples of :meth:`_Run.run`."""
    return {k: [Derivation(r, p, _guards(g)) for r, p, g in ds] for k, ds in plain.items()}


def _merge(results: list[RunResult], max_derived: int) -> RunResult:
    """One result from the results of a split run's processes (their partitions are disjoint, so
    are their matches and derived facts)."""
    out = RunResult()
    mixed = set()  # derived facts more than one process derived (none, when the split is sound)
    for res in results:
        out.child_memory += res.child_memory
        out.parent_memory += res.parent_memory
        out.matches += res.matches
        out.derived.update(res.derived)
        for k, ds in res.derivations.items():
            have = out.derivations.get(k)
            if have is None:
                out.derivations[k] = ds  # each process sorted its own
            else:
                have.extend(ds)
                mixed.add(k)
    if len(out.derived) > max_derived:
        counts: dict[str, int] = {}
        for ds in out.derivations.values():
            for d in ds:
                counts[d.rule] = counts.get(d.rule, 0) + 1
        raise DerivationLimit(max_derived, min(counts, key=lambda r: (-counts[r], r)))
    out.matches.sort(key=lambda m: (m.criterion, m.fact_ids))
    for k in mixed:
        out.derivations[k].sort(key=lambda d: (d.rule, d.premises))  # Derivation objects by now
    return out


def run_durable(program: Program, facts: list[FactRecord], today: dt.date, max_derived: int = DEFAULT_MAX_DERIVED,
                compiled: Optional[CompiledRuleset] = None) -> RunResult:
    """Run ``program`` over ``facts``. Pass ``compiled`` to reuse a compiled ruleset across runs."""
    if compiled is not None:
        return compiled.run(facts, today, max_derived)
    with CompiledRuleset(program) as c:
        return c.run(facts, today, max_derived)
