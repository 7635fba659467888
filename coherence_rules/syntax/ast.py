"""Typed syntax tree of the coherence language.

Every node carries a :class:`Span`. The parse stage builds these nodes directly from the parser's
reductions; no Lark object ever leaves :mod:`coherence_rules.syntax.parser`. Nodes are slotted dataclasses
(keyword-only, compared by value), so they are cheap to build, compare and pickle: a large policy
file is hundreds of thousands of them, and their cost per node decides how fast a file is read
(``docs/performance.md``). :func:`to_data` gives a node's plain-data form (tests, ``fmt``'s
self-check compares nodes without spans, see :func:`strip_spans`).
"""

from __future__ import annotations

from dataclasses import dataclass, field as _field, fields as _fields
from typing import Any, ClassVar, Literal, NamedTuple, Optional, Union


class Span(NamedTuple):
    """A region of a source file. Lines and columns are 1-based; ``end_column`` is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def start(self) -> "Span":
        """The zero-width span at this span's start (used for 'missing field' diagnostics)."""
        return Span(self.file, self.line, self.column, self.line, self.column + 1)


_node = dataclass(slots=True, kw_only=True)


def _many():
    return _field(default_factory=list)


@_node
class Node:
    """Base of every syntax node."""

    span: Span


# ---- values ---------------------------------------------------------------------------------------

ValueKind = Literal["string", "number", "date", "bool", "word", "list", "cell"]


@_node
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
    items: list["Value"] = _many()


@_node
class Field(Node):
    """``name: value`` inside a fact, an accept, a ruleset header or a criterion."""

    name: str
    name_span: Span
    value: Value


@_node
class Fact(Node):
    """``TYPE ID "Title"? { fields }``. ``span`` covers the whole fact; ``type_span`` and ``id_span`` the
    words of its header."""

    type_name: str
    type_span: Span
    id: str
    id_span: Span
    title: Optional[str] = None
    fields: list[Field] = _many()

    def field(self, name: str) -> Optional[Field]:
        for f in self.fields:
            if f.name == name:
                return f
        return None


@_node
class Accept(Node):
    """``accept CODE on [IDS] { reason: ..., until: ... }``: a recorded trade-off."""

    criterion: str
    criterion_span: Span
    ids: list[str]
    id_spans: list[Span]
    fields: list[Field] = _many()


# ---- schema ---------------------------------------------------------------------------------------


@_node
class EnumDecl(Node):
    """``enum NAME open? { members }`` or, with ``extend``, ``extend enum NAME { members }``.

    Each member may carry a label for people (``family_reunion "family reunification"``):
    ``labels[i]`` is member ``i``'s label (None when it has none), ``label_spans[i]`` where it is
    written. In an ``extend enum``, a label given to a member the enum already has replaces its
    label."""

    name: str
    name_span: Span
    open: bool = False
    extend: bool = False
    members: list[str] = _many()
    member_spans: list[Span] = _many()
    labels: list[Optional[str]] = _many()
    label_spans: list[Optional[Span]] = _many()


@_node
class TypeExpr(Node):
    """A field's type: ``string``/``number``/``date``/``bool``/an enum name (``named``), ``ref T``,
    ``list of T``, or an inline ``enum { ... }``."""

    kind: Literal["named", "ref", "list", "enum"]
    name: str = ""
    item: Optional["TypeExpr"] = None
    members: list[str] = _many()
    labels: list[Optional[str]] = _many()  # an inline enum's labels, as in EnumDecl


@_node
class FieldDecl(Node):
    name: str
    type: TypeExpr
    optional: bool = False


@_node
class Inherit(Node):
    """``inherit FIELD from VIA``: when a fact leaves FIELD unset, take it from the fact that its
    reference field VIA points to."""

    field: str
    via: str


@_node
class TypeDecl(Node):
    """``type NAME "doc" { fields, inherits }`` or ``extend type NAME { ... }``."""

    name: str
    name_span: Span
    doc: Optional[str] = None
    extend: bool = False
    fields: list[FieldDecl] = _many()
    inherits: list[Inherit] = _many()


@_node
class RulesetDecl(Node):
    """``ruleset NAME "Title" { version: "..." }``."""

    name: str
    title: Optional[str] = None
    fields: list[Field] = _many()


# ---- conditions -----------------------------------------------------------------------------------


@_node
class Operand(Node):
    """One side of a comparison.

    - ``path``: ``parts`` is the dotted word split at dots (``o.occupation`` -> ``[o, occupation]``);
      the check stage resolves the head to a binding, a field of the pattern's own fact, or (for a
      single word that is neither) an enum literal or a fact id, by the type on the other side of the
      comparison (the resolved operand is the check stage's, :mod:`coherence_rules.checker.ir`);
    - ``literal``: ``value`` holds a :class:`Value`;
    - ``fact_ref``: ``@ID``, ``parts == [ID]``;
    - ``null``, ``today``.
    """

    kind: Literal["path", "literal", "fact_ref", "null", "today"]
    parts: list[str] = _many()
    value: Optional[Value] = None


@_node
class Compare(Node):
    op: Literal["==", "!=", "<", "<=", ">", ">="]
    left: Operand
    right: Operand


@_node
class InList(Node):
    left: Operand
    items: list[Operand]


@_node
class Contains(Node):
    """``list contains item``; with ``any``, ``list intersects list`` (the two share an item)."""

    left: Operand
    right: Operand
    any: bool = False


@_node
class Matches(Node):
    left: Operand
    pattern: str
    pattern_span: Span


@_node
class And(Node):
    items: list["Condition"]


@_node
class Or(Node):
    items: list["Condition"]


@_node
class Not(Node):
    item: "Condition"


Condition = Union[Compare, InList, Contains, Matches, And, Or, Not]


@_node
class Pattern(Node):
    """One line of a ``when`` block: ``b: TYPE where C``, ``not TYPE where C``, ``exists TYPE where C``."""

    kind: Literal["match", "not", "exists"]
    binding: Optional[str] = None
    type_name: str
    type_span: Span
    where: Optional[Condition] = None


@_node
class When(Node):
    patterns: list[Pattern] = _many()


@_node
class DeriveField(Node):
    name: str
    value: Operand


@_node
class Derive(Node):
    type_name: str
    type_span: Span
    fields: list[DeriveField] = _many()


@_node
class Rule(Node):
    """``rule NAME "Title" { when {...} derive TYPE {...} }``: concludes derived facts."""

    name: str
    name_span: Span
    title: Optional[str] = None
    fields: list[Field] = _many()
    when: Optional[When] = None
    derive: Optional[Derive] = None


@_node
class Criterion(Node):
    """``criterion CODE "Title" { dimension, score, source, when {...}, message, advice, ... }``."""

    code: str
    code_span: Span
    title: Optional[str] = None
    fields: list[Field] = _many()
    when: Optional[When] = None

    def field(self, name: str) -> Optional[Field]:
        for f in self.fields:
            if f.name == name:
                return f
        return None


# ---- tests ----------------------------------------------------------------------------------------


@_node
class Expectation(Node):
    """``expect CODE on [ids]`` / ``expect no CODE`` / ``expect count CODE == N``."""

    kind: Literal["on", "no", "count"]
    code: str
    code_span: Span
    ids: list[str] = _many()
    op: str = "=="
    count: int = 0


@_node
class TestDecl(Node):
    __test__ = False  # not a pytest test class

    name: str
    given: list[Fact] = _many()
    expectations: list[Expectation] = _many()




@_node
class Unparsed(Node):
    """A top-level statement that did not parse (its syntax error is reported), kept in place of
    the statement so that the rest of its file is still checked: ``keyword`` and ``name`` are what
    its header declares (``measure``/``WPR.7``, ``criterion``/``CAP``, ``extend type``/``measure``;
    no name for a test), so that uses of that name are not reported again as unknown."""

    keyword: str
    name: Optional[str] = None


@_node
class Comment:
    """A ``#`` comment, kept so that ``fmt`` can put it back."""

    line: int
    column: int
    text: str


@_node
class Module:
    """One parsed source: a file, or one fenced block of a Markdown file."""

    file: str
    kind: Literal["policy", "rules"]
    items: list[Any] = _many()
    comments: list[Comment] = _many()

    #: True for a module known to hold facts and nothing else (at least one): a module of the
    #: check cache (:class:`coherence_rules.sources.cache.CachedModule`), whose tree is only built when
    #: ``items`` is first read. Passes that look for declarations, rules or criteria skip it
    #: without reading ``items``.
    facts_only: ClassVar[bool] = False


def to_data(obj: Any, spans: bool = True) -> Any:
    """A node tree as plain data (dicts named by ``__node__``, lists, scalars); without spans,
    comments and file names when ``spans`` is false."""
    if isinstance(obj, Span):
        return dict(obj._asdict()) if spans else None
    if hasattr(obj, "__dataclass_fields__"):
        node = type(obj)
        while "__dataclass_fields__" not in node.__dict__:  # a subclass that only adds behaviour
            node = node.__base__
        out = {"__node__": node.__name__}
        for name in (f.name for f in _fields(obj)):
            if not spans and (name.endswith("span") or name.endswith("spans") or name in ("comments", "file")):
                continue
            out[name] = to_data(getattr(obj, name), spans)
        return out
    if isinstance(obj, list):
        return [to_data(x, spans) for x in obj]
    return obj


def strip_spans(obj: Any) -> Any:
    """A span-free plain-data view of a node tree, for comparing trees that differ only in layout."""
    return to_data(obj, spans=False)
