"""Message and advice templates: checked against the bindings of a criterion, and rendered
with the facts of a finding. Templates substitute fields only; nothing in them is evaluated."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ..diagnostics import Diagnostic, did_you_mean
from ..syntax import ast as A
from .ir import FactRecord
from .schema import Schema

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
