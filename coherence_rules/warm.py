"""Warm re-checks: what a long-lived process (an editor's loop, the drafting server, the
language server) keeps between the checks of one policy set, so that a check after an edit costs a
fraction of a cold one, with the same answer (``tests/test_warm_session.py``)."""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional, Sequence

from .session import Rulesets, Session, _load_texts

class SourceMemo:
    """Parses kept between the checks of a long-lived process (a warm session, the drafting
    server, the language server): each file's, by path, until its stamp (size, modification
    time, inode) changes or it is named as changed; each text's (an editor's buffer), by name,
    until the text changes. A check runs inside :meth:`checking`; what it did not use is forgotten
    at its end, so the memo holds the set as it is now, never more."""

    def __init__(self) -> None:
        #: (path, explicit) -> (stamp, what reading it gave: a Loaded of that file alone)
        self._files: dict[tuple[str, bool], tuple[Any, Any]] = {}
        #: name -> (text, a Loaded of that text alone)
        self._texts: dict[str, tuple[str, Any]] = {}
        self._changed: set[str] = set()
        self._used: set = set()
        #: the files and texts read (parsed) by the last check, as shown
        self.reread: list[str] = []

    @staticmethod
    def _stamp(path: Path):
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)

    @contextmanager
    def checking(self, s: "Session", changed: Sequence[str | Path] = ()):
        """Run ``s`` (inside the ``with``) reading its files and texts through this memo, and
        checking a set that brings only facts against the rulesets' criteria and rules as checked
        once, with its engine run made in the rulesets' long-lived child (``engine.child``).
        ``changed``: files to read again whatever their stamps say. At the end, what the
        check did not read is forgotten (files gone from the set), unless it stopped before
        reading anything."""
        self._changed = {os.path.realpath(p) for p in changed}
        self._used = set()
        self.reread = []
        s.share_checked_rules = True
        s.reuse_engine_child = True
        s.load_paths = self.load_paths
        s.load_texts = self.load_texts
        try:
            yield s
        finally:
            self._changed = set()
            if "parse" in s.products:
                self._files = {k: v for k, v in self._files.items() if ("file", k) in self._used}
                self._texts = {k: v for k, v in self._texts.items() if ("text", k) in self._used}

    @staticmethod
    def _add(loaded, one) -> None:
        loaded.diagnostics += one.diagnostics
        for f in one.files:
            loaded.sources.copy(one.sources, f)
        loaded.files += one.files
        loaded.modules += one.modules

    def load_paths(self, paths):
        """``sources.loader.load_paths``, with every unchanged file's reading taken from memory."""
        from .sources.loader import Loaded, discover, load_file

        loaded = Loaded()
        files, diags = discover(paths)
        loaded.diagnostics += diags
        for path, explicit in files:
            key = (str(path), explicit)
            stamp = self._stamp(path)
            hit = self._files.get(key)
            if hit is None or stamp is None or hit[0] != stamp or os.path.realpath(path) in self._changed:
                one = Loaded()
                load_file(path, explicit, one)
                self._files[key] = hit = (stamp, one)
                self.reread += one.files or [str(path)]
            self._used.add(("file", key))
            self._add(loaded, hit[1])
        return loaded

    def load_texts(self, texts: dict[str, str]):
        """:func:`_load_texts`, with every unchanged text's reading taken from memory."""
        from .sources.loader import Loaded

        loaded = Loaded()
        for name in sorted(texts):
            hit = self._texts.get(name)
            if hit is None or hit[0] != texts[name]:
                hit = self._texts[name] = (texts[name], _load_texts({name: texts[name]}))
                self.reread.append(name)
            self._used.add(("text", name))
            self._add(loaded, hit[1])
        return loaded


class WarmSession:
    """A policy set checked again and again by one long-lived process (an editor's loop, a
    server), each time as :class:`Session` checks it, for a fraction of a cold check's cost.

    What carries over between checks: the rulesets, parsed, checked and compiled once (a
    :class:`Rulesets`, which may be shared with other warm sessions); each source file's parse,
    kept until the file changes (a :class:`SourceMemo`): a re-check after one file was edited
    reads and parses that file alone; and, for a set that brings only facts, the rulesets'
    criteria and rules as checked once (:func:`_check_on_shared_rules`): what is checked again is
    the facts, which share one namespace, then the engine runs again (in the compiled ruleset's
    long-lived child, ``engine.child``, instead of a fork per check) and the findings are built.
    Each check is a fresh :class:`Session` whose products, diagnostics and report are those of a
    cold ``Session`` on the same files
    (``tests/test_warm_session.py`` holds them equal through edits).

    ``paths``, ``with_paths``, ``rulesets``/``rules``, ``as_of``, ``max_derived``, ``format``,
    ``explain``: as for :class:`Session`.
    """

    def __init__(self, paths: Sequence[str | Path], *, with_paths: Sequence[str | Path] = (),
                 rulesets: Optional[Sequence[str]] = None, rules: Optional[Rulesets] = None,
                 as_of: Optional[dt.date] = None, max_derived: Optional[int] = None, format: Optional[str] = None,
                 explain: bool = False):
        self.paths = [str(p) for p in paths]
        self.with_paths = [str(p) for p in with_paths]
        self.rules = rules if rules is not None else Rulesets(rulesets)
        self.as_of = as_of
        self.max_derived = max_derived
        self.format = format
        self.explain = explain
        self.memo = SourceMemo()
        self.session: Optional[Session] = None

    @property
    def reread(self) -> list[str]:
        """The files read (parsed) by the last check, as shown: what it did not take from memory."""
        return self.memo.reread

    def check(self, changed: Sequence[str | Path] = ()) -> Session:
        """Check the set as it is now: a :class:`Session` run up to its findings (its ``report``,
        ``render()`` and products are there to read). ``changed``: files to read again whatever
        their stamps say (an edit that kept a file's size within its clock's resolution)."""
        s = Session(self.paths, with_paths=self.with_paths, rules=self.rules, as_of=self.as_of,
                    max_derived=self.max_derived, format=self.format, explain=self.explain)
        with self.memo.checking(s, changed):
            s.run_until("findings")
        self.session = s
        return s
