"""The compile stage: a checked program's criteria and rules as a durable_rules ruleset definition.

Every positive pattern becomes one safe condition shape (:data:`EMITTED_SHAPES`): a type test, one
flag (the pattern's single-fact conditions, evaluated in Python by :mod:`.semantics`) and up to
:data:`MAX_JOINS_PER_PATTERN` equality joins on canonical keys; ``or`` across facts becomes one
durable rule per disjunct, and everything else is a residual filter evaluated on activation. See
the package docstring for why. The durable ruleset of a definition is created once per process and
cached (:func:`_acquire`); runs never change it.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from ..checker.ir import (AllOf, AnyOf, Cmp, Const, CriterionIR, Has, InSet, Match, NotOf, NullRef, PathRef,
                          PatternIR, Program, operand_bindings)
from .semantics import conjuncts, getter, single_fact_test, split_patterns, stratify

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


def _dnf(c, own: Optional[str]) -> list[list]:
    """Disjunctive normal form, splitting only on ``or`` that involves other bindings (an ``or``
    over the pattern's own fact stays one precomputed test)."""
    if c is None:
        return [[]]
    if not (operand_bindings(c) - {None, own}):
        return [[c]]
    if isinstance(c, AllOf):
        parts = [_dnf(i, own) for i in c.items]
        if math.prod(len(p) for p in parts) > MAX_DISJUNCTS:
            return _partly_split(c.items, parts, own)
        out = [[]]
        for alts in parts:
            out = [a + b for a in out for b in alts]
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


def _joins_on_equality(c, own: Optional[str]) -> bool:
    """Whether some branch of ``c`` compares a field of the pattern's own fact with another
    binding's by ``==`` (a branch that can become an equality join)."""
    if isinstance(c, Cmp):
        bindings = operand_bindings(c)
        return c.op == "==" and bool(bindings - {None, own}) and bool(bindings & {None, own})
    if isinstance(c, (AllOf, AnyOf)):
        return any(_joins_on_equality(i, own) for i in c.items)
    return False


def _partly_split(items, parts: list[list], own: Optional[str]) -> list:
    """One conjunction for a condition whose ``or``s multiply into more than
    :data:`MAX_DISJUNCTS` disjuncts, as the disjuncts of the conjuncts that can become equality
    joins (as many as fit, smallest first) times one residual literal for the rest: so that
    ``(area == r.area or area in S and r.area in S) and (occupation == r.occupation or ...)``
    still joins on ``area`` in its first disjunct instead of testing every pair in Python."""
    expand, size = [], 1
    for k in sorted(range(len(items)), key=lambda k: len(parts[k])):
        if len(parts[k]) == 1 or (_joins_on_equality(items[k], own) and size * len(parts[k]) <= MAX_DISJUNCTS):
            expand.append(k)
            size *= len(parts[k])
    rest = [items[k] for k in range(len(items)) if k not in expand]
    out = [[]]
    for k in sorted(expand):
        out = [a + b for a in out for b in parts[k]]
    if rest:
        tail = _unsplit(AllOf(tuple(rest)), own)
        out = [a + tail for a in out]
    return out


def _unsplit(c, own: Optional[str]) -> list:
    """One conjunction for a condition whose ``or``s multiply into more than
    :data:`MAX_DISJUNCTS` disjuncts: its conjuncts without an ``or`` across facts stay literals of
    their own (so its equality joins still reach the engine), the others are kept together as one
    residual literal, checked in Python on each activation."""
    if c is None:
        return []
    plain, tangled = [], []
    for lit in conjuncts(c):
        crosses = bool(operand_bindings(lit) - {None, own})
        (tangled if crosses and isinstance(lit, (AnyOf, NotOf)) else plain).append(lit)
    return plain + ([AllOf(tuple(tangled))] if tangled else [])


def _rebase(c, binding: str):
    """``c`` with the paths of ``binding`` made paths of the fact tested itself (binding None),
    as a pattern's own conditions are written."""
    if isinstance(c, PathRef):
        return PathRef(None, c.fields, c.type) if c.binding == binding else c
    if isinstance(c, Cmp):
        return Cmp(c.op, _rebase(c.left, binding), _rebase(c.right, binding))
    if isinstance(c, InSet):
        return InSet(_rebase(c.left, binding), tuple(_rebase(i, binding) for i in c.items))
    if isinstance(c, Has):
        return Has(_rebase(c.left, binding), _rebase(c.item, binding), c.any)
    if isinstance(c, Match):
        return Match(_rebase(c.left, binding), c.pattern, c.regex)
    if isinstance(c, AllOf):
        return AllOf(tuple(_rebase(i, binding) for i in c.items))
    if isinstance(c, AnyOf):
        return AnyOf(tuple(_rebase(i, binding) for i in c.items))
    if isinstance(c, NotOf):
        return NotOf(_rebase(c.item, binding))
    return c


def _guard_probes(g: PatternIR) -> tuple[tuple[tuple[str, ...], Any], ...]:
    """Equalities every candidate of guard ``g`` must satisfy, as ``(own field path, other side)``:
    the conjuncts of its condition comparing one field of the candidate with a constant or with a
    value of an earlier binding. A guard is evaluated on the candidates whose fields equal those
    values (a hash lookup) instead of on every fact of its type; the full condition is still
    checked on each, so the answer (and the first witness by id) is the same as a scan's."""
    if g.cond is None:
        return ()
    out = []
    for lit in conjuncts(g.cond):
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

        self.dre = dre
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
        #: the definition as durable_rules is given it (also the key of the handle cache)
        self.definition_json = json.dumps(definition, ensure_ascii=False, sort_keys=True)
        self.partition_field = self._partition_field()
        self.splittable = self._splittable()
        self.fact_tests, self.fact_keys = self._fact_plans()
        #: the cached durable ruleset and its lock (None when no rule reaches the engine: guards only)
        self.cached = _acquire(self.definition_json) if definition else None
        self.handle = self.cached.handle if self.cached is not None else None

    def _fact_plans(self) -> tuple[dict, dict]:
        """What a run computes for each fact, built once here: per type, its flags as
        ``(flag, test, whether durable_rules needs it, the disjuncts it activates directly, its
        conditions)`` and its keys as ``(key, getter, its fields)``. A test or getter that reads
        other facts or the date belongs to one run and is None here; a run builds it from the
        conditions or fields (:class:`~.durable_run.EngineRun`)."""
        tests = {
            t: [(fl.name, single_fact_test(fl.conds, None, None), fl.name in self.engine_flags,
                 tuple(self.disjuncts[d] for d in self.direct.get(fl.name, ())), fl.conds)
                for fl in flags]
            for t, flags in self.flags.items()}
        keys = {t: [(k.name, getter(PathRef(None, k.fields, None)), k.fields) for k in ks]
                for t, ks in self.keys.items()}
        return tests, keys

    def _splittable(self) -> bool:
        """Whether a run can be split between processes by value of the partition field, each
        process running the facts of its own partitions (:func:`run_forked`): every rule derives
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
                combos = [[_unsplit(p.cond, p.binding) for p in positive]]
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
                    if len(others) == 1 and not operand_bindings(lit) & {None, p.binding} and \
                            next(iter(others)) in index:
                        # a test of another pattern's fact alone (`r.area in [...]` in f's
                        # condition): part of that pattern's flag in this disjunct, so that
                        # durable_rules never pairs the facts that fail it
                        q = next(iter(others))
                        own_conds[index[q]].append(_rebase(lit, q))
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
        self.handle = None
        self.cached = None

    def run(self, facts: list, today, max_derived: int = 100_000):
        """Run this ruleset over ``facts`` (:func:`.isolation.run_compiled`); raises
        :class:`~.records.DerivationLimit` or :class:`~.records.EngineError` when the run stops
        (:func:`coherence_rules.engine.run` turns those into diagnostics)."""
        from .isolation import run_compiled

        return run_compiled(self, facts, today, max_derived)

    def __enter__(self) -> "CompiledRuleset":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


def new_ruleset(definition_json: str) -> int:
    """A fresh durable ruleset for a definition, outside the cache (the in-process run's)."""
    import durable_rules_engine as dre

    return dre.create_ruleset(f"coherence_{next(_counter)}", definition_json)
