"""Reading sources: `.policy`, `.rules`, Markdown with fenced `policy`/`rules` blocks, CSV inventories.

Directories recurse (sorted, so the result never depends on the file system's order). Files are read
as bytes and checked before anything parses them: size limit, NUL bytes (binary), UTF-8 (a byte
order mark is dropped), CRLF and CR line ends normalised. Every problem is a diagnostic, never an
exception.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from ..syntax import ast as A
from ..diagnostics import Diagnostic, SourceLines
from ..syntax.parser import parse_source
from .cache import cached_parse

EXTENSIONS = (".policy", ".rules", ".md", ".csv")
DEFAULT_MAX_FILE_SIZE = 32 * 1024 * 1024


def max_file_size() -> int:
    try:
        return int(os.environ.get("COHERENCE_MAX_FILE_SIZE", DEFAULT_MAX_FILE_SIZE))
    except ValueError:
        return DEFAULT_MAX_FILE_SIZE


@dataclass
class Loaded:
    """What reading a set of paths produced: modules, the source text of each file, diagnostics."""

    modules: list[A.Module] = field(default_factory=list)
    sources: SourceLines = field(default_factory=SourceLines)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def display_path(path: Path) -> str:
    """The path as shown in diagnostics and reports: relative to the working directory when inside
    it, with `/` separators, so reports do not depend on where the repository lives."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = str(path)
    if rel.startswith(".." + os.sep) or rel == "..":
        rel = str(path)
    return rel.replace(os.sep, "/")


def _point(file: str, line: int = 1, col: int = 1) -> A.Span:
    return A.Span(file=file, line=line, column=col, end_line=line, end_column=col + 1)


def _regular(path: Path) -> bool:
    """A regular file (not a FIFO, device or socket, which could block a read forever)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _walk(top: Path, found: dict[Path, bool], diags: list[Diagnostic]) -> None:
    """The source files under the directory ``top``, into ``found``. Symbolic links inside it are
    followed, to folders as to files, wherever they point (a linked folder is read as if it were
    there: skipping it silently made a set lose facts), but each real folder is read once: a link
    to a folder already read (a loop, or a second link to the same folder) and a link to nothing
    are skipped with W406. Hidden names (a leading dot) are skipped; only regular files are read."""
    seen: set[tuple[int, int]] = set()
    try:
        st = os.stat(top)
        seen.add((st.st_dev, st.st_ino))
    except OSError:
        return
    for root, dirs, files in os.walk(top, followlinks=True):
        keep = []
        for d in sorted(dirs):
            if d.startswith("."):
                continue
            full = Path(root) / d
            try:
                st = os.stat(full)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                _skipped_link(full, "it leads to a folder already read (a loop, or a second link to it)", diags)
                continue
            seen.add(key)
            keep.append(d)
        dirs[:] = keep
        for name in sorted(files):
            if not name.endswith(EXTENSIONS) or name.startswith("."):
                continue
            full = Path(root) / name
            if _regular(full):
                found.setdefault(full, False)
            elif os.path.islink(full) and not os.path.exists(full):
                _skipped_link(full, "it points to nothing", diags)


def _skipped_link(path: Path, why: str, diags: list[Diagnostic]) -> None:
    shown = display_path(path)
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    diags.append(Diagnostic.make("W406", f"symbolic link '{shown}' (to '{target}') not followed: {why}", None,
                                 help="remove the link, or point it at a folder or file that is not already "
                                      "part of the set"))


def discover(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, bool]], list[Diagnostic]]:
    """Expand directories into source files. Returns ``(path, explicit)`` pairs, sorted and unique.
    Only regular files are read; symbolic links inside a directory are followed, each real folder
    once (:func:`_walk`, W406 for a link skipped); a directory without any source is warning W405."""
    found: dict[Path, bool] = {}
    diags = []
    for p in paths:
        path = Path(p)
        shown = display_path(path)
        if path.is_dir():
            before = len(found)
            _walk(path, found, diags)
            if len(found) == before:
                diags.append(Diagnostic.make("W405", f"no source files under '{shown}'", None,
                                             help="sources are .policy, .rules, .md and .csv files"))
        elif path.exists() and not _regular(path):
            diags.append(Diagnostic.make("E110", f"cannot read '{shown}': not a regular file", None,
                                         help="give a file or a directory"))
        elif path.is_file():
            if not str(path).endswith(EXTENSIONS):
                diags.append(Diagnostic.make("E117", f"unsupported file '{shown}'", _point(shown),
                                             help="sources are .policy, .rules, .md and .csv files"))
            else:
                found[path] = True
        else:
            diags.append(Diagnostic.make("E110", f"cannot read '{shown}': no such file or directory", None))
    return sorted(found.items(), key=lambda kv: display_path(kv[0])), diags


def _size(n: int) -> str:
    """A size for people: bytes, KiB or MiB, whole numbers without decimals."""
    for unit, scale in (("MiB", 1048576), ("KiB", 1024)):
        if n >= scale:
            return f"{n // scale} {unit}" if n % scale == 0 else f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


#: How a source is opened: never blocking (a FIFO or a device put in a file's place between
#: :func:`discover` and the read would otherwise hang the run), never inherited by a child.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them. The file is opened
    without blocking and checked on the open descriptor (so it is the file read, whatever the
    name pointed to before): OSError ``EINVAL`` "not a regular file" for anything else, ``EFBIG``
    for a file larger than ``limit`` (its size in the message's ``filename2``)."""
    import errno

    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if st.st_size > limit:
            raise OSError(errno.EFBIG, "file too large", str(path), None, str(st.st_size))
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 22, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew since fstat
                raise OSError(errno.EFBIG, "file too large", str(path), None, str(total))
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path, shown: str) -> tuple[Optional[str], list[Diagnostic]]:
    """The file's text, or diagnostics (too large, binary, not UTF-8, unreadable, not a regular
    file: see :func:`read_bytes`)."""
    import errno

    limit = max_file_size()
    try:
        data = read_bytes(path, limit)
    except OSError as e:
        if e.errno == errno.EFBIG:
            size = int(e.filename2) if e.filename2 and str(e.filename2).isdigit() else limit + 1
            return None, [Diagnostic.make("E113", f"file is too large ({_size(size)}; the limit is "
                                                  f"{_size(limit)})", _point(shown),
                                          help="split the file, or set COHERENCE_MAX_FILE_SIZE (bytes)")]
        return None, [Diagnostic.make("E110", f"cannot read '{shown}': {e.strerror or e}", None)]
    if b"\x00" in data:
        pos = data.index(b"\x00")
        line = data.count(b"\n", 0, pos) + 1
        col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
        return None, [Diagnostic.make("E112", "binary file (contains NUL bytes)", _point(shown, line, col),
                                      help="sources are UTF-8 text")]
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return None, [Diagnostic.make("E111", f"invalid UTF-8 (byte 0x{data[e.start]:02x})", _point(shown, line, col),
                                      label="not UTF-8", help="re-save the file as UTF-8")]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, []


_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\n`]*)$")


def _fences(text: str) -> list[tuple[str, int, int, Optional[int]]]:
    """Every fenced block: ``(tag, column, opening line index, closing line index or None)``."""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence = m.group("fence")
        info = m.group("info").strip().split()
        j = i + 1
        while j < len(lines):
            close = lines[j].strip()
            if close.startswith(fence[0] * len(fence)) and set(close) <= {fence[0]}:
                break
            j += 1
        out.append((info[0].lower() if info else "", len(m.group("indent")) + 1, i, j if j < len(lines) else None))
        i = j + 1
    return out


def markdown_blocks(text: str) -> list[tuple[str, int, str]]:
    """Fenced blocks tagged ``policy`` or ``rules``: ``(kind, first_line_index, block_text)``.

    ``first_line_index`` is the 0-based index of the block's first content line, so parsing the
    block with that many lines of offset reports the Markdown file's own line numbers. A block
    that is never closed runs to the end of the file (see :func:`unclosed_fence`).
    """
    lines = text.split("\n")
    return [(tag, i + 1, "\n".join(lines[i + 1:j if j is not None else len(lines)]))
            for tag, _, i, j in _fences(text) if tag in ("policy", "rules")]


def unclosed_fence(text: str) -> Optional[tuple[int, int, str]]:
    """``(line, column, tag)`` of a fenced ``policy``/``rules`` block that is never closed: its
    content then runs to the end of the file, prose included."""
    for tag, col, i, j in _fences(text):
        if j is None and tag in ("policy", "rules"):
            return i + 1, col, tag
    return None


def _csv_cells(line: str) -> list[int]:
    """1-based start columns of the cells of one physical CSV line."""
    cols = [1]
    quoted = False
    for idx, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            cols.append(idx + 2)
    return cols


def parse_csv(text: str, file: str) -> tuple[A.Module, list[Diagnostic]]:
    """A CSV inventory: header ``type,id,title,field...``; one fact per row; cells typed later by
    the schema (values are kept as ``cell`` strings; empty cells are absent fields)."""
    diags: list[Diagnostic] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    physical = text.split("\n")
    try:
        rows = []
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            rows.append((start, row))
    except csv.Error as e:
        return A.Module(file=file, kind="policy"), [Diagnostic.make("E115", f"malformed CSV: {e}", _point(file, reader.line_num or 1))]
    rows = [(ln, r) for ln, r in rows if any(c.strip() for c in r)]
    if not rows:
        return A.Module(file=file, kind="policy"), [Diagnostic.make("E114", "empty CSV inventory", _point(file))]
    hline, header = rows[0]
    header = [h.strip() for h in header]
    if len(header) < 2 or header[0] != "type" or header[1] != "id":
        return A.Module(file=file, kind="policy"), [Diagnostic.make(
            "E115", "a CSV inventory's header must start with `type,id`", _point(file, hline),
            help="write the header as `type,id,title,<field>,...`")]
    for col, name in enumerate(header[2:], start=2):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            return A.Module(file=file, kind="policy"), [Diagnostic.make(
                "E115", f"column {col + 1} has no valid field name ('{name}')", _point(file, hline),
                help="field columns are snake_case field names")]
    items = []
    for line, row in rows[1:]:
        src = physical[line - 1] if line - 1 < len(physical) else ""
        cols = _csv_cells(src)
        if len(row) > len(header):
            diags.append(Diagnostic.make("E115", f"row has {len(row)} cells but the header has {len(header)}",
                                         _point(file, line)))
            continue

        def span(ci: int, width: int) -> A.Span:
            c = cols[ci] if ci < len(cols) else 1
            return A.Span(file=file, line=line, column=c, end_line=line, end_column=c + max(width, 1))

        cells = [c.strip() for c in row] + [""] * (len(header) - len(row))
        type_name, fid = cells[0], cells[1]
        if not type_name or not fid:
            diags.append(Diagnostic.make("E115", "row without a type or an id", _point(file, line)))
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", fid):
            diags.append(Diagnostic.make("E115", f"invalid fact id '{fid}'", span(1, len(fid)),
                                         help="ids start with a letter and hold letters, digits, _ . -"))
            continue
        title = cells[2] if len(header) > 2 and header[2] == "title" and cells[2] else None
        fields = []
        for ci in range(2, len(header)):
            name = header[ci]
            if name == "title" or not cells[ci]:
                continue
            vs = span(ci, len(cells[ci]))
            value = A.Value(span=vs, kind="cell", value=cells[ci], text=cells[ci], items=[])
            fields.append(A.Field(span=vs, name=name, name_span=vs, value=value))
        items.append(A.Fact(
            span=A.Span(file=file, line=line, column=1, end_line=line, end_column=len(src) + 1),
            type_name=type_name, type_span=span(0, len(type_name)), id=fid, id_span=span(1, len(fid)),
            title=title, fields=fields,
        ))
    return A.Module(file=file, kind="policy", items=items, comments=[]), diags


def load_file(path: Path, explicit: bool, loaded: Loaded, shown: Optional[str] = None) -> None:
    """Read and parse one file into ``loaded``."""
    shown = shown or display_path(path)
    text, diags = read_text(path, shown)
    loaded.diagnostics += diags
    if text is None:
        return
    loaded.sources.add(shown, text)
    loaded.files.append(shown)
    load_text(text, shown, explicit, loaded)


def load_text(text: str, shown: str, explicit: bool, loaded: Loaded) -> None:
    """Parse text that was already read (also used for the shipped rulesets)."""
    if shown.endswith(".md"):
        blocks = markdown_blocks(text)
        open_fence = unclosed_fence(text)
        if open_fence is not None:
            line, col, tag = open_fence
            loaded.diagnostics.append(Diagnostic.make(
                "E118", f"the ```{tag} block is never closed", A.Span(
                    file=shown, line=line, column=col, end_line=line, end_column=col + 3 + len(tag)),
                label="opened here", help="close the block with ``` on a line of its own"))
        if not blocks and explicit:
            loaded.diagnostics.append(Diagnostic.make("W403", "no fenced block tagged `policy` or `rules`",
                                                      _point(shown)))
        for kind, offset, block in blocks:
            module, diags = cached_parse(block, shown, kind, offset, parse_source)
            loaded.modules.append(module)
            loaded.diagnostics += diags
        return
    if shown.endswith(".csv"):
        module, diags = parse_csv(text, shown)
    else:
        kind = "rules" if shown.endswith(".rules") else "policy"
        if not text.strip():
            loaded.diagnostics.append(Diagnostic.make("E114", "empty file: no statements", _point(shown),
                                                      help="add facts, or remove the file"))
            return
        module, diags = cached_parse(text, shown, kind, 0, parse_source)
        if not diags and not module.facts_only and not module.items:
            diags = [Diagnostic.make("E114", "the file holds only comments: no statements", _point(shown))]
    loaded.modules.append(module)
    loaded.diagnostics += diags


def load_paths(paths: Iterable[str | Path], loaded: Optional[Loaded] = None) -> Loaded:
    """Discover and parse every source under ``paths``."""
    loaded = loaded or Loaded()
    files, diags = discover(paths)
    loaded.diagnostics += diags
    for path, explicit in files:
        load_file(path, explicit, loaded)
    return loaded
