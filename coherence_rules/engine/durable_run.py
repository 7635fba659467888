"""The run on durable_rules: facts asserted, activations decoded, rules applied stratum by stratum,
criteria matched (see the package docstring for what reaches the engine and why)."""

from __future__ import annotations

import datetime as dt
import json
import operator
from typing import Any, Optional

from ..checker.ir import Const, FactRecord, PathRef, PatternIR, RuleIR
from .compiler import CompiledRuleset
from .records import DerivationLimit, EngineError, Guard, MatchRecord, RunResult, derivations_from_plain, plain_guards
from .semantics import (MISSING, check_guards, derived_id, holds, index_value, key_text, path_value,
                        single_fact_test, value_of)

#: The durable state id of a run (partitions get numbered states under it).
STATE_ID = "coherence"
_fact_id = operator.attrgetter("id")
_rule_and_premises = operator.itemgetter(0, 1)


#: Facts per ``assert_facts`` call.
BATCH = 512


def _fnv1(text: str) -> int:
    """The 32-bit FNV-1 hash durable_rules identifies a stored fact by (``fnv1Hash32`` over the
    id's JSON text, per state; its bytes are C ``char``, signed on the platforms it builds on)."""
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ (b if b < 128 else (b - 256) & 0xFFFFFFFF)) * 16777619) & 0xFFFFFFFF
    return h


def _id_text(internal: str) -> str:
    """An id as it stands in the asserted JSON, between its quotes (what durable_rules hashes)."""
    if internal.isascii() and internal.isprintable() and '"' not in internal and "\\" not in internal:
        return internal
    return json.dumps(internal, ensure_ascii=False)[1:-1]
#: Durable states per run. A state costs about 120 KB however few facts it holds (its tables
#: have a fixed size), so partitions beyond this many share states; a match still binds only
#: facts with equal values of the partition field, because that equality is part of every join.
MAX_STATES = 8


class EngineRun:
    """One run of a compiled ruleset over a policy set's facts, in the process it is created in:
    facts asserted a state (partition) at a time, activations decoded and queued by stratum,
    rules applied stratum by stratum until nothing new is derived, criteria last. ``handle`` is
    the durable ruleset to run on (by default the compiled ruleset's own)."""

    def __init__(self, compiled: CompiledRuleset, facts: list[FactRecord], today: dt.date, max_derived: int,
                 handle: Optional[int] = None):
        self.c = compiled
        self.dre = compiled.dre
        self.handle = compiled.handle if handle is None else handle
        self.today = today
        self.max_derived = max_derived
        self.store: dict[str, FactRecord] = {f.id: f for f in facts}
        self.by_type: dict[str, list[FactRecord]] = {}
        for f in sorted(facts, key=_fact_id):
            self.by_type.setdefault(f.type, []).append(f)
        self.result = RunResult()
        self.sid = STATE_ID
        self.internal: dict[str, str] = {}  # internal id -> fact id
        self.id_hashes: dict[str, dict[int, str]] = {}  # state -> durable's id hash -> internal id
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
        # per type: (flag, test, whether durable_rules needs it, the disjuncts it activates directly,
        # its conditions); a test that reads other facts or the date is made for this run
        self.flag_tests: dict[str, list] = {
            t: plans if all(p[1] is not None for p in plans) else [
                (name, test or single_fact_test(conds, self.store, self.today), engine, direct, conds)
                for name, test, engine, direct, conds in plans]
            for t, plans in compiled.fact_tests.items()}
        self.key_getters: dict[str, list] = {
            t: plans if all(p[1] is not None for p in plans) else [
                (name, get or self._path_getter(fields), fields) for name, get, fields in plans]
            for t, plans in compiled.fact_keys.items()}

    def execute(self) -> RunResult:
        """Run over every fact."""
        res = self.run()
        res.derivations = derivations_from_plain(res.derivations)
        return res

    def run(self, facts: Optional[list[FactRecord]] = None, first: bool = True) -> RunResult:
        """Run over every fact, or, in one process of a split run (:func:`run_forked`), over
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
        for name, test, engine, direct, _ in tests:
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
        for name, get, _ in self.key_getters.get(f.type, ()):
            v = get(f)
            if v is not MISSING:
                text = key_text(v)
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
        text = key_text(v)  # None for MISSING too
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
        asserted again one by one into a fresh state, whose answers are the only ones read. The
        refused state is never drained nor asserted into again: it holds the facts of the earlier
        batches (and of the refused one, up to the collision) under ids never recorded in
        :attr:`internal`, and activations that bind them."""
        groups: dict[str, list[tuple[FactRecord, dict]]] = {}
        for f in facts:
            rec = self._engine_fact(f)
            if rec is not None:
                rec["id"] = self._internal_id(f.id, rec["sid"])
                groups.setdefault(rec["sid"], []).append((f, rec))
        dre = self.dre
        handle = self.handle
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
                for f, rec in group:
                    self.internal[rec["id"]] = f.id
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
                rec["sid"] = fresh  # each record names its state: not the refused one
                self._assert_record(f, rec)

    def _assert(self, f: FactRecord) -> None:
        rec = self._engine_fact(f)
        if rec is not None:
            self._assert_record(f, rec)

    def _internal_id(self, fid: str, sid: str) -> str:
        """The id fact ``fid`` is asserted under in state ``sid``: its own, unless durable_rules'
        32-bit hash of it equals that of an id already given to that state, then ``fid``, U+0001
        and a number (upstream #376: the engine would take the new fact for a duplicate and, in
        a batch, refuse the batch). Collisions are thus avoided before asserting; the retry of
        :meth:`_assert_all` and :meth:`_assert_record` remains for any the engine still reports."""
        table = self.id_hashes.get(sid)
        if table is None:
            table = self.id_hashes[sid] = {}
        internal = fid
        n = 0
        while True:
            h = _fnv1(_id_text(internal))
            other = table.get(h)
            if other is None:
                table[h] = internal
                return internal
            if other == internal:
                return internal
            n += 1
            internal = f"{fid}\u0001{n}"

    def _assert_record(self, f: FactRecord, rec: dict) -> None:
        """Assert one fact's engine record, under another internal id while the engine's id hash
        collides."""
        dre = self.dre
        internal = self._internal_id(f.id, rec["sid"])
        for attempt in range(8):
            rec["id"] = internal
            text = json.dumps(rec, ensure_ascii=False)
            code, offset = dre.assert_fact(self.handle, text)
            if code == 2:
                # a new fact reported as a duplicate: the engine's id hash collided; never merge
                internal = f"{f.id}\u0002{attempt + 1}"
                continue
            self.internal[internal] = f.id
            if code == 0:
                self._drain(offset)
            return
        raise EngineError(f"could not store fact '{f.id}': its id keeps colliding in the engine")

    def _drain(self, offset: int) -> None:
        dre = self.dre
        res = dre.start_action_for_state(self.handle, offset)
        if not res:
            return
        message = res[1]
        while message:
            self._activation(json.loads(message))
            message = dre.complete_and_start_action(self.handle, offset)

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
        self.result.derivations.setdefault(fid, []).append((rule.name, premises, plain_guards(guards)))

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
                wanted.append(index_value(v))
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
                        key.append(index_value(v))
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
