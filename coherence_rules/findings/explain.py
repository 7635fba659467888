"""``coherence explain``: why a criterion fired (its proofs) or why it did not; what a derivation
rule derived, from which facts, or why it derived nothing.

The "why not" view is computed with the reference evaluator's semantics (:func:`holds` on each
candidate, patterns in order, distinct facts) as a tree: for each positive pattern, its
candidate facts and the first top-level condition each one fails; under every candidate that
matches, the next pattern, so that every candidate path is followed, not only the first; at the
end of a path, the `not` pattern that blocked it (with the blocking fact) or the `exists` pattern
that found nothing. When a pattern's type is derived and no candidate matches, the rules that
derive that type are explained the same way, below it, with what the pattern needs of the
derived fact turned into conditions on the rule's own patterns (``occupation == nurse`` on a
``pressure`` derived with ``occupation: m.occupation`` becomes ``m.occupation == nurse``), down
to :data:`MAX_DEPTH` rules deep. Candidates are capped per pattern (:data:`MAX_CANDIDATES`, the
matching ones first) and the whole text at :data:`MAX_LINES`; ``--facts`` narrows the candidates
to the facts named.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Callable, Optional

from ..checker.ir import AllOf, Cmp, Const, CriterionIR, FactRecord, InSet, NullRef, PathRef, PatternIR, RuleIR, \
    TodayRef
from ..diagnostics import Diagnostic, did_you_mean
from ..engine.semantics import (MISSING, condition_text, conjuncts, derive_values, derived_id, holds, show_value,
                                split_patterns, value_of)
from ..render import plural

#: How many derivation rules deep an explanation follows a derived type.
MAX_DEPTH = 3
#: Candidates shown per pattern (the matching ones first); the others are counted.
MAX_CANDIDATES = 8
#: Lines of one explanation; past them it stops and says how to narrow it.
MAX_LINES = 400
#: Longest condition shown in a pattern's header.
MAX_CONDITION = 120

_MIRROR = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class _Full(Exception):
    """The explanation reached :data:`MAX_LINES`."""


class Explainer:
    """Explains the patterns of criteria and rules on one run's facts (the set's and the derived
    ones), as indented lines."""

    def __init__(self, program, store: dict[str, FactRecord], derivations: dict, today: dt.date,
                 only: list[str] = (), *, max_depth: int = MAX_DEPTH, max_candidates: int = MAX_CANDIDATES,
                 max_lines: int = MAX_LINES):
        self.program = program
        self.store = store
        self.derivations = derivations
        self.today = today
        self.only = list(only)
        self.max_depth = max_depth
        self.max_candidates = max_candidates
        self.max_lines = max_lines
        self.by_type: dict[str, list[FactRecord]] = {}
        for f in sorted(store.values(), key=lambda f: f.id):
            self.by_type.setdefault(f.type, []).append(f)
        self.derivers: dict[str, list[RuleIR]] = {}
        for r in program.rules:
            self.derivers.setdefault(r.derive_type, []).append(r)
        self.lines: list[str] = []
        self._explained: set[tuple] = set()  # (rule, what it was asked for) already explained
        #: conditions pushed down from a pattern on a derived type, by id (kept alive here, so an
        #: id is never another condition's)
        self._needed: dict[int, object] = {}
        #: the rules' patterns with such conditions added: id -> (pattern, own condition, added)
        self._pushed: dict[int, tuple] = {}

    # ---- output

    def emit(self, indent: int, text: str) -> None:
        """Add a line, ``indent`` levels deep; past :data:`MAX_LINES` the explanation stops."""
        if len(self.lines) >= self.max_lines:
            raise _Full
        self.lines.append("  " * indent + text)

    def text(self, run: Callable[[], None]) -> str:
        """The lines ``run`` emits, cut at :data:`MAX_LINES` with a note."""
        try:
            run()
        except _Full:
            self.lines.append(f"... the explanation stops at {self.max_lines} lines: name the facts to follow with "
                              "--facts ID,...")
        return "\n".join(self.lines)

    # ---- facts

    def label(self, f: FactRecord) -> str:
        """A fact as shown: its id; a derived fact also with its fields and where it comes from."""
        if not f.derived:
            return f.id
        fields = ", ".join(f"{k}: {show_value(v)}" for k, v in f.values.items())
        ds = self.derivations.get(f.id, [])
        origin = ""
        if ds:
            d = ds[0]
            premises = ", ".join(f"{b}={i}" for b, i in d.premises)
            origin = f", derived by {d.rule}" + (f" from {premises}" if premises else "") + \
                     (f" and {plural(len(ds) - 1, 'other derivation')}" if len(ds) > 1 else "")
        return f"{f.id} ({f.type} {{{fields}}}{origin})"

    def where(self, f: FactRecord) -> str:
        """`` (file:line)`` of a fact written in a source; nothing for a derived one."""
        return f" ({f.span.file}:{f.span.line})" if f.span is not None else ""

    def candidates(self, type_name: str, bound: set[str]) -> tuple[list[FactRecord], bool]:
        """The facts a pattern of ``type_name`` may bind (not bound already), narrowed to those named
        by ``--facts`` when some of them are of that type; and whether it was narrowed."""
        cands = [f for f in self.by_type.get(type_name, ()) if f.id not in bound]
        named = [f for f in cands if f.id in self.only]
        return (named, True) if named else (cands, False)

    # ---- patterns

    def walk(self, patterns: list[PatternIR], indent: int, depth: int, stack: tuple,
             complete: Callable[[dict, int], None]) -> None:
        """Explain ``patterns`` from the first: every candidate path, ``complete(env, indent)`` at
        the end of each one that every pattern matches."""
        positive, guards = split_patterns(patterns)
        self._step(positive, guards, 0, {}, set(), indent, depth, stack, complete)

    def _step(self, positive, guards, i, env, bound, indent, depth, stack, complete) -> None:
        if i == len(positive):
            self._guards(guards, env, bound, indent, depth, stack, complete)
            return
        p = positive[i]
        header = self._header(p, env)
        cands, narrowed = self.candidates(p.type, bound)
        if not cands:
            self.emit(indent, f"{header}: no fact of type {p.type}")
            self.why_not_derived(p, env, indent + 1, depth, stack)
            return
        results = []
        for cand in cands:
            env[p.binding] = cand
            failed = next((c for c in (conjuncts(p.cond) if p.cond is not None else ())
                           if not holds(c, cand, env, self.store, self.today)), None)
            results.append((cand, failed, condition_text(failed, env, self.store, self.today) if failed else ""))
            env.pop(p.binding, None)
        matching = [r for r in results if r[1] is None]
        what = f"{plural(len(cands), 'candidate')}" + (" named by --facts" if narrowed else "")
        if matching:
            self.emit(indent, f"{header}: {len(matching)} of {what} {'match' if len(matching) != 1 else 'matches'}")
        else:
            self.emit(indent, f"{header}: no candidate matches ({what})")
        # with candidates that match, those are followed and the others only counted (by the
        # condition they fail); with none, the failing ones are the explanation and are listed
        failing = [r for r in results if r[1] is not None]
        shown = (matching if matching else failing)[:self.max_candidates]
        for cand, failed, text in shown:
            if failed is not None:
                needed = f" (needed by {self._needed[id(failed)][1]} above)" if id(failed) in self._needed else ""
                self.emit(indent + 1, f"{self.label(cand)}: fails `{text}`{needed}")
                continue
            self.emit(indent + 1, f"{self.label(cand)}: matches")
            env[p.binding] = cand
            bound.add(cand.id)
            self._step(positive, guards, i + 1, env, bound, indent + 2, depth, stack, complete)
            bound.discard(cand.id)
            env.pop(p.binding, None)
        if matching:
            if len(matching) > len(shown):
                self.emit(indent + 1, f"... and {len(matching) - len(shown)} more that match, not followed")
            by_text: dict[str, int] = {}
            for _, _, text in failing:
                by_text[text] = by_text.get(text, 0) + 1
            groups = sorted(by_text.items(), key=lambda kv: (-kv[1], kv[0]))
            for text, n in groups[:3]:
                self.emit(indent + 1, f"{n} {'other fails' if n == 1 else 'others fail'} `{text}`")
            if len(groups) > 3:
                n = sum(k for _, k in groups[3:])
                self.emit(indent + 1, f"{n} {'other fails' if n == 1 else 'others fail'} other conditions")
        elif len(failing) > len(shown):
            self.emit(indent + 1, f"... and {len(failing) - len(shown)} more")
        if not matching:
            self.why_not_derived(p, env, indent + 1, depth, stack)

    def _header(self, p: PatternIR, env: dict) -> str:
        head = f"pattern {p.binding}: {p.type}"
        own, needed = p.cond, []
        if id(p) in self._pushed:  # a rule's pattern with what a derived pattern needs added
            _, own, needed = self._pushed[id(p)]
        if own is not None:
            text = condition_text(own, env, self.store, self.today)
            if len(text) > MAX_CONDITION:
                text = text[:MAX_CONDITION - 3].rstrip() + "..."
            head += f" where {text}"
        if needed:
            head += " (needed: " + " and ".join(condition_text(c, env, self.store, self.today) for c in needed) + ")"
        return head

    def _guards(self, guards, env, bound, indent, depth, stack, complete) -> None:
        for g in guards:
            witness = None
            cands, _ = self.candidates(g.type, bound)
            for cand in cands:
                if g.cond is None or holds(g.cond, cand, env, self.store, self.today):
                    witness = cand
                    break
            text = f"{g.type} where {condition_text(g.cond, env, self.store, self.today)}" if g.cond is not None \
                else g.type
            if g.kind == "not" and witness is not None:
                self.emit(indent, f"not {text}: blocked by {self.label(witness)}{self.where(witness)}")
                return
            if g.kind == "exists" and witness is None:
                self.emit(indent, f"exists {text}: no such fact")
                self.why_not_derived(g, env, indent + 1, depth, stack)
                return
            self.emit(indent, f"not {text}: none, as required" if g.kind == "not"
                      else f"exists {text}: {self.label(witness)}")
        complete(env, indent)

    # ---- derived types

    def why_not_derived(self, p: PatternIR, env: dict, indent: int, depth: int, stack: tuple) -> None:
        """When ``p``'s type is derived: each rule that derives it, and why it derived no fact that
        ``p`` matches (what ``p`` needs pushed down into the rule's patterns), ``depth`` rules deep."""
        rules = self.derivers.get(p.type, [])
        if not rules:
            return
        if depth >= self.max_depth:
            names = ", ".join(r.name for r in rules)
            self.emit(indent, f"{p.type} is derived by {'rule' if len(rules) == 1 else 'rules'} {names}: not followed "
                              f"further ({self.max_depth} rules deep); `coherence explain RULE PATHS` explains one")
            return
        for r in rules:
            extra, needs, contradiction = self._push_down(p, env, r)
            head = f"{p.type} is derived by rule {r.name} \"{r.title}\""
            if contradiction:
                self.emit(indent, f"{head}, which cannot give what is needed: {contradiction}")
                continue
            want = f"; needed: {', '.join(needs)}" if needs else ""
            if r.name in stack:
                self.emit(indent, f"{head}: explained above (it derives from its own type){want}")
                continue
            key = (r.name, tuple(needs))
            if key in self._explained:
                self.emit(indent, f"{head}: as explained above{want}")
                continue
            self._explained.add(key)
            made = sum(1 for ds in self.derivations.values() for d in ds if d.rule == r.name)
            status = f"it derived {plural(made, p.type + ' fact')}, none that matches" if made else "it derived nothing"
            self.emit(indent, f"{head}: {status}{want}")
            patterns = []
            for q in r.patterns:
                if q.kind == "match" and extra.get(q.binding):
                    q2 = dataclasses.replace(q, cond=_and(q.cond, extra[q.binding]))
                    self._pushed[id(q2)] = (q2, q.cond, extra[q.binding])
                    q = q2
                patterns.append(q)

            def complete(env2, ind, r=r):
                self.emit(ind, self._derives(r, env2, needed=True))

            self.walk(patterns, indent + 1, depth + 1, stack + (r.name,), complete)

    def _derives(self, r: RuleIR, env: dict, needed: bool) -> str:
        shown = ", ".join(f"{b}={f.id}" for b, f in env.items())
        values = derive_values(r, env, self.store, self.today)
        if values is None:
            missing = [name for name, op in r.derive.items()
                       if value_of(op, None, env, self.store, self.today) is MISSING]
            return (f"these facts match every pattern ({shown}), but {r.name} derives nothing from them: "
                    f"{', '.join(missing)} would have no value")
        fid = derived_id(r.derive_type, values)
        tail = ", which fails the pattern's other conditions (above)" if needed else ""
        return f"these facts match every pattern ({shown}): {r.name} derived {fid} from them{tail}"

    def _push_down(self, p: PatternIR, env: dict, r: RuleIR) -> tuple[dict, list[str], Optional[str]]:
        """What ``p`` needs of a fact ``r`` derives, as conditions on ``r``'s patterns: ``({binding:
        [conditions]}, what is needed as text, why ``r`` can never give it or None)``. A condition
        of ``p`` on a derived field, against a value known here, is pushed down; the others are
        left to the candidates' check."""
        extra: dict[str, list] = {}
        needs: list[str] = []
        for c in (conjuncts(p.cond) if p.cond is not None else ()):
            pushed = self._rewrite(c, env, r)
            if pushed is None:
                continue
            field, op, value, target = pushed
            needs.append(f"{field} {op} {show_value(value) if value is not None else 'null'}")
            if isinstance(target, str):  # the rule derives a constant that contradicts the need
                return {}, needs, target
            if target is not None:
                binding, cond = target
                self._needed[id(cond)] = (cond, f"pattern {p.binding}" if p.binding else f"`{p.kind} {p.type}`")
                extra.setdefault(binding, []).append(cond)
        return extra, needs, None

    def _rewrite(self, c, env: dict, r: RuleIR):
        """``(field, op, value, target)`` for a comparison of a derived field with a known value:
        ``target`` is ``(binding, condition)`` on the rule's pattern, a string when the rule derives
        a constant that fails it, or None when the constant passes."""
        if isinstance(c, InSet):
            own, op, values = c.left, "in", []
            for it in c.items:
                v = value_of(it, None, env, self.store, self.today)
                if v is MISSING:
                    return None
                values.append(v)
            value = tuple(values)
        elif isinstance(c, Cmp):
            left, right, op = c.left, c.right, c.op
            if not _own_field(left, r) and _own_field(right, r):
                left, right, op = right, left, _MIRROR[op]
            own = left
            if isinstance(right, NullRef):
                value = None
            else:
                if isinstance(right, PathRef) and right.binding is None:
                    return None
                value = value_of(right, None, env, self.store, self.today)
                if value is MISSING:
                    return None
        else:
            return None
        if not _own_field(own, r):
            return None
        field = own.fields[0]
        derived = r.derive.get(field)
        if derived is None:
            return None
        if isinstance(derived, PathRef):
            path = PathRef(None, derived.fields + own.fields[1:], own.type)
            if op == "in":
                cond = InSet(path, tuple(Const(v) for v in value))
            else:
                cond = Cmp(op, path, NullRef() if value is None else Const(value))
            return field, op, value, (derived.binding, cond)
        if isinstance(derived, (Const, TodayRef)) and len(own.fields) == 1:
            const = Const(value_of(derived, None, env, self.store, self.today))
            test = InSet(const, tuple(Const(v) for v in value)) if op == "in" else \
                Cmp(op, const, NullRef() if value is None else Const(value))
            if holds(test, None, env, self.store, self.today):
                return field, op, value, None
            return field, op, value, f"it always derives {field}: {show_value(const.value)}"
        return None


def _own_field(x, r: RuleIR) -> bool:
    return isinstance(x, PathRef) and x.binding is None and bool(x.fields) and x.fields[0] in r.derive


def _and(cond, extra: list):
    parts = ([cond] if cond is not None else []) + list(extra)
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


# ---- the command ------------------------------------------------------------------------------------------------


@dataclass
class Explanation:
    """What ``explain`` says about one criterion or rule: ``text`` for people, and whether the
    criterion ``fired`` (the rule derived a fact) on the facts asked about (on any facts when none
    were named)."""

    text: str
    fired: bool


def why_not(crit: CriterionIR, facts: list[FactRecord], store: dict[str, FactRecord], today: dt.date,
            only: list[str], program=None, derivations: Optional[dict] = None) -> list[str]:
    """The lines that explain why ``crit`` did not fire on ``facts`` (the tree of candidate paths;
    with ``program`` and ``derivations``, through the rules that derive its patterns' types)."""
    from ..checker.ir import Program

    ex = Explainer(program if program is not None else Program(schema=None), {f.id: f for f in facts} | store,
                   derivations or {}, today, only)

    def complete(env, indent):
        chosen = ", ".join(f"{k}={v.id}" for k, v in env.items())
        ex.emit(indent, f"these facts match every pattern ({chosen}): {crit.code} fired on them")

    return ex.text(lambda: ex.walk(crit.patterns, 0, 0, (), complete)).split("\n")


def explain_criterion(session, code: str, ids: list[str]) -> Optional[Explanation]:
    """Why criterion ``code`` fired on the policy set of ``session`` (its proofs), or why it did not
    (the tree of candidates, through the rules that derive what it needs); for ``code`` naming a
    derivation rule, what it derived and from which facts, or why it derived nothing. ``ids``
    restrict the findings and candidates to those involving these facts. None when the set does
    not check, the criterion or a fact id is unknown, or the run stopped: ``session.diagnostics``
    then say why."""
    from ..render.text import render_finding

    program = session.program
    if program is None or session.stopped in ("parse", "check"):
        return None
    crit = next((c for c in program.criteria if c.code == code), None)
    rule = next((r for r in program.rules if r.name == code), None) if crit is None else None
    if crit is None and rule is None:
        names = [c.code for c in program.criteria] + [r.name for r in program.rules]
        session.add_diagnostics([Diagnostic.make("E211", f"unknown criterion or rule '{code}'", None,
                                                 help=did_you_mean(code, names))])
        return None
    known = {f.id for f in program.facts}
    unknown = [i for i in ids if i not in known and "#" not in i]
    if unknown:
        session.add_diagnostics([Diagnostic.make("E203", f"unknown fact '{i}'", None, help=did_you_mean(i, known))
                                 for i in unknown])
        return None
    report = session.report
    if session.stopped is not None:
        return None
    result = session.result
    store = {f.id: f for f in program.facts}
    store.update(result.derived)
    ex = Explainer(program, store, result.derivations, session.as_of, ids)
    if rule is not None:
        return _explain_rule(ex, rule, ids)
    fired = [f for f in report.findings if f.criterion == code]
    mine = [f for f in fired if all(i in f.named for i in ids)]
    on = f" on {', '.join(ids)}" if ids else ""
    if mine:
        parts = [render_finding(f, session.sources, explain=True) for f in mine]
        return Explanation(f"{code} fired {plural(len(mine), 'time')}{on}\n\n" + "\n\n".join(parts), True)
    if fired:
        ex.emit(0, f"{code} fired {plural(len(fired), 'time')}, but on none of {', '.join(ids)}: {crit.title}")
        for f in fired[:10]:
            ex.emit(1, f"fired on {', '.join(f.facts)}")
        if len(fired) > 10:
            ex.emit(1, f"... and {len(fired) - 10} more")
        types = {p.type for p in crit.patterns}
        for i in ids:
            if i in store and store[i].type not in types:
                ex.emit(0, f"{i} is {_a(store[i].type)}: no pattern of {code} matches {_a(store[i].type)}")
    else:
        ex.emit(0, f"{code} did not fire{on}: {crit.title}")
    ex.emit(0, "")

    def complete(env, indent):
        chosen = ", ".join(f"{k}={v.id}" for k, v in env.items())
        ex.emit(indent, f"these facts match every pattern ({chosen}): {code} fired on them")

    return Explanation(ex.text(lambda: ex.walk(crit.patterns, 0, 0, (), complete)), False)


def _explain_rule(ex: Explainer, rule: RuleIR, ids: list[str]) -> Explanation:
    """What ``rule`` derived (each fact, from which facts), or why it derived nothing."""
    made = [(fid, d) for fid, ds in sorted(ex.derivations.items()) for d in ds if d.rule == rule.name]
    mine = [(fid, d) for fid, d in made if all(i == fid or i in {p for _, p in d.premises} for i in ids)]
    on = f" on {', '.join(ids)}" if ids else ""

    def run():
        if mine:
            ex.emit(0, f"rule {rule.name} derived {plural(len({fid for fid, _ in mine}), rule.derive_type + ' fact')}"
                       f"{on}: {rule.title}")
            ex.emit(0, "")
            for fid, d in mine[:25]:
                premises = ", ".join(f"{b}={i}" for b, i in d.premises)
                f = ex.store[fid]
                fields = ", ".join(f"{k}: {show_value(v)}" for k, v in f.values.items())
                ex.emit(0, f"{fid} ({rule.derive_type} {{{fields}}}) from {premises or 'no facts'}")
                for g in d.guards:
                    ex.emit(1, g.text + (f": {g.witness}" if g.witness else ""))
            if len(mine) > 25:
                ex.emit(0, f"... and {len(mine) - 25} more")
            return
        if made:
            ex.emit(0, f"rule {rule.name} derived {plural(len(made), 'fact')}, but none from {', '.join(ids)}: "
                       f"{rule.title}")
        else:
            ex.emit(0, f"rule {rule.name} derived nothing{on}: {rule.title}")
        ex.emit(0, "")
        ex.walk(rule.patterns, 0, 0, (rule.name,), lambda env, indent: ex.emit(indent, ex._derives(rule, env, False)))

    return Explanation(ex.text(run), bool(mine))


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
