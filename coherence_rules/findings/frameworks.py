"""The report's view by global framework: the SDG targets and GCM objectives a policy set names
(the ``sdg`` and ``gcm`` fields of its objectives and measures), the findings that involve a fact
serving each, and the interactions between targets in the manner of SEI's SDG Synergies: for each
pair of targets, the worst and the best score of the findings between a fact serving one and
another fact serving the other.

The view reads only the set's own written facts (``Finding.facts``); a target the set names but no
finding involves is listed with no findings, so a drafter sees what the set serves as well as
where it conflicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The reference types of the frameworks, in the order the view lists them, and their names.
FRAMEWORKS = {"sdg_target": "SDG", "gcm_objective": "GCM"}
#: The fields of objectives and measures that name what they serve.
SERVES_FIELDS = ("sdg", "gcm")


@dataclass
class FrameworkIndex:
    """What the facts of a policy set serve: fact id -> the target ids it names, and each named
    target's framework and title."""

    serves: dict[str, list[str]] = field(default_factory=dict)
    targets: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def of(cls, facts, own: set) -> "FrameworkIndex":
        by_id = {f.id: f for f in facts}
        index = cls()
        for f in facts:
            if f.span is None or f.span.file not in own:
                continue
            named: list[str] = []
            for fname in SERVES_FIELDS:
                value = f.values.get(fname)
                if isinstance(value, (list, tuple)):
                    named += [v for v in value if isinstance(v, str)]
            if not named:
                continue
            index.serves[f.id] = sorted(set(named), key=target_key)
            for t in named:
                ref = by_id.get(t)
                kind = FRAMEWORKS.get(ref.type, "") if ref is not None else ""
                index.targets[t] = {"id": t, "framework": kind or t.split("-", 1)[0],
                                    "title": (ref.title if ref is not None else None) or t}
        return index

    def view(self, findings) -> dict:
        """The ``frameworks`` section of the report: ``targets`` (each with the facts serving it,
        the findings involving them and their worst and best score) and ``interactions``."""
        rows = {t: {**info, "facts": [], "findings": [], "worst": None, "best": None}
                for t, info in self.targets.items()}
        for fid, targets in self.serves.items():
            for t in targets:
                rows[t]["facts"].append(fid)
        cells: dict[tuple[str, str], dict] = {}
        for f in findings:
            serving = [(fid, t) for fid in f.facts for t in self.serves.get(fid, ())]
            for t in sorted({t for _, t in serving}, key=target_key):
                _score(rows[t], f)
            pairs = {tuple(sorted((ta, tb), key=target_key))
                     for fa, ta in serving for fb, tb in serving if fa != fb}
            for a, b in pairs:
                cell = cells.setdefault((a, b), {"a": a, "b": b, "findings": [], "worst": None, "best": None})
                _score(cell, f)
        order = sorted(rows, key=target_key)
        for r in rows.values():
            r["facts"].sort()
        return {
            "targets": [rows[t] for t in order],
            "interactions": [cells[k] for k in sorted(cells, key=lambda k: (target_key(k[0]), target_key(k[1])))],
        }


def _score(entry: dict, finding) -> None:
    if finding.fingerprint in entry["findings"]:
        return
    entry["findings"].append(finding.fingerprint)
    entry["worst"] = finding.score if entry["worst"] is None else min(entry["worst"], finding.score)
    entry["best"] = finding.score if entry["best"] is None else max(entry["best"], finding.score)


_ORDER = {name: i for i, name in enumerate(FRAMEWORKS.values())}


def target_key(target: str) -> tuple:
    """SDG targets before GCM objectives, then in their own numbering: SDG-3.9 < SDG-3.c <
    SDG-10.7; GCM-2 < GCM-18."""
    prefix, _, rest = target.partition("-")
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.]", rest))
    return (_ORDER.get(prefix, len(_ORDER)), prefix, parts)
