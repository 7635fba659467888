"""Isolation and memory: many checks in one process must not grow its memory.

Runs the Mauritius example N times (default 10,000) in one process through the library, the way a
notebook or a long-lived service would: half compiling the rulesets each time (``coherence_rules.checker``),
half reusing one compiled ruleset (what ``coherence batch`` does per worker). Prints the resident
memory before and after, and the growth, against the 20 MB budget. Also prints check throughput
(facts per second, end to end) at 1k and 10k generated facts.

    python bench/isolation.py [--runs N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TODAY = dt.date(2026, 11, 23)


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1048576


def isolation(runs: int) -> list[list]:
    from coherence_rules.checker import check
    from coherence_rules.engine import run
    from coherence_rules.engine.compiler import CompiledRuleset
    from coherence_rules.session import Session

    ws = Session([ROOT / "policies" / "mauritius"]).workspace
    program = check(ws.rule_modules + ws.policy_modules)
    for _ in range(50):  # warm up caches and allocator pools
        run(program, program.facts, TODAY)
    gc.collect()
    before = rss_mib()
    t0 = time.perf_counter()
    half = runs // 2
    for _ in range(half):
        with CompiledRuleset(program) as c:
            c.run(program.facts, TODAY)
    with CompiledRuleset(program) as c:
        for _ in range(runs - half):
            c.run(program.facts, TODAY)
    elapsed = time.perf_counter() - t0
    gc.collect()
    after = rss_mib()
    return [["runs", runs], ["facts per run", len(program.facts)], ["RSS before (MiB)", f"{before:.1f}"],
            ["RSS after (MiB)", f"{after:.1f}"], ["growth (MiB)", f"{after - before:+.1f}"],
            ["budget (MiB)", "20"], ["ms per run", f"{elapsed / runs * 1000:.2f}"]]


def throughput(sizes: list[int]) -> list[list]:
    import coherence_rules
    from generate import generate

    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "set.policy"
            path.write_text(generate(n, seed=1), encoding="utf-8")
            t0 = time.perf_counter()
            report = coherence_rules.check([path], as_of=TODAY)
            elapsed = time.perf_counter() - t0
            assert not report.errors, report.errors[:3]
            rows.append([n, f"{elapsed:.2f}", f"{n / elapsed:,.0f}", len(report.findings)])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--sizes", default="1000,10000")
    args = ap.parse_args()
    from tabulate import tabulate

    print(tabulate(isolation(args.runs), tablefmt="simple"))
    print()
    print(tabulate(throughput([int(s) for s in args.sizes.split(",")]),
                   headers=["facts", "check s", "facts/s", "findings"], tablefmt="simple"))


if __name__ == "__main__":
    main()
