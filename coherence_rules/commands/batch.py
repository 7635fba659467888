"""Batch runs: many policy sets against one ruleset, in parallel, with a resumable result store.

The unit of work is one policy set (one path: a directory or a file). :func:`run_batch` checks
every set and returns a :class:`BatchResult`, whose :meth:`~BatchResult.to_dict` is the
``coherence-batch/1`` document (docs/batch.md).

- **Parallelism.** Locally, a process pool (``fork`` where available: durable_rules keeps
  process-global state, so no threads); with ``scheduler``, a Dask distributed cluster. Each
  worker process parses, checks and compiles the rulesets once (:func:`shared_rulesets`, a
  per-process :class:`~coherence_rules.session.Rulesets` keyed by the ruleset list and the working
  directory); each set is a :class:`~coherence_rules.session.Session` on it, and a set that
  brings no criteria, rules or vocabulary of its own runs on the shared compiled ruleset.
- **Store.** With ``store``, every finished set is committed to a SQLite file (WAL, one
  transaction per set) under a key made of the set's name, the SHA-256 of its input files, the
  SHA-256 of the rulesets' and reference facts' files, the tool version and the reference date. A rerun skips the sets
  whose key is already stored, so an interrupted batch resumes where it stopped: a set is either
  wholly in the store or not at all, and the primary key makes doubles impossible.
- **Failures.** A set with bad input fails alone (status ``failed``, with its diagnostics); the
  other sets go on.
- **Determinism.** Sets are sorted by name and each set's entry depends only on its input, so the
  document is byte-identical whatever the number of jobs, the scheduler, or how much came from
  the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import sqlite3
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Sequence, TextIO

from .. import __version__
from ..findings.report import Report, document_head, dump_json

if TYPE_CHECKING:
    from ..session import Rulesets

SCHEMA = "coherence-batch/1"
STORE_SCHEMA = 1
DASK_MISSING = "the Dask scheduler needs Dask distributed: pip install 'coherence-rules[dask]'"


class BatchError(Exception):
    """The batch cannot run at all (bad rulesets, unusable store, missing Dask). ``diagnostics``
    holds the rulesets' diagnostics when that is the reason."""

    def __init__(self, message: str, diagnostics: Optional[list] = None, sources=None):
        super().__init__(message)
        self.diagnostics = diagnostics or []
        self.sources = sources


# ---- the rulesets part, once per process ------------------------------------------------------------------------


_rulesets_cache: dict[tuple, "Rulesets"] = {}
_rulesets_lock = threading.Lock()


def shared_rulesets(names: Optional[Sequence[str]]) -> "Rulesets":
    """The rulesets of a batch, parsed once per process (and per working directory), checked and
    compiled on first use: every set a process checks shares them."""
    from ..session import Rulesets

    key = (None if names is None else tuple(names), os.getcwd())
    with _rulesets_lock:
        rules = _rulesets_cache.get(key)
        if rules is None:
            rules = _rulesets_cache[key] = Rulesets(names)
        return rules


def check_set(path: str, rules: "Rulesets", as_of: dt.date, max_derived: Optional[int] = None,
              with_paths: Sequence[str] = ()) -> Report:
    """Check one policy set with shared rulesets: the same report as ``coherence check``, without
    parsing, checking and compiling the rulesets again."""
    from ..session import Session

    return Session([path], with_paths=with_paths, rules=rules, as_of=as_of, max_derived=max_derived).report


def ruleset_info(rules: "Rulesets") -> list[dict]:
    return [{"name": r.name, "title": r.title, "version": r.version}
            for r in rules.alone().program.rulesets if r.name != "schema"]


def _entry(name: str, report: Report) -> dict:
    """One set's entry of the batch document."""
    d = report.to_dict()
    failed = bool(report.errors)
    return {
        "name": name,
        "status": "failed" if failed else "ok",
        "inputs": d["inputs"],
        "summary": d["summary"],
        "findings": [] if failed else d["findings"],
        "accepts": [] if failed else d["accepts"],
        "diagnostics": d["diagnostics"],
    }


def _stopped_entry(name: str, as_of: dt.date, message: str, help: Optional[str] = None) -> dict:
    """The entry of a set whose check stopped with E502 before it had a report of its own."""
    from ..diagnostics import Diagnostic

    report = Report(findings=[], facts=0, derived_facts=0, criteria_run=0, as_of=as_of, rulesets=[], inputs=[],
                    diagnostics=[Diagnostic.make("E502", message, None, help=help)])
    return _entry(name, report)


def _crash_entry(name: str, message: str, as_of: dt.date) -> dict:
    """The entry of a set whose check stopped unexpectedly (never stored: a rerun tries again)."""
    e = _stopped_entry(name, as_of, message, help="this is a bug; please report it with the policy set and "
                                                   "rulesets that trigger it")
    e["_transient"] = True
    return e


def check_set_task(spec: dict) -> dict:
    """Check one set described by a plain dict and return its entry: the function the process
    pool and Dask workers run. ``spec``: ``name``, ``path``, ``rulesets``, ``as_of`` (ISO date),
    ``cwd`` (paths in results are shown relative to it), ``max_derived``, ``with`` (reference
    paths)."""
    with _cwd(spec.get("cwd")):
        as_of = dt.date.fromisoformat(spec["as_of"])
        try:
            rules = shared_rulesets(spec["rulesets"])
            report = check_set(spec["path"], rules, as_of, spec.get("max_derived"), spec.get("with") or ())
            return _entry(spec["name"], report)
        except RecursionError:
            return _stopped_entry(spec["name"], as_of, "the input nests too deeply to analyse")
        except Exception as e:  # noqa: BLE001 - one set's failure must not stop the batch
            return _crash_entry(spec["name"], f"checking this set failed: {type(e).__name__}: {e}", as_of)


_cwd_lock = threading.RLock()


class _cwd:
    """Run in the client's working directory (Dask workers may start elsewhere)."""

    def __init__(self, path: Optional[str]):
        self.path = path

    def __enter__(self):
        _cwd_lock.acquire()
        self.saved = os.getcwd()
        if self.path and self.path != self.saved and os.path.isdir(self.path):
            os.chdir(self.path)
        return self

    def __exit__(self, *exc):
        try:
            if os.getcwd() != self.saved:
                os.chdir(self.saved)
        finally:
            _cwd_lock.release()


# ---- keys -------------------------------------------------------------------------------------------------------


def _hash_files(files: Iterable[tuple[str, Path]]) -> str:
    h = hashlib.sha256()
    for shown, path in sorted(files, key=lambda x: x[0]):
        h.update(shown.encode("utf-8") + b"\0")
        try:
            data = path.read_bytes()
        except OSError as e:
            data = f"<unreadable: {e.strerror}>".encode()
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


def inputs_digest(path: str) -> str:
    """SHA-256 over the set's source files: their shown paths and bytes, sorted by path."""
    from ..sources.loader import discover, display_path

    files, _ = discover([path])
    return _hash_files([(display_path(p), p) for p, _ in files])


def rulesets_digest(rules: "Rulesets", with_paths: Sequence[str] = ()) -> str:
    """SHA-256 over what every set of a batch shares: the files of the rulesets (the built-in schema
    included) and of the reference facts (``--with``)."""
    from ..session import resolve_reference
    from ..sources.loader import discover, display_path

    files: list[tuple[str, Path]] = [(shown, Path(real)) for shown, real in rules.files.items()]
    if with_paths:
        found, _ = discover([resolve_reference(p) for p in with_paths])
        files += [("<with>/" + display_path(p), p) for p, _ in found]
    return _hash_files(files)


def set_name(path: str) -> str:
    """A set's name: its path as check shows paths (relative to the working directory)."""
    from ..sources.loader import display_path

    return display_path(Path(os.path.normpath(path)))


@dataclass
class _Set:
    name: str
    path: str
    inputs_sha: str


# ---- the store --------------------------------------------------------------------------------------------------


class Store:
    """Results of finished sets in a SQLite file (WAL; one transaction per set)."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=30000")
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS results ("
                " name TEXT NOT NULL, inputs_sha256 TEXT NOT NULL, rulesets_sha256 TEXT NOT NULL,"
                " version TEXT NOT NULL, as_of TEXT NOT NULL, status TEXT NOT NULL, entry TEXT NOT NULL,"
                " PRIMARY KEY (name, inputs_sha256, rulesets_sha256, version, as_of))")
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(STORE_SCHEMA),))
            row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise BatchError(f"{self.path}: not a usable result store: {e}") from None
        if row is None or row[0] != str(STORE_SCHEMA):
            raise BatchError(f"{self.path}: a result store of another format ({row[0] if row else '?'})")

    def get(self, name: str, inputs_sha: str, rulesets_sha: str, as_of: str) -> Optional[dict]:
        row = self.db.execute(
            "SELECT entry FROM results WHERE name = ? AND inputs_sha256 = ? AND rulesets_sha256 = ? AND version = ?"
            " AND as_of = ?", (name, inputs_sha, rulesets_sha, __version__, as_of)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, name: str, inputs_sha: str, rulesets_sha: str, as_of: str, entry: dict) -> None:
        """Commit one set's entry; a result for an older version of the same set's input (same
        rulesets, version and date) is replaced in the same transaction."""
        text = json.dumps(entry, sort_keys=True, ensure_ascii=False)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM results WHERE name = ? AND rulesets_sha256 = ? AND version = ? AND as_of = ?"
                       " AND inputs_sha256 != ?", (name, rulesets_sha, __version__, as_of, inputs_sha))
            db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (name, inputs_sha, rulesets_sha, __version__, as_of, entry["status"], text))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def close(self) -> None:
        self.db.close()


# ---- progress ---------------------------------------------------------------------------------------------------


class ProgressBar:
    """Sets done/total, findings so far, rate and time left, redrawn in place with ``\\r``. Draws
    only when ``enabled`` (the command line enables it when stderr is a terminal and not --quiet)."""

    WIDTH = 24

    def __init__(self, stream: Optional[TextIO] = None, enabled: Optional[bool] = None, interval: float = 0.1):
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.interval = interval
        self.total = self.done = self.findings = self.failed = self.reused = 0
        self.t0 = time.monotonic()
        self._last = 0.0
        self._width = 0

    def start(self, total: int, reused: int = 0, findings: int = 0) -> None:
        self.total, self.done, self.reused, self.findings = total, reused, reused, findings
        self.t0 = time.monotonic()
        self._draw(force=True)

    def update(self, entry: dict) -> None:
        self.done += 1
        self.findings += len(entry.get("findings", ()))
        self.failed += entry.get("status") == "failed"
        self._draw()

    def finish(self) -> None:
        if self.enabled and self._width:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        computed = self.done - self.reused
        rate = computed / elapsed
        left = self.total - self.done
        eta = f"{_clock(left / rate)} left" if rate > 0 and left else ("done" if not left else "-- left")
        filled = int(self.WIDTH * self.done / self.total) if self.total else self.WIDTH
        bar = "#" * filled + "." * (self.WIDTH - filled)
        failed = f", {self.failed} failed" if self.failed else ""
        return (f"[{bar}] {self.done}/{self.total} sets, {self.findings} findings{failed}, "
                f"{rate:.1f} sets/s, {eta}")

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval and self.done < self.total:
            return
        self._last = now
        text = self.line()
        pad = max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


# ---- the result -------------------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    sets: list[dict]
    criteria: list[str]
    rulesets: list[dict]
    as_of: dt.date
    reused: int = 0
    computed: int = 0
    elapsed: float = 0.0

    @property
    def failed(self) -> list[dict]:
        return [s for s in self.sets if s["status"] == "failed"]

    def failing(self, fail_on: int = -1) -> list[tuple[str, dict]]:
        """(set name, finding) for open or expired findings scoring ``fail_on`` or lower."""
        return [(s["name"], f) for s in self.sets for f in s["findings"]
                if f["status"] in ("open", "expired") and f["score"] < 0 and f["score"] <= fail_on]

    def exit_code(self, fail_on: int = -1) -> int:
        """2 when a set failed, else 1 when a set has failing findings, else 0."""
        if self.failed:
            return 2
        return 1 if self.failing(fail_on) else 0

    def matrix(self) -> list[dict]:
        rows = []
        for s in self.sets:
            cells: dict[str, dict] = {}
            for f in s["findings"]:
                c = cells.setdefault(f["criterion"], {"count": 0, "worst": f["score"]})
                c["count"] += 1
                c["worst"] = min(c["worst"], f["score"])
            rows.append({"set": s["name"], "status": s["status"], "cells": dict(sorted(cells.items()))})
        return rows

    def summary(self) -> dict:
        findings = [f for s in self.sets for f in s["findings"]]
        return {
            "sets": len(self.sets), "ok": len(self.sets) - len(self.failed), "failed": len(self.failed),
            "findings": len(findings),
            "conflicts": sum(1 for f in findings if f["score"] < 0),
            "synergies": sum(1 for f in findings if f["score"] > 0),
            "open": sum(1 for f in findings if f["status"] == "open"),
            "accepted": sum(1 for f in findings if f["status"] == "accepted"),
            "expired": sum(1 for f in findings if f["status"] == "expired"),
        }

    def to_dict(self) -> dict:
        return {
            **document_head(SCHEMA, self.as_of),
            "ruleset": self.rulesets,
            "criteria": self.criteria,
            "summary": self.summary(),
            "matrix": self.matrix(),
            "sets": self.sets,
        }

    def to_json(self) -> str:
        return dump_json(self.to_dict())


# ---- running ----------------------------------------------------------------------------------------------------


def _mp_context():
    methods = multiprocessing.get_all_start_methods()
    for m in ("fork", "forkserver"):
        if m in methods:
            return multiprocessing.get_context(m)
    return multiprocessing.get_context()


def _worker_init() -> None:
    # a worker leaves Ctrl-C to the parent, which stops the pool
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_batch(set_paths: Sequence[str | os.PathLike], rulesets: Optional[Sequence[str]] = None, jobs: Optional[int] = None,
              store: Optional[str | os.PathLike] = None, scheduler: Optional[str] = None,
              as_of: Optional[dt.date] = None, progress: Optional[ProgressBar] = None,
              max_derived: Optional[int] = None, with_paths: Sequence[str | os.PathLike] = ()) -> BatchResult:
    """Check every path in ``set_paths`` as one policy set.

    ``jobs``: worker processes (default: the number of CPUs); ``store``: a SQLite file to commit
    results to and resume from; ``scheduler``: ``None`` for the local process pool, ``"local"``
    for a Dask cluster on this machine (loopback only), or a Dask scheduler address
    (``tcp://host:port``); ``progress``: a :class:`ProgressBar` (or an object with ``start``,
    ``update`` and ``finish``); ``with_paths``: reference facts that join every set. Raises
    :class:`BatchError` when the rulesets do not check, the store is unusable, or Dask is missing.
    """
    t0 = time.perf_counter()
    as_of = as_of or dt.date.today()
    jobs = max(1, jobs or os.cpu_count() or 1)
    rulesets = None if rulesets is None else list(rulesets)
    with_paths = [str(p) for p in with_paths]
    rules = shared_rulesets(rulesets)  # parsed, checked and compiled here once; forked workers inherit it
    if rules.errors:
        raise BatchError("the rulesets have errors", rules.all_diagnostics, rules.sources)
    rules.alone().run_until("compile")
    if scheduler is not None:
        _import_dask()

    seen: dict[str, _Set] = {}
    for p in set_paths:
        name = set_name(str(p))
        if name not in seen:
            seen[name] = _Set(name, str(p), inputs_digest(str(p)))
    sets = [seen[k] for k in sorted(seen)]
    rules_sha = rulesets_digest(rules, with_paths)
    day = as_of.isoformat()

    db = Store(store) if store is not None else None
    entries: dict[str, dict] = {}
    todo: list[_Set] = []
    try:
        for s in sets:
            hit = db.get(s.name, s.inputs_sha, rules_sha, day) if db else None
            if hit is not None:
                entries[s.name] = hit
            else:
                todo.append(s)
        reused = len(entries)
        if progress is not None:
            progress.start(len(sets), reused, sum(len(e["findings"]) for e in entries.values()))

        def finished(s: _Set, entry: dict) -> None:
            transient = entry.pop("_transient", False)
            entries[s.name] = entry
            if db is not None and not transient:
                db.put(s.name, s.inputs_sha, rules_sha, day, entry)
            if progress is not None:
                progress.update(entry)

        cwd = os.getcwd()
        specs = {s.name: {"name": s.name, "path": s.path, "rulesets": rulesets, "as_of": day, "cwd": cwd,
                          "max_derived": max_derived, "with": with_paths} for s in todo}
        try:
            if not todo:
                pass
            elif scheduler is not None:
                _run_dask(todo, specs, scheduler, jobs, finished)
            elif jobs == 1 or len(todo) == 1:
                for s in todo:
                    finished(s, check_set_task(specs[s.name]))
            else:
                _run_pool(todo, specs, jobs, finished, as_of)
        finally:
            if progress is not None:
                progress.finish()
    finally:
        if db is not None:
            db.close()

    criteria = [c.code for c in rules.alone().program.criteria]
    extra = sorted({f["criterion"] for e in entries.values() for f in e["findings"]} - set(criteria))
    return BatchResult(sets=[entries[s.name] for s in sets], criteria=criteria + extra, rulesets=ruleset_info(rules),
                       as_of=as_of, reused=reused, computed=len(todo), elapsed=time.perf_counter() - t0)


def _run_pool(todo: list[_Set], specs: dict, jobs: int, finished: Callable, as_of: dt.date) -> None:
    by_future = {}
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=_mp_context(), initializer=_worker_init)
    try:
        for s in todo:
            by_future[pool.submit(check_set_task, specs[s.name])] = s
        pending = set(by_future)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: by_future[f].name):
                s = by_future[fut]
                try:
                    entry = fut.result()
                except BrokenProcessPool:
                    entry = _crash_entry(s.name, "a worker process stopped while checking this set", as_of)
                finished(s, entry)
    except BaseException:
        # interrupted: stop the workers now; what finished is already committed
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            if p.is_alive():
                p.terminate()
        raise
    pool.shutdown(wait=True)


def _import_dask():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise BatchError(DASK_MISSING) from None
    return distributed


def _run_dask(todo: list[_Set], specs: dict, scheduler: str, jobs: int, finished: Callable) -> None:
    import logging

    distributed = _import_dask()
    cluster = None
    if scheduler == "local":
        # quiet: a LocalCluster logs its start and stop at INFO level
        for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.core"):
            logging.getLogger(name).setLevel(logging.ERROR)
        cluster = distributed.LocalCluster(n_workers=min(jobs, len(todo)), threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
        address: Any = cluster
    else:
        address = scheduler
    try:
        try:
            client = distributed.Client(address, timeout="30s")
        except (OSError, TimeoutError) as e:
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        try:
            by_key = {}
            futures = []
            for s in todo:
                fut = client.submit(check_set_task, specs[s.name], pure=False, key=f"coherence-set-{len(futures)}-"
                                    + hashlib.sha256(s.name.encode()).hexdigest()[:12])
                by_key[fut.key] = s
                futures.append(fut)
            for fut in distributed.as_completed(futures):
                s = by_key[fut.key]
                if fut.status == "finished":
                    entry = fut.result()
                else:
                    try:
                        fut.result()
                        msg = "the Dask task did not finish"
                    except Exception as e:  # noqa: BLE001 - reported as this set's failure
                        msg = f"the Dask task failed: {type(e).__name__}: {e}"
                    entry = _crash_entry(s.name, msg, dt.date.fromisoformat(specs[s.name]["as_of"]))
                finished(s, entry)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
