"""Errors caused by earlier errors, left out so that each mistake is reported once, where it is.

A statement that does not parse (an :class:`~coherence_rules.syntax.ast.Unparsed`), a fact of an
unknown type, a field declared with an unknown type: each is reported, and each would also make
every use of what it declares look wrong (an unknown id, type, criterion or field). The check
stage collects what such statements declare (:func:`broken_names`) and drops the diagnostics that
only say that one of those names is unknown (:func:`without_cascades`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..diagnostics import Diagnostic
from ..syntax import ast as A

#: Header keywords of statements that are not facts.
_STATEMENTS = {"criterion", "rule", "type", "enum", "ruleset", "test", "accept", "extend type", "extend enum"}


@dataclass
class Broken:
    """What statements and declarations with errors declared: uses of these are not reported."""

    ids: set[str] = field(default_factory=set)  # facts that did not parse, or whose type is unknown
    types: set[str] = field(default_factory=set)  # types and enums whose declaration did not parse
    extended: set[str] = field(default_factory=set)  # types and enums whose `extend` did not parse
    criteria: set[str] = field(default_factory=set)  # criteria that did not parse
    fields: set[tuple[str, str]] = field(default_factory=set)  # (type, field) declared with an unknown type

    def __bool__(self) -> bool:
        return bool(self.ids or self.types or self.extended or self.criteria or self.fields)


def broken_names(modules: list[A.Module], schema, diags: list[Diagnostic]) -> Broken:
    """What the statements that did not parse, the facts of unknown types and the fields of
    unknown types declare."""
    out = Broken()
    for m in modules:
        if m.facts_only:
            continue
        for item in m.items:
            if isinstance(item, A.Unparsed):
                kw, name = item.keyword, item.name
                if not name:
                    continue
                if kw == "criterion":
                    out.criteria.add(name)
                elif kw in ("type", "enum"):
                    out.types.add(name)
                elif kw in ("extend type", "extend enum"):
                    out.extended.add(name)
                elif kw not in _STATEMENTS:
                    out.ids.add(name)
            elif isinstance(item, A.TypeDecl) and item.name in schema.types:
                declared = schema.types[item.name].fields
                out.fields.update((item.name, fd.name) for fd in item.fields if fd.name not in declared)
    if any(d.code == "E202" for d in diags):  # facts of an unknown type: their ids are unknown too
        for m in modules:
            for item in m.items:
                if isinstance(item, A.Fact) and item.type_name not in schema.types:
                    out.ids.add(item.id)
    return out


_UNKNOWN_ID = re.compile(r"^unknown \w+ '(.+)'$")
_UNKNOWN_TYPE = re.compile(r"^unknown type '(.+)'$")
_UNKNOWN_CRITERION = re.compile(r"^unknown criterion '(.+)'$")
_UNKNOWN_FIELD = re.compile(r"^unknown field '(.+)' for type '(.+)'$")
_NO_FIELD = re.compile(r"^type '(.+)' has no field '(.+)'$")
_NOT_IN_ENUM = re.compile(r"^not in enum (.+)$")


def caused_by(d: Diagnostic, broken: Broken) -> bool:
    """Whether ``d`` only says that something ``broken`` declares is unknown."""
    m = None
    if d.code == "E203":
        m = _UNKNOWN_ID.match(d.message)
        return bool(m) and m.group(1) in broken.ids
    if d.code == "E202":
        m = _UNKNOWN_TYPE.match(d.message)
        return bool(m) and m.group(1) in broken.types
    if d.code == "E211":
        m = _UNKNOWN_CRITERION.match(d.message)
        return bool(m) and m.group(1) in broken.criteria
    if d.code in ("E302", "E208"):
        m = _UNKNOWN_FIELD.match(d.message)
        if m:
            fname, tname = m.group(1), m.group(2)
        else:
            m = _NO_FIELD.match(d.message)
            if not m:
                return False
            tname, fname = m.group(1), m.group(2)
        return tname in broken.extended or (tname, fname) in broken.fields
    if d.code == "E301":
        m = _NOT_IN_ENUM.match(d.label or "")
        return bool(m) and m.group(1) in broken.extended
    return False


def without_cascades(diags: list[Diagnostic], broken: Broken) -> list[Diagnostic]:
    """``diags`` less those :func:`caused_by` an error already reported."""
    if not broken:
        return diags
    return [d for d in diags if not caused_by(d, broken)]
