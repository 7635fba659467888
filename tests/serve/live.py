"""``coherence serve`` as a real process on a free loopback port, for tests that talk HTTP to it
(the command-line tests and the browser tests)."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

#: Generous: the first start of a process imports the package and compiles the rulesets.
START_TIMEOUT = 120
_ADDRESS = re.compile(r"at (http://\S+/) ")


class LiveServer:
    """``coherence serve DIRECTORY --port 0 ARGS...`` in a subprocess; ``url`` once started.

    Use as a context manager: the process is stopped (terminated, killed if it lingers) and its
    pipes closed on exit, whatever happened in between."""

    def __init__(self, directory: Path, *args: str, cwd: Path | None = None):
        self.command = [sys.executable, "-m", "coherence_rules.cli", "serve", str(directory), "--port", "0", *args]
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.stderr = ""
        self._lines: queue.Queue = queue.Queue()
        self._reader: threading.Thread | None = None

    def __enter__(self) -> "LiveServer":
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()
        try:
            while True:
                line = self._lines.get(timeout=START_TIMEOUT)
                if line is None:
                    raise RuntimeError(f"coherence serve exited before serving: {self._stop()}")
                m = _ADDRESS.search(line)
                if m:
                    self.url = m.group(1)
                    return self
        except BaseException:
            self._stop()
            raise

    def _read(self, stream) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def __exit__(self, *exc) -> None:
        self._stop()

    def _stop(self) -> str:
        proc = self.proc
        if proc is None:
            return self.stderr
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.stderr = proc.stderr.read() if proc.stderr else ""
        if self._reader is not None:
            self._reader.join(timeout=15)  # it ends at the end of the output, before the pipe is closed
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
        self.proc = None
        return self.stderr
