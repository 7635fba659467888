"""Parse stage: source text -> :class:`~coherence_rules.syntax.ast.Module`.

The Lark LALR parser runs with an *inline* transformer: nodes are built as the parser reduces, so
no Lark tree is ever built and none leaves this module. The analysed grammar is cached in the
user's cache directory (keyed by the grammar's content and Lark's version) so start-up does not
pay for the LALR analysis.

Syntax errors are turned into plain-language diagnostics by example: :data:`SYNTAX_EXAMPLES` is a
table of typical mistakes; an error whose parser state matches one of them gets that mistake's
code and message.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from . import ast as A
from ..diagnostics import Diagnostic

GRAMMAR_PATH = (Path(__file__).resolve().parent.parent / "grammar" / "coherence.lark").resolve()

MAX_NESTING = 100

_STRING_ESCAPE = re.compile(r"\\(.)")


class _Deep(Exception):
    """Raised by the transformer when a condition nests beyond :data:`MAX_NESTING`."""

    def __init__(self, token_span: A.Span):
        self.span = token_span


class _BadEscape(Exception):
    def __init__(self, span: A.Span, char: str):
        self.span = span
        self.char = char


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "coherence"


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
        value = float(text) if "." in text else int(text)
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

    def _enum(self, name, members, is_open, extend):
        ns = _tok_span(self.file, name)
        spans = [_tok_span(self.file, m) for m in members]
        return A.EnumDecl(
            span=_join(ns, spans[-1]) if spans else ns, name=name.value, name_span=ns, open=is_open, extend=extend,
            members=[m.value for m in members], member_spans=spans,
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
        span = self._cover(children) if children else self._last_span
        return A.TypeExpr(span=span, kind="enum", name="", item=None, members=[t.value for t in children])

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
        return A.Expectation(
            span=_join(cs, _tok_span(self.file, n)), kind="count", code=code.value, code_span=cs, ids=[], op=op.value,
            count=int(float(n.value)),
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


@lru_cache(maxsize=1)
def _lark_parser():
    """The Lark LALR parser, its analysis cached on disk; callbacks are bound per parse."""
    from lark import Lark

    grammar = GRAMMAR_PATH.read_text(encoding="utf-8")
    cache: Any = False
    try:
        import lark

        key = hashlib.sha256((grammar + lark.__version__).encode()).hexdigest()[:16]
        d = _cache_dir()
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        cache = str(d / f"grammar-{key}.lark")
    except OSError:
        cache = False
    return Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=True, cache=cache,
                transformer=_CallbackTable())


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


# ---- syntax errors -------------------------------------------------------------------------------------

#: Typical mistakes, each a small broken source, mapped to a diagnostic code and message.
SYNTAX_EXAMPLES: list[tuple[str, str, list[str]]] = [
    ("E104", "titles with spaces must be quoted", [
        'instrument HSS Health Sector Plan { kind: strategy }',
        'criterion X Some title { }',
        'type t Some doc { }',
        'rule r Some title { }',
    ]),
    ("E106", "a field outside braces: fields belong inside a fact's `{ }`", [
        'level: national',
        'jurisdiction MU { }\nlevel: national',
    ]),
    ("E108", "lists do not nest", [
        'mechanism M { members: [[A]] }',
        'mechanism M { members: [A, [B]] }',
    ]),
]


def _unclosed_brace(text: str, upto_line: int) -> Optional[tuple[int, int]]:
    """Line and column of the innermost `{` still open before ``upto_line`` (strings and comments skipped)."""
    stack: list[tuple[int, int]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if lineno > upto_line:
            break
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if c == "#":
                break
            if c == '"':
                i += 1
                while i < n and line[i] != '"':
                    i += 2 if line[i] == "\\" else 1
            elif c == "{":
                stack.append((lineno, i + 1))
            elif c == "}" and stack:
                stack.pop()
            i += 1
    return stack[-1] if stack else None


_STATEMENT_START = re.compile(r'^\s*[A-Za-z_][\w.\-]*\s+[A-Za-z_@][\w.\-]*(\s+"[^"]*")?\s*\{')


def _syntax_diagnostic(e: Exception, text: str, file: str) -> Diagnostic:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    lines = text.split("\n")

    def span_at(line: int, col: int, width: int = 1) -> A.Span:
        return A.Span(file=file, line=line, column=col, end_line=line, end_column=col + width)

    if isinstance(e, UnexpectedCharacters):
        line, col = e.line, e.column
        src = lines[line - 1] if 0 < line <= len(lines) else ""
        ch = src[col - 1] if 0 < col <= len(src) else ""
        if ch == '"':
            return Diagnostic.make("E105", "unterminated string", span_at(line, col, max(1, len(src) - col + 1)),
                                   label="this string has no closing quote on this line",
                                   help="strings do not span lines; join long texts with adjacent strings")
        if ch == "=" and src[col:col + 1] != "=":
            return Diagnostic.make("E103", "`=` used instead of `:`", span_at(line, col),
                                   label="write `:` here", help="fields are written `name: value`")
        if ch == "[" and "[" in src[: col - 1]:
            return Diagnostic.make("E108", "lists do not nest", span_at(line, col), label="a list inside a list",
                                   help="flatten the list: `[A, B]`")
        shown = repr(ch) if ch else "end of line"
        return Diagnostic.make("E101", f"unexpected character {shown}", span_at(line, col),
                               label="not part of the language",
                               help=_expected_help(getattr(e, "allowed", None)))

    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        last = len(lines)
        open_at = _unclosed_brace(text, last)
        if open_at:
            ol, oc = open_at
            return Diagnostic.make("E102", "missing closing brace `}`", span_at(ol, oc),
                                   label="this `{` is never closed", help="add `}` at the end of the block")
        return Diagnostic.make("E100", "unexpected end of file", span_at(max(last, 1), 1),
                               help=_expected_help(getattr(e, "expected", None)))

    assert isinstance(e, UnexpectedToken)
    tok = e.token
    line, col = tok.line, tok.column
    width = max(1, len(str(tok.value)))
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    label = _match_example(e)
    if label is not None:
        code, message = label
        if code == "E104":
            words = src[col - 1:].split("{", 1)[0].rstrip()
            return Diagnostic.make(code, "unquoted title", span_at(line, col, max(1, len(words))),
                                   label=message, help=f'quote the title: "{words}"')
        if code == "E106":
            return Diagnostic.make(code, "field outside braces", span_at(line, 1, max(1, len(src.rstrip()))),
                                   label=message, help="move the field inside the braces of the fact it describes")
        return Diagnostic.make(code, message, span_at(line, col, width), label=message)
    # A statement header where a field was expected: the previous block was not closed.
    expected = set(getattr(e, "expected", ()) or ())
    if "COLON" in expected and _STATEMENT_START.match(src):
        open_at = _unclosed_brace(text, line - 1)
        if open_at:
            ol, oc = open_at
            return Diagnostic.make(
                "E102", "missing closing brace `}`", span_at(ol, oc), label="this `{` is not closed",
                labels=[], notes=[f"a new statement starts at line {line} before the block is closed"],
                help="add `}` at the end of the block",
            )
    if tok.type == "RBRACE" and "LBRACE" in expected:
        return Diagnostic.make("E100", "unexpected `}`", span_at(line, col, width), label="no block is open here")
    shown = str(tok.value)
    if len(shown) > 40:
        shown = shown[:40] + "..."
    help = _expected_help(expected)
    open_at = _unclosed_brace(text, line)
    if open_at is not None and open_at[0] <= len(lines):
        header = lines[open_at[0] - 1][: open_at[1]]
        if _FACT_HEADER.match(header) and not header.lstrip().startswith(_BLOCK_KEYWORDS):
            # inside a fact's braces only fields and `}` can come (the parser's state is shared
            # with rule and criterion bodies, whose keywords would mislead here)
            help = "expected a field (`name: value`) or `}`"
    return Diagnostic.make("E100", f"unexpected {_describe(tok.type, shown)}", span_at(line, col, width),
                           label="not expected here", help=help)


_FACT_HEADER = re.compile(r'^\s*[A-Za-z_][\w.\-]*\s+[A-Za-z_][\w.\-]*(\s+"(?:[^"\\]|\\.)*")*\s*\{$')
_BLOCK_KEYWORDS = ("criterion ", "rule ", "type ", "ruleset ", "accept ", "test ", "enum ", "extend ")


_EXAMPLE_STATES: Optional[list] = None


def _match_example(e) -> Optional[tuple[str, str]]:
    """The (code, message) of the typical mistake whose parser state matches ``e``, if any."""
    global _EXAMPLE_STATES
    from lark.exceptions import UnexpectedToken

    if _EXAMPLE_STATES is None:
        states = []
        parser = _lark_parser()
        for code, message, examples in SYNTAX_EXAMPLES:
            for src in examples:
                _CURRENT[0] = _Builder("<example>")
                try:
                    parser.parse(src)
                except UnexpectedToken as ut:
                    states.append((frozenset(ut.expected), ut.token.type, code, message))
                except Exception:  # an example that fails in the lexer is matched elsewhere
                    pass
        _EXAMPLE_STATES = states
    # the parser position is identified by what it expected and what it got (the state object
    # itself also holds the stack, which differs after every earlier statement)
    for expected, ttype, code, message in _EXAMPLE_STATES:
        if frozenset(e.expected) == expected and e.token.type == ttype:
            return code, message
    return None


_TERMINAL_NAMES = {
    "WORD": "a name", "STRING": "a string", "NUMBER": "a number", "DATE": "a date", "LBRACE": "`{`",
    "RBRACE": "`}`", "LSQB": "`[`", "RSQB": "`]`", "COLON": "`:`", "COMMA": "`,`", "COMPARE": "a comparison",
    "FACT_REF": "a fact id `@ID`", "LPAR": "`(`", "RPAR": "`)`", "$END": "the end of the file",
}


def _describe(ttype: str, value: str) -> str:
    if ttype in ("WORD", "STRING", "NUMBER", "DATE"):
        return f"{_TERMINAL_NAMES[ttype][2:] if ttype != 'WORD' else 'word'} '{value}'"
    return f"'{value}'"


def _expected_help(expected) -> Optional[str]:
    if not expected:
        return None
    names = []
    for t in sorted(expected):
        if t in _TERMINAL_NAMES:
            names.append(_TERMINAL_NAMES[t])
        elif t.isupper() and len(t) > 1 and not t.startswith("__"):
            names.append(f"`{t.lower()}`")
        else:
            names.append(f"`{t}`")
    names = sorted(set(names))
    if len(names) > 8:
        return None
    return "expected " + ", ".join(names)


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
    """The full parser: every statement, and the diagnostics of syntax errors."""
    from lark.exceptions import UnexpectedInput

    parser = _lark_parser()
    comments: list[A.Comment] = []
    builder = _Builder(file)
    _CURRENT[0] = builder
    try:
        items = parser.parse(padded)
    except _Deep as d:
        return A.Module(file=file, kind=kind, items=[], comments=[]), [
            Diagnostic.make("E116", f"condition nested more than {MAX_NESTING} levels deep", d.span)]
    except _BadEscape as b:
        return A.Module(file=file, kind=kind, items=[], comments=[]), [
            Diagnostic.make("E107", f"invalid escape '\\{b.char}' in string", b.span,
                            help='only \\" and \\\\ are escapes; double the backslash for a literal one')]
    except UnexpectedInput as e:
        return A.Module(file=file, kind=kind, items=[], comments=[]), [_syntax_diagnostic(e, padded, file)]
    except RecursionError:
        span = A.Span(file=file, line=1 + line_offset, column=1, end_line=1 + line_offset, end_column=2)
        return A.Module(file=file, kind=kind, items=[], comments=[]), [
            Diagnostic.make("E116", "the source nests too deeply to analyse", span)]
    finally:
        _CURRENT[0] = None
    if "#" in text:
        comments = _comments(padded)
    return A.Module(file=file, kind=kind, items=items or [], comments=comments), []


_COMMENT_SCAN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')


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
