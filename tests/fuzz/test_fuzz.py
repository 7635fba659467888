"""The fuzzing suite: mutants of the shipped sources through lint, check and fmt.

The mutator (:mod:`tests.fuzz.mutator`) draws each input from a shipped source (policies,
Markdown blocks, rulesets, fixtures, golden cases) with grammar-aware mutations; the harness
(:mod:`tests.fuzz.harness`) holds every input to the properties listed there: no exception (exit
3), no traceback, no hang, a location on every diagnostic, ``lint`` and ``check`` agreeing, and
``fmt`` keeping the meaning, the content and its own output.

Environment variables:

- ``COHERENCE_FUZZ_INPUTS``: how many inputs a run draws (default 2,000 in the default run,
  100,000 in the long run, ``pytest -m slow tests/fuzz``);
- ``COHERENCE_FUZZ_SEED``: the run's seed (default 19, and 1919 for the long run); input ``i`` of
  seed ``s`` is the same whatever else runs, so a failure reproduces from the two numbers it
  prints;
- ``COHERENCE_FUZZ_ONLY``: a comma-separated list of input indices to run alone (reproducing a
  failure: ``COHERENCE_FUZZ_SEED=19 COHERENCE_FUZZ_ONLY=1234 pytest tests/fuzz -k fuzz_default``, for
  an input of the long run too: only the seed tells the two runs apart);
- ``COHERENCE_FUZZ_TIMEOUT``: the time limit per input in seconds (default 10): an input that
  takes longer is a hang;
- ``COHERENCE_FUZZ_JOBS``: worker processes (default: one per processor, at most 2).

A failure prints, for each failing input, the seed and index, the seed file and operators, the
problem, and the input minimised to the smallest variant that fails the same way (also written
to a file whose path is printed).
"""

from __future__ import annotations

import os
import resource
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.fuzz import harness as H
from tests.fuzz.mutator import OPERATOR_NAMES, generate, seeds


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _jobs() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return _env_int("COHERENCE_FUZZ_JOBS", max(1, min(2, cpus)))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fuzz(tmp_path: Path, default_inputs: int, default_seed: int) -> None:
    seed = _env_int("COHERENCE_FUZZ_SEED", default_seed)
    only = os.environ.get("COHERENCE_FUZZ_ONLY", "").strip()
    indices = [int(x) for x in only.split(",") if x.strip()] if only else list(
        range(_env_int("COHERENCE_FUZZ_INPUTS", default_inputs)))
    timeout = float(_env_int("COHERENCE_FUZZ_TIMEOUT", 10))
    pool = H.Pool(tmp_path / "workers", _jobs(), timeout)
    try:
        started, cpu = time.monotonic(), _children_cpu()
        outcomes = pool.run([{"seed": seed, "index": i} for i in indices])
        wall = time.monotonic() - started
        pool.close()
        cpu = _children_cpu() - cpu
        failed = [o for o in outcomes if o.problems]
        exits = Counter(o.check_exit for o in outcomes)
        print(f"\nfuzz: seed {seed}, {len(outcomes)} inputs: lint errors in {sum(o.lint_errors for o in outcomes)}, "
              f"check exits {dict(sorted(exits.items(), key=str))}, formatted {sum(o.formatted for o in outcomes)}, "
              f"failing {len(failed)}; {wall:.1f} s, {cpu:.1f} s of processor time in {_jobs()} workers")
        phases = Counter()
        for o in outcomes:
            phases.update(o.seconds)
        print("fuzz: seconds per phase, all workers: " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))
        if failed:
            pytest.fail(_report(seed, failed, tmp_path, pool), pytrace=False)
    finally:
        pool.close()
    if not only:
        # the inputs reach both sides: many break, many check (some with findings)
        assert exits[2] > len(outcomes) // 10 and exits[0] + exits[1] > len(outcomes) // 10, exits


def _report(seed: int, failed: list, tmp_path: Path, pool: "H.Pool") -> str:
    """Each kind of failure once: the first input that shows it, minimised."""
    lines = [f"{len(failed)} of the fuzz inputs fail (seed {seed}):"]
    shown: set[str] = set()
    minimised = 0
    single = H.Pool(tmp_path / "minimise", 1, pool.timeout)
    try:
        for o in failed:
            case = generate(seed, o.index)
            for problem in o.problems:
                key = H.problem_key(problem)
                lines.append(f"- input {o.index}: {problem.splitlines()[0]}")
                if key in shown:
                    continue
                shown.add(key)
                small = case
                if minimised < 5:  # minimising costs time: the first few kinds only
                    minimised += 1
                    small = H.minimise(case, key, lambda c: single.run([H.request_for(c)])[0].problems)
                path = tmp_path / f"input-{seed}-{o.index}-{small.name}"
                path.write_bytes(small.data)
                lines += [f"  {case.describe()}", "  " + "\n  ".join(problem.splitlines()[:12]),
                          f"  minimal input ({len(small.data)} bytes, in {path}): {small.text[:1500]!r}",
                          f"  reproduce: COHERENCE_FUZZ_SEED={seed} COHERENCE_FUZZ_ONLY={o.index} "
                          f"python -m pytest tests/fuzz/test_fuzz.py -k fuzz_default"]
    finally:
        single.close()
    return "\n".join(lines)


def test_fuzz_default(tmp_path):
    fuzz(tmp_path, 2_000, 19)


@pytest.mark.slow
def test_fuzz_long(tmp_path):
    fuzz(tmp_path, 100_000, 1919)


# ---- the mutator itself --------------------------------------------------------------------------------------------


def test_inputs_are_deterministic():
    for i in (0, 7, 123):
        a, b = generate(5, i), generate(5, i)
        assert (a.source, a.data, a.ops, a.mode) == (b.source, b.data, b.ops, b.mode)
    assert generate(5, 1).data != generate(6, 1).data or generate(5, 1).source != generate(6, 1).source


def test_seeds_cover_the_shipped_files():
    paths = {s.path for s in seeds()}
    assert {"rulesets/core.rules", "rulesets/schema.rules", "policies/mauritius/instruments.policy",
            "policies/mauritius/health-strategy.md", "tests/fixtures/language/analyst.rules",
            "tests/golden/E100/input.policy"} <= paths
    assert any(p.endswith(".csv") for p in paths) and any(p.endswith(".in") for p in paths)


def test_every_operator_is_drawn():
    used = Counter(op for i in range(1500) for op in generate(3, i).ops)
    assert set(OPERATOR_NAMES) <= set(used), set(OPERATOR_NAMES) - set(used)


def test_minimiser_keeps_the_failure():
    case = generate(3, 0)
    marker = "@@@"
    text = "a\nb\n" + marker + "\nc d e\n"
    case.data = text.encode()

    def run(c):
        return ["exception: marker"] if marker in c.text else []

    assert H.minimise(case, H.problem_key("exception: marker"), run).text == marker
