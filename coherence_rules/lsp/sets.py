"""The policy set of an open document, and checking it from the editor's texts.

A document's policy set is its folder, as ``coherence check FOLDER`` reads it (every source under
it, hidden files and folders skipped, Markdown files without ``policy``/``rules`` blocks left
out), with the unsaved text of every open document replacing the file on disk. The rulesets and
reference facts come from the ``ruleset``/``with`` settings of the ``coherence.toml`` (or
``[tool.coherence]``) found upward from the folder, unless the server was started with
``--ruleset``/``--with`` (the command line wins, as for every command). Relative paths in a
settings file are relative to the folder that holds it.

Nothing here imports pygls: :func:`check_set` is a plain function over texts, run by the server
in its checking thread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ..diagnostics import Diagnostic, SourceLines, sort_diagnostics
from ..session import (BUILTIN_PREFIX, DEFAULT_RULESETS, REFERENCE_DIR, RULESETS_DIR, Rulesets, Session,
                       resolve_ruleset)
from ..sources.loader import EXTENSIONS, discover, markdown_blocks, read_text
from ..warm import SourceMemo


@dataclass
class SetConfig:
    """How one folder's set is checked: its rulesets (names or absolute paths), its reference
    facts, the reference date and the derivation limit; ``problems`` are messages about a
    settings file that could not be used (the defaults apply then)."""

    rulesets: list[str]
    with_paths: list[str]
    as_of: Optional[dt.date] = None
    max_derived: Optional[int] = None
    origin: Optional[str] = None
    problems: list[str] = field(default_factory=list)


def inside(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (symbolic links resolved)."""
    rp, rf = os.path.realpath(path), os.path.realpath(folder)
    return rp == rf or rp.startswith(rf.rstrip(os.sep) + os.sep)


def _builtin_ruleset(name: str) -> bool:
    p = resolve_ruleset(name)
    return p is not None and "/" not in name and not name.endswith(".rules") and p.parent == RULESETS_DIR


def _setting_path(value: str, base: Optional[Path]) -> str:
    """A path from a settings file or the command line, made absolute (relative to ``base``, the
    settings file's folder, or the working directory)."""
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = (base or Path.cwd()) / p
    return os.path.abspath(p)


def set_config(folder: str, rulesets: Optional[Sequence[str]] = None,
               with_paths: Optional[Sequence[str]] = None) -> SetConfig:
    """The configuration of the set in ``folder``: the settings found upward from it, with
    ``rulesets``/``with_paths`` (the server's command line, already absolute) winning."""
    from ..settings import SettingsError, load_settings

    problems: list[str] = []
    try:
        s = load_settings(Path(folder))
    except SettingsError as e:
        from ..settings import Settings

        s, problems = Settings(), [str(e)]
    except OSError as e:
        from ..settings import Settings

        s, problems = Settings(), [f"cannot read the settings: {e}"]
    base = Path(s.origin).parent if s.origin else None
    names = list(rulesets or []) or [n if _builtin_ruleset(n) else _setting_path(n, base) for n in s.ruleset] \
        or list(DEFAULT_RULESETS)
    refs = list(with_paths or []) or [_reference_path(w, base) for w in s.with_]
    # What the set holds itself is read from the editor's texts, not a second time as a ruleset
    # or as reference facts (that would define everything twice).
    names = [n for n in names if not _covered(resolve_ruleset(n) if _builtin_ruleset(n) else n, folder)]
    refs = [w for w in refs if not (_covered(w, folder) or (os.path.exists(w) and inside(folder, w)))]
    return SetConfig(names, refs, s.as_of, s.max_derived, s.origin, problems)


def _reference_path(value: str, base: Optional[Path]) -> str:
    path = _setting_path(value, base)
    if not os.path.exists(path) and value.rstrip("/") == "reference" and REFERENCE_DIR.is_dir():
        return str(REFERENCE_DIR)
    return path


def _covered(path: Any, folder: str) -> bool:
    return path is not None and os.path.exists(path) and inside(path, folder)


class RulesetCache:
    """One shared :class:`Rulesets` per list of rulesets, so that rulesets are parsed, checked and
    compiled once for every set that runs them. An entry is rebuilt when one of its (non-shipped)
    ruleset files changed on disk."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, ...], tuple[Rulesets, tuple]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _stamp(rules: Rulesets) -> tuple:
        out = []
        for shown, real in sorted(rules.files.items()):
            if shown.startswith(BUILTIN_PREFIX):
                continue
            try:
                st = os.stat(real)
                out.append((real, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((real, None, None))
        return tuple(out)

    def get(self, names: Sequence[str]) -> Rulesets:
        """The shared rulesets for ``names``."""
        key = tuple(names)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] == self._stamp(entry[0]):
                return entry[0]
            rules = Rulesets(list(names))
            self._entries[key] = (rules, self._stamp(rules))
            return rules


@dataclass
class CheckResult:
    """One check of a set: what was checked and what it found.

    ``texts`` maps the file names of the set (absolute paths) to the texts checked (``versions``
    the editor's version of those that were open); ``diagnostics`` holds every stage's
    diagnostics, sorted; ``program``/``findings`` are None/empty when errors stopped the run
    before them; ``sources`` are the texts of every file seen (rulesets and reference facts too)."""

    folder: str
    config: SetConfig
    texts: dict[str, str]
    versions: dict[str, Optional[int]]
    rules: Optional[Rulesets]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    program: Any = None
    findings: list = field(default_factory=list)
    sources: Optional[SourceLines] = None
    as_of: Optional[dt.date] = None
    #: warnings about the check itself (not about a file): shown at the top of the open documents
    notices: list[str] = field(default_factory=list)

    def path_of(self, name: Optional[str]) -> Optional[str]:
        """The file on disk that a span's file name stands for (None for no file)."""
        if not name:
            return None
        if name in self.texts:
            return name
        if self.rules is not None and name in self.rules.files:
            return self.rules.files[name]
        if name.startswith(BUILTIN_PREFIX):
            return str(RULESETS_DIR / name[len(BUILTIN_PREFIX):])
        if name.startswith("<"):
            return None
        return os.path.abspath(name)

    def text_of(self, name: str) -> Optional[str]:
        """The text of a span's file: the checked text, else the file as read by the run."""
        if name in self.texts:
            return self.texts[name]
        if self.sources is not None:
            return self.sources.text(name)
        return None


#: At most this many sources in a folder's tree, and this many entries looked at to find them:
#: a document opened in a home directory must not make the server read the whole disk.
MAX_FILES = 2000
MAX_ENTRIES = 50_000


def source_files(folder: str) -> tuple[list[str], bool]:
    """The sources of ``folder``'s tree, as a check of the folder finds them (sorted, hidden files
    and folders skipped), and True; or, for a tree too large for that, the sources directly in
    the folder and False."""
    if not os.path.isdir(folder):
        return [], True
    found: list[str] = []
    seen = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        seen += len(dirs) + len(files)
        found += [os.path.join(root, f) for f in files if f.endswith(EXTENSIONS) and not f.startswith(".")]
        if len(found) > MAX_FILES or seen > MAX_ENTRIES:
            break
    else:
        files_, _ = discover([folder])  # the loader's own rules (regular files only)
        return [os.path.abspath(p) for p, _explicit in files_], True
    direct = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                    if f.endswith(EXTENSIONS) and not f.startswith(".") and os.path.isfile(os.path.join(folder, f)))
    return [os.path.abspath(p) for p in direct], False


def is_source(path: str) -> bool:
    """Whether ``path`` names a kind of file the language reads."""
    return path.endswith(EXTENSIONS)


def check_set(folder: str, open_texts: dict[str, tuple[str, Optional[int]]], config: SetConfig,
              cache: RulesetCache, today: Optional[dt.date] = None, memo: Optional[SourceMemo] = None) -> CheckResult:
    """Check the set of ``folder``: its files, with ``open_texts`` (absolute path -> (text,
    version)) replacing those open in the editor, with ``config``'s rulesets (shared through
    ``cache``) and reference facts. Never raises on bad input: problems are diagnostics.
    ``memo``: the folder's parses kept from its last check (only the texts that changed since
    are parsed again); its checks must take turns."""
    texts: dict[str, str] = {}
    versions: dict[str, Optional[int]] = {}
    read_diags: list[Diagnostic] = []
    names, whole = source_files(folder)
    names += sorted(n for n in open_texts if n not in names and is_source(n)
                    and (inside(n, folder) if whole else os.path.dirname(n) == folder))
    for name in names:
        if name in open_texts:
            text, versions[name] = open_texts[name]
        else:
            text, diags = read_text(Path(name), name)
            if text is None:
                read_diags += diags
                continue
        if name.endswith(".md") and not markdown_blocks(text.replace("\r\n", "\n").replace("\r", "\n")):
            continue  # prose only: not part of the set, as when a folder is checked
        texts[name] = text
    result = CheckResult(folder, config, texts, versions, None, as_of=config.as_of or today or dt.date.today())
    if not whole:
        result.notices.append(f"the folder holds more than {MAX_FILES} sources (or too many files to look "
                              "through): only the files directly in it are checked together")
    if not texts:
        result.diagnostics = read_diags
        return result
    rules = cache.get(config.rulesets)
    result.rules = rules
    session = Session([folder], texts=texts, with_paths=config.with_paths, rules=rules, as_of=result.as_of,
                      max_derived=config.max_derived)
    with memo.checking(session) if memo is not None else contextlib.nullcontext():
        report = session.report
    result.diagnostics = sort_diagnostics(list(session.diagnostics) + read_diags)
    result.program = session.products.get("check")
    result.findings = list(report.findings) if "findings" in session.products else []
    parsed = session.products.get("parse")
    result.sources = parsed.sources if parsed is not None else None
    return result


def fallback_program(result: Optional[CheckResult]) -> Any:
    """A program to answer hover, definition and completion with when the set's own check stopped
    before it (the rulesets alone: the vocabulary and the criteria)."""
    if result is None or result.rules is None:
        return None
    alone = result.rules.alone()
    alone.run_until("check")
    return alone.products.get("check")
