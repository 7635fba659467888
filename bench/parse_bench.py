"""Parse throughput of coherence on generated policy sets, cold and for an unchanged file.

Goals: >= 30,000 facts/s cold, >= 200,000 facts/s for a file unchanged since the last run.

For each size the text is generated once, then read in fresh processes, each figure the median of
`--repeat` processes:

- "cold" is the first `coherence_rules.syntax.parser.parse_source` in a process (imports excluded, but any
  grammar or parser construction the first call triggers included), "warm" a second parse of the
  same text in the same process;
- "unchanged" reads the file as `coherence check` does on the run after one that checked it
  cleanly (a private cache directory is primed once by such a run): the parse stage
  (`sources.load_paths`), and the parse stage followed by the check stage (`checker.check` with the
  built-in schema and the core ruleset, whose own loading is not timed). The worker fails if the
  file was not restored from the check cache.

    python bench/parse_bench.py [--sizes 1000,10000,100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
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


def _worker(path: Path, mode: str) -> None:
    try:
        from coherence_rules.syntax.parser import parse_source
    except ImportError as error:
        print(json.dumps({"status": "unavailable", "reason": str(error)}))
        return
    if mode == "parse":
        text = path.read_text(encoding="utf-8")
        started = time.perf_counter()
        _, diagnostics = parse_source(text, path.name)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        parse_source(text, path.name)
        warm = time.perf_counter() - started
        errors = [d for d in diagnostics if d.is_error]
        print(json.dumps({"status": "ok", "cold": cold, "warm": warm, "errors": len(errors)}))
        return
    import coherence_rules.checker as checker
    from coherence_rules.runtime import paused_gc
    from coherence_rules.session import Session
    from coherence_rules.sources import loader

    with paused_gc():  # as in `coherence check`
        rules = Session().workspace.rule_modules  # the schema and the core ruleset, not timed
        started = time.perf_counter()
        loaded = loader.load_paths([path])
        parsed = time.perf_counter() - started
        program = checker.check(rules + loaded.modules)
        checked = time.perf_counter() - started
    restored = all(getattr(m, "records", None) is not None and m._items is None for m in loaded.modules)
    if mode == "prime":
        restored = True
    print(json.dumps({"status": "ok" if restored and not program.errors else "not restored",
                      "parse": parsed, "check": checked}))


def _run(path: Path, mode: str, env: dict) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", str(path), "--mode", mode],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"parse benchmark failed ({mode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="parse", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.mode)
        return 0

    from tabulate import tabulate

    sizes = [int(size) for size in args.sizes.split(",")]
    rows, failed = [], False
    with tempfile.TemporaryDirectory(prefix="coherence-parse-bench-") as tmp:
        env = dict(os.environ, XDG_CACHE_HOME=str(Path(tmp) / "cache"))
        env.pop("COHERENCE_NO_CACHE", None)
        for n in sizes:
            path = Path(tmp) / f"bench-{n}.policy"
            path.write_text(generate.generate(n, args.seed), encoding="utf-8")
            try:
                parsed = [_run(path, "parse", env) for _ in range(args.repeat)]
                if parsed[0]["status"] != "ok":
                    print(f"parser not available ({parsed[0]['reason']})")
                    return 0
                _run(path, "prime", env)
                unchanged = [_run(path, "unchanged", env) for _ in range(args.repeat)]
            except RuntimeError as error:
                print(error, file=sys.stderr)
                return 1
            if any(r["status"] != "ok" for r in unchanged):
                print(f"the {n:,}-fact file was not restored from the check cache", file=sys.stderr)
                return 1
            cold = statistics.median(r["cold"] for r in parsed)
            warm = statistics.median(r["warm"] for r in parsed)
            same = statistics.median(r["parse"] for r in unchanged)
            same_checked = statistics.median(r["check"] for r in unchanged)
            errors = parsed[0]["errors"]
            failed |= errors > 0
            rows.append([f"{n:,}", f"{path.stat().st_size / 1e6:.1f}", f"{cold:.3f}", f"{n / cold:,.0f}",
                         f"{warm:.3f}", f"{n / warm:,.0f}", f"{n / same:,.0f}", f"{n / same_checked:,.0f}",
                         f"{n / cold / GOAL:.2f}", f"{n / same / CACHED_GOAL:.2f}",
                         f"{n / same_checked / CACHED_GOAL:.2f}", errors])
    print(tabulate(rows, headers=["facts", "MB", "cold s", "cold facts/s", "warm s", "warm facts/s",
                                  "unchanged facts/s", "unchanged +check facts/s", f"cold / {GOAL:,}",
                                  f"unchanged / {CACHED_GOAL:,}", f"+check / {CACHED_GOAL:,}", "errors"],
                   colalign=("right",) * 12, disable_numparse=True))
    print(f"median of {args.repeat} fresh processes; cold = first parse in a process (imports excluded); "
          "unchanged = the parse stage of `coherence check` on the run after a clean one, +check = with the "
          "check stage (ratios >= 1.00 meet the goal)")
    if failed:
        print("the parser reported errors on generated text: the generator or the parser is wrong",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
