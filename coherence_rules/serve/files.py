"""The served directory: which files the page may read and write, and how they are written.

A name from a request is never trusted as a path. :func:`check_name` accepts only a relative path
with ``/`` separators whose every component is an ordinary name (no ``..``, ``.``, empty or
hidden component, no backslash, NUL or control character) and whose file is a source
(.policy, .rules, .md, .csv); :meth:`ServedDirectory.path` then resolves it and refuses it when
the resolved path leaves the served directory (a symbolic link among its directories pointing
elsewhere) or when the file itself is a symbolic link. Symbolic links are neither listed nor
written: writing through one would change a file outside the page's view, and replacing one
would silently turn it into a regular file.

Every write is atomic and checked against the version the editor loaded (the SHA-256 of the
bytes it read): the new bytes go to a temporary file in the same directory, are flushed to disk
and renamed over the old file, which keeps its permission bits; a file changed on disk since it
was loaded is not written (:class:`StaleVersion`). The check and the rename happen under one lock,
so two requests of this server cannot interleave; another program writing the same file in the
same instant is not excluded (there is no portable way to), which the version check narrows to
that instant.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..sources.loader import EXTENSIONS

#: Longest name accepted (bytes of UTF-8), well below every file system's path limit.
MAX_NAME = 1024
KINDS = {".policy": "policy", ".rules": "rules", ".md": "markdown", ".csv": "csv"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_BOM = b"\xef\xbb\xbf"


class FileProblem(Exception):
    """A request about a file that cannot be served: ``status`` is the HTTP status, ``error`` a
    short code, the message says why in words."""

    status = 400
    error = "bad_name"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadName(FileProblem):
    """The name is not an acceptable relative path of a source file."""


class Outside(FileProblem):
    """The name resolves outside the served directory, or to a symbolic link."""

    status = 403
    error = "outside"


class NotFound(FileProblem):
    """The file (or its directory) does not exist."""

    status = 404
    error = "not_found"


class NotEditable(FileProblem):
    """The file exists but is not text the page can edit (not UTF-8, not a regular file...)."""

    status = 400
    error = "not_editable"


class InvalidAccept(FileProblem):
    """An ``accept`` statement the language cannot hold (a reason with a line break...)."""

    status = 422
    error = "invalid_accept"


class StaleVersion(FileProblem):
    """The file on disk is not the version the editor loaded."""

    status = 409
    error = "stale_version"

    def __init__(self, message: str, current: Optional[str]):
        super().__init__(message)
        self.current = current


def version_of(data: bytes) -> str:
    """The version token of a file's bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def kind_of(name: str) -> str:
    """``policy``, ``rules``, ``markdown`` or ``csv``, from the name's extension."""
    return KINDS[os.path.splitext(name)[1]]


def check_name(name: object) -> str:
    """``name`` when it is an acceptable file name of the served directory (see the module
    docstring), else :class:`BadName` saying what is wrong with it."""
    if not isinstance(name, str) or not name:
        raise BadName("a file name must be a non-empty string")
    shown = _shown(name)
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME:
        raise BadName(f"file name too long ({len(name)} characters)")
    if "\0" in name:
        raise BadName(f"file name {shown} contains a NUL character")
    if "\\" in name:
        raise BadName(f"file name {shown} contains a backslash: use / between directories")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        raise BadName(f"file name {shown} contains a control character")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise BadName(f"file name {shown} is absolute: names are relative to the served directory")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise BadName(f"file name {shown} has a '{part or '//'}' component: names are plain relative paths "
                          "inside the served directory")
        if part.startswith("."):
            raise BadName(f"file name {shown} has a hidden component '{part}': hidden files are not served")
    if not name.endswith(EXTENSIONS):
        raise BadName(f"file name {shown} is not a source file (.policy, .rules, .md, .csv)")
    return name


def _shown(name: str) -> str:
    """A name as quoted in messages: printable, short."""
    text = name if len(name) <= 80 else name[:77] + "..."
    return repr(text)


def quote_string(text: str) -> str:
    """``text`` as a string literal of the language: only ``\\"`` and ``\\\\`` are escapes, and a
    string holds no line break (the caller refuses control characters)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def accept_statement(criterion: str, ids: list[str], reason: str, until) -> str:
    """The ``accept`` statement recording a trade-off, on one line; :class:`InvalidAccept` for a
    code, id or reason the language cannot hold."""
    for word in [criterion, *ids]:
        if not _WORD.fullmatch(word):
            raise InvalidAccept(f"{_shown(word)} is not a criterion code or fact id")
    if not reason.strip():
        raise InvalidAccept("the reason is empty")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in reason):
        raise InvalidAccept("the reason must be one line of text (no line breaks or control characters)")
    fields = f"reason: {quote_string(reason)}"
    if until is not None:
        fields += f"  until: {until.isoformat()}"
    return f"accept {criterion} on [{', '.join(ids)}] {{ {fields} }}"


@dataclass
class Entry:
    """A source file of the served directory, as ``GET /api/files`` lists it."""

    name: str
    kind: str
    text: Optional[str]
    version: str
    size: int
    problem: Optional[str]

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "text": self.text, "version": self.version, "size": self.size,
                "problem": self.problem}


class ServedDirectory:
    """The directory ``coherence serve`` edits; ``exclude`` are paths (``--with`` reference sets
    inside it) whose files are not part of the set."""

    def __init__(self, root: Path, *, max_text: int, exclude: tuple[Path, ...] = ()):
        self.root = Path(os.path.realpath(root))
        self.max_text = max_text
        self.exclude = tuple(Path(os.path.realpath(p)) for p in exclude)
        self._lock = threading.Lock()

    # ---- reading

    def list(self) -> list[Entry]:
        """Every source file under the directory, sorted by name: hidden files and directories,
        symbolic links and files of ``exclude`` left out (as ``coherence check DIR`` leaves out
        hidden ones)."""
        out = []
        for top, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(top, d)))
            for fname in sorted(files):
                full = Path(top) / fname
                if fname.startswith(".") or not fname.endswith(EXTENSIONS) or self._excluded(full):
                    continue
                try:
                    st = os.lstat(full)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue  # symbolic links, FIFOs, devices
                name = full.relative_to(self.root).as_posix()
                try:
                    check_name(name)
                except BadName:
                    continue  # a name the API could not address (a backslash, a control character)
                try:
                    out.append(self._entry(name, full, st.st_size))
                except OSError:
                    continue  # removed or made unreadable while listing
        out.sort(key=lambda e: e.name)
        return out

    def _excluded(self, path: Path) -> bool:
        return any(path == e or e in path.parents for e in self.exclude)

    def _entry(self, name: str, full: Path, size: int) -> Entry:
        if size > self.max_text:  # hashed, not held: the page could not send it back anyway
            version, size = _hash_file(full)
            return Entry(name, kind_of(name), None, version, size,
                         f"too large to edit here ({size} bytes; the server reads requests up to {self.max_text})")
        data = _read_bytes(full)
        problem, text = None, None
        if b"\0" in data:
            problem = "binary file (contains NUL bytes)"
        else:
            try:
                text = _lf(data[len(_BOM):].decode("utf-8") if data.startswith(_BOM) else data.decode("utf-8"))
            except UnicodeDecodeError as e:
                problem = f"not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})"
        return Entry(name, kind_of(name), text, version_of(data), len(data), problem)

    def path(self, name: str, *, must_exist: bool) -> Path:
        """The path of file ``name``, checked: an acceptable name (:func:`check_name`), in an
        existing directory that resolves inside the served directory, not a symbolic link, a
        regular file when it exists, not in ``exclude``."""
        check_name(name)
        candidate = self.root.joinpath(*name.split("/"))
        parent = Path(os.path.realpath(candidate.parent))
        if parent != self.root and self.root not in parent.parents:
            raise Outside(f"{_shown(name)} leads outside the served directory (through a symbolic link)")
        if not parent.is_dir():
            raise NotFound(f"no directory for {_shown(name)} in the served directory")
        path = parent / candidate.name
        if self._excluded(path):
            raise Outside(f"{_shown(name)} belongs to a --with reference set, not to the served set")
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if must_exist:
                raise NotFound(f"no file {_shown(name)} in the served directory")
            return path
        except OSError as e:
            raise NotEditable(f"cannot read {_shown(name)}: {e.strerror or e}")
        if stat.S_ISLNK(st.st_mode):
            raise Outside(f"{_shown(name)} is a symbolic link: symbolic links are not written")
        if not stat.S_ISREG(st.st_mode):
            raise NotEditable(f"{_shown(name)} is not a regular file")
        return path

    # ---- writing

    def save(self, name: str, text: str, version: Optional[str]) -> tuple[str, int]:
        """Write ``text`` as file ``name`` if the file on disk is still ``version`` (None: if it
        does not exist yet). The new version and size."""
        with self._lock:
            path = self.path(name, must_exist=version is not None)
            old = self._current(path, name, version)
            data = _encode_like(text, old)
            _atomic_write(path, data)
            return version_of(data), len(data)

    def append_accept(self, name: str, statement: str, version: Optional[str]) -> tuple[str, int, str, str]:
        """Append an ``accept`` statement to file ``name`` (a .policy file, or a Markdown file as
        a new fenced ``policy`` block), if the file is still ``version`` (None: create it). The
        new version, size, text, and the text appended."""
        kind = kind_of(check_name(name))
        if kind not in ("policy", "markdown"):
            raise BadName(f"accepts are recorded in a .policy or a Markdown file, not in {_shown(name)}")
        with self._lock:
            path = self.path(name, must_exist=version is not None)
            old = self._current(path, name, version)
            before = _lf(_decode(old, name)) if old is not None else ""
            lead = "" if not before or before.endswith("\n\n") else ("\n" if before.endswith("\n") else "\n\n")
            if kind == "markdown":
                appended = f"{lead}```policy\n{statement}\n```\n"
            else:
                appended = f"{lead}{statement}\n"
            text = before + appended
            data = _encode_like(text, old)
            _atomic_write(path, data)
            return version_of(data), len(data), text, appended

    def _current(self, path: Path, name: str, version: Optional[str]) -> Optional[bytes]:
        """The file's bytes now (None: it does not exist), after checking they are ``version``."""
        old = _read_bytes(path) if path.exists() else None
        now = version_of(old) if old is not None else None
        if now != version:
            if version is None:
                msg = f"{_shown(name)} already exists: load it before writing it"
            elif now is None:
                msg = f"{_shown(name)} was removed from disk since it was loaded"
            else:
                msg = f"{_shown(name)} changed on disk since it was loaded"
            raise StaleVersion(msg, now)
        return old


def _read_bytes(path: Path) -> bytes:
    # O_NOFOLLOW: a file swapped for a symbolic link after the checks is not read through
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        return f.read()


def _hash_file(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return "sha256:" + h.hexdigest(), size


def _lf(text: str) -> str:
    """Line ends as the loader reads them (and as a browser's text area holds them): LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _decode(data: bytes, name: str) -> str:
    try:
        return data[len(_BOM):].decode("utf-8") if data.startswith(_BOM) else data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotEditable(f"{_shown(name)} is not UTF-8: it is not edited here")


def _encode_like(text: str, old: Optional[bytes]) -> bytes:
    """``text`` as bytes in the conventions of the file it replaces: a byte order mark and CRLF
    line ends are kept when the old file had them (a browser's text area gives LF only)."""
    if old is not None and b"\r\n" in old and "\r" not in text:
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    if old is not None and old.startswith(_BOM):
        data = _BOM + data
    return data


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once: a reader sees the old file or the new one, never
    a part; the file keeps its permission bits (a new file gets the usual ones, 0666 less the
    umask)."""
    try:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # the rename itself reaches the disk with the directory
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
