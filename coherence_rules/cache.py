"""A cache of parsed sources, so a file that has not changed since the last run is not parsed again.

An entry is the parsed module of one source text, keyed by the SHA-256 of everything the module
depends on: the text, its kind (policy or rules), the path shown in spans and diagnostics, the
line offset (Markdown blocks), the tool's version, the grammar and the syntax tree's schema. Only
sources that parse without diagnostics are stored.

Where: ``$XDG_CACHE_HOME/coherence/parse`` or ``~/.cache/coherence/parse``, created private
(``0700``). The cache is used only if that directory belongs to the user and nobody else can write
to it: entries are pickles, and a pickle is code, so the cache never reads a file another user could
have written. ``COHERENCE_NO_CACHE=1`` turns it off.

Safety: an entry is written to a temporary file in the same directory and renamed into place
(``os.replace``, atomic), so a reader never sees half an entry and concurrent writers of the same
key simply race to install identical content. An entry starts with a magic line naming the format
version and the SHA-256 of the pickle that follows; a missing, truncated, corrupted or unreadable
entry (bad magic, checksum mismatch, unpickling error, wrong object) is a miss, and the bad file is
removed. The directory is kept under :data:`MAX_BYTES` by removing the least recently written
entries.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import tempfile
from pathlib import Path
from typing import Callable, Optional

from . import __version__
from . import ast as A

#: Bumped whenever the pickled form of the syntax tree changes meaning.
SCHEMA_VERSION = "2"
MAGIC = b"coherence-parse-cache 2\n"
MAX_BYTES = 200 * 1024 * 1024
PRUNE_TO = 150 * 1024 * 1024

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
    _dir = None
    root = cache_root()
    d = root / "parse"
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        d.mkdir(exist_ok=True, mode=0o700)
    except OSError:
        return None
    if _private(root) and _private(d):
        _dir = d
    return _dir


def _grammar() -> str:
    global _grammar_hash
    if _grammar_hash is None:
        from .parse import GRAMMAR_PATH

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
    d = cache_dir()
    if d is None:
        return None
    path = d / f"{k}.pickle"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    head = len(MAGIC) + 32
    try:
        if len(data) < head or not data.startswith(MAGIC):
            raise ValueError("not an entry of this version")
        body = data[head:]
        if hashlib.sha256(body).digest() != data[len(MAGIC):head]:
            raise ValueError("checksum mismatch")
        # our own file, in a directory only this user can write to, and its checksum matches
        module = pickle.loads(body)
        if not isinstance(module, A.Module):
            raise ValueError("not a module")
        return module
    except Exception:  # noqa: BLE001 - any damage is a miss
        _remove(path)
        return None


def write(k: str, module: A.Module) -> None:
    """Store ``module`` under key ``k`` (best effort: errors are ignored)."""
    d = cache_dir()
    if d is None:
        return
    try:
        body = pickle.dumps(module, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an unpicklable tree is simply not cached
        return
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + hashlib.sha256(body).digest() + body)
        os.replace(tmp, d / f"{k}.pickle")
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            _remove(Path(tmp))
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


def cached_parse(text: str, file: str, kind: str, line_offset: int,
                 parse: Callable[..., tuple]) -> tuple:
    """``parse(text, file, kind=..., line_offset=...)`` through the cache.

    Sources made only of facts and accepts are read by the fast path (:func:`.parse.parse_fast`)
    and not cached: reading them is cheaper than unpickling their trees. Everything else (rules,
    schemas, tests, sources with errors) goes through the cache and Lark."""
    from .parse import parse_fast

    module = parse_fast(text, file, kind, line_offset)
    if module is not None:
        return module, []
    if not enabled():
        return parse(text, file, kind=kind, line_offset=line_offset)
    k = key(text, file, kind, line_offset)
    module = read(k)
    if module is not None:
        return module, []
    module, diags = parse(text, file, kind=kind, line_offset=line_offset)
    if not diags:
        write(k, module)
    return module, diags
