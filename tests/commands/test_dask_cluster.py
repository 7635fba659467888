"""A real distributed run: a Dask scheduler and two workers started as separate processes on
loopback (``dask scheduler``, ``dask worker``), the shipped agreements checked through
``coherence batch --scheduler tcp://127.0.0.1:PORT``, and the JSON document compared byte for byte
with the process pool's. Everything the test starts is stopped, also when it fails.

Marked ``dask_cluster``: it runs in the default ``make test`` (a few seconds), and
``-m 'not dask_cluster'`` leaves it out. Skipped when Dask distributed is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.dask_cluster

ROOT = Path(__file__).resolve().parents[2]
AGREEMENTS = ROOT / "policies" / "agreements"
BIN = Path(sys.executable).parent
AS_OF = "2026-11-23"
#: seconds the cluster may take to come up (two cores, shared: generous)
START_TIMEOUT = 90


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask_cli() -> list[str]:
    exe = BIN / "dask"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "distributed.cli.dask_scheduler"]


class _Processes:
    """The processes this test started, each in a session (process group) of its own, so that
    stopping one also stops what it started (a worker's nanny starts the worker process)."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], cwd: Path) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")
        try:
            p = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        finally:
            log.close()
        self.procs.append((name, p))
        return p

    def log(self, name: str) -> str:
        try:
            return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        for _, p in reversed(self.procs):  # workers first, then the scheduler
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + 15
        for _, p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # whatever of its group is still there (also after a clean exit of the leader)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded workers on 127.0.0.1; its address."""
    distributed = pytest.importorskip("distributed")
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = _Processes(logs)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = _dask_cli()
    try:
        procs.start("scheduler", dask + ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                         "--no-dashboard"], tmp_path)
        for i in range(2):
            procs.start(f"worker-{i}", dask + ["worker", address, "--nworkers", "1", "--nthreads", "1",
                                               "--host", "127.0.0.1", "--no-dashboard", "--name", f"coherence-{i}",
                                               "--local-directory", str(tmp_path / f"dask-{i}"),
                                               "--death-timeout", "60"], tmp_path)
        deadline = time.monotonic() + START_TIMEOUT
        client = None
        while client is None:
            for name, p in procs.procs:
                if p.poll() is not None:
                    pytest.fail(f"dask {name} exited with {p.returncode}:\n{procs.log(name)}")
            try:
                client = distributed.Client(address, timeout="5s")
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"the scheduler did not come up:\n{procs.log('scheduler')}")
                time.sleep(0.3)
        try:
            client.wait_for_workers(2, timeout=max(5, deadline - time.monotonic()))
            assert len(client.scheduler_info()["workers"]) == 2
        except (TimeoutError, OSError):
            pytest.fail("the two workers did not join:\n" + "\n".join(procs.log(f"worker-{i}") for i in range(2)))
        finally:
            client.close()
        yield address
    finally:
        procs.stop()
    for name, p in procs.procs:
        assert p.poll() is not None, f"dask {name} (pid {p.pid}) is still running"


def _batch(cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    sets = sorted(f"agreements/{d.name}/" for d in (cwd / "agreements").iterdir() if d.is_dir())
    return subprocess.run([str(BIN / "coherence"), "batch", *sets, "-f", "json", "--as-of", AS_OF, "-q", *extra],
                          cwd=cwd, capture_output=True, timeout=600)


def test_a_batch_on_a_dask_cluster_of_separate_processes_matches_the_process_pool(cluster, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    # a copy: the document must not change between the two runs because someone edits the examples
    shutil.copytree(AGREEMENTS, work / "agreements")
    pool = _batch(work, "--jobs", "2")
    dask = _batch(work, "--scheduler", cluster)
    assert pool.returncode in (0, 1), pool.stderr.decode(errors="replace")
    assert dask.returncode == pool.returncode, dask.stderr.decode(errors="replace")
    assert dask.stdout == pool.stdout
    doc, _ = json.JSONDecoder().raw_decode(pool.stdout.decode("utf-8"))
    assert doc["summary"]["sets"] == len(list((work / "agreements").glob("*/"))) >= 19
    assert doc["summary"]["failed"] == 0
