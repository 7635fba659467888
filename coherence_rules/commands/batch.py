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
  other sets go on. So does a set that runs past ``timeout`` (E503, not stored).
- **Workers** end with the batch, even one killed with SIGKILL (:func:`_worker_init`).
- **Determinism.** Sets are sorted by name and each set's entry depends only on its input, so the
  document is byte-identical whatever the number of jobs, the scheduler, or how much came from
  the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Sequence, TextIO

from ..findings.report import Report, document_head, dump_json
from ..runtime import paused_gc
from .store import STORE_APPLICATION_ID, STORE_SCHEMA, BatchError, Store  # noqa: F401 - part of this module's API

if TYPE_CHECKING:
    from ..session import Rulesets

SCHEMA = "coherence-batch/1"
DASK_MISSING = "the Dask scheduler needs Dask distributed: pip install 'coherence-rules[dask]'"
#: The key of a set's entry that holds its agreements and their clauses (the data of ``--view
#: topics``). Stored with the entry; left out of the ``coherence-batch/1`` document.
TOPICS_KEY = "agreements"
#: An entry's JSON text, written by the worker that checked the set when the caller asked for it
#: (``run_batch(encode_json=True)``), so that the parent only joins texts (:meth:`BatchResult.to_json`).
ENCODED_KEY = "_json"


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
              with_paths: Sequence[str] = (), *, agreements: Optional[list] = None, session=None) -> Report:
    """Check one policy set with shared rulesets: the same report as ``coherence check``, without
    parsing, checking and compiling the rulesets again. ``agreements``, when given, receives the
    agreements the set's own files hold, with their clauses (:func:`.topics.set_agreements`, the
    data of ``--view topics``), read from the same checked program. ``session``: the set's
    :class:`~coherence_rules.session.Session`, already made (and perhaps run part of the way)."""
    if session is None:
        session = set_session(path, rules, as_of, max_derived, with_paths)
    report = session.report
    if agreements is not None and not report.errors and session.program is not None:
        from .topics import set_agreements

        agreements.extend(set_agreements(session.program, session.workspace.inputs))
    return report


def set_session(path: str, rules: "Rulesets", as_of: dt.date, max_derived: Optional[int] = None,
                with_paths: Sequence[str] = ()):
    """The session of one set of a batch: on the shared rulesets, whose criteria and rules are
    taken as checked once for a set that brings only facts (``share_checked_rules``)."""
    from ..session import Session

    session = Session([path], with_paths=with_paths, rules=rules, as_of=as_of, max_derived=max_derived)
    session.share_checked_rules = True
    return session


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


class SetTimeout(BaseException):
    """A set's check ran past the batch's ``timeout`` (raised by the alarm of :class:`_time_limit`).
    Not an :class:`Exception`: the ``except Exception`` of code that treats any error as a miss
    (the caches) must not swallow it and let the set run on."""


class _time_limit:
    """Raise :class:`SetTimeout` in this thread once ``seconds`` have passed (``None``: no limit).

    An alarm (``SIGALRM``, ``setitimer``) interrupts whatever Python code runs, however it loops,
    and a wait for the engine's child process, which is then killed (:func:`.isolation._collect`).
    Alarms exist only on POSIX and only in a process's main thread, which is where the pool's
    workers and a sequential batch run sets; elsewhere there is no limit (run_batch refuses a
    timeout with Dask, whose tasks run in threads)."""

    def __init__(self, seconds: Optional[float]):
        import signal

        self.seconds = seconds
        self.armed = (seconds is not None and hasattr(signal, "setitimer")
                      and threading.current_thread() is threading.main_thread())

    def __enter__(self):
        if self.armed:
            import signal

            def expire(signum, frame):
                raise SetTimeout()

            self.saved = signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.armed:
            import signal

            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.saved)
        return False


def _timeout_entry(name: str, as_of: dt.date, seconds: float) -> dict:
    """The entry of a set stopped by the time limit: failed with E503, never stored (a rerun,
    perhaps with a larger limit, tries again)."""
    from ..diagnostics import Diagnostic

    report = Report(findings=[], facts=0, derived_facts=0, criteria_run=0, as_of=as_of, rulesets=[], inputs=[],
                    diagnostics=[Diagnostic.make(
                        "E503", f"checking this set took longer than {seconds:g} s (--timeout): stopped", None,
                        help="look for criteria whose patterns are not related (W407), or give a larger --timeout")])
    e = _entry(name, report)
    e["_transient"] = True
    return e


def public_entry(entry: dict) -> dict:
    """An entry as the ``coherence-batch/1`` document holds it: without the topic view's data
    and the keys that only travel between a worker and the parent."""
    return {k: v for k, v in entry.items() if k not in (TOPICS_KEY, ENCODED_KEY, "_transient")}


def encode_entry(entry: dict) -> str:
    """An entry's JSON text as the batch document holds it (:func:`public_entry`), at the depth of
    an item of the document's ``sets``."""
    from ..findings.report import json_text

    return json_text(public_entry(entry), depth=2)


def check_set_task(spec: dict, session=None) -> dict:
    """Check one set described by a plain dict and return its entry: the function the process
    pool and Dask workers run (through :func:`check_chunk_task`). ``spec``: ``name``, ``path``,
    ``rulesets``, ``as_of`` (ISO date), ``cwd`` (paths in results are shown relative to it),
    ``max_derived``, ``with`` (reference paths), ``timeout`` (seconds, or None: see
    :class:`_time_limit`). ``session``: the set's session, when :func:`check_chunk_task` has
    made it already."""
    with _cwd(spec.get("cwd")):
        as_of = dt.date.fromisoformat(spec["as_of"])
        try:
            with _time_limit(spec.get("timeout")):
                rules = shared_rulesets(spec["rulesets"])
                agreements: list = []
                report = check_set(spec["path"], rules, as_of, spec.get("max_derived"), spec.get("with") or (),
                                   agreements=agreements, session=session)
                entry = _entry(spec["name"], report)
                # the topic view's data travels (and is stored) with the set's findings
                entry[TOPICS_KEY] = agreements if entry["status"] == "ok" else []
                if spec.get("encode"):
                    entry[ENCODED_KEY] = encode_entry(entry)
                return entry
        except SetTimeout:
            return _timeout_entry(spec["name"], as_of, spec["timeout"])
        except RecursionError:
            return _stopped_entry(spec["name"], as_of, "the input nests too deeply to analyse")
        except Exception as e:  # noqa: BLE001 - one set's failure must not stop the batch
            return _crash_entry(spec["name"], f"checking this set failed: {type(e).__name__}: {e}", as_of)


@paused_gc()  # a chunk's sets make no reference cycles worth collecting: 24% of a worker's time
def check_chunk_task(specs: list[dict]) -> list[dict]:
    """Check several sets (specs as :func:`check_set_task` takes them) and return their entries,
    in the same order: the unit of work of the process pool and of Dask. Each set's entry is the
    one :func:`check_set_task` gives it; what the sets share is paid once per chunk instead of once
    per set: the engine runs of every set that reaches the run stage are made together, in one
    forked child (:func:`.engine.isolation.run_many`), instead of one child per set. A set whose
    stages before the run fail in any way is simply checked on its own, as before, and so is
    every set of a chunk whose common child dies (only the set that crashes the engine fails).
    With a ``timeout``, sets are checked one by one (the limit is a set's own)."""
    if len(specs) == 1 or any(spec.get("timeout") is not None for spec in specs):
        return [check_set_task(spec) for spec in specs]
    from ..engine import DEFAULT_MAX_DERIVED
    from ..engine.isolation import prepared_runs

    with _cwd(specs[0].get("cwd")):
        sessions: list = []
        runs = []
        for spec in specs:
            session = None
            try:
                with _cwd(spec.get("cwd")):
                    session = set_session(spec["path"], shared_rulesets(spec["rulesets"]),
                                          dt.date.fromisoformat(spec["as_of"]), spec.get("max_derived"),
                                          spec.get("with") or ())
                    if session.run_until("compile") and session.engine == "durable" and session.compiled is not None:
                        runs.append((session.compiled, session.program.facts, session.as_of,
                                     session.max_derived or DEFAULT_MAX_DERIVED))
            except (Exception, RecursionError):  # noqa: BLE001 - checked again alone, which reports it
                session = None
            sessions.append(session)
        with prepared_runs(runs):
            return [check_set_task(spec, session=session) for spec, session in zip(specs, sessions)]


def _chunks(todo: list, jobs: int, most: int = 16) -> list[list]:
    """``todo`` dealt into chunks for ``jobs`` workers: about four chunks per worker (so a slow
    chunk does not leave the others idle), at most ``most`` sets each (so results reach the
    store, and the progress bar, steadily)."""
    size = max(1, min(most, -(-len(todo) // (4 * max(jobs, 1)))))
    return [todo[i:i + size] for i in range(0, len(todo), size)]


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
    from ..sources.loader import max_file_size, read_bytes

    h = hashlib.sha256()
    for shown, path in sorted(files, key=lambda x: x[0]):
        h.update(shown.encode("utf-8") + b"\0")
        try:
            data = read_bytes(path, max_file_size())  # never blocks on a FIFO swapped in for a file
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


def _is_prose_markdown(path: str) -> bool:
    """Whether ``path`` is a Markdown file without any ``policy`` or ``rules`` block (a README):
    what ``batch agreements/*`` skips. A file that cannot be read is not skipped: its set fails
    with the reason."""
    from ..sources.loader import markdown_blocks

    p = Path(path)
    if p.suffix.lower() != ".md" or not p.is_file():
        return False
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return not markdown_blocks(text)


@dataclass
class _Set:
    name: str
    path: str
    inputs_sha: str


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
    #: Markdown files given as sets that hold no `policy` or `rules` block (READMEs), not checked
    skipped: list[str] = field(default_factory=list)
    #: warnings about how the sets were named (W413: one directory holding many sets)
    notes: list = field(default_factory=list)
    #: set name -> its entry's JSON text (:func:`encode_entry`), for the sets whose worker wrote it
    encoded: dict = field(default_factory=dict, repr=False)

    @property
    def failed(self) -> list[dict]:
        return [s for s in self.sets if s["status"] == "failed"]

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<BatchResult {s['sets']} sets ({s['ok']} ok, {s['failed']} failed): {s['findings']} findings, "
                f"{s['conflicts']} conflicts ({s['open']} open), {s['synergies']} synergies>")

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

    def _head(self) -> dict:
        """The document without its ``sets``."""
        return {
            **document_head(SCHEMA, self.as_of),
            "ruleset": self.rulesets,
            "criteria": self.criteria,
            "summary": self.summary(),
            "matrix": self.matrix(),
        }

    def to_dict(self) -> dict:
        return {**self._head(), "sets": [public_entry(s) for s in self.sets]}

    def to_json(self) -> str:
        """The document as JSON (``dump_json`` of :meth:`to_dict`, character for character). The
        entries' texts that workers wrote are joined in, not encoded again: with thousands of
        sets, encoding them was most of what the parent did after the workers (``docs/batch.md``)."""
        if not self.encoded:
            return dump_json(self.to_dict())
        import uuid

        marker = f"coherence-sets-{uuid.uuid4().hex}"
        texts = [self.encoded.get(s["name"]) or encode_entry(s) for s in self.sets]
        listed = "[\n    " + ",\n    ".join(texts) + "\n  ]" if texts else "[]"
        head = dump_json({**self._head(), "sets": marker})
        quoted = f'"{marker}"'
        if head.count(quoted) != 1:  # cannot happen (a fresh random marker), but never a wrong document
            return dump_json(self.to_dict())
        return head.replace(quoted, listed, 1)


# ---- running ----------------------------------------------------------------------------------------------------


def _mp_context():
    methods = multiprocessing.get_all_start_methods()
    for m in ("fork", "forkserver"):
        if m in methods:
            return multiprocessing.get_context(m)
    return multiprocessing.get_context()


def _worker_init(parent_pid: Optional[int] = None) -> None:
    """Set up a pool worker: it leaves Ctrl-C to the parent, which stops the pool, and it ends
    with the parent, even one killed outright (SIGKILL), instead of running on as an orphan
    (:func:`~coherence_rules.runtime.die_with_parent`). Its cycle collector is on, whatever the
    parent's was when it forked (each chunk pauses it while it runs)."""
    import gc
    import signal

    from ..runtime import die_with_parent

    gc.enable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent_pid is not None:
        die_with_parent(parent_pid)


def _one_directory_of_sets(set_paths: Sequence) -> list:
    """W413 when the batch was given one directory whose subdirectories each hold sources: the user
    probably meant each subdirectory to be a set (`DIR/*/`), not the directory as one."""
    from ..diagnostics import Diagnostic
    from ..sources.loader import EXTENSIONS, display_path

    if len(set_paths) != 1 or not Path(set_paths[0]).is_dir():
        return []
    root = Path(set_paths[0])
    subsets = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")
               and any(f.suffix in EXTENSIONS for f in d.rglob("*") if f.is_file())]
    if len(subsets) < 2:
        return []
    shown = display_path(root).rstrip("/")
    return [Diagnostic.make("W413", f"'{shown}' holds {len(subsets)} directories that each look like a policy set, "
                                    "and was checked as one set", None,
                            help=f"did you mean `{shown}/*/`? each PATH of a batch is one set")]


def run_batch(set_paths: Sequence[str | os.PathLike], rulesets: Optional[Sequence[str]] = None, jobs: Optional[int] = None,
              store: Optional[str | os.PathLike] = None, scheduler: Optional[str] = None,
              as_of: Optional[dt.date] = None, progress: Optional[ProgressBar] = None,
              max_derived: Optional[int] = None, with_paths: Sequence[str | os.PathLike] = (),
              timeout: Optional[float] = None, encode_json: bool = False) -> BatchResult:
    """Check every path in ``set_paths`` as one policy set.

    ``jobs``: worker processes (default: the number of CPUs); ``store``: a SQLite file to commit
    results to and resume from; ``scheduler``: ``None`` for the local process pool, ``"local"``
    for a Dask cluster on this machine (loopback only), or a Dask scheduler address
    (``tcp://host:port``); ``progress``: a :class:`ProgressBar` (or an object with ``start``,
    ``update`` and ``finish``); ``with_paths``: reference facts that join every set; ``timeout``:
    seconds a set may take (None: no limit), past which it is stopped and fails with E503 while
    the others go on (not stored, so a rerun tries it again; local runs only); ``encode_json``: the
    caller will want :meth:`BatchResult.to_json`, so each worker writes its sets' JSON text
    (the same document, made faster). A Markdown file
    given as a set that holds no ``policy`` or ``rules`` block (a README) is skipped and named in
    :attr:`BatchResult.skipped`. Raises
    :class:`BatchError` when the rulesets do not check, the store is unusable, Dask is missing, or
    a timeout is asked of Dask.
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
        if timeout is not None:
            raise BatchError("--timeout applies to local runs only (Dask runs tasks in threads, which an alarm "
                             "cannot stop); leave out --scheduler or --timeout")
        _import_dask()

    notes = _one_directory_of_sets(set_paths)
    seen: dict[str, _Set] = {}
    skipped: list[str] = []
    for p in set_paths:
        name = set_name(str(p))
        if name not in seen and name not in skipped and _is_prose_markdown(str(p)):
            skipped.append(name)  # a README the shell's `agreements/*` picked up: not a policy set
            continue
        if name not in seen:
            seen[name] = _Set(name, str(p), inputs_digest(str(p)))
    sets = [seen[k] for k in sorted(seen)]
    rules_sha = rulesets_digest(rules, with_paths)
    day = as_of.isoformat()

    db = Store(store) if store is not None else None
    entries: dict[str, dict] = {}
    encoded: dict[str, str] = {}
    todo: list[_Set] = []
    try:
        for s in sets:
            hit = db.get(s.name, s.inputs_sha, rules_sha, day) if db else None
            if hit is not None and hit.get("status") == "ok" and TOPICS_KEY not in hit:
                hit = None  # stored before entries carried the topic view's data: checked again
            if hit is not None:
                entries[s.name] = hit
            else:
                todo.append(s)
        reused = len(entries)
        if progress is not None:
            progress.start(len(sets), reused, sum(len(e["findings"]) for e in entries.values()))

        def finished(s: _Set, entry: dict) -> None:
            transient = entry.pop("_transient", False)
            text = entry.pop(ENCODED_KEY, None)
            if text is not None:
                encoded[s.name] = text
            entries[s.name] = entry
            if db is not None and not transient:
                db.put(s.name, s.inputs_sha, rules_sha, day, entry)
            if progress is not None:
                progress.update(entry)

        cwd = os.getcwd()
        specs = {s.name: {"name": s.name, "path": s.path, "rulesets": rulesets, "as_of": day, "cwd": cwd,
                          "max_derived": max_derived, "with": with_paths, "timeout": timeout,
                          "encode": encode_json} for s in todo}
        try:
            if not todo:
                pass
            elif scheduler is not None:
                _run_dask(todo, specs, scheduler, jobs, finished)
            elif jobs == 1 or len(todo) == 1:
                for chunk in _chunks(todo, 1):
                    for s, entry in zip(chunk, check_chunk_task([specs[s.name] for s in chunk])):
                        finished(s, entry)
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
                       as_of=as_of, reused=reused, computed=len(todo), elapsed=time.perf_counter() - t0,
                       skipped=skipped, notes=notes, encoded=encoded)


def _run_pool(todo: list[_Set], specs: dict, jobs: int, finished: Callable, as_of: dt.date) -> None:
    by_future = {}
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=_mp_context(), initializer=_worker_init,
                               initargs=(os.getpid(),))
    try:
        for chunk in _chunks(todo, jobs):
            by_future[pool.submit(check_chunk_task, [specs[s.name] for s in chunk])] = chunk
        pending = set(by_future)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: by_future[f][0].name):
                chunk = by_future[fut]
                try:
                    entries = fut.result()
                except BrokenProcessPool:
                    entries = [_crash_entry(s.name, "a worker process stopped while checking this set", as_of)
                               for s in chunk]
                for s, entry in zip(chunk, entries):
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
            try:
                workers = max(1, len(client.scheduler_info().get("workers", ())) if cluster is None else jobs)
            except Exception:  # noqa: BLE001 - only the chunk size depends on it
                workers = jobs
            for chunk in _chunks(todo, workers):  # one task per chunk of sets, not per set
                fut = client.submit(check_chunk_task, [specs[s.name] for s in chunk], pure=False,
                                    key=f"coherence-sets-{len(futures)}-"
                                    + hashlib.sha256("\0".join(s.name for s in chunk).encode()).hexdigest()[:12])
                by_key[fut.key] = chunk
                futures.append(fut)
            for fut in distributed.as_completed(futures):
                chunk = by_key[fut.key]
                if fut.status == "finished":
                    entries = fut.result()
                else:
                    try:
                        fut.result()
                        msg = "the Dask task did not finish"
                    except Exception as e:  # noqa: BLE001 - reported as the chunk's sets' failure
                        msg = f"the Dask task failed: {type(e).__name__}: {e}"
                    entries = [_crash_entry(s.name, msg, dt.date.fromisoformat(specs[s.name]["as_of"])) for s in chunk]
                for s, entry in zip(chunk, entries):
                    finished(s, entry)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
