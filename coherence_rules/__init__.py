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

__version__ = "0.1.0"

import datetime as _dt
from pathlib import Path as _Path
from typing import Optional as _Optional, Sequence as _Sequence


def _paths(paths) -> list:
    return [paths] if isinstance(paths, (str, _Path)) else list(paths)


def check(paths: _Sequence[str | _Path] | str | _Path, rulesets: _Optional[_Sequence[str]] = None, *,
          with_: _Sequence[str | _Path] = (), as_of: _Optional[_dt.date] = None, engine: str = "durable"):
    """Check a policy set (files or directories) against rulesets (default: the built-in ``core``),
    with the reference facts of ``with_`` joining it.

    Returns a :class:`~coherence_rules.findings.report.Report`: ``.findings``, ``.summary()``,
    ``.diagnostics``, ``.to_json()``, and an HTML view in notebooks.
    """
    from .session import Session

    return Session(_paths(paths), with_paths=_paths(with_), rulesets=rulesets, as_of=as_of, engine=engine).report


def lint(paths: _Sequence[str | _Path] | str | _Path, rulesets: _Optional[_Sequence[str]] = None, *,
         with_: _Sequence[str | _Path] = ()):
    """Parse and validate without running; returns a result with ``.diagnostics`` and ``.errors``."""
    from .session import Session, lint as _lint

    return _lint(Session(_paths(paths), with_paths=_paths(with_), rulesets=rulesets))


__all__ = ["check", "lint", "__version__"]
