"""Every performance goal of docs/performance.md as bound, measured, met or not: runs the
benchmarks that measure them (`run.py` for the engine, `parse_bench.py` for the cold parse,
`batch_bench.py`, `warm_bench.py`) and times start-up, then prints one table. Each figure is a ratio measured within one run.

    python bench/goals.py [--quick]

`--quick` measures the engine at 10,000 facts instead of 100,000, the batch at 100 sets instead of
1,000 and 10,000, and the warm loop over 30 edits: for a look, not for the record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import coherence_command, wall_times

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def _last_json(out: str) -> dict:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


def _run(args: list[str]) -> str:
    p = subprocess.run([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    sys.stdout.write(p.stdout)
    sys.stdout.flush()
    return p.stdout


def _cold_parse_ratio(sizes: str) -> float | None:
    """Cold parse facts per second over 30,000 at 30,000 facts (parse_bench's worker, median)."""
    sys.path.insert(0, str(BENCH))
    import generate

    with tempfile.TemporaryDirectory(prefix="coherence-goals-parse-") as tmp:
        path = Path(tmp) / "facts.policy"
        path.write_text(generate.generate(30_000, 1), encoding="utf-8")
        rates = []
        for _ in range(3):
            p = subprocess.run([sys.executable, str(BENCH / "parse_bench.py"), "--worker", str(path)],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
            r = _last_json(p.stdout)
            if r.get("status") == "ok":
                rates.append(30_000 / r["cold"])
    return statistics.median(rates) / 30_000 if rates else None


def main(argv: list[str] | None = None) -> int:
    from tabulate import tabulate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    engine_sizes = "1000,10000" if args.quick else "10000,100000"
    batch_sizes = "100" if args.quick else "100,1000,10000"
    edits = "30" if args.quick else "100"

    rows = []

    def row(what: str, bound: str, measured, ok: bool | None, note: str = "") -> None:
        rows.append([what, bound, measured if measured is not None else "not measured",
                     "" if ok is None else ("met" if ok else "not met"), note])

    with tempfile.TemporaryDirectory(prefix="coherence-goals-") as tmp:
        goals_file = Path(tmp) / "engine.json"
        _run([str(BENCH / "run.py"), "--sizes", engine_sizes, "--no-parse", "--goals-json", str(goals_file)])
        engine = json.loads(goals_file.read_text()) if goals_file.exists() else {}
    batch = _last_json(_run([str(BENCH / "batch_bench.py"), "--sizes", batch_sizes, "--json"]))
    warm = _last_json(_run([str(BENCH / "warm_bench.py"), "--edits", edits, "--json"]))
    check = statistics.median(wall_times(coherence_command() + ["check", "policies/mauritius", "--as-of",
                                                                 "2026-11-23"], ROOT, 8))
    bare = statistics.median(wall_times([sys.executable, "-c", "pass"], ROOT, 8))
    parse = _cold_parse_ratio(engine_sizes)

    r = batch.get("batch_over_check", {})
    row("200 sets in one `coherence batch --jobs 2` / one `coherence check`", "<= 2.0",
        f"{r['ratio']:.1f} ({r['batch_s']:.2f} s / {r['check_s']:.2f} s)" if r else None,
        r["ratio"] <= 2.0 if r else None)
    t = batch.get("throughput", {})
    row("batch_bench, 300 sets: sets/s at --jobs 2 / --jobs 1", ">= 1.8",
        f"{t['jobs_over_one']:.2f}" if t else None, t["jobs_over_one"] >= 1.8 if t else None)
    d = t.get("dask_over_pool") if t else None
    row("the same, Dask local cluster / process pool", ">= 0.9", f"{d:.2f}" if d else None,
        d >= 0.9 if d else None)
    sc = batch.get("scaling", [])
    if len(sc) > 1:
        row(f"batch growth, {sc[0]['sets']:,} -> {sc[-1]['sets']:,} sets: exponent", "<= 1.10 (linear)",
            ", ".join(f"{x['exponent']:.2f}" for x in sc[1:]), all(x["exponent"] <= 1.1 for x in sc[1:]))
    n = engine.get("facts")
    x = engine.get("x_clingo")
    row(f"engine stage at {n or 0:,} facts, coherence / clingo", "<= 0.6", f"{x:.2f}" if x else None,
        x <= 0.6 if x else None)
    x = engine.get("x_floor")
    row("the same, coherence / plain-Python floor", "<= 12", f"{x:.1f}" if x else None, x <= 12 if x else None)
    b = engine.get("bytes_per_fact")
    row(f"engine peak memory per fact at {n or 0:,} facts, children counted", "<= 1,200 B",
        f"{b:,.0f} B" if b else None, b <= 1200 if b else None)
    ratio = check / bare
    row("cold `coherence check policies/mauritius` / `python -c pass` (wall)", "<= 4",
        f"{ratio:.1f} ({check * 1000:.0f} ms / {bare * 1000:.0f} ms)", ratio <= 4)
    row("cold parse at 30,000 facts, facts/s / 30,000", ">= 1.7", f"{parse:.2f}" if parse else None,
        parse >= 1.7 if parse else None)
    w = warm.get("ratio")
    row(f"warm re-check after one edit of Mauritius / cold CLI check (median of {edits} edits)", "<= 1/20 (0.05)",
        f"{w:.3f} (1/{1 / w:.0f}; {warm['warm_median_s'] * 1000:.1f} ms, max {warm['warm_max_s'] * 1000:.1f} ms)"
        if w else None, w <= 0.05 if w else None)

    print()
    print("performance goals (each a ratio measured in this run)")
    print(tabulate(rows, headers=["goal", "bound", "measured", "", ""], disable_numparse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
