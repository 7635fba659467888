"""Engine-stage benchmark: the four benchmark rules on every available engine, at growing sizes.

For each size the facts are generated once (`bench/generate.py`), then every engine runs them
`--repeat` times, each run in a fresh process, and the median time is reported. Every engine must
return the same findings as the floor (a plain Python hash join); any difference is reported and
the exit code is 1.

    python bench/run.py [--sizes 1000,10000,100000] [--repeat 3] [--engines floor,clingo,...]

Columns:
  seconds       engine stage only (load the facts into the engine, run, read the findings back),
                median of the runs; generating the facts is not included
  facts/s       facts / seconds
  py peak MB    tracemalloc peak of Python-side allocations during one extra run of the engine
                stage (memory allocated inside C libraries is not traced)
  RSS +MB       growth of peak resident set size (getrusage ru_maxrss) during the first timed
                run, above the peak already reached once the facts were loaded; covers memory
                allocated by C libraries too. For an engine that runs in child processes
                (coherence forks one per run, or one per processor for a large run), the larger of
                that and what it held at once while its children ran: its own growth when it forked
                them, what it received from them, and the memory private to the children (pages
                they allocated or copied), summed, as the engine reports it (`memory_at_once`;
                Linux only)
  x clingo      seconds / clingo's seconds at the same size
The scaling exponent log(t2/t1) / log(n2/n1) is computed between the smallest size of at least
10,000 facts and the largest size (1.0 = linear).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import math
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))  # so that coherence_rules imports from a checkout too

# name -> (module, PyPI package the engine needs, or None when it needs nothing beyond the project)
ENGINES = {
    "floor": ("engines.floor", None),
    "clingo": ("engines.clingo_engine", "clingo"),
    "clips": ("engines.clips_engine", "clipspy"),
    # PLUG-IN POINT: coherence's own engine stage (bench/engines/coherence_engine.py).
    "coherence": ("engines.coherence_engine", None),
}
IMPORT_NAMES = {"clingo": "clingo", "clipspy": "clips"}
REFERENCE = "floor"
RATIO_BASE = "clingo"
NOT_INSTALLED = "not installed (pip install 'coherence-rules[bench]')"


# ---- worker: one engine, one run, in its own process ------------------------------------------


def _maxrss_bytes() -> int:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _worker(engine: str, facts_file: Path, findings_file: Path | None, trace_memory: bool) -> dict:
    module_name, package = ENGINES[engine]
    with open(facts_file, "rb") as handle:
        facts = pickle.load(handle)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        if package and error.name == IMPORT_NAMES.get(package, package):
            return {"status": "not installed"}
        raise
    gc.collect()
    rss_before = _maxrss_bytes()
    started = time.perf_counter()
    try:
        findings = module.run(facts)
    except NotImplementedError as error:
        return {"status": "not available", "reason": str(error)}
    seconds = time.perf_counter() - started
    rss_growth = max(0, _maxrss_bytes() - rss_before)
    # an engine that runs in child processes reports what it held at once, children included
    rss_growth = max(rss_growth, getattr(module, "memory_at_once", lambda before: 0)(rss_before))
    result = {"status": "ok", "seconds": seconds, "rss_growth": rss_growth, "findings": len(findings)}
    if findings_file is not None:
        findings_file.write_text(json.dumps(sorted(findings)), encoding="utf-8")
    if trace_memory:
        import tracemalloc

        del findings
        gc.collect()
        tracemalloc.start()
        module.run(facts)
        result["py_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result


# ---- driver -----------------------------------------------------------------------------------


def _run_worker(engine: str, facts_file: Path, findings_file: Path | None, trace_memory: bool) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, "--facts", str(facts_file)]
    if findings_file is not None:
        command += ["--findings", str(findings_file)]
    if trace_memory:
        command.append("--trace-memory")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"status": "error", "reason": last[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _installed(engine: str) -> bool:
    package = ENGINES[engine][1]
    return package is None or importlib.util.find_spec(IMPORT_NAMES.get(package, package)) is not None


def _exponent(times: dict[int, float]) -> tuple[float, int, int] | None:
    sizes = sorted(times)
    large = [n for n in sizes if n >= 10_000]
    if not large or large[0] == sizes[-1]:
        return None
    n1, n2 = large[0], sizes[-1]
    return math.log(times[n2] / times[n1]) / math.log(n2 / n1), n1, n2


def _mismatch_report(engine: str, n: int, expected: set, got: set) -> str:
    missing, extra = sorted(expected - got), sorted(got - expected)
    lines = [f"MISMATCH: {engine} at {n:,} facts differs from {REFERENCE}: "
             f"{len(missing)} findings missing, {len(extra)} extra"]
    want, have = Counter(f[0] for f in expected), Counter(f[0] for f in got)
    for rule in sorted(set(want) | set(have)):
        flag = "" if want[rule] == have[rule] else "   <-- differs"
        lines.append(f"  {rule}: {REFERENCE} {want[rule]}, {engine} {have[rule]}{flag}")
    for label, items in (("missing", missing), ("extra", extra)):
        for finding in items[:5]:
            lines.append(f"  {label}: {finding}")
        if len(items) > 5:
            lines.append(f"  ... and {len(items) - 5} more {label}")
    return "\n".join(lines)


def _seconds(seconds: float) -> str:
    return f"{seconds:.3f}" if seconds >= 0.1 else f"{seconds:.4f}"


def _versions() -> str:
    parts = [f"Python {sys.version.split()[0]}"]
    for label, dist in (("clingo", "clingo"), ("clipspy", "clipspy"), ("coherence-rules", "coherence-rules")):
        try:
            from importlib.metadata import version

            parts.append(f"{label} {version(dist)}")
        except Exception:  # not installed: nothing to report
            pass
    return ", ".join(parts)


#: The engine goals of docs/performance.md (bench/goals.py prints them with the others): coherence's time over
#: clingo's and over the plain-Python floor's at the largest size, and peak memory per fact.
GOAL_X_CLINGO = 0.6
GOAL_X_FLOOR = 12.0
GOAL_BYTES_PER_FACT = 1200


def _goals(sizes: list[int], rows: dict, times: dict, unavailable: dict) -> dict:
    """The engine goals, each measured against its bound; also returned as data."""
    from tabulate import tabulate

    n = sizes[-1]
    own, base, floor = rows.get(("coherence", n)), rows.get((RATIO_BASE, n)), rows.get((REFERENCE, n))
    table = []
    data: dict = {"facts": n}
    if own and base:
        r = own["seconds"] / base["seconds"]
        data["x_clingo"] = r
        table.append([f"engine time at {n:,} facts vs {RATIO_BASE}", f"<= {GOAL_X_CLINGO:.2f}", f"{r:.2f}",
                      "met" if r <= GOAL_X_CLINGO else "not met"])
    if own and floor and floor["seconds"] > 0:
        r = own["seconds"] / floor["seconds"]
        data["x_floor"] = r
        table.append([f"engine time at {n:,} facts vs the plain-Python {REFERENCE}", f"<= {GOAL_X_FLOOR:.0f}",
                      f"{r:.1f}", "met" if r <= GOAL_X_FLOOR else "not met"])
    fit = _exponent(times.get("coherence", {})) if "coherence" not in unavailable else None
    if fit:
        data["exponent"] = fit[0]
        table.append([f"scaling exponent {fit[1]:,} -> {fit[2]:,}", "<= 1.10", f"{fit[0]:.2f}",
                      "met" if fit[0] <= 1.1 else "not met"])
    if own:
        per_fact = max(own["rss_growth"], own["py_peak"] or 0) / n
        data["bytes_per_fact"] = per_fact
        table.append([f"peak memory per fact at {n:,}", f"<= {GOAL_BYTES_PER_FACT:,} B", f"{per_fact:,.0f} B",
                      "met" if per_fact <= GOAL_BYTES_PER_FACT else "not met"])
    if table:
        print()
        print(tabulate(table, headers=["goal", "bound", "measured", ""], disable_numparse=True))
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated fact counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine and size (median)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated engine names")
    parser.add_argument("--no-parse", action="store_true", help="skip the parse benchmark")
    parser.add_argument("--goals-json", type=Path, help="write the engine goals' figures to this file")
    parser.add_argument("--worker", choices=list(ENGINES), help=argparse.SUPPRESS)
    parser.add_argument("--facts", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--findings", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(_worker(args.worker, args.facts, args.findings, args.trace_memory)))
        return 0

    import generate
    from tabulate import tabulate

    sizes = sorted(int(size.replace("_", "")) for size in args.sizes.split(","))
    engines = [name.strip() for name in args.engines.split(",")]
    unknown = [name for name in engines if name not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(unknown)}; known: {', '.join(ENGINES)}")
    if REFERENCE not in engines:
        engines.insert(0, REFERENCE)

    print(f"engine-stage benchmark: {len(engines)} engines, sizes {', '.join(f'{n:,}' for n in sizes)}, "
          f"median of {args.repeat} runs, each in a fresh process ({_versions()})")
    unavailable: dict[str, str] = {name: NOT_INSTALLED for name in engines if not _installed(name)}
    times: dict[str, dict[int, float]] = {name: {} for name in engines}
    rows: dict[tuple[str, int], dict] = {}
    mismatches: list[str] = []

    with tempfile.TemporaryDirectory(prefix="coherence-bench-") as tmp:
        for n in sizes:
            facts = generate.generate_facts(n, args.seed)
            facts_file = Path(tmp) / f"facts-{n}.pickle"
            with open(facts_file, "wb") as handle:
                pickle.dump(facts, handle, protocol=pickle.HIGHEST_PROTOCOL)
            del facts
            expected: set | None = None
            for engine in engines:
                if engine in unavailable:
                    continue
                print(f"  {engine} at {n:,} facts ...", file=sys.stderr, flush=True)
                findings_file = Path(tmp) / f"findings-{engine}-{n}.json"
                runs = []
                for attempt in range(args.repeat):
                    first = attempt == 0
                    result = _run_worker(engine, facts_file, findings_file if first else None, first)
                    if result["status"] != "ok":
                        reason = result.get("reason")
                        unavailable[engine] = {"not installed": NOT_INSTALLED, "not available": "not available"}.get(
                            result["status"], f"error: {reason}")
                        break
                    runs.append(result)
                if engine in unavailable:
                    continue
                got = {tuple(f) for f in json.loads(findings_file.read_text(encoding="utf-8"))}
                if engine == REFERENCE:
                    expected = got
                elif got != expected:
                    mismatches.append(_mismatch_report(engine, n, expected, got))
                seconds = statistics.median(r["seconds"] for r in runs)
                times[engine][n] = seconds
                rows[(engine, n)] = {"seconds": seconds, "py_peak": runs[0].get("py_peak"),
                                     "rss_growth": statistics.median(r["rss_growth"] for r in runs),
                                     "findings": len(got)}

    table = []
    for n in sizes:
        for engine in engines:
            row = rows.get((engine, n))
            if row is None:
                continue
            base = times.get(RATIO_BASE, {}).get(n)
            table.append([engine, f"{n:,}", _seconds(row["seconds"]), f"{n / row['seconds']:,.0f}",
                          "" if row["py_peak"] is None else f"{row['py_peak'] / 1e6:.1f}",
                          f"{row['rss_growth'] / 1e6:.1f}",
                          f"{row['seconds'] / base:.2f}" if base else "n/a", f"{row['findings']:,}"])
    print(tabulate(table, headers=["engine", "facts", "seconds", "facts/s", "py peak MB", "RSS +MB",
                                   f"x {RATIO_BASE}", "findings"],
                   colalign=("left",) + ("right",) * 7, disable_numparse=True))
    print("seconds: engine stage (load + run + read findings), median; py peak MB: tracemalloc peak of a "
          "separate run; RSS +MB: ru_maxrss growth during the first timed run (median of runs)")

    scaling = []
    for engine in engines:
        fit = _exponent(times[engine]) if engine not in unavailable else None
        if fit:
            exponent, n1, n2 = fit
            scaling.append([engine, f"{n1:,} -> {n2:,}", f"{exponent:.2f}"])
    if scaling:
        print()
        print(tabulate(scaling, headers=["engine", "sizes", "scaling exponent"], colalign=("left", "right", "right"), disable_numparse=True))
    for engine, reason in unavailable.items():
        print(f"{engine}: {reason}")

    goals = _goals(sizes, rows, times, unavailable)
    if args.goals_json:
        args.goals_json.write_text(json.dumps(goals), encoding="utf-8")
    if not args.no_parse:
        print()
        subprocess.run([sys.executable, str(BENCH / "parse_bench.py"), "--sizes", args.sizes,
                        "--repeat", str(args.repeat), "--seed", str(args.seed)])

    errors = [engine for engine, reason in unavailable.items() if reason.startswith("error")]
    if mismatches or errors:
        print()
        print("\n\n".join(mismatches))
        if mismatches:
            print(f"\nFAILED: {len(mismatches)} engine/size combination(s) disagree with {REFERENCE}")
        if errors:
            print(f"FAILED: {', '.join(errors)} raised an error (run the engine directly to see the traceback)")
        return 1
    print(f"\nall engines that ran agree with {REFERENCE} at every size")
    return 0


if __name__ == "__main__":
    sys.exit(main())
