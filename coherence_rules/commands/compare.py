"""``coherence compare``: agreements (or policy sets) side by side, topic by topic, article by article.

``compare A B [C...]`` lines the sides up against each other; ``compare --against MODEL A [B...]``
lines each side up against a model (a model agreement, or any policy set). One row per topic of
the ``clause`` and ``law`` facts of any side (the checklist's topics first, then the others in the
``topic`` enum's order), with each side's clauses in article order, their citations, positions and
texts:

- a **position** is a ``provision`` that is one snake_case word (``employer_pays``); a topic on
  which two sides take positions that are not the same is marked ``differing positions``;
- **prose** (a clause without a position: its ``text``) is shown side by side and never compared:
  two wordings of one rule are not a clash.

The checklist topics (``essential_topic``) that every side misses are listed. Every side is one
:class:`~coherence_rules.session.Session` on one shared :class:`~coherence_rules.session.Rulesets`,
so the rulesets are parsed, checked and compiled once and each side's files are read once.
:func:`compare_many` returns a :class:`CompareResult`, whose :meth:`~CompareResult.to_dict` is the
``coherence-compare/2`` document (docs/batch.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..findings.report import Report, document_head, dump_json
from .topics import (
    article_key,
    checklist,
    checklist_kinds,
    is_position,
    ordered_topics,
    topic_label,
    topic_members,
)

SCHEMA = "coherence-compare/2"
TOPIC_TYPES = ("clause", "law")
MODEL = "model"

#: A topic's status: two or more sides take positions on it, and they are not all the same.
DIFFERING = "differing positions"
#: Two or more sides take positions on it, all the same.
SAME = "same positions"
#: Fewer than two sides take a position: the texts are shown side by side, nothing is compared.
SIDE_BY_SIDE = "side by side"
STATUSES = (DIFFERING, SAME, SIDE_BY_SIDE)

#: How a side stands to the model on a topic (``--against``).
VS_SAME, VS_DIFFERING, VS_MISSING, VS_EXTRA, VS_TEXTS = (
    "same position", "differing position", "missing", "not in the model", "side by side")


def side_labels(count: int) -> list[str]:
    """``A``, ``B``, ... ``Z``, ``AA``, ``AB``, ...: how the sides are named in the outputs."""
    out = []
    for i in range(count):
        label, n = "", i
        while True:
            label = chr(65 + n % 26) + label
            n = n // 26 - 1
            if n < 0:
                break
        out.append(label)
    return out


@dataclass
class Side:
    """One side of a comparison: its label, its name (the path as given), its report, its
    agreements and its clauses and laws by topic (each list in article order)."""

    label: str
    name: str
    report: Report
    clauses: dict[str, list[dict]] = field(default_factory=dict)
    agreements: list[dict] = field(default_factory=list)

    def positions(self, topic: str) -> list[str]:
        """The distinct positions the side takes on ``topic``, sorted."""
        return sorted({c["position"] for c in self.clauses.get(topic, []) if c["position"]})

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "name": self.name,
            "status": "failed" if self.report.errors else "ok",
            "inputs": sorted(self.report.inputs),
            "agreements": self.agreements,
            "summary": self.report.summary(),
            "findings": [{"criterion": f.criterion, "title": f.title, "score": f.score, "status": f.status,
                          "facts": list(f.facts), "message": f.message, "fingerprint": f.fingerprint}
                         for f in self.report.findings],
        }


@dataclass
class CompareResult:
    """Sides compared topic by topic (``against``: the first side is the model the others are
    compared with)."""

    sides: list[Side]
    topic_order: list[str]
    labels: dict[str, str]
    essential: list[dict]
    as_of: dt.date
    against: bool = False

    @property
    def errors(self) -> list:
        return [d for s in self.sides for d in s.report.errors]

    @property
    def a(self) -> Side:
        return self.sides[0]

    @property
    def b(self) -> Side:
        return self.sides[1]

    def rows(self) -> list[dict]:
        """One row per topic that a side addresses, in :attr:`topic_order`."""
        covered = {t for s in self.sides for t in s.clauses}
        kinds_of = checklist_kinds(self.essential)
        out = []
        for t in self.topic_order:
            if t not in covered:
                continue
            positions = {s.label: s.positions(t) for s in self.sides if s.positions(t)}
            row = {
                "topic": t, "label": self.labels.get(t, t), "checklist": kinds_of.get(t, []),
                "covered_by": [s.label for s in self.sides if t in s.clauses],
                "missing": [s.label for s in self.sides if t not in s.clauses],
                "positions": positions,
                "clauses": {s.label: s.clauses[t] for s in self.sides if t in s.clauses},
            }
            if self.against:
                model, others = self.sides[0], self.sides[1:]
                vs = {s.label: _against(model, s, t) for s in others}
                row["against_model"] = {k: v for k, v in vs.items() if v is not None}
                stands = set(row["against_model"].values())
                row["status"] = DIFFERING if VS_DIFFERING in stands else SAME if VS_SAME in stands else SIDE_BY_SIDE
            else:
                distinct = {tuple(p) for p in positions.values()}
                row["status"] = SIDE_BY_SIDE if len(positions) < 2 else SAME if len(distinct) == 1 else DIFFERING
            out.append(row)
        return out

    def missing_everywhere(self) -> list[dict]:
        """The checklist topics (of the sides' agreement kinds) that no side has a clause on."""
        covered = {t for s in self.sides for t in s.clauses}
        out: dict[str, dict] = {}
        for e in self.essential:
            if e["topic"] in covered:
                continue
            entry = out.setdefault(e["topic"], {"topic": e["topic"], "label": self.labels.get(e["topic"], e["topic"]),
                                                "kinds": [], "cites": []})
            if e["kind"] not in entry["kinds"]:
                entry["kinds"].append(e["kind"])
            if e["cite"] and e["cite"] not in entry["cites"]:
                entry["cites"].append(e["cite"])
        return list(out.values())

    def to_dict(self) -> dict:
        rows = self.rows()
        missing = self.missing_everywhere()
        return {
            **document_head(SCHEMA, self.as_of),
            "against": self.sides[0].label if self.against else None,
            "sides": [s.to_dict() for s in self.sides],
            "summary": {"sides": len(self.sides), "topics": len(rows),
                        "differing_positions": sum(1 for r in rows if r["status"] == DIFFERING),
                        "same_positions": sum(1 for r in rows if r["status"] == SAME),
                        "side_by_side": sum(1 for r in rows if r["status"] == SIDE_BY_SIDE),
                        "missing_everywhere": len(missing)},
            "topics": rows,
            "missing_everywhere": missing,
        }

    def to_json(self) -> str:
        return dump_json(self.to_dict())


def _against(model: Side, side: Side, topic: str) -> Optional[str]:
    """How ``side`` stands to the model on ``topic`` (None when neither addresses it)."""
    in_model, in_side = topic in model.clauses, topic in side.clauses
    if not in_model and not in_side:
        return None
    if not in_side:
        return VS_MISSING
    if not in_model:
        return VS_EXTRA
    mine, theirs = side.positions(topic), model.positions(topic)
    if mine and theirs:
        return VS_SAME if mine == theirs else VS_DIFFERING
    return VS_TEXTS


def _clauses(program, files: set[str], order: dict[str, int]) -> dict[str, list[dict]]:
    """The clauses and laws written in ``files`` (the set's own, not its references), by topic, each
    topic's in article order: ``position`` is the provision when it is one snake_case word, and
    ``text`` the article's words (or a provision that is prose)."""
    out: dict[str, list[dict]] = {}
    for f in program.facts:
        if f.type not in TOPIC_TYPES or not isinstance(f.values.get("topic"), str):
            continue
        if f.span is None or f.span.file not in files:
            continue
        v = f.values
        provision = v.get("provision")
        position = provision if is_position(provision) else None
        text = v.get("text")
        if text is None and provision is not None and position is None:
            text = str(provision)
        out.setdefault(v["topic"], []).append({
            "id": f.id, "type": f.type, "agreement": v.get("agreement"), "jurisdiction": v.get("jurisdiction"),
            "party": v.get("party"), "cite": f.cite or "", "title": f.title or "", "position": position,
            "text": None if text is None else str(text),
            "location": {"file": f.span.file, "line": f.span.line, "column": f.span.column},
        })
    for clauses in out.values():
        clauses.sort(key=lambda c: (article_key(c["cite"]), c["type"], c["id"]))
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _agreements(program, files: set[str]) -> list[dict]:
    out = []
    for f in sorted(program.facts, key=lambda f: f.id):
        if f.type != "agreement" or f.span is None or f.span.file not in files:
            continue
        v = f.values
        signed = v.get("signed")
        out.append({"id": f.id, "title": f.title or f.id, "kind": v.get("kind"),
                    "signed": signed.isoformat() if hasattr(signed, "isoformat") else signed,
                    "parties": [str(p) for p in (v.get("parties") or ())]})
    return out


def compare_many(paths: Sequence[str | Path], rulesets: Optional[Sequence[str]] = None, *,
                 with_paths: Sequence[str | Path] = (), as_of: Optional[dt.date] = None,
                 against: Optional[str | Path] = None) -> CompareResult:
    """Check every side with the same rulesets and reference facts (the rulesets parsed, checked
    and compiled once; each side's files read once) and line up their clauses by topic.
    ``against``: a model set; it becomes the first side (labelled ``model``) and every other side
    is compared with it."""
    from ..session import Rulesets, Session
    from .batch import set_name

    as_of = as_of or dt.date.today()
    rules = Rulesets(rulesets)
    all_paths = ([against] if against is not None else []) + list(paths)
    labels = ([MODEL] if against is not None else []) + side_labels(len(paths))
    order: dict[str, int] = {}
    sides = []
    program = None
    for label, path in zip(labels, all_paths):
        session = Session([path], with_paths=with_paths, rules=rules, as_of=as_of)
        side = Side(label, set_name(str(path)), session.report)
        p = session.program
        if not side.report.errors and p is not None:
            program = program or p
            for t in topic_members(p):
                order.setdefault(t, len(order))
            files = set(session.workspace.inputs)
            side.clauses = _clauses(p, files, order)
            side.agreements = _agreements(p, files)
        sides.append(side)
    kinds = {a["kind"] for s in sides for a in s.agreements}
    essential = [e for e in checklist(program) if e["kind"] in kinds] if program is not None else []
    used = {t for s in sides for t in s.clauses}
    topic_order = ordered_topics(program, essential, used) if program is not None else sorted(used)
    names = {t: topic_label(program, t) for t in set(topic_order) | {e["topic"] for e in essential}} \
        if program is not None else {}
    return CompareResult(sides, topic_order, names, essential, as_of, against is not None)


def compare_sets(a: str | Path, b: str | Path, rulesets: Optional[Sequence[str]] = None, *,
                 with_paths: Sequence[str | Path] = (), as_of: Optional[dt.date] = None) -> CompareResult:
    """Two sides: :func:`compare_many` of ``[a, b]``."""
    return compare_many([a, b], rulesets, with_paths=with_paths, as_of=as_of)
