"""Batch throughput: many small policy sets through `coherence batch`, serially, on a process pool
and on a local Dask cluster.

Writes `--sets` policy sets (default 300) of about 25 to 60 facts each into a temporary directory: a
synthetic national policy set from `generate.py` plus a bilateral labour agreement with a few
clauses on random topics, all deterministic for a seed. Then times `run_batch` (the library
function behind the command) at `--jobs 1`, at `--jobs N` (default 2) and with
`--scheduler local` and N Dask workers, checks that the three give the same document, and prints
sets per second and the ratios.

    python bench/batch_bench.py [--sets 300] [--jobs 2] [--seed 1] [--no-dask]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import NATIONAL_IDS, generate  # noqa: E402

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
    result = run_batch(paths, as_of=AS_OF, **kw)
    elapsed = time.perf_counter() - t0
    failed = len(result.failed)
    if failed:
        print(f"{label}: {failed} sets failed", file=sys.stderr)
    return label, elapsed, result.to_json()


def main(argv: list[str] | None = None) -> int:
    from tabulate import tabulate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask run")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="coherence-batch-bench-") as tmp:
        import os

        os.chdir(tmp)  # set names relative to the directory, as the command shows them
        paths = [os.path.relpath(p) for p in write_sets(Path(tmp), args.sets, args.seed)]
        facts = sum(sum(1 for line in Path(p, f).read_text().splitlines() if line and line[0] not in " #}")
                    for p in paths for f in ("national.policy", "agreement.policy"))
        from coherence_rules.commands.batch import _context

        _context(None)  # parse the rulesets once before timing; pool workers inherit them
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
        os.chdir("/")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
