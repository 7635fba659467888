"""Check stage: resolve names and references, validate facts against the schema, and turn criteria
and rules into a resolved form (:class:`CriterionIR`, :class:`RuleIR`) that both engines run.

Checks collect diagnostics and keep going; the caller decides whether to stop.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..syntax import ast as A
from ..diagnostics import Diagnostic, Label, did_you_mean, sort_diagnostics
from .schema import FieldType, Schema, TypeSpec, ValueError_, build_schema, check_member, parse_date, type_value

SCORE_LABELS = {3: "indivisible", 2: "reinforcing", 1: "enabling", 0: "consistent", -1: "constraining",
                -2: "counteracting", -3: "cancelling"}


# ---- checked facts -----------------------------------------------------------------------------------


@dataclass(slots=True)
class FactRecord:
    """A fact after checking: typed values (str, int/float, date, bool, tuples for lists),
    inherited fields filled in. ``span`` is the header line's location (None for derived facts)."""

    id: str
    type: str
    title: Optional[str]
    values: dict[str, Any]
    span: Optional[A.Span]
    derived: bool = False

    @property
    def cite(self) -> Optional[str]:
        c = self.values.get("cite")
        return c if isinstance(c, str) else None


# ---- resolved conditions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathRef:
    """A value reached from a bound fact: ``binding`` (None: the pattern's own fact), then the
    ``fields`` followed through references; no fields means the fact's id."""

    binding: Optional[str]
    fields: tuple[str, ...]
    type: FieldType


@dataclass(frozen=True)
class Const:
    value: Any
    type: Optional[FieldType] = None


@dataclass(frozen=True)
class NullRef:
    pass


@dataclass(frozen=True)
class TodayRef:
    pass


OperandIR = Union[PathRef, Const, NullRef, TodayRef]


@dataclass(frozen=True)
class Cmp:
    op: str
    left: OperandIR
    right: OperandIR


@dataclass(frozen=True)
class InSet:
    left: OperandIR
    items: tuple


@dataclass(frozen=True)
class Has:
    """``list contains item``."""

    left: OperandIR
    item: OperandIR


@dataclass(frozen=True)
class Match:
    left: OperandIR
    pattern: str
    regex: Any = field(compare=False, hash=False, default=None)


@dataclass(frozen=True)
class AllOf:
    items: tuple


@dataclass(frozen=True)
class AnyOf:
    items: tuple


@dataclass(frozen=True)
class NotOf:
    item: Any


CondIR = Union[Cmp, InSet, Has, Match, AllOf, AnyOf, NotOf]


@dataclass
class PatternIR:
    kind: str  # match | not | exists
    binding: Optional[str]
    type: str
    cond: Optional[CondIR]
    span: A.Span
    source: str = ""  # the pattern as written, for traces


@dataclass
class CriterionIR:
    code: str
    title: str
    dimension: str
    score: int
    source: str
    message: str
    advice: str
    patterns: list[PatternIR]
    primary: Optional[str]
    docs: dict[str, str]
    span: A.Span
    ruleset: str = ""

    @property
    def label(self) -> str:
        return SCORE_LABELS[self.score]


@dataclass
class RuleIR:
    name: str
    title: str
    patterns: list[PatternIR]
    derive_type: str
    derive: dict[str, OperandIR]
    span: A.Span
    ruleset: str = ""


@dataclass
class AcceptIR:
    criterion: str
    ids: list[str]
    reason: str
    until: Optional[dt.date]
    span: A.Span


@dataclass
class TestIR:
    name: str
    given: list[A.Fact]
    expectations: list[A.Expectation]
    span: A.Span
    ruleset: str = ""


@dataclass
class RulesetInfo:
    name: str
    title: str
    version: str
    span: Optional[A.Span]


@dataclass
class Program:
    """Everything a run needs, checked."""

    schema: Schema
    facts: list[FactRecord] = field(default_factory=list)
    criteria: list[CriterionIR] = field(default_factory=list)
    rules: list[RuleIR] = field(default_factory=list)
    tests: list[TestIR] = field(default_factory=list)
    accepts: list[AcceptIR] = field(default_factory=list)
    rulesets: list[RulesetInfo] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


# ---- facts ----------------------------------------------------------------------------------------------------


class NeedsTree(Exception):
    """Raised by :func:`check_facts` when a fact restored from the check cache is involved in a
    diagnostic: the diagnostic needs spans that only the syntax tree has."""


def check_facts(schema: Schema, facts: list[A.Fact | tuple], diags: list[Diagnostic],
                extra: Optional[dict[str, FactRecord]] = None,
                own_values: Optional[list[dict]] = None) -> list[FactRecord]:
    """Validate facts, resolve references and fill inherited fields. ``extra`` holds facts already
    checked that share the namespace (the rulesets' reference facts when checking a test).

    A fact may also be a record restored from the check cache, ``(id, type, title, values,
    span)``, checked against this same vocabulary in an earlier run: only the passes across facts
    (duplicate ids, references, inherited and required fields) run on it, and :class:`NeedsTree`
    is raised if any of them finds something to report about it. ``own_values``, when given,
    receives a copy of each record's values as written, before inheritance (what the check cache
    stores)."""
    records: list[FactRecord] = []
    by_id: dict[str, FactRecord] = dict(extra or {})
    first_span: dict[str, A.Span] = {k: v.span for k, v in by_id.items() if v.span is not None}
    types = schema.types
    ref_fields: list[tuple[dict, str, Any, Optional[A.Value], FieldType]] = []  # (values, field, value, node, type)
    nodes: list[Optional[A.Fact]] = []  # each record's syntax node (None: restored)
    restored: set[str] = set()
    refs_of: dict[str, tuple] = {}  # type -> (reference fields, whether it inherits)
    for f in facts:
        if f.__class__ is tuple:  # a record from the check cache
            fid, tname, title, values, span = f
            if fid in by_id:
                raise NeedsTree(fid)
            refs = refs_of.get(tname)
            if refs is None:
                if tname not in types:
                    raise NeedsTree(fid)
                refs = refs_of[tname] = (
                    [(n, spec.type, spec.type.name if spec.type.kind == "ref" else spec.type.item.name)
                     for n, spec in types[tname].fields.items()
                     if spec.type.kind == "ref" or (spec.type.kind == "list" and spec.type.item.kind == "ref")],
                    bool(types[tname].inherits))
            if refs[1]:
                values = dict(values)  # inheritance adds to it; the stored record stays as written
            rec = FactRecord(fid, tname, title, values, span)
            by_id[fid] = rec
            restored.add(fid)
            records.append(rec)
            nodes.append(None)
            for name, ftype, target_type in refs[0]:
                if name in values:
                    ref_fields.append((values, name, values[name], None, target_type))
            continue
        t = types.get(f.type_name)
        if t is None:
            diags.append(Diagnostic.make("E202", f"unknown type '{f.type_name}'", f.type_span, label="no such type",
                                         help=did_you_mean(f.type_name, types)))
            continue
        if f.id in by_id:
            if f.id in restored:
                raise NeedsTree(f.id)
            prev = first_span.get(f.id)
            diags.append(Diagnostic.make(
                "E201", f"duplicate id '{f.id}'", f.id_span, label="defined again here",
                labels=[Label(prev, "first defined here")] if prev else [],
                notes=[f"first defined at {prev.file}:{prev.line}:{prev.column}"] if prev else [],
                help="give each fact its own id"))
            continue
        values: dict[str, Any] = {}
        seen: dict[str, A.Span] = {}
        for fld in f.fields:
            if fld.name in seen:
                diags.append(Diagnostic.make("E306", f"field '{fld.name}' is set twice", fld.name_span,
                                             labels=[Label(seen[fld.name], "first set here")]))
                continue
            seen[fld.name] = fld.name_span
            spec = t.fields.get(fld.name)
            if spec is None:
                if fld.name in ("id", "title"):
                    msg = f"'{fld.name}' is written in the fact's header, not as a field"
                    diags.append(Diagnostic.make("E302", msg, fld.name_span))
                else:
                    diags.append(Diagnostic.make("E302", f"unknown field '{fld.name}' for type '{t.name}'",
                                                 fld.name_span, label=f"not a field of {t.name}",
                                                 help=did_you_mean(fld.name, t.fields) or
                                                 f"fields of {t.name}: {', '.join(t.fields)}"))
                continue
            try:
                value = type_value(fld.value, spec.type, schema, fld.name, diags)
            except ValueError_ as e:
                diags.append(e.diag)
                continue
            values[fld.name] = value
            if spec.type.kind == "ref" or (spec.type.kind == "list" and spec.type.item.kind == "ref"):
                ref_fields.append((values, fld.name, value, fld.value, spec.type))
        rec = FactRecord(f.id, t.name, f.title, values, f.type_span._replace(end_column=f.id_span.end_column) if f.type_span.line == f.id_span.line else f.type_span)
        by_id[f.id] = rec
        first_span[f.id] = f.id_span
        records.append(rec)
        nodes.append(f)  # for missing-field diagnostics below
    # references
    for values, name, value, vnode, ftype in ref_fields:
        if vnode is None:  # restored (``ftype`` is the target type): report nothing without the tree
            for item in (value if value.__class__ is tuple else (value,)):
                target = by_id.get(item)
                if target is None or target.type != ftype:
                    raise NeedsTree(name)
            continue
        target_type = ftype.name if ftype.kind == "ref" else ftype.item.name
        items = value if isinstance(value, tuple) else (value,)
        spans = [i.span for i in vnode.items] if vnode.kind == "list" else [vnode.span] * len(items)
        for item, span in zip(items, spans):
            target = by_id.get(item)
            if target is None:
                candidates = [k for k, r in by_id.items() if r.type == target_type]
                diags.append(Diagnostic.make("E203", f"unknown {target_type} '{item}'", span,
                                             label=f"no {target_type} with this id",
                                             help=did_you_mean(item, candidates)))
                values.pop(name, None)
            elif target.type != target_type:
                diags.append(Diagnostic.make("E204", f"'{item}' is {_a(target.type)}, but '{name}' expects {_a(target_type)}",
                                             span, label=f"expected {_a(target_type)}"))
                values.pop(name, None)
    if own_values is not None:
        own_values.extend(dict(r.values) for r in records)
    # inheritance, in dependency order
    done: set[str] = set()

    def fill(rec: FactRecord, depth: int = 0) -> None:
        done.add(rec.id)
        values = rec.values
        for fname, via in types[rec.type].inherits:
            if fname in values:
                continue
            src_id = values.get(via)
            src = by_id.get(src_id) if src_id.__class__ is str else None
            if src is None:
                continue
            if src.id not in done and depth < 50:
                fill(src, depth + 1)
            if fname in src.values:
                values[fname] = src.values[fname]

    inheriting = {name for name, t in types.items() if t.inherits}
    for rec in records:
        if rec.type in inheriting and rec.id not in done:
            fill(rec)
    # required fields
    required = {name: [(fname, spec) for fname, spec in t.fields.items() if not spec.optional]
                for name, t in types.items()}
    for rec, f in zip(records, nodes):
        if f is None and rec.type not in inheriting:
            continue  # stored complete, and nothing it has came from another fact
        values = rec.values
        for fname, spec in required[rec.type]:
            if fname not in values:
                if f is None:
                    raise NeedsTree(rec.id)
                if f.field(fname) is not None:
                    continue  # already reported as invalid
                diags.append(Diagnostic.make("E303", f"{rec.type} '{rec.id}' is missing required field '{fname}'",
                                             f.id_span, label=f"no '{fname}'",
                                             help=f"add `{fname}: ...` ({spec.type.describe()})"))
    return records


def _a(noun: str) -> str:
    """The noun with its indefinite article: 'an actor', 'a measure'."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


# ---- conditions ---------------------------------------------------------------------------------------------


class _Scope:
    """Names visible to one pattern's condition: earlier bindings and the pattern's own fact."""

    def __init__(self, schema: Schema, bindings: dict[str, str], own: Optional[str], own_binding: Optional[str]):
        self.schema = schema
        self.bindings = bindings  # name -> type
        self.own = own  # own type (None in templates / derive)
        self.own_binding = own_binding


def _path_type(schema: Schema, start: str, fields: list[str], span: A.Span, diags: list) -> Optional[FieldType]:
    t = schema.types[start]
    ft = FieldType("ref", start)
    for i, f in enumerate(fields):
        ft = t.field_type(f)
        if ft is None:
            diags.append(Diagnostic.make("E208", f"type '{t.name}' has no field '{f}'", span,
                                         label=f"not a field of {t.name}",
                                         help=did_you_mean(f, list(t.fields) + ["id", "title"])))
            return None
        if i < len(fields) - 1:
            if ft.kind != "ref":
                diags.append(Diagnostic.make("E216", f"'{f}' is {ft.describe()}: a path can only follow `ref` fields",
                                             span, help="bind the fact with its own pattern"))
                return None
            t = schema.types[ft.name]
    return ft


def _resolve_operand(op: A.Operand, scope: _Scope, diags: list) -> Optional[OperandIR | tuple]:
    """A resolved operand, or ``("word", text, span)`` for a bare word whose meaning depends on the
    other side (an enum member or a fact id), or None after a diagnostic."""
    if op.kind == "null":
        return NullRef()
    if op.kind == "today":
        return TodayRef()
    if op.kind == "fact_ref":
        return Const(op.parts[0], None)
    if op.kind == "literal":
        v = op.value
        if v.kind == "string":
            return Const(v.value, FieldType("string"))
        if v.kind == "number":
            return ("number", v, op.span)
        if v.kind == "date":
            d = parse_date(v.text)
            if d is None:
                diags.append(Diagnostic.make("E305", f"'{v.text}' is not a valid date", op.span))
                return None
            return Const(d, FieldType("date"))
        if v.kind == "bool":
            return Const(v.value, FieldType("bool"))
        return None
    parts = op.parts
    if any(not p for p in parts):
        diags.append(Diagnostic.make("E216", f"invalid path '{'.'.join(parts)}'", op.span))
        return None
    head = parts[0]
    if head in scope.bindings:
        ft = _path_type(scope.schema, scope.bindings[head], parts[1:], op.span, diags)
        binding = None if head == scope.own_binding else head
        return PathRef(binding, tuple(parts[1:]), ft) if ft else None
    if scope.own is not None and scope.schema.types[scope.own].field_type(head) is not None:
        ft = _path_type(scope.schema, scope.own, parts, op.span, diags)
        return PathRef(None, tuple(parts), ft) if ft else None
    if len(parts) == 1:
        return ("word", head, op.span)
    diags.append(Diagnostic.make("E207", f"unknown binding '{head}'", op.span, label="not bound in this `when` block",
                                 help=did_you_mean(head, scope.bindings)))
    return None


def _settle(x, other_type: Optional[FieldType], schema: Schema, diags: list, context: str) -> Optional[OperandIR]:
    """Give a bare word or number its type from the other side of a comparison."""
    if not isinstance(x, tuple):
        return x
    kind, val, span = x
    if kind == "number":
        if other_type is not None and other_type.kind == "date" and re.fullmatch(r"\d{4}", val.text):
            return Const(parse_date(val.text), FieldType("date"))
        return Const(val.value, FieldType("number"))
    word = val
    t = other_type.item if other_type is not None and other_type.kind == "list" else other_type
    if t is None:
        diags.append(Diagnostic.make("E209", f"cannot tell what '{word}' is", span,
                                     help="compare a field with a value: `field == value`; quote text values"))
        return None
    if t.kind == "enum":
        try:
            return Const(check_member(word, t.name, schema, span, context, diags), t)
        except ValueError_ as e:
            diags.append(e.diag)
            return None
    if t.kind == "ref":
        return Const(word, t)
    diags.append(Diagnostic.make("E209", f"'{word}' is a bare word but the other side is {t.describe()}", span,
                                 help='quote text: "..."' if t.kind == "string" else None))
    return None


def _type_of(x) -> Optional[FieldType]:
    if isinstance(x, PathRef):
        return x.type
    if isinstance(x, Const):
        return x.type
    if isinstance(x, TodayRef):
        return FieldType("date")
    return None


def _compatible(a: FieldType, b: FieldType) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind in ("enum", "ref"):
        return a.name == b.name
    if a.kind == "list":
        return _compatible(a.item, b.item)
    return True


def _resolve_cond(c: A.Condition, scope: _Scope, diags: list) -> Optional[CondIR]:
    if isinstance(c, (A.And, A.Or)):
        items = [_resolve_cond(i, scope, diags) for i in c.items]
        if any(i is None for i in items):
            return None
        return AllOf(tuple(items)) if isinstance(c, A.And) else AnyOf(tuple(items))
    if isinstance(c, A.Not):
        inner = _resolve_cond(c.item, scope, diags)
        return NotOf(inner) if inner is not None else None
    if isinstance(c, A.Compare):
        left = _resolve_operand(c.left, scope, diags)
        right = _resolve_operand(c.right, scope, diags)
        if left is None or right is None:
            return None
        if isinstance(left, NullRef) or isinstance(right, NullRef):
            other = right if isinstance(left, NullRef) else left
            if c.op not in ("==", "!="):
                diags.append(Diagnostic.make("E209", "only `== null` and `!= null` test presence", c.span))
                return None
            if not isinstance(other, PathRef):
                diags.append(Diagnostic.make("E209", "`null` is compared with a field", c.span,
                                             help="write `field == null`"))
                return None
            return Cmp(c.op, other, NullRef())
        if isinstance(left, tuple) and isinstance(right, tuple) and left[0] == "word" and scope.own is not None:
            # two bare words: the left one was meant as a field of the pattern's fact
            t = scope.schema.types[scope.own]
            diags.append(Diagnostic.make("E208", f"type '{t.name}' has no field '{left[1]}'", left[2],
                                         label=f"not a field of {t.name}",
                                         help=did_you_mean(left[1], list(t.fields) + list(scope.bindings))
                                         or f"fields of {t.name}: {', '.join(t.fields)}"))
            return None
        left = _settle(left, _type_of(right) if not isinstance(right, tuple) else None, scope.schema, diags, _ctx(c.left))
        right = _settle(right, _type_of(left), scope.schema, diags, _ctx(c.left))
        if left is None or right is None:
            return None
        lt, rt = _type_of(left), _type_of(right)
        if lt is not None and rt is not None:
            if lt.kind == "list" or rt.kind == "list":
                diags.append(Diagnostic.make("E209", "a list is compared with `" + c.op + "`", c.span,
                                             help="use `contains` to test a list"))
                return None
            if not _compatible(lt, rt):
                diags.append(Diagnostic.make("E209", f"cannot compare {lt.describe()} with {rt.describe()}", c.span))
                return None
            if c.op in ("<", "<=", ">", ">=") and lt.kind not in ("number", "date"):
                diags.append(Diagnostic.make("E209", f"`{c.op}` orders numbers and dates, not {lt.describe()}", c.span))
                return None
        return Cmp(c.op, left, right)
    if isinstance(c, A.InList):
        left = _resolve_operand(c.left, scope, diags)
        if left is None or isinstance(left, (NullRef, tuple)):
            if isinstance(left, (NullRef, tuple)):
                diags.append(Diagnostic.make("E209", "`in` tests a field", c.span))
            return None
        lt = _type_of(left)
        items = []
        for it in c.items:
            r = _resolve_operand(it, scope, diags)
            r = _settle(r, lt, scope.schema, diags, _ctx(c.left)) if r is not None else None
            if r is None:
                return None
            rt = _type_of(r)
            if lt is not None and rt is not None and not _compatible(lt, rt):
                diags.append(Diagnostic.make("E209", f"cannot compare {lt.describe()} with {rt.describe()}", it.span))
                return None
            items.append(r)
        return InSet(left, tuple(items))
    if isinstance(c, A.Contains):
        left = _resolve_operand(c.left, scope, diags)
        if left is None:
            return None
        if not isinstance(left, PathRef) or left.type.kind != "list":
            diags.append(Diagnostic.make("E209", "`contains` needs a list field on its left", c.left.span))
            return None
        right = _resolve_operand(c.right, scope, diags)
        right = _settle(right, left.type, scope.schema, diags, _ctx(c.left)) if right is not None else None
        if right is None:
            return None
        rt = _type_of(right)
        if rt is not None and not _compatible(left.type.item, rt):
            diags.append(Diagnostic.make("E209", f"a {left.type.describe()} cannot contain {rt.describe()}", c.span))
            return None
        return Has(left, right)
    if isinstance(c, A.Matches):
        left = _resolve_operand(c.left, scope, diags)
        if left is None:
            return None
        if not isinstance(left, PathRef) or left.type.kind not in ("string", "enum", "ref"):
            diags.append(Diagnostic.make("E209", "`matches` tests a text field", c.left.span))
            return None
        try:
            rx = re.compile(c.pattern)
        except re.error as e:
            diags.append(Diagnostic.make("E214", f"invalid regular expression: {e.msg}", c.pattern_span))
            return None
        return Match(left, c.pattern, rx)
    raise AssertionError(type(c))


def _ctx(op: A.Operand) -> str:
    return ".".join(op.parts) if op.parts else "value"


def operand_bindings(x) -> set:
    """Bindings an operand or condition refers to (None for the pattern's own fact)."""
    if isinstance(x, PathRef):
        return {x.binding}
    if isinstance(x, Cmp):
        return operand_bindings(x.left) | operand_bindings(x.right)
    if isinstance(x, InSet):
        out = operand_bindings(x.left)
        for i in x.items:
            out |= operand_bindings(i)
        return out
    if isinstance(x, Has):
        return operand_bindings(x.left) | operand_bindings(x.item)
    if isinstance(x, Match):
        return operand_bindings(x.left)
    if isinstance(x, (AllOf, AnyOf)):
        out = set()
        for i in x.items:
            out |= operand_bindings(i)
        return out
    if isinstance(x, NotOf):
        return operand_bindings(x.item)
    return set()


def _resolve_patterns(when: A.When, schema: Schema, diags: list) -> Optional[list[PatternIR]]:
    out = []
    bindings: dict[str, str] = {}
    spans: dict[str, A.Span] = {}
    ok = True
    for p in when.patterns:
        if p.type_name not in schema.types:
            diags.append(Diagnostic.make("E202", f"unknown type '{p.type_name}'", p.type_span,
                                         help=did_you_mean(p.type_name, schema.types)))
            ok = False
            continue
        own_binding = p.binding
        scope_bindings = dict(bindings)
        if own_binding:
            if own_binding in bindings:
                diags.append(Diagnostic.make("E205", f"binding '{own_binding}' is defined twice", p.span,
                                             labels=[Label(spans[own_binding], "first defined here")]))
                ok = False
            scope_bindings[own_binding] = p.type_name
        scope = _Scope(schema, scope_bindings, p.type_name, own_binding)
        cond = None
        if p.where is not None:
            n = len(diags)
            cond = _resolve_cond(p.where, scope, diags)
            if cond is None and len(diags) > n:
                ok = False
        out.append(PatternIR(p.kind, own_binding, p.type_name, cond, p.span))
        if own_binding:
            bindings[own_binding] = p.type_name
            spans[own_binding] = p.span
        if p.kind == "match" and cond is not None and len(out) > 1:
            _lint_join(cond, own_binding, p, diags)
    return out if ok else None


_EQ_OPS = ("==",)


def _lint_join(cond: CondIR, own: Optional[str], p: A.Pattern, diags: list) -> None:
    """W404 when a pattern joins earlier bindings only through non-equality comparisons."""
    atoms = []

    def walk(c):
        if isinstance(c, AllOf):
            for i in c.items:
                walk(i)
        else:
            atoms.append(c)

    walk(cond)
    eq = neq = False
    for a in atoms:
        bs = {b for b in operand_bindings(a) if b is not None and b != own}
        if not bs:
            continue
        if isinstance(a, Cmp) and a.op == "==" or isinstance(a, (Has, InSet)):
            eq = True
        else:
            neq = True
    if neq and not eq:
        diags.append(Diagnostic.make("W404", f"pattern '{p.binding or p.type_name}' is joined to earlier patterns "
                                             "only by non-equality comparisons", p.span,
                                     help="add an equality join (same jurisdiction, same occupation, ...) if the "
                                          "criterion allows: such joins compare every pair of facts"))


_TEMPLATE_PART = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_TEMPLATE_NAME = re.compile(r"^([a-z][a-z0-9_]*)(?:\.([a-z][a-z0-9_]*))?$")


def _placeholder_span(span: A.Span, text: str, m: re.Match) -> A.Span:
    """The placeholder's own location when the string is written on one line without escapes
    (then characters map one to one), else the whole string."""
    if span.line == span.end_line and span.end_column - span.column == len(text) + 2:
        start = span.column + 1 + m.start()
        return A.Span(file=span.file, line=span.line, column=start, end_line=span.line,
                      end_column=start + len(m.group(0)))
    return span


def check_template(text: str, whole: A.Span, bindings: dict[str, str], schema: Schema, diags: list) -> bool:
    """Templates substitute ``{binding}`` and ``{binding.field}`` only; ``{{``/``}}`` are braces."""
    ok = True
    for m in _TEMPLATE_PART.finditer(text):
        span = _placeholder_span(whole, text, m)
        tok = m.group(0)
        if tok in ("{{", "}}"):
            continue
        inner = m.group(1)
        if inner is None:
            diags.append(Diagnostic.make("E210", "unmatched brace in template", span,
                                         help="write `{{` or `}}` for a literal brace"))
            ok = False
            continue
        nm = _TEMPLATE_NAME.match(inner.strip())
        if not nm or inner != inner.strip():
            diags.append(Diagnostic.make("E210", f"'{{{inner}}}' is not a template field", span,
                                         help="templates substitute `{binding}` and `{binding.field}` only"))
            ok = False
            continue
        b, f = nm.group(1), nm.group(2)
        if b not in bindings:
            diags.append(Diagnostic.make("E207", f"unknown binding '{b}' in template", span,
                                         help=did_you_mean(b, bindings)))
            ok = False
            continue
        if f is not None and schema.types[bindings[b]].field_type(f) is None:
            t = schema.types[bindings[b]]
            diags.append(Diagnostic.make("E208", f"type '{t.name}' has no field '{f}'", span,
                                         help=did_you_mean(f, list(t.fields) + ["id", "title"])))
            ok = False
    return ok


def render_template(text: str, bindings: dict[str, FactRecord], facts: dict[str, FactRecord]) -> str:
    """Substitute fields: ``{b}`` is the fact's title (its id when untitled; a derived fact shows
    its type and fields), ``{b.field}`` the field's value (a reference shows the referenced fact's
    title). Nothing else is evaluated."""

    def show(value: Any) -> str:
        if isinstance(value, tuple):
            return ", ".join(show(v) for v in value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dt.date):
            return value.isoformat()
        return str(value)

    def sub(m: re.Match) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        inner = m.group(1) or ""
        nm = _TEMPLATE_NAME.match(inner)
        if not nm or nm.group(1) not in bindings:
            return tok
        fact = bindings[nm.group(1)]
        f = nm.group(2)
        if f is None:
            return describe_fact(fact)
        if f == "id":
            return fact.id
        if f == "title":
            return fact.title or fact.id
        value = fact.values.get(f)
        if value is None:
            return "(none)"
        if isinstance(value, str) and value in facts:  # a reference: the referenced fact's title
            ref = facts[value]
            return ref.title or ref.id
        if isinstance(value, tuple):
            return ", ".join((facts[v].title or v) if isinstance(v, str) and v in facts else show(v) for v in value)
        return show(value)

    return _TEMPLATE_PART.sub(sub, text)


def describe_fact(fact: FactRecord) -> str:
    if fact.derived:
        inner = ", ".join(f"{k}: {_show_plain(v)}" for k, v in sorted(fact.values.items()))
        return f"{fact.type}({inner})"
    return fact.title or fact.id


def _show_plain(v: Any) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(_show_plain(x) for x in v) + "]"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# ---- criteria and rules ---------------------------------------------------------------------------------------

CRITERION_FIELDS = {"dimension", "score", "source", "message", "advice", "primary", "detects", "why", "example",
                    "resolution"}
REQUIRED_CRITERION_FIELDS = ("dimension", "score", "source", "message", "advice")


def _check_criterion(c: A.Criterion, schema: Schema, diags: list, ruleset: str) -> Optional[CriterionIR]:
    ok = True
    vals: dict[str, A.Value] = {}
    for f in c.fields:
        if f.name not in CRITERION_FIELDS:
            diags.append(Diagnostic.make("E302", f"unknown criterion field '{f.name}'", f.name_span,
                                         help=did_you_mean(f.name, CRITERION_FIELDS)))
            ok = False
            continue
        if f.name in vals:
            diags.append(Diagnostic.make("E306", f"field '{f.name}' is set twice", f.name_span))
            ok = False
            continue
        vals[f.name] = f.value
    for req in REQUIRED_CRITERION_FIELDS:
        if req not in vals:
            diags.append(Diagnostic.make("E212", f"criterion {c.code} has no `{req}`", c.code_span))
            ok = False
    if c.when is None:
        diags.append(Diagnostic.make("E212", f"criterion {c.code} has no `when` block", c.code_span))
        return None
    patterns = _resolve_patterns(c.when, schema, diags)
    if patterns is None:
        return None
    if not patterns:
        diags.append(Diagnostic.make("E212", f"criterion {c.code} has an empty `when` block", c.when.span))
        return None
    bindings = {p.binding: p.type for p in patterns if p.binding}
    strings = {}
    for name in ("source", "message", "advice", "detects", "why", "example", "resolution"):
        v = vals.get(name)
        if v is None:
            continue
        if v.kind != "string":
            diags.append(Diagnostic.make("E217", f"`{name}` must be a quoted string", v.span))
            ok = False
            continue
        strings[name] = v.value
    if "message" in strings and not check_template(strings["message"], vals["message"].span, bindings, schema, diags):
        ok = False
    if "advice" in strings and not check_template(strings["advice"], vals["advice"].span, bindings, schema, diags):
        ok = False
    dim = vals.get("dimension")
    dimension = ""
    if dim is not None:
        if dim.kind != "word" or "dimension" not in schema.enums or dim.value not in schema.enums["dimension"].members:
            members = schema.enums["dimension"].members if "dimension" in schema.enums else []
            diags.append(Diagnostic.make("E301", f"unknown dimension '{dim.text or dim.value}'", dim.span,
                                         help=did_you_mean(str(dim.value), members) or f"dimensions: {', '.join(members)}"))
            ok = False
        else:
            dimension = dim.value
    sc = vals.get("score")
    score = 0
    if sc is not None:
        if sc.kind != "number" or not isinstance(sc.value, int) or not -3 <= sc.value <= 3:
            diags.append(Diagnostic.make("E217", f"score must be an integer from -3 to +3", sc.span,
                                         label="not on the seven-point scale"))
            ok = False
        else:
            score = sc.value
    primary = None
    pv = vals.get("primary")
    if pv is not None:
        if pv.kind != "word" or pv.value not in bindings:
            diags.append(Diagnostic.make("E207", f"`primary` must name a binding of the `when` block", pv.span,
                                         help=did_you_mean(str(pv.value), bindings)))
            ok = False
        else:
            primary = pv.value
    if not ok:
        return None
    docs = {k: strings[k] for k in ("detects", "why", "example", "resolution") if k in strings}
    return CriterionIR(c.code, c.title or c.code, dimension, score, strings["source"], strings["message"],
                       strings["advice"], patterns, primary, docs, c.code_span, ruleset)


def _check_rule(r: A.Rule, schema: Schema, diags: list, ruleset: str) -> Optional[RuleIR]:
    ok = True
    for f in r.fields:
        if f.name != "doc":
            diags.append(Diagnostic.make("E302", f"unknown rule field '{f.name}'", f.name_span,
                                         help="a rule holds a `when` block, a `derive` block and an optional `doc`"))
            ok = False
    if r.when is None or r.derive is None:
        missing = "when" if r.when is None else "derive"
        diags.append(Diagnostic.make("E212", f"rule {r.name} has no `{missing}` block", r.name_span))
        return None
    patterns = _resolve_patterns(r.when, schema, diags)
    if patterns is None:
        return None
    d = r.derive
    t = schema.types.get(d.type_name)
    if t is None:
        diags.append(Diagnostic.make("E202", f"unknown type '{d.type_name}'", d.type_span,
                                     help=did_you_mean(d.type_name, schema.types)))
        return None
    bindings = {p.binding: p.type for p in patterns if p.binding}
    scope = _Scope(schema, bindings, None, None)
    out: dict[str, OperandIR] = {}
    for df in d.fields:
        spec = t.fields.get(df.name)
        if spec is None:
            diags.append(Diagnostic.make("E302", f"unknown field '{df.name}' for type '{t.name}'", df.span,
                                         help=did_you_mean(df.name, t.fields)))
            ok = False
            continue
        if df.name in out:
            diags.append(Diagnostic.make("E306", f"field '{df.name}' is set twice", df.span))
            ok = False
            continue
        op = _resolve_operand(df.value, scope, diags)
        if op is None:
            ok = False
            continue
        if isinstance(op, (NullRef,)):
            diags.append(Diagnostic.make("E217", "a derived field cannot be `null`: leave it out", df.span))
            ok = False
            continue
        op = _settle(op, spec.type, schema, diags, df.name)
        if op is None:
            ok = False
            continue
        ot = _type_of(op)
        if ot is not None and not _compatible(ot, spec.type):
            diags.append(Diagnostic.make("E217", f"'{df.name}' is {spec.type.describe()} but the value is "
                                                 f"{ot.describe()}", df.value.span))
            ok = False
            continue
        out[df.name] = op
    for fname, spec in t.fields.items():
        if not spec.optional and fname not in out and ok:
            diags.append(Diagnostic.make("E217", f"derive {t.name} does not set required field '{fname}'", d.type_span))
            ok = False
    if not ok:
        return None
    return RuleIR(r.name, r.title or r.name, patterns, t.name, out, r.name_span, ruleset)


def _check_accept(a: A.Accept, criteria: dict, by_id: dict, diags: list) -> Optional[AcceptIR]:
    ok = True
    if a.criterion not in criteria:
        diags.append(Diagnostic.make("E211", f"unknown criterion '{a.criterion}'", a.criterion_span,
                                     help=did_you_mean(a.criterion, criteria)))
        ok = False
    for i, s in zip(a.ids, a.id_spans):
        if i not in by_id:
            diags.append(Diagnostic.make("E203", f"unknown fact '{i}'", s, help=did_you_mean(i, by_id)))
            ok = False
    reason, until = None, None
    for f in a.fields:
        if f.name == "reason" and f.value.kind == "string":
            reason = f.value.value
        elif f.name == "until" and f.value.kind in ("date", "number"):
            until = parse_date(f.value.text)
            if until is None:
                diags.append(Diagnostic.make("E305", f"'{f.value.text}' is not a valid date", f.value.span))
                ok = False
        elif f.name in ("reason", "until"):
            diags.append(Diagnostic.make("E304", f"`{f.name}` expects " + ("a string" if f.name == "reason" else "a date"),
                                         f.value.span))
            ok = False
        else:
            diags.append(Diagnostic.make("E302", f"unknown field '{f.name}' for `accept`", f.name_span,
                                         help=did_you_mean(f.name, ["reason", "until"])))
            ok = False
    if reason is None and ok:
        diags.append(Diagnostic.make("E303", "`accept` is missing required field 'reason'", a.criterion_span,
                                     help='say why the trade-off is accepted: reason: "..."'))
        ok = False
    if not a.ids:
        diags.append(Diagnostic.make("E303", "`accept` lists no fact ids", a.criterion_span))
        ok = False
    return AcceptIR(a.criterion, list(a.ids), reason or "", until, a.span) if ok else None


# ---- entry point ---------------------------------------------------------------------------------------------


def check(modules: list[A.Module], builtin_count: int = 0) -> Program:
    """Check every module as one program: the schema from all declarations, one fact namespace,
    criteria and rules resolved, tests and accepts validated. ``modules`` are in load order."""
    diags: list[Diagnostic] = []
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
    program.diagnostics = sort_diagnostics(diags)
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
