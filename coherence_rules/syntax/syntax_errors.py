"""Syntax errors in plain language, by example: :data:`SYNTAX_EXAMPLES` is a table of typical
mistakes; an error whose parser state matches one of them gets that mistake's code and message.
Other errors say what was found, where, and what the parser expected, in words."""

from __future__ import annotations

import re
from typing import Optional

from . import ast as A
from ..diagnostics import Diagnostic

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
        if ch == "=" and src[col:col + 1] != "=" and "COMPARE" in (getattr(e, "allowed", None) or ()):
            # where a comparison may come (a condition, `expect count`), `=` was meant as `==`
            return Diagnostic.make("E119", "`=` used instead of `==`", span_at(line, col),
                                   label="write `==` here", help="comparisons are written with `==`, as in `where area == return`")
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

    from .parser import _CURRENT, _Builder, _lark_parser  # the parser this module explains

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


