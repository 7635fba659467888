"""Text of the analyst's commands: the outcome of the language's tests (``coherence test``), the
stage profile (``--profile``), and the one-line notes of a batch's failed sets."""

from __future__ import annotations

from ..findings.report import dump_json
from . import plural


def test_run_text(run, coverage: bool) -> str:
    """Each test's outcome (``ok``/``FAIL`` with its location), the failures with the actual
    findings, a count, and with ``coverage`` which criteria and rules fired in no test."""
    out = []
    for o in run.outcomes:
        out.append(f"{'ok  ' if o.passed else 'FAIL'} {o.location}  {o.name}")
        if o.passed:
            continue
        out += [f"       {f}" for f in o.failures]
        if o.findings:
            out.append("       actual findings:")
            out += [f"         {fd.criterion} on [{', '.join(fd.facts)}]: {fd.message}" for fd in o.findings]
        else:
            out.append("       actual findings: none")
        out += [f"       {d.code} {d.span.file}:{d.span.line}: {d.message}" if d.span else f"       {d.code} {d.message}"
                for d in o.diagnostics]
    n_ok = sum(o.passed for o in run.outcomes)
    out.append(f"\n{n_ok} passed, {len(run.outcomes) - n_ok} failed")
    if coverage:
        out.append(f"coverage: {run.coverage:.1f}% of {len(run.criteria)} criteria and {len(run.rules)} rules fired")
        out += [f"  never fired: {u}" for u in run.uncovered()]
    return "\n".join(out) + "\n"


def test_run_json(run) -> str:
    return dump_json({"tests": [o.to_dict() for o in run.outcomes], "passed": run.passed,
                      "coverage": round(run.coverage, 2), "uncovered": run.uncovered()})


def profile_table(profile, report) -> str:
    """One row per stage that ran (wall time, growth of peak memory), a total, and the rate."""
    from tabulate import tabulate

    facts = max(report.facts, 1)
    rows = [[name, f"{t * 1000:.1f}", f"{grew / 1024:,.0f}"] for name, t, grew in profile.rows]
    total = sum(t for _, t, _ in profile.rows)
    rows.append(["total", f"{total * 1000:.1f}", ""])
    table = tabulate(rows, headers=["stage", "ms", "peak RSS +KiB"], tablefmt="simple", disable_numparse=True)
    if not total:
        return table + "\n"
    return table + f"\n{report.facts} facts, {report.derived_facts} derived; {facts / total:,.0f} facts/s\n"


def failed_set_lines(result) -> list[str]:
    """``failed: NAME: CODE message (file:line) and N more`` for each failed set of a batch."""
    out = []
    for entry in result.failed:
        errors = [d for d in entry["diagnostics"] if d["severity"] == "error"]
        first = errors[0] if errors else None
        where = f" ({first['file']}:{first['line']})" if first and first.get("file") and first.get("line") else ""
        more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
        what = first["code"] + " " + first["message"] if first else "no result"
        out.append(f"failed: {entry['name']}: {what}{where}{more}")
    return out


__all__ = ["test_run_text", "test_run_json", "profile_table", "failed_set_lines", "plural"]
