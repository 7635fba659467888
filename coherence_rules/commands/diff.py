"""``coherence diff``: what changed between two versions of a policy set.

Findings are matched by fingerprint (criterion code and the ids of the facts the finding is
about), so an amendment that keeps fact ids keeps its unchanged findings matched. Four sections:

- **new**: findings of the new version that the old one did not have;
- **resolved**: findings of the old version that the new one no longer has;
- **status changed**: findings of both whose status changed (accepted, expired, re-opened);
- **unchanged**: findings of both with the same status.

For every new or resolved finding, the fact edits behind it: the facts it rests on that were added,
removed, or whose fields changed (old and new values, both locations); for a status change, the
``accept`` that was added, removed or changed (or the date that passed). :func:`diff_sets` returns
a :class:`DiffResult`; its :meth:`~DiffResult.to_dict` is the ``coherence-diff/2`` document.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..checker.templates import show_raw
from ..findings.build import Finding, location_dict
from ..findings.report import Report, document_head, dump_json

SCHEMA = "coherence-diff/2"


@dataclass
class DiffResult:
    """Two versions' reports and the facts each was checked with."""

    old_name: str
    new_name: str
    old: Report
    new: Report
    as_of: dt.date
    old_facts: dict = field(default_factory=dict)  # id -> FactRecord, written facts of the old version
    new_facts: dict = field(default_factory=dict)

    @property
    def errors(self) -> list:
        return self.old.errors + self.new.errors

    def __repr__(self) -> str:
        n = {k: len(v) for k, v in self.sections().items()}
        return (f"<DiffResult {self.old_name} -> {self.new_name}: {n.get('new_findings', 0)} new, "
                f"{n.get('resolved', 0)} resolved, {n.get('status_changed', 0)} with a changed status, "
                f"{n.get('unchanged', 0)} unchanged>")

    def sections(self) -> dict[str, list[Finding]]:
        old = {f.fingerprint: f for f in self.old.findings}
        new = {f.fingerprint: f for f in self.new.findings}
        return {
            "new_findings": [f for f in self.new.findings if f.fingerprint not in old],
            "resolved": [f for f in self.old.findings if f.fingerprint not in new],
            "status_changed": [f for f in self.new.findings if f.fingerprint in old
                               and old[f.fingerprint].status != f.status],
            "unchanged": [f for f in self.new.findings if f.fingerprint in old
                          and old[f.fingerprint].status == f.status],
        }

    @property
    def new_findings(self) -> list[Finding]:
        return self.sections()["new_findings"]

    @property
    def resolved(self) -> list[Finding]:
        return self.sections()["resolved"]

    @property
    def unchanged(self) -> list[Finding]:
        return self.sections()["unchanged"]

    @property
    def status_changed(self) -> list[Finding]:
        return self.sections()["status_changed"]

    def failing(self, fail_on: int = -1) -> list[Finding]:
        """New open or expired findings scoring ``fail_on`` or lower, and findings re-opened or
        expired since the old version."""
        s = self.sections()
        changed = [f for f in s["status_changed"] if f.status in ("open", "expired")]
        return [f for f in s["new_findings"] + changed
                if f.status in ("open", "expired") and f.score < 0 and f.score <= fail_on]

    # ---- the edits behind a change

    def fact_edits(self, finding: Finding, resolved: bool) -> list[dict]:
        """The facts ``finding`` rests on that were added, removed or changed between the versions
        (for a resolved finding, the facts of the old version it rested on)."""
        out = []
        for fid in finding.rests_on:
            before, after = self.old_facts.get(fid), self.new_facts.get(fid)
            if before is None and after is None:
                continue
            if before is None:
                out.append(_edit(fid, "added", None, after))
            elif after is None:
                out.append(_edit(fid, "removed", before, None))
            else:
                fields = _changed_fields(before, after)
                if fields:
                    out.append(_edit(fid, "changed", before, after, fields))
        return out

    def acceptance_edit(self, finding: Finding) -> Optional[dict]:
        """What changed in the acceptance of a finding of both versions."""
        old = next((f for f in self.old.findings if f.fingerprint == finding.fingerprint), None)
        if old is None:
            return None
        a, b = old.acceptance, finding.acceptance

        def view(acc):
            return None if acc is None else {"reason": acc.reason, "until": acc.until.isoformat() if acc.until else None,
                                              "location": location_dict(acc.span)}
        if a is None and b is not None:
            change = "accept added"
        elif a is not None and b is None:
            change = "accept removed"
        elif a is not None and b is not None and (a.reason, a.until) != (b.reason, b.until):
            change = "accept changed"
        else:
            change = "date passed" if finding.status == "expired" else "status changed"
        return {"change": change, "old": view(a), "new": view(b), "was": old.status}

    # ---- the document

    def to_dict(self) -> dict:
        s = self.sections()

        def entries(key: str) -> list[dict]:
            out = []
            for f in s[key]:
                d = f.to_dict()
                if key in ("new_findings", "resolved"):
                    d["edits"] = self.fact_edits(f, key == "resolved")
                if key == "status_changed":
                    d["acceptance_change"] = self.acceptance_edit(f)
                out.append(d)
            return out

        return {
            **document_head(SCHEMA, self.as_of),
            "old": self.old_name,
            "new": self.new_name,
            "rulesets": [{"name": r.name, "title": r.title, "version": r.version} for r in self.new.rulesets],
            "summary": {
                "new_findings": len(s["new_findings"]), "resolved": len(s["resolved"]),
                "status_changed": len(s["status_changed"]), "unchanged": len(s["unchanged"]),
                "new_conflicts": sum(1 for f in s["new_findings"] if f.score < 0),
                "resolved_conflicts": sum(1 for f in s["resolved"] if f.score < 0),
                "old": self.old.summary(), "new": self.new.summary(),
            },
            "new_findings": entries("new_findings"),
            "resolved": entries("resolved"),
            "status_changed": entries("status_changed"),
            "unchanged": entries("unchanged"),
        }

    def to_json(self) -> str:
        return dump_json(self.to_dict())


def _changed_fields(before, after) -> list[dict]:
    out = []
    if (before.title or "") != (after.title or ""):
        out.append({"field": "title", "old": before.title, "new": after.title})
    for name in sorted(set(before.values) | set(after.values)):
        a, b = before.values.get(name), after.values.get(name)
        if a != b:
            out.append({"field": name, "old": None if a is None else show_raw(a),
                        "new": None if b is None else show_raw(b)})
    return out


def _edit(fid: str, change: str, before, after, fields: Optional[list[dict]] = None) -> dict:
    fact = after or before
    return {"fact": fid, "type": fact.type, "title": fact.title, "change": change, "fields": fields or [],
            "old_location": location_dict(before.span) if before is not None else None,
            "new_location": location_dict(after.span) if after is not None else None}


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
        report = session.report
        program = session.products.get("check")
        own = set(session.workspace.inputs) | set(session.workspace.references)
        facts = {f.id: f for f in program.facts if f.span is not None and f.span.file in own} if program else {}
        sides.append((" + ".join(set_name(str(p)) for p in paths), report, facts))
    (old_name, a, fa), (new_name, b, fb) = sides
    return DiffResult(old_name, new_name, a, b, as_of, fa, fb)
