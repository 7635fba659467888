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
from .references import (FRAMEWORKS_DIR, REFERENCE_DIR, defines_frameworks, names_frameworks,  # noqa: F401
                         resolve_reference, shipped_frameworks, with_reference_hints)
from .runtime import paused_gc, peak_rss
from .syntax import ast as A

RULESETS_DIR = (Path(__file__).resolve().parent / "rulesets").resolve()
#: How the files of the built-in rulesets are named in diagnostics, proofs and reports: their path
#: inside the installed package (where `pip show -f coherence` lists them).
BUILTIN_PREFIX = "coherence_rules/rulesets/"
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

    def ruleset_fact_ids(self, program) -> frozenset:
        """The ids of the facts the rulesets themselves hold (reference data such as the checklist
        of ``essential_topic``): part of a finding's proof, never listed as the set's facts."""
        files = {m.file for m in self.rule_modules}
        return frozenset(f.id for f in program.facts if f.span is not None and f.span.file in files)

    def join(self, loaded, *, reference: bool) -> None:
        """Add what ``loaded`` read: as reference facts (joining the set without being reported as
        part of it) or as the set's own files; its diagnostics and source texts either way."""
        if reference:
            self.reference_modules += loaded.modules
            self.references += loaded.files
        else:
            self.policy_modules += loaded.modules
            self.inputs += loaded.files
        self.diagnostics += loaded.diagnostics
        for f in loaded.files:
            self.sources.copy(loaded.sources, f)

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
        #: shown file name -> real path of each ruleset file read (``coherence_rules/rulesets/core.rules`` -> ...)
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
                    self.sources.copy(loaded.sources, f)
        self._session: Optional[Session] = None
        self._builtin_tests: Optional[list[Diagnostic]] = None
        self._checked_alone: Any = False

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

    def builtin_test_diagnostics(self) -> list[Diagnostic]:
        """The diagnostics of the built-in rulesets' tests on the built-in rulesets alone (none, for
        the shipped ones): what they report beyond these, the user's rulesets cause."""
        if self._builtin_tests is None:
            if all(f.startswith(BUILTIN_PREFIX) for f in self.files):
                alone = self.alone()
            else:
                names = sorted({Path(f).stem for f in self.files if f.startswith(BUILTIN_PREFIX)} - {"schema"})
                alone = Rulesets(names).alone()
            alone.run_until("check")
            self._builtin_tests = _test_diagnostics(alone.program, alone.workspace, builtin=True)
        return self._builtin_tests

    def checked_alone(self):
        """``(modules, program)``: the rulesets' modules without their criteria, rules and tests,
        and the program of the rulesets checked alone; None when the rulesets report anything
        when checked alone, or hold accepts (then a set's check cannot take their criteria as
        checked). Made once (see :func:`_check_on_shared_rules`)."""
        if self._checked_alone is False:
            self._checked_alone = None
            alone = self.alone()
            alone.run_until("check")
            program = alone.products.get("check")
            if program is not None and not alone.diagnostics and not program.diagnostics and not program.accepts \
                    and not any(isinstance(i, A.Accept) for m in self.modules for i in m.items):
                from dataclasses import replace

                drop = (A.Criterion, A.Rule, A.TestDecl)
                stripped = [m if m.facts_only else replace(m, items=[i for i in m.items if not isinstance(i, drop)])
                            for m in self.modules]
                self._checked_alone = (stripped, program)
        return self._checked_alone

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
            ws.sources.copy(rules.sources, f)
    with paused_gc():
        if s.with_paths:
            ws.join((s.load_paths or load_paths)([resolve_reference(p) for p in s.with_paths]), reference=True)
        if s.texts is not None:
            ws.join((s.load_texts or _load_texts)(s.texts), reference=False)
        elif s.paths:
            ws.join((s.load_paths or load_paths)(s.paths), reference=False)
        if names_frameworks(ws.policy_modules) and not defines_frameworks(ws.reference_modules):
            # The SDG targets and GCM objectives are fixed lists: a set that names them gets the
            # shipped ones without --with (the WHO list and the conventions change by edition and
            # are named explicitly).
            ws.join(shipped_frameworks(s.texts is not None), reference=True)
        if ws.reference_modules and ws.inputs:
            # a file given as part of the set and through --with (`lint --each policies/* --with
            # policies/reference`) is read once, as the set's own
            own = {os.path.realpath(f) for f in ws.inputs}
            ws.reference_modules = [m for m in ws.reference_modules if os.path.realpath(m.file) not in own]
            ws.references = [f for f in ws.references if os.path.realpath(f) not in own]
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
        program = _check_on_shared_rules(s) if s.share_checked_rules else None
        if program is None:
            program = check(ws.modules)
    diags = list(program.diagnostics)
    try:
        stratify(program.rules)
    except NegationCycle as e:
        diags.append(cycle_diagnostic(program, e))
    # the tests' facts are checked even when something else has errors (lint reports all in one
    # run); what follows from an error already reported is left out
    if program.tests:
        from .checker.cascades import without_cascades

        if s.has_set and not ws.brings_rules():
            tests = s.rules.test_diagnostics()  # the rulesets' own tests: checked once
        else:
            tests = _test_diagnostics(program, ws, builtin=_builtin_tests_at_risk(ws))
        s.test_diagnostics = _builtin_tests_relocated(without_cascades(tests, program.broken), program, ws, s.rules)
        diags += s.test_diagnostics
    if s.has_set and s.stopped is None and not any(d.is_error for d in diags):  # not after parse errors
        diags += _ruleset_warnings(s, program)
    s.add_diagnostics(with_reference_hints(diags))
    return program


def _check_on_shared_rules(s: "Session"):
    """The check stage's program for a set that brings only facts and accepts (no criteria, rules
    or vocabulary) to rulesets that check without a diagnostic: the criteria, rules and tests of the
    rulesets checked alone, once (:meth:`Rulesets.checked_alone`), and everything else (the
    facts of every module, one namespace, and what follows from them) checked here as
    :func:`~.checker.check` checks it, on the rulesets' modules without their criteria, rules and
    tests. The program equals that of ``check(ws.modules)``: resolving a criterion or a rule
    depends only on the vocabulary, which such a set cannot change, and the rulesets alone report
    nothing. None when the shortcut does not apply (then the whole program is checked). Used by
    the batch and by warm re-checks (:class:`~coherence_rules.warm.WarmSession`), where checking the ~40 criteria and
    rules again was most of the check stage of a small set."""
    from .checker import check

    ws = s.workspace
    if not s.has_set or ws.brings_rules() or len(ws.rule_modules) != len(s.rules.modules):
        return None
    base = s.rules.checked_alone()
    if base is None:
        return None
    stripped, alone = base
    # accepts name criteria: checked here, after the facts, as check() checks them (in order)
    accepts: list = []
    own: list = []
    for m in ws.reference_modules + ws.policy_modules:
        if m.facts_only or not any(isinstance(i, A.Accept) for i in m.items):
            own.append(m)
            continue
        from dataclasses import replace

        accepts += [i for i in m.items if isinstance(i, A.Accept)]
        own.append(replace(m, items=[i for i in m.items if not isinstance(i, A.Accept)]))
    program = check(stripped + own, schema=alone.schema)  # the set declares nothing: the rulesets' schema
    program.criteria, program.rules, program.tests = list(alone.criteria), list(alone.rules), list(alone.tests)
    if accepts:
        from .checker.cascades import without_cascades
        from .checker.criteria import _check_accept

        codes = {c.code: c.span for c in alone.criteria}
        by_id = {f.id: f for f in program.facts}
        diags: list[Diagnostic] = []
        for a in accepts:
            ir = _check_accept(a, codes, by_id, diags)
            if ir is not None:
                program.accepts.append(ir)
        if diags:
            program.diagnostics = sort_diagnostics(without_cascades(list(program.diagnostics) + diags, program.broken))
    return program


#: Built-in types whose facts the core criteria look at: a set of them run only under other
#: rulesets that look at none of them is probably missing `--ruleset core`.
_CORE_SUBJECTS = ("objective", "measure", "agreement", "clause", "law", "role", "instrument")


def _ruleset_warnings(s: "Session", program) -> list[Diagnostic]:
    """W411 when no criterion ran; W412 when `--ruleset` left out the core criteria and nothing that
    ran looks at the set's objectives, measures, agreements..."""
    if not program.criteria:
        return [Diagnostic.make("W411", "no criterion ran: the rulesets hold none", None,
                                help="run a ruleset with criteria: the built-in `core`, or yours")]
    names = s.rules.names
    if names is None or "core" in names:
        return []
    own = set(s.workspace.inputs)
    used = {f.type for f in program.facts if f.span is not None and f.span.file in own and f.type in _CORE_SUBJECTS}
    tested = {p.type for c in program.criteria for p in c.patterns} | {p.type for r in program.rules for p in r.patterns}
    if used and not used & tested:
        return [Diagnostic.make(
            "W412", f"the rulesets that ran ({', '.join(names)}) check none of the set's {', '.join(sorted(used))} "
                    "facts: `--ruleset` replaced the core criteria", None,
            help="add `--ruleset core` to run the core criteria too")]
    return []


def _builtin_tests_relocated(diags: list[Diagnostic], program, ws: "Workspace", rules: "Rulesets") -> list[Diagnostic]:
    """The diagnostics of the built-in rulesets' tests, as a user of them needs to see them. The
    built-in tests pass on the built-in rulesets, so what they report with the user's rulesets or
    vocabulary is caused by those: such a diagnostic is reported once, at the user's statement
    that causes it (the fact whose id a test's fact repeats, the field the user declared), with a
    note naming the tests, never as dozens of errors inside the built-in files. A built-in test's
    own problem (one it has on the built-in rulesets alone) is reported as it is."""
    builtin = [d for d in diags if d.span is not None and d.span.file.startswith(BUILTIN_PREFIX)]
    user_files = {m.file for m in ws.modules if not m.file.startswith(BUILTIN_PREFIX)}
    if not builtin or not user_files:
        return diags
    baseline = {(d.code, d.message, d.span) for d in rules.builtin_test_diagnostics()}
    out = [d for d in diags if d not in builtin]
    groups: dict[tuple, list[tuple[Diagnostic, Any]]] = {}
    for d in builtin:
        if (d.code, d.message, d.span) in baseline:
            out.append(d)
            continue
        # a test's span is its name's: the test a line belongs to is the last one starting above it
        test = max((t for t in program.tests if t.span.file == d.span.file and t.span.line <= d.span.line),
                   key=lambda t: t.span.line, default=None)
        where = _user_location(d, ws, user_files)
        groups.setdefault((d.code, d.message, where), []).append((d, test))
    for (code, message, where), hits in groups.items():
        first = hits[0][0]
        named = [f'"{t.name}" ({t.span.file}:{t.span.line})' for _, t in hits if t is not None]
        tests = f"{len(hits)} built-in test" + ("s" if len(hits) != 1 else "")
        notes = [f"the built-in tests are checked with your rulesets' vocabulary and facts; {tests} report "
                 f"this: " + ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else ""),
                 f"first reported at {first.span.file}:{first.span.line}:{first.span.column}"]
        out.append(Diagnostic(code, f"{message}: {tests} fail because of it", where or first.span,
                              "the built-in tests fail because of this", (), tuple(notes), first.help,
                              first.severity))
    return out


def _user_location(d: Diagnostic, ws: "Workspace", user_files: set[str]):
    """Where in the user's sources a built-in test's diagnostic comes from: a label there (the
    first definition of a repeated id), the user's declaration of the field the message names,
    or the user's first vocabulary declaration; None when there is none."""
    for label in d.labels:
        if label.span.file in user_files:
            return label.span
    decls = [i for m in ws.modules if m.file in user_files and not m.facts_only for i in m.items
             if isinstance(i, (A.TypeDecl, A.EnumDecl))]
    named = re.search(r"field '([^']+)'", d.message)
    if named:
        for decl in decls:
            for fd in getattr(decl, "fields", ()):
                if fd.name == named.group(1):
                    return fd.span
    return decls[0].name_span if decls else None


def _test_diagnostics(program, ws: "Workspace", builtin: bool = True) -> list[Diagnostic]:
    """The diagnostics of the tests' `given` facts, each test checked in a namespace shared with
    the rulesets' reference facts (but not with the policy set); those of the built-in rulesets'
    tests only with ``builtin``."""
    from .checker import check_test_facts

    rule_files = {m.file for m in ws.rule_modules}
    reference = [f for f in program.facts if f.span is not None and f.span.file in rule_files]
    out: list[Diagnostic] = []
    for t in program.tests:
        if builtin or not t.span.file.startswith(BUILTIN_PREFIX):
            out += check_test_facts(program, t, reference)[1]
    return out


def _builtin_tests_at_risk(ws: "Workspace") -> bool:
    """Whether the run's own sources (anything not built in) can make the built-in rulesets' tests
    fail to check: they declare vocabulary (types, enums, ``extend``), or a ruleset of theirs holds
    facts, which share the tests' namespace. Otherwise the check stage leaves those tests out: on
    the built-in vocabulary alone they check (the test suite runs every one of them), and checking
    the ~100 of them was a third of the check stage of every run. The tests of every other
    ruleset are always checked: a ruleset whose tests do not check is broken (docs/language.md)."""
    for m in ws.modules:
        if m.facts_only or m.file.startswith(BUILTIN_PREFIX):
            continue
        if any(isinstance(i, (A.TypeDecl, A.EnumDecl)) for i in m.items):
            return True
    return any(isinstance(i, A.Fact) for m in ws.rule_modules if not m.file.startswith(BUILTIN_PREFIX)
               for i in m.items)


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
                        max_derived=s.max_derived or engine.DEFAULT_MAX_DERIVED, compiled=s.compiled,
                        reuse_child=s.reuse_engine_child)
    s.add_diagnostics(result.diagnostics)
    return result


def _findings(s: "Session"):
    from .findings.build import build_findings

    program, result = s.program, s.result
    facts = {f.id: f for f in program.facts}
    facts.update(result.derived)
    with paused_gc():
        findings, accepts, warnings = build_findings(program, result, facts, s.as_of,
                                                     reference=s.workspace.ruleset_fact_ids(program))
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
        #: check a set that brings only facts against the rulesets' criteria and rules as checked
        #: once (:func:`_check_on_shared_rules`): the same program, for less (batch, warm re-checks)
        self.share_checked_rules = False
        #: make the engine run in the compiled ruleset's long-lived child rather than a child of
        #: its own (``engine.child``: for a process that checks one set again and again)
        self.reuse_engine_child = False
        #: how the parse stage reads paths (``sources.loader.load_paths`` when None); a
        #: :class:`~coherence_rules.warm.WarmSession` gives one that re-reads only the files that changed
        self.load_paths: Optional[Callable] = None
        #: how the parse stage reads ``texts`` (:func:`_load_texts` when None); a
        #: :class:`~coherence_rules.warm.SourceMemo` gives one that re-reads only the texts that changed
        self.load_texts: Optional[Callable] = None

    # ---- running

    @property
    def has_set(self) -> bool:
        """Whether the session has a policy set (or reference facts), not only rulesets."""
        return bool(self.paths or self.with_paths or self.texts is not None)

    def add_diagnostics(self, diags) -> None:
        self.diagnostics.extend(diags)

    def run_until(self, stage: str, *, past_errors: bool = False) -> bool:
        """Run the stages up to and including ``stage`` (those not run yet), stopping after a stage
        that reports an error. True when ``stage``'s product was made (its diagnostics may hold
        errors: ``lint`` reads a program that does not check), False when an earlier stage's
        errors stopped the run. With ``past_errors`` the stages up to ``stage`` run even after
        errors (``lint`` checks what did parse); :attr:`stopped` still names the first stage with
        errors, so nothing after ``stage`` runs on such input."""
        if stage not in STAGE_NAMES:
            raise ValueError(f"unknown stage '{stage}' (stages: {', '.join(STAGE_NAMES)})")
        for st in STAGES:
            if st.name not in self.products:
                if self._stopped is not None and not past_errors:
                    return False
                before = len(self.diagnostics)
                product = self.profile.time(st.name, lambda st=st: st.function(self))
                if st.name == "parse":
                    self.diagnostics.extend(product.diagnostics)
                self.products[st.name] = product
                if self._stopped is None and any(d.is_error for d in self.diagnostics[before:]):
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
        from .findings.frameworks import FrameworkIndex
        from .findings.report import Report

        ws = self.products.get("parse")
        program = self.products.get("check")
        facts = program.facts if program is not None else []
        own = set(ws.inputs) if ws is not None else set()
        return Report(findings=[], facts=sum(1 for f in facts if f.span is not None and f.span.file in own),
                      derived_facts=0,
                      criteria_run=len(program.criteria) if program is not None else 0, as_of=self.as_of,
                      rulesets=[r for r in program.rulesets if r.name != "schema"] if program is not None else [],
                      inputs=list(ws.inputs) if ws else [], diagnostics=[], sources=ws.sources if ws else None,
                      instruments={f.id: f.title or f.id for f in facts if f.type in ("instrument", "agreement")},
                      references=list(ws.references) if ws else [],
                      title=set_title(ws) if ws else None,
                      jurisdictions=set_jurisdictions(facts, own),
                      framework_index=FrameworkIndex.of(facts, own))

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


# ---- what a policy set is --------------------------------------------------------------------------------------

_LEVELS = ("global", "regional", "bilateral", "national", "subnational", "local")


def set_title(ws: Workspace) -> Optional[str]:
    """The title a person would give the set: the first heading of its README, else of its first
    Markdown source; None when it has neither."""
    mds = [f for f in ws.inputs if f.endswith(".md")]
    for f in sorted(mds, key=lambda f: (os.path.basename(f).lower() != "readme.md", f)):
        for line in (ws.sources.text(f) or "").split("\n"):
            if line.startswith("# "):
                return line[2:].strip() or None
    return None


def set_jurisdictions(facts, own: set) -> list[dict]:
    """The jurisdictions written in the set, the highest level first."""
    js = [f for f in facts if f.type == "jurisdiction" and f.span is not None and f.span.file in own]
    rank = {lv: i for i, lv in enumerate(_LEVELS)}
    js.sort(key=lambda f: (rank.get(f.values.get("level"), len(rank)), f.id))
    return [{"id": f.id, "title": f.title or f.id, "level": f.values.get("level")} for f in js]


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
    """Stop ``session`` after the check stage: its diagnostics, sorted. The check stage runs even
    when some sources do not parse, on the statements that do, so one run reports every
    independent error (the check stage leaves out what follows from a statement that did not
    parse)."""
    session.run_until("check", past_errors=True)
    return LintResult(sort_diagnostics(session.diagnostics), session.sources, session.products.get("check"))
