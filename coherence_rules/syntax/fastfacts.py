"""Fast path of the parse stage for sources made only of facts and ``accept`` statements.

Policy files and large inventories are almost all facts. This module reads them without Lark and
builds the same nodes the Lark parser builds (:mod:`.parse`), spans included: same types, same
fields, same line and column numbers. It has two readers, tried in turn:

- the line reader (:func:`_parse_lines`) matches a whole fact header or a whole ``name: value``
  field with one regular expression; it reads facts whose headers, fields and lists each sit on
  one line, which is how people and the importers write them;
- the token reader (:func:`_tokens`, :class:`_Parser`) reads one token at a time, and also takes
  ``accept`` statements, adjacent strings and lists or headers split over lines.

Each handles only what it is sure about; on anything else it gives up, and in the end
:func:`~coherence_rules.syntax.parser.parse_source` runs the Lark parser, which produces the diagnostics.
``tests/test_performance_paths.py`` generates sources and holds each reader to Lark's tree.

The token patterns are copies of the grammar's terminals (``grammar/coherence.lark``): a change
there must be made here too, and the property tests that hold each reader to Lark's tree catch a
copy that drifts. They are tried in the same order as Lark's
contextual lexer tries them where a fact's tokens can appear: ``DATE`` before ``NUMBER``, a word
spelled ``true``/``false`` is a boolean only as a value, and a statement that starts with a keyword
other than ``accept`` is left to Lark.
"""

from __future__ import annotations

import re
from typing import Optional

from . import ast as A
from ..runtime import paused_gc
from .numbers import number_value

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
#: A derived fact's id (``area_in_use#fe8828a92a``), which only an accept's id list can hold.
_DERIVED_ID = re.compile(r"[A-Za-z0-9_]#[0-9a-f]{10}\b")
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


def parse_facts(text: str, file: str, kind: str = "policy", line_offset: int = 0) -> Optional[tuple[list, Optional[list]]]:
    """``(items, comments)`` of a source made only of facts and ``accept`` statements, or None.
    ``comments`` is None when the caller must collect them (:func:`.parse._comments`)."""
    # The nodes form a tree (no cycles): a cycle collection triggered by the many allocations
    # would only walk them again and again, so collection waits until the parse is done.
    with paused_gc():
        try:
            lines = _parse_lines(text, file, line_offset)
            if lines is not None:
                return lines
            if "accept" in text and _DERIVED_ID.search(text):
                return None  # an accept naming a derived fact's id: Lark reads it (and check reports it)
            toks = _tokens(text, 1 + line_offset)
            if toks is None:
                return None
            return _Parser(file, *toks).items(), None
        except (_GiveUp, IndexError):
            return None


# ---- the line reader ------------------------------------------------------------------------------------
#
# Most facts are written one per line or one field per line, with headers, fields and lists each on
# one line. For those, one regular expression reads a whole header or a whole ``name: value`` field
# at a time, instead of one token at a time. It is a strict subset of the token reader above:
# whatever it does not recognise (an accept, a string followed by another string, a list or a
# header split over lines, any token out of place) makes it give up, and the token reader starts
# over. Its lookaheads are at least as strict as the token reader's, so a value it reads is a value
# the token reader would read the same way.

_B = r"[ \t\f\r]*"
_W = r"[A-Za-z_][A-Za-z0-9_.\-]*"
_S = r'"((?:[^"\\\r\n]|\\.)*)"(?![ \t\f\r]*")'
_SCALAR = (_S + r"|([0-9]{4}-[0-9]{2}(?:-[0-9]{2})?)(?![0-9A-Za-z_.\-])"
           r"|([+-]?[0-9]+(?:\.[0-9]+)?)(?![0-9A-Za-z_.\-])|(" + _W + r")")
_HEADER = re.compile(_B + "(" + _W + ")[ \t\f\r]+(" + _W + ")" + _B + "(?:" + _S + _B + r")?\{" + _B)
_FIELD = re.compile("(" + _W + ")" + _B + ":" + _B + "(?:" + _SCALAR + r"|(\[))" + _B)
_ITEM = re.compile(_B + "(?:" + _SCALAR + r"|(\]))")
_AFTER_ITEM = re.compile(_B + r"([,\]])")
_BLANK = re.compile(_B)
_NOT_A_FACT = _STATEMENT_KEYWORDS | {"accept"}


def _parse_lines(text: str, file: str, line_offset: int) -> Optional[tuple[list, list]]:
    items: list = []
    comments: list = []
    header = _HEADER.match
    field = _FIELD.match
    blank = _BLANK.match
    span = _span
    Sp, Val, Fld = Span, Value, Field
    fact = None  # [type span, id span, type, id, title, fields] of the fact being read
    ln = line_offset
    for src in text.split("\n"):
        ln += 1
        pos = blank(src).end()
        end = len(src)
        while pos < end:
            c = src[pos]
            if c == "#":
                comments.append(A.Comment(line=ln, column=pos + 1, text=src[pos:].rstrip()))
                break
            if fact is None:
                m = header(src, pos)
                if m is None or m.group(1) in _NOT_A_FACT:
                    return None
                title = m.group(3)
                if title is not None and "\\" in title:
                    title = _unescape(title)
                fact = [span(Sp, (file, ln, m.start(1) + 1, ln, m.end(1) + 1)),
                        span(Sp, (file, ln, m.start(2) + 1, ln, m.end(2) + 1)), m.group(1), m.group(2), title, []]
                pos = m.end()
            elif c == "}":
                ts, ids, type_name, fid, title, fields = fact
                last = fields[-1].span if fields else ids
                items.append(Fact(span=span(Sp, (file, ts[1], ts[2], last[3], last[4])), type_name=type_name,
                                  type_span=ts, id=fid, id_span=ids, title=title, fields=fields))
                fact = None
                pos = blank(src, pos + 1).end()
            else:
                m = field(src, pos)
                if m is None:
                    return None
                regs = m.regs
                a, b = regs[1]
                ns = span(Sp, (file, ln, a + 1, ln, b + 1))
                k = m.lastindex
                if k == 6:  # a list
                    value, pos = _list(src, m.end(), file, ln, ns)
                    if value is None:
                        return None
                    pos = blank(src, pos).end()
                    vs = value.span
                    vl, ve = vs[3], vs[4]
                else:  # a scalar, read as _scalar(m, 1, file, ln) reads it; inlined because most fields are
                    # scalars and the call costs 4% of the reader's time (10,000 benchmark facts)
                    vs, ve = regs[k]
                    text = src[vs:ve]
                    if k == 5:
                        if text == "true" or text == "false":
                            value = Val(span=span(Sp, (file, ln, vs + 1, ln, ve + 1)), kind="bool",
                                        value=text == "true", text=text, items=[])
                        else:
                            value = Val(span=span(Sp, (file, ln, vs + 1, ln, ve + 1)), kind="word", value=text,
                                        text=text, items=[])
                    elif k == 2:
                        if "\\" in text:
                            text = _unescape(text)
                        ve += 1
                        value = Val(span=span(Sp, (file, ln, vs, ln, ve + 1)), kind="string", value=text, text=text,
                                    items=[])
                    else:
                        value = Val(span=span(Sp, (file, ln, vs + 1, ln, ve + 1)),
                                    kind="date" if k == 3 else "number",
                                    value=text if k == 3 else _number(text), text=text,
                                    items=[])
                    pos = regs[0][1]
                    vl, ve = ln, ve + 1
                fact[5].append(Fld(span=span(Sp, (file, ln, a + 1, vl, ve)), name=src[a:b], name_span=ns,
                                   value=value))
    if fact is not None:
        return None
    return items, comments


def _scalar(m, g: int, file: str, ln: int):
    """The value matched by the groups of :data:`_SCALAR` that start at group ``g + 1``."""
    k = m.lastindex - g
    start, end = m.regs[g + k]
    text = m.string[start:end]
    if k == 1:  # the group holds a string's content: its span takes in the quotes
        if "\\" in text:
            text = _unescape(text)
        return Value(span=_span(Span, (file, ln, start, ln, end + 2)), kind="string", value=text, text=text,
                     items=[])
    if k == 4:
        if text == "true" or text == "false":
            kind, value = "bool", text == "true"
        else:
            kind, value = "word", text
    elif k == 3:
        kind, value = "number", _number(text)
    else:
        kind, value = "date", text
    return Value(span=_span(Span, (file, ln, start + 1, ln, end + 1)), kind=kind, value=value, text=text, items=[])


def _list(src: str, pos: int, file: str, ln: int, ns):
    """A list value that ends on its line, as ``(value, position after it)``; ``(None, 0)`` when it
    is anything else."""
    items = []
    while True:
        m = _ITEM.match(src, pos)
        if m is None:
            return None, 0
        if m.lastindex == 5:  # "]"
            pos = m.end()
            break
        items.append(_scalar(m, 0, file, ln))
        m = _AFTER_ITEM.match(src, m.end())
        if m is None:
            return None, 0
        pos = m.end()
        if m.group(1) == "]":
            break
    if items:
        a, b = items[0].span, items[-1].span
        span = _span(Span, (file, a[1], a[2], b[3], b[4]))
    else:  # an empty list takes a span after its field's name, as the parser gives it
        span = _span(Span, (file, ns[3], ns[4] + 2, ns[3], ns[4] + 4))
    return Value(span=span, kind="list", value=None, text="", items=items), pos


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
            value, kind = _number(t), "number"
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


def _number(text: str):
    """A number token's value; out of range, the fast path gives up and Lark's reports E307."""
    value = number_value(text)
    if value is None:
        raise _GiveUp
    return value


def _unescape(raw: str) -> str:
    def sub(m):
        c = m.group(1)
        if c not in ('"', "\\"):
            raise _GiveUp  # Lark's path reports the invalid escape
        return c

    return _ESCAPE.sub(sub, raw)
