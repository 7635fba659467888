"""Findings stage: engine matches -> :class:`Finding` objects with fingerprints, statuses, locations
and proof trees.

The proof tree is a view of what the engine recorded (which facts each firing bound, every
derivation of each derived fact, what each guard found absent); nothing is re-run to build it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Optional

from ..syntax.ast import Span
from ..checker.ir import AcceptIR, CriterionIR, FactRecord, Program
from ..checker.templates import render_template
from ..diagnostics import Diagnostic
from ..engine import Derivation, MatchRecord, RunResult


@dataclass
class ProofNode:
    """A node of a finding's proof: ``criterion`` (root), ``fact`` (written), ``derived``,
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
    """A criterion that fired on a set of facts."""

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

    def to_dict(self) -> dict:
        acc = None
        if self.acceptance is not None:
            a = self.acceptance
            acc = {"reason": a.reason, "until": a.until.isoformat() if a.until else None,
                   "location": location_dict(a.span)}
        return {
            "fingerprint": self.fingerprint, "criterion": self.criterion, "title": self.title, "score": self.score,
            "label": self.label, "dimension": self.dimension, "message": self.message, "advice": self.advice,
            "status": self.status, "acceptance": acc, "facts": list(self.facts), "fact_details": self.fact_details,
            "instruments": list(self.instruments), "location": location_dict(self.location),
            "trace": self.trace.to_dict(),
        }

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.file if loc else "~", loc.line if loc else 0, self.criterion, self.fingerprint)


def fingerprint(code: str, fact_ids: list[str]) -> str:
    return hashlib.sha256(("\0".join([code] + sorted(fact_ids))).encode()).hexdigest()[:16]


class _Builder:
    def __init__(self, program: Program, result: RunResult, facts: dict[str, FactRecord]):
        self.program = program
        self.result = result
        self.facts = facts

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

    def fact_node(self, fid: str, text: Optional[str], depth: int = 0) -> ProofNode:
        f = self.facts[fid]
        if not f.derived:
            return ProofNode("fact", f.id, f.type, f.span, f.cite, None, text)
        node = ProofNode("derived", f.id, f.type, None, None, None, text or describe_derived(f))
        if depth > 20:
            return node
        for d in self.result.derivations.get(fid, []):
            node.children.append(self.derivation_node(d, depth + 1))
        return node

    def derivation_node(self, d: Derivation, depth: int) -> ProofNode:
        rule = next((r for r in self.program.rules if r.name == d.rule), None)
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
            node.children.append(self.fact_node(g.witness, None, depth))
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
        return {"id": f.id, "type": f.type, "title": f.title if not f.derived else describe_derived(f),
                "location": location_dict(f.span), "cite": f.cite, "instrument": inst[0] if inst else None,
                "derived": f.derived}


def describe_derived(f: FactRecord) -> str:
    from ..checker.templates import describe_fact

    return describe_fact(f)


def build_findings(program: Program, result: RunResult, facts: dict[str, FactRecord], as_of: dt.date,
                   criteria: Optional[list[CriterionIR]] = None) -> tuple[list[Finding], list[dict], list[Diagnostic]]:
    """Findings of a run, the status of each ``accept``, and warnings (stale accepts)."""
    b = _Builder(program, result, facts)
    by_code = {c.code: c for c in (criteria if criteria is not None else program.criteria)}
    findings = []
    for m in result.matches:
        crit = by_code.get(m.criterion)
        if crit is None:
            continue
        findings.append(_finding(b, crit, m, facts))
    accept_status, diags = apply_accepts(program.accepts, findings, b, as_of)
    findings.sort(key=Finding.sort_key)
    return findings, accept_status, diags


def _finding(b: _Builder, crit: CriterionIR, m: MatchRecord, facts: dict[str, FactRecord]) -> Finding:
    env = {binding: facts[fid] for binding, fid in m.bindings}
    fact_ids = list(m.fact_ids)
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
    positives = [p for p in crit.patterns if p.kind == "match"]
    primary_binding = crit.primary or (positives[-1].binding if positives else None)
    location = None
    if primary_binding is not None:
        pf = env[primary_binding]
        if pf.derived:
            basis = b.written_basis(pf.id)
            pf = facts[basis[0]] if basis else pf
        location = pf.span
    details, seen = [], set()
    for fid in fact_ids:
        details.append(b.detail(fid))
        seen.add(fid)
    for fid in fact_ids:
        for w in b.written_basis(fid):
            if w not in seen:
                seen.add(w)
                details.append(b.detail(w))
    instruments = sorted({i for fid in fact_ids for i in b.instruments_of(fid)})
    return Finding(
        fingerprint=fingerprint(crit.code, fact_ids), criterion=crit.code, title=crit.title, score=crit.score,
        label=crit.label, dimension=crit.dimension, message=render_template(crit.message, env, facts),
        advice=render_template(crit.advice, env, facts), status="open", acceptance=None, facts=fact_ids,
        fact_details=details, instruments=instruments, location=location, trace=root, ruleset=crit.ruleset,
    )


def apply_accepts(accepts: list[AcceptIR], findings: list[Finding], b: _Builder, as_of: dt.date
                  ) -> tuple[list[dict], list[Diagnostic]]:
    """Mark accepted and expired findings; report stale accepts (W402)."""
    statuses = []
    diags = []
    for a in accepts:
        matched = []
        for f in findings:
            if f.criterion != a.criterion:
                continue
            basis = set(f.facts)
            for fid in f.facts:
                basis.update(b.written_basis(fid))
            if all(i in basis for i in a.ids):
                matched.append(f)
        expired = a.until is not None and as_of > a.until
        for f in matched:
            if f.acceptance is None:
                f.acceptance = a
                f.status = "expired" if expired else "accepted"
        status = "stale" if not matched else ("expired" if expired else "applied")
        if not matched:
            diags.append(Diagnostic.make("W402", f"accept of {a.criterion} on [{', '.join(a.ids)}] matches no finding",
                                         a.span, help="remove it if the conflict is resolved, or fix its ids"))
        statuses.append({"criterion": a.criterion, "ids": list(a.ids), "reason": a.reason,
                         "until": a.until.isoformat() if a.until else None, "location": location_dict(a.span),
                         "status": status})
    return statuses, diags
