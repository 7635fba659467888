"""A long-lived engine child: one forked process that makes run after run of one compiled
ruleset, for the processes that check one policy set again and again (a warm session, the
drafting server, the language server: whatever checks through ``warm.SourceMemo``).

A run in a child of its own (:func:`.isolation.run_forked`) costs a fork, the child's copying of the
parent's pages and its exit: about 16 ms for the Mauritius set, three times the run itself. The
child here is forked once per compiled ruleset and kept; each run's facts go to it through a pipe,
it runs them on durable states of their own (session ids ``coherence.rN...``: working memories that
never join, so no run sees another's facts) and sends back what :func:`.isolation.run_forked`'s
child would. The answers are the same run for run.

Durable states cannot be freed, so a child is replaced after :data:`RUNS_PER_CHILD` runs or once
its peak memory has grown by :data:`MEMORY_PER_CHILD`. A child that dies or stops answering while it runs
(a crash of the engine, or the kernel ending it with the thread that forked it) is discarded and
that run is made again in a child of its own, which reports the crash as before; the next run
starts a new long-lived child.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import pickle
import threading
import weakref
from typing import Optional

from ..checker.ir import FactRecord
from ..runtime import die_with_parent, parent_death_prctl, paused_gc
from .compiler import CompiledRuleset
from .durable_run import EngineRun
from . import isolation

#: Runs one child makes before it is replaced (its durable states are never freed).
RUNS_PER_CHILD = 200
#: Growth of a child's peak resident memory past which it is replaced after its current run (each
#: run's states stay: about 2.8 MB a run of the Mauritius set, so about 23 runs a child).
MEMORY_PER_CHILD = 64 * 1024 * 1024
#: Runs of more facts than this go to a child of their own: those that may be split between
#: processes.
MAX_FACTS = isolation.SPLIT_MIN_FACTS
#: Long-lived children kept at once (one per compiled ruleset in use), least recently used first.
MAX_CHILDREN = 4


def _read_exact(fd: int, n: int) -> Optional[bytes]:
    """``n`` bytes from ``fd``, or None when it ends first."""
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _max_fd() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 16)
    except (OSError, ValueError):
        return 1024


def _plain(facts: list[FactRecord]) -> list[tuple]:
    """The facts as the child needs them: no spans (a run never reads them)."""
    return [(f.id, f.type, f.title, f.values, f.derived) for f in facts]


def _serve(compiled: CompiledRuleset, requests: int, replies: int) -> None:
    """The child's loop: read a run, make it, send its records, until the pipe closes."""
    import resource

    gc.disable()  # runs make no reference cycles; the child is replaced before it grows
    n = 0
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    while True:
        head = _read_exact(requests, 8)
        if head is None:
            return
        body = _read_exact(requests, int.from_bytes(head, "little"))
        if body is None:
            return
        plain, today, max_derived = pickle.loads(body)  # our own parent's bytes, never user input
        facts = [FactRecord(i, t, title, values, None, derived) for i, t, title, values, derived in plain]
        n += 1

        def work(facts=facts, today=today, max_derived=max_derived, n=n):
            run = EngineRun(compiled, facts, today, max_derived)
            run.sid = f"{run.sid}.r{n}"  # its own states: no user text reaches the engine
            return run.run()

        data = pickle.dumps(isolation._payload(work), protocol=pickle.HIGHEST_PROTOCOL)
        memory = isolation._private_bytes() if isolation.MEASURE_MEMORY else 0
        grown = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start) * 1024
        _write_all(replies, b"".join(x.to_bytes(8, "little") for x in (len(data), memory, grown)) + data)


class EngineChild:
    """One long-lived child for ``compiled`` (see the module docstring); :meth:`run` makes one run
    in it, one caller at a time."""

    def __init__(self, compiled: CompiledRuleset):
        self.lock = threading.Lock()
        self.runs = 0
        self.grown = 0  # how much the child's peak resident memory has grown since it started
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        parent = os.getpid()
        parent_death_prctl()
        pid = os.fork()
        if pid == 0:  # child: serve runs until the parent closes the pipe or goes
            status = 1
            try:
                # keep only its pipes: a server's listening socket or another child's pipe held
                # here would outlive their owner's closing them
                keep = sorted((to_child, from_child))
                os.closerange(3, keep[0])
                os.closerange(keep[0] + 1, keep[1])
                os.closerange(keep[1] + 1, _max_fd())
                # nor the standard input and output: the language server speaks through them, and
                # its editor waits for their end
                null = os.open(os.devnull, os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.close(null)
                die_with_parent(parent, watch=False)
                _serve(compiled, to_child, from_child)
                status = 0
            finally:
                os._exit(status)
        os.close(to_child)
        os.close(from_child)
        self.pid, self.requests, self.replies = pid, from_parent, to_parent
        self._finalizer = weakref.finalize(self, _stop, pid, from_parent, to_parent)

    @property
    def worn(self) -> bool:
        """Whether this child is to be replaced rather than given another run."""
        return self.runs >= RUNS_PER_CHILD or self.grown >= MEMORY_PER_CHILD

    def run(self, facts: list[FactRecord], today: dt.date, max_derived: int):
        """Make one run in this child; its :class:`~.records.RunResult`, raised
        :class:`~.records.DerivationLimit` or :class:`~.records.EngineError`, as the run's own
        child would give. None when this child died or could not be reached (then it is closed,
        and the run is to be made elsewhere). Interrupted while waiting, it kills the child."""
        with self.lock:
            if not self._finalizer.alive:  # closed while this caller waited for the lock
                return None
            request = pickle.dumps((_plain(facts), today, max_derived), protocol=pickle.HIGHEST_PROTOCOL)
            try:
                _write_all(self.requests, len(request).to_bytes(8, "little") + request)
                head = _read_exact(self.replies, 24)
                data = None if head is None else _read_exact(self.replies, int.from_bytes(head[:8], "little"))
            except OSError:
                data = None
            except BaseException:
                self.close()
                raise
            if data is None:
                self.close()
                return None
            self.runs += 1
            memory = int.from_bytes(head[8:16], "little")
            self.grown = int.from_bytes(head[16:], "little")
            with paused_gc():
                kind, body = pickle.loads(data)  # our own child's bytes, never user input
            return isolation._decode(kind, body, memory, len(data))

    def close(self) -> None:
        """End the child (it exits when its pipe closes; it is killed if it does not)."""
        self._finalizer()


def _stop(pid: int, requests: int, replies: int) -> None:
    import signal

    for fd in (requests, replies):
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        os.kill(pid, signal.SIGKILL)  # it may be in the middle of a run nobody waits for any more
        os.waitpid(pid, 0)
    except (OSError, ChildProcessError):
        pass


_children: "dict[int, tuple[weakref.ref, EngineChild]]" = {}
_children_lock = threading.RLock()  # a ruleset collected inside child_for forgets its child


def child_for(compiled: CompiledRuleset) -> EngineChild:
    """The long-lived child of ``compiled``, started on first use or when the last one is worn
    out or gone; at most :data:`MAX_CHILDREN` are kept, the least recently used closed first."""
    with _children_lock:
        key = id(compiled)
        hit = _children.pop(key, None)
        if hit is not None and (hit[0]() is not compiled or hit[1].worn or not hit[1]._finalizer.alive):
            hit[1].close()
            hit = None
        if hit is None:
            ref = weakref.ref(compiled, lambda _, key=key: _forget(key))
            hit = (ref, EngineChild(compiled))
        _children[key] = hit
        while len(_children) > MAX_CHILDREN:
            _children.pop(next(iter(_children)))[1].close()
        return hit[1]


def _forget(key: int) -> None:
    with _children_lock:
        hit = _children.pop(key, None)
    if hit is not None:
        hit[1].close()


def close_all() -> None:
    """End every long-lived child (a server shutting down; tests)."""
    with _children_lock:
        hits = list(_children.values())
        _children.clear()
    for _, child in hits:
        child.close()
