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
        out.append(coverage_line(run))
        out += [f"  never fired: {u}" for u in run.unfired_criteria()]
        out += [f"  never derived a fact: {u}" for u in run.underived_rules()]
    return "\n".join(out) + "\n"


def _of(hit: int, total: int, singular: str, many: str) -> str:
    """``3 of 27 criteria``, ``1 of 1 criterion``: the noun agrees with the total."""
    return f"{hit} of {total} {singular if total == 1 else many}"


def coverage_line(run) -> str:
    """``coverage 100.0%: 27 of 27 criteria fired in a test; 18 of 18 rules derived a fact in a
    test``: criteria and rules counted apart, since a rule is covered when it derives a fact and a
    criterion when it fires."""
    c_total, r_total = len(run.criteria), len(run.rules)
    c_hit, r_hit = c_total - len(run.unfired_criteria()), r_total - len(run.underived_rules())
    return (f"coverage {run.coverage:.1f}%: {_of(c_hit, c_total, 'criterion', 'criteria')} fired in a test; "
            f"{_of(r_hit, r_total, 'rule', 'rules')} derived a fact in a test")


def test_run_json(run) -> str:
    unfired, underived = run.unfired_criteria(), run.underived_rules()
    return dump_json({"tests": [o.to_dict() for o in run.outcomes], "passed": run.passed,
                      "coverage": round(run.coverage, 2), "uncovered": run.uncovered(),
                      "criteria": {"total": len(run.criteria), "fired": len(run.criteria) - len(unfired),
                                   "never_fired": unfired},
                      "rules": {"total": len(run.rules), "derived": len(run.rules) - len(underived),
                                "never_derived": underived}})


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


__all__ = ["test_run_text", "test_run_json", "coverage_line", "profile_table", "failed_set_lines", "plural"]
