"""Parse stage: source text -> :class:`~coherence_rules.syntax.ast.Module`.

The Lark LALR parser runs with an *inline* transformer: nodes are built as the parser reduces, so
no Lark tree is ever built and none leaves this module. The analysed grammar is cached in the
user's cache directory (keyed by the grammar's content and Lark's version) so start-up does not
pay for the LALR analysis: as data (JSON), not as a pickle, read through the cache's checked
reader (:func:`coherence_rules.sources.cache.read_checked`).

Syntax errors are turned into plain-language diagnostics by example
(:mod:`~coherence_rules.syntax.syntax_errors`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from . import ast as A
from ..diagnostics import Diagnostic
from .numbers import number_value, out_of_range_message
from .syntax_errors import _STATEMENT_START, _syntax_diagnostic

GRAMMAR_PATH = (Path(__file__).resolve().parent.parent / "grammar" / "coherence.lark").resolve()

MAX_NESTING = 100

_STRING_ESCAPE = re.compile(r"\\(.)")


class _Deep(Exception):
    """Raised by the transformer when a condition nests beyond :data:`MAX_NESTING`."""

    def __init__(self, token_span: A.Span):
        self.span = token_span


class _OutOfRange(Exception):
    """Raised by the transformer for a number beyond the language's range (:mod:`.numbers`)."""

    def __init__(self, span: A.Span, text: str):
        self.span = span
        self.text = text


class _BadEscape(Exception):
    def __init__(self, span: A.Span, char: str):
        self.span = span
        self.char = char


def _tok_span(file: str, tok: Any) -> A.Span:
    return A.Span(
        file=file, line=tok.line, column=tok.column, end_line=tok.end_line, end_column=tok.end_column
    )


def _join(a: A.Span, b: A.Span) -> A.Span:
    return A.Span(file=a.file, line=a.line, column=a.column, end_line=b.end_line, end_column=b.end_column)


class _Builder:
    """Callbacks for the parser's reductions. ``file`` is set per parse (one builder per call)."""

    def __init__(self, file: str):
        self.file = file
        self._last_span = A.Span(file=file, line=1, column=1, end_line=1, end_column=1)
        self._depths: dict[int, int] = {}  # nesting depth of condition nodes, by id()
        self._keep: list = []  # keeps those nodes alive so their id() stays theirs during the parse

    # helpers
    def _span(self, x: Any) -> A.Span:
        if isinstance(x, A.Node):
            return x.span
        if isinstance(x, A.Span):
            return x
        return _tok_span(self.file, x)

    def _cover(self, children: list) -> A.Span:
        return _join(self._span(children[0]), self._span(children[-1]))

    # ---- values
    def string(self, children):
        parts = []
        for tok in children:
            raw = tok.value[1:-1]
            if "\\" in raw:
                def unescape(m, tok=tok):
                    c = m.group(1)
                    if c not in ('"', "\\"):
                        raise _BadEscape(_tok_span(self.file, tok), c)
                    return c
                raw = _STRING_ESCAPE.sub(unescape, raw)
            parts.append(raw)
        text = "".join(parts)
        return A.Value(span=self._cover(children), kind="string", value=text, text=text, items=[])

    def number(self, children):
        tok = children[0]
        text = tok.value
        value = number_value(text)
        if value is None:
            raise _OutOfRange(_tok_span(self.file, tok), text)
        return A.Value(span=_tok_span(self.file, tok), kind="number", value=value, text=text, items=[])

    def date(self, children):
        tok = children[0]
        return A.Value(span=_tok_span(self.file, tok), kind="date", value=tok.value, text=tok.value, items=[])

    def true(self, children):
        return self._bool(children, True)

    def false(self, children):
        return self._bool(children, False)

    def _bool(self, children, value):
        span = _tok_span(self.file, children[0])
        return A.Value(span=span, kind="bool", value=value, text="true" if value else "false", items=[])

    def word(self, children):
        tok = children[0]
        return A.Value(span=_tok_span(self.file, tok), kind="word", value=tok.value, text=tok.value, items=[])

    def list(self, children):
        items = [c for c in children if c is not None]
        span = self._cover(items) if items else None  # an empty list takes its field's span
        return A.Value(span=span, kind="list", value=None, text="", items=items)

    # ---- facts
    def field(self, children):
        name, value = children
        ns = _tok_span(self.file, name)
        if value.span is None:
            value.span = A.Span(file=self.file, line=ns.end_line, column=ns.end_column + 2,
                                end_line=ns.end_line, end_column=ns.end_column + 4)
        return A.Field(span=_join(ns, value.span), name=name.value, name_span=ns, value=value)

    def fact(self, children):
        type_tok, id_tok = children[0], children[1]
        rest = children[2:]
        title = None
        if rest and isinstance(rest[0], A.Value):
            title = rest[0].value
            rest = rest[1:]
        ts, ids = _tok_span(self.file, type_tok), _tok_span(self.file, id_tok)
        end = rest[-1].span if rest else ids
        return A.Fact(
            span=_join(ts, end), type_name=type_tok.value, type_span=ts, id=id_tok.value, id_span=ids,
            title=title, fields=rest,
        )

    def id_list(self, children):
        return [c for c in children if c is not None]

    def accept(self, children):
        code, ids = children[0], children[1]
        fields = children[2:]
        cs = _tok_span(self.file, code)
        id_spans = [_tok_span(self.file, t) for t in ids]
        end = fields[-1].span if fields else (id_spans[-1] if id_spans else cs)
        return A.Accept(
            span=_join(cs, end), criterion=code.value, criterion_span=cs, ids=[t.value for t in ids],
            id_spans=id_spans, fields=fields,
        )

    # ---- schema
    def enum_decl(self, children):
        name = children[0]
        is_open = len(children) > 1 and getattr(children[1], "type", None) == "OPEN"
        members = children[2:] if is_open else children[1:]
        return self._enum(name, members, is_open, extend=False)

    def extend_enum(self, children):
        return self._enum(children[0], children[1:], False, extend=True)

    def enum_member(self, children):
        """``(member token, label Value or None)``."""
        return (children[0], children[1] if len(children) > 1 else None)

    def _enum(self, name, members, is_open, extend):
        ns = _tok_span(self.file, name)
        spans = [_tok_span(self.file, m) for m, _ in members]
        ends = [label.span if label is not None else span for (_, label), span in zip(members, spans)]
        return A.EnumDecl(
            span=_join(ns, ends[-1]) if ends else ns, name=name.value, name_span=ns, open=is_open, extend=extend,
            members=[m.value for m, _ in members], member_spans=spans,
            labels=[label.value if label is not None else None for _, label in members],
            label_spans=[label.span if label is not None else None for _, label in members],
        )

    def named_type(self, children):
        tok = children[0]
        return A.TypeExpr(span=_tok_span(self.file, tok), kind="named", name=tok.value, item=None, members=[])

    def ref_type(self, children):
        tok = children[0]
        return A.TypeExpr(span=_tok_span(self.file, tok), kind="ref", name=tok.value, item=None, members=[])

    def list_type(self, children):
        item = children[0]
        return A.TypeExpr(span=item.span, kind="list", name="", item=item, members=[])

    def inline_enum(self, children):
        ends = [label.span if label is not None else _tok_span(self.file, m) for m, label in children]
        span = _join(_tok_span(self.file, children[0][0]), ends[-1]) if children else self._last_span
        return A.TypeExpr(span=span, kind="enum", name="", item=None, members=[m.value for m, _ in children],
                          labels=[label.value if label is not None else None for _, label in children])

    def field_decl(self, children):
        name, texpr = children[0], children[1]
        optional = len(children) > 2
        ns = _tok_span(self.file, name)
        end = _tok_span(self.file, children[2]) if optional else texpr.span
        return A.FieldDecl(span=_join(ns, end), name=name.value, type=texpr, optional=optional)

    def inherit(self, children):
        f, via = children
        return A.Inherit(
            span=_join(_tok_span(self.file, f), _tok_span(self.file, via)), field=f.value, via=via.value
        )

    def type_decl(self, children):
        return self._type(children, extend=False)

    def extend_type(self, children):
        return self._type(children, extend=True)

    def _type(self, children, extend):
        name = children[0]
        rest = children[1:]
        doc = None
        if rest and isinstance(rest[0], A.Value):
            doc = rest[0].value
            rest = rest[1:]
        ns = _tok_span(self.file, name)
        return A.TypeDecl(
            span=_join(ns, rest[-1].span) if rest else ns, name=name.value, name_span=ns, doc=doc, extend=extend,
            fields=[r for r in rest if isinstance(r, A.FieldDecl)],
            inherits=[r for r in rest if isinstance(r, A.Inherit)],
        )

    # ---- rulesets, rules, criteria
    def ruleset_decl(self, children):
        name = children[0]
        rest = children[1:]
        title = None
        if rest and isinstance(rest[0], A.Value):
            title = rest[0].value
            rest = rest[1:]
        ns = _tok_span(self.file, name)
        return A.RulesetDecl(
            span=_join(ns, rest[-1].span) if rest else ns, name=name.value, title=title, fields=rest
        )

    def _head(self, children):
        name = children[0]
        rest = children[1:]
        title = None
        if rest and isinstance(rest[0], A.Value):
            title = rest[0].value
            rest = rest[1:]
        return name, title, rest

    def rule_decl(self, children):
        name, title, rest = self._head(children)
        ns = _tok_span(self.file, name)
        when = [r for r in rest if isinstance(r, A.When)]
        derive = [r for r in rest if isinstance(r, A.Derive)]
        return A.Rule(
            span=_join(ns, rest[-1].span) if rest else ns, name=name.value, name_span=ns, title=title,
            fields=[r for r in rest if isinstance(r, A.Field)],
            when=when[0] if when else None, derive=derive[0] if derive else None,
        )

    def criterion(self, children):
        name, title, rest = self._head(children)
        ns = _tok_span(self.file, name)
        when = [r for r in rest if isinstance(r, A.When)]
        return A.Criterion(
            span=_join(ns, rest[-1].span) if rest else ns, code=name.value, code_span=ns, title=title,
            fields=[r for r in rest if isinstance(r, A.Field)], when=when[0] if when else None,
        )

    def derive_field(self, children):
        name, operand = children
        operand = self._operand(operand)
        ns = _tok_span(self.file, name)
        return A.DeriveField(span=_join(ns, operand.span), name=name.value, value=operand)

    def derive_block(self, children):
        t = children[0]
        ts = _tok_span(self.file, t)
        fields = children[1:]
        return A.Derive(
            span=_join(ts, fields[-1].span) if fields else ts, type_name=t.value, type_span=ts, fields=fields
        )

    def when_block(self, children):
        return A.When(span=self._cover(children), patterns=children[1:])

    def where(self, children):
        return children[0]

    def _pattern(self, kind, binding, type_tok, rest, keyword=None):
        ts = _tok_span(self.file, type_tok)
        where = rest[0] if rest else None
        first = binding if binding is not None else keyword
        start = _tok_span(self.file, first) if first is not None else ts
        end = where.span if where is not None else ts
        return A.Pattern(
            span=_join(start, end), kind=kind, binding=binding.value if binding is not None else None,
            type_name=type_tok.value, type_span=ts, where=where,
        )

    def match_pattern(self, children):
        return self._pattern("match", children[0], children[1], children[2:])

    def not_pattern(self, children):
        return self._pattern("not", None, children[1], children[2:], keyword=children[0])

    def exists_pattern(self, children):
        return self._pattern("exists", None, children[0], children[1:])

    # ---- conditions
    def _child_depth(self, c):
        return self._depths.get(id(c), 0)

    def _nest(self, node, children):
        depth = 1 + max((self._child_depth(c) for c in children), default=0)
        if depth > MAX_NESTING:
            raise _Deep(node.span)
        self._depths[id(node)] = depth
        self._keep.append(node)
        return node

    def or_condition(self, children):
        return self._nest(A.Or(span=self._cover(children), items=children), children)

    def and_condition(self, children):
        return self._nest(A.And(span=self._cover(children), items=children), children)

    def negation(self, children):
        not_tok, item = children
        span = _join(_tok_span(self.file, not_tok), item.span)
        return self._nest(A.Not(span=span, item=item), [item])

    @staticmethod
    def _operand(x):
        if isinstance(x, A.Value):
            return A.Operand(span=x.span, kind="literal", parts=[], value=x)
        return x

    def compare(self, children):
        left, op, right = children
        left, right = self._operand(left), self._operand(right)
        return A.Compare(span=_join(left.span, right.span), op=op.value, left=left, right=right)

    def in_list(self, children):
        left = self._operand(children[0])
        items = [self._operand(c) for c in children[1:] if c is not None]
        end = items[-1].span if items else left.span
        return A.InList(span=_join(left.span, end), left=left, items=items)

    def contains(self, children):
        left, right = (self._operand(c) for c in children)
        return A.Contains(span=_join(left.span, right.span), left=left, right=right)

    def intersects(self, children):
        left, right = (self._operand(c) for c in children)
        return A.Contains(span=_join(left.span, right.span), left=left, right=right, any=True)

    def matches(self, children):
        left, pat = children
        left = self._operand(left)
        return A.Matches(span=_join(left.span, pat.span), left=left, pattern=pat.value, pattern_span=pat.span)

    def path(self, children):
        tok = children[0]
        return A.Operand(span=_tok_span(self.file, tok), kind="path", parts=tok.value.split("."), value=None)

    def fact_ref(self, children):
        tok = children[0]
        return A.Operand(span=_tok_span(self.file, tok), kind="fact_ref", parts=[tok.value[1:]], value=None)

    def null(self, children):
        return A.Operand(span=_tok_span(self.file, children[0]), kind="null", parts=[], value=None)

    def today(self, children):
        return A.Operand(span=_tok_span(self.file, children[0]), kind="today", parts=[], value=None)

    # ---- tests
    def given_block(self, children):
        return ("given", children)

    def expect_on(self, children):
        code, ids = children
        cs = _tok_span(self.file, code)
        return A.Expectation(span=cs, kind="on", code=code.value, code_span=cs, ids=[t.value for t in ids], op="==", count=0)

    def expect_no(self, children):
        code = children[0]
        cs = _tok_span(self.file, code)
        return A.Expectation(span=cs, kind="no", code=code.value, code_span=cs, ids=[], op="==", count=0)

    def expect_count(self, children):
        code, op, n = children
        cs = _tok_span(self.file, code)
        count = number_value(n.value)
        if count is None:
            raise _OutOfRange(_tok_span(self.file, n), n.value)
        return A.Expectation(
            span=_join(cs, _tok_span(self.file, n)), kind="count", code=code.value, code_span=cs, ids=[], op=op.value,
            count=int(count),
        )

    def test_decl(self, children):
        name = children[0]
        given: list = []
        expects = []
        for c in children[1:]:
            if isinstance(c, tuple):
                given = c[1]
            else:
                expects.append(c)
        return A.TestDecl(span=name.span, name=name.value, given=given, expectations=expects)

    def start(self, children):
        return children


#: The grammar cache's entries: Lark's serialised analysis as tagged JSON (see :func:`_to_json`).
GRAMMAR_MAGIC = b"coherence-grammar-cache 1\n"
#: An analysed grammar is about 150 KB; anything much bigger at its name is not one.
GRAMMAR_MAX_BYTES = 8 * 1024 * 1024


def grammar_cache_name() -> str:
    """The grammar cache entry's name: keyed by the grammar's content, Lark's version and Python's."""
    import sys

    import lark

    grammar = GRAMMAR_PATH.read_bytes()
    h = hashlib.sha256(grammar + f"\0{lark.__version__}\0{sys.version_info[:2]}".encode())
    return f"grammar-{h.hexdigest()[:16]}.json"


@lru_cache(maxsize=1)
def _lark_parser():
    """The Lark LALR parser; callbacks are bound per parse. Its analysis (about 70 ms to compute,
    under 10 ms to load) is cached on disk as data: Lark's own cache is a pickle that it reads
    and writes at a path of its choosing, following symbolic links, so it is never used
    (``cache=False``); the entry goes through the cache's checked reader and writer instead."""
    from lark import Lark

    from ..sources import cache as C

    d = C.private_dir("grammar")
    name = None
    if d is not None:
        try:
            name = grammar_cache_name()
        except OSError:
            d = None
    body = C.read_checked(d, name, GRAMMAR_MAGIC, GRAMMAR_MAX_BYTES) if d is not None else None
    if body is not None:
        try:
            saved = json.loads(body.decode("utf-8"), object_hook=_from_json)
            return Lark._load_from_dict(saved["data"], saved["memo"], transformer=_CallbackTable())
        except Exception:  # noqa: BLE001 - a damaged or foreign entry is a miss
            try:
                os.unlink(d / name)
            except OSError:
                pass
    parser = Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                  maybe_placeholders=True, cache=False, transformer=_CallbackTable())
    if d is not None:
        try:
            from lark.grammar import Rule
            from lark.lark import _LOAD_ALLOWED_OPTIONS
            from lark.lexer import TerminalDef

            data, memo = parser.memo_serialize([TerminalDef, Rule])
            # the options given again when loading (the transformer) are not data
            data["options"] = {k: v for k, v in data["options"].items() if k not in _LOAD_ALLOWED_OPTIONS}
            body = json.dumps(_to_json({"data": data, "memo": memo}), separators=(",", ":")).encode("utf-8")
            C.write_checked(d, name, GRAMMAR_MAGIC, body)
        except Exception:  # noqa: BLE001 - what cannot be serialised is simply not cached
            pass
    return parser


def _to_json(x: Any) -> Any:
    """Lark's serialised analysis as JSON that keeps its types: a dict (its keys are ints, strings
    or tuples) is ``{"d": [[key, value], ...]}``, a tuple ``{"t": [...]}``; lists and scalars as
    they are. Anything else raises TypeError (and the analysis is not cached)."""
    if x is None or x.__class__ in (str, int, bool, float):
        return x
    if isinstance(x, dict):
        return {"d": [[_to_json(k), _to_json(v)] for k, v in x.items()]}
    if isinstance(x, tuple):
        return {"t": [_to_json(i) for i in x]}
    if isinstance(x, list):
        return [_to_json(i) for i in x]
    raise TypeError(f"cannot cache a {type(x).__name__}")


def _from_json(o: dict) -> Any:
    """The object hook that undoes :func:`_to_json` (any other object is a damaged entry)."""
    if len(o) != 1:
        raise ValueError("not a grammar cache entry")
    if "t" in o:
        return tuple(o["t"])
    return {tuple(k) if k.__class__ is list else k: v for k, v in o["d"]}


class _CallbackTable:
    """A transformer whose every callback dispatches to the builder of the current parse.

    Lark binds callbacks when the parser is built; the file name and per-parse state live in
    :data:`_CURRENT`, so one cached parser serves every file.
    """

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if not hasattr(_Builder, name):
            raise AttributeError(name)

        def call(children, _name=name):
            b = _CURRENT[0]
            return getattr(b, _name)(children)

        return call


_CURRENT: list = [None]


# ---- entry point --------------------------------------------------------------------------------------------


def parse_source(text: str, file: str, kind: str = "policy", line_offset: int = 0) -> tuple[A.Module, list[Diagnostic]]:
    """Parse one source text. ``line_offset`` shifts line numbers (Markdown blocks keep real lines).

    Returns the module (empty on a syntax error) and the diagnostics. Never raises on bad input.
    """
    module = parse_fast(text, file, kind, line_offset)
    if module is not None:
        return module, []
    padded = ("\n" * line_offset) + text if line_offset else text
    return _parse_lark(text, padded, file, kind, line_offset)


def parse_fast(text: str, file: str, kind: str = "policy", line_offset: int = 0) -> Optional[A.Module]:
    """The module of a source made only of facts and ``accept`` statements, read by the fast path
    (:mod:`.fastfacts`); None for any other source (which :func:`parse_source` gives to Lark)."""
    from .fastfacts import parse_facts

    read = parse_facts(text, file, kind, line_offset)
    if read is None:
        return None
    items, comments = read
    if comments is None:
        padded = ("\n" * line_offset) + text if line_offset and "#" in text else text
        comments = _comments(padded) if "#" in text else []
    return A.Module(file=file, kind=kind, items=items, comments=comments)


def _parse_lark(text: str, padded: str, file: str, kind: str, line_offset: int) -> tuple[A.Module, list[Diagnostic]]:
    """The full parser: every statement, and the diagnostics of syntax errors. A source with a
    syntax error is parsed again statement by statement (:func:`_recover`): the statements that
    parse are kept, so the check stage still reports their problems in the same run, and each
    statement that does not gets its own diagnostic and an :class:`~.ast.Unparsed` in its place."""
    items, diag = _parse_items(padded, file, line_offset)
    if diag is not None:
        items, diags = _recover(padded, file, line_offset, diag)
        comments = _comments(padded) if items and "#" in text else []
        return A.Module(file=file, kind=kind, items=items, comments=comments), diags
    comments = _comments(padded) if "#" in text else []
    return A.Module(file=file, kind=kind, items=items or [], comments=comments), []


def _parse_items(padded: str, file: str, line_offset: int) -> tuple[list, Optional[Diagnostic]]:
    """The statements of a source, or ``([], diagnostic)`` for its first syntax error."""
    from lark.exceptions import UnexpectedInput

    parser = _lark_parser()
    builder = _Builder(file)
    _CURRENT[0] = builder
    try:
        return parser.parse(padded) or [], None
    except _Deep as d:
        return [], Diagnostic.make("E116", f"condition nested more than {MAX_NESTING} levels deep", d.span)
    except _BadEscape as b:
        return [], Diagnostic.make("E107", f"invalid escape '\\{b.char}' in string", b.span,
                                   help='only \\" and \\\\ are escapes; double the backslash for a literal one')
    except _OutOfRange as o:
        return [], Diagnostic.make("E307", out_of_range_message(o.text), o.span, label="out of range",
                                   help="integers lie within ±(2**63 - 1) and decimals must be finite; write a "
                                        "text that is not a quantity as a string")
    except UnexpectedInput as e:
        return [], _syntax_diagnostic(e, padded, file)
    except RecursionError:
        span = A.Span(file=file, line=1 + line_offset, column=1, end_line=1 + line_offset, end_column=2)
        return [], Diagnostic.make("E116", "the source nests too deeply to analyse", span)
    finally:
        _CURRENT[0] = None


# ---- recovery: statement by statement ---------------------------------------------------------------------------

#: The start of a statement: two words (a fact's type and id, `criterion CODE`, `extend type`, ...)
#: or `test "name"`.
_STATEMENT_HEAD = re.compile(r'^\s*[A-Za-z_][\w.\-]*\s+["A-Za-z_@]')
_HEADER = re.compile(r'^\s*(extend\s+(?:type|enum)|[A-Za-z_][\w.\-]*)(?:\s+([A-Za-z_@][\w.\-]*))?')


def _braces(line: str):
    """The braces of one line, in order (strings and comments skipped)."""
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == "#":
            return
        if c == '"':
            i += 1
            while i < n and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
        elif c in "{}":
            yield c
        i += 1


def _statement_chunks(lines: list[str], first: int, last: int) -> list[tuple[int, int]]:
    """The top-level statements among lines ``first``..``last`` (1-based, inclusive), as line
    ranges: a statement runs from its first line to the line of the brace that closes its first
    ``{``; blank and comment lines between statements belong to none."""
    chunks: list[tuple[int, int]] = []
    start, depth, opened = None, 0, False
    for n in range(first, last + 1):
        src = lines[n - 1]
        stripped = src.strip()
        if start is None:
            if not stripped or stripped.startswith("#"):
                continue
            if chunks and not _STATEMENT_HEAD.match(src):
                # not a statement (a stray field or brace): it belongs with the statement before,
                # which it most likely was meant to be part of (E106)
                start, depth, opened = chunks.pop()[0], 0, True
            else:
                start, depth, opened = n, 0, False
        for b in _braces(src):
            depth += 1 if b == "{" else -1
            opened = opened or b == "{"
        if depth <= 0 and opened:
            chunks.append((start, n))
            start = None
    if start is not None:
        chunks.append((start, last))
    return chunks


def _headers_inside(lines: list[str], first: int, last: int) -> list[int]:
    """Lines after ``first`` up to ``last`` that start a statement at the margin (``measure M2 {``
    written at column 1): where a statement left open most likely ended."""
    return [n for n in range(first + 1, last + 1)
            if lines[n - 1][:1] not in ("", " ", "\t", "}", "#") and _STATEMENT_START.match(lines[n - 1])]


def _recover(padded: str, file: str, line_offset: int, whole: Diagnostic) -> tuple[list, list[Diagnostic]]:
    """Parse a source that has a syntax error statement by statement: the items of the statements
    that parse (an :class:`~.ast.Unparsed` for each one that does not) and one diagnostic per
    statement that does not. A statement left open (E102) ends, for this purpose, at the next
    statement written at the margin. When the statements parse alone but not together, the whole
    source's diagnostic stands alone, as without recovery."""
    lines = padded.split("\n")
    items: list = []
    diags: list[Diagnostic] = []
    todo = _statement_chunks(lines, line_offset + 1, len(lines))
    if len(todo) < 2:
        return [], [whole]
    while todo:
        start, end = todo.pop(0)
        got, diag = _parse_items("\n" * (start - 1) + "\n".join(lines[start - 1:end]), file, line_offset)
        if diag is None:
            items += got
            continue
        headers = _headers_inside(lines, start, end) if diag.code == "E102" else []
        if headers:  # the open statement ends before the next one: parse those again
            todo = [(start, headers[0] - 1)] + _statement_chunks(lines, headers[0], end) + todo
            continue
        diags.append(diag)
        m = _HEADER.match(lines[start - 1])
        keyword = " ".join(m.group(1).split()) if m else ""
        span = A.Span(file=file, line=start, column=1, end_line=end, end_column=len(lines[end - 1]) + 1)
        items.append(A.Unparsed(span=span, keyword=keyword, name=m.group(2) if m else None))
    if not diags:
        return [], [whole]
    return items, diags


# strings and derived fact ids (``area_in_use#fe8828a92a``, in an accept) are skipped: their `#` is text
_COMMENT_SCAN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*#[0-9a-f]{10}(?![0-9A-Za-z_])|#[^\n]*')


def _comments(text: str) -> list[A.Comment]:
    """Comments with positions (``fmt`` puts them back). Strings are skipped so `#` inside them is text."""
    out = []
    line_starts = [0]
    for m in re.finditer("\n", text):
        line_starts.append(m.end())
    import bisect

    for m in _COMMENT_SCAN.finditer(text):
        s = m.group(0)
        if s.startswith("#"):
            pos = m.start()
            line = bisect.bisect_right(line_starts, pos)
            col = pos - line_starts[line - 1] + 1
            out.append(A.Comment(line=line, column=col, text=s.rstrip()))
    return out
