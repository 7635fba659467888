"""Conditions: the operands and comparisons of `when` patterns resolved against the schema and
the bindings in scope, and the join lints (W404, W407)."""

from __future__ import annotations

import re
from typing import Optional

from ..diagnostics import Diagnostic, Label, did_you_mean
from ..syntax import ast as A
from .ir import (AllOf, AnyOf, Cmp, CondIR, Const, Has, InSet, Match, NotOf, NullRef, OperandIR, PathRef,
                 PatternIR, TodayRef, operand_bindings)
from .schema import FieldType, Schema, ValueError_, check_member, parse_date

# ---- regular expressions ----------------------------------------------------------------------------------------

#: Memory RE2 may use for one pattern's automaton (its default is 8 MiB too; said here because it
#: is part of the bound on a pattern's cost).
REGEX_MAX_MEM = 8 << 20
REGEX_HELP = ("patterns are matched by RE2, in time linear in the text: backreferences (\\1) and "
              "lookaround ((?=...), (?<=...)) are not supported; see docs/language.md")


def compile_pattern(pattern: str) -> tuple[Optional[object], str]:
    """``(compiled pattern, "")`` for the pattern of a ``matches``, or ``(None, problem)``.

    Matching is done by RE2 (google-re2), whose time is linear in the text whatever the pattern:
    with Python's backtracking ``re``, ``"^(a+)+$"`` against 34 ``a`` and a ``b`` never ends. The
    syntax is Python's less what needs backtracking (backreferences, lookaround); a pattern that
    Python's ``re`` rejects gets its message (the familiar one), a pattern only RE2 rejects says
    what is not supported."""
    try:
        re.compile(pattern)
    except re.error as e:
        return None, f"invalid regular expression: {e.msg}"
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print its own message to stderr
    options.max_mem = REGEX_MAX_MEM
    try:
        return re2.compile(pattern, options=options), ""
    except re2.error as e:
        detail = e.args[0] if e.args else str(e)
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return None, f"regular expression not supported: {detail}"
    except (TypeError, ValueError) as e:  # e.g. a pattern RE2 cannot encode
        return None, f"regular expression not supported: {e}"


# ---- conditions ---------------------------------------------------------------------------------------------


class _Scope:
    """Names visible to one pattern's condition: earlier bindings and the pattern's own fact."""

    def __init__(self, schema: Schema, bindings: dict[str, str], own: Optional[str], own_binding: Optional[str],
                 broken: frozenset = frozenset()):
        self.schema = schema
        self.bindings = bindings  # name -> type
        self.own = own  # own type (None in templates / derive)
        self.own_binding = own_binding
        #: bindings of patterns whose type is unknown (already reported): a path through one is not
        #: reported again
        self.broken = broken


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
    if head in scope.broken and head not in scope.bindings:
        return None  # the pattern that binds it has an unknown type: said there, not at every use
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
        if isinstance(left, tuple) and left[0] == "word" and scope.own is not None and \
                not isinstance(right, (PathRef, NullRef)):
            # a bare word compared with a value (or with another bare word): it was meant as a
            # field of the pattern's fact
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
    if isinstance(c, A.Contains) and c.any:
        left = _resolve_operand(c.left, scope, diags)
        right = _resolve_operand(c.right, scope, diags)
        if left is None or right is None:
            return None
        for side, node in ((left, c.left), (right, c.right)):
            if not isinstance(side, PathRef) or side.type.kind != "list":
                diags.append(Diagnostic.make("E209", "`intersects` compares two list fields", node.span,
                                             help="use `contains` to test a list for one item"))
                return None
        if not _compatible(left.type, right.type):
            diags.append(Diagnostic.make("E209", f"cannot compare {left.type.describe()} with {right.type.describe()}",
                                         c.span))
            return None
        return Has(left, right, any=True)
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
        rx, problem = compile_pattern(c.pattern)
        if rx is None:
            diags.append(Diagnostic.make("E214", problem, c.pattern_span,
                                         help=None if problem.startswith("invalid") else REGEX_HELP))
            return None
        return Match(left, c.pattern, rx)
    raise AssertionError(type(c))


def _ctx(op: A.Operand) -> str:
    return ".".join(op.parts) if op.parts else "value"


def _resolve_patterns(when: A.When, schema: Schema, diags: list) -> Optional[list[PatternIR]]:
    out = []
    bindings: dict[str, str] = {}
    spans: dict[str, A.Span] = {}
    ok = True
    broken: set[str] = set()
    for p in when.patterns:
        if p.type_name not in schema.types:
            diags.append(Diagnostic.make("E202", f"unknown type '{p.type_name}'", p.type_span,
                                         help=did_you_mean(p.type_name, schema.types)))
            ok = False
            if p.binding:
                broken.add(p.binding)
            continue
        own_binding = p.binding
        scope_bindings = dict(bindings)
        if own_binding:
            if own_binding in bindings:
                diags.append(Diagnostic.make("E205", f"binding '{own_binding}' is defined twice", p.span,
                                             labels=[Label(spans[own_binding], "first defined here")]))
                ok = False
            scope_bindings[own_binding] = p.type_name
        scope = _Scope(schema, scope_bindings, p.type_name, own_binding, frozenset(broken))
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
    if ok:
        _lint_cross_product(out, diags)
    return out if ok else None


def _lint_cross_product(patterns: list[PatternIR], diags: list) -> None:
    """W407 when the positive patterns fall apart into groups that no condition relates: every
    fact of one group is matched with every fact of the others (60 facts of three unrelated
    patterns are 216,000 matches). A pattern is related to the earlier ones its condition names
    (any comparison: W404 says when it is not an equality); ``not`` and ``exists`` patterns only
    filter the matches, so they relate nothing. Reported once, at the first pattern of the second
    group."""
    positives = [p for p in patterns if p.kind == "match"]
    if len(positives) < 2:
        return
    group: dict[int, int] = {}  # pattern index -> group representative
    of_binding: dict[str, int] = {}

    def find(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i, p in enumerate(positives):
        group[i] = i
        if p.cond is not None:
            for b in operand_bindings(p.cond):
                j = of_binding.get(b) if b is not None and b != p.binding else None
                if j is not None:
                    group[find(i)] = find(j)
        if p.binding:
            of_binding[p.binding] = i
    roots = {find(i) for i in group}
    if len(roots) < 2:
        return
    first = next(p for i, p in enumerate(positives) if find(i) != find(0))
    names = ", ".join(f"'{p.binding or p.type}'" for p in positives)
    diags.append(Diagnostic.make(
        "W407", f"the patterns {names} are not all related by a condition: their matches are a cross product",
        first.span, label="related to no earlier pattern",
        help="relate the pattern to an earlier one (`where jurisdiction == x.jurisdiction`); every combination "
             "of facts otherwise matches, and a few dozen facts make thousands of findings"))


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
