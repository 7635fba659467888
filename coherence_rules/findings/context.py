"""The text around a fact, for people reading a finding: the legal text a fact encodes.

In a Markdown source, a fact sits in a fenced ``policy`` block under the prose it encodes: its
context is that prose (the heading of its section and every paragraph between the heading, or
the previous block, and the block's opening fence). In a ``.policy`` or ``.rules`` file the fact is
its own text: its context is the fact whole, from its header to its closing brace. A CSV row is
its own line. Never a window of lines cut in the middle of a block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s")


@dataclass(frozen=True)
class Context:
    """What to show next to a fact: ``kind`` is ``prose`` (the Markdown text it encodes) or
    ``fact`` (the fact as written); ``lines`` are ``(line number, text)`` pairs; ``heading`` the
    section heading of prose, without its ``#`` marks."""

    kind: str
    lines: tuple[tuple[int, str], ...]
    heading: Optional[str] = None

    @property
    def text(self) -> str:
        return "\n".join(t for _, t in self.lines)


def fact_context(text: Optional[str], file: str, line: Optional[int]) -> Optional[Context]:
    """The context of the fact whose header is on ``line`` (1-based) of ``text``, or None."""
    if text is None or line is None:
        return None
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    if file.endswith(".md"):
        return _prose(lines, line - 1)
    if file.endswith(".csv"):
        return Context("fact", ((line, lines[line - 1]),))
    return _whole_fact(lines, line - 1)


def _prose(lines: list[str], at: int) -> Optional[Context]:
    """The prose above the fenced block holding line index ``at``."""
    fence = None
    inside = False
    opened = None
    for i in range(0, at + 1):  # find the fence opening the block that holds `at`
        if _FENCE.match(lines[i]):
            inside = not inside
            opened = i if inside else None
    if not inside or opened is None:
        return None
    fence = opened
    start = fence
    while start > 0:
        prev = lines[start - 1]
        if _FENCE.match(prev):
            break  # the end of the previous block
        start -= 1
        if _HEADING.match(prev):
            break
    chunk = [(i + 1, lines[i].rstrip()) for i in range(start, fence)]
    heading = None
    if chunk and _HEADING.match(chunk[0][1]):
        heading = chunk[0][1].lstrip(" #").strip()
        chunk = chunk[1:]
    while chunk and not chunk[0][1].strip():
        chunk = chunk[1:]
    while chunk and not chunk[-1][1].strip():
        chunk = chunk[:-1]
    if not chunk and heading is None:
        return None
    return Context("prose", tuple(chunk), heading)


def _whole_fact(lines: list[str], at: int) -> Context:
    """The fact whose header starts on line index ``at``: up to its closing brace (strings and
    comments skipped), at most 60 lines."""
    depth = 0
    seen_open = False
    out = []
    for i in range(at, min(len(lines), at + 60)):
        out.append((i + 1, lines[i].rstrip()))
        in_string = False
        escaped = False
        for ch in lines[i]:
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
                continue
            if ch == '"':
                in_string = True
            elif ch == "#":
                break
            elif ch == "{":
                depth += 1
                seen_open = True
            elif ch == "}":
                depth -= 1
        if seen_open and depth <= 0:
            break
    return Context("fact", tuple(out))
