"""The drafting loop: one fact of the Mauritius set edited, then the set checked again in a warm
process (:class:`coherence_rules.session.WarmSession`), against a cold `coherence check` of the
same set in the same run.

Copies `policies/mauritius` to a temporary directory; runs the cold command `--cold` times (a new
process each, as a drafter without a server would); then, in this process, checks the set once
(warming up), and `--edits` times (default 100) rewrites one fact's title in `institutions.policy`
(a different title each time, so the file really changes) and re-checks, timing the re-check
with the report rendered as the command renders it. Prints the median and the largest re-check,
the cold median, and the ratio (goal: warm median <= 1/20 of cold); checks that the last warm
report equals a cold one of the same files.

    python bench/warm_bench.py [--edits 100] [--cold 8] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from timing import coherence_command, wall_times

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-23"
GOAL = 1 / 20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--cold", type=int, default=8)
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object too")
    args = ap.parse_args(argv)

    from coherence_rules.session import Session
    from coherence_rules.warm import WarmSession

    with tempfile.TemporaryDirectory(prefix="coherence-warm-bench-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "policies" / "mauritius", work / "mauritius")
        target = work / "mauritius" / "institutions.policy"
        original = target.read_text(encoding="utf-8")
        m = re.search(r'^(\w+ [\w.-]+ ")([^"\n]*)(")', original, re.M)
        if m is None:
            raise SystemExit("no fact with a title in institutions.policy")
        cold = wall_times(coherence_command() + ["check", "mauritius", "--as-of", AS_OF], work, args.cold)

        saved = os.getcwd()
        os.chdir(work)
        try:
            as_of = dt.date.fromisoformat(AS_OF)
            warm = WarmSession(["mauritius"], as_of=as_of, format="text")
            warm.check().render()
            times, reread = [], set()
            for i in range(args.edits):
                text = original[:m.start(2)] + f"{m.group(2)} (draft {i})" + original[m.end(2):]
                target.write_text(text, encoding="utf-8")
                t0 = time.perf_counter()
                s = warm.check(changed=[target])
                s.render()
                times.append(time.perf_counter() - t0)
                reread.update(warm.reread)
            same = s.render(format="json") == Session(["mauritius"], as_of=as_of, format="json").render()
        finally:
            os.chdir(saved)

    cold_median = statistics.median(cold)
    warm_median, warm_max = statistics.median(times), max(times)
    ratio = warm_median / cold_median
    print(f"cold `coherence check mauritius` (median of {args.cold}): {cold_median * 1000:.0f} ms")
    print(f"warm re-check after one edit ({args.edits} edits): median {warm_median * 1000:.1f} ms, "
          f"max {warm_max * 1000:.1f} ms; files read again: {', '.join(sorted(reread)) or 'none'}")
    print(f"warm / cold: {ratio:.3f} (1/{1 / ratio:.0f}); goal <= {GOAL:.3f} (1/20): {'met' if ratio <= GOAL else 'not met'}")
    print(f"warm report equals a cold one: {'yes' if same else 'NO'}")
    if args.json:
        print(json.dumps({"cold_median_s": cold_median, "warm_median_s": warm_median, "warm_max_s": warm_max,
                          "ratio": ratio, "same": same}))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
