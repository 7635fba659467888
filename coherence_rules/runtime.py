"""What the stages share about the process they run in: the cycle collector paused while they
build many long-lived objects, and the peak memory the operating system has seen."""

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
