"""Parse throughput of coherence on generated policy sets (goal: >= 30,000 facts/s cold).

For each size the text is generated once, then parsed by `coherence_rules.parse.parse_source` in
fresh processes: "cold" is the first parse in a process (imports excluded, but any grammar or
parser construction the first call triggers included), "warm" a second parse of the same text in
the same process. Each is the median of `--repeat` processes.

    python bench/parse_bench.py [--sizes 1000,10000,100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

import generate  # noqa: E402

GOAL = 30_000  # facts per second, cold
CACHED_GOAL = 200_000  # facts per second, file unchanged since the last run


def _worker(path: Path) -> None:
    try:
        from coherence_rules.parse import parse_source
    except ImportError as error:
        print(json.dumps({"status": "unavailable", "reason": str(error)}))
        return
    text = path.read_text(encoding="utf-8")
    started = time.perf_counter()
    _, diagnostics = parse_source(text, path.name)
    cold = time.perf_counter() - started
    from coherence_rules.cache import cached_parse

    started = time.perf_counter()
    cached_parse(text, path.name, "policy", 0, parse_source)  # as `coherence check` reads a file
    cached = time.perf_counter() - started
    started = time.perf_counter()
    parse_source(text, path.name)
    warm = time.perf_counter() - started
    errors = [d for d in diagnostics if str(getattr(d, "severity", "error")).lower().endswith("error")]
    print(json.dumps({"status": "ok", "cold": cold, "warm": warm, "cached": cached, "diagnostics": len(diagnostics),
                      "errors": len(errors)}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker)
        return 0

    from tabulate import tabulate

    sizes = [int(size) for size in args.sizes.split(",")]
    rows, failed = [], False
    with tempfile.TemporaryDirectory(prefix="coherence-parse-bench-") as tmp:
        for n in sizes:
            path = Path(tmp) / f"bench-{n}.policy"
            path.write_text(generate.generate(n, args.seed), encoding="utf-8")
            results = []
            for _ in range(args.repeat):
                done = subprocess.run([sys.executable, __file__, "--worker", str(path)],
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"parse benchmark failed at {n} facts:\n{done.stderr}", file=sys.stderr)
                    return 1
                result = json.loads(done.stdout.strip().splitlines()[-1])
                if result["status"] != "ok":
                    print(f"parser not available ({result['reason']})")
                    return 0
                results.append(result)
            cold = statistics.median(r["cold"] for r in results)
            warm = statistics.median(r["warm"] for r in results)
            cached = statistics.median(r["cached"] for r in results)
            errors = results[0]["errors"]
            failed |= errors > 0
            rows.append([f"{n:,}", f"{path.stat().st_size / 1e6:.1f}", f"{cold:.3f}", f"{n / cold:,.0f}",
                         f"{warm:.3f}", f"{n / warm:,.0f}", f"{n / cached:,.0f}",
                         f"{n / cold / GOAL:.2f}", f"{n / cached / CACHED_GOAL:.2f}", errors])
    print(tabulate(rows, headers=["facts", "MB", "cold s", "cold facts/s", "warm s", "warm facts/s",
                                  "unchanged facts/s", f"cold / {GOAL:,}", f"unchanged / {CACHED_GOAL:,}", "errors"],
                   colalign=("right",) * 10, disable_numparse=True))
    print(f"median of {args.repeat} fresh processes; cold = first parse in a process (imports excluded); "
          "unchanged = reading the file as `coherence check` does after a first run (ratios >= 1.00 meet the goal)")
    if failed:
        print("the parser reported errors on generated text: the generator or the parser is wrong",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
