"""The canonical formatter behind ``coherence fmt``.

The formatter prints the syntax tree back in one canonical layout and puts every comment back
where it was. It never rewrites a source it cannot parse, and it checks its own output: the output
must parse to the same tree (spans aside) and hold the same comments in the same order, otherwise
the source is left alone and an error is reported.

Canonical layout (also documented in ``docs/fmt.md``):

- one blank line between top-level items, except between consecutive one-line items of the same
  kind (facts of the same type, ``accept`` statements, ``enum`` declarations, ...) that no comment
  line separates; no blank lines inside blocks, except that a blank line the source had between a
  top-level comment and what follows it is kept;
- blocks are indented by two spaces per level; lines are at most 100 columns where the layout
  allows it (a single word or value longer than that stays on its line);
- a header ``TYPE ID "Title" {`` that does not fit puts the title on the next line, indented four
  more columns (split into pieces if still too long);
- a fact, an ``accept`` or a ``ruleset`` header whose one-line form fits in 100 columns goes on one
  line, however many fields it has, fields separated by two spaces:
  ``type ID "Title" { a: x  b: y }``; otherwise one field per line. A comment inside the braces
  forces the multi-line layout. An empty block is written ``{}``;
- a list too long for its line is wrapped: items fill each line, continuation lines aligned after
  the ``[`` (a comment after an item ends a line);
- schema types: one field or ``inherit`` per line; enums: members on one line when they fit,
  otherwise wrapped at 100 columns, indented two spaces (a comment between members ends a line);
  labelled members (``family_reunion "family reunification"``) one per line when there are
  several;
- rules and criteria: one field per line; ``when {`` with one pattern per line; a ``where``
  condition stays on one line when it fits, otherwise it breaks before ``and``/``or`` (filling
  each line as far as it goes; an ``or`` of ``and`` runs breaks before ``or`` first, a run
  breaking before its ``and``s only when it does not fit on its line); on continuation lines the operator hangs left of the condition's
  start so that the operands line up under it;
  ``derive TYPE {`` one field per line; body parts keep their order;
- tests: ``given {`` with its facts indented, then one ``expect`` per line;
- conditions carry the fewest parentheses that keep the tree: ``and`` inside ``or`` needs none,
  ``or`` inside ``and`` does, as does a nested operator of the same kind and ``not`` of a compound
  condition;
- strings are re-escaped (``\\"``, ``\\\\``); adjacent strings are one value and are printed as one
  string, split again into adjacent pieces after spaces (aligned under the first piece) when the line
  would exceed 100 columns; numbers and dates are printed as written; list items are separated
  by ``, `` without a trailing comma;
- comments are kept, in order: a comment on its own line stays on its own line before the line
  holding the code that followed it (indented like that line, or like the block's contents before
  a closing brace); a comment after code stays after that code's line, two spaces after it;
- the output ends with exactly one newline and has no trailing whitespace.

In Markdown files only the fenced ``policy``/``rules`` blocks are formatted; CSV inventories are
returned unchanged. A file keeps its byte-order mark and its line ends (CRLF stays CRLF); Markdown
prose stays byte for byte.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any, Optional

from . import ast as A
from ..diagnostics import Diagnostic
from .parser import parse_source

WIDTH = 100
INDENT = 2

_TOKEN = re.compile(
    r'(?P<ws>[ \t\f\r\n]+)'
    r'|(?P<derived>[A-Za-z_][A-Za-z0-9_]*#[0-9a-f]{10}(?![0-9A-Za-z_]))'  # a derived fact's id, not a comment
    r'|(?P<comment>#[^\n]*)'
    r'|(?P<string>"(?:[^"\\\r\n]|\\.)*")'
    r'|(?P<word>@?[A-Za-z_][A-Za-z0-9_.\-]*)'
    r'|(?P<number>[+-]?[0-9][0-9A-Za-z_.\-]*)'
    r'|(?P<op>==|!=|<=|>=)'
    r'|(?P<other>.)',
    re.S,
)


# ---- source positions ---------------------------------------------------------------------------


class _Source:
    """Token positions of a source that parsed, to place lines and comments."""

    def __init__(self, text: str, line_offset: int):
        self.text = text
        self.line_offset = line_offset
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.starts: list[int] = []
        self.texts: list[str] = []
        for m in _TOKEN.finditer(text):
            if m.lastgroup in ("ws", "comment"):
                continue
            self.starts.append(m.start())
            self.texts.append(m.group(0))
        self.match: dict[int, int] = {}
        stack: list[int] = []
        for i, t in enumerate(self.texts):
            if t == "{":
                stack.append(i)
            elif t == "}" and stack:
                self.match[stack.pop()] = i

    def pos(self, line: int, column: int) -> int:
        idx = line - 1 - self.line_offset
        if idx < 0:
            return 0
        if idx >= len(self.line_starts):
            return len(self.text)
        return self.line_starts[idx] + column - 1

    def span_pos(self, span: Optional[A.Span]) -> int:
        if span is None:
            return 0
        return self.pos(span.line, span.column)

    def line_of(self, pos: int) -> int:
        return bisect.bisect_right(self.line_starts, pos) - 1

    def index_at(self, pos: int) -> int:
        """Index of the first token starting at or after ``pos``."""
        return bisect.bisect_left(self.starts, pos)

    def keyword(self, pos: int, *words: str) -> int:
        """Start of the keywords ``words`` written just before the token at ``pos`` (a name whose
        span the parser gives): ``keyword(npos, "extend", "enum")`` is where ``extend enum NAME``
        starts. The tokens are checked, not counted: if they are not those words, ``pos`` itself
        (the item then starts at its name, which only affects where comments go)."""
        i = self.index_at(pos)
        j = i - len(words)
        if j >= 0 and i <= len(self.texts) and self.texts[j:i] == list(words):
            return self.starts[j]
        return pos

    def last_before(self, pos: int, words: tuple[str, ...]) -> Optional[int]:
        i = self.index_at(pos) - 1
        while i >= 0:
            if self.texts[i] in words:
                return self.starts[i]
            i -= 1
        return None

    def block(self, after: int) -> tuple[int, int]:
        """Positions of the first ``{`` at or after ``after`` (a position in the header of a block:
        its keyword or name; a title is one string token) and of its matching ``}``."""
        i = self.index_at(after)
        while i < len(self.texts) and self.texts[i] != "{":
            i += 1
        if i >= len(self.texts):
            return len(self.text), len(self.text)
        j = self.match.get(i)
        return self.starts[i], (self.starts[j] if j is not None else len(self.text))

    def token_after(self, pos: int) -> Optional[tuple[int, str]]:
        i = self.index_at(pos + 1)
        if i < len(self.starts):
            return self.starts[i], self.texts[i]
        return None


# ---- output lines ---------------------------------------------------------------------------------


@dataclass
class _Line:
    indent: int
    text: str
    src: int  # source position of the first token printed on this line
    cindent: int  # indentation of comments placed before this line
    top: bool = False  # first line of a top-level item
    # on the line of a top-level item printed on one line: its kind (facts: of which type); runs of
    # such lines of one kind are not separated by blank lines
    run: Optional[tuple] = None


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _string_pieces(s: str, col: int, suffix: int = 0) -> list[str]:
    """``s`` as one quoted string or, when it would pass column 100, as adjacent pieces split
    after spaces, each starting at ``col``; the last piece leaves room for ``suffix`` columns."""
    whole = _quote(s)
    if col + len(whole) + suffix <= WIDTH:
        return [whole]
    chunks = re.findall(r"[^ ]+ *| +", s)
    budget = WIDTH - col - 2
    pieces: list[str] = []
    cur = ""
    for ch in chunks:
        if cur and len(_quote(cur + ch)) - 2 > budget:
            pieces.append(cur)
            cur = ch
        else:
            cur += ch
    if cur:
        if len(_quote(cur)) - 2 > budget - suffix and " " in cur.rstrip(" "):
            # keep room for the suffix on the last line: move its last word down
            head, _, last = cur.rstrip(" ").rpartition(" ")
            tail = cur[len(head) + 1:]
            pieces.append(head + " ")
            cur = tail
        pieces.append(cur)
    return [_quote(p) for p in pieces] if pieces else [whole]


def _value(v: A.Value) -> str:
    if v.kind == "string" or v.kind == "cell":
        return _quote(v.value)
    if v.kind in ("number", "date"):
        return v.text
    if v.kind == "bool":
        return "true" if v.value else "false"
    if v.kind == "word":
        return str(v.value)
    if v.kind == "list":
        return "[" + ", ".join(_value(i) for i in v.items) + "]"
    return str(v.text)


def _operand(o: A.Operand) -> str:
    if o.kind == "path":
        return ".".join(o.parts)
    if o.kind == "fact_ref":
        return "@" + o.parts[0]
    if o.kind == "null":
        return "null"
    if o.kind == "today":
        return "today"
    return _value(o.value)


def _members(members: list[str], labels: list) -> list[str]:
    """Each member as written: the word, then its label when it has one."""
    labels = labels or [None] * len(members)
    return [m if label is None else f"{m} {_quote(label)}" for m, label in zip(members, labels)]


def _type_expr(t: A.TypeExpr) -> str:
    if t.kind == "ref":
        return "ref " + t.name
    if t.kind == "list":
        return "list of " + _type_expr(t.item)
    if t.kind == "enum":
        return "enum { " + " ".join(_members(t.members, t.labels)) + " }" if t.members else "enum {}"
    return t.name


# ---- conditions -----------------------------------------------------------------------------------


@dataclass
class _Leaf:
    text: str


@dataclass
class _Group:
    prefix: str  # "(" or "not ("
    seq: list  # [(op or None, element, op_src)]


def _leaf_text(c: Any) -> str:
    if isinstance(c, A.Compare):
        return f"{_operand(c.left)} {c.op} {_operand(c.right)}"
    if isinstance(c, A.InList):
        return f"{_operand(c.left)} in [" + ", ".join(_operand(i) for i in c.items) + "]"
    if isinstance(c, A.Contains):
        return f"{_operand(c.left)} {'intersects' if getattr(c, 'any', False) else 'contains'} {_operand(c.right)}"
    if isinstance(c, A.Matches):
        return f"{_operand(c.left)} matches {_quote(c.pattern)}"
    raise TypeError(type(c).__name__)


class _Conditions:
    """Builds the flat layout sequence of a condition: ``[(op, element, op_src, forced_break)]``.

    A break is forced before an operator when a comment sits between it and the previous operator
    (or the condition's start), so comments inside a condition keep their line."""

    def __init__(self, src: _Source, has_comment):
        self.src = src
        self.has_comment = has_comment
        self.last = 0

    def op(self, node: Any, op: str) -> tuple[int, bool]:
        pos = self.op_src(node, op)
        forced = self.has_comment(self.last, pos)
        self.last = pos
        return pos, forced

    def build(self, c: Any) -> list:
        self.last = self.src.span_pos(c.span)
        return self.seq(c)

    def op_src(self, node: Any, op: str) -> int:
        start = self.src.span_pos(node.span)
        found = self.src.last_before(start, (op,))
        return found if found is not None else start

    def element(self, c: Any):
        nots = 0
        while isinstance(c, A.Not):
            nots += 1
            c = c.item
        prefix = "not " * nots
        if isinstance(c, (A.And, A.Or)):
            return _Group(prefix + "(", self.seq(c))
        return _Leaf(prefix + _leaf_text(c))

    def seq(self, c: Any) -> list:
        if isinstance(c, A.Or):
            out: list = []
            for k, item in enumerate(c.items):
                pos, forced = self.op(item, "or") if k else (0, False)
                if isinstance(item, A.And):
                    sub = self.seq(item)
                    out.append(("or" if k else None, sub[0][1], pos, forced))
                    out.extend(sub[1:])
                elif isinstance(item, A.Or):
                    out.append(("or" if k else None, _Group("(", self.seq(item)), pos, forced))
                else:
                    out.append(("or" if k else None, self.element(item), pos, forced))
            return out
        if isinstance(c, A.And):
            out = []
            for k, item in enumerate(c.items):
                pos, forced = self.op(item, "and") if k else (0, False)
                el = _Group("(", self.seq(item)) if isinstance(item, (A.And, A.Or)) else self.element(item)
                out.append(("and" if k else None, el, pos, forced))
            return out
        return [(None, self.element(c), 0, False)]


def _flat(el) -> str:
    if isinstance(el, _Leaf):
        return el.text
    return el.prefix + _flat_seq(el.seq) + ")"


def _flat_seq(seq: list) -> str:
    return " ".join((op + " " if op else "") + _flat(el) for op, el, _, _ in seq)


def _has_forced(seq: list) -> bool:
    return any(f or (isinstance(el, _Group) and _has_forced(el.seq)) for _, el, _, f in seq)


class _CondWriter:
    """Greedy layout of a condition: fill each line, break before `and`/`or`."""

    def __init__(self, col: int):
        self.lines: list[list] = [["", None, col]]  # [text, src, start column]
        self.col = col

    def put(self, s: str) -> None:
        self.lines[-1][0] += s
        self.col += len(s)

    def newline(self, align: int, src: int) -> None:
        self.lines.append(["", src, align])
        self.col = align

    def seq(self, seq: list, align: int, tail: int = 0) -> None:
        """Lay out ``seq`` from the current column; ``tail``: the closing parentheses that will
        follow its last element. An ``or`` whose operands are ``and`` runs breaks before ``or``
        first: a run that fits after the ``or`` stays whole, a longer one breaks before its ``and``s."""
        terms: list[list] = []
        for item in seq:
            if item[0] == "or" or not terms:
                terms.append([item])
            else:
                terms[-1].append(item)
        if all(len(t) == 1 for t in terms) or len(terms) == 1:
            self.fill(seq, align, tail)
            return
        for k, term in enumerate(terms):
            t = tail if k == len(terms) - 1 else 0
            if k == 0:
                self.fill(term, align, t)
                continue
            op, el, osrc, forced = term[0]
            flat = _flat_seq(term)
            if not _has_forced(term) and self.col + 1 + len(flat) + t <= WIDTH:
                self.put(" " + flat)
                continue
            if forced or self.col + 1 + len(flat) + t > WIDTH:
                self.newline(max(0, align - len(op) - 1), osrc)
                self.put(op + " ")
            else:
                self.put(" " + op + " ")
            self.fill([(None, el, osrc, False)] + term[1:], align, t)

    def fill(self, seq: list, align: int, tail: int = 0) -> None:
        """Greedy: each line filled as far as it goes, breaking before ``and``/``or``."""
        for k, (op, el, osrc, forced) in enumerate(seq):
            flat = _flat(el)
            t = tail if k == len(seq) - 1 else 0
            if k == 0:
                self.element(el, flat, t)
                continue
            piece = op + " " + flat
            if not forced and self.col + 1 + len(piece) + t <= WIDTH:
                self.put(" " + piece)
                continue
            self.newline(max(0, align - len(op) - 1), osrc)
            self.put(op + " ")
            self.element(el, flat, t)

    def element(self, el, flat: str, tail: int = 0) -> None:
        if isinstance(el, _Leaf) or (self.col + len(flat) + tail <= WIDTH and not _has_forced(el.seq)):
            self.put(flat)
            return
        self.put(el.prefix)
        self.seq(el.seq, self.col, tail + 1)
        self.put(")")


# ---- the printer ------------------------------------------------------------------------------------


def _run_kind(it: Any) -> tuple:
    """What one-line items must share to be printed without a blank line between them: facts their
    type; ``enum`` and ``extend enum`` declarations, ``accept`` statements, ... their kind."""
    if isinstance(it, A.Fact):
        return ("fact", it.type_name)
    return (type(it).__name__, getattr(it, "extend", False))


class _Printer:
    def __init__(self, src: _Source, comments: list[tuple[int, A.Comment]]):
        self.src = src
        self.comment_pos = [p for p, _ in comments]
        self.out: list[_Line] = []
        self.cond = _Conditions(src, self.comments_between)

    def emit(self, indent: int, text: str, src: int, cindent: Optional[int] = None, top: bool = False) -> None:
        self.out.append(_Line(indent, text, src, indent if cindent is None else cindent, top))

    def comments_between(self, a: int, b: int) -> bool:
        i = bisect.bisect_right(self.comment_pos, a)
        return i < len(self.comment_pos) and self.comment_pos[i] < b

    # -- helpers
    def header(self, indent: int, head: str, title: Optional[str], src: int, suffix: str, top: bool) -> None:
        """``head "title"`` + suffix; when that is too long, the title goes on the next lines,
        indented four more columns and split into pieces where needed."""
        if title is None:
            self.emit(indent, head + suffix, src, top=top)
            return
        one = f"{head} {_quote(title)}{suffix}"
        if indent + len(one) <= WIDTH:
            self.emit(indent, one, src, top=top)
            return
        self.emit(indent, head, src, top=top)
        col = indent + 2 * INDENT
        pieces = _string_pieces(title, col, len(suffix))
        for k, p in enumerate(pieces, start=1):
            self.emit(col, p + (suffix if k == len(pieces) else ""), src, cindent=indent)

    def field_lines(self, indent: int, name: str, value: A.Value, src: int) -> None:
        if value.kind == "string":
            col = indent + len(name) + 2
            pieces = _string_pieces(value.value, col)
            self.emit(indent, f"{name}: {pieces[0]}", src)
            for p in pieces[1:]:
                self.emit(col, p, src, cindent=indent)
        elif value.kind == "list" and value.items:
            self.list_lines(indent, name, value, src)
        else:
            self.emit(indent, f"{name}: {_value(value)}", src)

    def list_lines(self, indent: int, name: str, value: A.Value, src: int) -> None:
        """``name: [a, b, c]`` on one line when it fits; otherwise the items fill each line up to
        100 columns, continuation lines aligned after the ``[``. A comment after an item ends a
        line, so it keeps its place."""
        items = [_value(i) for i in value.items]
        positions = [self.src.span_pos(i.span) for i in value.items]
        head = f"{name}: ["
        col = indent + len(head)
        rows: list[tuple[list[str], int]] = []  # (items, source position of the row)
        cur: list[str] = []
        cur_src = src
        for k, it in enumerate(items):
            last = k == len(items) - 1
            if cur and col + len(", ".join(cur + [it])) + 1 > WIDTH:
                rows.append((cur, cur_src))
                cur = []
            if not cur:
                cur_src = positions[k] if rows else src
            cur.append(it)
            if not last and self.comments_between(positions[k], positions[k + 1]):
                rows.append((cur, cur_src))
                cur = []
        rows.append((cur, cur_src))
        for k, (row, rsrc) in enumerate(rows):
            text = ", ".join(row) + ("]" if k == len(rows) - 1 else ",")
            if k == 0:
                self.emit(indent, head + text, rsrc)
            else:
                self.emit(col, text, rsrc, cindent=col)

    def close(self, indent: int, pos: int) -> None:
        self.emit(indent, "}", pos, cindent=indent + INDENT)

    def fieldlike(self, indent: int, head: str, title: Optional[str], start: int, brace_from: int,
                  fields: list[A.Field], top: bool) -> None:
        """Facts, accepts and ruleset headers: on one line when that fits in 100 columns (however
        many fields), else one field per line."""
        open_pos, close_pos = self.src.block(brace_from)
        inside = self.comments_between(start, close_pos)
        if not inside:
            one = head + (" " + _quote(title) if title is not None else "")
            if fields:
                one += " { " + "  ".join(f"{f.name}: {_value(f.value)}" for f in fields) + " }"
            else:
                one += " {}"
            if indent + len(one) <= WIDTH:
                self.emit(indent, one, start, top=top)
                return
            if not fields:
                self.header(indent, head, title, start, " {}", top)
                return
        self.header(indent, head, title, start, " {", top)
        for f in fields:
            self.field_lines(indent + INDENT, f.name, f.value, self.src.span_pos(f.name_span))
        self.close(indent, close_pos)

    # -- items
    def item(self, it: Any, indent: int = 0, top: bool = True) -> None:
        first = len(self.out)
        self.item_lines(it, indent, top)
        if top and len(self.out) == first + 1:
            self.out[first].run = _run_kind(it)

    def item_lines(self, it: Any, indent: int, top: bool) -> None:
        s = self.src
        if isinstance(it, A.Fact):
            start = s.span_pos(it.type_span)
            self.fieldlike(indent, f"{it.type_name} {it.id}", it.title, start, s.span_pos(it.id_span) + len(it.id),
                           it.fields, top)
        elif isinstance(it, A.Accept):
            cpos = s.span_pos(it.criterion_span)
            head = f"accept {it.criterion} on [" + ", ".join(it.ids) + "]"
            self.fieldlike(indent, head, None, s.keyword(cpos, "accept"), cpos, it.fields, top)
        elif isinstance(it, A.RulesetDecl):
            npos = s.span_pos(it.span)
            self.fieldlike(indent, f"ruleset {it.name}", it.title, s.keyword(npos, "ruleset"), npos, it.fields, top)
        elif isinstance(it, A.EnumDecl):
            self.enum(it, indent, top)
        elif isinstance(it, A.TypeDecl):
            self.type_decl(it, indent, top)
        elif isinstance(it, (A.Rule, A.Criterion)):
            self.rule(it, indent, top)
        elif isinstance(it, A.TestDecl):
            self.test(it, indent, top)
        else:  # pragma: no cover - every item kind is handled above
            raise TypeError(type(it).__name__)

    def enum(self, e: A.EnumDecl, indent: int, top: bool) -> None:
        s = self.src
        npos = s.span_pos(e.name_span)
        start = s.keyword(npos, "extend", "enum") if e.extend else s.keyword(npos, "enum")
        head = ("extend enum " if e.extend else "enum ") + e.name + (" open" if e.open else "")
        open_pos, close_pos = s.block(npos)
        inside = self.comments_between(start, close_pos)
        words = _members(e.members, e.labels)
        labelled = any(label is not None for label in e.labels)
        one = head + (" { " + " ".join(words) + " }" if words else " {}")
        if not inside and indent + len(one) <= WIDTH and not (labelled and len(words) > 1):
            self.emit(indent, one, start, top=top)
            return
        self.emit(indent, head + " {", start, top=top)
        positions = [s.span_pos(sp) for sp in e.member_spans]
        inner = indent + INDENT
        cur: list[str] = []
        cur_src = 0
        for k, m in enumerate(words):
            # labelled members one per line; bare members packed up to the width
            if cur and (labelled or inner + len(" ".join(cur + [m])) > WIDTH):
                self.emit(inner, " ".join(cur), cur_src)
                cur = []
            if not cur:
                cur_src = positions[k]
            cur.append(m)
            nxt = positions[k + 1] if k + 1 < len(positions) else close_pos
            if self.comments_between(positions[k], nxt):
                self.emit(inner, " ".join(cur), cur_src)
                cur = []
        if cur:
            self.emit(inner, " ".join(cur), cur_src)
        self.close(indent, close_pos)

    def type_decl(self, t: A.TypeDecl, indent: int, top: bool) -> None:
        s = self.src
        npos = s.span_pos(t.name_span)
        start = s.keyword(npos, "extend", "type") if t.extend else s.keyword(npos, "type")
        head = ("extend type " if t.extend else "type ") + t.name
        open_pos, close_pos = s.block(npos)
        parts = sorted(list(t.fields) + list(t.inherits), key=lambda n: s.span_pos(n.span))
        if not parts and not self.comments_between(start, close_pos):
            self.header(indent, head, t.doc, start, " {}", top)
            return
        self.header(indent, head, t.doc, start, " {", top)
        for p in parts:
            if isinstance(p, A.FieldDecl):
                self.emit(indent + INDENT, f"{p.name}: {_type_expr(p.type)}{'?' if p.optional else ''}",
                          s.span_pos(p.span))
            else:
                ppos = s.span_pos(p.span)
                self.emit(indent + INDENT, f"inherit {p.field} from {p.via}", s.keyword(ppos, "inherit"))
        self.close(indent, close_pos)

    def rule(self, r: Any, indent: int, top: bool) -> None:
        s = self.src
        if isinstance(r, A.Rule):
            name, npos_span, word = r.name, r.name_span, "rule"
            parts = list(r.fields) + [x for x in (r.when, r.derive) if x is not None]
        else:
            name, npos_span, word = r.code, r.code_span, "criterion"
            parts = list(r.fields) + ([r.when] if r.when is not None else [])
        npos = s.span_pos(npos_span)
        start = s.keyword(npos, word)
        head = f"{word} {name}"
        open_pos, close_pos = s.block(npos)
        parts.sort(key=lambda n: s.span_pos(n.span))
        if not parts and not self.comments_between(start, close_pos):
            self.header(indent, head, r.title, start, " {}", top)
            return
        self.header(indent, head, r.title, start, " {", top)
        inner = indent + INDENT
        for p in parts:
            if isinstance(p, A.Field):
                self.field_lines(inner, p.name, p.value, s.span_pos(p.name_span))
            elif isinstance(p, A.When):
                self.when(p, inner)
            else:
                self.derive(p, inner)
        self.close(indent, close_pos)

    def when(self, w: A.When, indent: int) -> None:
        s = self.src
        wpos = s.span_pos(w.span)
        open_pos, close_pos = s.block(wpos)  # the span of `when {...}` starts at `when`
        if not w.patterns and not self.comments_between(wpos, close_pos):
            self.emit(indent, "when {}", wpos)
            return
        self.emit(indent, "when {", wpos)
        for p in w.patterns:
            self.pattern(p, indent + INDENT)
        self.close(indent, close_pos)

    def pattern(self, p: A.Pattern, indent: int) -> None:
        s = self.src
        tpos = s.span_pos(p.type_span)
        if p.kind == "match":
            prefix = f"{p.binding}: {p.type_name}"
            start = s.span_pos(p.span)
        else:
            prefix = f"{p.kind} {p.type_name}"
            start = s.keyword(tpos, p.kind)  # `not` or `exists`
        if p.where is None:
            self.emit(indent, prefix, start)
            return
        prefix += " where "
        col = indent + len(prefix)
        w = _CondWriter(col)
        w.seq(self.cond.build(p.where), col)
        first, *rest = w.lines
        self.emit(indent, prefix + first[0], start)
        for text, src, c in rest:
            self.emit(c, text, src)

    def derive(self, d: A.Derive, indent: int) -> None:
        s = self.src
        tpos = s.span_pos(d.type_span)
        start = s.keyword(tpos, "derive")
        open_pos, close_pos = s.block(tpos)
        if not d.fields and not self.comments_between(start, close_pos):
            self.emit(indent, f"derive {d.type_name} {{}}", start)
            return
        self.emit(indent, f"derive {d.type_name} {{", start)
        for f in d.fields:
            self.emit(indent + INDENT, f"{f.name}: {_operand(f.value)}", s.span_pos(f.span))
        self.close(indent, close_pos)

    def test(self, t: A.TestDecl, indent: int, top: bool) -> None:
        s = self.src
        npos = s.span_pos(t.span)
        start = s.keyword(npos, "test")  # the span of a test is its name
        open_pos, close_pos = s.block(npos)
        after = s.token_after(open_pos)
        given_pos = after[0] if after is not None and after[1] == "given" else None
        if given_pos is None and not t.expectations and not self.comments_between(start, close_pos):
            self.header(indent, "test", t.name, start, " {}", top)
            return
        self.header(indent, "test", t.name, start, " {", top)
        inner = indent + INDENT
        if given_pos is not None:
            _, gclose = s.block(given_pos)
            if not t.given and not self.comments_between(given_pos, gclose):
                self.emit(inner, "given {}", given_pos)
            else:
                self.emit(inner, "given {", given_pos)
                for f in t.given:
                    self.item(f, inner + INDENT, top=False)
                self.close(inner, gclose)
        for e in t.expectations:
            cpos = s.span_pos(e.code_span)
            if e.kind == "on":
                self.emit(inner, f"expect {e.code} on [" + ", ".join(e.ids) + "]", s.keyword(cpos, "expect"))
            elif e.kind == "no":
                self.emit(inner, f"expect no {e.code}", s.keyword(cpos, "expect", "no"))
            else:
                self.emit(inner, f"expect count {e.code} {e.op} {e.count}", s.keyword(cpos, "expect", "count"))
        self.close(indent, close_pos)


# ---- comments -------------------------------------------------------------------------------------


def _render(printer: _Printer, src: _Source, comments: list[tuple[int, A.Comment]]) -> str:
    lines = printer.out
    srcs = [ln.src for ln in lines]
    text = src.text
    eof: list[tuple[str, bool]] = []  # (comment, blank line before it)
    buckets: dict[int, list] = {}

    def blank_between(a: int, b: int) -> bool:
        return re.search(r"\n[ \t\f\r]*\n", text[a:b]) is not None

    # Lines printed from one source token (a string split into pieces) form a group: comments that
    # lead or trail any line of the group lead its first line or trail its last.
    first_of: list[int] = []
    for i, ln in enumerate(lines):
        first_of.append(first_of[i - 1] if i and lines[i - 1].src == ln.src else i)
    last_of = {}
    for i in range(len(lines)):
        last_of[first_of[i]] = i

    prev_end = 0  # end of the previous comment, for blank-line detection
    for pos, c in comments:
        k = bisect.bisect_left(src.starts, pos)
        prev_tok = k - 1
        trailing = prev_tok >= 0 and src.line_of(src.starts[prev_tok]) == src.line_of(pos)
        if trailing:
            i = bisect.bisect_right(srcs, src.starts[prev_tok]) - 1
            buckets.setdefault(first_of[max(i, 0)], []).append((c.text, True, pos, pos))
        elif k >= len(src.starts):
            before = src.starts[prev_tok] if prev_tok >= 0 else 0
            eof.append((c.text, bool(lines or eof) and blank_between(max(prev_end, before), pos)))
        else:
            anchor = src.starts[k]
            i = bisect.bisect_right(srcs, anchor) - 1
            buckets.setdefault(first_of[max(i, 0)], []).append((c.text, False, pos, anchor))
        prev_end = pos + len(c.text)

    # within a group: the last comment trails the group's last line if it trailed code; the others
    # lead its first line
    out: list[str] = []
    trail_at: dict[int, str] = {}
    run: Optional[tuple] = None  # the kind of the previous top-level item, if printed on one line
    for i, ln in enumerate(lines):
        group = buckets.get(i, []) if first_of[i] == i else []
        if group and group[-1][1]:
            trail_at[last_of[i]] = group[-1][0]
            group = group[:-1]
        if ln.top:
            # a blank line between top-level items, except within a run of one-line items of one
            # kind that no comment line interrupts
            if out and not (ln.run is not None and ln.run == run and not group):
                out.append("")
            run = ln.run
        for k, (ctext, _, pos, anchor) in enumerate(group):
            out.append(" " * ln.cindent + ctext)
            upto = group[k + 1][2] if k + 1 < len(group) else anchor
            if ln.top and blank_between(pos, upto):
                out.append("")
        body = " " * ln.indent + ln.text
        if i in trail_at:
            body += "  " + trail_at[i]
        out.append(body)
    for ctext, blank in eof:
        if blank:
            out.append("")
        out.append(ctext)
    # collapse runs of blank lines, strip trailing whitespace
    final: list[str] = []
    for ln in out:
        ln = ln.rstrip()
        if ln == "" and (not final or final[-1] == ""):
            continue
        final.append(ln)
    while final and final[-1] == "":
        final.pop()
    return "\n".join(final) + "\n" if final else ""


# ---- entry points -----------------------------------------------------------------------------------


class FormatterBug(RuntimeError):
    """The formatter's self-check failed: its output would not mean the same as the input. The
    source is left unchanged and the command line reports an internal error (exit 3)."""


def _internal(file: str, message: str) -> "FormatterBug":
    return FormatterBug(f"fmt: {message} in {file}; the source was left unchanged")


def _format_parsed(text: str, module: A.Module, line_offset: int) -> str:
    src = _Source(text, line_offset)
    comments = sorted(((src.pos(c.line, c.column), c) for c in module.comments), key=lambda pc: pc[0])
    printer = _Printer(src, comments)
    for it in module.items:
        printer.item(it)
    return _render(printer, src, comments)


def format_source(text: str, file: str, kind: str = "policy", line_offset: int = 0) -> tuple[Optional[str], list[Diagnostic]]:
    """Format one source (a whole `.policy`/`.rules` file, or one Markdown block's text).

    Returns ``(formatted, [])``, or ``(None, diagnostics)`` when the source does not parse (or, should
    the formatter ever fail its own check, when its output would not mean the same). Never raises
    on bad input.
    """
    module, diags = parse_source(text, file, kind=kind, line_offset=line_offset)
    if diags:
        return None, diags
    if not module.items and not module.comments:
        return "", []
    try:
        out = _format_parsed(text, module, line_offset)
    except Exception as e:  # pragma: no cover - a formatter bug must not lose the file
        raise _internal(file, f"internal error ({type(e).__name__})") from e
    again, diags2 = parse_source(out, file, kind=kind)
    if diags2 or A.strip_spans(again.items) != A.strip_spans(module.items):
        raise _internal(file, "the formatted text would not mean the same")
    if [c.text for c in again.comments] != [c.text for c in module.comments]:
        raise _internal(file, "a comment would be lost or moved")
    return out, []
