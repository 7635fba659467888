"""The ``coherence`` command line: a thin click application over :mod:`coherence_rules`.

Each command calls the library and turns its results into output and an exit code:
0 nothing at or beyond ``--fail-on`` (or, for lint, no error); 1 findings at or beyond it (lint:
warnings with ``--strict``; test: a failing test); 2 bad input or usage, with diagnostics;
3 internal error, with a message asking for a report. With a machine format (json, sarif, csv)
stdout carries only the report and diagnostics go to stderr.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
import traceback
from pathlib import Path
from typing import Optional

import click

from coherence_rules import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
MACHINE_FORMATS = ("json", "sarif", "csv")
CHECK_FORMATS = ("text", "table", "json", "sarif", "csv", "markdown", "html")


class BadInput(click.ClickException):
    exit_code = EXIT_BAD_INPUT


# ---- settings ---------------------------------------------------------------------------------------------------


def load_settings(start: Optional[Path] = None) -> tuple[dict, Optional[str]]:
    """``coherence.toml`` (top level) or ``[tool.coherence]`` of ``pyproject.toml``, found in the
    working directory or its parents. Returns the settings and the file they came from."""
    import tomllib

    here = (start or Path.cwd()).resolve()
    for d in [here, *here.parents]:
        for name in ("coherence.toml", "pyproject.toml"):
            p = d / name
            if not p.is_file():
                continue
            try:
                data = tomllib.loads(p.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as e:
                raise BadInput(f"{p}: cannot read settings: {e}")
            if name == "pyproject.toml":
                data = data.get("tool", {}).get("coherence")
                if data is None:
                    continue
            return data, str(p)
    return {}, None


SETTING_KEYS = {"ruleset": list, "format": str, "fail_on": int, "as_of": str, "max_derived": int}


def settings_for(ctx: click.Context) -> dict:
    data, origin = load_settings()
    for k, v in data.items():
        want = SETTING_KEYS.get(k.replace("-", "_"))
        if want is None:
            raise BadInput(f"{origin}: unknown setting '{k}' (known: {', '.join(sorted(SETTING_KEYS))})")
        if want is list and isinstance(v, str):
            v = [v]
        if not isinstance(v, want) or isinstance(v, bool):
            raise BadInput(f"{origin}: setting '{k}' must be a {want.__name__}")
    return {k.replace("-", "_"): v for k, v in data.items()}


# ---- helpers ---------------------------------------------------------------------------------------------------


def parse_date_option(value: Optional[str]) -> Optional[dt.date]:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"invalid date '{value}' (expected YYYY-MM-DD)")


def write_output(text: str, output: Optional[str]) -> None:
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    path = Path(output)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise BadInput(f"cannot write {output}: {e.strerror or e}")


def emit_diagnostics(diags, sources, fmt: str = "text", *, to_stderr: bool = True) -> None:
    from coherence_rules.diagnostics import render_all_text, render_json

    if not diags:
        return
    text = render_json(diags) + "\n" if fmt == "json" else render_all_text(diags, sources) + "\n"
    click.echo(text, nl=False, err=to_stderr)


def handle_errors(fn):
    """Library errors become exit codes; anything unexpected is an internal error (exit 3)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except RecursionError:
            click.echo("error: the input nests too deeply to analyse", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except Exception as e:  # noqa: BLE001 - the edge of the program
            click.echo(f"internal error: {type(e).__name__}: {e}", err=True)
            if os.environ.get("COHERENCE_DEBUG"):
                traceback.print_exc()
            click.echo("This is a bug in coherence. Please report it with the command and the input that "
                       "trigger it (set COHERENCE_DEBUG=1 for details).", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


ruleset_option = click.option(
    "--ruleset", "-r", "rulesets", multiple=True, metavar="NAME|PATH",
    help="A built-in ruleset name (see `coherence criteria --rulesets`) or a .rules file or directory. "
         "Replaces the default `core`; repeat to combine. The built-in schema is always loaded.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="coherence")
def main() -> None:
    """Check migration policies for coherence.

    Policy texts are encoded as facts (.policy files, Markdown with `policy` blocks, CSV
    inventories); coherence criteria are rules (.rules files). `check` reports every conflict and
    synergy with a proof that leads back to the articles involved.

    \b
    Quick start:
      coherence check policies/mauritius            findings with locations
      coherence check policies/mauritius --explain  ... with the proof of each
      coherence lint my-policy/                     validate without running
      coherence criteria                            the criteria of the core ruleset

    Exit codes: 0 ok, 1 findings at or beyond --fail-on (or failing tests), 2 bad input or usage,
    3 internal error.
    """


# ---- check ------------------------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@ruleset_option
@click.option("--format", "-f", "fmt", type=click.Choice(CHECK_FORMATS), default=None,
              help="Output format (default text). json, sarif and csv write only the report to stdout.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write the report to FILE.")
@click.option("--fail-on", type=click.IntRange(-3, 0), default=None, metavar="SCORE",
              help="Exit 1 when an open or expired finding scores SCORE or lower (default -1).")
@click.option("--explain", is_flag=True, help="Show each finding's proof as a tree (text format).")
@click.option("--as-of", metavar="DATE", default=None, help="Reference date for `today` and accepts (default: today).")
@click.option("--max-derived", type=click.IntRange(1), default=None, metavar="N",
              help="Stop when rules derive more than N facts (default 100000).")
@click.option("--profile", is_flag=True, help="Print time and memory per stage to stderr.")
@click.option("--engine", type=click.Choice(["durable", "reference"]), default="durable", hidden=True)
@click.pass_context
@handle_errors
def check(ctx, paths, rulesets, fmt, output, fail_on, explain, as_of, max_derived, profile, engine):
    """Check a policy set against rulesets and report conflicts and synergies.

    PATHS are .policy, .rules, .md and .csv files or directories (searched recursively); together
    they are one policy set. Settings may also come from `coherence.toml` or `[tool.coherence]`
    in pyproject.toml (keys: ruleset, format, fail_on, as_of, max_derived).
    """
    from coherence_rules.pipeline import Profile, run_check

    s = settings_for(ctx)
    rulesets = list(rulesets) or s.get("ruleset")
    fmt = fmt or s.get("format", "text")
    if fmt not in CHECK_FORMATS:
        raise BadInput(f"unknown format '{fmt}'")
    fail_on = fail_on if fail_on is not None else s.get("fail_on", -1)
    as_of_date = parse_date_option(as_of or s.get("as_of"))
    prof = Profile(enabled=profile)
    report = run_check(list(paths), rulesets, as_of=as_of_date, engine=engine,
                       max_derived=max_derived or s.get("max_derived"), profile=prof)
    machine = fmt in MACHINE_FORMATS
    errors = report.errors
    if report.diagnostics and (machine or errors or fmt != "text" or output):
        emit_diagnostics(report.diagnostics, report.sources)
    if errors:
        if fmt == "json":
            write_output(report.to_json(), output)
        ctx.exit(EXIT_BAD_INPUT)
    import time

    t0 = time.perf_counter()
    text = render_report(report, fmt, explain)
    prof.rows.append(("render", time.perf_counter() - t0, 0))
    if fmt == "text" and report.diagnostics and not output:
        from coherence_rules.render.text import render_diagnostics

        text = render_diagnostics(report) + "\n\n" + text
    write_output(text, output)
    if profile:
        click.echo(format_profile(prof, report), err=True)
    ctx.exit(EXIT_FINDINGS if report.failing(fail_on) else EXIT_OK)


def render_report(report, fmt: str, explain: bool = False) -> str:
    from coherence_rules.render import formats, text

    if fmt == "text":
        return text.render(report, explain)
    if fmt == "json":
        return report.to_json()
    if fmt == "table":
        return formats.render_table(report)
    if fmt == "csv":
        return formats.render_csv(report)
    if fmt == "markdown":
        return formats.render_markdown(report)
    if fmt == "sarif":
        return formats.render_sarif(report)
    if fmt == "html":
        try:
            from coherence_rules.render.html import render_html
            return render_html(report.to_dict(), report.source_texts())
        except RuntimeError as e:
            raise BadInput(str(e))
    raise BadInput(f"unknown format '{fmt}'")


def format_profile(prof, report) -> str:
    from tabulate import tabulate

    facts = max(report.facts, 1)
    rows = [[name, f"{t * 1000:.1f}", f"{peak / 1024:.0f}" if peak else "-"] for name, t, peak in prof.rows]
    total = sum(t for _, t, _ in prof.rows)
    rows.append(["total", f"{total * 1000:.1f}", ""])
    return (tabulate(rows, headers=["stage", "ms", "peak KiB"], tablefmt="simple")
            + f"\n{report.facts} facts, {report.derived_facts} derived; {facts / total:,.0f} facts/s" if total else "")


# ---- lint ---------------------------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@ruleset_option
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", help="Output format.")
@click.option("--strict", is_flag=True, help="Exit 1 when there are warnings (and no errors).")
@click.pass_context
@handle_errors
def lint(ctx, paths, rulesets, fmt, strict):
    """Parse and validate policy files and rulesets without running them.

    Checks syntax, ids and references, the schema (unknown fields, missing fields, wrong value
    types, values not in an enum), criteria, rules, templates and tests. Exit 0 when there is no
    error (1 with --strict when there are warnings), 2 on errors.
    """
    from coherence_rules.diagnostics import render_all_text, render_json
    from coherence_rules.pipeline import lint as run_lint

    s = settings_for(ctx)
    result = run_lint(list(paths), list(rulesets) or s.get("ruleset"))
    if fmt == "json":
        click.echo(render_json(result.diagnostics))
    elif result.diagnostics:
        click.echo(render_all_text(result.diagnostics, result.sources), err=False)
    else:
        click.echo("no problems found")
    if result.errors:
        ctx.exit(EXIT_BAD_INPUT)
    ctx.exit(EXIT_FINDINGS if strict and result.warnings else EXIT_OK)


# ---- fmt ----------------------------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would be reformatted.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print a unified diff of the changes.")
@click.pass_context
@handle_errors
def fmt(ctx, paths, check_only, show_diff):
    """Rewrite policy and rules files in the canonical layout (comments kept).

    Formatting never changes meaning, and a file with errors is never rewritten. Markdown files keep
    their prose; only their `policy`/`rules` blocks are laid out. CSV files are left alone.
    """
    import difflib

    from coherence_rules.diagnostics import render_all_text
    from coherence_rules.fmt import format_file_text
    from coherence_rules.sources import discover, display_path, read_text

    files, diags = discover(paths)
    changed, bad = [], False
    for path, _ in files:
        shown = display_path(path)
        if shown.endswith(".csv"):
            continue
        text, d = read_text(path, shown)
        if text is None:
            diags += d
            continue
        new, d = format_file_text(text, shown)
        if new is None:
            diags += d
            continue
        if new == text:
            continue
        changed.append(shown)
        if show_diff:
            click.echo("".join(difflib.unified_diff(text.splitlines(True), new.splitlines(True), shown, shown)), nl=False)
        elif not check_only:
            tmp = path.with_name(f".{path.name}.fmt{os.getpid()}")
            tmp.write_text(new, encoding="utf-8")
            os.replace(tmp, path)
    if diags:
        from coherence_rules.diagnostics import SourceLines

        emit_diagnostics(diags, None)
        bad = any(d.is_error for d in diags)
    if check_only:
        for c in changed:
            click.echo(f"would reformat {c}")
    elif not show_diff:
        for c in changed:
            click.echo(f"reformatted {c}", err=True)
    if bad:
        ctx.exit(EXIT_BAD_INPUT)
    ctx.exit(EXIT_FINDINGS if (check_only or show_diff) and changed else EXIT_OK)


# ---- test ---------------------------------------------------------------------------------------------------------


@main.command("test")
@click.argument("rulesets", nargs=-1, metavar="[RULESET...]")
@click.option("--coverage", is_flag=True, help="Report which criteria and rules fired in at least one test.")
@click.option("--threshold", type=click.FloatRange(0, 100), default=None, metavar="PCT",
              help="With --coverage: exit 1 when coverage is below PCT.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--as-of", metavar="DATE", default=None, help="Reference date for `today` (default: today).")
@click.pass_context
@handle_errors
def test_cmd(ctx, rulesets, coverage, threshold, fmt, as_of):
    """Run the tests written next to criteria (`test "..." { given {...} expect ... }`).

    RULESET is a built-in name or a .rules path (default: every built-in ruleset). A failure shows
    the expected and the actual findings with their facts.
    """
    import json

    from coherence_rules.checker import check
    from coherence_rules.pipeline import builtin_rulesets, load
    from coherence_rules.testing import run_tests

    names = list(rulesets) or builtin_rulesets()
    ws = load([], names)
    program = check(ws.rule_modules)
    diags = list(ws.diagnostics) + program.diagnostics
    if any(d.is_error for d in diags):
        emit_diagnostics(diags, ws.sources)
        ctx.exit(EXIT_BAD_INPUT)
    selected = {r.name for r in program.rulesets if r.name != "schema"}
    run = run_tests(program, list(program.facts), parse_date_option(as_of) or dt.date.today(), rulesets=selected)
    if fmt == "json":
        click.echo(json.dumps({"tests": [o.to_dict() for o in run.outcomes], "passed": run.passed,
                               "coverage": round(run.coverage, 2), "uncovered": run.uncovered()},
                              indent=2, sort_keys=True, ensure_ascii=False))
    else:
        for o in run.outcomes:
            mark = "ok  " if o.passed else "FAIL"
            click.echo(f"{mark} {o.location}  {o.name}")
            if not o.passed:
                for f in o.failures:
                    click.echo(f"       {f}")
                if o.findings:
                    click.echo("       actual findings:")
                    for fd in o.findings:
                        click.echo(f"         {fd.criterion} on [{', '.join(fd.facts)}]: {fd.message}")
                else:
                    click.echo("       actual findings: none")
                for d in o.diagnostics:
                    click.echo(f"       {d.code} {d.span.file}:{d.span.line}: {d.message}" if d.span else f"       {d.code} {d.message}")
        n_ok = sum(o.passed for o in run.outcomes)
        click.echo(f"\n{n_ok} passed, {len(run.outcomes) - n_ok} failed")
        if coverage:
            click.echo(f"coverage: {run.coverage:.1f}% of {len(run.criteria)} criteria and {len(run.rules)} rules fired")
            for u in run.uncovered():
                click.echo(f"  never fired: {u}")
    if not run.passed:
        ctx.exit(EXIT_FINDINGS)
    if coverage and threshold is not None and run.coverage < threshold:
        click.echo(f"coverage {run.coverage:.1f}% is below the threshold {threshold:.1f}%", err=True)
        ctx.exit(EXIT_FINDINGS)
    ctx.exit(EXIT_OK)


# ---- criteria -----------------------------------------------------------------------------------------------------


@main.command()
@click.argument("code", required=False)
@ruleset_option
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text")
@click.option("--rulesets", "list_rulesets", is_flag=True, help="List the built-in rulesets.")
@click.pass_context
@handle_errors
def criteria(ctx, code, rulesets, fmt, list_rulesets):
    """List criteria (code, title, dimension, score, source), or print one criterion's documentation."""
    import json

    from coherence_rules import docs
    from coherence_rules.checker import check
    from coherence_rules.diagnostics import did_you_mean
    from coherence_rules.pipeline import builtin_rulesets, load

    if list_rulesets:
        for name in builtin_rulesets():
            click.echo(name)
        return
    ws = load([], list(rulesets) or None)
    program = check(ws.rule_modules)
    if any(d.is_error for d in ws.diagnostics + program.diagnostics):
        emit_diagnostics(ws.diagnostics + program.diagnostics, ws.sources)
        ctx.exit(EXIT_BAD_INPUT)
    crits = program.criteria
    if code:
        found = [c for c in crits if c.code == code]
        if not found:
            hint = did_you_mean(code, [c.code for c in crits])
            raise BadInput(f"unknown criterion '{code}'" + (f"; {hint}" if hint else ""))
        c = found[0]
        if fmt == "json":
            click.echo(json.dumps(docs.criterion_dict(c), indent=2, sort_keys=True, ensure_ascii=False))
        elif fmt == "markdown":
            click.echo(docs.criterion_markdown(c))
        else:
            click.echo(docs.criterion_text(c))
        return
    if fmt == "json":
        click.echo(json.dumps([docs.criterion_dict(c) for c in crits], indent=2, sort_keys=True, ensure_ascii=False))
    elif fmt == "markdown":
        click.echo(docs.criteria_markdown(crits))
    else:
        click.echo(docs.criteria_table(crits))


# ---- explain ------------------------------------------------------------------------------------------------------


@main.command()
@click.argument("code")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@ruleset_option
@click.option("--facts", "fact_ids", default=None, metavar="ID,...",
              help="Only findings (or candidate facts) involving these fact ids.")
@click.option("--as-of", metavar="DATE", default=None, help="Reference date for `today` (default: today).")
@click.pass_context
@handle_errors
def explain(ctx, code, paths, rulesets, fact_ids, as_of):
    """Why criterion CODE fired, or why it did not, on the policy set in PATHS.

    For a finding: its proof. When the criterion did not fire: for each pattern, the candidate
    facts and the first condition each one failed; for a `not` pattern, the fact that blocked it.
    """
    from coherence_rules.explain import explain_criterion

    s = settings_for(ctx)
    ids = [i.strip() for i in fact_ids.split(",") if i.strip()] if fact_ids else []
    text, diags, sources, status = explain_criterion(code, list(paths), list(rulesets) or s.get("ruleset"), ids,
                                                     parse_date_option(as_of or s.get("as_of")))
    if diags:
        emit_diagnostics(diags, sources)
    if status == "bad":
        ctx.exit(EXIT_BAD_INPUT)
    click.echo(text)


# ---- import -------------------------------------------------------------------------------------------------------


@main.command("import")
@click.argument("format_name", metavar="FORMAT", type=click.Choice(["csv", "demig", "impic"]))
@click.argument("file", type=click.Path())
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Directory to write into.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@handle_errors
def import_cmd(format_name, file, output, force):
    """Convert an inventory or a dataset into policy files.

    \b
    csv    an inventory spreadsheet (header type,id,title,field...) into one .policy file
    demig  DEMIG POLICY (CSV export) into one policy set per country (use --ruleset demig)
    impic  IMPIC v2 (CSV export) into one policy set per country (use --ruleset impic)

    Existing files are never overwritten without --force. See docs/importers.md.
    """
    from coherence_rules.importers import ImportFailure, run_import

    try:
        written = run_import(format_name, Path(file), Path(output), force=force)
    except ImportFailure as e:
        where = f"{e.file}:{e.line}:{getattr(e, 'column', 1)}" if getattr(e, "line", None) else str(e.file)
        click.echo(f"error: {where}: {e.message if hasattr(e, 'message') else e}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    for p in written:
        click.echo(str(p))


if __name__ == "__main__":  # pragma: no cover
    main()
