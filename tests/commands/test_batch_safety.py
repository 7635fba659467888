"""A batch does not outlive itself or its sets: workers die with a parent killed outright, a set
that runs too long is stopped and marked failed while the others go on (pool and sequential
paths), and the result store only ever writes to a store of its own, refusing a damaged or
foreign database with exit 2."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coherence_rules.commands.batch import BatchError, Store, run_batch

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
AS_OF = dt.date(2026, 11, 23)

TRIPLES = """\
ruleset triples "Measure triples" { version: "0.1" }
criterion TRIPLE "Three restrictive measures" {
  dimension: internal  score: -1  source: "s"  message: "{a} {b} {c}"  advice: "a"
  when { a: measure where effect == restrict  b: measure where effect == restrict
         c: measure where effect == restrict }
}
"""


def _slow_set(root: Path, n: int = 160) -> Path:
    """A set that brings a criterion whose three patterns are not related: C(160, 3) matches,
    minutes of work."""
    d = root / "slow"
    d.mkdir()
    (d / "triples.rules").write_text(TRIPLES)
    lines = ['jurisdiction MU "M" { level: national }', 'instrument I "i" { kind: law  jurisdiction: MU }']
    lines += [f'measure M{i} "m" {{ instrument: I  area: admission  effect: restrict }}' for i in range(n)]
    (d / "caps.policy").write_text("\n".join(lines) + "\n")
    return d


# ---- workers die with the parent ----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads children from /proc")
def test_workers_die_when_the_batch_is_killed(tmp_path):
    names = []
    for i in range(12):
        shutil.copytree(POLICIES / "mauritius", tmp_path / f"set-{i:02d}")
        names.append(f"set-{i:02d}")
    _slow_set(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "coherence_rules.cli", "batch", "slow", *names, "-j", "2", "-q",
                             "--as-of", AS_OF.isoformat()],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    workers: list[int] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None and len(workers) < 2:
            workers = _children(proc.pid)
            time.sleep(0.05)
        assert len(workers) >= 2, "the batch never started two workers"
        time.sleep(0.5)  # past the workers' start-up
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.05)
        survivors = [w for w in workers if _alive(w)]
        assert survivors == [], f"workers {survivors} outlived the batch"
    finally:
        for w in workers:
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass
        if proc.poll() is None:
            proc.kill()


def test_die_with_parent_without_prctl_watches_the_parent(tmp_path):
    """Where prctl is missing, a thread in the worker notices that its parent is gone."""
    code = (
        "import os, sys, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    import coherence_rules.runtime as rt\n"
        "    rt._prctl[:] = [None]\n"
        "    assert rt.die_with_parent(os.getppid()) == 'watch'\n"
        "    print(os.getpid(), flush=True)\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(0.5)\n"
        "os._exit(0)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    child = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child)


# ---- --timeout ------------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_set_past_the_timeout_fails_alone_and_is_not_stored(tmp_path, monkeypatch, jobs):
    monkeypatch.chdir(tmp_path)
    _slow_set(tmp_path)
    shutil.copytree(POLICIES / "mauritius", tmp_path / "mauritius")
    store = tmp_path / "s.sqlite"
    before = set(_children(os.getpid()))  # earlier tests' helpers (a Dask cluster) may still run
    t0 = time.monotonic()
    result = run_batch(["slow", "mauritius"], jobs=jobs, as_of=AS_OF, store=str(store), timeout=1.0)
    assert time.monotonic() - t0 < 60
    by_name = {s["name"]: s for s in result.sets}
    assert by_name["mauritius"]["status"] == "ok" and by_name["mauritius"]["findings"]
    assert by_name["slow"]["status"] == "failed"
    assert [d["code"] for d in by_name["slow"]["diagnostics"]] == ["E503"]
    assert result.exit_code() == 2
    db = sqlite3.connect(store)
    assert [r[0] for r in db.execute("SELECT name FROM results")] == ["mauritius"]  # a rerun tries slow again
    db.close()
    # no engine child is left running
    time.sleep(0.2)
    assert [c for c in _children(os.getpid()) if _alive(c) and c not in before] == []


def test_timeout_on_the_command_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from coherence_rules.cli import main

    monkeypatch.chdir(tmp_path)
    _slow_set(tmp_path)
    result = CliRunner().invoke(main, ["batch", "slow", "--timeout", "0.5", "-q", "--format", "json",
                                       "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 2, result.output
    assert "E503" in result.output
    assert CliRunner().invoke(main, ["batch", "slow", "--timeout", "1", "--scheduler", "local"]).exit_code == 2


# ---- the store --------------------------------------------------------------------------------------


def test_another_applications_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "app.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE results (id INTEGER PRIMARY KEY, score REAL)")
    db.execute("INSERT INTO results VALUES (1, 2.5)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(BatchError, match="not a coherence result store"):
        Store(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.sqlite"]


def test_a_new_or_empty_file_becomes_a_store_with_its_marks(tmp_path):
    for path in (tmp_path / "new.sqlite", tmp_path / "empty.sqlite"):
        if path.name == "empty.sqlite":
            path.write_bytes(b"")
        Store(path).close()
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x434F4852
        assert dict(db.execute("SELECT key, value FROM meta"))["application"] == "coherence"
        db.close()
        Store(path).close()  # and it opens again


def _good_store(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("mauritius", "sweden", "kenya-ncm"):
        shutil.copytree(POLICIES / name, tmp_path / name)
    store = tmp_path / "s.sqlite"
    run_batch(["mauritius", "sweden", "kenya-ncm"], jobs=1, as_of=AS_OF, store=str(store))
    db = sqlite3.connect(store)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return store


@pytest.mark.parametrize("damage", ["truncate", "garbage-tail", "garbage-head"])
def test_a_damaged_store_is_exit_2(tmp_path, monkeypatch, damage):
    from click.testing import CliRunner

    from coherence_rules.cli import main

    store = _good_store(tmp_path, monkeypatch)
    data = store.read_bytes()
    half = len(data) // 2
    store.write_bytes({"truncate": data[:half], "garbage-tail": data[:half] + os.urandom(len(data) - half),
                       "garbage-head": os.urandom(4096) + data[4096:]}[damage])
    for name in ("s.sqlite-wal", "s.sqlite-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    result = CliRunner().invoke(main, ["batch", "mauritius", "sweden", "kenya-ncm", "--store", str(store), "-q",
                                       "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert "s.sqlite" in result.output


def test_an_entry_that_does_not_decode_is_computed_again(tmp_path, monkeypatch):
    store = _good_store(tmp_path, monkeypatch)
    db = sqlite3.connect(store)
    db.execute("UPDATE results SET entry = '{not json' WHERE name = 'sweden'")
    db.commit()
    db.close()
    result = run_batch(["mauritius", "sweden", "kenya-ncm"], jobs=1, as_of=AS_OF, store=str(store))
    assert result.reused == 2 and result.computed == 1
    db = sqlite3.connect(store)
    (entry,) = db.execute("SELECT entry FROM results WHERE name = 'sweden'").fetchone()
    assert json.loads(entry)["name"] == "sweden"
