"""Where a run happens: in a forked child process that inherits the compiled ruleset
copy-on-write, sends its records back through a pipe and exits (so runs neither collide nor leak,
and a crash of the engine is an error, not the end of the caller), split by partition between one
child per processor when the ruleset allows it; in process only where ``fork`` is missing.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import pickle
import signal

from ..checker.ir import FactRecord
from ..runtime import die_with_parent, parent_death_prctl, paused_gc, peak_rss
from .compiler import CompiledRuleset, new_ruleset
from .records import (DerivationLimit, EngineError, MatchRecord, RunResult, derivations_from_plain, guards_from_plain,
                      plain_guards)
from .durable_run import EngineRun, _fact_id
from .semantics import DEFAULT_MAX_DERIVED, MISSING, key_text

FORK = True  # tests may turn it off to exercise the in-process path
#: Whether a child reads the memory private to it (``RunResult.child_memory``, for the benchmarks'
#: memory per fact): reading ``/proc/self/smaps_rollup`` walks every mapping, about 4 ms a run
#: in a child of a large process, so it is off unless asked for.
MEASURE_MEMORY = False


#: A run over at least this many facts is split between processes when the ruleset allows it.
SPLIT_MIN_FACTS = 20_000
#: At most this many processes per split run (and no more than the processor count).
MAX_PROCESSES = 4


def _processes() -> int:
    """Processes a split run uses: ``COHERENCE_ENGINE_PROCESSES`` when set to a whole number
    (1 never splits), else one per processor this process may use; at most :data:`MAX_PROCESSES`."""
    given = os.environ.get("COHERENCE_ENGINE_PROCESSES", "").strip()
    if given.isdigit() and int(given) >= 1:
        return min(MAX_PROCESSES, int(given))
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_PROCESSES, cpus))


def _split(compiled: CompiledRuleset, facts: list[FactRecord], n: int) -> list[list[FactRecord]]:
    """The facts dealt to ``n`` processes by value of the partition field, each process's sorted
    by id. Values are dealt in the order they first appear in ``facts``, each process taking the
    next ones until it holds its share; facts without a value go to the first process. Facts
    given together (one file, one country, one type) were made together and lie together in
    memory, and a forked process copies every page it writes to, even only to count a reference:
    dealing runs of the given order keeps each process on pages of its own (dealing by size, the
    two processes of a 100,000-fact run each copied nearly all the parent's records)."""
    name = compiled.partition_field
    sizes: dict[str, int] = {}
    texts = []
    for f in facts:
        text = key_text(f.values.get(name, MISSING))  # None for no value, as in EngineRun._sid
        texts.append(text)
        if text is not None:
            sizes[text] = sizes.get(text, 0) + 1
    share = len(facts) / n
    load = len(facts) - sum(sizes.values())  # without a value: the first process
    owner: dict[str, int] = {}
    i = 0
    for text, size in sizes.items():
        if load >= (i + 1) * share and i < n - 1:
            i += 1
        owner[text] = i
        load += size
    parts: list[list[FactRecord]] = [[] for _ in range(n)]
    for f, text in zip(facts, texts):
        parts[owner[text] if text is not None else 0].append(f)
    for part in parts:
        part.sort(key=_fact_id)
    return parts


def run_forked(compiled: CompiledRuleset, facts: list[FactRecord], today: dt.date, max_derived: int) -> RunResult:
    """Run in a child process (see the module docstring) and return what it recorded. A large run
    of a ruleset that allows it (:meth:`CompiledRuleset._splittable`) is split by partition
    between several children, one per processor, and their records are merged."""
    n = _processes() if compiled.splittable and len(facts) >= SPLIT_MIN_FACTS else 1
    if n == 1:
        peak = peak_rss()[0]
        res = _collect(*_spawn(lambda: EngineRun(compiled, facts, today, max_derived).run()))
        res.parent_memory += peak
        return res
    parts = _split(compiled, facts, n)
    run = EngineRun(compiled, facts, today, max_derived)  # built once, inherited by every child
    peak = peak_rss()[0]
    children = [_spawn(lambda part=part, first=(i == 0): run.run(part, first))
                for i, part in enumerate(parts)]
    results, stopped = [], None
    for i, (pid, r) in enumerate(children):  # every child is waited for, even after one has failed
        try:
            results.append(_collect(pid, r))
        except (DerivationLimit, EngineError) as e:
            stopped = stopped or e
        except BaseException:  # interrupted: the other children must not run on either
            for other, fd in children[i + 1:]:
                _kill(other)
                os.close(fd)
            raise
    if stopped is not None:
        raise stopped
    res = _merge(results, max_derived)
    res.parent_memory += peak
    return res


def _private_bytes() -> int:
    """Memory private to this process (resident pages it allocated, or copied from its parent on
    writing them), from Linux's ``/proc/self/smaps_rollup``; 0 where that is not available."""
    try:
        with open("/proc/self/smaps_rollup", encoding="ascii") as f:
            return sum(int(line.split()[1]) * 1024 for line in f if line.startswith(("Private_Clean:", "Private_Dirty:")))
    except (OSError, ValueError, IndexError):
        return 0


def _payload(work) -> tuple:
    """In a child: run ``work()`` and return what it recorded, or what stopped it, as plain data
    (what :func:`_decode` reads)."""
    try:
        res = work()
        # plain tuples: unpickling dataclasses costs several times more
        return ("ok", (
            [(m.criterion, m.bindings, plain_guards(m.guards)) for m in res.matches],
            {k: (v.type, v.values) for k, v in res.derived.items()},
            res.derivations))  # already plain tuples (EngineRun.run)
    except DerivationLimit as e:
        return ("limit", (e.limit, e.rule))
    except BaseException as e:  # noqa: BLE001 - reported to the parent as an engine error
        return ("error", f"{type(e).__name__}: {e}")


def _spawn(work, many: bool = False) -> tuple[int, int]:
    """Fork a child that runs ``work()`` and writes what it returns (or what stopped it) to a pipe;
    the child's pid and the pipe's reading end. With ``many``, ``work`` is a list of such
    functions, run one after the other in the one child (:func:`run_many`)."""
    r, w = os.pipe()
    parent = os.getpid()
    parent_death_prctl()  # looked up here once, not in every child
    pid = os.fork()
    if pid == 0:  # child: run, send, exit without running the parent's exit handlers
        status = 1
        try:
            os.close(r)
            # a parent killed outright (SIGKILL, a time limit) must not leave the run going on
            die_with_parent(parent, watch=False)
            fault = os.environ.get("COHERENCE_ENGINE_FAULT")
            if fault == "kill":
                # fault injection for tests of the crash path (docs/engine.md): die as a crash would
                os.kill(os.getpid(), signal.SIGKILL)
            elif fault == "hang":
                # ... and of time limits (batch --timeout): never answer
                import time

                time.sleep(24 * 3600)
            # the child exits when done: no cycle collection (it would scan every fact
            # record again and again while the run allocates)
            gc.disable()
            if many:
                payload = ("many", [_payload(w) for w in work])
            else:
                payload = _payload(work)
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            # at its largest: the records and their pickle both held
            memory = _private_bytes() if MEASURE_MEMORY else 0
            with os.fdopen(w, "wb") as out:
                out.write(memory.to_bytes(8, "little"))
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(w)
    return pid, r


def _collect(pid: int, r: int) -> RunResult:
    """What the child ``pid`` sent through ``r``, once it has exited. Interrupted while waiting
    (a time limit, Ctrl-C), the child is killed: it must not run on."""
    try:
        with os.fdopen(r, "rb") as inp:
            data = inp.read()
    except BaseException:
        _kill(pid)
        raise
    _, wstatus = os.waitpid(pid, 0)
    if len(data) <= 8:
        sig = os.WTERMSIG(wstatus) if os.WIFSIGNALED(wstatus) else None
        raise EngineError("the rule engine stopped" + (f" with signal {sig}" if sig else f" (status {wstatus})"))
    memory = int.from_bytes(data[:8], "little")
    with paused_gc():  # tens of thousands of records, no cycles
        kind, body = pickle.loads(memoryview(data)[8:])  # our own child's bytes, never user input
        if kind == "many":
            out: list = []
            for one in body:
                try:
                    out.append(_decode(*one, memory, len(data) // max(len(body), 1)))
                except (DerivationLimit, EngineError) as e:
                    out.append(e)
            return out  # type: ignore[return-value]
        return _decode(kind, body, memory, len(data))


def _decode(kind: str, body, memory: int, size: int) -> RunResult:
    """The :class:`RunResult` of one run a child sent (:func:`_payload`), or the exception that
    stopped it, raised."""
    if kind == "limit":
        raise DerivationLimit(*body)
    if kind == "error":
        raise EngineError(body)
    matches, derived, derivations = body
    res = RunResult(matches=[MatchRecord(c, b, guards_from_plain(g)) for c, b, g in matches],
                    derivations=derivations_from_plain(derivations))
    res.derived = {k: FactRecord(k, t, None, values, None, derived=True) for k, (t, values) in derived.items()}
    res.child_memory = memory
    res.parent_memory = size
    return res


def _kill(pid: int) -> None:
    """Kill and reap the child ``pid`` (gone already: nothing to do)."""
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (OSError, ChildProcessError):
        pass


def _merge(results: list[RunResult], max_derived: int) -> RunResult:
    """One result from the results of a split run's processes (their partitions are disjoint, so
    are their matches and derived facts)."""
    out = RunResult()
    mixed = set()  # derived facts more than one process derived (none, when the split is sound)
    for res in results:
        out.child_memory += res.child_memory
        out.parent_memory += res.parent_memory
        out.matches += res.matches
        out.derived.update(res.derived)
        for k, ds in res.derivations.items():
            have = out.derivations.get(k)
            if have is None:
                out.derivations[k] = ds  # each process sorted its own
            else:
                have.extend(ds)
                mixed.add(k)
    if len(out.derived) > max_derived:
        counts: dict[str, int] = {}
        for ds in out.derivations.values():
            for d in ds:
                counts[d.rule] = counts.get(d.rule, 0) + 1
        raise DerivationLimit(max_derived, min(counts, key=lambda r: (-counts[r], r)))
    out.matches.sort(key=lambda m: (m.criterion, m.fact_ids))
    for k in mixed:
        out.derivations[k].sort(key=lambda d: (d.rule, d.premises))  # Derivation objects by now
    return out


def run_compiled(compiled: CompiledRuleset, facts: list[FactRecord], today: dt.date,
                 max_derived: int = DEFAULT_MAX_DERIVED, reuse_child: bool = False) -> RunResult:
    """Run ``compiled`` over ``facts``: in a forked child (:func:`run_forked`), or in process when
    nothing reaches the engine (guards only) or ``fork`` is missing (then on a fresh ruleset,
    abandoned afterwards: correct, but it leaks). With ``reuse_child``, a run that would have a
    child of its own is made in the ruleset's long-lived child instead (:mod:`.child`: a process
    that checks one set again and again), with the same answer."""
    if _prepared:
        hit = _prepared.pop((id(compiled), id(facts), today, max_derived), None)
        if hit is not None:
            if isinstance(hit, BaseException):
                raise hit
            return hit
    with paused_gc():  # a run makes tens of thousands of records and no reference cycles
        if compiled.cached is None:
            return EngineRun(compiled, facts, today, max_derived).execute()
        if hasattr(os, "fork") and FORK:
            if reuse_child and _reusable(facts):
                from .child import child_for

                try:
                    res = child_for(compiled).run(facts, today, max_derived)
                except OSError:  # no child could be started (out of processes or memory)
                    res = None
                if res is not None:
                    return res
                # the child died: this run is made again in a child of its own, which reports a crash
            with compiled.cached.lock:
                return run_forked(compiled, facts, today, max_derived)
        return EngineRun(compiled, facts, today, max_derived, handle=new_ruleset(compiled.definition_json)).execute()


# ---- many small runs in one child -------------------------------------------------------------------------------

#: Results of runs made ahead by :class:`prepared_runs`, keyed by the identity of the compiled
#: ruleset and of the facts list, the date and the derivation limit: :func:`run_compiled` hands each
#: one out once, to the run it was made for.
_prepared: dict[tuple, object] = {}


def _reusable(facts: list[FactRecord]) -> bool:
    """Whether a run may go to the ruleset's long-lived child (:mod:`.child`): not a large run
    (it may be split, and would leave the child large), not under fault injection (whose tests
    start a child per run)."""
    from .child import MAX_FACTS

    return len(facts) <= MAX_FACTS and not os.environ.get("COHERENCE_ENGINE_FAULT")


def _forkable(compiled: CompiledRuleset, facts: list[FactRecord]) -> bool:
    """Whether a run would go to one forked child of its own (what :func:`run_many` replaces)."""
    return (compiled.cached is not None and hasattr(os, "fork") and FORK
            and not (compiled.splittable and len(facts) >= SPLIT_MIN_FACTS and _processes() > 1))


def run_many(runs: list[tuple[CompiledRuleset, list[FactRecord], dt.date, int]]) -> list:
    """Run every ``(compiled, facts, today, max_derived)`` of ``runs`` in one forked child, one
    after the other, each on durable states of its own (distinct session ids: working memories
    that never join, so no run sees another's facts), and return, per run, its
    :class:`RunResult` or the :class:`DerivationLimit` or :class:`EngineError` that stopped it; or
    None for every run when the child itself died (a crash of the engine): then each run is to be
    made again alone, so that only the one that crashes fails. The answers are those of
    :func:`run_compiled` run by run; what is saved is a fork, and the child's copying of the
    parent's pages and its exit, per run (a batch of small sets: most of a set's engine time)."""
    if not runs:
        return []
    locks = sorted({id(c.cached.lock): c.cached.lock for c, _, _, _ in runs}.items())
    works = []
    for i, (compiled, facts, today, max_derived) in enumerate(runs):
        def work(compiled=compiled, facts=facts, today=today, max_derived=max_derived, i=i):
            run = EngineRun(compiled, facts, today, max_derived)
            run.sid = f"{run.sid}.b{i}"  # its own states (".b3.1", ".b3.2", ...): no user text
            return run.run()
        works.append(work)
    with paused_gc():
        for _, lock in locks:  # always in the same order: no two batches wait for each other
            lock.acquire()
        try:
            try:
                return _collect(*_spawn(works, many=True))  # type: ignore[return-value]
            except EngineError:
                return [None] * len(runs)
        finally:
            for _, lock in reversed(locks):
                lock.release()


class prepared_runs:
    """Within this block, each of ``runs`` (``(compiled, facts, today, max_derived)``, as
    :func:`run_compiled` would be called) has been made ahead, all in one child
    (:func:`run_many`), and :func:`run_compiled` called with the same compiled ruleset and facts
    list returns its result instead of forking for it. Runs that would not fork a child of their
    own (guards only, no ``fork``, a large run split between processes) are left to
    :func:`run_compiled`, as is every run when the child died. Results not asked for are dropped
    on leaving the block."""

    def __init__(self, runs: list[tuple[CompiledRuleset, list[FactRecord], dt.date, int]]):
        self.runs = [r for r in runs if _forkable(r[0], r[1])]
        self.keys: list[tuple] = []

    def __enter__(self):
        if len(self.runs) > 1:
            for (compiled, facts, today, max_derived), res in zip(self.runs, run_many(self.runs)):
                if res is not None:
                    key = (id(compiled), id(facts), today, max_derived)
                    _prepared[key] = res
                    self.keys.append(key)
        return self

    def __exit__(self, *exc):
        for key in self.keys:
            _prepared.pop(key, None)
        return False
