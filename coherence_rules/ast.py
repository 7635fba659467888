"""Typed syntax tree of the coherence language.

Every node carries a :class:`Span`. The parse stage builds these nodes directly from the parser's
reductions; no Lark object ever leaves :mod:`coherence_rules.parse`. Nodes are plain pydantic
models so they can be dumped (``--dump ast``), compared in tests (``parse(fmt(x)) == parse(x)``
compares nodes without spans, see :func:`strip_spans`) and serialised.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """A region of a source file. Lines and columns are 1-based; ``end_column`` is exclusive."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def start(self) -> "Span":
        """The zero-width span at this span's start (used for 'missing field' diagnostics)."""
        return Span.model_construct(
            file=self.file, line=self.line, column=self.column, end_line=self.line, end_column=self.column + 1
        )


class Node(BaseModel):
    """Base of every syntax node."""

    model_config = ConfigDict(arbitrary_types_allowed=True, defer_build=True)

    span: Span


# ---- values ---------------------------------------------------------------------------------------

ValueKind = Literal["string", "number", "date", "bool", "word", "list", "cell"]


class Value(Node):
    """A literal as written. ``kind`` is the lexical kind; the schema decides what it means.

    - ``string``: ``value`` is the unescaped text;
    - ``number``: ``value`` is an int or a float, ``text`` the digits as written;
    - ``date``: ``text`` is ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (checked against the calendar
      when the schema says the field is a date);
    - ``bool``: ``value`` is True or False;
    - ``word``: a bare word, ``value`` is the word (an enum member or a fact id);
    - ``list``: ``items`` holds the scalar items;
    - ``cell``: a CSV cell, typed later by the schema of its field.
    """

    kind: ValueKind
    value: Any = None
    text: str = ""
    items: list["Value"] = []


class Field(Node):
    """``name: value`` inside a fact, an accept, a ruleset header or a criterion."""

    name: str
    name_span: Span
    value: Value


class Fact(Node):
    """``TYPE ID "Title"? { fields }``. ``span`` covers the whole fact; ``header`` the first line."""

    type_name: str
    type_span: Span
    id: str
    id_span: Span
    title: Optional[str] = None
    fields: list[Field] = []

    def field(self, name: str) -> Optional[Field]:
        for f in self.fields:
            if f.name == name:
                return f
        return None


class Accept(Node):
    """``accept CODE on [IDS] { reason: ..., until: ... }``: a recorded trade-off."""

    criterion: str
    criterion_span: Span
    ids: list[str]
    id_spans: list[Span]
    fields: list[Field] = []


# ---- schema ---------------------------------------------------------------------------------------


class EnumDecl(Node):
    """``enum NAME open? { members }`` or, with ``extend``, ``extend enum NAME { members }``."""

    name: str
    name_span: Span
    open: bool = False
    extend: bool = False
    members: list[str] = []
    member_spans: list[Span] = []


class TypeExpr(Node):
    """A field's type: ``string``/``number``/``date``/``bool``/an enum name (``named``), ``ref T``,
    ``list of T``, or an inline ``enum { ... }``."""

    kind: Literal["named", "ref", "list", "enum"]
    name: str = ""
    item: Optional["TypeExpr"] = None
    members: list[str] = []


class FieldDecl(Node):
    name: str
    type: TypeExpr
    optional: bool = False


class Inherit(Node):
    """``inherit FIELD from VIA``: when a fact leaves FIELD unset, take it from the fact that its
    reference field VIA points to."""

    field: str
    via: str


class TypeDecl(Node):
    """``type NAME "doc" { fields, inherits }`` or ``extend type NAME { ... }``."""

    name: str
    name_span: Span
    doc: Optional[str] = None
    extend: bool = False
    fields: list[FieldDecl] = []
    inherits: list[Inherit] = []


class RulesetDecl(Node):
    """``ruleset NAME "Title" { version: "..." }``."""

    name: str
    title: Optional[str] = None
    fields: list[Field] = []


# ---- conditions -----------------------------------------------------------------------------------


class Operand(Node):
    """One side of a comparison.

    - ``path``: ``parts`` is the dotted word split at dots (``o.occupation`` -> ``[o, occupation]``);
      the check stage resolves the head to a binding, a field of the pattern's own fact, or (for a
      single word that is neither) an enum literal, recorded in ``resolved``;
    - ``literal``: ``value`` holds a :class:`Value`;
    - ``fact_ref``: ``@ID``, ``parts == [ID]``;
    - ``null``, ``today``.
    """

    kind: Literal["path", "literal", "fact_ref", "null", "today"]
    parts: list[str] = []
    value: Optional[Value] = None


class Compare(Node):
    op: Literal["==", "!=", "<", "<=", ">", ">="]
    left: Operand
    right: Operand


class InList(Node):
    left: Operand
    items: list[Operand]


class Contains(Node):
    left: Operand
    right: Operand


class Matches(Node):
    left: Operand
    pattern: str
    pattern_span: Span


class And(Node):
    items: list["Condition"]


class Or(Node):
    items: list["Condition"]


class Not(Node):
    item: "Condition"


Condition = Union[Compare, InList, Contains, Matches, And, Or, Not]


class Pattern(Node):
    """One line of a ``when`` block: ``b: TYPE where C``, ``not TYPE where C``, ``exists TYPE where C``."""

    kind: Literal["match", "not", "exists"]
    binding: Optional[str] = None
    type_name: str
    type_span: Span
    where: Optional[Condition] = None


class When(Node):
    patterns: list[Pattern] = []


class DeriveField(Node):
    name: str
    value: Operand


class Derive(Node):
    type_name: str
    type_span: Span
    fields: list[DeriveField] = []


class Rule(Node):
    """``rule NAME "Title" { when {...} derive TYPE {...} }``: concludes derived facts."""

    name: str
    name_span: Span
    title: Optional[str] = None
    fields: list[Field] = []
    when: Optional[When] = None
    derive: Optional[Derive] = None


class Criterion(Node):
    """``criterion CODE "Title" { dimension, score, source, when {...}, message, advice, ... }``."""

    code: str
    code_span: Span
    title: Optional[str] = None
    fields: list[Field] = []
    when: Optional[When] = None

    def field(self, name: str) -> Optional[Field]:
        for f in self.fields:
            if f.name == name:
                return f
        return None


# ---- tests ----------------------------------------------------------------------------------------


class Expectation(Node):
    """``expect CODE on [ids]`` / ``expect no CODE`` / ``expect count CODE == N``."""

    kind: Literal["on", "no", "count"]
    code: str
    code_span: Span
    ids: list[str] = []
    op: str = "=="
    count: int = 0


class TestDecl(Node):
    __test__ = False  # not a pytest test class

    name: str
    given: list[Fact] = []
    expectations: list[Expectation] = []


Item = Union[Fact, Accept, EnumDecl, TypeDecl, RulesetDecl, Rule, Criterion, TestDecl]


class Comment(BaseModel):
    """A ``#`` comment, kept so that ``fmt`` can put it back."""

    model_config = ConfigDict(defer_build=True)

    line: int
    column: int
    text: str


class Module(BaseModel):
    """One parsed source: a file, or one fenced block of a Markdown file."""

    model_config = ConfigDict(defer_build=True)

    file: str
    kind: Literal["policy", "rules"]
    items: list[Any] = []
    comments: list[Comment] = []


# Nodes are built with ``model_construct`` (no validation), so their pydantic schemas are built
# lazily (``defer_build``), when a node is first validated or dumped; forward references are
# resolved then.


def strip_spans(obj: Any) -> Any:
    """A span-free plain-data view of a node tree, for comparing trees that differ only in layout."""
    if isinstance(obj, BaseModel):
        out = {"__node__": type(obj).__name__}
        for name in type(obj).model_fields:
            if name.endswith("span") or name.endswith("spans") or name in ("comments", "file"):
                continue
            out[name] = strip_spans(getattr(obj, name))
        return out
    if isinstance(obj, list):
        return [strip_spans(x) for x in obj]
    return obj
