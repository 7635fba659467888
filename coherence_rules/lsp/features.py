"""What the server answers: diagnostics, hover, definition, completion, formatting, the accept
code action, computed from a :class:`~coherence_rules.lsp.sets.CheckResult` and the document's text.

Nothing here talks to the client (texts and checked products in, lsprotocol values out), so the
server's handlers stay thin. Positions are converted by :mod:`coherence_rules.lsp.positions`
in the position encoding the client and server agreed on.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Iterable, Optional

from lsprotocol import types as T
from pygls.uris import from_fs_path

from ..diagnostics import Diagnostic
from ..render.escape import markdown, markdown_code
from ..syntax.ast import Span
from .context import Context, Reading, source_view
from .positions import UTF16, LineIndex
from .sets import CheckResult

SOURCE = "coherence"
ACCEPT_TITLE = "Accept this trade-off"
ACCEPT_REASON = "TODO: why this trade-off is accepted"
KEYWORDS = ("accept", "type", "enum", "extend", "criterion", "rule", "ruleset", "test")


def uri_of(path: str) -> str:
    """The ``file:`` URI of an absolute path."""
    return from_fs_path(path) or ("file://" + path)


class Index:
    """Look-ups into one checked program (the set's own, or the last one that checked, or the
    rulesets' alone when nothing has checked yet), and positions into the files its spans name."""

    def __init__(self, result: CheckResult, program: Any, encoding: str = UTF16):
        self.result = result
        self.program = program
        self.encoding = encoding
        self.facts = {f.id: f for f in program.facts} if program is not None else {}
        self.criteria = {c.code: c for c in program.criteria} if program is not None else {}
        self.schema = program.schema if program is not None else None
        self._lines: dict[str, Optional[LineIndex]] = {}

    # ---- positions

    def lines(self, name: str) -> Optional[LineIndex]:
        """The lines of a span's file (as checked, else as on disk)."""
        if name not in self._lines:
            text = self.result.text_of(name)
            if text is None:
                path = self.result.path_of(name)
                try:
                    text = Path(path).read_text(encoding="utf-8-sig") if path else None
                except (OSError, UnicodeDecodeError):
                    text = None
            self._lines[name] = LineIndex(text, self.encoding) if text is not None else None
        return self._lines[name]

    def range(self, span: Span) -> T.Range:
        """The LSP range of a span."""
        lines = self.lines(span.file) or LineIndex("", self.encoding)
        (l0, c0), (l1, c1) = lines.span_range(span.line, span.column, span.end_line, span.end_column)
        return T.Range(T.Position(l0, c0), T.Position(l1, c1))

    def location(self, span: Optional[Span]) -> Optional[T.Location]:
        """The LSP location of a span (None when its file is not a file on disk)."""
        if span is None:
            return None
        path = self.result.path_of(span.file)
        if path is None:
            return None
        return T.Location(uri_of(path), self.range(span))

    def shown(self, span: Span) -> str:
        """A span's place for people: ``file:line``, the file relative to the set's folder."""
        path = self.result.path_of(span.file) or span.file
        if span.file in self.result.texts:
            path = os.path.relpath(path, self.result.folder)
        elif span.file.startswith("<"):
            path = span.file
        return f"{path}:{span.line}"


# ---- diagnostics ------------------------------------------------------------------------------------------------


def _message(d: Diagnostic) -> str:
    parts = [d.message] + [f"note: {n}" for n in d.notes] + ([f"help: {d.help}"] if d.help else [])
    return "\n".join(parts)


def _severity(d: Diagnostic) -> T.DiagnosticSeverity:
    return T.DiagnosticSeverity.Error if d.is_error else T.DiagnosticSeverity.Warning


def file_diagnostics(result: CheckResult, index: Index, extra: Iterable[str] = ()) -> dict[str, list[T.Diagnostic]]:
    """Every diagnostic and finding of a check, by the absolute path of the file it is in.

    Diagnostics without a location (an unknown ruleset, a settings file that cannot be used) go
    to the top of each file in ``extra`` (the set's open documents); every file of the set is in
    the answer, with an empty list when it has nothing, so that its old diagnostics are cleared."""
    out: dict[str, list[T.Diagnostic]] = {name: [] for name in result.texts}
    extra = list(extra)
    top = T.Range(T.Position(0, 0), T.Position(0, 1))
    for message, severity in [(p, T.DiagnosticSeverity.Error) for p in result.config.problems] + \
            [(n, T.DiagnosticSeverity.Warning) for n in result.notices]:
        for path in extra:
            out.setdefault(path, []).append(T.Diagnostic(top, message, severity, source=SOURCE))
    for d in result.diagnostics:
        related = [T.DiagnosticRelatedInformation(loc, label.message)
                   for label in d.labels if (loc := index.location(label.span)) is not None]
        path = result.path_of(d.span.file) if d.span is not None else None
        targets = [path] if path is not None else extra
        rng = index.range(d.span) if path is not None else top
        for target in targets:
            out.setdefault(target, []).append(T.Diagnostic(
                rng, _message(d), _severity(d), code=d.code, source=SOURCE, related_information=related or None))
    for f in result.findings:
        placed = finding_diagnostic(result, index, f)
        if placed is not None:
            out.setdefault(placed[0], []).append(placed[1])
    return out


def written_ids(finding) -> list[str]:
    """The written facts of a finding, for an ``accept`` (a derived fact's id cannot be written,
    so an accept names the written facts its proof rests on, which it matches as well)."""
    ids = [d["id"] for d in finding.fact_details if not d.get("derived")]
    return ids or [i for i in finding.facts if "#" not in i]


def status(finding) -> str:
    """A finding's status as plain text (``open``, ``accepted``, ``expired``), whether the
    report holds it as a string or as an enum member."""
    return str(getattr(finding.status, "value", finding.status))


def is_open_conflict(finding) -> bool:
    """A conflict that is neither accepted nor a synergy: reported as a warning."""
    return finding.score < 0 and status(finding) in ("open", "expired")


def finding_diagnostic(result: CheckResult, index: Index, f) -> Optional[tuple[str, T.Diagnostic]]:
    """A finding as a diagnostic: at its location (or, when that lies outside the set, at the
    first of its facts that lies in it), its other facts as related information."""
    primary = f.location
    spans = []
    for d in f.fact_details:
        fact = index.facts.get(d["id"])
        if fact is not None and fact.span is not None and not fact.derived:
            spans.append((d["id"], fact))
    if primary is None or primary.file not in result.texts:
        in_set = [fact.span for _, fact in spans if fact.span.file in result.texts]
        primary = in_set[0] if in_set else primary
    if primary is None:
        return None
    path = result.path_of(primary.file)
    if path is None:
        return None
    related = []
    for fid, fact in spans:
        if fact.span == primary:
            continue
        loc = index.location(fact.span)
        if loc is not None:
            related.append(T.DiagnosticRelatedInformation(loc, f"{fid}: {fact.title or fact.type}"))
    severity = T.DiagnosticSeverity.Warning if is_open_conflict(f) else T.DiagnosticSeverity.Information
    data = {"kind": "finding", "criterion": f.criterion, "facts": written_ids(f), "fingerprint": f.fingerprint,
            "score": int(f.score), "status": status(f)}
    return path, T.Diagnostic(index.range(primary), f.message, severity, code=f.criterion, source=SOURCE,
                              related_information=related or None, data=data)


# ---- hover ------------------------------------------------------------------------------------------------------


def _type_md(index: Index, name: str) -> Optional[str]:
    t = index.schema.types.get(name) if index.schema else None
    if t is None:
        return None
    lines = [f"**type `{name}`**" + (f": {t.doc}" if t.doc else "")]
    fields = [f"`{f.name}{'?' if f.optional else ''}`: {f.type.describe()}" for f in t.fields.values()]
    if fields:
        lines += ["", "fields: " + ", ".join(fields)]
    if t.span is not None:
        lines += ["", f"declared at `{index.shown(t.span)}`"]
    return "\n".join(lines)


def _field_md(index: Index, type_name: str, field: str) -> Optional[str]:
    t = index.schema.types.get(type_name) if index.schema else None
    if t is None:
        return None
    ft = t.field_type(field)
    if ft is None:
        return None
    spec = t.fields.get(field)
    need = "" if spec is None else (", optional" if spec.optional else ", required")
    lines = [f"**`{field}`**: `{ft.describe()}`{need} (field of `{type_name}`)"]
    if t.doc:
        lines += ["", f"`{type_name}`: {t.doc}"]
    item = ft.item if ft.kind == "list" and ft.item is not None else ft
    if item.kind == "ref":
        target = index.schema.types.get(item.name)
        if target is not None and target.doc:
            lines += ["", f"`{item.name}`: {target.doc}"]
    elif item.kind == "enum":
        e = index.schema.enums.get(item.name)
        if e is not None:
            shown = ", ".join(e.members[:40]) + (", ..." if len(e.members) > 40 else "")
            lines += ["", f"enum `{e.name}`{' (open)' if e.open else ''}: {shown}"]
    return "\n".join(lines)


def _label(enum, member: str) -> Optional[str]:
    labels = getattr(enum, "labels", None) or {}
    return labels.get(member)


def _member_md(index: Index, enum_name: str, member: str) -> Optional[str]:
    e = index.schema.enums.get(enum_name) if index.schema else None
    if e is None:
        return None
    if member not in e.members:
        return f"**`{member}`** is not a member of enum `{enum_name}`" + (" (an open enum)" if e.open else "")
    lines = [f"**`{member}`**: member of enum `{enum_name}`" + (" (open)" if e.open else "")]
    label = _label(e, member)
    if label:
        lines += ["", f"label: {label}"]
    return "\n".join(lines)


def _enum_md(index: Index, name: str) -> Optional[str]:
    e = index.schema.enums.get(name) if index.schema else None
    if e is None:
        return None
    members = ", ".join(f"{m} ({_label(e, m)})" if _label(e, m) else m for m in e.members)
    return f"**enum `{name}`**{' (open)' if e.open else ''}: {members}"


def _fact_md(index: Index, fid: str) -> Optional[str]:
    f = index.facts.get(fid)
    if f is None:
        return None
    # the title and citation are the policy file's text: escaped, so no link or image comes of them
    lines = [f"**{f.id}** ({f.type})" + (f": {markdown(f.title)}" if f.title else "")]
    if f.cite:
        lines += ["", f"cite: {markdown(f.cite)}"]
    if f.span is not None:
        lines += ["", f"defined at {markdown_code(index.shown(f.span))}"]
    return "\n".join(lines)


def _criterion_md(index: Index, code: str) -> Optional[str]:
    c = index.criteria.get(code)
    if c is None:
        return None
    lines = [f"**{c.code}**: {c.title}", "",
             f"score {c.score:+d} ({c.label}), dimension {c.dimension}" + (f", ruleset {c.ruleset}" if c.ruleset else "")]
    for key, head in (("detects", "Detects"), ("why", "Why"), ("example", "Example"), ("resolution", "Resolution")):
        if c.docs.get(key):
            lines += ["", f"*{head}.* {c.docs[key]}"]
    if c.source:
        lines += ["", f"*Source.* {c.source}"]
    if c.span is not None:
        lines += ["", f"defined at `{index.shown(c.span)}`"]
    return "\n".join(lines)


def _field_type(index: Index, ctx: Context):
    if index.schema is None or ctx.type_name is None or ctx.field is None:
        return None
    t = index.schema.types.get(ctx.type_name)
    ft = t.field_type(ctx.field) if t is not None else None
    if ft is not None and ft.kind == "list":
        ft = ft.item
    return ft


def hover_text(index: Index, ctx: Context) -> Optional[str]:
    """The Markdown a hover shows for what the cursor is on (None for nothing)."""
    name = ctx.name
    if name is None or index.schema is None:
        return None
    if ctx.role == "criterion":
        return _criterion_md(index, name)
    if ctx.role == "field_name" and ctx.type_name:
        return _field_md(index, ctx.type_name, name)
    if ctx.role == "field_value":
        ft = _field_type(index, ctx)
        if ft is not None and ft.kind == "enum":
            return _member_md(index, ft.name, name)
        if ft is not None and ft.kind == "ref":
            return _fact_md(index, name)
    if ctx.role in ("fact_type", "type_ref"):
        found = _type_md(index, name) or _enum_md(index, name)
        if found:
            return found
    for look in (_fact_md, _criterion_md, _type_md, _enum_md):
        found = look(index, name)
        if found:
            return found
    enums = [e.name for e in index.schema.enums.values() if name in e.members]
    if enums:
        return "\n\n".join(filter(None, (_member_md(index, e, name) for e in enums)))
    return None


def hover(index: Index, text: str, file: str, line: int, character: int) -> Optional[T.Hover]:
    """The hover at an LSP position of a document."""
    view = source_view(text, file)
    lines = LineIndex(view, index.encoding)
    ctx = Reading(view).context_at(lines.offset(line, character))
    md = hover_text(index, ctx)
    if md is None or ctx.word is None:
        return None
    (l0, c0), (l1, c1) = lines.position(ctx.word.start), lines.position(ctx.word.end)
    return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, md), T.Range(T.Position(l0, c0), T.Position(l1, c1)))


# ---- definition -------------------------------------------------------------------------------------------------


def definition_span(index: Index, ctx: Context) -> Optional[Span]:
    """Where what the cursor is on is defined: a fact, a type, an enum, a field, a criterion."""
    name = ctx.name
    if name is None or index.schema is None:
        return None
    schema = index.schema
    if ctx.role == "criterion" and name in index.criteria:
        return index.criteria[name].span
    if ctx.role == "field_name" and ctx.type_name in schema.types:
        spec = schema.types[ctx.type_name].fields.get(name)
        if spec is not None:
            return spec.span
    if ctx.role == "field_value":
        ft = _field_type(index, ctx)
        if ft is not None and ft.kind == "enum" and ft.name in schema.enums:
            return schema.enums[ft.name].span
    if ctx.role in ("fact_type", "type_ref"):
        if name in schema.types:
            return schema.types[name].span
        if name in schema.enums:
            return schema.enums[name].span
    fact = index.facts.get(name)
    if fact is not None and fact.span is not None:
        return fact.span
    if name in schema.types:
        return schema.types[name].span
    if name in schema.enums:
        return schema.enums[name].span
    if name in index.criteria:
        return index.criteria[name].span
    return None


def definition(index: Index, text: str, file: str, line: int, character: int) -> list[T.Location]:
    """The definition of what is at an LSP position of a document (empty: none known)."""
    view = source_view(text, file)
    lines = LineIndex(view, index.encoding)
    span = definition_span(index, Reading(view).context_at(lines.offset(line, character)))
    loc = index.location(span)
    return [loc] if loc is not None else []


# ---- completion -------------------------------------------------------------------------------------------------


def completion_items(index: Index, ctx: Context) -> list[tuple[str, T.CompletionItemKind, str, str]]:
    """What may be written at the cursor: ``(label, kind, detail, text to insert)`` tuples."""
    schema = index.schema
    if schema is None:
        return []
    out: list[tuple[str, T.CompletionItemKind, str, str]] = []
    if ctx.role == "field_name" and ctx.type_name in schema.types and ctx.block.kind in ("fact", "derive"):
        t = schema.types[ctx.type_name]  # (a type declaration declares new fields: nothing to offer)
        typing = ctx.word.text if ctx.word is not None else None
        for f in t.fields.values():
            if f.name in ctx.set_fields and f.name != typing:
                continue
            detail = f.type.describe() + (" (optional)" if f.optional else "")
            out.append((f.name, T.CompletionItemKind.Field, detail, f.name if ctx.colon else f"{f.name}: "))
    elif ctx.role == "field_value":
        ft = _field_type(index, ctx)
        if ft is not None and ft.kind == "enum" and ft.name in schema.enums:
            e = schema.enums[ft.name]
            for m in e.members:
                out.append((m, T.CompletionItemKind.EnumMember, _label(e, m) or f"enum {e.name}", m))
        elif ft is not None and ft.kind == "ref":
            for f in index.facts.values():
                if f.type == ft.name and not f.derived:
                    out.append((f.id, T.CompletionItemKind.Reference, f.title or f.type, f.id))
        elif ft is not None and ft.kind == "bool":
            out += [(v, T.CompletionItemKind.Value, "bool", v) for v in ("true", "false")]
    elif ctx.role == "accept_ids":
        own = set(index.result.texts)
        for f in index.facts.values():
            if not f.derived and f.span is not None and f.span.file in own:
                out.append((f.id, T.CompletionItemKind.Reference, f"{f.type}: {f.title or f.id}", f.id))
    elif ctx.role == "criterion":
        for c in index.criteria.values():
            out.append((c.code, T.CompletionItemKind.Constant, c.title, c.code))
    elif ctx.role in ("fact_type", "type_ref"):
        for t in schema.types.values():
            out.append((t.name, T.CompletionItemKind.Class, t.doc or "type", t.name))
        if ctx.role == "type_ref":
            out += [(e.name, T.CompletionItemKind.Enum, "enum", e.name) for e in schema.enums.values()]
        elif ctx.block is None:
            out += [(k, T.CompletionItemKind.Keyword, "keyword", k) for k in KEYWORDS]
    return out


def completion(index: Index, text: str, file: str, line: int, character: int) -> T.CompletionList:
    """The completion list at an LSP position of a document."""
    view = source_view(text, file)
    lines = LineIndex(view, index.encoding)
    offset = lines.offset(line, character)
    ctx = Reading(view).context_at(offset)
    start = offset
    if ctx.word is not None:
        start = ctx.word.start + (1 if ctx.word.text.startswith("@") else 0)
        start = min(start, offset)
    (l0, c0), (l1, c1) = lines.position(start), lines.position(offset)
    rng = T.Range(T.Position(l0, c0), T.Position(l1, c1))
    items = [T.CompletionItem(label, kind=kind, detail=detail, filter_text=label, sort_text=f"{i:05d}",
                              text_edit=T.TextEdit(rng, insert))
             for i, (label, kind, detail, insert) in enumerate(completion_items(index, ctx))]
    return T.CompletionList(is_incomplete=False, items=items)


# ---- formatting -------------------------------------------------------------------------------------------------


def formatting(text: str, file: str, encoding: str = UTF16) -> list[T.TextEdit]:
    """``coherence fmt`` on the document: one edit replacing its text, or none when it is already
    formatted or cannot be formatted (it does not parse)."""
    from ..syntax.fmt_files import format_file_text

    crlf = "\r\n" in text
    plain = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        out, _diags = format_file_text(plain, file)
    except Exception:  # noqa: BLE001 - the formatter refuses what it cannot rewrite faithfully
        return []
    if out is None or out == plain:
        return []
    if crlf:
        out = out.replace("\n", "\r\n")
    end = LineIndex(text, encoding).end()
    return [T.TextEdit(T.Range(T.Position(0, 0), T.Position(*end)), out)]


# ---- the accept code action -------------------------------------------------------------------------------------


def one_year_after(day: dt.date) -> dt.date:
    """The same day a year later (28 February for 29 February)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def accept_statement(code: str, ids: list[str], today: dt.date) -> str:
    """The ``accept`` a drafter starts from, with a reason to fill in and a date a year ahead."""
    return (f'accept {code} on [{", ".join(ids)}] {{ reason: "{ACCEPT_REASON}"  '
            f'until: {one_year_after(today).isoformat()} }}')


def accept_edit(text: str, file: str, code: str, ids: list[str], today: dt.date,
                encoding: str = UTF16) -> T.TextEdit:
    """The edit that appends the accept to the end of the document (in Markdown, as a new fenced
    ``policy`` block)."""
    statement = accept_statement(code, ids, today)
    body = f"```policy\n{statement}\n```\n" if file.endswith(".md") else statement + "\n"
    nl = "\r\n" if "\r\n" in text else "\n"
    if not text.strip():
        sep = ""
    elif text.endswith("\n\n") or text.endswith("\r\n\r\n"):
        sep = ""
    elif text.endswith("\n") or text.endswith("\r"):
        sep = nl
    else:
        sep = nl + nl
    end = LineIndex(text, encoding).end()
    pos = T.Position(*end)
    return T.TextEdit(T.Range(pos, pos), sep + body.replace("\n", nl))


def accept_action(uri: str, text: str, file: str, diagnostic: T.Diagnostic, code: str, ids: list[str],
                  today: dt.date, encoding: str = UTF16) -> T.CodeAction:
    """The quick fix "Accept this trade-off" for one finding diagnostic."""
    edit = accept_edit(text, file, code, ids, today, encoding)
    return T.CodeAction(title=ACCEPT_TITLE, kind=T.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                        edit=T.WorkspaceEdit(changes={uri: [edit]}))


def finding_for(diagnostic: T.Diagnostic, result: Optional[CheckResult], path: str) -> Optional[tuple[str, list[str]]]:
    """The criterion and the fact ids of the finding a diagnostic reports: from its ``data`` when
    the client sent it back, else the open conflict of that code at that line of the file."""
    if diagnostic.source != SOURCE or not diagnostic.code:
        return None
    data = diagnostic.data
    if isinstance(data, dict) and data.get("kind") == "finding":
        if data.get("score", 0) >= 0 or data.get("status") == "accepted":
            return None
        ids = [i for i in data.get("facts") or [] if isinstance(i, str)]
        return (str(data.get("criterion") or diagnostic.code), ids) if ids else None
    if result is None:
        return None
    for f in result.findings:
        loc = f.location
        if f.criterion == str(diagnostic.code) and is_open_conflict(f) and loc is not None \
                and result.path_of(loc.file) == path and loc.line == diagnostic.range.start.line + 1:
            return f.criterion, written_ids(f)
    return None
