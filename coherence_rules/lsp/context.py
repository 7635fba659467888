"""What the cursor is on: a lexical reading of a document, tolerant of text that does not parse.

Hover, definition and completion are asked for while the drafter types, so most of the time the
document does not parse. They do not need the syntax tree: the words around the cursor and the
braces it sits in say whether it is on a field name of a fact of some type, on the value of a
field, on the ids of an ``accept``, on a criterion code or on a type name. :func:`context_at`
answers that from tokens alone; the checked program (:mod:`coherence_rules.lsp.features`) then
gives the answer's content.

Offsets are code points into the document's text. In Markdown only fenced ``policy``/``rules``
blocks are read (:func:`source_view` blanks the prose, keeping offsets).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field as _field
from typing import Optional

from ..sources.loader import markdown_blocks

_TOKEN = re.compile(
    r'(?P<ws>\s+)'
    r'|(?P<comment>#[^\n\r]*)'
    r'|(?P<string>"(?:[^"\\\n\r]|\\[^\n\r])*"?)'
    r'|(?P<word>@?[A-Za-z_][A-Za-z0-9_.\-]*)'
    r'|(?P<number>[+-]?[0-9][0-9A-Za-z_.\-]*)'
    r'|(?P<op>==|!=|<=|>=)'
    r'|(?P<other>.)',
    re.S,
)

#: Block kinds whose body holds ``field: value`` pairs of a schema type.
FIELD_BLOCKS = ("fact", "derive", "type")
_DECLS = ("type", "enum", "criterion", "rule", "ruleset", "derive")


@dataclass(frozen=True)
class Token:
    """One significant token (no whitespace, no comment): ``kind`` is string, word, number, op or
    other (punctuation); ``start``/``end`` are offsets."""

    kind: str
    text: str
    start: int
    end: int


@dataclass
class Block:
    """A ``{ ... }`` block and what its header says it is.

    ``kind``: ``fact`` (``type_name`` and ``name`` the fact's type and id), ``accept`` (``name``
    the criterion code), ``derive`` (``type_name``), ``type``/``enum`` declarations (``type_name``
    the declared name), ``criterion``/``rule``/``ruleset`` (``name``), ``test``, ``when``,
    ``given``, or ``other``. ``open``/``close`` are token indexes of the braces (``close`` None
    while the block is not closed yet); ``header`` the token indexes of its header words."""

    kind: str
    open: int
    type_name: Optional[str] = None
    name: Optional[str] = None
    close: Optional[int] = None
    parent: Optional["Block"] = None
    header: dict[str, int] = _field(default_factory=dict)


@dataclass
class Context:
    """What is at an offset of a document.

    ``word``: the token under (or just before) the cursor when it is a word, else None;
    ``prefix``: the part of that word before the cursor ('' when the cursor is not on a word);
    ``role``: one of

    - ``field_name``: a field name (or where one would start) inside a fact-like block;
    - ``field_value``: the value (or a list item) of ``field`` inside a fact-like block;
    - ``accept_ids``: inside the ``[...]`` of an ``accept ... on``;
    - ``criterion``: a criterion code after ``accept``, ``expect``, ``expect no`` or ``expect count``;
    - ``fact_type``: the type word of a fact header, or where a top-level statement starts;
    - ``fact_id``: the id word of a fact header;
    - ``type_ref``: a type name after ``ref`` or ``list of`` in a declaration;
    - ``other``: anything else (a word is then looked up by what it names);

    ``block`` is the innermost block holding the cursor, ``set_fields`` the fields already
    written in it."""

    role: str
    word: Optional[Token] = None
    prefix: str = ""
    block: Optional[Block] = None
    field: Optional[str] = None
    set_fields: list[str] = _field(default_factory=list)
    #: the word is already followed by ``:`` (a completed field name keeps it)
    colon: bool = False

    @property
    def type_name(self) -> Optional[str]:
        """The schema type of the enclosing fact-like block."""
        return self.block.type_name if self.block is not None and self.block.kind in FIELD_BLOCKS else None

    @property
    def name(self) -> Optional[str]:
        """The looked-up form of the word: without the ``@`` of a literal fact id."""
        if self.word is None:
            return None
        return self.word.text[1:] if self.word.text.startswith("@") else self.word.text


def source_view(text: str, file: str) -> str:
    """The part of a document the language reads, at the same offsets: the whole text, or for
    Markdown the fenced ``policy``/``rules`` blocks with the prose blanked out."""
    if not file.endswith(".md"):
        return text
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    keep = [False] * len(lines)
    for _kind, first, block in markdown_blocks("\n".join(lines)):
        for i in range(first, min(first + block.count("\n") + 1, len(lines))):
            keep[i] = True
    out = [line if keep[i] else " " * len(line) for i, line in enumerate(lines)]
    view = "\n".join(out)
    if len(view) != len(text):  # CRLF: map back offset for offset
        view = _align(text, out)
    return view


def _align(text: str, lines: list[str]) -> str:
    """The blanked lines laid out with ``text``'s own line breaks, so offsets match."""
    pieces, i = [], 0
    for m in re.finditer(r"\r\n|\r|\n", text):
        pieces.append(lines[i] if i < len(lines) else "")
        pieces.append(m.group(0))
        i += 1
    pieces.append(lines[i] if i < len(lines) else "")
    return "".join(pieces)


def tokenize(text: str, quiet: Optional[list[tuple[int, int]]] = None) -> list[Token]:
    """The significant tokens of ``text`` (never fails: an unknown character is an ``other``).
    With ``quiet``, the spans where the cursor is inside text (a comment or a string: from just
    after its first character to its end, or to the end of the line when it is not closed) are
    appended to it."""
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "ws":
            continue
        if quiet is not None and kind in ("comment", "string"):
            closed = kind == "string" and len(m.group(0)) > 1 and m.group(0).endswith('"') \
                and not m.group(0).endswith('\\"')
            quiet.append((m.start() + 1, m.end() - 1 if closed else m.end()))
        if kind == "comment":
            continue
        out.append(Token(kind, m.group(0), m.start(), m.end()))
    return out


class Reading:
    """The tokens and blocks of one document's source view."""

    def __init__(self, text: str):
        self.quiet: list[tuple[int, int]] = []
        self.tokens = tokenize(text, self.quiet)
        self.blocks: list[Block] = []
        stack: list[Block] = []
        for i, t in enumerate(self.tokens):
            if t.text == "{":
                b = self._classify(i)
                b.parent = stack[-1] if stack else None
                self.blocks.append(b)
                stack.append(b)
            elif t.text == "}" and stack:
                stack.pop().close = i

    def _is(self, i: int, kind: str, text: Optional[str] = None) -> bool:
        if i < 0 or i >= len(self.tokens):
            return False
        t = self.tokens[i]
        return t.kind == kind and (text is None or t.text == text)

    def _classify(self, i: int) -> Block:
        """What the block opened by the brace at token ``i`` is, from the words before it."""
        toks = self.tokens
        j = i - 1
        while self._is(j, "string"):
            j -= 1
        titled = j < i - 1
        if self._is(j, "other", "]"):
            k = j
            while k >= 0 and toks[k].text not in ("[", "{", "}"):
                k -= 1
            if self._is(k, "other", "[") and self._is(k - 1, "word", "on") and self._is(k - 2, "word") \
                    and self._is(k - 3, "word", "accept"):
                return Block("accept", i, name=toks[k - 2].text, header={"criterion": k - 2})
            return Block("other", i)
        if not self._is(j, "word"):
            return Block("other", i)
        w1 = toks[j].text
        if not titled and w1 in ("when", "given"):
            return Block(w1, i)
        if w1 == "test" and titled:
            return Block("test", i)
        if w1 == "open" and self._is(j - 1, "word") and self._is(j - 2, "word", "enum"):
            return Block("enum", i, type_name=toks[j - 1].text, header={"name": j - 1})
        if self._is(j - 1, "word"):
            w0 = toks[j - 1].text
            if w0 in _DECLS:
                kind = w0
                if kind in ("type", "enum", "derive"):
                    return Block(kind, i, type_name=w1, header={"name": j})
                return Block(kind, i, name=w1, header={"name": j})
            if w0 not in ("extend", "accept", "expect", "no", "count", "on", "not", "exists", "where"):
                return Block("fact", i, type_name=w0, name=w1, header={"type": j - 1, "id": j})
        return Block("other", i)

    # ---- the cursor

    def token_at(self, offset: int) -> Optional[int]:
        """The index of the word token under the cursor: the one holding ``offset``, else the one
        ending exactly at it (the cursor just after a word)."""
        lo, hi = 0, len(self.tokens)
        while lo < hi:  # the first token ending at or after offset
            mid = (lo + hi) // 2
            if self.tokens[mid].end < offset:
                lo = mid + 1
            else:
                hi = mid
        for k in (lo, lo - 1):
            if 0 <= k < len(self.tokens):
                t = self.tokens[k]
                if t.kind == "word" and t.start <= offset <= t.end:
                    return k
        return None

    def _before(self, offset: int) -> int:
        """The index of the last token ending at or before ``offset`` (-1 when none)."""
        lo, hi = 0, len(self.tokens)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.tokens[mid].end <= offset:
                lo = mid + 1
            else:
                hi = mid
        return lo - 1

    def block_at(self, offset: int) -> Optional[Block]:
        """The innermost block whose braces hold ``offset``."""
        best = None
        for b in self.blocks:
            if self.tokens[b.open].end <= offset and (b.close is None or offset <= self.tokens[b.close].start):
                if best is None or b.open > best.open:
                    best = b
        return best

    def in_text(self, offset: int) -> bool:
        """Whether ``offset`` lies inside a comment or a string (nothing there names anything)."""
        i = bisect.bisect_right(self.quiet, (offset, float("inf"))) - 1
        return i >= 0 and self.quiet[i][0] <= offset <= self.quiet[i][1]

    def context_at(self, offset: int) -> Context:
        """What the cursor at ``offset`` is on (see :class:`Context`)."""
        if self.in_text(offset):
            return Context("other")
        toks = self.tokens
        k = self.token_at(offset)
        word = toks[k] if k is not None else None
        prefix = word.text[: offset - word.start] if word is not None else ""
        # the token before the word (or before the cursor, on whitespace)
        p = (k - 1) if k is not None else self._before(offset)
        block = self.block_at(offset)
        ctx = Context("other", word, prefix, block)
        prev = toks[p] if p >= 0 else None
        prev_word = prev.text if prev is not None and prev.kind == "word" else None
        # criterion codes: `accept CODE`, `expect CODE`, `expect no CODE`, `expect count CODE`
        if prev_word == "accept" or prev_word == "expect" or (
                prev_word in ("no", "count") and p >= 1 and toks[p - 1].text == "expect"):
            ctx.role = "criterion"
            return ctx
        if block is not None and block.kind == "accept" and k is not None and block.header.get("criterion") == k:
            ctx.role = "criterion"
            return ctx
        # the header of a fact: `TYPE ID "Title" {`
        for b in self.blocks:
            if k is not None and b.kind == "fact":
                if b.header.get("type") == k:
                    ctx.role, ctx.block = "fact_type", b
                    return ctx
                if b.header.get("id") == k:
                    ctx.role, ctx.block = "fact_id", b
                    return ctx
        # inside the `[...]` of `accept CODE on [...]`, or the list of a field
        bracket = self._open_bracket(p, block)
        if bracket is not None:
            if self._is(bracket - 1, "word", "on"):
                ctx.role = "accept_ids"
                return ctx
            if self._is(bracket - 1, "other", ":") and self._is(bracket - 2, "word") and block is not None \
                    and block.kind in FIELD_BLOCKS:
                ctx.role, ctx.field = "field_value", toks[bracket - 2].text
                ctx.set_fields = self._fields(block)
                return ctx
        if prev_word in ("ref", "of"):
            ctx.role = "type_ref"
            return ctx
        if block is None or block.kind == "given":
            if (prev is None or prev.text == "}" or (block is not None and p == block.open)) \
                    and (word is None or not word.text.startswith("@")):
                ctx.role = "fact_type"
            return ctx
        if block.kind not in FIELD_BLOCKS:
            return ctx
        ctx.set_fields = self._fields(block)
        nxt = toks[k + 1] if k is not None and k + 1 < len(toks) else None
        if nxt is not None and nxt.text == ":" and word is not None and not word.text.startswith("@"):
            ctx.role, ctx.colon = "field_name", True
            return ctx
        if prev is not None and prev.text == ":" and p >= 1 and toks[p - 1].kind == "word" and p - 1 > block.open:
            ctx.role, ctx.field = "field_value", toks[p - 1].text
            return ctx
        if p >= block.open and (prev is not None and (prev.text == "{" or self._ends_value(p))):
            ctx.role = "field_name"
        return ctx

    def _ends_value(self, p: int) -> bool:
        """Whether token ``p`` ends a complete field value (so a new field name may follow)."""
        t = self.tokens[p]
        if t.kind in ("string", "number") or t.text in ("]", "}"):
            return True
        return t.kind == "word" and p >= 1 and self.tokens[p - 1].text == ":"

    def _open_bracket(self, p: int, block: Optional[Block]) -> Optional[int]:
        """The ``[`` still open at token ``p`` within ``block`` (None when there is none, or when a
        ``:``, ``{`` or ``}`` comes first: the cursor is then past any list)."""
        stop = block.open if block is not None else -1
        depth = 0
        i = p
        while i > stop:
            t = self.tokens[i].text
            if t == "]":
                depth += 1
            elif t == "[":
                if depth == 0:
                    return i
                depth -= 1
            elif t in ("{", "}", ":") and depth == 0:
                return None
            i -= 1
        return None

    def _fields(self, block: Block) -> list[str]:
        """The field names written directly in ``block`` (not in blocks nested in it)."""
        out = []
        depth = 0
        end = block.close if block.close is not None else len(self.tokens)
        for i in range(block.open + 1, end):
            t = self.tokens[i]
            if t.text == "{":
                depth += 1
            elif t.text == "}":
                depth -= 1
            elif depth == 0 and t.text == ":" and self._is(i - 1, "word"):
                out.append(self.tokens[i - 1].text)
        return out


def context_at(text: str, file: str, offset: int) -> Context:
    """What the cursor at ``offset`` of the document ``file`` (its text ``text``) is on."""
    return Reading(source_view(text, file)).context_at(offset)
