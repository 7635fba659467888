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


as_of_option = click.option(
    "--as-of", metavar="DATE", default=None,
    help="Reference date (YYYY-MM-DD) for `today` in conditions and for the `until` of accepts (default: today).")


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
@as_of_option
@click.option("--max-derived", type=click.IntRange(1), default=None, metavar="N",
              help="Stop when rules derive more than N facts (default 100000).")
@click.option("--profile", is_flag=True, help="Print each stage's wall time and how much it raised peak memory, to stderr.")
@click.option("--engine", type=click.Choice(["durable", "reference"]), default="durable", hidden=True)
@click.pass_context
@handle_errors
def check(ctx, paths, rulesets, fmt, output, fail_on, explain, as_of, max_derived, profile, engine):
    """Check a policy set against rulesets and report conflicts and synergies.

    PATHS are .policy, .rules, .md and .csv files or directories (searched recursively); together
    they are one policy set. Settings may also come from `coherence.toml` or `[tool.coherence]`
    in pyproject.toml (keys: ruleset, format, fail_on, as_of, max_derived).
    """
    from coherence_rules.pipeline import Profile, paused_gc, run_check

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
    with paused_gc(), prof.stage("render"):  # the report's objects stay alive while it renders
        text = render_report(report, fmt, explain)
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
        return render_html_page("render_html", report.to_dict(), report.source_texts())
    raise BadInput(f"unknown format '{fmt}'")


def render_html_page(renderer: str, *args) -> str:
    """Call one of the HTML renderers; a missing Jinja2 (the optional `html` extra) is bad usage."""
    from coherence_rules.render import html

    try:
        return getattr(html, renderer)(*args)
    except RuntimeError as e:
        raise BadInput(str(e))


def format_profile(prof, report) -> str:
    from tabulate import tabulate

    facts = max(report.facts, 1)
    rows = [[name, f"{t * 1000:.1f}", f"{grew / 1024:,.0f}"] for name, t, grew in prof.rows]
    total = sum(t for _, t, _ in prof.rows)
    rows.append(["total", f"{total * 1000:.1f}", ""])
    return (tabulate(rows, headers=["stage", "ms", "peak RSS +KiB"], tablefmt="simple", disable_numparse=True)
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
    from coherence_rules.syntax.fmt import format_file_text
    from coherence_rules.sources.loader import discover, display_path, read_text

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
@as_of_option
@click.pass_context
@handle_errors
def test_cmd(ctx, rulesets, coverage, threshold, fmt, as_of):
    """Run the tests written next to criteria (`test "..." { given {...} expect ... }`).

    RULESET is a built-in name or a .rules path (default: every built-in ruleset). A failure shows
    the expected and the actual findings with their facts.
    """
    import json

    from coherence_rules.checker.program import check
    from coherence_rules.pipeline import builtin_rulesets, load
    from coherence_rules.commands.language_tests import run_tests

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

    from coherence_rules.commands import docs
    from coherence_rules.checker.program import check
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
@as_of_option
@click.pass_context
@handle_errors
def explain(ctx, code, paths, rulesets, fact_ids, as_of):
    """Why criterion CODE fired, or why it did not, on the policy set in PATHS.

    For a finding: its proof. When the criterion did not fire: for each pattern, the candidate
    facts and the first condition each one failed; for a `not` pattern, the fact that blocked it.
    """
    from coherence_rules.findings.explain import explain_criterion

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


# ---- batch, compare, diff -----------------------------------------------------------------------------------------

BATCH_FORMATS = ("table", "csv", "json", "html", "markdown")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@ruleset_option
@click.option("--jobs", "-j", type=click.IntRange(1), default=None, metavar="N",
              help="Worker processes (default: the number of CPUs); with --scheduler local, Dask workers.")
@click.option("--store", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="SQLite file that keeps each finished set; a rerun skips sets whose input, rulesets, "
                   "version and date are unchanged, so an interrupted batch resumes.")
@click.option("--format", "-f", "fmt", type=click.Choice(BATCH_FORMATS), default=None,
              help="Output format (default table). json and csv write only the results to stdout.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write the results to FILE.")
@click.option("--fail-on", type=click.IntRange(-3, 0), default=None, metavar="SCORE",
              help="Exit 1 when an open or expired finding of any set scores SCORE or lower (default -1).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on Dask distributed: `local` starts a cluster on this machine (loopback only), "
                   "tcp://HOST:PORT uses a running scheduler. Needs coherence-rules[dask].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no closing summary on stderr.")
@as_of_option
@click.option("--max-derived", type=click.IntRange(1), default=None, metavar="N",
              help="Stop a set's run when rules derive more than N facts (default 100000).")
@click.pass_context
@handle_errors
def batch(ctx, paths, rulesets, jobs, store, fmt, output, fail_on, scheduler, quiet, as_of, max_derived):
    """Check many policy sets against the same rulesets, in parallel.

    Each PATH is one policy set (a directory or a file); to check every set in a folder, let the
    shell expand it: `coherence batch agreements/*`. The output is a sets x criteria matrix (count
    and worst score per cell) and every set's findings. A set with bad input fails alone, with its
    diagnostics. Exit 2 when a set failed, else 1 when a set has findings at or beyond --fail-on,
    else 0. See docs/batch.md.
    """
    import time

    from coherence_rules.commands.batch import BatchError, ProgressBar, run_batch

    s = settings_for(ctx)
    rulesets = list(rulesets) or s.get("ruleset")
    if fmt is None:
        fmt = s.get("format") if s.get("format") in BATCH_FORMATS else "table"
    fail_on = fail_on if fail_on is not None else s.get("fail_on", -1)
    as_of_date = parse_date_option(as_of or s.get("as_of"))
    progress = ProgressBar(sys.stderr, enabled=(not quiet) and sys.stderr.isatty())
    t0 = time.perf_counter()
    try:
        result = run_batch(list(paths), rulesets, jobs=jobs, store=store, scheduler=scheduler, as_of=as_of_date,
                           progress=progress, max_derived=max_derived or s.get("max_derived"))
    except BatchError as e:
        if e.diagnostics:
            emit_diagnostics(e.diagnostics, e.sources)
        raise BadInput(str(e))
    except KeyboardInterrupt:
        click.echo("\ninterrupted" + (f"; the finished sets are in {store}: run the same command to resume"
                                      if store else ""), err=True)
        sys.exit(130)
    doc = result.to_dict()
    if fmt == "json":
        text = result.to_json()
    elif fmt == "csv":
        from coherence_rules.render.batch_text import render_batch_csv
        text = render_batch_csv(doc)
    elif fmt == "markdown":
        from coherence_rules.render.batch_text import render_batch_markdown
        text = render_batch_markdown(doc)
    elif fmt == "html":
        text = render_html_page("render_batch_html", doc)
    else:
        from coherence_rules.render.batch_text import render_batch_table
        text = render_batch_table(doc)
    write_output(text, output)
    for entry in result.failed:
        errors = [d for d in entry["diagnostics"] if d["severity"] == "error"]
        first = errors[0] if errors else None
        where = f" ({first['file']}:{first['line']})" if first and first.get("file") and first.get("line") else ""
        click.echo(f"failed: {entry['name']}: {first['code'] + ' ' + first['message'] if first else 'no result'}"
                   f"{where}" + (f" and {len(errors) - 1} more" if len(errors) > 1 else ""), err=True)
    if not quiet:
        from coherence_rules.render.batch_text import batch_summary_line

        reused = f", {result.reused} from the store" if store else ""
        click.echo(f"{batch_summary_line(doc)}; {result.computed} run{reused} in "
                   f"{time.perf_counter() - t0:.1f} s", err=True)
    ctx.exit(result.exit_code(fail_on))


@main.command()
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@ruleset_option
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "table", "json", "markdown"]), default="text",
              help="Output format. json writes only the comparison to stdout.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write the comparison to FILE.")
@as_of_option
@click.pass_context
@handle_errors
def compare(ctx, a, b, rulesets, fmt, output, as_of):
    """Two agreements (or policy sets) side by side, topic by topic.

    One row per topic of the `clause` and `law` facts of either side, with each side's provisions
    and `same`, `differ`, `only A` or `only B`; then each side's findings. Exit 0, or 2 on bad
    input.
    """
    from coherence_rules.commands.compare import compare_sets
    from coherence_rules.render import batch_text

    s = settings_for(ctx)
    result = compare_sets(a, b, list(rulesets) or s.get("ruleset"), as_of=parse_date_option(as_of or s.get("as_of")))
    for side in (result.a, result.b):
        if side.report.diagnostics and (side.report.errors or fmt == "json"):
            emit_diagnostics(side.report.diagnostics, side.report.sources)
    if result.errors:
        ctx.exit(EXIT_BAD_INPUT)
    doc = result.to_dict()
    render = {"json": lambda d: result.to_json(), "table": batch_text.render_compare_table,
              "markdown": batch_text.render_compare_markdown}.get(fmt, batch_text.render_compare_text)
    write_output(render(doc), output)
    ctx.exit(EXIT_OK)


@main.command()
@click.argument("old", type=click.Path())
@click.argument("new", type=click.Path())
@ruleset_option
@click.option("--fail-on", type=click.IntRange(-3, 0), default=None, metavar="SCORE",
              help="Exit 1 when a NEW open or expired finding scores SCORE or lower (default -1).")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "markdown", "html"]), default="text",
              help="Output format. json writes only the diff to stdout.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write the diff to FILE.")
@as_of_option
@click.pass_context
@handle_errors
def diff(ctx, old, new, rulesets, fail_on, fmt, output, as_of):
    """Findings new, resolved and unchanged between two versions of a policy set.

    Findings are matched by fingerprint (criterion and fact ids), so keep fact ids when amending.
    Did the amendment fix it, and did it break anything? Exit 1 when there are new findings at or
    beyond --fail-on, 0 otherwise, 2 on bad input.
    """
    from coherence_rules.commands.diff import diff_sets
    from coherence_rules.render import batch_text

    s = settings_for(ctx)
    fail_on = fail_on if fail_on is not None else s.get("fail_on", -1)
    result = diff_sets(old, new, list(rulesets) or s.get("ruleset"), as_of=parse_date_option(as_of or s.get("as_of")))
    for rep in (result.old, result.new):
        if rep.diagnostics and (rep.errors or fmt == "json"):
            emit_diagnostics(rep.diagnostics, rep.sources)
    if result.errors:
        ctx.exit(EXIT_BAD_INPUT)
    doc = result.to_dict()
    if fmt == "json":
        text = result.to_json()
    elif fmt == "markdown":
        text = batch_text.render_diff_markdown(doc)
    elif fmt == "html":
        text = render_html_page("render_diff_html", doc)
    else:
        text = batch_text.render_diff_text(doc)
    write_output(text, output)
    ctx.exit(EXIT_FINDINGS if result.failing(fail_on) else EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    main()
