"""The vocabulary as loaded: ``coherence schema [TYPE|ENUM]`` and ``docs/vocabulary.md``.

:func:`vocabulary` reads a session's checked program (the built-in schema plus the rulesets'
declarations and extensions) into plain data: every type with its documentation, fields (type as
written in the language, optionality, the comment written on the field's line), inherit rules,
the rules that derive it; every enum with its members and their labels, the comment lines written
right above it, and the fields that use it. The text, JSON and Markdown views are made from that
data, so they always agree; :func:`vocabulary_markdown` is the page ``docs/vocabulary.md``, and
:func:`item_markdown` one of its sections.
"""

from __future__ import annotations

from typing import Optional

from ..checker.schema import EnumSpec, FieldType, Schema, TypeSpec
from ..diagnostics import did_you_mean
from ..session import BUILTIN_PREFIX
from ..syntax import ast as A


# ---- the data ---------------------------------------------------------------------------------------------


def type_text(ft: FieldType, schema: Optional[Schema] = None) -> str:
    """A field type as the language writes it: ``ref instrument``, ``list of area``, ``string``; an
    inline enum (named after its field, ``type.field``) as ``enum { a b }`` when ``schema`` is given."""
    if ft.kind == "ref":
        return f"ref {ft.name}"
    if ft.kind == "list":
        return f"list of {type_text(ft.item, schema)}"
    if ft.kind == "enum":
        if "." in ft.name and schema is not None and ft.name in schema.enums:
            return "enum { " + " ".join(schema.enums[ft.name].members) + " }"
        return ft.name
    return ft.kind


def _enum_of(ft: FieldType) -> Optional[str]:
    if ft.kind == "enum":
        return ft.name
    if ft.kind == "list" and ft.item is not None:
        return _enum_of(ft.item)
    return None


def _ref_of(ft: FieldType) -> Optional[str]:
    if ft.kind == "ref":
        return ft.name
    if ft.kind == "list" and ft.item is not None:
        return _ref_of(ft.item)
    return None


def _comment_text(c: A.Comment) -> str:
    return c.text.lstrip("#").strip()


class _Sources:
    """What the declarations' source modules add to the schema: the ruleset of each file, the
    comment on a field's line, the comments right above an enum, which file added each member."""

    def __init__(self, modules: list[A.Module], rulesets: dict[str, str]):
        self.ruleset_of_file = dict(rulesets)
        self.line_comments: dict[tuple[str, int], A.Comment] = {}
        self.enum_docs: dict[str, str] = {}
        self.member_origin: dict[tuple[str, str], str] = {}
        self.relabelled: dict[tuple[str, str], str] = {}
        decls = []
        for m in modules:
            if m.facts_only:
                continue
            for c in m.comments:
                self.line_comments[(m.file, c.line)] = c
            for item in m.items:
                if isinstance(item, A.RulesetDecl):
                    self.ruleset_of_file.setdefault(m.file, item.name)
                if isinstance(item, A.EnumDecl):
                    decls.append((m, item))
        for m, d in decls:  # declarations first, then extensions: the order the schema is built in
            if not d.extend:
                self.enum_docs.setdefault(d.name, self._doc_above(m, d.name_span.line))
                for member in d.members:
                    self.member_origin.setdefault((d.name, member), m.file)
        for m, d in decls:
            if d.extend:
                for member, label in zip(d.members, d.labels or [None] * len(d.members)):
                    if (d.name, member) not in self.member_origin:
                        self.member_origin[(d.name, member)] = m.file
                    elif label is not None:
                        self.relabelled[(d.name, member)] = m.file

    def _doc_above(self, m: A.Module, line: int) -> str:
        """The full-line comments right above ``line`` (no blank line between), as one paragraph."""
        parts = []
        n = line - 1
        while (c := self.line_comments.get((m.file, n))) is not None and c.column == 1:
            parts.append(_comment_text(c))
            n -= 1
        return " ".join(p for p in reversed(parts) if p)

    def field_doc(self, span: Optional[A.Span]) -> str:
        """The comment written after a field's declaration, on its line."""
        if span is None:
            return ""
        c = self.line_comments.get((span.file, span.end_line))
        return _comment_text(c) if c is not None and c.column > span.column else ""

    def ruleset(self, file: Optional[str]) -> str:
        return self.ruleset_of_file.get(file or "", "")


def _location(span: Optional[A.Span]) -> dict:
    return {"file": span.file if span else None, "line": span.line if span else None}


def vocabulary(session) -> dict:
    """The vocabulary of ``session`` (its rulesets' program; run to the check stage) as data:
    ``{"types": [...], "enums": [...]}``, each in declaration order (built-in schema first)."""
    program = session.program
    rulesets = {r.span.file: r.name for r in program.rulesets if r.span is not None}
    src = _Sources(session.workspace.rule_modules + session.workspace.reference_modules
                   + session.workspace.policy_modules, rulesets)
    return vocabulary_data(program.schema, program.rules, src)


def vocabulary_data(schema: Schema, rules: list, src: _Sources) -> dict:
    derived_by: dict[str, list[str]] = {}
    for r in rules:
        derived_by.setdefault(r.derive_type, []).append(r.name)
    rule_sets = {r.name: r.ruleset for r in rules}
    used_by: dict[str, list[str]] = {}
    for t in schema.types.values():
        for f in t.fields.values():
            e = _enum_of(f.type)
            if e is not None:
                used_by.setdefault(e, []).append(f"{t.name}.{f.name}")
    types = [_type_data(t, src, derived_by.get(t.name, []), rule_sets, schema) for t in schema.types.values()]
    enums = [_enum_data(e, src, used_by.get(e.name, [])) for e in schema.enums.values()]
    return {"types": types, "enums": enums}


def _type_data(t: TypeSpec, src: _Sources, rules: list[str], rule_sets: dict[str, str], schema: Schema) -> dict:
    file = t.span.file if t.span else None
    inherits = {f: via for f, via in t.inherits}
    fields = []
    for f in t.fields.values():
        ffile = f.span.file if f.span else file
        enum = _enum_of(f.type)
        fields.append({
            "name": f.name, "type": type_text(f.type, schema), "optional": f.optional, "kind": f.type.kind,
            "enum": enum, "enum_open": bool(enum in schema.enums and schema.enums[enum].open),
            "ref": _ref_of(f.type), "doc": src.field_doc(f.span),
            "inherited_from": inherits.get(f.name),
            "added_by": src.ruleset(ffile) or ffile if ffile != file else None,
        })
    return {
        "kind": "type", "name": t.name, "doc": t.doc or "", "ruleset": src.ruleset(file), **_location(t.span),
        "fields": fields, "inherits": [{"field": f, "from": via} for f, via in t.inherits],
        "derived_by": [{"rule": r, "ruleset": rule_sets.get(r, "")} for r in rules],
    }


def _enum_data(e: EnumSpec, src: _Sources, used_by: list[str]) -> dict:
    file = e.span.file if e.span else None
    inline = "." in e.name
    members = []
    for m in e.members:
        origin = src.member_origin.get((e.name, m), file)
        relabel = src.relabelled.get((e.name, m))
        members.append({"name": m, "label": e.label(m),
                        "added_by": (src.ruleset(origin) or origin) if origin != file else None,
                        "relabelled_by": (src.ruleset(relabel) or relabel) if relabel else None})
    return {"kind": "enum", "name": e.name, "open": e.open, "inline": inline,
            "doc": "" if inline else src.enum_docs.get(e.name, ""), "ruleset": src.ruleset(file),
            **_location(e.span), "members": members, "used_by": used_by}


def find_item(data: dict, name: str) -> Optional[dict]:
    """The type or enum called ``name`` (a type first, should both exist)."""
    for item in data["types"] + data["enums"]:
        if item["name"] == name:
            return item
    return None


def unknown_name(name: str, data: dict, elsewhere: Optional[dict[str, str]] = None) -> str:
    """The message for a name that is neither a type nor an enum: did you mean, and, when a built-in
    ruleset that is not loaded declares it, which one to add."""
    names = [i["name"] for i in data["types"] + data["enums"]]
    msg = f"unknown type or enum '{name}'"
    if elsewhere and name in elsewhere:
        return msg + f"; the built-in ruleset {elsewhere[name]} declares it: add --ruleset {elsewhere[name]}"
    hint = did_you_mean(name, names)
    return msg + (f"; {hint}" if hint else "")


def json_view(data: dict, item: Optional[dict] = None) -> dict:
    """The JSON document: one item, or ``{"types": [...], "enums": [...]}`` sorted by name."""
    if item is not None:
        return item
    return {"types": sorted(data["types"], key=lambda i: i["name"]),
            "enums": sorted(data["enums"], key=lambda i: i["name"])}


# ---- text -------------------------------------------------------------------------------------------------


def _where(item: dict) -> str:
    """Where an item is declared: a shipped file by its ruleset (its lines are not the reader's to
    edit), any other file with the line."""
    rs = item["ruleset"]
    file = item["file"] or ""
    if file.startswith(BUILTIN_PREFIX):
        return "the built-in schema" if rs == "schema" else f"the built-in ruleset {rs}"
    place = f"ruleset {rs}" if rs else "no ruleset"
    return f"{place} ({file}:{item['line']})" if file else place


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def type_text_view(t: dict) -> str:
    head = f"type {t['name']}" + (f": {t['doc']}" if t["doc"] else "")
    out = [head, f"  declared in {_where(t)}"]
    if t["derived_by"]:
        out.append("  derived by " + ", ".join(f"rule {d['rule']}" + (f" ({d['ruleset']})" if d["ruleset"] else "")
                                              for d in t["derived_by"]))
    out += ["", "  fields (? = optional; every fact also has id and title):"]
    rows = []
    for f in t["fields"]:
        notes = []
        if f["enum"] is not None:
            notes.append("open enum" if f["enum_open"] else "enum")
        if f["inherited_from"]:
            notes.append(f"inherited from {f['inherited_from']}")
        if f["added_by"]:
            notes.append(f"added by {f['added_by']}")
        if f["doc"]:
            notes.append(f["doc"])
        rows.append([f["name"], f["type"] + ("?" if f["optional"] else ""), "; ".join(notes)])
    out += _table(rows, "    ") if rows else ["    (none)"]
    if t["inherits"]:
        out += ["", "  inherits:"] + [f"    {i['field']} from {i['from']}" for i in t["inherits"]]
    return "\n".join(out)


def enum_text_view(e: dict) -> str:
    kind = "open enum" if e["open"] else "enum"
    out = [f"{kind} {e['name']}" + (f": {e['doc']}" if e["doc"] else ""), f"  declared in {_where(e)}"]
    if e["open"]:
        out.append("  open: a value outside the list is a warning (W401), not an error")
    out += ["", "  members (label for people):"]
    rows = []
    for m in e["members"]:
        note = []
        if m["added_by"]:
            note.append(f"added by {m['added_by']}")
        if m["relabelled_by"]:
            note.append(f"relabelled by {m['relabelled_by']}")
        rows.append([m["name"], m["label"] + (f"  ({'; '.join(note)})" if note else "")])
    out += _table(rows, "    ") if rows else ["    (none)"]
    if e["used_by"]:
        out += ["", "  used by: " + ", ".join(e["used_by"])]
    return "\n".join(out)


def text_view(data: dict, item: Optional[dict] = None) -> str:
    if item is not None:
        return type_text_view(item) if item["kind"] == "type" else enum_text_view(item)
    parts = [type_text_view(t) for t in data["types"]] + [enum_text_view(e) for e in data["enums"]]
    return "\n\n".join(parts)


# ---- Markdown ---------------------------------------------------------------------------------------------


def anchor(kind: str, name: str) -> str:
    """The anchor of a section ``### type `measure``` as GitHub makes it: ``type-measure``."""
    return f"{kind}-" + "".join(ch for ch in name.lower() if ch.isalnum() or ch in "-_")


def _md_file(file: Optional[str]) -> str:
    if not file:
        return ""
    if file.startswith(BUILTIN_PREFIX):
        file = "rulesets/" + file[len(BUILTIN_PREFIX):]
    return f" (`{file}`)"


def _md_where(item: dict) -> str:
    rs = item["ruleset"]
    place = "the built-in schema" if rs == "schema" else f"the ruleset `{rs}`" if rs else "a file without a ruleset"
    return place + _md_file(item["file"])


def _md_type(field: dict, names: set[str]) -> str:
    """A field's type as the language writes it, with a link to the section of the type or enum it
    names."""
    text = field["type"]
    target = field["enum"] or field["ref"]
    kind = "enum" if field["enum"] else "type"
    if target is not None and target in names and "." in target:  # an inline enum
        return f"`{text}` ([labels](#{anchor(kind, target)}))"
    if target is not None and target in names and text.endswith(target):
        head = text[:-len(target)].strip()
        return (f"`{head}` " if head else "") + f"[`{target}`](#{anchor(kind, target)})"
    return f"`{text}`"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def type_markdown(t: dict, type_names: set[str], enum_names: set[str], level: int = 3) -> str:
    h = "#" * level
    out = [f"{h} type `{t['name']}`", ""]
    if t["doc"]:
        out += [t["doc"] + ("" if t["doc"].endswith(".") else "."), ""]
    line = f"Declared in {_md_where(t)}."
    if t["derived_by"]:
        rules = _join([f"`{d['rule']}`" for d in t["derived_by"]])
        sets = sorted({d["ruleset"] for d in t["derived_by"] if d["ruleset"]})
        line += (f" **Derived**: concluded by the rule{'s' if len(t['derived_by']) > 1 else ''} {rules}"
                 + (f" (ruleset{'s' if len(sets) > 1 else ''} {_join([f'`{s}`' for s in sets])})" if sets else "")
                 + ".")
    out += [line, ""]
    if t["fields"]:
        out += ["| field | type | required | notes |", "| --- | --- | --- | --- |"]
        for f in t["fields"]:
            notes = []
            if f["inherited_from"]:
                notes.append(f"inherited from `{f['inherited_from']}` when not set")
            if f["added_by"]:
                notes.append(f"added by `{f['added_by']}`")
            if f["doc"]:
                notes.append(f["doc"])
            kind_names = enum_names if f["enum"] is not None else type_names
            out.append(f"| `{f['name']}` | {_md_type(f, kind_names)} | {'no' if f['optional'] else 'yes'} | "
                       f"{_md_cell('; '.join(notes))} |")
        out.append("")
    else:
        out += ["No fields of its own.", ""]
    if t["inherits"]:
        out += ["Inherits: " + "; ".join(f"`{i['field']}` from the fact `{i['from']}` points to"
                                         for i in t["inherits"]) + ".", ""]
    return "\n".join(out)


def enum_markdown(e: dict, level: int = 3) -> str:
    h = "#" * level
    out = [f"{h} enum `{e['name']}`", ""]
    if e["doc"]:
        out += [e["doc"] + ("" if e["doc"].endswith((".", ":")) else "."), ""]
    line = f"Declared in {_md_where(e)}"
    if e["inline"]:
        line = f"An inline enum, declared with the field `{e['name']}`{_md_file(e['file'])}"
    line += "." + (" **Open**: a value outside the list is a warning (W401), not an error." if e["open"] else "")
    out += [line, ""]
    if e["used_by"]:
        out += ["Used by " + _join([f"`{u}`" for u in e["used_by"]]) + ".", ""]
    out += ["| member | label |", "| --- | --- |"]
    for m in e["members"]:
        notes = []
        if m["added_by"]:
            notes.append(f"added by `{m['added_by']}`")
        if m["relabelled_by"]:
            notes.append(f"relabelled by `{m['relabelled_by']}`")
        out.append(f"| `{m['name']}` | {_md_cell(m['label'])}" + (f" ({'; '.join(notes)})" if notes else "") + " |")
    out.append("")
    return "\n".join(out)


def item_markdown(data: dict, item: dict) -> str:
    """One section of the vocabulary page (what ``coherence schema NAME --format markdown`` prints)."""
    types = {t["name"] for t in data["types"]}
    enums = {e["name"] for e in data["enums"]}
    return type_markdown(item, types, enums) if item["kind"] == "type" else enum_markdown(item)


INTRO = (
    "Every type a fact can have and every enum a field can take, as `coherence schema` shows them. A "
    "field's type is written as in the language (`ref T`: the id of a fact of type `T`; `list of T`; an "
    "enum by its name); `?` marks an optional field. Every fact also has the implicit fields `id` and "
    "`title`. An enum member's label is how findings and reports name it (`{m.area}` renders "
    "`family_reunion` as \"family reunification\"). A type is **derived** when rules conclude its facts; "
    "a comment written on a field's line, and the comment lines right above an enum, are shown as their "
    "notes. [The language reference](language.md#the-schema) says how to declare and extend all of this.")


def vocabulary_markdown(data: dict, title: str = "Vocabulary", preface: str = "") -> str:
    """The page: an index of types and enums, then a section for each."""
    types = {t["name"] for t in data["types"]}
    enums = {e["name"] for e in data["enums"]}
    out = [f"# {title}", ""]
    if preface:
        out += [preface, ""]
    out += [INTRO, "", "## Types", "", "| type | declared in | derived by | description |", "| --- | --- | --- | --- |"]
    for t in data["types"]:
        where = "schema" if t["ruleset"] == "schema" else t["ruleset"] or "-"
        rules = ", ".join(f"`{d['rule']}`" for d in t["derived_by"])
        out.append(f"| [`{t['name']}`](#{anchor('type', t['name'])}) | {where} | {rules} | {_md_cell(t['doc'])} |")
    out += ["", "| enum | declared in | members |", "| --- | --- | --- |"]
    for e in data["enums"]:
        where = "schema" if e["ruleset"] == "schema" else e["ruleset"] or "-"
        members = " ".join(m["name"] for m in e["members"])
        out.append(f"| [`{e['name']}`](#{anchor('enum', e['name'])}){' (open)' if e['open'] else ''} | {where} | "
                   f"{members} |")
    out.append("")
    for t in data["types"]:
        if t is data["types"][0]:
            out += ["## Types in detail", ""]
        out.append(type_markdown(t, types, enums))
    for e in data["enums"]:
        if e is data["enums"][0]:
            out += ["## Enums in detail", ""]
        out.append(enum_markdown(e))
    return "\n".join(out).rstrip("\n") + "\n"


def markdown_view(data: dict, item: Optional[dict] = None) -> str:
    if item is not None:
        return item_markdown(data, item).rstrip("\n")
    return vocabulary_markdown(data).rstrip("\n")


# ---- the command ------------------------------------------------------------------------------------------


def builtin_elsewhere(loaded: dict) -> dict[str, str]:
    """Names of types and enums that a built-in ruleset which is not loaded declares -> that ruleset."""
    from ..session import Session, builtin_rulesets

    names = {i["name"] for i in loaded["types"] + loaded["enums"]}
    out: dict[str, str] = {}
    for rs in builtin_rulesets():
        s = Session(rulesets=[rs])
        if not s.run_until("check") or s.errors:
            continue
        for name in list(s.program.schema.types) + list(s.program.schema.enums):
            if name not in names:
                out.setdefault(name, rs)
    return out


def schema_view(session, name: Optional[str], fmt: str) -> tuple[Optional[str], Optional[str]]:
    """``coherence schema [NAME]``: ``(output, None)``, or ``(None, message)`` for an unknown name.
    ``session`` holds the rulesets and has been run to the check stage without errors."""
    from ..findings.report import dump_json

    data = vocabulary(session)
    item = None
    if name:
        item = find_item(data, name)
        if item is None:
            return None, unknown_name(name, data, builtin_elsewhere(data))
    if fmt == "json":
        return dump_json(json_view(data, item)).rstrip("\n"), None
    if fmt == "markdown":
        return markdown_view(data, item), None
    return text_view(data, item), None
