"""The topic view of a batch (``coherence batch SET... --view topics``): agreements x topics.

One row per agreement, one column per topic, each cell the articles (the ``cite`` of the clauses)
that cover the topic. The checklist's topics come first (the ``essential_topic`` facts of the
rulesets, for the agreement kinds present, in the order the rulesets declare them), then every
other topic a clause uses, in the ``topic`` enum's order. :func:`topics_document` builds the
``coherence-topics/1`` document (docs/report-format.md) from a batch result.

The per-set part, :func:`set_agreements`, runs in the batch worker next to the set's check, so its
result travels in the set's entry (and in the result store) like the findings; the document is
put together from the entries afterwards, so it is the same bytes whatever ``--jobs``, the
scheduler or the store.

:func:`article_key` orders citations as a reader does: ``Art. 3`` before ``Art. 17``,
``Art. 3bis`` after ``Art. 3``, protocols, annexes and notes after the articles.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

from ..findings.report import document_head, dump_json

if TYPE_CHECKING:
    from .batch import BatchResult

SCHEMA = "coherence-topics/1"

#: A ``provision`` that is a position: one snake_case word (anything else is prose).
_POSITION = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*\Z")


def is_position(value: Any) -> bool:
    """Whether a ``provision`` value is a position (one snake_case word), as compare lines them up."""
    return isinstance(value, str) and bool(_POSITION.match(value))


# ---- article order ----------------------------------------------------------------------------------------------

#: Latin ordinal suffixes of inserted articles (3bis, 3ter, ...), by rank after the plain number.
_SUFFIXES = {"bis": 2, "ter": 3, "quater": 4, "quinquies": 5, "sexies": 6, "septies": 7, "octies": 8,
             "novies": 9, "decies": 10}
_MAIN = re.compile(r"\s*(?P<kind>art(?:icle)?s?\.?|points?)\s*(?P<num>\d+)\s*(?P<suffix>[a-z]*)(?P<rest>.*)\Z",
                   re.IGNORECASE | re.DOTALL)
_ROMAN = re.compile(r"[IVXLC]+\Z")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}


def _roman(token: str) -> int:
    total = 0
    for i, ch in enumerate(token):
        value = _ROMAN_VALUES[ch]
        total += -value if i + 1 < len(token) and _ROMAN_VALUES[token[i + 1]] > value else value
    return total


def _suffix_rank(suffix: str) -> tuple[int, str]:
    """Where ``3<suffix>`` goes after ``3``: letters (3a, 3b) by the alphabet, Latin ordinals by
    rank (3bis, 3ter)."""
    s = suffix.lower()
    if not s:
        return (0, "")
    if s in _SUFFIXES:
        return (_SUFFIXES[s], s)
    return (ord(s[0]) - 96 if len(s) == 1 else 99, s)


def _tokens(text: str) -> tuple:
    """The numbering in the rest of a citation (``(2)-(4)``, ``(1)(b)``, ``point 3(a)``, ``III``) as
    a sort key: numbers and Roman numerals by value, single letters by the alphabet; words such as
    ``point`` are skipped."""
    out: list[tuple] = []
    for tok in re.findall(r"\d+|[A-Za-z]+", text):
        if tok.isdigit():
            out.append((0, int(tok), ""))
        elif _ROMAN.match(tok):
            out.append((0, _roman(tok), ""))
        elif len(tok) == 1:
            out.append((1, 0, tok.lower()))
    return tuple(out)


def _part_rank(part: str) -> int:
    """The order of the parts after the body: protocols, annexes, other instruments, notes."""
    p = part.lower()
    if "protocol" in p:
        return 0
    if "annex" in p:
        return 1
    if "note" in p:
        return 3
    return 2


def article_key(cite: Optional[str]) -> tuple:
    """A sort key for a citation in article order: the body's articles by number (``Art. 3`` <
    ``Art. 3(2)`` < ``Art. 3bis`` < ``Art. 17``), then the body's points (an exchange of notes
    numbered by points), then protocols, annexes, other instruments and notes (each by its own
    numbering), then anything else by its text. The citation itself breaks ties."""
    cite = (cite or "").strip()
    m = _MAIN.match(cite)
    if m:
        group = 1 if m.group("kind").lower().startswith("point") else 0
        return (group, int(m.group("num")), _suffix_rank(m.group("suffix")), _tokens(m.group("rest")), cite)
    part, sep, rest = cite.partition(",")
    if sep and part.strip():
        part_words = part.strip()
        # "Protocol I": the part's own number belongs to the part, not to the point inside it
        name, _, own = part_words.rpartition(" ")
        if own and (own.isdigit() or _ROMAN.match(own)):
            return (2, _part_rank(name), name.lower(), _tokens(own), _tokens(rest), cite)
        return (2, _part_rank(part_words), part_words.lower(), (), _tokens(rest), cite)
    return (3, 0, (0, ""), _tokens(cite), cite)


def sort_cites(cites: Iterable[str]) -> list[str]:
    """Distinct citations in article order."""
    return sorted(set(cites), key=article_key)


# ---- one set: its agreements and their clauses ------------------------------------------------------------------


def _iso(value: Any) -> Optional[str]:
    return value.isoformat() if hasattr(value, "isoformat") else (None if value is None else str(value))


def _str(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def topic_members(program) -> list[str]:
    """The ``topic`` enum's members in the order the vocabulary declares them."""
    enum = program.schema.enums.get("topic") if program is not None else None
    return list(enum.members) if enum is not None else []


def set_agreements(program, files: Iterable[str]) -> list[dict]:
    """The agreements written in ``files`` (a set's own inputs, not its references), each with its
    clauses: plain JSON data (what a batch entry carries under ``agreements``).

    Each agreement is ``{"id", "title", "kind", "parties", "signed", "cite", "location",
    "clauses"}``; each clause ``{"id", "topic", "cite", "title", "provision", "text", "party",
    "location"}``, sorted in article order (then by topic, in the enum's order, then by id). A
    clause whose agreement is not written in the set is left out."""
    own = set(files)
    order = {t: i for i, t in enumerate(topic_members(program))}
    agreements: dict[str, dict] = {}
    clauses: list = []
    for f in program.facts:
        if f.span is None or f.span.file not in own:
            continue
        if f.type == "agreement":
            v = f.values
            parties = v.get("parties") or ()
            agreements[f.id] = {
                "id": f.id, "title": f.title or f.id, "kind": _str(v.get("kind")),
                "parties": [str(p) for p in (parties if isinstance(parties, (list, tuple)) else [parties])],
                "signed": _iso(v.get("signed")), "cite": f.cite or None,
                "location": {"file": f.span.file, "line": f.span.line, "column": f.span.column},
                "clauses": [],
            }
        elif f.type == "clause" and isinstance(f.values.get("topic"), str):
            clauses.append(f)
    for f in clauses:
        agreement = agreements.get(str(f.values.get("agreement")))
        if agreement is None:
            continue
        v = f.values
        agreement["clauses"].append({
            "id": f.id, "topic": v["topic"], "cite": f.cite or "", "title": f.title or "",
            "provision": _str(v.get("provision")), "text": _str(v.get("text")), "party": _str(v.get("party")),
            "location": {"file": f.span.file, "line": f.span.line, "column": f.span.column},
        })
    for a in agreements.values():
        a["clauses"].sort(key=lambda c: (article_key(c["cite"]), order.get(c["topic"], len(order)), c["topic"],
                                         c["id"]))
    return [agreements[k] for k in sorted(agreements)]


def clause_cite(clause: dict) -> str:
    """How a clause is cited in a cell: its ``cite``, or its id when it has none."""
    return clause.get("cite") or clause["id"]


# ---- the checklist ----------------------------------------------------------------------------------------------


def checklist(program) -> list[dict]:
    """The ``essential_topic`` facts of the rulesets, in the order they are declared:
    ``{"kind", "topic", "cite", "title"}``."""
    out = []
    for f in program.facts:
        if f.type == "essential_topic" and isinstance(f.values.get("topic"), str):
            out.append({"kind": _str(f.values.get("kind")), "topic": f.values["topic"], "cite": f.cite or None,
                        "title": f.title or None})
    return out


def checklist_kinds(essential: Iterable[dict]) -> dict[str, list[str]]:
    """Topic -> the agreement kinds whose checklist lists it (in the checklist's order)."""
    out: dict[str, list[str]] = {}
    for e in essential:
        kinds = out.setdefault(e["topic"], [])
        if e["kind"] not in kinds:
            kinds.append(e["kind"])
    return out


def ordered_topics(program, essential: Sequence[dict], used: Iterable[str]) -> list[str]:
    """The columns (or rows) of a topic view: the topics of ``essential`` (checklist entries, in
    their order), then the other topics in ``used``, in the ``topic`` enum's order (members a set
    adds to the open enum last, by name)."""
    order = {t: i for i, t in enumerate(topic_members(program))}
    first: list[str] = []
    for e in essential:
        if e["topic"] not in first:
            first.append(e["topic"])
    return first + sorted(set(used) - set(first), key=lambda t: (order.get(t, len(order)), t))


def topic_label(program, topic: str) -> str:
    """The label the vocabulary gives a topic (the member itself when it has none)."""
    enum = program.schema.enums.get("topic") if program is not None else None
    label = enum.label(topic) if enum is not None and topic in enum.members else None
    return label or topic


def kind_label(program, kind: Optional[str]) -> str:
    enum = program.schema.enums.get("agreement_kind") if program is not None else None
    label = enum.label(kind) if enum is not None and kind in enum.members else None
    return label or (kind or "")


# ---- the document -----------------------------------------------------------------------------------------------


def _error_lines(entry: dict) -> list[str]:
    out = []
    for d in entry.get("diagnostics", ()):
        if d.get("severity") != "error":
            continue
        where = f"{d['file']}:{d['line']}:{d['column']}: " if d.get("file") and d.get("line") else (
            f"{d['file']}: " if d.get("file") else "")
        out.append(f"{d['code']} {where}{d['message']}")
    return out


def topics_document(result: "BatchResult", rulesets: Optional[Sequence[str]] = None) -> dict:
    """The ``coherence-topics/1`` document of a batch result checked with ``rulesets`` (the same
    names as given to :func:`~.batch.run_batch`; their checklist and vocabulary order the columns)."""
    from .batch import shared_rulesets

    program = shared_rulesets(None if rulesets is None else list(rulesets)).alone().program

    rows: list[dict] = []
    for entry in result.sets:
        base = {"set": entry["name"], "agreement": None, "title": None, "parties": [], "signed": None, "kind": None,
                "status": entry["status"], "cells": {}, "coverage": None, "clauses": [], "errors": []}
        if entry["status"] != "ok":
            rows.append({**base, "errors": _error_lines(entry)})
            continue
        agreements = entry.get("agreements") or []
        if not agreements:
            rows.append(base)
            continue
        for a in agreements:
            cells: dict[str, list[str]] = {}
            for c in a["clauses"]:
                cells.setdefault(c["topic"], []).append(clause_cite(c))
            rows.append({**base, "agreement": a["id"], "title": a["title"], "parties": list(a["parties"]),
                         "signed": a["signed"], "kind": a["kind"],
                         "cells": {t: sort_cites(cs) for t, cs in sorted(cells.items())},
                         "clauses": [{k: c[k] for k in ("id", "topic", "cite", "title", "provision", "text")}
                                     for c in a["clauses"]]})

    agreement_rows = [r for r in rows if r["agreement"] is not None]
    kinds = {r["kind"] for r in agreement_rows}
    essential = [e for e in checklist(program) if e["kind"] in kinds]
    kinds_of = checklist_kinds(essential)
    topics = ordered_topics(program, essential, {t for r in agreement_rows for t in r["cells"]})

    by_kind: dict[str, list[str]] = {}
    for e in essential:
        by_kind.setdefault(e["kind"], []).append(e["topic"])
    for r in agreement_rows:
        listed = by_kind.get(r["kind"], [])
        r["coverage"] = {"covered": sum(1 for t in listed if t in r["cells"]), "of": len(listed)}

    totals = {}
    for t in topics:
        expected_kinds = kinds_of.get(t, [])
        expected = [r for r in agreement_rows if not expected_kinds or r["kind"] in expected_kinds]
        others = [r for r in agreement_rows if expected_kinds and r["kind"] not in expected_kinds]
        totals[t] = {"covered": sum(1 for r in expected if t in r["cells"]), "of": len(expected),
                     "kinds": list(expected_kinds), "others": sum(1 for r in others if t in r["cells"])}

    failed = sum(1 for r in rows if r["status"] != "ok")
    return {
        **document_head(SCHEMA, result.as_of),
        "ruleset": result.rulesets,
        "topics": topics,
        "topic_labels": {t: topic_label(program, t) for t in topics},
        "kind_labels": {k: kind_label(program, k) for k in sorted(k for k in kinds if k)},
        "checklist": essential,
        "rows": rows,
        "totals": totals,
        "summary": {"sets": len(result.sets), "agreements": len(agreement_rows), "failed": failed},
    }


def topics_json(doc: dict) -> str:
    """The document as coherence writes JSON: sorted keys, the same bytes for the same input."""
    return dump_json(doc)
