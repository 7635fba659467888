"""Formatting whole files and paths (``coherence fmt``): ``.policy`` and ``.rules`` files through
:func:`~coherence_rules.syntax.fmt.format_source`, Markdown by its fenced blocks (the prose byte for
byte), each file keeping its byte-order mark and line ends; writing through
:func:`coherence_rules.files.write_text_atomically`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from ..diagnostics import Diagnostic, SourceLines
from . import ast as A
from .fmt import format_source

_BOM = "\ufeff"
_LINE_END = re.compile(r"\r\n|\r|\n")


def _lines(text: str) -> tuple[list[str], list[str]]:
    """The lines of ``text`` and the line end after each (``""`` after the last), so that
    ``"".join(l + e for l, e in zip(*_lines(t))) == t``. The lines are those the readers see:
    they end lines at CRLF, LF and a lone CR alike (:func:`~coherence_rules.sources.loader.read_text`)."""
    parts = _LINE_END.split(text)
    ends = _LINE_END.findall(text)
    return parts, ends + [""]


def _keepends(text: str) -> list[str]:
    """The lines of ``text`` with their line ends (for a diff)."""
    return [ln + e for ln, e in zip(*_lines(text)) if ln or e]


def _line_end(text: str) -> str:
    """The line end a formatted ``.policy``/``.rules`` file is written with: CRLF when its first
    line ends with CRLF, LF otherwise."""
    m = _LINE_END.search(text)
    return "\r\n" if m is not None and m.group(0) == "\r\n" else "\n"


def format_markdown(text: str, file: str) -> tuple[Optional[str], list[Diagnostic]]:
    """Format the fenced ``policy``/``rules`` blocks of a Markdown text; prose stays byte for byte,
    line ends included. The lines of a formatted block end like the line of its opening fence."""
    from ..sources.loader import markdown_blocks

    lines, ends = _lines(text)
    diags: list[Diagnostic] = []
    replacements = []
    for kind, first, block in markdown_blocks("\n".join(lines)):
        if not block.strip():
            continue
        n = block.count("\n") + 1
        formatted, d = format_source(block, file, kind=kind, line_offset=first)
        if formatted is None:
            diags += d
            continue
        fence = lines[first - 1] if first >= 1 else ""
        eol = "\r\n" if first >= 1 and ends[first - 1] == "\r\n" else "\n"
        pad = fence[: len(fence) - len(fence.lstrip(" "))]
        new = [(pad + ln) if ln else ln for ln in formatted.rstrip("\n").split("\n")] if formatted else []
        new_ends = [eol] * len(new)
        if first + n == len(lines):  # an unclosed block running to the end of the file
            if lines[-1] == "":
                new.append("")  # keeps the final line end
                new_ends.append("")
            elif new_ends:
                new_ends[-1] = ""
        replacements.append((first, n, new, new_ends))
    if diags:
        return None, diags
    for first, n, new, new_ends in reversed(replacements):
        lines[first:first + n] = new
        ends[first:first + n] = new_ends
    return "".join(ln + e for ln, e in zip(lines, ends)), []


def format_file_text(text: str, file: str) -> tuple[Optional[str], list[Diagnostic]]:
    """Format a file's text according to its extension: `.policy` and `.rules` whole, `.md` only its
    fenced blocks, `.csv` unchanged (inventories are not formatted).

    ``text`` is the file's text as stored (``format_paths`` decodes the bytes without touching line
    ends); the result keeps its byte-order mark and its line ends: a `.policy`/`.rules` file whose
    first line ends with CRLF is written with CRLF throughout, LF otherwise; in Markdown see
    :func:`format_markdown`. The text is formatted with LF line ends and without the mark, which
    are put back afterwards."""
    if file.endswith(".csv"):
        return text, []
    bom = _BOM if text.startswith(_BOM) else ""
    body = text[len(bom):]
    if file.endswith(".md"):
        out, diags = format_markdown(body, file)
    elif file.endswith((".rules", ".policy")):
        eol = _line_end(body)
        normal = _LINE_END.sub("\n", body) if "\r" in body else body
        out, diags = format_source(normal, file, kind="rules" if file.endswith(".rules") else "policy")
        if out is not None and eol != "\n":
            out = out.replace("\n", eol)
    else:
        span = A.Span(file=file, line=1, column=1, end_line=1, end_column=2)
        return None, [Diagnostic.make("E117", f"unsupported file '{file}'", span,
                                      help="sources are .policy, .rules, .md and .csv files")]
    if out is None:
        return None, diags
    return bom + out, []


@dataclass
class FormatResult:
    """What formatting a set of paths did: the files it changed (or would change), their unified
    diff, and the diagnostics of files it could not format (never rewritten)."""

    changed: list[str] = field(default_factory=list)
    diff: str = ""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: SourceLines = field(default_factory=SourceLines)
    #: why each file that needed rewriting could not be written (read-only, a link, a full disk...)
    refused: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def _stored_text(path, text: str) -> str:
    """The file's text as stored, byte-order mark and line ends included; ``text`` is what the
    readers made of it (:func:`~coherence_rules.sources.loader.read_text`: the mark dropped, line
    ends made LF). Should the file have changed in between, ``text`` itself."""
    from ..sources.loader import max_file_size, read_bytes

    try:  # as the readers read it: never blocking on a FIFO swapped in, never beyond the bound
        stored = read_bytes(path, max_file_size()).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return text
    body = stored[1:] if stored.startswith(_BOM) else stored
    return stored if _LINE_END.sub("\n", body) == text else text


def format_paths(paths: list, write: bool = True, follow_symlinks: bool = False) -> FormatResult:
    """Format every source under ``paths`` (``coherence fmt``): rewrite the files whose layout
    changes when ``write``, else only report them with a diff. A file with errors is left alone.
    A file keeps its byte-order mark and its line ends (see :func:`format_file_text`). Files are
    written by :func:`coherence_rules.files.write_text_atomically` (a symbolic link only with
    ``follow_symlinks``); a file it refuses or fails to write is listed in ``refused`` and left
    as it was."""
    import difflib

    from ..files import WriteError, write_text_atomically
    from ..sources.loader import discover, display_path, read_text

    result = FormatResult()
    files, result.diagnostics = discover(paths)
    for path, _ in files:
        shown = display_path(path)
        if shown.endswith(".csv"):
            continue
        text, d = read_text(path, shown)
        if text is None:
            result.diagnostics += d
            continue
        result.sources.add(shown, text)
        stored = _stored_text(path, text)
        new, d = format_file_text(stored, shown)
        if new is None:
            result.diagnostics += d
            continue
        if new == stored:
            continue
        if write:
            try:
                write_text_atomically(path, new, follow_symlinks=follow_symlinks)
            except WriteError as e:
                result.refused.append(e.message)
                continue
            result.changed.append(shown)
        else:
            result.changed.append(shown)
            result.diff += "".join(difflib.unified_diff(_keepends(stored), _keepends(new), shown, shown))
    return result
