"""Renderers: turn a report (the dict of docs/report-format.md) into text for people and tools."""

from __future__ import annotations


def signed(score: int) -> str:
    """A score as people read it: +2, 0, -1."""
    return f"+{score}" if score > 0 else str(score)


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``3 findings``, ``1 finding``; ``many`` when adding an s is wrong (synergies)."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"
