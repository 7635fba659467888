"""coherence: check migration policies for coherence.

Policy texts are encoded as facts, coherence criteria as rules; a forward-chaining engine reports
every conflict and synergy with a proof that leads back to the articles involved.

>>> import coherence_rules
>>> report = coherence_rules.check(["policies/mauritius"])       # doctest: +SKIP
>>> [f.criterion for f in report.findings]                        # doctest: +SKIP

Every function here builds a :class:`~coherence_rules.session.Session`, the object that runs the
stages (parse, check, compile, run, findings, render) and keeps their products; use it directly to
stop at a stage or to read a product.
"""

from __future__ import annotations

__version__ = "0.2.0"

import datetime as _dt
from pathlib import Path as _Path
from typing import Optional as _Optional, Sequence as _Sequence, Union as _Union

Paths = _Union[str, _Path, _Sequence[_Union[str, _Path]]]
DateLike = _Union[_dt.date, str, None]


class CheckError(Exception):
    """A policy set that does not check (syntax, names, schema, or a run that stopped): nothing was
    run on it, or its run could not finish. ``diagnostics`` holds what the check found (each with
    its file, line and column), ``sources`` the texts they point into, for
    :func:`coherence_rules.diagnostics.render_all_text`."""

    def __init__(self, diagnostics: list, sources=None):
        first = next((d for d in diagnostics if d.is_error), None)
        where = f" ({first.span.file}:{first.span.line})" if first is not None and first.span else ""
        super().__init__((f"{first.code} {first.message}{where}" if first else "the policy set does not check")
                         + (f", and {len(diagnostics) - 1} more" if len(diagnostics) > 1 else ""))
        self.diagnostics = diagnostics
        self.sources = sources


def _paths(paths: Paths) -> list:
    return [paths] if isinstance(paths, (str, _Path)) else list(paths)


def as_date(value: DateLike, what: str = "as_of") -> _Optional[_dt.date]:
    """A reference date from a ``datetime.date`` or an ISO string (``"2026-11-23"``); None stays
    None (today). Anything else is a :class:`ValueError` that says what was expected."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{what} must be a date or an ISO date string (YYYY-MM-DD), not {value!r}") from None
    raise ValueError(f"{what} must be a date or an ISO date string (YYYY-MM-DD), not {type(value).__name__}")


def check(paths: Paths, rulesets: _Optional[_Sequence[str]] = None, *, with_: Paths = (),
          as_of: DateLike = None, engine: str = "durable", raise_on_error: bool = True):
    """Check a policy set (files or directories) against rulesets (default: the built-in ``core``),
    with the reference facts of ``with_`` joining it, on the reference date ``as_of`` (a date or an
    ISO string; default today).

    Returns a :class:`~coherence_rules.findings.report.Report`: ``.findings``, ``.summary()``,
    ``.diagnostics``, ``.to_json()``, and an HTML view in notebooks. A set that does not check
    raises :class:`CheckError` carrying its diagnostics; with ``raise_on_error=False`` the report
    is returned instead, with the diagnostics and no findings.
    """
    from .session import Session

    report = Session(_paths(paths), with_paths=_paths(with_), rulesets=rulesets, as_of=as_date(as_of),
                     engine=engine).report
    if raise_on_error and report.errors:
        raise CheckError(report.diagnostics, report.sources)
    return report


def lint(paths: Paths, rulesets: _Optional[_Sequence[str]] = None, *, with_: Paths = ()):
    """Parse and validate without running; returns a
    :class:`~coherence_rules.session.LintResult` with ``.diagnostics``, ``.errors`` and
    ``.warnings`` (lint never raises on bad input: reporting it is its job)."""
    from .session import Session, lint as _lint

    return _lint(Session(_paths(paths), with_paths=_paths(with_), rulesets=rulesets))


def diff(old: Paths, new: Paths, rulesets: _Optional[_Sequence[str]] = None, *, with_: Paths = (),
         as_of: DateLike = None):
    """What changed between two versions of a policy set (each a path or a list of paths):
    a :class:`~coherence_rules.commands.diff.DiffResult` with the findings new, resolved, whose
    status changed and unchanged, and the fact edits behind each (``.to_dict()`` is the
    ``coherence-diff/2`` document)."""
    from .commands.diff import diff_sets

    return diff_sets(_paths(old), _paths(new), rulesets, with_paths=_paths(with_), as_of=as_date(as_of))


def batch(sets: _Sequence[_Union[str, _Path]], rulesets: _Optional[_Sequence[str]] = None, *, with_: Paths = (),
          as_of: DateLike = None, jobs: _Optional[int] = None, store: _Optional[str] = None):
    """Check every path of ``sets`` as a policy set of its own, in parallel (``jobs`` processes),
    resumable through ``store`` (a SQLite file): a
    :class:`~coherence_rules.commands.batch.BatchResult` (``.to_dict()`` is ``coherence-batch/1``)."""
    from .commands.batch import run_batch

    return run_batch([str(s) for s in sets], rulesets, jobs=jobs, store=store, as_of=as_date(as_of),
                     with_paths=[str(p) for p in _paths(with_)])


__all__ = ["check", "lint", "diff", "batch", "as_date", "CheckError", "__version__"]
