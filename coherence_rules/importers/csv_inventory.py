"""``coherence import csv``: a policy inventory spreadsheet into a ``.policy`` file.

The spreadsheet has the columns of a CSV source (docs/language.md, "CSV inventories"): ``type``
and ``id`` (required), ``title`` (optional), and one column per field. Empty cells are absent
fields. The importer does not load the schema, so it writes each cell by its shape and leaves the
typing to the checker, which types every value by the schema when the file is checked:

- a bare word when the cell looks like an identifier (``^[A-Za-z_][A-Za-z0-9_.\\-]*$``) and is
  not ``true``/``false``: an enum member or a fact id;
- ``true`` and ``false`` as booleans;
- as written, when the cell is a number (``-2``, ``0.5``) or a date (``2018``, ``2018-06``,
  ``2018-06-01``);
- otherwise a quoted string, with ``\\`` and ``"`` escaped and line breaks turned into spaces
  (a string does not span lines).

A cell containing ``;`` becomes a list ``[a, b]`` whose items follow the same rules; so does any
cell of a field the built-in schema declares as a list (:data:`LIST_FIELDS`), even with one item.
In other fields a one-item list is written with a trailing ``;`` (``MU;``).

Two exceptions follow the built-in schema (docs/vocabulary.md lists its field names and types): a cell
of a field it declares as ``string`` (:data:`STRING_FIELDS`), and of any field named ``cite``, is
always a quoted string, ``;`` included (``cite: "Act 12; s. 3"``, ``iso3: "MUS"``).

The value helpers here (:func:`quote`, :func:`format_scalar`, :func:`render_fact`) are shared by
the other importers.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Sequence

from . import (CsvRow, CsvTable, GeneratedFile, ImportFailure, comment_text, file_header, read_csv, require_columns,
               safe_file_name)

BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?")
FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*")

# Fields that the built-in schema (docs/vocabulary.md) declares as `list of ...`: their cells are always
# written as lists, so a single item (`origin: [MU]`) is still a list.
LIST_FIELDS: frozenset[tuple[str, str]] = frozenset({
    ("mechanism", "members"),
    ("mechanism", "areas"),
    ("measure", "origin"),
    ("agreement", "parties"),
})

# Fields that the built-in schema declares as `string`: always quoted, never split on `;`. Any
# field named `cite` is treated the same way, whatever its type.
STRING_FIELDS: frozenset[tuple[str, str]] = frozenset({
    ("jurisdiction", "iso3"),
    ("instrument", "cite"),
    ("consultation", "cite"),
    ("objective", "indicator"),
    ("objective", "cite"),
    ("measure", "evidence"),
    ("measure", "cite"),
    ("agreement", "cite"),
    ("clause", "provision"),
    ("clause", "cite"),
    ("law", "provision"),
    ("law", "cite"),
    ("obligation", "convention"),
    ("obligation", "article"),
    ("obligation", "forbids"),
    ("obligation", "cite"),
    ("ratification", "convention"),
})

# Line breaks as str.splitlines() knows them, with the blanks around them.
_LINE_BREAK = re.compile(r"[^\S\n\r\v\f\x1c-\x1e\x85\u2028\u2029]*"
                         r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*")


def one_line(text: str) -> str:
    """``text`` with every line break (and the blanks around it) replaced by one space."""
    return _LINE_BREAK.sub(" ", text)


def quote(text: str) -> str:
    """``text`` as a string literal of the language: on one line, ``\\`` and ``"`` escaped."""
    escaped = one_line(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def format_scalar(text: str) -> str:
    """One cell value written by its shape (see the module documentation)."""
    if text in ("true", "false"):
        return text
    if NUMBER.fullmatch(text) or DATE.fullmatch(text):
        return text
    if BARE_WORD.fullmatch(text):
        return text
    return quote(text)


def format_cell(text: str, as_list: bool) -> str:
    """A trimmed, non-empty cell written as a value; a list when it holds ``;`` or ``as_list``."""
    if ";" in text or as_list:
        items = [item.strip() for item in text.split(";")]
        return "[" + ", ".join(format_scalar(item) for item in items if item) + "]"
    return format_scalar(text)


def render_fact(type_name: str, fact_id: str, title: str | None, fields: list[tuple[str, str]],
                comments: Sequence[str] = ()) -> str:
    """A fact in the layout of the generated files: comment lines, the header line, one field per
    line indented by two spaces, the closing brace, and a blank line."""
    out = [f"# {comment_text(comment)}\n" for comment in comments]
    head = f"{type_name} {fact_id}"
    if title:
        head += f" {quote(title)}"
    if fields:
        out.append(head + " {\n")
        out.extend(f"  {name}: {value}\n" for name, value in fields)
        out.append("}\n")
    else:
        out.append(head + " {}\n")
    return "".join(out) + "\n"


def import_inventory(path: Path) -> list[GeneratedFile]:
    """Convert an inventory CSV into ``<name>.policy`` (same name, ``.policy`` suffix)."""
    table = read_csv(path)
    require_columns(table, ["type", "id"], "a policy inventory")
    fields = [name for name in table.header if name and name not in ("type", "id", "title")]
    for name in fields:
        if not FIELD_NAME.fullmatch(name):
            raise ImportFailure(
                f"column '{name}' is not a field name (snake_case: lower-case letters, digits and _)",
                table.path, 1,
            )
    name = table.path.name
    parts = [file_header([
        f"Policy inventory imported from {name} (sha256 {table.sha256})",
        "Citation: the inventory's own; each fact's cite field where the inventory has one",
        f"Produced by: coherence import csv {name}",
        "Values are written by their shape (bare word, number, date, true/false, \"string\");",
        "the schema types them when the file is checked (coherence lint, coherence check).",
    ])]
    for row in table.rows:
        parts.append(_inventory_fact(table, row, fields))
    stem = safe_file_name(table.path.stem, "inventory")
    return [GeneratedFile(PurePosixPath(f"{stem}.policy"), "".join(parts))]


def _inventory_fact(table: CsvTable, row: CsvRow, fields: list[str]) -> str:
    type_name = row.cells["type"].strip()
    fact_id = row.cells["id"].strip()
    title = row.cells.get("title", "").strip()
    if not type_name:
        raise ImportFailure("the 'type' cell is empty", table.path, row.line)
    if not FIELD_NAME.fullmatch(type_name):
        raise ImportFailure(
            f"'{type_name}' in column 'type' is not a type name (snake_case)", table.path, row.line
        )
    if not fact_id:
        raise ImportFailure("the 'id' cell is empty", table.path, row.line)
    if not BARE_WORD.fullmatch(fact_id):
        raise ImportFailure(
            f"'{fact_id}' in column 'id' is not a fact id (a letter or _, then letters, digits, "
            "_, . or -)", table.path, row.line,
        )
    values: list[tuple[str, str]] = []
    for name in fields:
        cell = row.cells[name].strip()
        if not cell:
            continue
        if name == "cite" or (type_name, name) in STRING_FIELDS:
            values.append((name, quote(cell)))
        else:
            values.append((name, format_cell(cell, (type_name, name) in LIST_FIELDS)))
    return render_fact(type_name, fact_id, title or None, values, [f"{table.path.name} line {row.line}"])
