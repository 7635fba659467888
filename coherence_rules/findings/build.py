"""Findings stage: engine matches -> :class:`Finding` objects with fingerprints, statuses, locations
and proof trees.

The proof tree is a view of what the engine recorded (which facts each firing bound, every
derivation of each derived fact, what each guard found absent); nothing is re-run to build it.

A finding names written facts. What a criterion binds may be derived (``pressure``,
``area_in_use``): a finding's :attr:`Finding.facts` are the facts written in the policy set (or in
its ``--with`` references) that it rests on, derived facts resolved through their derivations to
the written facts beneath them; derived facts appear only in the proof, described in words by the
rule that derived them. Facts of the rulesets themselves (the checklist of ``essential_topic``)
are reference data: shown in the proof, not listed as the set's facts.

The fingerprint is unchanged by this: it is the SHA-256 of the criterion code and the sorted ids
of the facts bound to the criterion's positive patterns (a derived fact's id is a digest of its
type and fields), cut to 16 hex digits (:func:`fingerprint`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Optional

from ..checker.ir import AcceptIR, CriterionIR, FactRecord, Program
from ..checker.templates import Renderer, join_words
from ..diagnostics import Diagnostic
from ..engine import Derivation, MatchRecord, RunResult
from ..syntax.ast import Span


@dataclass
class ProofNode:
    """A node of a finding's proof: ``criterion`` (root), ``fact`` (written in the set or its
    references), ``reference`` (reference data of a ruleset), ``derived`` (described in ``text``),
    ``derivation`` (a rule application), ``absent`` (a ``not`` pattern), ``exists``."""

    kind: str
    id: Optional[str] = None
    type: Optional[str] = None
    location: Optional[Span] = None
    cite: Optional[str] = None
    rule: Optional[str] = None
    text: Optional[str] = None
    children: list["ProofNode"] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind, "id": self.id, "type": self.type, "location": location_dict(self.location),
            "cite": self.cite, "rule": self.rule, "text": self.text,
            "children": [c.to_dict() for c in self.children],
        }


def location_dict(span: Optional[Span]) -> Optional[dict]:
    if span is None:
        return None
    return {"file": span.file, "line": span.line, "column": span.column}


@dataclass
class Finding:
    """A criterion that fired on a set of facts.

    ``facts`` are the written facts of the set it rests on (see the module docstring) and
    ``fact_details`` describe each; ``named`` adds the rulesets' reference facts the finding is
    about (what `explain --facts` and the language's `expect CODE on [...]` match); ``rests_on``
    every written fact its proof rests on (what an `accept` matches); ``bound`` the ids the
    criterion's patterns bound, derived ones included."""

    fingerprint: str
    criterion: str
    title: str
    score: int
    label: str
    dimension: str
    message: str
    advice: str
    status: str
    acceptance: Optional[AcceptIR]
    facts: list[str]
    fact_details: list[dict]
    instruments: list[str]
    location: Optional[Span]
    trace: ProofNode
    ruleset: str = ""
    #: the dimension as people read it (its enum label: whole-of-society)
    dimension_label: str = ""
    rests_on: list[str] = field(default_factory=list)
    bound: list[str] = field(default_factory=list)
    #: the written facts of what the finding is about, the rulesets' reference facts included (what
    #: `explain --facts` and the language's `expect ... on [...]` name)
    named: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        acc = None
        if self.acceptance is not None:
            a = self.acceptance
            acc = {"reason": a.reason, "until": a.until.isoformat() if a.until else None,
                   "location": location_dict(a.span)}
        return {
            "fingerprint": self.fingerprint, "criterion": self.criterion, "title": self.title, "score": self.score,
            "label": self.label, "dimension": self.dimension,
            "dimension_label": self.dimension_label or self.dimension, "message": self.message, "advice": self.advice,
            "status": self.status, "acceptance": acc, "facts": list(self.facts), "fact_details": self.fact_details,
            "instruments": list(self.instruments), "location": location_dict(self.location),
            "trace": self.trace.to_dict(),
        }

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.file if loc else "~", loc.line if loc else 0, self.criterion, self.fingerprint)


def fingerprint(code: str, fact_ids: list[str]) -> str:
    """A finding's identity across runs and versions: criterion code and the sorted ids of the
    facts bound to its positive patterns."""
    return hashlib.sha256(("\0".join([code] + sorted(fact_ids))).encode()).hexdigest()[:16]


class ProofBuilder:
    """Builds the findings of one run: proofs, written facts, descriptions of derived facts."""

    def __init__(self, program: Program, result: RunResult, facts: dict[str, FactRecord],
                 reference: frozenset = frozenset()):
        self.program = program
        self.result = result
        self.facts = facts
        self.reference = reference  # ids of the rulesets' reference facts
        self.rules = {r.name: r for r in program.rules}
        self.renderer = Renderer(facts, program.schema, self.describe)
        dimensions = program.schema.enums.get("dimension")
        self.dimension_label = dimensions.label if dimensions is not None else (lambda d: d.replace("_", " "))
        self._described: dict[str, str] = {}

    def written_basis(self, fid: str, seen: Optional[set] = None) -> list[str]:
        """Written facts a (possibly derived) fact rests on, through every derivation, in order."""
        seen = seen if seen is not None else set()
        if fid in seen:
            return []
        seen.add(fid)
        f = self.facts.get(fid)
        if f is None or not f.derived:
            return [fid]
        out: list[str] = []
        for d in self.result.derivations.get(fid, []):
            for _, pid in d.premises:
                for x in self.written_basis(pid, seen):
                    if x not in out:
                        out.append(x)
            for g in d.guards:
                if g.witness:
                    for x in self.written_basis(g.witness, seen):
                        if x not in out:
                            out.append(x)
        return out

    def describe(self, f: FactRecord) -> str:
        """A derived fact in words: its first derivation's rule ``describe`` template (the rule's
        title without one), over the facts that derivation bound; "and N more" for the others."""
        cached = self._described.get(f.id)
        if cached is not None:
            return cached
        self._described[f.id] = f.type  # a description never recurses into itself
        derivations = self.result.derivations.get(f.id, [])
        if not derivations:
            text = f.type
        else:
            d = derivations[0]
            rule = self.rules.get(d.rule)
            env = {b: self.facts[pid] for b, pid in d.premises if pid in self.facts}
            text = self.renderer.render(rule.describe or rule.title, env) if rule is not None else d.rule
            if len(derivations) > 1:
                text += f" (and {len(derivations) - 1} more)"
        self._described[f.id] = text
        return text

    def fact_node(self, fid: str, text: Optional[str], depth: int = 0) -> ProofNode:
        f = self.facts[fid]
        if not f.derived:
            if fid in self.reference:
                return ProofNode("reference", f.id, f.type, None, f.cite, None, text or f.title)
            return ProofNode("fact", f.id, f.type, f.span, f.cite, None, text)
        node = ProofNode("derived", None, f.type, None, None, None, self.describe(f))
        if depth > 20:
            return node
        for d in self.result.derivations.get(fid, []):
            node.children.append(self.derivation_node(d, depth + 1))
        return node

    def derivation_node(self, d: Derivation, depth: int) -> ProofNode:
        rule = self.rules.get(d.rule)
        node = ProofNode("derivation", None, None, rule.span if rule else None, None, d.rule,
                         rule.title if rule else d.rule)
        types = {p.binding: p.type for p in rule.patterns} if rule else {}
        for b, pid in d.premises:
            node.children.append(self.fact_node(pid, f"{b}: {types.get(b, self.facts[pid].type)}", depth))
        node.children += [self.guard_node(g, depth) for g in d.guards]
        return node

    def guard_node(self, g, depth: int) -> ProofNode:
        if g.kind == "not":
            return ProofNode("absent", None, None, None, None, None, g.text)
        node = ProofNode("exists", None, None, None, None, None, g.text)
        if g.witness:
            witness = self.facts.get(g.witness)
            node.children.append(self.fact_node(g.witness, f"for example: {witness.type}" if witness else None,
                                                depth))
        return node

    def instruments_of(self, fid: str) -> list[str]:
        out = []
        for wid in self.written_basis(fid):
            f = self.facts.get(wid)
            if f is None:
                continue
            if f.type in ("instrument", "agreement"):
                out.append(f.id)
            else:
                for key in ("instrument", "agreement"):
                    v = f.values.get(key)
                    if isinstance(v, str) and v in self.facts and self.facts[v].type in ("instrument", "agreement"):
                        out.append(v)
        return out

    def detail(self, fid: str) -> dict:
        f = self.facts[fid]
        inst = self.instruments_of(fid)
        return {"id": f.id, "type": f.type, "title": f.title, "location": location_dict(f.span), "cite": f.cite,
                "instrument": inst[0] if inst else None}


def build_findings(program: Program, result: RunResult, facts: dict[str, FactRecord], as_of: dt.date,
                   criteria: Optional[list[CriterionIR]] = None, reference: frozenset = frozenset()
                   ) -> tuple[list[Finding], list[dict], list[Diagnostic]]:
    """Findings of a run, the status of each ``accept``, and diagnostics (stale accepts, accepts
    that name a derived fact). ``reference`` are the ids of the rulesets' own facts."""
    b = ProofBuilder(program, result, facts, reference)
    by_code = {c.code: c for c in (criteria if criteria is not None else program.criteria)}
    findings = []
    seen: set[tuple] = set()
    for m in result.matches:  # sorted by (criterion, fact ids): the first of a finding has the smallest
        crit = by_code.get(m.criterion)
        if crit is None:
            continue
        if crit.about is not None:  # matches that differ only outside `about` are one finding
            key = (crit.code, tuple(sorted({fid for binding, fid in m.bindings if binding in crit.about})))
            if key in seen:
                continue
            seen.add(key)
        findings.append(_finding(b, crit, m, facts))
    accept_status, diags = apply_accepts(program.accepts, findings, b, as_of)
    findings.sort(key=Finding.sort_key)
    return findings, accept_status, diags


def _finding(b: ProofBuilder, crit: CriterionIR, m: MatchRecord, facts: dict[str, FactRecord]) -> Finding:
    env = {binding: facts[fid] for binding, fid in m.bindings}
    bound = list(m.fact_ids)
    about = bound if crit.about is None else sorted({fid for binding, fid in m.bindings if binding in crit.about})
    root = ProofNode("criterion", crit.code, None, crit.span, None, None, crit.title)
    guards = iter(m.guards)
    for p in crit.patterns:
        if p.kind == "match":
            root.children.append(b.fact_node(env[p.binding].id, f"{p.binding}: {p.type}"))
        else:
            g = next(guards, None)
            if g is not None:
                root.children.append(b.guard_node(g, 0))
    # primary: the named binding, else the last positive pattern's fact; a derived fact points at
    # the first written fact its proof rests on
    positives = [p for p in crit.patterns if p.kind == "match" and (crit.about is None or p.binding in crit.about)]
    primary_binding = crit.primary or (positives[-1].binding if positives else None)
    location = None
    if primary_binding is not None:
        pf = env[primary_binding]
        if pf.derived:
            basis = [w for w in b.written_basis(pf.id) if w not in b.reference]
            pf = facts[basis[0]] if basis else pf
        location = pf.span if pf.id not in b.reference else None
    rests_on: list[str] = []
    for fid in bound:
        for w in b.written_basis(fid):
            if w not in rests_on:
                rests_on.append(w)
    named = sorted({w for fid in about for w in b.written_basis(fid)})
    written = [w for w in named if w not in b.reference]
    instruments = sorted({i for fid in about for i in b.instruments_of(fid)})
    return Finding(
        fingerprint=fingerprint(crit.code, about), criterion=crit.code, title=crit.title, score=crit.score,
        label=crit.label, dimension=crit.dimension, dimension_label=b.dimension_label(crit.dimension),
        message=b.renderer.render(crit.message, env),
        advice=b.renderer.render(crit.advice, env), status="open", acceptance=None, facts=written,
        fact_details=[b.detail(w) for w in written], instruments=instruments, location=location, trace=root,
        ruleset=crit.ruleset, rests_on=sorted(rests_on), bound=bound, named=named,
    )


def apply_accepts(accepts: list[AcceptIR], findings: list[Finding], b: ProofBuilder, as_of: dt.date
                  ) -> tuple[list[dict], list[Diagnostic]]:
    """Mark accepted and expired findings; report stale accepts (W402) and accepts that name a
    derived fact (E220, with the written facts to name instead)."""
    statuses = []
    diags = []
    for a in accepts:
        if a.derived:
            diags += [_derived_accept(a, did, span, b) for did, span in a.derived]
            statuses.append(_accept_status(a, "invalid"))
            continue
        matched = [f for f in findings if f.criterion == a.criterion and all(i in f.rests_on for i in a.ids)]
        expired = a.until is not None and as_of > a.until
        for f in matched:
            if f.acceptance is None:
                f.acceptance = a
                f.status = "expired" if expired else "accepted"
        status = "stale" if not matched else ("expired" if expired else "applied")
        if not matched:
            diags.append(Diagnostic.make("W402", f"accept of {a.criterion} on [{', '.join(a.ids)}] matches no finding",
                                         a.span, help="remove it if the conflict is resolved, or fix its ids"))
        statuses.append(_accept_status(a, status))
    return statuses, diags


def _accept_status(a: AcceptIR, status: str) -> dict:
    return {"criterion": a.criterion, "ids": list(a.ids), "reason": a.reason,
            "until": a.until.isoformat() if a.until else None, "location": location_dict(a.span), "status": status}


def _derived_accept(a: AcceptIR, did: str, span, b: ProofBuilder) -> Diagnostic:
    f = b.facts.get(did)
    written = [w for w in b.written_basis(did) if w not in b.reference] if f is not None and f.derived else []
    others = [i for i in a.ids if "#" not in i]
    if written:
        ids = ", ".join(dict.fromkeys(others + written))
        return Diagnostic.make(
            "E220", f"`{did}` is a derived fact ({b.describe(f)}); an accept names written facts", span,
            label="a derived fact", notes=[f"it rests on {join_words(written)}"],
            help=f"write `accept {a.criterion} on [{ids}]`")
    return Diagnostic.make("E220", f"`{did}` is a derived fact, and this run derives no fact with that id; an "
                                   "accept names written facts", span, label="a derived fact",
                           help=f"name the facts that `coherence check` lists for the {a.criterion} finding")
