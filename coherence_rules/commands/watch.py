"""``--watch``: run a command again whenever one of the files it reads changes.

The files are polled (their modification times and sizes, every half second) rather than watched
through the operating system's notifications: that needs no dependency, works the same on every
platform and on network drives, and half a second is quick enough for a person saving a file.
Directories are listed again at every poll, so a new or removed source file counts as a change.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence, TextIO

from ..render.escape import terminal

#: Seconds between two polls.
INTERVAL = 0.5
#: What clears a terminal and puts the cursor at its top left.
CLEAR = "\x1b[2J\x1b[H"


def watched_paths(paths: Sequence[str] = (), with_paths: Sequence[str] = (),
                  rulesets: Optional[Sequence[str]] = None) -> list[Path]:
    """What a run reads: the policy set's paths, the ``--with`` reference paths, and the ruleset
    files (the named built-in ones, the given paths, and the schema, always loaded)."""
    from ..session import DEFAULT_RULESETS, RULESETS_DIR, resolve_reference, resolve_ruleset

    out = [Path(p) for p in paths]
    out += [resolve_reference(w) for w in with_paths]
    for r in (DEFAULT_RULESETS if rulesets is None else rulesets):
        found = resolve_ruleset(r)
        out.append(found if found is not None else Path(r))
    out.append(RULESETS_DIR / "schema.rules")
    return out


def snapshot(paths: Iterable[Path], ignore: Iterable[str] = ()) -> dict[str, Optional[tuple[int, int]]]:
    """Each source file under ``paths`` with its modification time and size; a path that does not
    exist maps to None (so its appearing is a change too). Files in ``ignore`` (the run's own
    ``--output``, which may lie among the sources) are left out, so a run does not start the next."""
    from ..sources.loader import discover

    paths = list(paths)
    skip = {os.path.realpath(i) for i in ignore if i}
    state: dict[str, Optional[tuple[int, int]]] = {}
    files, _ = discover([p for p in paths if p.exists()])
    for f, _explicit in files:
        if skip and os.path.realpath(f) in skip:
            continue
        try:
            st = os.stat(f)
        except OSError:
            state[str(f)] = None
            continue
        state[str(f)] = (st.st_mtime_ns, st.st_size)
    for p in paths:
        if not p.exists():
            state[str(p)] = None
    return state


def changed_files(before: dict, after: dict) -> list[str]:
    """The files whose state differs between two snapshots (added, removed or modified)."""
    return sorted(k for k in set(before) | set(after) if before.get(k, ()) != after.get(k, ()))


def watch(run: Callable[[], int], paths: Sequence[Path], *, interval: float = INTERVAL,
          out: Optional[TextIO] = None, err: Optional[TextIO] = None, ignore: Sequence[str] = (),
          sleep: Callable[[float], None] = time.sleep, max_runs: Optional[int] = None) -> int:
    """Call ``run`` (which prints its output and returns its exit code), then again after every
    change to the files under ``paths``, clearing the terminal first when standard output is one
    (otherwise a line on standard error separates the runs). Ctrl-C ends the loop: the return value
    is then 0, whatever the last run's exit code. ``ignore``: files whose changes do not count
    (see :func:`snapshot`). ``max_runs`` stops after that many runs (for tests)."""
    out = out or sys.stdout
    err = err or sys.stderr
    runs = 0
    interrupted = _note_interrupts()
    try:
        state = snapshot(paths, ignore)
        while True:
            code = run()
            runs += 1
            out.flush()
            if interrupted():  # a Ctrl-C during the run that the run itself absorbed
                raise KeyboardInterrupt
            print(f"[watch] exit {code}; watching {len(state)} files for changes (Ctrl-C to stop)", file=err, flush=True)
            if max_runs is not None and runs >= max_runs:
                return 0
            while True:
                sleep(interval)
                if interrupted():
                    raise KeyboardInterrupt
                now = snapshot(paths, ignore)
                changed = changed_files(state, now)
                if changed:
                    state = now
                    break
            if _is_tty(out):
                out.write(CLEAR)
            shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
            print(f"[watch] {dt.datetime.now():%H:%M:%S} {terminal(shown)} changed: running again", file=err, flush=True)
    except KeyboardInterrupt:
        print("", file=err, flush=True)
        return 0
    finally:
        interrupted.restore()


class _note_interrupts:
    """Ctrl-C, remembered: the handler raises KeyboardInterrupt as Python's does, and also notes
    it, so that a Ctrl-C that arrives while a run is finishing and is absorbed there (a run may
    turn it into an exit code) still ends the watch instead of being lost. Outside the main
    thread (where handlers cannot be set) it notes nothing."""

    def __init__(self) -> None:
        import signal
        import threading

        self.seen = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)

    def _handler(self, signum, frame) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def __call__(self) -> bool:
        return self.seen

    def restore(self) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def invoke_again(ctx, **overrides) -> int:
    """Run the command of click context ``ctx`` once more with its parameters (and ``overrides``),
    as :func:`watch`'s ``run``: the command's exit code, after printing what a bad input or usage
    error says (a run that fails does not end the watch). Ctrl-C during the run ends the watch."""
    import click

    try:
        ctx.invoke(ctx.command, **{**ctx.params, **overrides})
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except SystemExit as e:
        if e.code == 130:  # the command's own handling of Ctrl-C
            raise KeyboardInterrupt from None
        return e.code if isinstance(e.code, int) else 1
    return 0
