"""Batch throughput: many small policy sets through `coherence batch`, serially, on a process pool
and on a local Dask cluster.

Writes `--sets` policy sets (default 300) of about 25 to 60 facts each into a temporary directory: a
synthetic national policy set from `generate.py` plus a bilateral labour agreement with a few
clauses on random topics, all deterministic for a seed. Then times `run_batch` (the library
function behind the command) at `--jobs 1`, at `--jobs N` (default 2) and with
`--scheduler local` and N Dask workers, checks that the three give the same document, and prints
sets per second and the ratios.

Before that, the goal of the batch against one check: `--ratio-sets` (default 200) such sets in
one `coherence batch --jobs N` command, against one `coherence check` of one of them (each the
median of `--cli-repeat` fresh processes). After it, sets per second of the pool at `--sizes`
(default 100,1000; 10,000 takes minutes) and the exponent of time against sets between them
(1.00 = linear). `--json` prints every figure as one JSON object on the last line (what
`bench/goals.py` reads).

    python bench/batch_bench.py [--sets 300] [--jobs 2] [--seed 1] [--no-dask] [--ratio-sets 200]
                                [--sizes 100,1000] [--cli-repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import NATIONAL_IDS, generate  # noqa: E402
from timing import coherence_command, wall_times  # noqa: E402

TOPICS = ["recruitment_costs", "contract", "wages", "working_conditions", "social_security", "skills_recognition",
          "complaints", "joint_committee", "return", "family", "housing", "language", "training"]
AS_OF = dt.date(2026, 11, 23)


def agreement_text(k: int, rng: random.Random) -> tuple[str, int]:
    """A bilateral labour agreement between the set's first country and a partner: 2 + clauses facts."""
    home = NATIONAL_IDS[0]
    topics = rng.sample(TOPICS, rng.randint(3, 8))
    lines = [f'jurisdiction PARTNER "Partner state {k}" {{ level: national }}\n',
             f'agreement BLA-{k} "Bilateral labour agreement {k}" {{\n  kind: bilateral_labour\n'
             f'  parties: [{home}, PARTNER]\n  signed: 2019-03-0{1 + k % 9}\n}}\n']
    for t in sorted(topics):
        lines.append(f'clause BLA-{k}.{t} {{\n  agreement: BLA-{k}\n  topic: {t}\n'
                     f'  provision: "Article on {t.replace("_", " ")}, version {rng.randint(1, 3)}"\n}}\n')
    return "".join(lines), 2 + len(topics)


def write_sets(root: Path, n: int, seed: int) -> list[str]:
    rng = random.Random(f"coherence-batch-bench:{seed}")
    paths = []
    for k in range(n):
        d = root / f"set-{k:04d}"
        d.mkdir()
        agreement, n_agreement = agreement_text(k, rng)
        n_facts = rng.randint(20, 60) - n_agreement
        (d / "national.policy").write_text(generate(max(n_facts, 20), seed * 100000 + k), encoding="utf-8")
        (d / "agreement.policy").write_text(agreement, encoding="utf-8")
        paths.append(str(d))
    return paths


def timed(label: str, paths: list[str], **kw) -> tuple[str, float, str]:
    from coherence_rules.commands.batch import run_batch

    t0 = time.perf_counter()
    result = run_batch(paths, as_of=AS_OF, encode_json=True, **kw)  # as `coherence batch --format json`
    elapsed = time.perf_counter() - t0
    failed = len(result.failed)
    if failed:
        print(f"{label}: {failed} sets failed", file=sys.stderr)
    return label, elapsed, result.to_json()


def batch_over_check(n: int, jobs: int, seed: int, repeat: int) -> dict:
    """``coherence batch`` of ``n`` sets at ``--jobs`` against ``coherence check`` of one."""
    import os

    with tempfile.TemporaryDirectory(prefix="coherence-batch-ratio-") as tmp:
        paths = [os.path.relpath(p, tmp) for p in write_sets(Path(tmp), n, seed)]
        env_cmd = coherence_command()
        batch = statistics.median(wall_times(env_cmd + ["batch", *paths, "--jobs", str(jobs), "-q", "--format", "json",
                                                        "--as-of", AS_OF.isoformat()], tmp, repeat))
        one = statistics.median(wall_times(env_cmd + ["check", paths[0], "--format", "json", "--as-of",
                                                      AS_OF.isoformat()], tmp, repeat))
    return {"sets": n, "jobs": jobs, "batch_s": batch, "check_s": one, "ratio": batch / one}


def scaling(sizes: list[int], jobs: int, seed: int) -> list[dict]:
    """Sets per second of the process pool at each size, in one directory per size."""
    import os

    out = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="coherence-batch-scale-") as tmp:
            saved = os.getcwd()
            os.chdir(tmp)
            try:
                paths = [os.path.relpath(p) for p in write_sets(Path(tmp), n, seed)]
                _, elapsed, _ = timed(f"{n} sets", paths, jobs=jobs)
            finally:
                os.chdir(saved)
        out.append({"sets": n, "seconds": elapsed, "sets_per_s": n / elapsed})
    for a, b in zip(out, out[1:]):
        b["exponent"] = math.log(b["seconds"] / a["seconds"]) / math.log(b["sets"] / a["sets"])
    return out


def main(argv: list[str] | None = None) -> int:
    from tabulate import tabulate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask run")
    ap.add_argument("--ratio-sets", type=int, default=200, help="sets of the batch-over-one-check run (0: skip)")
    ap.add_argument("--cli-repeat", type=int, default=3, help="fresh processes per command (median)")
    ap.add_argument("--sizes", default="100,1000", help="set counts for sets per second and the exponent ('' skips)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = ap.parse_args(argv)
    figures: dict = {}

    if args.ratio_sets:
        r = batch_over_check(args.ratio_sets, args.jobs, args.seed, args.cli_repeat)
        figures["batch_over_check"] = r
        print(f"`coherence batch` of {r['sets']} sets at --jobs {r['jobs']}: {r['batch_s']:.2f} s; one "
              f"`coherence check` of one set: {r['check_s']:.2f} s; ratio {r['ratio']:.1f} (goal <= 2.0)")
        print()

    import os

    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="coherence-batch-bench-") as tmp:
        os.chdir(tmp)  # set names relative to the directory, as the command shows them
        paths = [os.path.relpath(p) for p in write_sets(Path(tmp), args.sets, args.seed)]
        facts = sum(sum(1 for line in Path(p, f).read_text().splitlines() if line and line[0] not in " #}")
                    for p in paths for f in ("national.policy", "agreement.policy"))
        from coherence_rules.commands.batch import shared_rulesets

        shared_rulesets(None).alone().run_until("compile")  # once before timing; pool workers inherit it
        runs = [timed("process pool, --jobs 1", paths, jobs=1),
                timed(f"process pool, --jobs {args.jobs}", paths, jobs=args.jobs)]
        if not args.no_dask:
            try:
                import distributed  # noqa: F401

                runs.append(timed(f"Dask --scheduler local, {args.jobs} workers", paths, jobs=args.jobs,
                                  scheduler="local"))
            except ImportError:
                print("Dask distributed is not installed (pip install 'coherence-rules[dask]'): skipped",
                      file=sys.stderr)
        same = all(r[2] == runs[0][2] for r in runs)
        rows = [[label, f"{elapsed:.2f}", f"{args.sets / elapsed:.1f}"] for label, elapsed, _ in runs]
        print(f"{args.sets} policy sets, {facts} facts in all (about {facts // args.sets} per set), "
              f"cpus: {os.cpu_count()}")
        print(tabulate(rows, headers=["run", "seconds", "sets/s"], tablefmt="simple"))
        ratios = [[f"jobs {args.jobs} / jobs 1", f"{runs[0][1] / runs[1][1]:.2f}x"]]
        if len(runs) > 2:
            ratios.append([f"Dask / pool (jobs {args.jobs})", f"{runs[1][1] / runs[2][1]:.2f}x"])
        print()
        print(tabulate(ratios, headers=["speed-up", ""], tablefmt="simple"))
        print(f"\nidentical results across runs: {'yes' if same else 'NO'}")
        figures["throughput"] = {"sets": args.sets, "jobs": args.jobs, "same": same,
                                 "runs": {label: elapsed for label, elapsed, _ in runs},
                                 "jobs_over_one": runs[0][1] / runs[1][1],
                                 "dask_over_pool": runs[1][1] / runs[2][1] if len(runs) > 2 else None}
        os.chdir(cwd)
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    if sizes:
        rows = scaling(sizes, args.jobs, args.seed)
        figures["scaling"] = rows
        print()
        print(tabulate([[f"{r['sets']:,}", f"{r['seconds']:.2f}", f"{r['sets_per_s']:.1f}",
                         f"{r['exponent']:.2f}" if "exponent" in r else ""] for r in rows],
                       headers=[f"sets (--jobs {args.jobs})", "seconds", "sets/s", "exponent"], disable_numparse=True))
    if args.json:
        print(json.dumps(figures))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
