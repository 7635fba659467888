"""``coherence diff``: findings new, resolved and unchanged between two versions of a policy set.

Findings are matched by fingerprint (criterion code and the ids of the facts bound to it), so an
amendment that keeps fact ids keeps its unchanged findings matched. :func:`diff_sets` returns a
:class:`DiffResult`; its :meth:`~DiffResult.to_dict` is the ``coherence-diff/1`` document.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..findings.report import Report, document_head, dump_json

SCHEMA = "coherence-diff/1"


@dataclass
class DiffResult:
    old_name: str
    new_name: str
    old: Report
    new: Report
    as_of: dt.date

    @property
    def errors(self) -> list:
        return self.old.errors + self.new.errors

    def _split(self) -> tuple[list, list, list]:
        old = {f.fingerprint: f for f in self.old.findings}
        new = {f.fingerprint: f for f in self.new.findings}
        added = [f for f in self.new.findings if f.fingerprint not in old]
        resolved = [f for f in self.old.findings if f.fingerprint not in new]
        unchanged = [f for f in self.new.findings if f.fingerprint in old]
        return added, resolved, unchanged

    @property
    def new_findings(self):
        return self._split()[0]

    @property
    def resolved(self):
        return self._split()[1]

    @property
    def unchanged(self):
        return self._split()[2]

    def status_changes(self) -> list[dict]:
        old = {f.fingerprint: f for f in self.old.findings}
        return [{"fingerprint": f.fingerprint, "criterion": f.criterion, "old": old[f.fingerprint].status,
                 "new": f.status}
                for f in self.unchanged if old[f.fingerprint].status != f.status]

    def failing(self, fail_on: int = -1) -> list:
        """New open or expired findings scoring ``fail_on`` or lower."""
        return [f for f in self.new_findings if f.status in ("open", "expired") and f.score < 0 and f.score <= fail_on]

    def to_dict(self) -> dict:
        added, resolved, unchanged = self._split()
        return {
            **document_head(SCHEMA, self.as_of),
            "old": self.old_name,
            "new": self.new_name,
            "rulesets": [{"name": r.name, "title": r.title, "version": r.version} for r in self.new.rulesets],
            "summary": {
                "new_findings": len(added), "resolved": len(resolved), "unchanged": len(unchanged),
                "new_conflicts": sum(1 for f in added if f.score < 0),
                "resolved_conflicts": sum(1 for f in resolved if f.score < 0),
                "old": self.old.summary(), "new": self.new.summary(),
            },
            "new_findings": [f.to_dict() for f in added],
            "resolved": [f.to_dict() for f in resolved],
            "unchanged": [f.to_dict() for f in unchanged],
            "status_changes": self.status_changes(),
        }

    def to_json(self) -> str:
        return dump_json(self.to_dict())


def diff_sets(old: str | Path | Sequence[str | Path], new: str | Path | Sequence[str | Path],
              rulesets: Optional[Sequence[str]] = None, *, with_paths: Sequence[str | Path] = (),
              as_of: Optional[dt.date] = None, max_derived: Optional[int] = None) -> DiffResult:
    """Check both versions (each a path, or a list of paths) with the same rulesets, reference
    facts and reference date, and match their findings."""
    from ..session import Rulesets, Session
    from .batch import set_name

    as_of = as_of or dt.date.today()
    rules = Rulesets(rulesets)
    sides = []
    for version in (old, new):
        paths = [version] if isinstance(version, (str, Path)) else list(version)
        session = Session(paths, with_paths=with_paths, rules=rules, as_of=as_of, max_derived=max_derived)
        sides.append((" + ".join(set_name(str(p)) for p in paths), session.report))
    (old_name, a), (new_name, b) = sides
    return DiffResult(old_name, new_name, a, b, as_of)
