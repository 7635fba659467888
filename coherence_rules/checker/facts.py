"""Facts: validated against the schema, references resolved, inherited fields filled in."""

from __future__ import annotations

from typing import Any, Optional

from ..diagnostics import Diagnostic, Label, did_you_mean
from ..syntax import ast as A
from .ir import FactRecord
from .schema import FieldType, Schema, ValueError_, type_value

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
