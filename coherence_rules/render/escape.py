"""What each output medium escapes of the text that came from input (titles, citations, article
texts, file names, messages built from them).

=============  ==========================================================================
medium         escaped
=============  ==========================================================================
terminal       control characters (C0 but newline and tab, DEL, C1), bidirectional
               overrides and isolates, line and paragraph separators: shown as ``\\x1b``,
               ``\\u202e``; the text output of every command, tables and Markdown included
Markdown       ``\\ ` * _ [ ] < > | ! ~ &`` by a backslash or an entity, a line start that
               would open a heading, list or quote; code spans fenced by more backticks
               than they hold; newlines inside a cell become spaces
CSV            a cell a spreadsheet would read as a formula gets a leading apostrophe
SARIF          file locations are percent-encoded URI references (spaces, ``#``, ``%``)
HTML           every value through Jinja2's autoescaping (see :mod:`.html`)
JSON           nothing is lost: what a terminal would act on is written as JSON's own
               ``\\u001b`` escapes, which read back as the same characters
=============  ==========================================================================
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import quote

#: What a terminal would act on: C0 controls but tab and newline, DEL and C1 controls, the
#: Arabic letter mark and the bidirectional marks, embeddings, overrides and isolates, and the
#: Unicode line and paragraph separators.
TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(m: re.Match) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(text: str) -> str:
    """``text`` with every character a terminal would act on shown as its escape (``\\x1b``),
    newlines and tabs kept."""
    return TERMINAL_CONTROLS.sub(_visible, text)


def has_terminal_controls(text: str) -> bool:
    return TERMINAL_CONTROLS.search(text) is not None


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|!~])")
_MD_LINE_START = re.compile(r"^(\s*)([#+\-=>]|\d+[.)])")


def markdown(text: str) -> str:
    """``text`` as literal Markdown inline text: no link, image, emphasis, HTML or table cell
    break can come from it."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text.replace("\r\n", " ").replace("\n", " ").replace("\r", " "))
    m = _MD_LINE_START.match(text)
    if m:  # `# x` would be a heading, `- x` a list item, `1. x` a numbered one: escape the mark
        at = m.end(1) if m.group(2)[0] in "#+-=>" else m.end(2) - 1
        text = text[:at] + "\\" + text[at:]
    return text


def markdown_code(text: str, *, in_table: bool = False) -> str:
    """``text`` as a Markdown code span, fenced by one backtick more than its longest run of
    backticks (backslashes do not escape inside a code span; in a table cell, GFM reads ``\\|``
    as the pipe)."""
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    if in_table:
        text = text.replace("|", "\\|")
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def csv_cell(value: str) -> str:
    """A cell that a spreadsheet would read as a formula, prefixed with an apostrophe."""
    if value and value[0] in "=+-@\t\r" and not _is_number(value):
        return "'" + value
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


def uri(path: str) -> str:
    """A file location of a report as a URI reference: a relative path percent-encoded, an
    absolute one as a ``file:`` URI."""
    posix = path.replace("\\", "/")
    if PurePosixPath(posix).is_absolute():
        return "file://" + quote(posix, safe="/")
    return quote(posix, safe="/")
