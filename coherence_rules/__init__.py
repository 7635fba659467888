"""coherence: check migration policies for coherence.

Policy texts are encoded as facts, coherence criteria as rules; a forward-chaining engine reports
every conflict and synergy with a proof that leads back to the articles involved.

>>> import coherence_rules
>>> report = coherence_rules.check(["policies/mauritius"])       # doctest: +SKIP
>>> [f.criterion for f in report.findings]                        # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

import datetime as _dt
from pathlib import Path as _Path
from typing import Optional as _Optional, Sequence as _Sequence


def check(paths: _Sequence[str | _Path] | str | _Path, rulesets: _Optional[_Sequence[str]] = None, *,
          as_of: _Optional[_dt.date] = None, engine: str = "durable"):
    """Check a policy set (files or directories) against rulesets (default: the built-in ``core``).

    Returns a :class:`~coherence_rules.report.Report`: ``.findings``, ``.summary()``,
    ``.diagnostics``, ``.to_json()``, and an HTML view in notebooks.
    """
    from .pipeline import run_check

    if isinstance(paths, (str, _Path)):
        paths = [paths]
    return run_check(list(paths), rulesets, as_of=as_of, engine=engine)


def lint(paths: _Sequence[str | _Path] | str | _Path, rulesets: _Optional[_Sequence[str]] = None):
    """Parse and validate without running; returns a result with ``.diagnostics`` and ``.errors``."""
    from .pipeline import lint as _lint

    if isinstance(paths, (str, _Path)):
        paths = [paths]
    return _lint(list(paths), rulesets)


__all__ = ["check", "lint", "__version__"]
