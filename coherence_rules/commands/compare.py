"""``coherence compare``: two agreements (or policy sets) side by side, topic by topic.

One row per topic of the ``clause`` and ``law`` facts of either side (the union, ordered as the
``topic`` enum lists its members, then by name for members added by a ruleset or an open enum),
with each side's provisions and whether they differ; then each side's findings.
:func:`compare_sets` returns a :class:`CompareResult`; its :meth:`~CompareResult.to_dict` is the
``coherence-compare/1`` document.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..findings.report import Report, document_head, dump_json

SCHEMA = "coherence-compare/1"
TOPIC_TYPES = ("clause", "law")


@dataclass
class Side:
    name: str
    report: Report
    provisions: dict[str, list[dict]] = field(default_factory=dict)  # topic -> provisions

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "inputs": sorted(self.report.inputs),
            "summary": self.report.summary(),
            "findings": [{"criterion": f.criterion, "title": f.title, "score": f.score, "status": f.status,
                          "facts": list(f.facts), "message": f.message, "fingerprint": f.fingerprint}
                         for f in self.report.findings],
        }


def _norm(text: str) -> str:
    return " ".join(text.split())


def _provision_text(p: dict) -> str:
    return p["provision"] if p["type"] == "clause" else f"{p['provision']} (law of {p['jurisdiction']})"


@dataclass
class CompareResult:
    a: Side
    b: Side
    topic_order: list[str]
    as_of: dt.date

    @property
    def errors(self) -> list:
        return self.a.report.errors + self.b.report.errors

    def rows(self) -> list[dict]:
        topics = set(self.a.provisions) | set(self.b.provisions)
        order = {t: i for i, t in enumerate(self.topic_order)}
        out = []
        for t in sorted(topics, key=lambda t: (order.get(t, len(order)), t)):
            pa, pb = self.a.provisions.get(t, []), self.b.provisions.get(t, [])
            ta = [_provision_text(p) for p in pa]
            tb = [_provision_text(p) for p in pb]
            if not pa:
                status = "only B"
            elif not pb:
                status = "only A"
            else:
                status = "same" if sorted(map(_norm, ta)) == sorted(map(_norm, tb)) else "differ"
            out.append({"topic": t, "status": status, "a": "; ".join(ta), "b": "; ".join(tb),
                        "a_provisions": pa, "b_provisions": pb})
        return out

    def to_dict(self) -> dict:
        rows = self.rows()
        counts = {k: sum(1 for r in rows if r["status"] == k) for k in ("same", "differ", "only A", "only B")}
        return {
            **document_head(SCHEMA, self.as_of),
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "summary": {"topics": len(rows), **counts},
            "topics": rows,
        }

    def to_json(self) -> str:
        return dump_json(self.to_dict())


def _provisions(program, files: set[str]) -> dict[str, list[dict]]:
    """The clauses and laws written in ``files`` (the set's own, not its references), by topic."""
    out: dict[str, list[dict]] = {}
    for f in sorted(program.facts, key=lambda f: f.id):
        if f.type not in TOPIC_TYPES or not isinstance(f.values.get("topic"), str):
            continue
        if f.span is None or f.span.file not in files:
            continue
        loc = {"file": f.span.file, "line": f.span.line, "column": f.span.column} if f.span else None
        out.setdefault(f.values["topic"], []).append({
            "id": f.id, "type": f.type, "provision": str(f.values.get("provision", "")),
            "agreement": f.values.get("agreement"), "jurisdiction": f.values.get("jurisdiction"),
            "party": f.values.get("party"), "cite": f.cite, "location": loc,
        })
    return out


def compare_sets(a: str | Path, b: str | Path, rulesets: Optional[Sequence[str]] = None, *,
                 with_paths: Sequence[str | Path] = (), as_of: Optional[dt.date] = None) -> CompareResult:
    """Check both sides with the same rulesets and reference facts (parsed and checked once each)
    and tabulate their provisions by topic."""
    from ..session import Rulesets, Session
    from .batch import set_name

    as_of = as_of or dt.date.today()
    rules = Rulesets(rulesets)
    sides = []
    order: list[str] = []
    for path in (a, b):
        session = Session([path], with_paths=with_paths, rules=rules, as_of=as_of)
        side = Side(set_name(str(path)), session.report)
        program = session.program
        if not side.report.errors and program is not None:
            side.provisions = _provisions(program, set(session.workspace.inputs))
            topic = program.schema.enums.get("topic")
            for m in (topic.members if topic else []):
                if m not in order:
                    order.append(m)
        sides.append(side)
    return CompareResult(sides[0], sides[1], order, as_of)
