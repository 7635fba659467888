"""One run of the pipeline over one policy set: the stage table and the products it keeps.

A :class:`Session` holds what a run needs (the policy set's paths, the reference sets that join it
with ``--with``, the rulesets, the reference date, the engine) and runs the stages of
:data:`STAGES` in order, keeping each stage's product:

========  ===========================================  =========================================
stage     product                                      what it does
========  ===========================================  =========================================
parse     :class:`Workspace`                           read and parse every source
check     :class:`~.checker.ir.Program`                names, references, schema, criteria, tests
compile   the compiled ruleset (opaque)                criteria and rules for durable_rules
run       :class:`~.engine.records.RunResult`          forward-chain the rules, match criteria
findings  :class:`~.findings.report.Report`            findings with proofs, accepts, summary
render    ``str``                                      the report in the session's format
========  ===========================================  =========================================

Every command is a stop point or a view on these products: ``lint`` stops after ``check``,
``criteria`` and ``test`` run the rulesets alone, ``explain`` views the run, ``compare`` and
``diff`` read two sessions' products, ``batch`` gives many sessions one :class:`Rulesets`.
``--profile`` times the stages from the table and ``--dump STAGE`` prints a product as JSON.

A stage runs only when every stage before it ended without an error diagnostic; diagnostics of
every stage that ran are kept in :attr:`Session.diagnostics`. Nothing here raises on bad input.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .diagnostics import Diagnostic, SourceLines, did_you_mean, sort_diagnostics
from .runtime import paused_gc, peak_rss
from .syntax import ast as A

RULESETS_DIR = (Path(__file__).resolve().parent / "rulesets").resolve()
#: The shipped reference facts (the WHO safeguards list, the international conventions, the SDG
#: targets and GCM objectives), usable as ``--with reference`` when no such path exists.
REFERENCE_DIR = (Path(__file__).resolve().parent / "reference").resolve()
BUILTIN_PREFIX = "<builtin>/"
DEFAULT_RULESETS = ("core",)


def builtin_rulesets() -> list[str]:
    """Names of the shipped rulesets (``schema`` is always loaded and not listed)."""
    return sorted(p.stem for p in RULESETS_DIR.glob("*.rules") if p.stem != "schema")


def resolve_ruleset(name: str) -> Optional[Path]:
    """The file or directory a ``--ruleset`` names: a shipped ruleset by name, or a path; None
    when it names neither."""
    builtin = RULESETS_DIR / f"{name}.rules"
    if name and "/" not in name and not name.endswith(".rules") and builtin.is_file():
        return builtin
    return Path(name) if Path(name).exists() else None


def resolve_reference(path: str) -> Path:
    """The path a ``--with`` names: the path itself, or the shipped reference facts for
    ``reference`` when no such path exists."""
    p = Path(path)
    if not p.exists() and path.rstrip("/") == "reference" and REFERENCE_DIR.is_dir():
        return REFERENCE_DIR
    return p


# ---- products ---------------------------------------------------------------------------------------------------


@dataclass
class Workspace:
    """The product of ``parse``: the sources of one run, parsed, with their texts.

    ``rule_modules`` are the schema's and the rulesets' modules, ``reference_modules`` those of the
    ``--with`` paths and ``policy_modules`` the policy set's own; ``inputs`` and ``references``
    are the files of the last two, as shown in reports."""

    rule_modules: list[A.Module] = field(default_factory=list)
    reference_modules: list[A.Module] = field(default_factory=list)
    policy_modules: list[A.Module] = field(default_factory=list)
    sources: SourceLines = field(default_factory=SourceLines)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)

    @property
    def modules(self) -> list[A.Module]:
        """Every module, in the order the check stage reads them."""
        return self.rule_modules + self.reference_modules + self.policy_modules

    def brings_rules(self) -> bool:
        """Whether the set or its references declare anything but facts and accepts (criteria,
        rules, vocabulary, tests): then the rulesets' compiled form does not cover them."""
        return any(not isinstance(item, (A.Fact, A.Accept))
                   for m in self.reference_modules + self.policy_modules if not m.facts_only for item in m.items)


class Rulesets:
    """The rulesets of a run (the built-in schema and the named rulesets), parsed once; checked and
    compiled alone on first use. Sessions that share one (the sets of a batch, the two sides of a
    diff) parse, check and compile the rulesets once; a set that brings no rules or vocabulary of
    its own runs on the shared compiled form."""

    def __init__(self, names: Optional[Sequence[str]] = None):
        from .sources.loader import Loaded, load_paths, load_text

        self.names = None if names is None else list(names)
        self.modules: list[A.Module] = []
        self.sources = SourceLines()
        self.diagnostics: list[Diagnostic] = []
        #: shown file name -> real path of each ruleset file read (``<builtin>/core.rules`` -> ...)
        self.files: dict[str, str] = {}
        todo: list[tuple[Path, str]] = [(RULESETS_DIR / "schema.rules", "schema")]
        for r in (list(DEFAULT_RULESETS) if names is None else list(names)):
            path = resolve_ruleset(r)
            if path is None:
                self.diagnostics.append(Diagnostic.make(
                    "E213", f"unknown ruleset '{r}'", None,
                    help=did_you_mean(r, builtin_rulesets()) or f"built-in rulesets: {', '.join(builtin_rulesets())}"))
            else:
                todo.append((path, r))
        seen: set[str] = set()
        with paused_gc():
            for path, _ in todo:
                rp = os.path.realpath(path)
                if rp in seen:
                    continue
                seen.add(rp)
                if path.is_file() and path.parent.resolve() == RULESETS_DIR:
                    shown = BUILTIN_PREFIX + path.name
                    text = path.read_text(encoding="utf-8")
                    loaded = Loaded()
                    loaded.sources.add(shown, text)
                    loaded.files.append(shown)
                    load_text(text, shown, True, loaded)
                    self.files[shown] = rp
                else:
                    loaded = load_paths([path])
                    for f in loaded.files:
                        self.files[f] = os.path.realpath(f)
                self.modules += loaded.modules
                self.diagnostics += loaded.diagnostics
                for f in loaded.files:
                    self.sources.add(f, loaded.sources.text(f) or "")
        self._session: Optional[Session] = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.all_diagnostics if d.is_error]

    @property
    def all_diagnostics(self) -> list[Diagnostic]:
        """The rulesets' diagnostics, parse and check."""
        alone = self.alone()
        alone.run_until("check")
        return sort_diagnostics(alone.diagnostics)

    def test_diagnostics(self) -> list[Diagnostic]:
        """The diagnostics of the rulesets' tests, checked once."""
        alone = self.alone()
        alone.run_until("check")
        return list(alone.test_diagnostics)

    def alone(self) -> "Session":
        """A session of the rulesets alone, with no policy set, compiled on first use."""
        if self._session is None:
            self._session = Session(rules=self)
        return self._session

    def covered_by(self, paths: Sequence[str | Path]) -> set[str]:
        """The shown names of the ruleset files that ``paths`` also hold (a policy path that is a
        shipped ruleset file, or a directory holding one): those are read once, as part of the set."""
        files = {os.path.realpath(p) for p in paths if Path(p).is_file()}
        dirs = [os.path.realpath(p) for p in paths if Path(p).is_dir()]
        return {shown for shown, rp in self.files.items()
                if shown.startswith(BUILTIN_PREFIX) and (rp in files or any(rp.startswith(d + os.sep) for d in dirs))}


# ---- the stage table --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One row of the stage table: its name, the function that computes its product from the
    session (and the products before it), and what the product is."""

    name: str
    function: Callable[["Session"], Any]
    product: str


def _parse(s: "Session") -> "Workspace":
    from .sources.loader import load_paths

    rules = s.rules
    ws = Workspace(diagnostics=list(rules.diagnostics))
    covered = rules.covered_by(s.paths) if s.paths else set()
    ws.rule_modules = [m for m in rules.modules if m.file not in covered]
    for f in rules.sources.files():
        if f not in covered:
            ws.sources.add(f, rules.sources.text(f) or "")
    with paused_gc():
        if s.with_paths:
            refs = load_paths([resolve_reference(p) for p in s.with_paths])
            ws.reference_modules = refs.modules
            ws.diagnostics += refs.diagnostics
            ws.references = list(refs.files)
            for f in refs.files:
                ws.sources.add(f, refs.sources.text(f) or "")
        if s.texts is not None:
            loaded = _load_texts(s.texts)
        else:
            loaded = load_paths(s.paths) if s.paths else None
        if loaded is not None:
            ws.policy_modules = loaded.modules
            ws.diagnostics += loaded.diagnostics
            ws.inputs = list(loaded.files)
            for f in loaded.files:
                ws.sources.add(f, loaded.sources.text(f) or "")
    return ws


def _load_texts(texts: dict[str, str]):
    """Sources given as texts (an editor's buffers), read as the files they are named after."""
    from .sources.loader import Loaded, load_text

    loaded = Loaded()
    for name in sorted(texts):
        text = texts[name].replace("\r\n", "\n").replace("\r", "\n")
        loaded.sources.add(name, text)
        loaded.files.append(name)
        load_text(text, name, True, loaded)
    return loaded


def _check(s: "Session"):
    from .checker import check
    from .engine import NegationCycle, cycle_diagnostic
    from .engine.semantics import stratify

    ws = s.workspace
    with paused_gc():
        program = check(ws.modules)
    diags = list(program.diagnostics)
    try:
        stratify(program.rules)
    except NegationCycle as e:
        diags.append(cycle_diagnostic(program, e))
    if program.tests and not any(d.is_error for d in diags):
        if s.has_set and not ws.brings_rules():
            s.test_diagnostics = s.rules.test_diagnostics()  # the rulesets' own tests: checked once
        else:
            s.test_diagnostics = _test_diagnostics(program, ws)
        diags += s.test_diagnostics
    s.add_diagnostics(_with_reference_hints(diags, s))
    return program


def _test_diagnostics(program, ws: "Workspace") -> list[Diagnostic]:
    """The diagnostics of the tests' `given` facts, each test checked in a namespace shared with
    the rulesets' reference facts (but not with the policy set)."""
    from .checker import check_test_facts

    rule_files = {m.file for m in ws.rule_modules}
    reference = [f for f in program.facts if f.span is not None and f.span.file in rule_files]
    out: list[Diagnostic] = []
    for t in program.tests:
        out += check_test_facts(program, t, reference)[1]
    return out


def _compile(s: "Session"):
    from . import engine

    if s.engine != "durable":
        return None
    if s.has_set and not s.workspace.brings_rules():
        return s.rules.alone().compiled
    return engine.compile(s.program)


def _run(s: "Session"):
    from . import engine

    program = s.program
    result = engine.run(program, program.facts, s.as_of, engine=s.engine,
                        max_derived=s.max_derived or engine.DEFAULT_MAX_DERIVED, compiled=s.compiled)
    s.add_diagnostics(result.diagnostics)
    return result


def _findings(s: "Session"):
    from .findings.build import build_findings

    program, result = s.program, s.result
    facts = {f.id: f for f in program.facts}
    facts.update(result.derived)
    with paused_gc():
        findings, accepts, warnings = build_findings(program, result, facts, s.as_of)
    s.add_diagnostics(warnings)
    report = s._empty_report()
    report.findings, report.accepts, report.derived_facts = findings, accepts, len(result.derived)
    report.diagnostics = sort_diagnostics(s.diagnostics)
    return report


def _render(s: "Session") -> str:
    from .render import render_report

    with paused_gc():  # the report's objects stay alive while it renders
        return render_report(s.report, s.format or "text", s.explain)


#: The stages, in order. Each reads the products of the stages before it.
STAGES: tuple[Stage, ...] = (
    Stage("parse", _parse, "Workspace"),
    Stage("check", _check, "Program"),
    Stage("compile", _compile, "CompiledRuleset"),
    Stage("run", _run, "RunResult"),
    Stage("findings", _findings, "Report"),
    Stage("render", _render, "str"),
)
STAGE_NAMES = tuple(st.name for st in STAGES)
#: The stages whose product ``--dump`` prints.
DUMPABLE = ("ast", "program", "compiled", "run")


class Profile:
    """Wall time and memory per stage (``--profile``), one row per stage that ran.

    Memory is how much the stage raised the peak resident set size: of this process, or of the
    forked child that runs the engine (``run``), whichever is larger. It is read from the
    operating system's counters, so profiling does not slow the stages it times (tracing every
    allocation made them several times slower). 0 means the stage stayed within memory the
    process had already used.
    """

    def __init__(self, enabled: bool = False):
        self.enabled = enabled
        self.rows: list[tuple[str, float, int]] = []

    def time(self, name: str, fn: Callable[[], Any]) -> Any:
        rss = peak_rss() if self.enabled else (0, 0)
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            elapsed = time.perf_counter() - t0
            grew = 0
            if self.enabled:
                (own0, kids0), (own1, kids1) = rss, peak_rss()
                grew = max(own1 - own0, kids1 - max(kids0, own0) if kids1 > kids0 else 0, 0)
            self.rows.append((name, elapsed, grew))


class Session:
    """One policy set through the stages of :data:`STAGES`.

    ``paths``: the policy set (files and directories); ``with_paths``: reference facts that join
    it (``--with``); ``rulesets``: names of shipped rulesets or paths (None: ``core``), or give
    ``rules``, a :class:`Rulesets` shared with other sessions; ``texts``: sources given as texts
    (``{name: text}``), read instead of ``paths``; ``as_of``: the reference date (today);
    ``engine``: ``durable`` or ``reference``; ``max_derived``: the derivation limit;
    ``format``/``explain``: what the ``render`` stage writes; ``profile``: time the stages.
    """

    def __init__(self, paths: Sequence[str | Path] = (), *, with_paths: Sequence[str | Path] = (),
                 rulesets: Optional[Sequence[str]] = None, rules: Optional[Rulesets] = None,
                 texts: Optional[dict[str, str]] = None, as_of: Optional[dt.date] = None, engine: str = "durable",
                 max_derived: Optional[int] = None, format: Optional[str] = None, explain: bool = False,
                 profile: bool = False):
        self.paths = [str(p) for p in paths]
        self.with_paths = [str(p) for p in with_paths]
        self.texts = texts
        self.rules = rules if rules is not None else Rulesets(rulesets)
        self.as_of = as_of or dt.date.today()
        self.engine = engine
        self.max_derived = max_derived
        self.format = format
        self.explain = explain
        self.profile = Profile(profile)
        self.products: dict[str, Any] = {}
        self.diagnostics: list[Diagnostic] = []
        self._stopped: Optional[str] = None  # the stage whose errors stopped the run
        #: the diagnostics of the tests' `given` facts (part of the check stage's)
        self.test_diagnostics: list[Diagnostic] = []

    # ---- running

    @property
    def has_set(self) -> bool:
        """Whether the session has a policy set (or reference facts), not only rulesets."""
        return bool(self.paths or self.with_paths or self.texts is not None)

    def add_diagnostics(self, diags) -> None:
        self.diagnostics.extend(diags)

    def run_until(self, stage: str) -> bool:
        """Run the stages up to and including ``stage`` (those not run yet), stopping after a stage
        that reports an error. True when ``stage``'s product was made (its diagnostics may hold
        errors: ``lint`` reads a program that does not check), False when an earlier stage's
        errors stopped the run."""
        if stage not in STAGE_NAMES:
            raise ValueError(f"unknown stage '{stage}' (stages: {', '.join(STAGE_NAMES)})")
        for st in STAGES:
            if st.name not in self.products:
                if self._stopped is not None:
                    return False
                before = len(self.diagnostics)
                product = self.profile.time(st.name, lambda st=st: st.function(self))
                if st.name == "parse":
                    self.diagnostics.extend(product.diagnostics)
                self.products[st.name] = product
                if any(d.is_error for d in self.diagnostics[before:]):
                    self._stopped = st.name
            if st.name == stage:
                return True
        return False

    def product(self, stage: str) -> Any:
        """The product of ``stage``, running what it needs first; None when errors stopped the run
        before it."""
        self.run_until(stage)
        return self.products.get(stage)

    @property
    def stopped(self) -> Optional[str]:
        """The stage whose errors stopped the run, or None."""
        return self._stopped

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    # ---- products by name

    @property
    def workspace(self) -> Workspace:
        return self.product("parse")

    @property
    def sources(self) -> SourceLines:
        return self.product("parse").sources

    @property
    def program(self):
        return self.product("check")

    @property
    def compiled(self):
        return self.product("compile")

    @property
    def result(self):
        return self.product("run")

    @property
    def report(self):
        """The report: with findings when the run got that far, otherwise with the diagnostics
        that stopped it (nothing runs on a policy set that does not check)."""
        self.run_until("findings")
        if "findings" in self.products:
            return self.products["findings"]
        report = self._empty_report()
        report.diagnostics = sort_diagnostics(self.diagnostics)
        return report

    def render(self, format: Optional[str] = None, explain: Optional[bool] = None) -> str:
        """The report as text in ``format`` (the session's own by default): the ``render`` stage."""
        if format is not None:
            self.format = format
        if explain is not None:
            self.explain = explain
        self.products.pop("render", None)
        return self.products["render"] if self.run_until("render") else ""

    def _empty_report(self):
        from .findings.report import Report

        ws = self.products.get("parse")
        program = self.products.get("check")
        facts = program.facts if program is not None else []
        return Report(findings=[], facts=len(facts), derived_facts=0,
                      criteria_run=len(program.criteria) if program is not None else 0, as_of=self.as_of,
                      rulesets=[r for r in program.rulesets if r.name != "schema"] if program is not None else [],
                      inputs=list(ws.inputs) if ws else [], diagnostics=[], sources=ws.sources if ws else None,
                      instruments={f.id: f.title or f.id for f in facts if f.type in ("instrument", "agreement")},
                      references=list(ws.references) if ws else [])

    # ---- debugging views

    def dump(self, stage: str) -> Any:
        """A stage's product as plain JSON data (``--dump``): ``ast`` (the syntax trees), ``program``
        (checked facts, criteria, rules, accepts, tests), ``compiled`` (the durable_rules
        definition and the tables behind its names), ``run`` (matches, derived facts and their
        derivations). None when errors stopped the run before that stage."""
        from .dump import dump_compiled, dump_program, dump_run

        if stage == "ast":
            ws = self.product("parse")
            return {"modules": [A.to_data(m) for m in ws.modules]}
        if stage == "program":
            p = self.product("check")
            return None if p is None else dump_program(p)
        if stage == "compiled":
            if self.engine != "durable":
                return None
            c = self.product("compile")
            return None if c is None else dump_compiled(c)
        if stage == "run":
            r = self.product("run")
            return None if r is None else dump_run(r)
        raise ValueError(f"unknown stage '{stage}' for --dump (one of: {', '.join(DUMPABLE)})")


# ---- reference sets ---------------------------------------------------------------------------------------------

_UNKNOWN_ID = re.compile(r"^unknown (\w+) '(.+)'$")
_reference_index: Optional[dict[str, tuple[str, str]]] = None


def shipped_reference_index() -> dict[str, tuple[str, str]]:
    """Fact id -> (type, the title of the shipped reference set that defines it): the facts of
    :data:`REFERENCE_DIR`, read once per process, only when a reference is unknown."""
    global _reference_index
    if _reference_index is None:
        from .sources.loader import load_paths

        index: dict[str, tuple[str, str]] = {}
        if REFERENCE_DIR.is_dir():
            loaded = load_paths([REFERENCE_DIR])
            for m in loaded.modules:
                name = reference_set_title(m.file)
                for item in m.items:
                    if isinstance(item, A.Fact):
                        index.setdefault(item.id, (item.type_name, name))
        _reference_index = index
    return _reference_index


def reference_set_title(file: str) -> str:
    """How a shipped reference file is named in help lines."""
    base = os.path.basename(file)
    if base.startswith("who-ssl"):
        return "the shipped WHO safeguards list"
    if base.startswith("sdg"):
        return "the shipped SDG targets"
    if base.startswith("gcm"):
        return "the shipped GCM objectives"
    return "the shipped international conventions"


def reference_option_text() -> str:
    """How to name the shipped reference facts on the command line, from here."""
    here = Path("policies") / "reference"
    try:
        if here.resolve() == REFERENCE_DIR or (here.is_dir() and os.path.samefile(here, REFERENCE_DIR)):
            return "--with policies/reference"
    except OSError:
        pass
    return "--with reference"


def _with_reference_hints(diags: list[Diagnostic], s: "Session") -> list[Diagnostic]:
    """An unknown id that a shipped reference set defines gets a help line naming that set,
    instead of a did-you-mean that points the wrong way."""
    out = []
    for d in diags:
        m = _UNKNOWN_ID.match(d.message) if d.code == "E203" else None
        if m:
            hit = shipped_reference_index().get(m.group(2))
            if hit is not None and (m.group(1) in (hit[0], "fact")):
                d = Diagnostic(d.code, d.message, d.span, d.label, d.labels, d.notes,
                               f"{m.group(2)} is defined in {hit[1]}: add `{reference_option_text()}`", d.severity)
        out.append(d)
    return out


@dataclass
class LintResult:
    """What ``lint`` reports: the diagnostics of parsing and checking (nothing runs)."""

    diagnostics: list[Diagnostic]
    sources: SourceLines
    program: Any = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]


def lint(session: Session) -> LintResult:
    """Stop ``session`` after the check stage: its diagnostics, sorted."""
    session.run_until("check")
    return LintResult(sort_diagnostics(session.diagnostics), session.sources, session.products.get("check"))
