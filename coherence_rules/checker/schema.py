"""The vocabulary: types and enums declared in the language (built-in ``schema.rules`` plus any
ruleset's declarations and extensions), and the typing of values against it."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ..syntax import ast as A
from ..syntax.numbers import number_value, out_of_range_message
from ..diagnostics import Diagnostic, Label, did_you_mean

SCALARS = ("string", "number", "date", "bool")


@dataclass(frozen=True)
class FieldType:
    """``kind`` is one of string, number, date, bool, enum, ref, list. ``name`` is the enum or the
    referenced type; ``item`` the element type of a list."""

    kind: str
    name: str = ""
    item: Optional["FieldType"] = None

    def describe(self) -> str:
        if self.kind == "enum":
            return f"enum {self.name}"
        if self.kind == "ref":
            return f"ref {self.name}"
        if self.kind == "list":
            return f"list of {self.item.describe()}"
        return self.kind


@dataclass
class FieldSpec:
    name: str
    type: FieldType
    optional: bool
    span: Optional[A.Span]


@dataclass
class TypeSpec:
    name: str
    doc: Optional[str]
    fields: dict[str, FieldSpec]
    inherits: list[tuple[str, str]]
    span: Optional[A.Span]

    def field_type(self, name: str) -> Optional[FieldType]:
        if name == "id":
            return FieldType("ref", self.name)
        if name == "title":
            return FieldType("string")
        f = self.fields.get(name)
        return f.type if f else None


@dataclass
class EnumSpec:
    """An enum of the vocabulary: its members in declaration order, and their labels for people
    (``labels[member]``; a member without one reads as its words: ``care_worker`` -> care worker)."""

    name: str
    open: bool
    members: list[str]
    span: Optional[A.Span]
    labels: dict[str, str] = field(default_factory=dict)

    def label(self, member: str) -> str:
        """How people read ``member``: its label, else the member with spaces for underscores."""
        return self.labels.get(member) or member.replace("_", " ")


@dataclass
class Schema:
    types: dict[str, TypeSpec] = field(default_factory=dict)
    enums: dict[str, EnumSpec] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """A digest of everything that checking a fact against this vocabulary depends on (types,
        their fields, field types, optionality and inherits; enums and their members), and of
        nothing else (not where they were declared). The check cache keys stored records by it.
        Computed once: a schema does not change after :func:`build_schema` has made it."""
        done = self.__dict__.get("_fingerprint")
        if done is not None:
            return done
        parts: list[Any] = [(t.name, [(f.name, f.type, f.optional) for f in t.fields.values()], t.inherits)
                            for t in self.types.values()]
        parts += [(e.name, e.open, e.members) for e in self.enums.values()]
        self.__dict__["_fingerprint"] = done = hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()
        return done


def _labels(members: list[str], labels: list) -> dict[str, str]:
    return {m: label for m, label in zip(members, labels or []) if label is not None}


def build_schema(modules: list[A.Module]) -> tuple[Schema, list[Diagnostic]]:
    """Collect declarations first, then extensions (so a ruleset may extend before or after the
    built-in schema in load order), then resolve field types and check inherits."""
    schema = Schema()
    diags: list[Diagnostic] = []
    decls = [i for m in modules if not m.facts_only for i in m.items if isinstance(i, (A.EnumDecl, A.TypeDecl))]
    for d in decls:
        if d.extend:
            continue
        if isinstance(d, A.EnumDecl):
            prev = schema.enums.get(d.name)
            if prev is not None or d.name in SCALARS:
                diags.append(_dup("enum", d.name, d.name_span, prev.span if prev else None))
                continue
            schema.enums[d.name] = EnumSpec(d.name, d.open, _unique(d.members), d.name_span, _labels(d.members, d.labels))
        else:
            prev = schema.types.get(d.name)
            if prev is not None:
                diags.append(_dup("type", d.name, d.name_span, prev.span))
                continue
            schema.types[d.name] = TypeSpec(d.name, d.doc, {}, [], d.name_span)
    for d in decls:
        if not d.extend:
            continue
        if isinstance(d, A.EnumDecl):
            e = schema.enums.get(d.name)
            if e is None:
                diags.append(Diagnostic.make("E206", f"cannot extend unknown enum '{d.name}'", d.name_span,
                                             help=did_you_mean(d.name, schema.enums)))
                continue
            for m, label, span in zip(d.members, d.labels or [None] * len(d.members), d.member_spans):
                if m not in e.members:
                    close = did_you_mean(m, e.members) if label is not None else None
                    if close:
                        diags.append(Diagnostic.make(
                            "W410", f"`extend enum {d.name}` adds a new member '{m}' with a label", span,
                            label="a new member", help=f"{close} A label given to an existing member relabels it"))
                    e.members.append(m)
                if label is not None:
                    e.labels[m] = label
        elif d.name not in schema.types:
            diags.append(Diagnostic.make("E206", f"cannot extend unknown type '{d.name}'", d.name_span,
                                         help=did_you_mean(d.name, schema.types)))
    # fields (declarations then extensions, so extension fields come last)
    for d in sorted((d for d in decls if isinstance(d, A.TypeDecl)), key=lambda d: d.extend):
        t = schema.types.get(d.name)
        if t is None or (not d.extend and t.span != d.name_span):
            continue
        for fd in d.fields:
            if fd.name in t.fields or fd.name in ("id", "title"):
                prev = t.fields.get(fd.name)
                diags.append(_dup("field", fd.name, fd.span, prev.span if prev else None))
                continue
            if d.extend and not fd.optional:
                diags.append(Diagnostic.make("E217", f"field '{fd.name}' added by `extend type` must be optional",
                                             fd.span, help=f"write `{fd.name}: ...?`: existing facts do not set it"))
            ftype = _resolve_type(fd.type, schema, diags, f"{d.name}.{fd.name}")
            if ftype is not None:
                # a field added by `extend` is kept optional even when E217 said it must be: as
                # required, every existing fact (the built-in tests' too) would report it missing
                t.fields[fd.name] = FieldSpec(fd.name, ftype, fd.optional or d.extend, fd.span)
        for inh in d.inherits:
            t.inherits.append((inh.field, inh.via))
            _check_inherit(schema, t, inh, diags)
    return schema, diags


def _unique(items: list[str]) -> list[str]:
    seen: list[str] = []
    for i in items:
        if i not in seen:
            seen.append(i)
    return seen


def _dup(what: str, name: str, span: A.Span, first: Optional[A.Span]) -> Diagnostic:
    labels = [Label(first, "first defined here")] if first else []
    help = "to add to an existing type or enum, use `extend`" if what in ("type", "enum") else None
    return Diagnostic.make("E205", f"{what} '{name}' is defined twice", span, labels=labels, help=help)


def _resolve_type(te: A.TypeExpr, schema: Schema, diags: list, owner: str) -> Optional[FieldType]:
    if te.kind == "named":
        if te.name in SCALARS:
            return FieldType(te.name)
        if te.name in schema.enums:
            return FieldType("enum", te.name)
        if te.name in schema.types:
            diags.append(Diagnostic.make("E202", f"'{te.name}' is a type: a field holding a fact id is `ref {te.name}`",
                                         te.span, help=f"write `ref {te.name}`"))
            return None
        diags.append(Diagnostic.make("E202", f"unknown type '{te.name}'", te.span,
                                     help=did_you_mean(te.name, list(SCALARS) + list(schema.enums))))
        return None
    if te.kind == "ref":
        if te.name not in schema.types:
            diags.append(Diagnostic.make("E202", f"unknown type '{te.name}'", te.span,
                                         help=did_you_mean(te.name, schema.types)))
            return None
        return FieldType("ref", te.name)
    if te.kind == "list":
        item = _resolve_type(te.item, schema, diags, owner)
        if item is None:
            return None
        if item.kind == "list":
            diags.append(Diagnostic.make("E304", "lists do not nest", te.span))
            return None
        return FieldType("list", item=item)
    # inline enum: registered under the owning field's name
    name = owner
    schema.enums[name] = EnumSpec(name, False, _unique(te.members), te.span, _labels(te.members, te.labels))
    return FieldType("enum", name)


def _check_inherit(schema: Schema, t: TypeSpec, inh: A.Inherit, diags: list) -> None:
    f = t.fields.get(inh.field)
    via = t.fields.get(inh.via)
    if f is None:
        diags.append(Diagnostic.make("E215", f"type '{t.name}' has no field '{inh.field}' to inherit", inh.span))
        return
    if via is None or via.type.kind != "ref":
        diags.append(Diagnostic.make("E215", f"'{inh.via}' is not a `ref` field of type '{t.name}'", inh.span))
        return
    target = schema.types.get(via.type.name)
    if target is None:
        return
    tf = target.fields.get(inh.field)
    if tf is None:
        diags.append(Diagnostic.make("E215", f"type '{target.name}' (what '{inh.via}' points to) has no field "
                                             f"'{inh.field}'", inh.span))
    elif tf.type != f.type:
        diags.append(Diagnostic.make("E215", f"'{inh.field}' is {f.type.describe()} here but "
                                             f"{tf.type.describe()} on '{target.name}'", inh.span))


# ---- typing values ----------------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def parse_date(text: str) -> Optional[dt.date]:
    m = _DATE.match(text)
    if not m:
        return None
    y, mo, d = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
    try:
        return dt.date(y, mo, d)
    except ValueError:
        return None


class ValueError_(Exception):
    """A value that does not fit its field; carries the diagnostic."""

    def __init__(self, diag: Diagnostic):
        self.diag = diag


def type_value(v: A.Value, ft: FieldType, schema: Schema, field_name: str, warnings: list) -> Any:
    """The Python value of ``v`` in a field of type ``ft``: str, int/float, date, bool, or a tuple
    for lists; enum members and ids are str. Raises :class:`ValueError_` on a mismatch; appends
    open-enum warnings to ``warnings``."""
    if v.kind == "cell":
        return _type_cell(v, ft, schema, field_name, warnings)
    if ft.kind == "list":
        if v.kind != "list":
            raise ValueError_(Diagnostic.make("E304", f"field '{field_name}' expects a list", v.span,
                                              label=f"expected {ft.describe()}", help=f"write [{v.text or '...'}]"))
        return tuple(type_value(i, ft.item, schema, field_name, warnings) for i in v.items)
    if v.kind == "list":
        raise ValueError_(Diagnostic.make("E304", f"field '{field_name}' expects one value, not a list", v.span,
                                          label=f"expected {ft.describe()}"))
    k = ft.kind
    if k == "string":
        if v.kind == "string":
            return v.value
        raise ValueError_(Diagnostic.make("E304", f"field '{field_name}' expects a string", v.span,
                                          label="expected a quoted string", help=f'write "{v.text}"'))
    if k == "number":
        if v.kind == "number":
            return v.value
        raise ValueError_(_wrong(v, field_name, "a number"))
    if k == "bool":
        if v.kind == "bool":
            return v.value
        raise ValueError_(_wrong(v, field_name, "true or false"))
    if k == "date":
        if v.kind in ("date", "number") and (v.kind == "date" or re.fullmatch(r"\d{4}", v.text)):
            d = parse_date(v.text)
            if d is None:
                raise ValueError_(Diagnostic.make("E305", f"'{v.text}' is not a valid date", v.span,
                                                  label="not a calendar date"))
            return d
        raise ValueError_(_wrong(v, field_name, "a date (YYYY-MM-DD)"))
    if k == "enum":
        if v.kind != "word":
            raise ValueError_(_wrong(v, field_name, f"a member of enum {ft.name}"))
        return check_member(v.value, ft.name, schema, v.span, field_name, warnings)
    if k == "ref":
        if v.kind != "word":
            raise ValueError_(_wrong(v, field_name, f"the id of a {ft.name}"))
        return v.value
    raise AssertionError(k)


def check_member(word: str, enum: str, schema: Schema, span: A.Span, field_name: str, warnings: list) -> str:
    e = schema.enums[enum]
    if word in e.members:
        return word
    if e.open:
        warnings.append(Diagnostic.make("W401", f"'{word}' is not a listed member of the open enum '{enum}'", span,
                                        label=f"not in enum {enum}",
                                        help=did_you_mean(word, e.members) or f"extend the enum: `extend enum {enum} {{ {word} }}`"))
        return word
    raise ValueError_(Diagnostic.make("E301", f"unknown value '{word}' for field '{field_name}'", span,
                                      label=f"not in enum {enum}",
                                      help=did_you_mean(word, e.members) or f"members: {', '.join(e.members[:12])}"
                                      + (" ..." if len(e.members) > 12 else "")))


def _wrong(v: A.Value, field_name: str, expected: str) -> Diagnostic:
    got = {"string": "a string", "number": "a number", "date": "a date", "bool": "a boolean", "word": "a bare word",
           "list": "a list"}.get(v.kind, v.kind)
    return Diagnostic.make("E304", f"field '{field_name}' expects {expected}, not {got}", v.span,
                           label=f"expected {expected}")


def _type_cell(v: A.Value, ft: FieldType, schema: Schema, field_name: str, warnings: list) -> Any:
    text = v.value
    if ft.kind == "list":
        parts = [p.strip() for p in text.split(";") if p.strip()]
        return tuple(_type_cell(A.Value(span=v.span, kind="cell", value=p, text=p, items=[]),
                                ft.item, schema, field_name, warnings) for p in parts)
    k = ft.kind
    if k == "string":
        return text
    if k == "number":
        if _NUMBER.match(text):
            value = number_value(text)
            if value is None:
                raise ValueError_(Diagnostic.make("E307", out_of_range_message(text), v.span, label="out of range"))
            return value
        raise ValueError_(Diagnostic.make("E304", f"field '{field_name}' expects a number, not '{text}'", v.span))
    if k == "bool":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ValueError_(Diagnostic.make("E304", f"field '{field_name}' expects true or false, not '{text}'", v.span))
    if k == "date":
        d = parse_date(text)
        if d is None:
            code = "E305" if _DATE.match(text) else "E304"
            raise ValueError_(Diagnostic.make(code, f"'{text}' is not a valid date", v.span))
        return d
    if k == "enum":
        return check_member(text, ft.name, schema, v.span, field_name, warnings)
    if k == "ref":
        if not _ID.match(text):
            raise ValueError_(Diagnostic.make("E304", f"'{text}' is not a fact id", v.span))
        return text
    raise AssertionError(k)
