"""The result store of ``coherence batch --store FILE``: finished sets in a SQLite file, so that a
batch stopped at any point resumes without losing or doubling a set (``docs/batch.md``)."""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Optional

from .. import __version__

STORE_SCHEMA = 1
#: ``PRAGMA application_id`` of a result store ("COHR"): SQLite's own place for saying which
#: application a database file belongs to.
STORE_APPLICATION_ID = 0x434F4852
_STORE_COLUMNS = ("name", "inputs_sha256", "rulesets_sha256", "version", "as_of", "status", "entry")


class BatchError(Exception):
    """The batch cannot run at all (bad rulesets, unusable store, missing Dask). ``diagnostics``
    holds the rulesets' diagnostics when that is the reason."""

    def __init__(self, message: str, diagnostics: Optional[list] = None, sources=None):
        super().__init__(message)
        self.diagnostics = diagnostics or []
        self.sources = sources


class Store:
    """Results of finished sets in a SQLite file (WAL; one transaction per set).

    A store is only ever a file this tool made: before anything is written, an existing database
    must carry the store's marks (``PRAGMA application_id`` :data:`STORE_APPLICATION_ID`, a ``meta``
    table with ``schema`` = :data:`STORE_SCHEMA` and, from the stores made by this version on,
    ``application`` = ``coherence``, and a ``results`` table of the store's columns) and pass
    ``PRAGMA quick_check``. Another application's database (say, one with its own ``results``
    table) and a damaged file are refused with a :class:`BatchError`, never changed; an empty or
    new file becomes a store. A database error later on (a page damaged while the batch runs, a
    full disk) is a :class:`BatchError` too, and an entry that does not decode is recomputed."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as e:
            raise BatchError(f"{self.path}: cannot open the result store: {e}") from None
        try:
            self.db.execute("PRAGMA busy_timeout=30000")
            fresh = self._check()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("BEGIN IMMEDIATE")
            if fresh:
                self.db.execute(f"PRAGMA application_id={STORE_APPLICATION_ID}")
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS results ("
                " name TEXT NOT NULL, inputs_sha256 TEXT NOT NULL, rulesets_sha256 TEXT NOT NULL,"
                " version TEXT NOT NULL, as_of TEXT NOT NULL, status TEXT NOT NULL, entry TEXT NOT NULL,"
                " PRIMARY KEY (name, inputs_sha256, rulesets_sha256, version, as_of))")
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(STORE_SCHEMA),))
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('application', 'coherence')")
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            self.db.close()
            raise BatchError(f"{self.path}: not a usable result store: {e}") from None
        except BatchError:
            self.db.close()
            raise

    def _check(self) -> bool:
        """Whether the database is new (empty); raises :class:`BatchError`, having written
        nothing, unless it is empty or a store of this tool in good order."""
        tables = {name for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return True
        app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
        marks = {}
        if "meta" in tables:
            try:
                marks = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
            except sqlite3.Error:
                marks = {}
        columns = [row[1] for row in self.db.execute("PRAGMA table_info(results)")] if "results" in tables else []
        # stores made before the marks existed have application_id 0 and no `application` row
        ours = (app_id in (0, STORE_APPLICATION_ID) and "schema" in marks
                and marks.get("application", "coherence") == "coherence" and columns == list(_STORE_COLUMNS))
        if not ours:
            raise BatchError(f"{self.path}: not a coherence result store (a SQLite database of another "
                             f"application, with tables {', '.join(sorted(tables))}); it was left unchanged: "
                             "give --store a new file")
        if marks["schema"] != str(STORE_SCHEMA):
            raise BatchError(f"{self.path}: a result store of another format ({marks['schema']})")
        problems = [row[0] for row in self.db.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise BatchError(f"{self.path}: the result store is damaged ({problems[0]}); it was left unchanged: "
                             "remove it (the sets are checked again) or give --store a new file")
        return False

    def get(self, name: str, inputs_sha: str, rulesets_sha: str, as_of: str) -> Optional[dict]:
        """The stored entry of a set, or None (also for an entry that does not decode: it is
        computed again and replaced)."""
        try:
            row = self.db.execute(
                "SELECT entry FROM results WHERE name = ? AND inputs_sha256 = ? AND rulesets_sha256 = ? AND version = ?"
                " AND as_of = ?", (name, inputs_sha, rulesets_sha, __version__, as_of)).fetchone()
        except sqlite3.Error as e:
            raise BatchError(f"{self.path}: the result store failed: {e}") from None
        if not row:
            return None
        try:
            entry = json.loads(row[0])
        except (TypeError, ValueError):
            return None
        return entry if isinstance(entry, dict) and isinstance(entry.get("findings"), list) else None

    def put(self, name: str, inputs_sha: str, rulesets_sha: str, as_of: str, entry: dict) -> None:
        """Commit one set's entry; a result for an older version of the same set's input (same
        rulesets, version and date) is replaced in the same transaction."""
        text = json.dumps(entry, sort_keys=True, ensure_ascii=False)
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM results WHERE name = ? AND rulesets_sha256 = ? AND version = ? AND as_of = ?"
                           " AND inputs_sha256 != ?", (name, rulesets_sha, __version__, as_of, inputs_sha))
                db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (name, inputs_sha, rulesets_sha, __version__, as_of, entry["status"], text))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise BatchError(f"{self.path}: the result store failed: {e}; the sets finished before are kept") from None

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def close(self) -> None:
        self.db.close()


