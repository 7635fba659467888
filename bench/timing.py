"""Timing the command line as a whole process, for the benchmarks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def coherence_command() -> list[str]:
    """The installed ``coherence`` script beside this Python, else the module."""
    exe = Path(sys.executable).parent / "coherence"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "coherence_rules.cli"]


def wall_times(cmd: list[str], cwd, n: int) -> list[float]:
    """The wall-clock seconds of ``n`` runs of ``cmd`` in ``cwd``, output discarded; a run that
    exits other than 0 or 1 (findings) stops the benchmark."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
        if p.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd[:3])} ... failed with exit {p.returncode}")
    return out
