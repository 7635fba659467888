"""The ``coherence`` command line: a thin click application over :mod:`coherence_rules`.

Each command builds a :class:`~coherence_rules.session.Session` (or several), stops it at a
stage or reads a product, and turns the result into output and an exit code: 0 nothing at or
beyond ``--fail-on`` (or, for lint, no error); 1 findings at or beyond it (lint: warnings with
``--strict``; test: a failing test); 2 bad input or usage, with diagnostics; 3 internal error,
with a message asking for a report. With a machine format (json, sarif, csv) stdout carries only
the report and diagnostics go to stderr.
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
BATCH_FORMATS = ("table", "csv", "json", "html", "markdown")


class BadInput(click.ClickException):
    exit_code = EXIT_BAD_INPUT


# ---- shared plumbing --------------------------------------------------------------------------------------------


def settings():
    """The settings of ``coherence.toml`` / ``[tool.coherence]``; invalid ones are bad input."""
    from coherence_rules.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as e:
        raise BadInput(str(e))


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
        from coherence_rules.render.html import MissingExtra

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
        except MissingExtra as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except Exception as e:  # noqa: BLE001 - the edge of the program
            click.echo(f"internal error: {type(e).__name__}: {e}", err=True)
            if os.environ.get("COHERENCE_DEBUG"):
                traceback.print_exc()
            click.echo("This is a bug in coherence. Please report it with the command and the input that "
                       "trigger it (set COHERENCE_DEBUG=1 for details).", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


class Options:
    """The options every command that reads a policy set shares, with the settings file's values
    as defaults (the command line wins)."""

    def __init__(self, rulesets=(), with_paths=(), as_of=None, max_derived=None):
        s = settings()
        self.settings = s
        self.rulesets = list(rulesets) or s.ruleset or None
        self.with_paths = list(with_paths) or s.with_
        self.as_of = parse_date_option(as_of) or s.as_of
        self.max_derived = max_derived or s.max_derived

    def session(self, paths=(), **kwargs):
        from coherence_rules.session import Session

        if "rules" not in kwargs:
            kwargs["rulesets"] = self.rulesets
        return Session(list(paths), with_paths=self.with_paths, as_of=self.as_of, max_derived=self.max_derived,
                       **kwargs)

    def fail_on(self, given: Optional[int]) -> int:
        return given if given is not None else (self.settings.fail_on if self.settings.fail_on is not None else -1)


def _option(*decls, **attrs):
    return click.option(*decls, **attrs)


ruleset_option = _option(
    "--ruleset", "-r", "rulesets", multiple=True, metavar="NAME|PATH",
    help="A built-in ruleset name (see `coherence criteria --rulesets`) or a .rules file or directory. "
         "Replaces the default `core`; repeat to combine. The built-in schema is always loaded.")
with_option = _option(
    "--with", "with_paths", multiple=True, metavar="PATH",
    help="Reference facts (a directory or file) that join the policy set without being reported as part "
         "of it, e.g. `--with policies/reference` for the WHO safeguards list, the international "
         "conventions and the SDG targets and GCM objectives; `reference` names the shipped copy. Repeatable.")
as_of_option = _option(
    "--as-of", metavar="DATE", default=None,
    help="Reference date (YYYY-MM-DD) for `today` in conditions and for the `until` of accepts (default: today).")
max_derived_option = _option(
    "--max-derived", type=click.IntRange(1), default=None, metavar="N",
    help="Stop when rules derive more than N facts (default 100000).")
output_option = _option("--output", "-o", type=click.Path(dir_okay=False), default=None,
                        help="Write the output to FILE instead of stdout.")


def fail_on_option(what: str):
    return _option("--fail-on", type=click.IntRange(-3, 0), default=None, metavar="SCORE",
                   help=f"Exit 1 when {what} scores SCORE or lower (default -1).")


def set_options(fn):
    """``--ruleset``, ``--with``, ``--as-of``: how every command names what a policy set is run with."""
    return ruleset_option(with_option(as_of_option(fn)))


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
@set_options
@click.option("--format", "-f", "fmt", type=click.Choice(CHECK_FORMATS), default=None,
              help="Output format (default text). json, sarif and csv write only the report to stdout.")
@output_option
@fail_on_option("an open or expired finding")
@click.option("--explain", is_flag=True, help="Show each finding's proof as a tree (text format).")
@max_derived_option
@click.option("--profile", is_flag=True, help="Print each stage's wall time and how much it raised peak memory, to stderr.")
@click.option("--dump", "dump_stage", type=click.Choice(["ast", "program", "compiled", "run"]), default=None,
              help="Print a stage's product as JSON instead of the report, for debugging: the syntax trees, "
                   "the checked program, the compiled durable_rules ruleset, or the run's matches and derivations.")
@click.option("--engine", type=click.Choice(["durable", "reference"]), default="durable", hidden=True)
@click.pass_context
@handle_errors
def check(ctx, paths, rulesets, with_paths, as_of, fmt, output, fail_on, explain, max_derived, profile, dump_stage,
          engine):
    """Check a policy set against rulesets and report conflicts and synergies.

    PATHS are .policy, .rules, .md and .csv files or directories (searched recursively); together
    they are one policy set. Settings may also come from `coherence.toml` or `[tool.coherence]`
    in pyproject.toml (keys: ruleset, with, format, fail_on, as_of, max_derived).
    """
    opts = Options(rulesets, with_paths, as_of, max_derived)
    fmt = fmt or opts.settings.format or "text"
    if fmt not in CHECK_FORMATS:
        raise BadInput(f"unknown format '{fmt}' (formats: {', '.join(CHECK_FORMATS)})")
    session = opts.session(paths, engine=engine, format=fmt, explain=explain, profile=profile)
    if dump_stage:
        from coherence_rules.findings.report import dump_json

        data = session.dump(dump_stage)
        emit_diagnostics(session.diagnostics, session.sources)
        if data is None:
            ctx.exit(EXIT_BAD_INPUT)
        write_output(dump_json(data), output)
        ctx.exit(EXIT_OK)
    report = session.report
    errors = report.errors
    if report.diagnostics and (fmt in MACHINE_FORMATS or errors or fmt != "text" or output):
        emit_diagnostics(report.diagnostics, report.sources)
    if errors:
        if fmt == "json":
            write_output(report.to_json(), output)
        ctx.exit(EXIT_BAD_INPUT)
    text = session.render()
    if fmt == "text" and report.diagnostics and not output:
        from coherence_rules.render.text import render_diagnostics

        text = render_diagnostics(report) + "\n\n" + text
    write_output(text, output)
    if profile:
        from coherence_rules.render.analyst import profile_table

        click.echo(profile_table(session.profile, report), err=True, nl=False)
    ctx.exit(EXIT_FINDINGS if report.failing(opts.fail_on(fail_on)) else EXIT_OK)


# ---- lint ---------------------------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@ruleset_option
@with_option
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", help="Output format.")
@click.option("--strict", is_flag=True, help="Exit 1 when there are warnings (and no errors).")
@click.option("--each", is_flag=True,
              help="Lint each PATH as a policy set of its own (as `batch` checks them), not all PATHS as one set.")
@click.pass_context
@handle_errors
def lint(ctx, paths, rulesets, with_paths, fmt, strict, each):
    """Parse and validate policy files and rulesets without running them.

    Checks syntax, ids and references, the schema (unknown fields, missing fields, wrong value
    types, values not in an enum), criteria, rules, templates and tests. PATHS are one policy set;
    with --each, every PATH is a set of its own (`coherence lint --each policies/agreements/*/`).
    Exit 0 when there is no error (1 with --strict when there are warnings), 2 on errors.
    """
    from coherence_rules.diagnostics import render_all_text
    from coherence_rules.findings.report import dump_json
    from coherence_rules.session import Rulesets, lint as lint_session

    opts = Options(rulesets, with_paths)
    rules = Rulesets(opts.rulesets)
    sets = [[p] for p in paths] if each else [list(paths)]
    results = [lint_session(opts.session(s, rules=rules)) for s in sets]
    if fmt == "json":
        if each:
            text = dump_json({"sets": [{"set": s[0], "diagnostics": [d.to_dict() for d in r.diagnostics]}
                                       for s, r in zip(sets, results)]})
        else:
            text = dump_json({"diagnostics": [d.to_dict() for d in results[0].diagnostics]})
        click.echo(text, nl=False)
    else:
        shown = 0
        for s, r in zip(sets, results):
            if r.diagnostics:
                click.echo((f"== {s[0]}\n" if each else "") + render_all_text(r.diagnostics, r.sources))
                shown += 1
        if not shown:
            click.echo("no problems found" + (f" in {len(sets)} policy sets" if each else ""))
    if any(r.errors for r in results):
        ctx.exit(EXIT_BAD_INPUT)
    ctx.exit(EXIT_FINDINGS if strict and any(r.warnings for r in results) else EXIT_OK)


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
    from coherence_rules.syntax.fmt import format_paths

    result = format_paths(list(paths), write=not (check_only or show_diff))
    if show_diff:
        click.echo(result.diff, nl=False)
    emit_diagnostics(result.diagnostics, result.sources)
    for shown in result.changed:
        if check_only:
            click.echo(f"would reformat {shown}")
        elif not show_diff:
            click.echo(f"reformatted {shown}", err=True)
    if result.errors:
        ctx.exit(EXIT_BAD_INPUT)
    ctx.exit(EXIT_FINDINGS if (check_only or show_diff) and result.changed else EXIT_OK)


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
    from coherence_rules.commands.language_tests import run_tests
    from coherence_rules.render.analyst import test_run_json, test_run_text
    from coherence_rules.session import Session, builtin_rulesets

    session = Session(rulesets=list(rulesets) or builtin_rulesets(), as_of=parse_date_option(as_of))
    program = session.program
    selected = {r.name for r in program.rulesets if r.name != "schema"} if program is not None else set()
    run = run_tests(session, rulesets=selected)
    if run is None:
        emit_diagnostics(session.diagnostics, session.sources)
        ctx.exit(EXIT_BAD_INPUT)
    click.echo(test_run_json(run) if fmt == "json" else test_run_text(run, coverage), nl=False)
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
    from coherence_rules.commands import docs
    from coherence_rules.session import Session, builtin_rulesets

    if list_rulesets:
        for name in builtin_rulesets():
            click.echo(name)
        return
    session = Session(rulesets=list(rulesets) or None)
    session.run_until("check")
    if session.errors:
        emit_diagnostics(session.diagnostics, session.sources)
        ctx.exit(EXIT_BAD_INPUT)
    text = docs.criteria_view(session.program.criteria, code, fmt)
    if text is None:
        raise BadInput(docs.unknown_criterion(code, session.program.criteria))
    click.echo(text)


# ---- explain ------------------------------------------------------------------------------------------------------


@main.command()
@click.argument("code")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@set_options
@click.option("--facts", "fact_ids", default=None, metavar="ID,...",
              help="Only findings (or candidate facts) involving these fact ids.")
@click.pass_context
@handle_errors
def explain(ctx, code, paths, rulesets, with_paths, as_of, fact_ids):
    """Why criterion CODE fired, or why it did not, on the policy set in PATHS.

    For a finding: its proof. When the criterion did not fire: for each pattern, the candidate
    facts and the first condition each one failed; for a `not` pattern, the fact that blocked it.
    """
    from coherence_rules.findings.explain import explain_criterion

    session = Options(rulesets, with_paths, as_of).session(paths)
    ids = [i.strip() for i in fact_ids.split(",") if i.strip()] if fact_ids else []
    explanation = explain_criterion(session, code, ids)
    emit_diagnostics(session.diagnostics, session.sources)
    if explanation is None:
        ctx.exit(EXIT_BAD_INPUT)
    click.echo(explanation.text)


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
        where = f"{e.file}:{e.line}:{e.column}" if e.line else str(e.file)
        click.echo(f"error: {where}: {e.message}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    for p in written:
        click.echo(str(p))


# ---- batch, compare, diff -----------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@set_options
@click.option("--jobs", "-j", type=click.IntRange(1), default=None, metavar="N",
              help="Worker processes (default: the number of CPUs); with --scheduler local, Dask workers.")
@click.option("--store", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="SQLite file that keeps each finished set; a rerun skips sets whose input, rulesets, "
                   "version and date are unchanged, so an interrupted batch resumes.")
@click.option("--format", "-f", "fmt", type=click.Choice(BATCH_FORMATS), default=None,
              help="Output format (default table). json and csv write only the results to stdout.")
@output_option
@fail_on_option("an open or expired finding of any set")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on Dask distributed: `local` starts a cluster on this machine (loopback only), "
                   "tcp://HOST:PORT uses a running scheduler. Needs coherence-rules[dask].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no closing summary on stderr.")
@max_derived_option
@click.pass_context
@handle_errors
def batch(ctx, paths, rulesets, with_paths, as_of, jobs, store, fmt, output, fail_on, scheduler, quiet, max_derived):
    """Check many policy sets against the same rulesets, in parallel.

    Each PATH is one policy set (a directory or a file); to check every set in a folder, let the
    shell expand it: `coherence batch agreements/*`. The output is a sets x criteria matrix (count
    and worst score per cell) and every set's findings. A set with bad input fails alone, with its
    diagnostics. Exit 2 when a set failed, else 1 when a set has findings at or beyond --fail-on,
    else 0. See docs/batch.md.
    """
    import time

    from coherence_rules.commands.batch import BatchError, ProgressBar, run_batch
    from coherence_rules.render import batch_text
    from coherence_rules.render.analyst import failed_set_lines

    opts = Options(rulesets, with_paths, as_of, max_derived)
    if fmt is None:
        fmt = opts.settings.format if opts.settings.format in BATCH_FORMATS else "table"
    progress = ProgressBar(sys.stderr, enabled=(not quiet) and sys.stderr.isatty())
    t0 = time.perf_counter()
    try:
        result = run_batch(list(paths), opts.rulesets, jobs=jobs, store=store, scheduler=scheduler, as_of=opts.as_of,
                           progress=progress, max_derived=opts.max_derived, with_paths=opts.with_paths)
    except BatchError as e:
        if e.diagnostics:
            emit_diagnostics(e.diagnostics, e.sources)
        raise BadInput(str(e))
    except KeyboardInterrupt:
        click.echo("\ninterrupted" + (f"; the finished sets are in {store}: run the same command to resume"
                                      if store else ""), err=True)
        sys.exit(130)
    write_output(batch_text.render_batch(result, fmt), output)
    for line in failed_set_lines(result):
        click.echo(line, err=True)
    if not quiet:
        reused = f", {result.reused} from the store" if store else ""
        click.echo(f"{batch_text.batch_summary_line(result.to_dict())}; {result.computed} run{reused} in "
                   f"{time.perf_counter() - t0:.1f} s", err=True)
    ctx.exit(result.exit_code(opts.fail_on(fail_on)))


@main.command()
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@set_options
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "table", "json", "markdown"]), default="text",
              help="Output format. json writes only the comparison to stdout.")
@output_option
@click.pass_context
@handle_errors
def compare(ctx, a, b, rulesets, with_paths, as_of, fmt, output):
    """Two agreements (or policy sets) side by side, topic by topic.

    One row per topic of the `clause` and `law` facts of either side, with each side's provisions
    and `same`, `differ`, `only A` or `only B`; then each side's findings. Exit 0, or 2 on bad
    input.
    """
    from coherence_rules.commands.compare import compare_sets
    from coherence_rules.render import batch_text

    opts = Options(rulesets, with_paths, as_of)
    result = compare_sets(a, b, opts.rulesets, with_paths=opts.with_paths, as_of=opts.as_of)
    for side in (result.a, result.b):
        if side.report.diagnostics and (side.report.errors or fmt == "json"):
            emit_diagnostics(side.report.diagnostics, side.report.sources)
    if result.errors:
        ctx.exit(EXIT_BAD_INPUT)
    write_output(batch_text.render_compare(result, fmt), output)
    ctx.exit(EXIT_OK)


class _DiffCommand(click.Command):
    """``diff OLD NEW``, or ``diff OLD... -- NEW...`` for versions of several paths each (options
    come before ``--``)."""

    def parse_args(self, ctx, args):
        if "--" in args:
            i = args.index("--")
            ctx.meta["diff_new"] = args[i + 1:]
            args = args[:i]
        return super().parse_args(ctx, args)


@main.command(cls=_DiffCommand)
@click.argument("versions", nargs=-1, required=True, type=click.Path(), metavar="OLD... [--] NEW...")
@set_options
@fail_on_option("a NEW open or expired finding")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "markdown", "html"]), default="text",
              help="Output format. json writes only the diff to stdout.")
@output_option
@click.pass_context
@handle_errors
def diff(ctx, versions, rulesets, with_paths, as_of, fail_on, fmt, output):
    """Findings new, resolved and unchanged between two versions of a policy set.

    `diff OLD NEW` compares two paths; `diff OLD... -- NEW...` two versions of several paths each
    (everything after `--` is the new version; options go before it). Both versions are checked
    with the same rulesets, `--with` reference facts and date. Findings are matched by fingerprint
    (criterion and fact ids), so keep fact ids when amending. Did the amendment fix it, and did it
    break anything? Exit 1 when there are new findings at or beyond --fail-on, 0 otherwise, 2 on
    bad input.
    """
    from coherence_rules.commands.diff import diff_sets
    from coherence_rules.render import batch_text

    new = ctx.meta.get("diff_new")
    if new is None:
        if len(versions) != 2:
            raise click.UsageError("give OLD and NEW, or OLD... -- NEW... for versions of several paths")
        old, new = [versions[0]], [versions[1]]
    else:
        old = list(versions)
        if not new:
            raise click.UsageError("no NEW paths after `--`")
    opts = Options(rulesets, with_paths, as_of)
    result = diff_sets(old, new, opts.rulesets, with_paths=opts.with_paths, as_of=opts.as_of)
    for rep in (result.old, result.new):
        if rep.diagnostics and (rep.errors or fmt == "json"):
            emit_diagnostics(rep.diagnostics, rep.sources)
    if result.errors:
        ctx.exit(EXIT_BAD_INPUT)
    write_output(batch_text.render_diff(result, fmt), output)
    ctx.exit(EXIT_FINDINGS if result.failing(opts.fail_on(fail_on)) else EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    main()
