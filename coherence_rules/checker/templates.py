"""Message, advice and description templates: checked against the bindings of a criterion or
rule, and rendered with the facts of a finding. Templates substitute fields only; nothing in them
is evaluated.

A placeholder is ``{binding}``, ``{binding.field}`` or a path through references
(``{m.jurisdiction.level}``), optionally followed by a form (``{m.occupation:raw}``):

========================  =====================================================================
placeholder               renders
========================  =====================================================================
``{b}``                   the fact's title (its id when untitled); a derived fact is described
                          in words by the rule that derived it (its ``describe`` template)
``{b:quoted}``            the title between quotation marks: “Annual cap on work permits”
``{b:cited}``             the quoted title and the fact's citation: “Annual cap ...” (reg. 7(1));
                          the quoted title alone when it has no ``cite``
``{b.field}``             the value for people: an enum member's label, a referenced fact's
                          title, a list as "a, b and c", a date as 31 December 2026, a boolean
                          as yes or no; ``(none)`` when the field is absent
``{b.field:raw}``         the value as written: the enum member, the fact id, the ISO date
``{b.field:words}``       a one-word string read as words: ``employer_pays`` -> employer pays
                          (a position: a ``provision`` of one snake_case word)
``{{`` and ``}}``         literal braces
========================  =====================================================================
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable, Optional

from ..diagnostics import Diagnostic, did_you_mean
from ..syntax import ast as A
from .ir import FactRecord
from .schema import FieldType, Schema

_TEMPLATE_PART = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PLACEHOLDER = re.compile(r"^([a-z][a-z0-9_]*)((?:\.[a-z][a-z0-9_]*)*)(?::([a-z]+))?$")
#: The forms a placeholder may end with, and what they apply to.
FACT_FORMS = ("quoted", "cited")
VALUE_FORMS = ("raw", "words")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _placeholder_span(span: A.Span, text: str, m: re.Match) -> A.Span:
    """The placeholder's own location when the string is written on one line without escapes
    (then characters map one to one), else the whole string."""
    if span.line == span.end_line and span.end_column - span.column == len(text) + 2:
        start = span.column + 1 + m.start()
        return A.Span(file=span.file, line=span.line, column=start, end_line=span.line,
                      end_column=start + len(m.group(0)))
    return span


def check_template(text: str, whole: A.Span, bindings: dict[str, str], schema: Schema, diags: list) -> bool:
    """Check every placeholder of a template against the bindings in scope (name -> type): known
    binding, fields that exist (a path follows only ``ref`` fields), a form that exists for what it
    follows. ``{{``/``}}`` are braces."""
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
        nm = _PLACEHOLDER.match(inner.strip())
        if not nm or inner != inner.strip():
            diags.append(Diagnostic.make("E210", f"'{{{inner}}}' is not a template field", span,
                                         help="templates substitute `{binding}`, `{binding:quoted}`, `{binding:cited}`, "
                                              "`{binding.field}`, `{binding.field:raw}` and "
                                              "`{binding.field:words}`, with bindings and fields in "
                                              "lower case"))
            ok = False
            continue
        b, path, form = nm.group(1), [p for p in nm.group(2).split(".") if p], nm.group(3)
        if b not in bindings:
            diags.append(Diagnostic.make("E207", f"unknown binding '{b}' in template", span,
                                         help=did_you_mean(b, bindings)))
            ok = False
            continue
        t = schema.types.get(bindings[b])
        if t is None:  # the binding's pattern has an unknown type, reported there
            continue
        ft: Optional[FieldType] = None
        for i, f in enumerate(path):
            ft = t.field_type(f)
            if ft is None:
                diags.append(Diagnostic.make("E208", f"type '{t.name}' has no field '{f}'", span,
                                             help=did_you_mean(f, list(t.fields) + ["id", "title"])))
                ok = False
                break
            if i < len(path) - 1:
                if ft.kind != "ref":
                    diags.append(Diagnostic.make("E216", f"'{f}' is {ft.describe()}: a path can only follow "
                                                         "`ref` fields", span))
                    ok = False
                    break
                t = schema.types[ft.name]
        else:
            if form is not None:
                allowed = VALUE_FORMS if path else FACT_FORMS
                if form not in allowed:
                    what = "a field" if path else "a fact"
                    diags.append(Diagnostic.make(
                        "E210", f"'{{{inner}}}': no form ':{form}' for {what}", span,
                        help=f"forms for {what}: " + ", ".join(f":{x}" for x in allowed)))
                    ok = False
    return ok


def template_paths(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """The ``(binding, fields)`` of every placeholder of a template (for tests and tools)."""
    out = []
    for m in _TEMPLATE_PART.finditer(text):
        nm = _PLACEHOLDER.match((m.group(1) or "").strip()) if m.group(1) is not None else None
        if nm:
            out.append((nm.group(1), tuple(p for p in nm.group(2).split(".") if p)))
    return out


class Renderer:
    """Renders templates for one run: values read for people through the schema's labels, facts by
    their titles, derived facts through ``describe`` (a function from a derived fact to words)."""

    def __init__(self, facts: dict[str, FactRecord], schema: Optional[Schema] = None,
                 describe: Optional[Callable[[FactRecord], str]] = None):
        self.facts = facts
        self.schema = schema
        self.describe = describe

    def fact(self, fact: FactRecord, form: Optional[str] = None) -> str:
        if fact.derived:
            return self.describe(fact) if self.describe is not None else describe_fact(fact)
        title = fact.title or fact.id
        if form is None:
            return title
        quoted = f"“{title}”"
        cite = fact.cite
        return f"{quoted} ({cite})" if form == "cited" and cite else quoted

    def value(self, fact: FactRecord, fname: str, value: Any, raw: bool = False) -> str:
        ftype = self._field_type(fact, fname)
        if raw:
            return show_raw(value)
        if isinstance(value, tuple):
            item = ftype.item if ftype is not None and ftype.kind == "list" else None
            return join_words([self._scalar(v, item) for v in value])
        return self._scalar(value, ftype)

    def _scalar(self, value: Any, ftype: Optional[FieldType]) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, dt.date):
            return long_date(value)
        if isinstance(value, str):
            if ftype is not None and ftype.kind == "enum" and self.schema is not None:
                e = self.schema.enums.get(ftype.name)
                if e is not None:
                    return e.label(value)
            if (ftype is None or ftype.kind == "ref") and value in self.facts:
                ref = self.facts[value]
                return self.fact(ref)
        return show_raw(value)

    def _field_type(self, fact: FactRecord, fname: str) -> Optional[FieldType]:
        if self.schema is None:
            return None
        t = self.schema.types.get(fact.type)
        return t.field_type(fname) if t is not None else None

    def render(self, text: str, bindings: dict[str, FactRecord]) -> str:
        """Substitute every placeholder of ``text``; nothing else is evaluated."""

        def sub(m: re.Match) -> str:
            tok = m.group(0)
            if tok == "{{":
                return "{"
            if tok == "}}":
                return "}"
            nm = _PLACEHOLDER.match(m.group(1) or "")
            if not nm or nm.group(1) not in bindings:
                return tok
            cur = bindings[nm.group(1)]
            path = [p for p in nm.group(2).split(".") if p]
            form = nm.group(3)
            if not path:
                return self.fact(cur, form)
            for i, f in enumerate(path):
                if f in ("id", "title") and i == len(path) - 1:  # the fact's own id and title, as they are
                    return cur.id if f == "id" else (cur.title or cur.id)
                value: Any = cur.values.get(f)
                if value is None:
                    return "(none)"
                if i < len(path) - 1:
                    nxt = self.facts.get(value) if isinstance(value, str) else None
                    if nxt is None:
                        return "(none)"
                    cur = nxt
            if form == "words" and isinstance(value, str):
                return value.replace("_", " ")
            return self.value(cur, path[-1], value, raw=form == "raw")

        return _TEMPLATE_PART.sub(sub, text)


def render_template(text: str, bindings: dict[str, FactRecord], facts: dict[str, FactRecord],
                    schema: Optional[Schema] = None, describe: Optional[Callable[[FactRecord], str]] = None) -> str:
    """``text`` with its placeholders substituted (see the module docstring)."""
    return Renderer(facts, schema, describe).render(text, bindings)


def join_words(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def long_date(d: dt.date) -> str:
    """A date as a legal text writes it: 31 December 2026."""
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def show_raw(v: Any) -> str:
    """A value as written in the language: members and ids as words, ISO dates, true/false."""
    if isinstance(v, tuple):
        return "[" + ", ".join(show_raw(x) for x in v) + "]"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def describe_fact(fact: FactRecord) -> str:
    """A fact in words without a rule to describe it: its title, or a derived fact's type and
    values (the fallback when a rule has no ``describe``)."""
    if fact.derived:
        inner = ", ".join(f"{k}: {show_raw(v)}" for k, v in sorted(fact.values.items()))
        return f"{fact.type}({inner})"
    return fact.title or fact.id
