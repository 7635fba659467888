"""The check stage: names and references resolved, facts validated against the schema, criteria
and rules turned into the resolved form both engines run (:mod:`.ir`).

Checks collect diagnostics and keep going; the caller decides whether to stop.
"""

from __future__ import annotations

from typing import Optional

from ..diagnostics import Diagnostic, Label, did_you_mean, sort_diagnostics
from ..syntax import ast as A
from .cascades import broken_names, without_cascades
from .criteria import _check_accept, _check_criterion, _check_rule
from .facts import NeedsTree, check_facts
from .ir import FactRecord, Program, RulesetInfo, TestIR
from .schema import Schema, build_schema

# ---- entry point ---------------------------------------------------------------------------------------------


def check(modules: list[A.Module], schema: Optional[Schema] = None) -> Program:
    """Check every module as one program: the schema from all declarations, one fact namespace,
    criteria and rules resolved, tests and accepts validated. ``modules`` are in load order.
    ``schema``: the schema their declarations make, already built without a diagnostic (by an
    earlier check of the same declarations)."""
    diags: list[Diagnostic] = []
    sd: list[Diagnostic] = []
    if schema is None:
        schema, sd = build_schema(modules)
        diags += sd
    program = Program(schema=schema)
    criteria_ast: list[tuple[A.Criterion, str]] = []
    rules_ast: list[tuple[A.Rule, str]] = []
    tests_ast: list[tuple[A.TestDecl, str]] = []
    accepts_ast: list[A.Accept] = []
    fingerprint = schema.fingerprint() if any(m.facts_only for m in modules) else ""
    segments: list[list[A.Fact] | A.Module] = []  # each module's facts, in load order
    for m in modules:
        if m.facts_only:
            segments.append(m)
            continue
        ruleset = ""
        for item in m.items:
            if isinstance(item, A.RulesetDecl):
                ruleset = item.name
                version = ""
                for f in item.fields:
                    if f.name == "version" and f.value.kind == "string":
                        version = f.value.value
                if any(r.name == item.name for r in program.rulesets):
                    prev = next(r for r in program.rulesets if r.name == item.name)
                    if prev.span is not None and prev.span.file != item.span.file:
                        diags.append(_dup_named("ruleset", item.name, item.span, prev.span))
                else:
                    program.rulesets.append(RulesetInfo(item.name, item.title or item.name, version, item.span))
        ruleset = next((i.name for i in m.items if isinstance(i, A.RulesetDecl)), "")
        facts = []
        segments.append(facts)
        for item in m.items:
            if isinstance(item, A.Fact):
                facts.append(item)
            elif isinstance(item, A.Criterion):
                criteria_ast.append((item, ruleset))
            elif isinstance(item, A.Rule):
                rules_ast.append((item, ruleset))
            elif isinstance(item, A.TestDecl):
                tests_ast.append((item, ruleset))
            elif isinstance(item, A.Accept):
                accepts_ast.append(item)
    program.facts = _check_segments(schema, segments, fingerprint, diags, clean_schema=not sd)
    diags += parent_cycles(schema, program.facts)
    seen: dict[str, A.Span] = {}
    for c, rs in criteria_ast:
        if c.code in seen:
            diags.append(_dup_named("criterion", c.code, c.code_span, seen[c.code]))
            continue
        seen[c.code] = c.code_span
        ir = _check_criterion(c, schema, diags, rs)
        if ir is not None:
            program.criteria.append(ir)
    seen_rules: dict[str, A.Span] = {}
    for r, rs in rules_ast:
        if r.name in seen_rules:
            diags.append(_dup_named("rule", r.name, r.name_span, seen_rules[r.name]))
            continue
        if r.name in seen:  # criteria and rules share one namespace (the engine's, `explain`'s)
            diags.append(Diagnostic.make("E205", f"rule '{r.name}' has the name of a criterion", r.name_span,
                                         labels=[Label(seen[r.name], "the criterion")],
                                         help="criteria and rules share one namespace: rename one of them"))
            continue
        seen_rules[r.name] = r.name_span
        ir = _check_rule(r, schema, diags, rs)
        if ir is not None:
            program.rules.append(ir)
    codes = {c: s for c, s in seen.items()}
    for t, rs in tests_ast:
        for e in t.expectations:
            if e.code not in codes:
                diags.append(Diagnostic.make("E211", f"unknown criterion '{e.code}'", e.code_span,
                                             help=did_you_mean(e.code, codes)))
        program.tests.append(TestIR(t.name, t.given, t.expectations, t.span, rs))
    by_id = {f.id: f for f in program.facts}
    for a in accepts_ast:
        ir = _check_accept(a, codes, by_id, diags)
        if ir is not None:
            program.accepts.append(ir)
    # what a statement that did not parse (or a fact or field of an unknown type) declared is
    # reported once, there, not again at every use
    program.broken = broken_names(modules, schema, diags)
    program.diagnostics = sort_diagnostics(without_cascades(diags, program.broken))
    return program


def _check_segments(schema: Schema, segments: list, fingerprint: str, diags: list[Diagnostic],
                    clean_schema: bool) -> list[FactRecord]:
    """Check the facts of every module as one namespace. A module of the check cache
    (:class:`.cache.CachedModule`) brings its stored records when they were checked against this
    same vocabulary, or its tree otherwise; if a stored record is involved in anything to report,
    everything is checked again from the trees, so diagnostics always point into the source. After
    a check with nothing to report, the modules whose records were not stored yet are stored."""
    from ..sources.cache import store_records

    def flatten(use_records: bool) -> tuple[list, list]:
        facts: list = []
        cached = []
        for seg in segments:
            if isinstance(seg, list):
                facts += seg
                continue
            start = len(facts)
            restored = use_records and seg.records is not None and seg.schema == fingerprint
            facts += seg.records if restored else seg.items
            cached.append((seg, start, len(facts) - start, restored))
        return facts, cached

    facts, cached = flatten(True)
    if not cached:
        return check_facts(schema, facts, diags)
    found: list[Diagnostic] = []
    own: Optional[list[dict]] = [] if clean_schema and not all(c[3] for c in cached) else None
    try:
        records = check_facts(schema, facts, found, own_values=own)
    except NeedsTree:
        facts, cached = flatten(False)
        found, own = [], None
        records = check_facts(schema, facts, found)
    diags += found
    if not found and own:
        for m, start, n, restored in cached:
            if not restored:
                store_records(m, fingerprint, [(r.id, r.type, r.title, v, r.span)
                                               for r, v in zip(records[start:start + n], own[start:start + n])])
    return records


def parent_cycles(schema: Schema, facts: list[FactRecord]) -> list[Diagnostic]:
    """E219 for facts whose ``parent`` references (a ``parent`` field that refers to the fact's own
    type, as jurisdictions have) lead back to themselves: one diagnostic per cycle, naming every
    fact in it, at the one written first."""
    hierarchical = {name for name, t in schema.types.items()
                    if (ft := t.fields.get("parent")) is not None and ft.type.kind == "ref" and ft.type.name == name}
    if not hierarchical:
        return []
    parent = {f.id: f.values["parent"] for f in facts if f.type in hierarchical and isinstance(f.values.get("parent"), str)}
    by_id = {f.id: f for f in facts}
    out, done = [], set()
    for start in parent:
        path, node = [], start
        while node in parent and node not in done and node not in path:
            path.append(node)
            node = parent[node]
        if node in path:  # a cycle: from the first visit of node to the end of path
            cycle = path[path.index(node):]
            first = min(cycle, key=lambda i: (by_id[i].span or A.Span("", 0, 0, 0, 0))[:3])
            ring = cycle[cycle.index(first):] + cycle[:cycle.index(first)] + [first]
            f = by_id[first]
            out.append(Diagnostic.make(
                "E219", f"{f.type} '{first}' lies within itself through `parent`: {' -> '.join(ring)}", f.span,
                label="part of a cycle", help="every `parent` must lead up to a jurisdiction without a parent"))
        done.update(path)
    return out


def _dup_named(what: str, name: str, span: A.Span, first: A.Span) -> Diagnostic:
    return Diagnostic.make("E205", f"{what} '{name}' is defined twice", span,
                           labels=[Label(first, "first defined here")],
                           notes=[f"first defined at {first.file}:{first.line}:{first.column}"])


def check_test_facts(program: Program, test: TestIR, reference: list[FactRecord]) -> tuple[list[FactRecord], list[Diagnostic]]:
    """The facts of one test: its `given` facts checked in a namespace shared with the rulesets'
    reference facts (but not with the policy set)."""
    diags: list[Diagnostic] = []
    extra = {f.id: f for f in reference}
    given = check_facts(program.schema, test.given, diags, extra=extra)
    return list(reference) + given, sort_diagnostics(diags)
