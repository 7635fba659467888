"""The result of a check: findings, summary, interaction matrix, accepts, diagnostics.

``Report.to_dict()`` is the ``coherence-report/1`` JSON document (docs/report-format.md);
``to_json()`` serialises it deterministically (sorted keys, fixed list orders).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Optional

from .. import __version__
from ..checker.ir import RulesetInfo
from ..diagnostics import Diagnostic, SourceLines
from .build import Finding
from .frameworks import FrameworkIndex

SCHEMA = "coherence-report/1"

INDEX_FORMULA = ("the sum of the scores of the findings (conflicts accepted as trade-offs left out, and "
                 "synergies that a counteracting conflict on the same fact contests), divided by three times "
                 "their number.")
#: A conflict this bad on a fact contests a synergy on the same fact: the fact cannot count as
#: helping and as working against at once, so the synergy is shown and left out of the index.
CONTESTING_SCORE = -2


@dataclass
class Report:
    """What ``coherence check`` reports. Usable from Python and notebooks (``_repr_html_``)."""

    findings: list[Finding]
    facts: int
    derived_facts: int
    criteria_run: int
    as_of: dt.date
    rulesets: list[RulesetInfo]
    inputs: list[str]
    accepts: list[dict] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    instruments: dict[str, str] = field(default_factory=dict)  # id -> title
    sources: Optional[SourceLines] = None
    #: the files of the reference facts that joined the set (``--with``), not part of it
    references: list[str] = field(default_factory=list)
    #: what the policy set is: the title of its README or first heading (None when it has none),
    #: and its jurisdictions ``{"id", "title", "level"}``, the highest level first
    title: Optional[str] = None
    jurisdictions: list[dict] = field(default_factory=list)
    #: the SDG targets and GCM objectives the set's facts name (``sdg``, ``gcm``)
    framework_index: FrameworkIndex = field(default_factory=FrameworkIndex)

    # ---- views

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    def failing(self, fail_on: int) -> list[Finding]:
        """Open or expired findings scoring ``fail_on`` or lower (synergies never fail a run)."""
        return [f for f in self.findings if f.status in ("open", "expired") and f.score < 0 and f.score <= fail_on]

    def summary(self) -> dict:
        by_score = {str(s): 0 for s in range(-3, 4)}
        by_dim: dict[str, int] = {}
        status = {"open": 0, "accepted": 0, "expired": 0}
        for f in self.findings:
            by_score[str(f.score)] += 1
            by_dim[f.dimension] = by_dim.get(f.dimension, 0) + 1
            status[f.status] += 1
        contested = self.contested()
        counted = [f for f in self.findings
                   if not (f.status == "accepted" and f.score < 0) and f.fingerprint not in contested]
        index = round(sum(f.score for f in counted) / (3 * len(counted)), 4) if counted else None
        return {
            "facts": self.facts, "derived_facts": self.derived_facts, "criteria_run": self.criteria_run,
            "findings": len(self.findings), **status,
            "conflicts": sum(1 for f in self.findings if f.score < 0),
            "synergies": sum(1 for f in self.findings if f.score > 0),
            "contested_synergies": len(contested),
            "by_score": by_score, "by_dimension": dict(sorted(by_dim.items())),
            "coherence_index": index, "coherence_index_formula": INDEX_FORMULA,
        }

    def contested(self) -> dict[str, list[str]]:
        """The synergies that an open or expired conflict of score -2 or worse on one of the same
        facts contests (the same recruitment reported as a skills partnership and as a drain):
        fingerprint of the synergy -> fingerprints of the conflicts. Both are reported; the
        synergy is left out of the coherence index, which would otherwise net them out."""
        conflicts = [f for f in self.findings
                     if f.score <= CONTESTING_SCORE and f.status in ("open", "expired")]
        out: dict[str, list[str]] = {}
        for s in self.findings:
            if s.score <= 0:
                continue
            mine = set(s.facts)
            against = sorted(c.fingerprint for c in conflicts if mine & set(c.facts))
            if against:
                out[s.fingerprint] = against
        return out

    def matrix(self) -> dict:
        cells: dict[tuple[str, str], dict] = {}
        involved: set[str] = set()
        for f in self.findings:
            inst = f.instruments
            pairs = [(a, b) for i, a in enumerate(inst) for b in inst[i + 1:]] or [(a, a) for a in inst]
            for a, b in pairs:
                involved.update((a, b))
                c = cells.setdefault((a, b), {"a": a, "b": b, "worst": f.score, "best": f.score, "count": 0,
                                              "findings": []})
                c["worst"] = min(c["worst"], f.score)
                c["best"] = max(c["best"], f.score)
                c["count"] += 1
                c["findings"].append(f.fingerprint)
        ids = sorted(set(self.instruments) | involved)
        return {
            "instruments": [{"id": i, "title": self.instruments.get(i, i)} for i in ids],
            "cells": [cells[k] for k in sorted(cells)],
        }

    def frameworks(self) -> dict:
        """The view by global framework (see :mod:`.frameworks`)."""
        return self.framework_index.view(self.findings)

    def to_dict(self) -> dict:
        contested = self.contested()
        return {
            **document_head(SCHEMA, self.as_of),
            "rulesets": [{"name": r.name, "title": r.title, "version": r.version} for r in self.rulesets],
            "policy_set": {"title": self.title, "jurisdictions": self.jurisdictions},
            "inputs": sorted(self.inputs),
            "references": sorted(self.references),
            "summary": self.summary(),
            "matrix": self.matrix(),
            "frameworks": self.frameworks(),
            "findings": [{**f.to_dict(), "contested_by": contested.get(f.fingerprint, [])} for f in self.findings],
            "accepts": self.accepts,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }

    def to_json(self) -> str:
        return dump_json(self.to_dict())

    def source_texts(self) -> dict[str, str]:
        if self.sources is None:
            return {}
        return {f: self.sources.text(f) or "" for f in self.sources.files()}

    def _repr_html_(self) -> str:
        from ..render.html import render_html

        return render_html(self.to_dict(), self.source_texts())

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<Report {s['findings']} findings ({s['open']} open, {s['accepted']} accepted, "
                f"{s['expired']} expired) over {s['facts']} facts>")


def document_head(schema: str, as_of: dt.date) -> dict:
    """The fields every JSON document of coherence starts with: its schema, the tool, the date."""
    return {"schema": schema, "tool": {"name": "coherence", "version": __version__}, "as_of": as_of.isoformat()}


def dump_json(doc) -> str:
    """A JSON document as coherence writes every one: keys sorted, indented, text as is, one final
    newline, so the same input gives byte-identical output. What a terminal would act on is
    written as JSON's ``\\uXXXX`` escape (see :func:`json_escape_controls`), so the data read back
    are the same."""
    return json_text(doc) + "\n"


def json_text(value, depth: int = 0) -> str:
    """``value`` as :func:`dump_json` writes it, without the final newline; ``depth``: the nesting
    depth it has inside a larger document, whose text this is to be put in (a batch's entries,
    written by the workers)."""
    from ..jsontext import dumps
    from ..runtime import paused_gc

    with paused_gc():  # a batch's document is a million values, and encoding allocates no cycles
        return json_escape_controls(dumps(value, depth))


def json_escape_controls(text: str) -> str:
    """JSON text with the characters a terminal would act on (JSON itself escapes C0 controls:
    DEL, C1 controls, bidirectional controls, line and paragraph separators) written as
    ``\\uXXXX``, which any JSON reader decodes to the same character. Only valid inside strings:
    outside them, JSON text holds none of these characters."""
    from ..render.escape import TERMINAL_CONTROLS

    return TERMINAL_CONTROLS.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)

