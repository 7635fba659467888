"""End-to-end scale benchmark: `coherence check` with the core ruleset on generated policy sets of
10,000, 100,000 and 1,000,000 facts.

Unlike `run.py` (the engine stage alone, on the four benchmark rules), this runs the whole
command, as a user does: read and parse the file, check the facts, compile and run the 21+
criteria and rules of `core`, build the findings and their proofs, and write the JSON report.
Each size is generated once (`generate.py`, same seed for every size), then checked in a fresh
process with the caches off (`COHERENCE_NO_CACHE=1`: a cold run), `--repeat` times; the median
wall time is reported. The limits a user would raise for such sets are raised: the file size
(`COHERENCE_MAX_FILE_SIZE`, 32 MiB by default; a million facts are about 170 MiB) and
`--max-derived` (10 per fact).

    python bench/scale_bench.py [--sizes 10000,100000,1000000] [--skip-1m] [--repeat 1] [--seed 1]
                                [--ruleset NAME|PATH]...

Columns:
  facts         facts in the generated set
  seconds       wall time of `coherence check FILE --format json` (median of the runs)
  facts/s       facts / seconds
  peak MB       peak resident set size of the command, its forked engine processes included
                (the largest of them: getrusage of the waited-for child, ru_maxrss)
  KB/fact       peak MB per fact
  findings      findings in the report
  exit          the command's exit code (1: findings; anything else is reported as a failure)
  exponent      log(t2/t1) / log(n2/n1) between this size and the previous one (1.0 = linear)

The exit code is 1 when a check fails (exit code other than 0 or 1, or a report that does not
parse); 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MILLION = 1_000_000


def _maxrss_bytes(ru_maxrss: int) -> int:
    return ru_maxrss if sys.platform == "darwin" else ru_maxrss * 1024  # bytes on macOS, KiB elsewhere


def check_once(policy: Path, report: Path, n: int, rulesets: list[str]) -> dict:
    """One cold `coherence check` of ``policy`` (``n`` facts, with ``rulesets``, by default
    `core`): wall time, peak memory, exit code, findings."""
    env = {**os.environ, "COHERENCE_NO_CACHE": "1", "PYTHONPATH": str(ROOT),
           "COHERENCE_MAX_FILE_SIZE": str(policy.stat().st_size + (1 << 20))}
    cmd = [sys.executable, "-m", "coherence_rules.cli", "check", str(policy), "--format", "json",
           "--output", str(report), "--max-derived", str(max(100_000, 10 * n))]
    for r in rulesets:
        cmd += ["--ruleset", r]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait4 gives this child's own resource usage (with its waited-for engine processes), not the
    # total of every child this benchmark ever ran
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    findings = None
    if proc.returncode in (0, 1):
        try:
            findings = len(json.loads(report.read_text(encoding="utf-8"))["findings"])
        except (OSError, ValueError, KeyError):
            findings = None
    return {"seconds": seconds, "peak": _maxrss_bytes(usage.ru_maxrss), "exit": proc.returncode,
            "findings": findings, "stderr": stderr}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated fact counts")
    ap.add_argument("--skip-1m", action="store_true", help="leave out sizes of a million facts or more")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size (the median is reported)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ruleset", action="append", default=[], metavar="NAME|PATH",
                    help="check with this ruleset instead of core (repeatable, as for `coherence check`)")
    args = ap.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if args.skip_1m:
        sizes = [n for n in sizes if n < MILLION]
    sys.path.insert(0, str(BENCH))
    import generate

    rows = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="coherence-scale-") as tmp:
        for n in sizes:
            policy = Path(tmp) / f"g{n}.policy"
            policy.write_text(generate.generate(n, args.seed), encoding="utf-8")
            runs = [check_once(policy, Path(tmp) / f"g{n}.json", n, args.ruleset) for _ in range(max(1, args.repeat))]
            policy.unlink()
            run = runs[0]
            seconds = statistics.median(r["seconds"] for r in runs)
            peak = max(r["peak"] for r in runs)
            bad = [r for r in runs if r["exit"] not in (0, 1) or r["findings"] is None]
            if bad:
                failed = True
                print(f"{n} facts: the check failed (exit {bad[0]['exit']}):\n{bad[0]['stderr'][-2000:]}",
                      file=sys.stderr)
            rows.append((n, seconds, peak, run["findings"], run["exit"]))
            print(f"  {n:>9,} facts: {seconds:8.1f} s, {peak / 2**20:8.0f} MB peak", file=sys.stderr, flush=True)

    head = f"{'facts':>10}  {'seconds':>8}  {'facts/s':>9}  {'peak MB':>8}  {'KB/fact':>7}  {'findings':>8}  " \
           f"{'exit':>4}  {'exponent':>8}"
    print(f"coherence check, {', '.join(args.ruleset) or 'core'} ruleset, end to end (seed {args.seed}, caches off)")
    print(head)
    print("-" * len(head))
    prev = None
    for n, seconds, peak, findings, code in rows:
        exponent = ""
        if prev is not None and prev[1] > 0 and seconds > 0:
            exponent = f"{math.log(seconds / prev[1]) / math.log(n / prev[0]):.2f}"
        print(f"{n:>10,}  {seconds:>8.1f}  {n / seconds:>9,.0f}  {peak / 2**20:>8.0f}  {peak / 1024 / n:>7.1f}  "
              f"{findings if findings is not None else '-':>8}  {code:>4}  {exponent:>8}")
        prev = (n, seconds)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
