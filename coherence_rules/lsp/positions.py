"""Positions between coherence's spans and the Language Server Protocol's.

coherence counts lines from 1 and columns in code points from 1 (end columns exclusive); LSP
counts lines from 0 and characters in code units of the negotiated position encoding (UTF-16
unless the client offers another): a character outside the Basic Multilingual Plane (an emoji) is
two UTF-16 units, ``é`` is one UTF-16 unit but two UTF-8 units. Getting this wrong moves every
squiggle after the first non-ASCII character of a line.

Nothing here imports pygls, so the conversions are plain functions over text.
"""

from __future__ import annotations

import bisect
from typing import Optional

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def char_units(ch: str, encoding: str = UTF16) -> int:
    """How many code units of ``encoding`` one code point takes."""
    cp = ord(ch)
    if encoding == UTF32:
        return 1
    if encoding == UTF8:
        return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    return 2 if cp > 0xFFFF else 1


def units(text: str, encoding: str = UTF16) -> int:
    """The length of ``text`` in code units of ``encoding``."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    return sum(char_units(c, encoding) for c in text)


def column_to_units(line: str, column: int, encoding: str = UTF16) -> int:
    """The code-unit character offset of the 0-based code-point ``column`` of ``line`` (clamped to
    the line's end)."""
    column = max(0, min(column, len(line)))
    return units(line[:column], encoding)


def units_to_column(line: str, character: int, encoding: str = UTF16) -> int:
    """The 0-based code-point column of a code-unit ``character`` offset in ``line``. An offset in
    the middle of a character (half of a surrogate pair) counts as that character's start; an
    offset beyond the line's end is its end."""
    if encoding == UTF32 or line.isascii():
        return max(0, min(character, len(line)))
    seen = 0
    for i, ch in enumerate(line):
        width = char_units(ch, encoding)
        if seen + width > character:
            return i
        seen += width
    return len(line)


class LineIndex:
    """Lines of one text, to convert between offsets (code points into the text), coherence
    positions (1-based line and column) and LSP positions (0-based line, code units).

    Line breaks are ``\\n``, ``\\r\\n`` and ``\\r``, as for LSP clients and the loader (which turns
    CRLF and CR into LF before parsing, so its line numbers are the same)."""

    def __init__(self, text: str, encoding: str = UTF16):
        self.text = text
        self.encoding = encoding
        self.starts = [0]  # offset of each line's first character
        self.lines: list[str] = []
        i, n = 0, len(text)
        start = 0
        while i < n:
            ch = text[i]
            if ch == "\n" or ch == "\r":
                self.lines.append(text[start:i])
                if ch == "\r" and i + 1 < n and text[i + 1] == "\n":
                    i += 1
                start = i + 1
                self.starts.append(start)
            i += 1
        self.lines.append(text[start:])

    def line(self, index: int) -> str:
        """The text of the 0-based line ``index`` without its line break ('' beyond the end)."""
        return self.lines[index] if 0 <= index < len(self.lines) else ""

    # ---- LSP positions

    def offset(self, line: int, character: int) -> int:
        """The offset of an LSP position (clamped into the text)."""
        if line < 0:
            return 0
        if line >= len(self.lines):
            return len(self.text)
        return self.starts[line] + units_to_column(self.lines[line], character, self.encoding)

    def position(self, offset: int) -> tuple[int, int]:
        """The LSP ``(line, character)`` of an offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        col = min(offset - self.starts[line], len(self.lines[line]))
        return line, column_to_units(self.lines[line], col, self.encoding)

    def end(self) -> tuple[int, int]:
        """The LSP position of the end of the text."""
        last = len(self.lines) - 1
        return last, units(self.lines[last], self.encoding)

    # ---- coherence spans

    def span_position(self, line: int, column: int) -> tuple[int, int]:
        """The LSP ``(line, character)`` of a 1-based coherence line and code-point column."""
        index = max(line - 1, 0)
        if index >= len(self.lines):
            return self.end()
        return index, column_to_units(self.lines[index], max(column - 1, 0), self.encoding)

    def span_range(self, line: int, column: int, end_line: Optional[int] = None,
                   end_column: Optional[int] = None) -> tuple[tuple[int, int], tuple[int, int]]:
        """The LSP start and end of a coherence span; never empty when the line has text to cover
        (a zero-width range is invisible in most editors)."""
        start = self.span_position(line, column)
        if end_line is None or end_column is None or (end_line, end_column) <= (line, column):
            end_line, end_column = line, column + 1
        end = self.span_position(end_line, end_column)
        if end <= start:
            text = self.line(start[0])
            col = units_to_column(text, start[1], self.encoding)
            end = (start[0], column_to_units(text, col + 1, self.encoding))
        return start, end
