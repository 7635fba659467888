"""The `batch`, `compare` and `diff` commands: formats, exit codes, and a batch killed mid-run that
resumes from its store without losing or doubling a set."""

from __future__ import annotations

import csv
import io
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

from tests.clirunner import invoke

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
EXAMPLES = ["mauritius", "kenya-ncm", "sweden", "agreements/nl-turkey-1964"]
AS_OF = "2026-11-23"


def coherence_command() -> list[str]:
    script = Path(sys.executable).parent / "coherence"
    return [str(script)] if script.exists() else [sys.executable, "-m", "coherence_rules.cli"]



SETS = ["agreements-nl-tr", "kenya-ncm", "mauritius", "sweden"]


@pytest.fixture
def sets(workdir):
    (workdir / "nl-turkey-1964").rename(workdir / "agreements-nl-tr")
    return SETS


def test_json_is_byte_identical_for_one_and_two_jobs(sets):
    one = invoke("batch", *sets, "--format", "json", "--as-of", AS_OF, "--jobs", "1")
    two = invoke("batch", *reversed(sets), "--format", "json", "--as-of", AS_OF, "--jobs", "2")
    assert one.exit_code == two.exit_code == 1  # open findings at -1 or lower
    assert one.stdout == two.stdout
    doc = json.loads(one.stdout)
    assert doc["schema"] == "coherence-batch/1"
    assert [s["name"] for s in doc["sets"]] == sorted(sets)
    assert set(doc["sets"][0]) >= {"name", "status", "summary", "findings", "diagnostics"}
    assert "policy sets" in one.stderr  # the closing summary goes to stderr, never stdout


def test_fail_on_and_quiet(sets):
    r = invoke("batch", *sets, "--format", "json", "--as-of", AS_OF, "--fail-on", "-3", "--quiet")
    assert r.exit_code == 0
    assert r.stderr == ""


def test_a_failed_set_gives_exit_2_and_its_diagnostics(sets, workdir):
    (workdir / "draft").mkdir()
    (workdir / "draft" / "measures.policy").write_text(
        'jurisdiction GH "Republic of Ghana" { level: national }\n'
        'measure GH.1 "Pre-departure orientation" { area: emigration  effect: inform  jurisdiction: GH  colour: blue }\n',
        encoding="utf-8")
    r = invoke("batch", *sets, "draft", "--format", "json", "--as-of", AS_OF, "--jobs", "2")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    draft = next(s for s in doc["sets"] if s["name"] == "draft")
    assert draft["status"] == "failed" and draft["diagnostics"]
    assert all(s["status"] == "ok" for s in doc["sets"] if s["name"] != "draft")
    assert "failed: draft:" in r.stderr


def test_table_csv_markdown_and_html(sets, workdir):
    table = invoke("batch", *sets, "--as-of", AS_OF, "-q")
    assert table.exit_code == 1
    header = table.stdout.splitlines()[0]
    assert header.split()[:3] == ["set", "status", "findings"] and "ADM-SECTOR" in header
    mauritius = next(line for line in table.stdout.splitlines() if line.startswith("mauritius "))
    assert "1 (-2)" in mauritius and "2 (-1)" in mauritius and "1 (+1)" in mauritius
    assert "== mauritius (ok, 10 findings)" in table.stdout

    rows = list(csv.DictReader(io.StringIO(invoke("batch", *sets, "-f", "csv", "--as-of", AS_OF, "-q").stdout)))
    assert len(rows) == 16 and {r["set"] for r in rows} == {"kenya-ncm", "mauritius", "sweden"}
    assert next(r for r in rows if r["criterion"] == "ADM-SECTOR")["set"] == "mauritius"

    md = invoke("batch", *sets, "-f", "markdown", "--as-of", AS_OF, "-q").stdout
    assert md.startswith("# Coherence batch results") and "## mauritius" in md

    pytest.importorskip("jinja2")
    r = invoke("batch", *sets, "-f", "html", "-o", "batch.html", "--as-of", AS_OF, "-q")
    assert r.exit_code == 1 and r.stdout == ""
    html = (workdir / "batch.html").read_text(encoding="utf-8")
    assert "ADM-SECTOR" in html and "agreements-nl-tr" in html


def test_missing_dask_exits_2_with_the_install_hint(sets, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    r = invoke("batch", *sets, "--scheduler", "local", "--as-of", AS_OF)
    assert r.exit_code == 2
    assert "pip install 'coherence-rules[dask]'" in r.stderr


def test_unknown_ruleset_exits_2(sets):
    r = invoke("batch", *sets, "--ruleset", "cor", "--as-of", AS_OF)
    assert r.exit_code == 2 and "E213" in r.stderr


# ---- interruption ---------------------------------------------------------------------------------------------


def _stored(db_path: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def test_a_killed_batch_resumes_without_losing_or_doubling(tmp_path):
    n = 40
    names = []
    for i in range(n):
        src = POLICIES / EXAMPLES[i % len(EXAMPLES)]
        name = f"set-{i:02d}-{Path(EXAMPLES[i % len(EXAMPLES)]).name}"
        shutil.copytree(src, tmp_path / name)
        names.append(name)
    cmd = coherence_command() + ["batch", *names, "--format", "json", "--as-of", AS_OF, "--jobs", "2"]
    env = {**os.environ, "PYTHONHASHSEED": "random"}

    reference = subprocess.run(cmd + ["--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert reference.returncode == 1, reference.stderr
    assert len(json.loads(reference.stdout)["sets"]) == n

    store = tmp_path / "s.sqlite"
    resumable = cmd + ["--store", str(store)]
    proc = subprocess.Popen(resumable, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if _stored(store) >= 3:
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the batch, its pool workers and their engine runs
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the batch finished before it could be interrupted"
    done = _stored(store)
    assert 0 < done < n
    print(f"killed with {done} of {n} sets stored")

    resumed = subprocess.run(resumable, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 1, resumed.stderr
    assert resumed.stdout == reference.stdout
    assert f"{n - done} run, {done} from the store" in resumed.stderr

    db = sqlite3.connect(store)
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT name) FROM results").fetchone() == (n, n)
    assert sorted(r[0] for r in db.execute("SELECT name FROM results")) == sorted(names)
    db.close()


# ---- compare and diff -----------------------------------------------------------------------------------------


def test_diff_exit_codes(tmp_path, monkeypatch):
    for name in ("old", "new", "fixed"):
        shutil.copytree(POLICIES / "mauritius", tmp_path / name)
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "new" / "instruments.policy", "a", encoding="utf-8") as f:
        f.write('\nmeasure NMDP.4.4 "Mentoring network for returning graduates" {\n  instrument: NMDP\n'
                '  area: diaspora\n  effect: facilitate\n  group: diaspora\n  delivered_by: EDB\n  funded: false\n}\n')
    r = invoke("diff", "old", "new", "--as-of", AS_OF, "--format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert [f["criterion"] for f in doc["new_findings"]] == ["MEASURE-UNFUNDED"]
    assert invoke("diff", "old", "new", "--as-of", AS_OF, "--fail-on", "-2").exit_code == 0

    p = tmp_path / "fixed" / "instruments.policy"
    p.write_text(p.read_text(encoding="utf-8").replace(
        "area: labour_migration\n  effect: restrict\n  occupation: nurse",
        "area: labour_migration\n  effect: facilitate\n  occupation: nurse"), encoding="utf-8")
    r = invoke("diff", "old", "fixed", "--as-of", AS_OF)
    assert r.exit_code == 0
    assert "- ADM-SECTOR [HSS.2.1, WPR.7]" in r.stdout

    pytest.importorskip("jinja2")
    r = invoke("diff", "old", "new", "--as-of", AS_OF, "-f", "html", "-o", "diff.html")
    assert r.exit_code == 1 and "NMDP.4.4" in (tmp_path / "diff.html").read_text(encoding="utf-8")

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.policy").write_text('measure M "unfinished" {\n', encoding="utf-8")
    r = invoke("diff", "old", "broken", "--as-of", AS_OF)
    assert r.exit_code == 2 and "E102" in r.stderr


def test_compare_command(tmp_path, monkeypatch):
    shutil.copytree(POLICIES / "agreements" / "nl-turkey-1964", tmp_path / "a")
    shutil.copytree(POLICIES / "agreements" / "nl-turkey-1964", tmp_path / "b")
    monkeypatch.chdir(tmp_path)
    md = tmp_path / "b" / "agreement.md"
    text = md.read_text(encoding="utf-8")
    # the revision puts the journey to the Netherlands at the worker's expense
    start = text.index("clause NL-TR-1964.A11.travel")
    old = 'provision: "employer_pays"'
    at = text.index(old, start)
    md.write_text(text[:at] + 'provision: "worker_pays"' + text[at + len(old):], encoding="utf-8")
    r = invoke("compare", "a", "b", "--format", "json", "--as-of", AS_OF)
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["schema"] == "coherence-compare/2"
    statuses = {row["topic"]: row["status"] for row in doc["topics"]}
    assert statuses["travel"] == "differing positions"
    assert {t for t, st in statuses.items() if st == "differing positions"} == {"travel"}
    assert set(statuses.values()) == {"differing positions", "same positions", "side by side"}
    lines = invoke("compare", "a", "b", "--as-of", AS_OF).stdout.splitlines()
    assert lines[1].startswith("A: a (NL-TR-1964") and lines[2].startswith("B: b (NL-TR-1964")
    assert invoke("compare", "a", "missing", "--as-of", AS_OF).exit_code == 2
    assert invoke("compare", "a", "--as-of", AS_OF).exit_code == 2  # one set needs --against


def test_batch_csv_rows_are_check_csv_rows_with_the_set_first(workdir):
    """A set's rows in `batch -f csv` are the rows `check --format csv` writes for it, acceptance
    columns included."""
    single = invoke("check", "mauritius", "--format", "csv", "--as-of", AS_OF).stdout.splitlines()
    batch = invoke("batch", "mauritius", "-f", "csv", "--as-of", AS_OF, "-q").stdout.splitlines()
    assert batch[0] == "set," + single[0]
    assert batch[1:] == ["mauritius," + row for row in single[1:]]
    accepted = next(r for r in csv.DictReader(io.StringIO("\n".join(single))) if r["status"] == "accepted")
    assert accepted["accepted_until"] and accepted["accepted_reason"]
