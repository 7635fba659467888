"""Caches that spare re-reading a source that has not changed since the last run.

Two kinds of entry, both keyed by the SHA-256 of everything they depend on: the text, its kind
(policy or rules), the path shown in spans and diagnostics, the line offset (Markdown blocks), the
tool's version, the grammar and the syntax tree's schema.

- ``<key>.pickle``, the parse cache: the parsed module of a source the fast path does not read
  (rulesets, schemas, tests), stored when it parses without diagnostics.
- ``<key>.facts``, the check cache: the checked fact records of a policy source made only of facts,
  stored by the check stage after a check of all facts without diagnostics, with the fingerprint of
  the vocabulary they were checked against. The next run that reads the same source gets a
  :class:`CachedModule` that brings those records and builds its tree only if something asks for
  it; the check stage uses the records only under the same vocabulary, and goes back to the tree
  whenever a stored fact is part of something to report (see :func:`coherence_rules.checker._check_segments`).

Where: ``$XDG_CACHE_HOME/coherence/parse`` or ``~/.cache/coherence/parse``, created private
(``0700``). The cache is used only if that directory belongs to the user and nobody else can write
to it: entries are pickles, and a pickle is code, so the cache never reads a file another user could
have written. ``COHERENCE_NO_CACHE=1`` turns it off.

The analysed grammar (Lark's parse tables) is a third kind of entry, in
``$XDG_CACHE_HOME/coherence/grammar``: data, not a pickle (see :func:`coherence_rules.syntax.parser._lark_parser`).

Safety: every read of every entry goes through :func:`read_checked`, and every write through
:func:`write_checked`. An entry is written to a temporary file in the same directory and renamed
into place (``os.replace``, atomic, and never through a symbolic link planted at the entry's name),
so a reader never sees half an entry and concurrent writers of the same key simply race to install
identical content. An entry starts with a magic line naming its kind and format version and the
SHA-256 of the body that follows. A reader opens the entry without following symbolic links and
without blocking (``O_NOFOLLOW | O_NONBLOCK``), uses it only if it is a regular file owned by the
user that nobody else can write to, no larger than its kind's bound, and reads at most that many
bytes; anything else (a link, a FIFO, a device, another user's file, a huge file, bad magic, a
checksum mismatch, an unpickling error, a wrong object) is a miss, and the bad entry is removed.
The directory is kept under :data:`MAX_BYTES` by removing the least recently written entries.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from pathlib import Path
from typing import Callable, Optional

from .. import __version__
from ..syntax import ast as A

#: Bumped whenever the pickled form of the syntax tree changes meaning.
SCHEMA_VERSION = "2"
MAGIC = b"coherence-parse-cache 2\n"
#: The check cache's entries (checked fact records); bumped whenever a record's form changes.
FACTS_MAGIC = b"coherence-check-cache 1\n"
MAX_BYTES = 200 * 1024 * 1024
PRUNE_TO = 150 * 1024 * 1024
#: The largest entry a reader accepts: one entry bigger than the whole cache would be pruned anyway.
MAX_ENTRY_BYTES = MAX_BYTES

_dir: Optional[Path] = None
_dir_checked = False
_grammar_hash: Optional[str] = None


def enabled() -> bool:
    return os.environ.get("COHERENCE_NO_CACHE", "") in ("", "0")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "coherence"


def _private(path: Path) -> bool:
    """The directory exists, is a real directory owned by this user, and only they can write to it."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        return False
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return False
    return not (st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def cache_dir() -> Optional[Path]:
    """The parse cache's directory, created if needed; None when it cannot be used safely."""
    global _dir, _dir_checked
    if _dir_checked and _dir is not None and _dir.parent == cache_root():
        return _dir
    _dir_checked = True
    _dir = private_dir("parse")
    return _dir


def private_dir(name: str) -> Optional[Path]:
    """``<cache root>/<name>``, created private (``0700``) if needed; None when the cache is turned
    off or the directory (or the root) is not a real directory of this user that only they can
    write to."""
    if not enabled():
        return None
    root = cache_root()
    d = root / name
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        d.mkdir(exist_ok=True, mode=0o700)
    except OSError:
        return None
    return d if _private(root) and _private(d) else None


def _grammar() -> str:
    global _grammar_hash
    if _grammar_hash is None:
        from ..syntax.parser import GRAMMAR_PATH

        try:
            _grammar_hash = hashlib.sha256(GRAMMAR_PATH.read_bytes()).hexdigest()
        except OSError:
            _grammar_hash = "?"
    return _grammar_hash


def key(text: str, file: str, kind: str, line_offset: int = 0) -> str:
    h = hashlib.sha256()
    for part in (__version__, _grammar(), SCHEMA_VERSION, kind, file, str(line_offset)):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def read(k: str) -> Optional[A.Module]:
    """The cached module for key ``k``, or None (a miss; a damaged entry is removed)."""
    return _read_entry(f"{k}.pickle", MAGIC, lambda obj: isinstance(obj, A.Module))


def write(k: str, module: A.Module) -> None:
    """Store ``module`` under key ``k`` (best effort: errors are ignored)."""
    _write_entry(f"{k}.pickle", MAGIC, module)


#: How :func:`read_checked` opens an entry: never through a symbolic link, never blocking on a
#: FIFO (or a device), never inherited by a child process.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def read_checked(d: Optional[Path], name: str, magic: bytes, max_bytes: int = MAX_ENTRY_BYTES) -> Optional[bytes]:
    """The body of the entry ``name`` of the private cache directory ``d`` (from
    :func:`private_dir`), or None: a miss when the cache is off, the entry is absent, or it is
    anything but a regular file of this user that nobody else can write to, at most ``max_bytes``
    long, starting with ``magic`` and the SHA-256 of the body. A damaged or planted entry is
    removed (its name only: :func:`os.unlink` never follows a link)."""
    if d is None or not enabled():
        return None
    path = d / name
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:  # absent; or a symbolic link (ELOOP); or unreadable
        if os.path.islink(path):
            _remove(path)
        return None
    try:
        data = _read_bounded(fd, len(magic) + 32 + max_bytes)
    except (OSError, ValueError):
        data = None
    finally:
        os.close(fd)
    head = len(magic) + 32
    if data is None or len(data) < head or not data.startswith(magic) \
            or hashlib.sha256(data[head:]).digest() != data[len(magic):head]:
        _remove(path)
        return None
    return data[head:]


def _read_bounded(fd: int, limit: int) -> bytes:
    """All of the open entry ``fd``, if it is a regular file of this user that only they can
    write to and holds at most ``limit`` bytes; ValueError otherwise. The size is checked before
    reading and again while reading (a file that grows is refused, not read to the end)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("not a regular file")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ValueError("another user's file")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ValueError("writable by others")
    if st.st_size > limit:
        raise ValueError("too large")
    chunks = []
    total = 0
    while True:
        chunk = os.read(fd, min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise ValueError("too large")
    return b"".join(chunks)


def write_checked(d: Optional[Path], name: str, magic: bytes, body: bytes) -> bool:
    """Store ``body`` as the entry ``name`` of the private cache directory ``d`` (best effort:
    errors are ignored, and the temporary file is removed). The entry is written to a new
    temporary file of the directory and renamed over the name, which replaces whatever is there
    (a planted symbolic link included) and never writes through it. True when stored."""
    if d is None or not enabled() or len(body) > MAX_ENTRY_BYTES:
        return False
    tmp = None
    try:
        import tempfile  # only on a miss: importing it costs every command 4 ms

        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
        with os.fdopen(fd, "wb") as f:
            f.write(magic + hashlib.sha256(body).digest() + body)
        os.replace(tmp, d / name)
        tmp = None
    except OSError:
        return False
    finally:
        if tmp is not None:
            _remove(Path(tmp))
    return True


def _read_entry(name: str, magic: bytes, valid: Callable[[object], bool]) -> Optional[object]:
    d = cache_dir()
    body = read_checked(d, name, magic)
    if body is None:
        return None
    try:
        # our own regular file, in a directory only this user can write to, and its checksum matches
        obj = pickle.loads(body)
        if not valid(obj):
            raise ValueError("not an entry of this kind")
        return obj
    except Exception:  # noqa: BLE001 - any damage is a miss
        _remove(d / name)
        return None


def _write_entry(name: str, magic: bytes, obj: object) -> None:
    d = cache_dir()
    if d is None:
        return
    try:
        body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - what cannot be pickled is simply not cached
        return
    if write_checked(d, name, magic, body):
        _maybe_prune(d, len(body))


_written = 0


def _maybe_prune(d: Path, size: int) -> None:
    """Keep the directory under :data:`MAX_BYTES` (checked every 16 MB written by this process,
    and on the first write)."""
    global _written
    first = _written == 0
    _written += size
    if not first and _written < 16 * 1024 * 1024:
        return
    _written = 1
    prune(d)


def prune(d: Optional[Path] = None, max_bytes: int = MAX_BYTES, keep: int = PRUNE_TO) -> None:
    d = d or cache_dir()
    if d is None:
        return
    entries = []
    total = 0
    try:
        with os.scandir(d) as it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                entries.append((st.st_mtime, st.st_size, e.path))
                total += st.st_size
    except OSError:
        return
    if total <= max_bytes:
        return
    for _, size, path in sorted(entries):
        _remove(Path(path))
        total -= size
        if total <= keep:
            break


class CachedModule(A.Module):
    """A policy source made of facts only, read through the check cache.

    Built in one of two states. *Restored*: the source is unchanged since a run that checked its
    facts without a diagnostic, and ``records`` holds those checked facts as they were stored
    (``schema`` is the fingerprint of the vocabulary they were checked against); the syntax tree
    is only built, from ``text``, if something reads ``items`` or ``comments``. *Parsed*: the
    tree was just built and ``records`` is None; once the check stage has checked its facts
    without a diagnostic it stores them (:func:`store_records`) for the next run.

    The check stage uses ``records`` only when ``schema`` matches the vocabulary of the run and
    falls back to the tree for anything that needs it (see :func:`coherence_rules.checker._check_segments`)."""

    __slots__ = ("key", "schema", "records", "_text", "_line_offset", "_items", "_comments")
    facts_only = True

    def __init__(self, file: str, kind: str, text: str, line_offset: int, key: str, *,
                 items: Optional[list] = None, comments: Optional[list] = None,
                 schema: Optional[str] = None, records: Optional[list] = None):
        self.file = file
        self.kind = kind
        self.key = key
        self.schema = schema
        self.records = records
        self._text = text
        self._line_offset = line_offset
        self._items = items
        self._comments = comments

    def _build(self) -> None:
        from ..syntax.parser import parse_fast, parse_source

        module = parse_fast(self._text, self.file, self.kind, self._line_offset)
        if module is None:  # only if the fast path changed since the entry was written
            module, _ = parse_source(self._text, self.file, kind=self.kind, line_offset=self._line_offset)
        self._items, self._comments = module.items, module.comments

    @property
    def items(self) -> list:  # type: ignore[override]
        if self._items is None:
            self._build()
        return self._items

    @property
    def comments(self) -> list:  # type: ignore[override]
        if self._comments is None:
            self._build()
        return self._comments


def _is_records(entry: object) -> bool:
    return (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)
            and isinstance(entry[1], list) and bool(entry[1]))


def store_records(module: CachedModule, schema: str, records: list[tuple]) -> None:
    """Remember the checked facts of ``module`` (``(id, type, title, values, span)`` each, values
    before inheritance) for the next run that reads the same source with the same vocabulary.

    Stored compactly, because reading the entry back is most of an unchanged file's cost: equal
    strings are stored once (pickle then refers back to the first) and spans without their file
    name (the file is part of the key)."""
    module.schema, module.records = schema, records
    if not enabled():
        return
    same: dict = {}

    def once(v):
        if v.__class__ is str:
            return same.setdefault(v, v)
        if v.__class__ is tuple:
            return tuple(once(i) for i in v)
        return v

    stored = [(fid, once(tname), once(title), {once(k): once(v) for k, v in values.items()}, tuple(span)[1:])
              for fid, tname, title, values, span in records]
    _write_entry(f"{module.key}.facts", FACTS_MAGIC, (schema, stored))


def _restore(file: str, stored: list[tuple]) -> list[tuple]:
    span = tuple.__new__  # A.Span's own constructor is a Python function: 3x slower
    return [(fid, tname, title, values, span(A.Span, (file, *where)))
            for fid, tname, title, values, where in stored]


def cached_parse(text: str, file: str, kind: str, line_offset: int,
                 parse: Callable[..., tuple]) -> tuple:
    """``parse(text, file, kind=..., line_offset=...)`` through the caches.

    A policy source of facts only is a :class:`CachedModule`: restored from the check cache when
    the source is unchanged since a run that checked it cleanly (no tree is built), otherwise read
    by the fast path. Other sources made only of facts and accepts are read by the fast path
    (:func:`.parse.parse_fast`) and not cached: reading them is cheaper than unpickling their
    trees. Everything else (rules, schemas, tests, sources with errors) goes through the parse
    cache and Lark."""
    from ..syntax.parser import parse_fast

    k = None
    if kind == "policy" and enabled():
        k = key(text, file, kind, line_offset)
        entry = _read_entry(f"{k}.facts", FACTS_MAGIC, _is_records)
        if entry is not None:
            return CachedModule(file, kind, text, line_offset, k, schema=entry[0],
                                records=_restore(file, entry[1])), []
    module = parse_fast(text, file, kind, line_offset)
    if module is not None:
        if k is not None and module.items and all(type(i) is A.Fact for i in module.items):
            return CachedModule(file, kind, text, line_offset, k, items=module.items, comments=module.comments), []
        return module, []
    if not enabled():
        return parse(text, file, kind=kind, line_offset=line_offset)
    k = k or key(text, file, kind, line_offset)
    module = read(k)
    if module is not None:
        return module, []
    module, diags = parse(text, file, kind=kind, line_offset=line_offset)
    if not diags:
        write(k, module)
    return module, diags
