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
import gc
import os
import sys
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


def _is_stdout(output: str) -> bool:
    """``-``, ``/dev/stdout``, or a name of the very file standard output already is (``/dev/fd/1``):
    written as standard output, never replaced."""
    if output in ("-", "/dev/stdout"):
        return True
    try:
        return os.path.samestat(os.stat(output), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):
        return False


def echo(message: object = "", **kwargs) -> None:
    """``click.echo`` for what people read on a terminal: characters a terminal would act on
    (escape sequences, bidirectional controls) in names and texts from input are shown escaped
    (docs/security.md). Reports go through :func:`write_output`, whose renderers escape for
    their medium and leave JSON and CSV data as they are."""
    from coherence_rules.render.escape import terminal

    click.echo(terminal(str(message)), **kwargs)


def write_output(text: str, output: Optional[str]) -> None:
    """Write a command's report to ``--output`` (through :func:`coherence_rules.files.write_text_atomically`:
    a symbolic link is followed only with ``--follow-symlinks``) or to standard output. The bytes
    are the same either way: what the renderer made, escape sequences included (click would strip
    them from a stdout that is not a terminal, so ``> file`` and ``-o file`` differed)."""
    from coherence_rules.files import WriteError, write_text_atomically

    if output is None or _is_stdout(output):
        click.echo(text, nl=False, color=True)  # the renderer escaped what it must for its medium
        return
    ctx = click.get_current_context(silent=True)
    follow = bool(ctx is not None and ctx.meta.get("follow_symlinks"))
    try:
        write_text_atomically(output, text, follow_symlinks=follow)
    except WriteError as e:
        raise BadInput(e.message)


def emit_diagnostics(diags, sources, fmt: str = "text", *, to_stderr: bool = True) -> None:
    from coherence_rules.diagnostics import render_all_text, render_json

    if not diags:
        return
    text = render_json(diags) + "\n" if fmt == "json" else render_all_text(diags, sources) + "\n"
    echo(text, nl=False, err=to_stderr)


def handle_errors(fn):
    """Library errors become exit codes; anything unexpected is an internal error (exit 3)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from coherence_rules.render import MissingExtra

        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            echo("interrupted", err=True)
            sys.exit(130)
        except RecursionError:
            echo("error: the input nests too deeply to analyse", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except MissingExtra as e:
            echo(f"error: {e}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except Exception as e:  # noqa: BLE001 - the edge of the program
            echo(f"internal error: {type(e).__name__}: {e}", err=True)
            if os.environ.get("COHERENCE_DEBUG"):
                import traceback  # only here: importing it costs every command 3 ms

                traceback.print_exc()
            echo("This is a bug in coherence. Please report it with the command and the input that "
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


def _remember_follow(ctx, param, value):
    """Keep ``--follow-symlinks`` where :func:`write_output` finds it (the context's meta)."""
    ctx.meta["follow_symlinks"] = value
    return value


_output_file = _option("--output", "-o", type=click.Path(dir_okay=False), default=None,
                       help="Write the output to FILE instead of stdout (`-` is stdout). An existing file is "
                            "replaced atomically and keeps its mode; a read-only file, a directory, a device "
                            "or FIFO, and a symbolic link (see --follow-symlinks) are refused.")
_follow_symlinks = _option("--follow-symlinks", is_flag=True, expose_value=False, callback=_remember_follow,
                           help="If --output names a symbolic link, write to the file it points to (by default "
                                "a link is refused, never replaced).")


def output_option(fn):
    """``--output FILE`` and ``--follow-symlinks``, the options of every command that writes a report."""
    return _output_file(_follow_symlinks(fn))


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
    _collector_off_for_this_command()


def _collector_off_for_this_command() -> None:
    """A command runs once and ends: Python's cycle collector only slows it (about 12 ms of a
    190 ms ``check``, in collections that find nothing to free: the data hold no cycles). It is
    turned back on when the command ends (for a caller that goes on, such as a test) and by the
    commands that stay up or may run long (:func:`_staying_up`)."""
    if gc.isenabled():
        gc.disable()
        click.get_current_context().call_on_close(gc.enable)


def _staying_up() -> None:
    """The cycle collector on again, for a command that stays up or may run long (serve, lsp,
    batch, --watch)."""
    gc.enable()


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
@click.option("--watch", "watch", is_flag=True,
              help="Check again whenever a file of the set, its --with paths or its rulesets changes (polled every "
                   "0.5 s); the output is cleared and printed again. Ctrl-C stops (exit 0).")
@click.pass_context
@handle_errors
def check(ctx, paths, rulesets, with_paths, as_of, fmt, output, fail_on, explain, max_derived, profile, dump_stage,
          engine, watch):
    """Check a policy set against rulesets and report conflicts and synergies.

    PATHS are .policy, .rules, .md and .csv files or directories (searched recursively); together
    they are one policy set. Settings may also come from `coherence.toml` or `[tool.coherence]`
    in pyproject.toml (keys: ruleset, with, format, fail_on, as_of, max_derived).
    """
    opts = Options(rulesets, with_paths, as_of, max_derived)
    if watch:
        from coherence_rules.commands import watch as watching

        _staying_up()
        ctx.exit(watching.watch(lambda: watching.invoke_again(ctx, watch=False),
                                watching.watched_paths(paths, opts.with_paths, opts.rulesets), ignore=[output]))
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
        if fmt in ("json", "sarif"):  # the machine formats that carry diagnostics: the report says why
            from coherence_rules.render import render_report

            write_output(render_report(report, fmt), output)
        ctx.exit(EXIT_BAD_INPUT)
    text = session.render()
    if fmt == "text" and report.diagnostics and not output:
        from coherence_rules.render.text import render_diagnostics

        text = render_diagnostics(report) + "\n\n" + text
    write_output(text, output)
    if profile:
        from coherence_rules.render.analyst import profile_table

        echo(profile_table(session.profile, report), err=True, nl=False)
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
@click.option("--require-tests", is_flag=True,
              help="Warn (W409) for each criterion of PATHS or of a --ruleset path without a test where it fires "
                   "and one where it must not (a near miss: `expect no CODE`), as the core ruleset has.")
@click.pass_context
@handle_errors
def lint(ctx, paths, rulesets, with_paths, fmt, strict, each, require_tests):
    """Parse and validate policy files and rulesets without running them.

    Checks syntax, ids and references, the schema (unknown fields, missing fields, wrong value
    types, values not in an enum), criteria, rules, templates and tests. PATHS are one policy set;
    with --each, every PATH is a set of its own (`coherence lint --each policies/agreements/*/`).
    Every independent error is reported in one pass. With --require-tests, a criterion without a
    firing test or a near miss is a warning. Exit 0 when there is no error (1 with --strict when
    there are warnings), 2 on errors.
    """
    from coherence_rules.diagnostics import render_all_text
    from coherence_rules.findings.report import dump_json
    from coherence_rules.session import Rulesets, lint as lint_session

    opts = Options(rulesets, with_paths)
    rules = Rulesets(opts.rulesets)
    sets = [[p] for p in paths] if each else [list(paths)]
    results = [lint_session(opts.session(s, rules=rules)) for s in sets]
    if require_tests:
        from coherence_rules.commands.language_tests import missing_tests
        from coherence_rules.diagnostics import sort_diagnostics
        from coherence_rules.session import LintResult

        results = [LintResult(sort_diagnostics(r.diagnostics + missing_tests(r.program)), r.sources, r.program)
                   if r.program is not None else r for r in results]
    if fmt == "json":
        if each:
            text = dump_json({"sets": [{"set": s[0], "diagnostics": [d.to_dict() for d in r.diagnostics]}
                                       for s, r in zip(sets, results)]})
        else:
            text = dump_json({"diagnostics": [d.to_dict() for d in results[0].diagnostics]})
        echo(text, nl=False)
    else:
        shown = 0
        for s, r in zip(sets, results):
            if r.diagnostics:
                echo((f"== {s[0]}\n" if each else "") + render_all_text(r.diagnostics, r.sources))
                shown += 1
        if not shown:
            echo("no problems found" + (f" in {len(sets)} policy sets" if each else ""))
    if any(r.errors for r in results):
        ctx.exit(EXIT_BAD_INPUT)
    ctx.exit(EXIT_FINDINGS if strict and any(r.warnings for r in results) else EXIT_OK)


# ---- fmt ----------------------------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would be reformatted.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print a unified diff of the changes.")
@click.option("--follow-symlinks", is_flag=True,
              help="Rewrite the file a symbolic link points to (by default a file given or found as a link is "
                   "read but not rewritten: an error names the link).")
@click.pass_context
@handle_errors
def fmt(ctx, paths, check_only, show_diff, follow_symlinks):
    """Rewrite policy and rules files in the canonical layout (comments kept).

    Formatting never changes meaning, and a file with errors is never rewritten. Markdown files keep
    their prose; only their `policy`/`rules` blocks are laid out. CSV files are left alone. A file
    is replaced atomically and keeps its mode; a file with several hard links is rewritten in place
    (every name sees the change); read-only files and symbolic links (without --follow-symlinks)
    are refused with an error (exit 2), and a failed write leaves the file as it was.
    """
    from coherence_rules.syntax.fmt_files import format_paths

    result = format_paths(list(paths), write=not (check_only or show_diff), follow_symlinks=follow_symlinks)
    if show_diff:
        echo(result.diff, nl=False)
    emit_diagnostics(result.diagnostics, result.sources)
    for shown in result.changed:
        if check_only:
            echo(f"would reformat {shown}")
        elif not show_diff:
            echo(f"reformatted {shown}", err=True)
    for message in result.refused:
        echo(f"error: {message}", err=True)
    if result.errors or result.refused:
        ctx.exit(EXIT_BAD_INPUT)
    ctx.exit(EXIT_FINDINGS if (check_only or show_diff) and result.changed else EXIT_OK)


# ---- test ---------------------------------------------------------------------------------------------------------


@main.command("test")
@click.argument("rulesets", nargs=-1, metavar="[RULESET...]")
@click.option("--coverage", is_flag=True,
              help="Report how many criteria fired and how many rules derived a fact in at least one test, and "
                   "which did not.")
@click.option("--threshold", type=click.FloatRange(0, 100), default=None, metavar="PCT",
              help="With --coverage: exit 1 when coverage is below PCT.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")
@as_of_option
@click.option("--watch", "watch", is_flag=True,
              help="Run the tests again whenever a ruleset file changes (polled every 0.5 s); the output is cleared "
                   "and printed again. Ctrl-C stops (exit 0).")
@click.pass_context
@handle_errors
def test_cmd(ctx, rulesets, coverage, threshold, fmt, as_of, watch):
    """Run the tests written next to criteria (`test "..." { given {...} expect ... }`).

    RULESET is a built-in name or a .rules path (default: every built-in ruleset). A failure shows
    the expected and the actual findings with their facts.
    """
    if watch:
        from coherence_rules.commands import watch as watching
        from coherence_rules.session import builtin_rulesets

        _staying_up()
        ctx.exit(watching.watch(lambda: watching.invoke_again(ctx, watch=False),
                                watching.watched_paths(rulesets=list(rulesets) or builtin_rulesets())))
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
    echo(test_run_json(run) if fmt == "json" else test_run_text(run, coverage), nl=False)
    if not run.passed:
        ctx.exit(EXIT_FINDINGS)
    if coverage and threshold is not None and run.coverage < threshold:
        echo(f"coverage {run.coverage:.1f}% is below the threshold {threshold:.1f}%", err=True)
        ctx.exit(EXIT_FINDINGS)
    ctx.exit(EXIT_OK)


# ---- criteria -----------------------------------------------------------------------------------------------------


@main.command()
@click.argument("code", required=False)
@ruleset_option
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text")
@click.option("--rulesets", "list_rulesets", is_flag=True, help="List the built-in rulesets.")
@click.option("--rule", "show_rule", is_flag=True,
              help="Print the source of criterion CODE (or of the derivation rule named CODE) as written, with "
                   "its file and line.")
@click.pass_context
@handle_errors
def criteria(ctx, code, rulesets, fmt, list_rulesets, show_rule):
    """List criteria (code, title, dimension, score, source), or print one criterion's documentation
    (with --rule: its source and location)."""
    from coherence_rules.commands import docs
    from coherence_rules.session import Session, builtin_rulesets

    if list_rulesets:
        for name in builtin_rulesets():
            echo(name)
        return
    session = Session(rulesets=list(rulesets) or None)
    session.run_until("check")
    if session.errors:
        emit_diagnostics(session.diagnostics, session.sources)
        ctx.exit(EXIT_BAD_INPUT)
    if show_rule:
        if not code:
            raise click.UsageError("--rule needs a CODE: `coherence criteria CODE --rule`")
        program = session.program
        item = next((c for c in program.criteria if c.code == code), None) \
            or next((r for r in program.rules if r.name == code), None)
        found = docs.rule_source(item, session.sources) if item is not None else None
        if found is None:
            raise BadInput(docs.unknown_criterion(code, program.criteria))
        echo(docs.rule_source_view(found, fmt))
        return
    text = docs.criteria_view(session.program.criteria, code, fmt)
    if text is None:
        raise BadInput(docs.unknown_criterion(code, session.program.criteria))
    echo(text)


# ---- explain ------------------------------------------------------------------------------------------------------


@main.command()
@click.argument("code")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@set_options
@click.option("--facts", "fact_ids", default=None, metavar="ID,...",
              help="Only findings (or derivations) involving these fact ids; a pattern of a type some of them "
                   "have considers only those as candidates.")
@click.pass_context
@handle_errors
def explain(ctx, code, paths, rulesets, with_paths, as_of, fact_ids):
    """Why criterion CODE fired, or why it did not, on the policy set in PATHS; CODE may also name
    a derivation rule (what it derived, from which facts, or why nothing).

    For a finding: its proof. When the criterion did not fire: for each pattern, the candidate
    facts and the first condition each one fails, and under every candidate that matches, the
    next pattern (every candidate path, each blocked one with the fact that blocked it). When a
    pattern's type is derived, the rules that derive it are explained below it, with what the
    pattern needs of the derived fact (three rules deep at most).
    """
    from coherence_rules.findings.explain import explain_criterion

    session = Options(rulesets, with_paths, as_of).session(paths)
    ids = [i.strip() for i in fact_ids.split(",") if i.strip()] if fact_ids else []
    explanation = explain_criterion(session, code, ids)
    emit_diagnostics(session.diagnostics, session.sources)
    if explanation is None:
        ctx.exit(EXIT_BAD_INPUT)
    echo(explanation.text)


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
        echo(f"error: {where}: {e.message}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    for p in written:
        echo(str(p))


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
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Stop a set whose check takes longer than SECONDS and mark it failed (E503); the other sets "
                   "go on, and the set is not stored, so a rerun tries it again (default: no limit; local runs "
                   "only, not with --scheduler).")
@click.pass_context
@handle_errors
@click.option("--view", type=click.Choice(["findings", "topics"]), default="findings", show_default=True,
              help="findings: the sets x criteria matrix and each set's findings; topics: agreements x topics, "
                   "each cell the articles that cover the topic (coherence-topics/1 in JSON).")
def batch(ctx, paths, rulesets, with_paths, as_of, jobs, store, fmt, output, fail_on, scheduler, quiet, max_derived,
          timeout, view):
    """Check many policy sets against the same rulesets, in parallel.

    Each PATH is one policy set (a directory or a file); to check every set in a folder, let the
    shell expand it: `coherence batch agreements/*`. The output is a sets x criteria matrix (count
    and worst score per cell) and every set's findings; `--view topics` shows agreements x topics
    instead, each cell the articles that cover the topic. A Markdown file without a `policy` or
    `rules` block (a README the shell expanded) is skipped, with a note. A set with bad input
    fails alone, with its diagnostics. Exit 2 when a set failed, else 1 when a set has findings
    at or beyond --fail-on, else 0. See docs/batch.md.
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
    _staying_up()  # a batch may run for hours (and a local Dask scheduler runs in this process)
    try:
        result = run_batch(list(paths), opts.rulesets, jobs=jobs, store=store, scheduler=scheduler, as_of=opts.as_of,
                           progress=progress, max_derived=opts.max_derived, with_paths=opts.with_paths,
                           timeout=timeout, encode_json=(fmt == "json" and view != "topics"))
    except BatchError as e:
        if e.diagnostics:
            emit_diagnostics(e.diagnostics, e.sources)
        raise BadInput(str(e))
    except KeyboardInterrupt:
        echo("\ninterrupted" + (f"; the finished sets are in {store}: run the same command to resume"
                                      if store else ""), err=True)
        sys.exit(130)
    for name in result.skipped:
        echo(f"note: skipped {name}: a Markdown file with no `policy` or `rules` block is not a policy set",
                   err=True)
    if view == "topics":
        from coherence_rules.commands.topics import topics_document
        from coherence_rules.render.topics import render_topics

        write_output(render_topics(topics_document(result, opts.rulesets), fmt), output)
    else:
        write_output(batch_text.render_batch(result, fmt), output)
    emit_diagnostics(result.notes, None)
    for line in failed_set_lines(result):
        echo(line, err=True)
    if not quiet:
        reused = f", {result.reused} from the store" if store else ""
        echo(f"{batch_text.batch_summary_line(result.to_dict())}; {result.computed} run{reused} in "
                   f"{time.perf_counter() - t0:.1f} s", err=True)
    ctx.exit(result.exit_code(opts.fail_on(fail_on)))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(), metavar="A B [C...]")
@click.option("--against", metavar="MODEL", type=click.Path(), default=None,
              help="Compare each set with MODEL (a model agreement, or any policy set) instead of with each other; "
                   "then one set is enough.")
@set_options
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "table", "json", "markdown"]), default="text",
              help="Output format. json writes only the comparison to stdout.")
@output_option
@click.pass_context
@handle_errors
def compare(ctx, paths, against, rulesets, with_paths, as_of, fmt, output):
    """Agreements (or policy sets) side by side, topic by topic, article by article.

    One row per topic of the `clause` and `law` facts of any side, with each side's clauses in
    article order (citation, position, title, the article's words). Where two sides take positions
    (a provision of one snake_case word) that are not the same, the topic is marked `differing
    positions`; prose is shown side by side and never compared. Then the checklist topics no side
    covers, and each side's findings. With `--against MODEL`, each set is compared with the model.
    Exit 0, or 2 on bad input.
    """
    from coherence_rules.commands.compare import compare_many
    from coherence_rules.render import batch_text

    if against is None and len(paths) < 2:
        raise click.UsageError("compare needs two policy sets or more (or one with --against MODEL)")
    opts = Options(rulesets, with_paths, as_of)
    result = compare_many(list(paths), opts.rulesets, with_paths=opts.with_paths, as_of=opts.as_of, against=against)
    for side in result.sides:
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


# ---- lsp ----------------------------------------------------------------------------------------------------------


@main.command()
@ruleset_option
@with_option
@handle_errors
def lsp(rulesets, with_paths):
    """Run the Language Server Protocol server over stdin and stdout, for editors.

    Diagnostics as you type, the policy set's findings, hover, go to definition, completion,
    formatting and an "Accept this trade-off" quick fix for .policy, .rules and Markdown files
    (docs/editors.md). Each document is checked with the other sources of its folder and the
    `ruleset`/`with` settings of the coherence.toml found upward from it; --ruleset and --with
    replace those settings for every folder. Needs the `lsp` extra (pygls).
    """
    import importlib.util

    if importlib.util.find_spec("pygls") is None or importlib.util.find_spec("lsprotocol") is None:
        echo("error: `coherence lsp` needs the `lsp` extra (pygls): "
                   "pip install 'coherence-rules[lsp]'", err=True)
        sys.exit(EXIT_BAD_INPUT)
    from coherence_rules.lsp import serve
    from coherence_rules.session import builtin_rulesets, resolve_reference

    # paths are made absolute here: the server reads them from folders all over the disk
    names = [r if r in builtin_rulesets() else os.path.abspath(r) for r in rulesets]
    _staying_up()
    serve(names or None, [os.path.abspath(resolve_reference(w)) for w in with_paths] or None)


# ---- serve --------------------------------------------------------------------------------------------------------


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(), metavar="[PATH]")
@set_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep the loopback default unless others must reach the page: anyone "
                   "who can reach it can read and change the served files.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port; the address is printed).")
@handle_errors
def serve(paths, rulesets, with_paths, as_of, host, port):
    """Edit a policy set in the browser and see its findings as you type.

    Serves the drafting page and a JSON API on http://HOST:PORT/ for the policy set in the
    directory PATH (default: the current directory): every .policy, .rules, .md and .csv file
    under it, in an editor, with the findings beside it, re-checked as you type; click a
    finding to highlight its facts' lines, save a file back (refused when it changed on disk),
    record an accepted trade-off. Nothing is written outside PATH. The API (POST /api/check
    returns the same JSON as `check --format json`) is described in docs/serve.md. Needs
    coherence-rules[serve]. Ctrl+C stops the server.

    \b
    Examples:
      coherence serve policies/mauritius              then open http://127.0.0.1:8765/
      coherence serve . --with policies/reference --port 9000
    """
    if len(paths) > 1:
        raise BadInput("give one directory to serve (the policy set's directory), not several paths")
    root = Path(paths[0] if paths else ".")
    if not root.is_dir():
        raise BadInput(f"'{root}' is not a directory: give the directory that holds the policy set's files")
    try:
        from coherence_rules.serve.app import ServeError, serve as run_server
        from coherence_rules.serve.guard import is_loopback
    except ImportError as e:
        echo(f"error: `coherence serve` needs the serve extra (missing: {e.name}): "
                   "pip install 'coherence-rules[serve]'", err=True)
        sys.exit(EXIT_BAD_INPUT)
    opts = Options(rulesets, with_paths, as_of)
    _staying_up()
    if not is_loopback(host):
        echo(f"warning: listening on {host}, not on a loopback address: anyone who can reach this machine "
                   "on that address can read and change the served files", err=True)
    try:
        run_server(root, rulesets=opts.rulesets, with_paths=opts.with_paths, as_of=opts.as_of,
                   max_derived=opts.max_derived, host=host, port=port, echo=echo)
    except ServeError as e:
        emit_diagnostics(e.diagnostics, e.sources)
        raise BadInput(str(e))


# ---- schema -------------------------------------------------------------------------------------------------------


@main.command("schema")
@click.argument("name", required=False, metavar="[TYPE|ENUM]")
@ruleset_option
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              help="Output format (markdown: the sections of docs/vocabulary.md).")
@click.pass_context
@handle_errors
def schema_cmd(ctx, name, rulesets, fmt):
    """The vocabulary as loaded: every type and enum, or the one named TYPE or ENUM.

    The built-in schema plus the rulesets (default `core`, or the `--ruleset`s): a type's fields
    with their types (`?` optional), its inherit rules and the rules that derive it; an enum's
    members with their labels.

    \b
    Examples:
      coherence schema measure                      the fields of a measure
      coherence schema occupation --ruleset core --ruleset mine.rules
      coherence schema --format json                everything, for tools
    """
    from coherence_rules.commands.schema_view import schema_view
    from coherence_rules.session import Session

    session = Session(rulesets=list(rulesets) or settings().ruleset or None)
    session.run_until("check")
    if session.errors:
        emit_diagnostics(session.diagnostics, session.sources)
        ctx.exit(EXIT_BAD_INPUT)
    text, problem = schema_view(session, name, fmt)
    if text is None:
        raise BadInput(problem)
    echo(text)


if __name__ == "__main__":  # pragma: no cover
    main()
