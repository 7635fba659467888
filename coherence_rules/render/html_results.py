"""The view models of the batch and diff pages (``batch --format html``, ``diff --format html``),
built from the ``coherence-batch/1`` and ``coherence-diff/1`` dicts with the report's own pieces
(:mod:`.html`): a finding looks the same on every page."""

from __future__ import annotations

from typing import Iterable

from . import plural
from .html import (SCALE, STATUS_NAMES, STATUS_NOTES, _Anchors, _count, _diagnostics_view, _dict, _list, _score_view,
                   _summary_view, _text, finding_view, score_class, score_text)


def batch_view(batch: dict) -> dict:
    batch = batch if isinstance(batch, dict) else {}
    anchors = _Anchors()
    criteria = [_text(c) for c in _list(batch.get("criteria"))]
    sets = []
    set_anchor: dict[str, str] = {}
    first_finding: dict[tuple[str, str], str] = {}
    for entry in _list(batch.get("sets")):
        if not isinstance(entry, dict):
            continue
        name = _text(entry.get("name"))
        anchor = anchors.make("set", name)
        set_anchor.setdefault(name, anchor)
        findings = [
            finding_view(f, {}, anchors, prefix=anchor + "-f")
            for f in _list(entry.get("findings"))
            if isinstance(f, dict)
        ]
        for f in findings:
            first_finding.setdefault((name, f["criterion"]), f["anchor"])
        status = _text(entry.get("status")) or "ok"
        summary = _summary_view(_dict(entry.get("summary")))
        scores = [f["score"]["value"] for f in findings if f["score"]["value"] is not None]
        sets.append(
            {
                "name": name,
                "anchor": anchor,
                "status": status,
                "status_cls": status if status in ("ok", "failed") else "other",
                "summary": summary,
                "findings": findings,
                "count_text": plural(len(findings), "finding"),
                "worst": _score_view(min(scores)) if scores else None,
                "diagnostics": _diagnostics_view(entry.get("diagnostics")),
            }
        )
    rows = []
    for row in _list(batch.get("matrix")):
        if not isinstance(row, dict):
            continue
        name = _text(row.get("set"))
        cells = _dict(row.get("cells"))
        out = []
        for code in criteria:
            cell = cells.get(code)
            count = _count(cell.get("count")) if isinstance(cell, dict) else 0
            if not count:
                out.append(None)
                continue
            out.append(
                {
                    "count": count,
                    "worst": _score_view(cell.get("worst")),
                    "href": first_finding.get((name, code)) or set_anchor.get(name),
                    "code": code,
                }
            )
        rows.append({"set": name, "anchor": set_anchor.get(name), "cells": out})
    rulesets = []
    for r in _list(batch.get("ruleset")):
        if isinstance(r, dict):
            rulesets.append(
                {"name": _text(r.get("name")), "title": _text(r.get("title")), "version": _text(r.get("version"))}
            )
        else:
            rulesets.append({"name": _text(r), "title": "", "version": ""})
    failed = sum(1 for s in sets if s["status"] == "failed")
    return {
        "kind": "batch",
        "title": "Policy coherence: batch results",
        "rulesets": rulesets,
        "criteria": criteria,
        "sets": sets,
        "rows": rows,
        "counts": {
            "sets": len(sets),
            "failed": failed,
            "ok": len(sets) - failed,
            "findings": sum(len(s["findings"]) for s in sets),
            "conflicts": sum(1 for s in sets for f in s["findings"] if (f["score"]["value"] or 0) < 0),
            "synergies": sum(1 for s in sets for f in s["findings"] if (f["score"]["value"] or 0) > 0),
        },
        "scale": [
            {"text": score_text(s), "label": SCALE[s][0], "meaning": SCALE[s][1], "cls": score_class(s)}
            for s in range(-3, 4)
        ],
    }


def diff_view(diff: dict) -> dict:
    from .batch_text import edit_lines

    diff = diff if isinstance(diff, dict) else {}
    anchors = _Anchors()

    def section(key: str, prefix: str) -> list[dict]:
        out = []
        for f in _list(diff.get(key)):
            if not isinstance(f, dict):
                continue
            view = finding_view(f, {}, anchors, prefix=prefix)
            if key == "resolved":  # no longer found: its status in the old version does not apply
                view.update(status="resolved", status_name=STATUS_NAMES["resolved"], status_cls="resolved",
                            status_note=STATUS_NOTES["resolved"])
            change = _dict(f.get("acceptance_change"))
            if change.get("was"):
                view["status_name"] = f"{view['status_name']} (was {_text(change.get('was'))})"
            view["edits"] = [_text(line) for line in edit_lines(f)]
            out.append(view)
        return out

    new = section("new_findings", "new")
    resolved = section("resolved", "resolved")
    changed = section("status_changed", "changed")
    unchanged = section("unchanged", "unchanged")

    def conflicts(findings: Iterable[dict]) -> int:
        return sum(1 for f in findings if (f["score"]["value"] or 0) < 0)

    return {
        "kind": "diff",
        "title": "Policy coherence: what changed",
        "old": _text(diff.get("old")),
        "new": _text(diff.get("new")),
        "sections": [
            {"key": "new", "title": "New findings", "lead": "Found in the new version and not in the old one.",
             "findings": new, "conflicts": conflicts(new), "open": True},
            {"key": "resolved", "title": "Resolved findings",
             "lead": "Found in the old version and no longer in the new one.",
             "findings": resolved, "conflicts": conflicts(resolved), "open": True},
            {"key": "changed", "title": "Status changed",
             "lead": "Found in both versions, newly accepted, expired or re-opened.",
             "findings": changed, "conflicts": conflicts(changed), "open": True},
            {"key": "unchanged", "title": "Unchanged findings", "lead": "Found in both versions, with the same status.",
             "findings": unchanged, "conflicts": conflicts(unchanged), "open": False},
        ],
        "scale": [
            {"text": score_text(s), "label": SCALE[s][0], "meaning": SCALE[s][1], "cls": score_class(s)}
            for s in range(-3, 4)
        ],
    }
