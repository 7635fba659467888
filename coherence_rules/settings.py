"""Settings from ``coherence.toml`` or the ``[tool.coherence]`` table of ``pyproject.toml``.

The first of the two found in the working directory or its parents is used. Known keys, each the
default of the command-line option of the same name (options always win):

=============  ===============  ==============================================================
key            type             meaning
=============  ===============  ==============================================================
ruleset        string or list   ``--ruleset``: rulesets to run (names or paths)
with           string or list   ``--with``: reference facts that join every policy set
format         string           ``--format`` of ``check`` (and of ``batch`` where it has it)
fail_on        integer -3..0    ``--fail-on``
as_of          date             ``--as-of``
max_derived    integer >= 1     ``--max-derived``
=============  ===============  ==============================================================

Keys may be written with ``-`` or ``_``. An unknown key, a value of the wrong type or an invalid
date is bad input (:class:`SettingsError`, exit 2), never ignored. The table is validated by
hand rather than by a schema library: this runs at the start of every command.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional


class SettingsError(Exception):
    """The settings file cannot be read or holds something invalid; the message names the file."""


@dataclass
class Settings:
    """The validated settings (None or empty: not set)."""

    ruleset: list[str] = field(default_factory=list)
    with_: list[str] = field(default_factory=list)
    format: Optional[str] = None
    fail_on: Optional[int] = None
    as_of: Optional[dt.date] = None
    max_derived: Optional[int] = None
    origin: Optional[str] = None  # the file they came from


_KEYS = ("ruleset", "with", "format", "fail_on", "as_of", "max_derived")


def find_settings(start: Optional[Path] = None) -> tuple[dict, Optional[str]]:
    """The raw settings table and the file it came from (``({}, None)`` when there is none)."""
    here = (start or Path.cwd()).resolve()
    for d in [here, *here.parents]:
        for name in ("coherence.toml", "pyproject.toml"):
            p = d / name
            if not p.is_file():
                continue
            import tomllib  # only when there is a file to read (3 ms)

            try:
                data = tomllib.loads(p.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as e:
                raise SettingsError(f"{p}: cannot read settings: {e}") from None
            if name == "pyproject.toml":
                data = data.get("tool", {}).get("coherence")
                if data is None:
                    continue
                if not isinstance(data, dict):
                    raise SettingsError(f"{p}: [tool.coherence] must be a table")
            return data, str(p)
    return {}, None


def load_settings(start: Optional[Path] = None) -> Settings:
    """The validated settings found from ``start`` (the working directory)."""
    data, origin = find_settings(start)
    s = Settings(origin=origin)
    for raw, value in data.items():
        key = raw.replace("-", "_")
        if key not in _KEYS:
            raise SettingsError(f"{origin}: unknown setting '{raw}' (known: {', '.join(sorted(_KEYS))})")
        if key in ("ruleset", "with"):
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                raise SettingsError(f"{origin}: setting '{raw}' must be a string or a list of strings")
            setattr(s, "with_" if key == "with" else key, list(items))
        elif key == "format":
            _expect(value, str, raw, origin, "a string")
            s.format = value
        elif key == "fail_on":
            _expect(value, int, raw, origin, "an integer from -3 to 0")
            if not -3 <= value <= 0:
                raise SettingsError(f"{origin}: setting '{raw}' must be an integer from -3 to 0")
            s.fail_on = value
        elif key == "max_derived":
            _expect(value, int, raw, origin, "a positive integer")
            if value < 1:
                raise SettingsError(f"{origin}: setting '{raw}' must be a positive integer")
            s.max_derived = value
        else:  # as_of: a TOML date or an ISO string
            if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                s.as_of = value
            elif isinstance(value, str):
                try:
                    s.as_of = dt.date.fromisoformat(value)
                except ValueError:
                    raise SettingsError(f"{origin}: setting '{raw}': invalid date '{value}' (expected YYYY-MM-DD)") from None
            else:
                raise SettingsError(f"{origin}: setting '{raw}' must be a date (YYYY-MM-DD)")
    return s


def _expect(value: Any, kind: type, raw: str, origin: Optional[str], what: str) -> None:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SettingsError(f"{origin}: setting '{raw}' must be {what}")
