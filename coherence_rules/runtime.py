"""What the stages share about the process they run in: the cycle collector paused while they
build many long-lived objects, the peak memory the operating system has seen, and child
processes that end with their parent (:func:`die_with_parent`)."""

from __future__ import annotations

import contextlib
import gc
import sys


@contextlib.contextmanager
def paused_gc():
    """Run the block (or, as ``@paused_gc()``, the decorated function) with Python's cycle collector
    off, and turn it back on afterwards (unless an enclosing block turned it off).

    A policy set becomes hundreds of thousands of long-lived objects (syntax nodes, fact records)
    that hold no reference cycles. With the collector on, every full collection walks all of them
    again while the next stage allocates, which measured as half the time of parsing and checking
    10,000 facts (``docs/performance.md``). Garbage cycles made inside the block are collected
    once the collector is back on.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def peak_rss() -> tuple[int, int]:
    """Peak resident set size in bytes of this process and of its waited-for children (0, 0 where
    the platform does not say)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return 0, 0
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale)


#: ``PR_SET_PDEATHSIG`` of Linux's prctl(2).
_PR_SET_PDEATHSIG = 1
_prctl: list = []  # [the C library's prctl, or None where there is none], once looked up


def parent_death_prctl():
    """The C library's ``prctl`` (Linux), or None; looked up once per process, so a parent that
    calls this before forking spares each child the lookup."""
    if not _prctl:
        fn = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                # the process's own symbols include the C library's (no library search, no subprocess)
                fn = ctypes.CDLL(None, use_errno=True).prctl
            except (OSError, AttributeError):
                fn = None
        _prctl.append(fn)
    return _prctl[0]


def die_with_parent(parent_pid: int, *, watch: bool = True) -> str:
    """Make this (child) process end when ``parent_pid``, its parent, ends, however the parent
    ends (a SIGKILL included, which runs no clean-up of the parent's): on Linux the kernel sends
    SIGKILL to the child (``prctl(PR_SET_PDEATHSIG)``); elsewhere, with ``watch``, a daemon thread
    checks every half second that the parent is still there (an orphan is adopted by another
    process, so its parent pid changes) and ends the process if not. Returns how: ``"prctl"``,
    ``"watch"`` or ``"none"``. A parent that is already gone ends the child at once."""
    import os
    import signal

    how = "none"
    prctl = parent_death_prctl()
    if prctl is not None and prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
        how = "prctl"
    if os.getppid() != parent_pid:  # the parent ended before the signal was asked for
        os._exit(1)
    if how == "none" and watch:
        import threading
        import time

        def watcher() -> None:
            while True:
                time.sleep(0.5)
                if os.getppid() != parent_pid:
                    os._exit(1)

        threading.Thread(target=watcher, name="coherence-parent-watch", daemon=True).start()
        how = "watch"
    return how
