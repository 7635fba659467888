"""The pipeline: sources -> parse -> check -> compile/run -> findings -> report.

:data:`STAGES` lists the stages once; ``--profile`` times them from here. Each public function
returns diagnostics instead of raising on bad input; :class:`~coherence_rules.diagnostics.DiagnosticError`
is raised only when a caller asked for a result that bad input makes impossible.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

from .syntax import ast as A
from .checker.program import Program, check, check_test_facts
from .diagnostics import Diagnostic, SourceLines, did_you_mean, sort_diagnostics
from .findings.report import Report
from .runtime import paused_gc, peak_rss
from .sources.loader import Loaded, load_paths, load_text

STAGES = ("parse", "check", "compile", "run", "findings", "render")

RULESETS_DIR = (Path(__file__).resolve().parent / "rulesets").resolve()
BUILTIN_PREFIX = "<builtin>/"
DEFAULT_RULESETS = ("core",)


def builtin_rulesets() -> list[str]:
    """Names of the shipped rulesets (``schema`` is always loaded and not listed)."""
    return sorted(p.stem for p in RULESETS_DIR.glob("*.rules") if p.stem != "schema")


class Profile:
    """Wall time and memory per stage (``--profile``).

    Memory is how much the stage raised the peak resident set size: of this process, or of the
    forked child that runs the engine (``run``), whichever is larger. It is read from the
    operating system's counters, so profiling does not slow the stages it times (tracing every
    allocation made them several times slower). 0 means the stage stayed within memory the
    process had already used.
    """

    def __init__(self, enabled: bool = False):
        self.enabled = enabled
        self.rows: list[tuple[str, float, int]] = []

    def stage(self, name: str):
        return _StageTimer(self, name)


class _StageTimer:
    def __init__(self, profile: Profile, name: str):
        self.p = profile
        self.name = name

    def __enter__(self):
        self.rss = peak_rss() if self.p.enabled else (0, 0)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        elapsed = time.perf_counter() - self.t0
        grew = 0
        if self.p.enabled:
            (own0, kids0), (own1, kids1) = self.rss, peak_rss()
            grew = max(own1 - own0, kids1 - max(kids0, own0) if kids1 > kids0 else 0, 0)
        self.p.rows.append((self.name, elapsed, grew))


@dataclass
class Workspace:
    """Sources of one run: the rulesets' modules and the policy set's modules, with their texts."""

    rule_modules: list[A.Module] = field(default_factory=list)
    policy_modules: list[A.Module] = field(default_factory=list)
    sources: SourceLines = field(default_factory=SourceLines)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)


def _realpath(p: Path) -> str:
    return os.path.realpath(p)


@paused_gc()
def load(paths: Sequence[str | Path], rulesets: Optional[Sequence[str]] = None,
         include_default: bool = True) -> Workspace:
    """Read the built-in schema, the rulesets (names of shipped rulesets or paths; ``None`` means
    the default ``core``) and the policy paths. A policy path that is itself a shipped ruleset file
    is read once."""
    ws = Workspace()
    given = {_realpath(Path(p)) for p in paths if Path(p).is_file()}
    given_dirs = [_realpath(Path(p)) for p in paths if Path(p).is_dir()]

    def covered(file: Path) -> bool:
        rp = _realpath(file)
        return rp in given or any(rp.startswith(d + os.sep) for d in given_dirs)

    names = list(DEFAULT_RULESETS) if rulesets is None else list(rulesets)
    schema_file = RULESETS_DIR / "schema.rules"
    todo: list[tuple[Optional[Path], str]] = [(schema_file, "schema")]
    for r in names:
        builtin = RULESETS_DIR / f"{r}.rules"
        if r and "/" not in r and not r.endswith(".rules") and builtin.is_file():
            todo.append((builtin, r))
        elif Path(r).exists():
            todo.append((Path(r), r))
        else:
            ws.diagnostics.append(Diagnostic.make(
                "E213", f"unknown ruleset '{r}'", None,
                help=did_you_mean(r, builtin_rulesets()) or f"built-in rulesets: {', '.join(builtin_rulesets())}"))
    seen: set[str] = set()
    for path, name in todo:
        if path is None:
            continue
        if path.is_dir():
            loaded = load_paths([path])
            ws.rule_modules += loaded.modules
            ws.diagnostics += loaded.diagnostics
            for f in loaded.files:
                ws.sources.add(f, loaded.sources.text(f) or "")
            continue
        rp = _realpath(path)
        if rp in seen or (path.parent.resolve() == RULESETS_DIR and covered(path)):
            continue
        seen.add(rp)
        if path.parent.resolve() == RULESETS_DIR.resolve():
            shown = BUILTIN_PREFIX + path.name
            text = path.read_text(encoding="utf-8")
            ws.sources.add(shown, text)
            loaded = Loaded()
            load_text(text, shown, True, loaded)
        else:
            loaded = load_paths([path])
            for f in loaded.files:
                ws.sources.add(f, loaded.sources.text(f) or "")
        ws.rule_modules += loaded.modules
        ws.diagnostics += loaded.diagnostics
    loaded = load_paths(paths)
    ws.policy_modules = loaded.modules
    ws.diagnostics += loaded.diagnostics
    for f in loaded.files:
        ws.sources.add(f, loaded.sources.text(f) or "")
    ws.inputs = list(loaded.files)
    return ws


@dataclass
class LintResult:
    diagnostics: list[Diagnostic]
    sources: SourceLines
    program: Optional[Program] = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]


@paused_gc()
def lint(paths: Sequence[str | Path], rulesets: Optional[Sequence[str]] = None) -> LintResult:
    """Parse and check without running: facts, schema, rules, criteria, tests."""
    ws = load(paths, rulesets)
    program = check(ws.rule_modules + ws.policy_modules)
    diags = list(ws.diagnostics) + list(program.diagnostics)
    diags += _stratification(program)
    reference = [f for f in program.facts if _from_rules(f, ws)]
    for t in program.tests:
        _, td = check_test_facts(program, t, reference)
        diags += td
    return LintResult(sort_diagnostics(diags), ws.sources, program)


def _stratification(program: Program) -> list[Diagnostic]:
    """E502 for rules that depend on each other through `not`/`exists` (found without running)."""
    from .engine import NegationCycle
    from .engine.semantics import stratify

    try:
        stratify(program.rules)
    except NegationCycle as e:
        return [_cycle_diagnostic(program, e)]
    return []


def _cycle_diagnostic(program: Program, e) -> Diagnostic:
    return Diagnostic.make("E502", str(e), _rule_span(program, e.rules[0]) if e.rules else None,
                           help="a rule cannot depend, through `not` or `exists`, on what it derives itself")


def _from_rules(fact, ws: Workspace) -> bool:
    files = {m.file for m in ws.rule_modules}
    return fact.span is not None and fact.span.file in files


@paused_gc()
def run_check(paths: Sequence[str | Path], rulesets: Optional[Sequence[str]] = None, *,
              as_of: Optional[dt.date] = None, engine: str = "durable", max_derived: Optional[int] = None,
              profile: Optional[Profile] = None, compiled=None) -> Report:
    """Load, check and run; a report with findings, or with only diagnostics when the input has
    errors (nothing runs on a policy set that does not check)."""
    profile = profile or Profile(False)
    with profile.stage("parse"):
        ws = load(paths, rulesets)
    return run_workspace(ws, as_of=as_of, engine=engine, max_derived=max_derived, profile=profile, compiled=compiled)


@paused_gc()
def run_workspace(ws: Workspace, *, as_of: Optional[dt.date] = None, engine: str = "durable",
                  max_derived: Optional[int] = None, profile: Optional[Profile] = None, compiled=None) -> Report:
    """Check and run sources that are already loaded. ``compiled`` (a compiled ruleset of the same
    rulesets) is reused when the policy set brings no criteria, rules or vocabulary of its own."""
    from .engine import DEFAULT_MAX_DERIVED, DerivationLimit, NegationCycle, run
    from .engine.durable import CompiledRuleset, EngineError
    from .findings.build import build_findings

    profile = profile or Profile(False)
    as_of = as_of or dt.date.today()
    with profile.stage("check"):
        program = check(ws.rule_modules + ws.policy_modules)
    diags = list(ws.diagnostics) + list(program.diagnostics)
    report = Report(findings=[], facts=len(program.facts), derived_facts=0, criteria_run=len(program.criteria),
                    as_of=as_of,
                    rulesets=[r for r in program.rulesets if r.name != "schema"], inputs=ws.inputs,
                    diagnostics=sort_diagnostics(diags), sources=ws.sources,
                    instruments={f.id: f.title or f.id for f in program.facts if f.type in ("instrument", "agreement")})
    if any(d.is_error for d in diags):
        return report
    own_rules = any(not isinstance(item, (A.Fact, A.Accept))
                    for m in ws.policy_modules if not m.facts_only for item in m.items)
    compiled_here = None
    try:
        with profile.stage("compile"):
            if engine == "durable" and (compiled is None or own_rules):
                compiled_here = CompiledRuleset(program)
        with profile.stage("run"):
            result = run(program, program.facts, as_of, engine=engine,
                         max_derived=max_derived or DEFAULT_MAX_DERIVED, compiled=compiled_here or compiled)
    except DerivationLimit as e:
        report.diagnostics = sort_diagnostics(diags + [Diagnostic.make(
            "E501", str(e), _rule_span(program, e.rule), help="raise --max-derived if the policy set is really that large")])
        return report
    except NegationCycle as e:
        report.diagnostics = sort_diagnostics(diags + [_cycle_diagnostic(program, e)])
        return report
    except EngineError as e:
        report.diagnostics = sort_diagnostics(diags + [Diagnostic.make(
            "E502", f"the rule engine failed: {e}", None,
            help="this is a bug; please report it with the policy set and rulesets that trigger it")])
        return report
    finally:
        if compiled_here is not None:
            compiled_here.close()
    with profile.stage("findings"):
        facts = {f.id: f for f in program.facts}
        facts.update(result.derived)
        findings, accepts, warn = build_findings(program, result, facts, as_of)
    report.findings = findings
    report.accepts = accepts
    report.derived_facts = len(result.derived)
    report.diagnostics = sort_diagnostics(diags + warn + result.diagnostics)
    report.timings = {name: t for name, t, _ in profile.rows}
    return report


def _rule_span(program: Program, name: str):
    for r in program.rules:
        if r.name == name:
            return r.span
    return None
