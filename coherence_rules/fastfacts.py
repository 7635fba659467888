"""Fast path of the parse stage for sources made only of facts and ``accept`` statements.

Policy files and large inventories are almost all facts. This module reads them with one compiled
regular expression and a loop, and builds the same nodes the Lark parser builds (:mod:`.parse`),
spans included: same types, same fields, same line and column numbers. It handles only what it
is sure about; on anything else (another kind of statement, a token out of place, an invalid
escape, a nested list) it returns None and :func:`~coherence_rules.parse.parse_source` runs the
Lark parser, which produces the diagnostics. ``tests/test_performance_paths.py`` generates sources
and holds both paths to equal trees.

The tokens are the grammar's (``grammar/coherence.lark``), tried in the same order as Lark's
contextual lexer tries them where a fact's tokens can appear: ``DATE`` before ``NUMBER``, a word
spelled ``true``/``false`` is a boolean only as a value, and a statement that starts with a keyword
other than ``accept`` is left to Lark.
"""

from __future__ import annotations

import gc
import re
from typing import Optional

from . import ast as A

#: One token of a fact (blanks between tokens are skipped by ``finditer``). Tokens never span
#: lines, so the source is read line by line and a match's start is its column. ``\S`` catches any
#: other character (the fast path then gives up).
_TOKEN = re.compile(
    r'#[^\n]*'
    r'|"(?:[^"\\\r\n]|\\.)*"'
    r'|[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?(?![0-9A-Za-z_.\-])'
    r'|[+-]?[0-9]+(?:\.[0-9]+)?(?![0-9A-Za-z_])'
    r'|[A-Za-z_][A-Za-z0-9_.\-]*'
    r'|[^ \t\f\r]'
)
_WORD_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NUMBER_START = frozenset("0123456789+-")
_PUNCT = frozenset("{}[]:,")
_NUMBER_TAIL = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")

#: Words that start a statement other than a fact (Lark lexes them as keywords there).
_STATEMENT_KEYWORDS = frozenset(("enum", "extend", "type", "ruleset", "rule", "criterion", "test"))

Span, Value, Field, Fact, Accept = A.Span, A.Value, A.Field, A.Fact, A.Accept
_span = tuple.__new__  # Span(...) without the keyword handling of a named tuple's __new__


class _GiveUp(Exception):
    pass


def _tokens(text: str, line: int):
    """``(kind, text, line, column)`` of every token but blanks and comments, as four lists; kinds
    are ``w`` (word), ``s`` (string), ``d`` (date), ``n`` (number) and ``p`` (punctuation). None
    when the text holds a character no fact token starts with."""
    kinds, texts, lines, cols = [], [], [], []
    ka, ta, la, ca = kinds.append, texts.append, lines.append, cols.append
    finditer = _TOKEN.finditer
    words, numbers, punct = _WORD_START, _NUMBER_START, _PUNCT
    for src in text.split("\n"):
        for m in finditer(src):
            s = m.group()
            c = s[0]
            if c in words:
                ka("w")
            elif c == '"':
                if len(s) == 1:  # no closing quote on this line
                    return None
                ka("s")
            elif c in numbers:
                if len(s) == 1 and (c in "+-" or src[m.end():m.end() + 1] in _NUMBER_TAIL):
                    return None  # not a number: a lone sign, or digits run into letters
                ka("d" if s[4:5] == "-" else "n")
            elif c in punct:
                ka("p")
            elif c == "#":
                continue
            else:
                return None
            ta(s)
            la(line)
            ca(m.start() + 1)
        line += 1
    return kinds, texts, lines, cols


def parse_facts(text: str, file: str, kind: str = "policy", line_offset: int = 0) -> Optional[list]:
    """The items of a source made only of facts and ``accept`` statements, or None."""
    toks = _tokens(text, 1 + line_offset)
    if toks is None:
        return None
    # The nodes form a tree (no cycles): a cycle collection triggered by the many allocations
    # would only walk them again and again, so collection waits until the parse is done.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _Parser(file, *toks).items()
    except (_GiveUp, IndexError):
        return None
    finally:
        if enabled:
            gc.enable()


class _Parser:
    def __init__(self, file, kinds, texts, lines, cols):
        self.file = file
        self.kinds, self.texts, self.lines, self.cols = kinds, texts, lines, cols
        self.i = 0
        self.n = len(kinds)

    def span(self, i):
        ln, c = self.lines[i], self.cols[i]
        return _span(Span, (self.file, ln, c, ln, c + len(self.texts[i])))

    def join(self, a, b):
        return _span(Span, (self.file, a[1], a[2], b[3], b[4]))

    def items(self):
        kinds, texts = self.kinds, self.texts
        out = []
        while self.i < self.n:
            if kinds[self.i] != "w":
                raise _GiveUp
            w = texts[self.i]
            if w == "accept":
                out.append(self.accept())
            elif w in _STATEMENT_KEYWORDS:
                raise _GiveUp
            else:
                out.append(self.fact())
        return out

    def expect(self, kind, text=None):
        i = self.i
        if self.kinds[i] != kind or (text is not None and self.texts[i] != text):
            raise _GiveUp
        self.i = i + 1
        return i

    def fact(self):
        ti = self.expect("w")
        ii = self.expect("w")
        title = None
        if self.kinds[self.i] == "s":
            title = self.string().value
        self.expect("p", "{")
        fields = self.fields()
        ts, ids = self.span(ti), self.span(ii)
        end = fields[-1].span if fields else ids
        return Fact(span=self.join(ts, end), type_name=self.texts[ti], type_span=ts, id=self.texts[ii],
                    id_span=ids, title=title, fields=fields)

    def accept(self):
        self.i += 1
        ci = self.expect("w")
        self.expect("w", "on")
        self.expect("p", "[")
        ids, id_spans = [], []
        kinds, texts = self.kinds, self.texts
        while True:
            k, t = kinds[self.i], texts[self.i]
            if k == "p" and t == "]":
                self.i += 1
                break
            wi = self.expect("w")
            ids.append(texts[wi])
            id_spans.append(self.span(wi))
            if kinds[self.i] == "p" and texts[self.i] == ",":
                self.i += 1
            elif not (kinds[self.i] == "p" and texts[self.i] == "]"):
                raise _GiveUp
        self.expect("p", "{")
        fields = self.fields()
        cs = self.span(ci)
        end = fields[-1].span if fields else (id_spans[-1] if id_spans else cs)
        return Accept(span=self.join(cs, end), criterion=texts[ci], criterion_span=cs, ids=ids,
                      id_spans=id_spans, fields=fields)

    def fields(self):
        kinds, texts = self.kinds, self.texts
        out = []
        while True:
            i = self.i
            k = kinds[i]
            if k == "p" and texts[i] == "}":
                self.i = i + 1
                return out
            if k != "w" or kinds[i + 1] != "p" or texts[i + 1] != ":":
                raise _GiveUp
            self.i = i + 2
            ns = self.span(i)
            if kinds[i + 2] == "p" and texts[i + 2] == "[":
                value = self.list()
                if value.span is None:
                    value.span = Span(self.file, ns.end_line, ns.end_column + 2, ns.end_line, ns.end_column + 4)
            else:
                value = self.scalar()
            out.append(Field(span=self.join(ns, value.span), name=texts[i], name_span=ns, value=value))

    def list(self):
        self.i += 1
        kinds, texts = self.kinds, self.texts
        items = []
        while True:
            k, t = kinds[self.i], texts[self.i]
            if k == "p" and t == "]":
                self.i += 1
                break
            items.append(self.scalar())
            k, t = kinds[self.i], texts[self.i]
            if k == "p" and t == ",":
                self.i += 1
            elif not (k == "p" and t == "]"):
                raise _GiveUp
        span = self.join(items[0].span, items[-1].span) if items else None
        return Value(span=span, kind="list", value=None, text="", items=items)

    def scalar(self):
        i = self.i
        k = self.kinds[i]
        if k == "s":
            return self.string()
        t = self.texts[i]
        if k == "w":
            if t == "true" or t == "false":
                value, kind = t == "true", "bool"
            else:
                value, kind = t, "word"
        elif k == "n":
            value, kind = float(t) if "." in t else int(t), "number"
        elif k == "d":
            value, kind = t, "date"
        else:
            raise _GiveUp
        self.i = i + 1
        return Value(span=self.span(i), kind=kind, value=value, text=t, items=[])

    def string(self):
        kinds, texts = self.kinds, self.texts
        first = i = self.i
        parts = []
        while i < self.n and kinds[i] == "s":
            raw = texts[i][1:-1]
            if "\\" in raw:
                raw = _unescape(raw)
            parts.append(raw)
            i += 1
        self.i = i
        s = "".join(parts)
        span = self.span(first) if i == first + 1 else self.join(self.span(first), self.span(i - 1))
        return Value(span=span, kind="string", value=s, text=s, items=[])


_ESCAPE = re.compile(r"\\(.)")


def _unescape(raw: str) -> str:
    def sub(m):
        c = m.group(1)
        if c not in ('"', "\\"):
            raise _GiveUp  # Lark's path reports the invalid escape
        return c

    return _ESCAPE.sub(sub, raw)



