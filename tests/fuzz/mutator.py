"""A grammar-aware mutator over the shipped sources, for the fuzzing suite (``tests/fuzz/``).

The seeds are the files the project ships and tests with: ``policies/**/*.policy`` and
``policies/**/*.md`` (their ``policy``/``rules`` blocks), ``rulesets/*.rules`` (``core.rules``
also as slices: its vocabulary, facts and rules with a few of its criteria and their tests),
``bench/rules.rules``, the sources of ``tests/fixtures/**`` and of the golden cases
``tests/golden/*/``. Each seed belongs to a *group*, the policy set it is read with (its
directory), so that a mutant of one file is checked together with the files it refers to and
gets past the name checks into the schema, the criteria and the engine.

A mutation keeps most of the structure: it works on the tokens of the language (strings, numbers,
dates, words, punctuation, comments, line ends) and on the statements, blocks and fields they
form. The operators (:data:`OPERATORS`) swap, duplicate, move and delete whole statements and
fields, replace a value with one of another kind (strings, numbers as large as 5,000 digits,
``1e999``, impossible dates, lists nested thousands deep, ids, keywords, enum members of the
schema), rename ids so that they collide or dangle (or consistently, which keeps the meaning),
insert unicode (combining marks, line and paragraph separators, bidi controls, NUL, byte order
marks, lone surrogates), nest conditions in parentheses and ``not``, leave strings, blocks and
fences unterminated, mix line ends, add byte order marks and invalid UTF-8, and finally apply the
byte-level mutations of :func:`tests.mutation.mutate`.

Everything is deterministic: :func:`generate` builds input ``index`` of a run from
``random.Random(f"{seed}:{index}")``, so any input of any run is rebuilt from its seed and index
alone, whatever ran before it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

from tests.mutation import mutate as byte_mutate

ROOT = Path(__file__).resolve().parents[2]
SOURCE_SUFFIXES = (".policy", ".rules", ".md", ".csv")
#: The shipped rulesets, mutated and given with ``--ruleset`` (a mutant replaces the built-in one).
RULESET_SEEDS = ("rulesets/core.rules", "rulesets/demig.rules", "rulesets/impic.rules", "rulesets/schema.rules",
                 "bench/rules.rules")
#: Golden cases that are slow on purpose (a set that runs past `batch --timeout`): their mutants
#: would be reported as hangs.
SLOW_ON_PURPOSE = ("E503",)
#: The policy set a mutated ruleset is run on.
RULESET_SET = "policies/mauritius"


# ---- seeds ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    """A shipped source: ``path`` (relative to the repository), the directory of the policy set it
    is read with (``group``; None: alone) and how it is run: ``set`` (part of the set, under the
    default rulesets) or ``ruleset`` (given with ``--ruleset``, on :data:`RULESET_SET`)."""

    path: str
    group: Optional[str]
    mode: str
    weight: float = 1.0

    @property
    def text(self) -> str:
        return _read(self.path)

    @property
    def suffix(self) -> str:
        """The source kind the file is read as (``facts.policy.in`` is a ``.policy`` file)."""
        name = self.path
        for tail in (".in", ".out"):
            if name.endswith(tail):
                name = name[:-len(tail)]
        return Path(name).suffix


@lru_cache(maxsize=None)
def _read(path: str) -> str:
    # a golden case of invalid UTF-8 keeps its bytes (as surrogate escapes; see :func:`to_bytes`)
    return (ROOT / path).read_bytes().decode("utf-8", "surrogateescape")


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


@lru_cache(maxsize=1)
def seeds() -> tuple[Seed, ...]:
    """Every seed, in a fixed order."""
    out: list[Seed] = []
    for p in sorted((ROOT / "policies").rglob("*")):
        if p.is_file() and p.suffix in (".policy", ".md"):
            weight = 0.2 if p.stat().st_size > 30_000 else 1.0
            if p.suffix == ".md" and not _md_blocks(_read(_rel(p))):
                weight = 0.1  # prose only: its fences are all there is to mutate
            out.append(Seed(_rel(p), _rel(p.parent), "set", weight))
    for name in RULESET_SEEDS:
        weight = {"rulesets/core.rules": 0.15, "rulesets/schema.rules": 0.3}.get(name, 1.0)
        out.append(Seed(name, None, "ruleset", weight))
    fixtures = ROOT / "tests" / "fixtures"
    for p in sorted(fixtures.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix in SOURCE_SUFFIXES:
            out.append(Seed(_rel(p), _rel(p.parent), "set"))
        elif p.suffix in (".in", ".out") and Path(p.stem).suffix in (".policy", ".rules"):
            out.append(Seed(_rel(p), None, "set", 0.5))  # fmt fixtures, read alone
    golden = ROOT / "tests" / "golden"
    for case in sorted(golden.iterdir()):
        if not case.is_dir() or case.name in SLOW_ON_PURPOSE:
            continue
        for p in sorted(case.rglob("*")):
            if p.is_file() and p.suffix in SOURCE_SUFFIXES:
                out.append(Seed(_rel(p), _rel(case), "set", 0.5))
    return tuple(out)


@lru_cache(maxsize=1)
def _seed_weights() -> tuple[float, ...]:
    return tuple(s.weight for s in seeds())


def group_files(seed: Seed) -> list[str]:
    """The other source files of the seed's set, relative to the group directory."""
    if seed.group is None:
        return []
    top = ROOT / seed.group
    return sorted(_rel(p)[len(seed.group) + 1:] for p in top.rglob("*")
                  if p.is_file() and p.suffix in SOURCE_SUFFIXES and _rel(p) != seed.path)


# ---- tokens and structure ---------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
  (?P<nl>\r\n|\r|\n)
 |(?P<ws>[ \t\f\v]+)
 |(?P<derived>[A-Za-z_][A-Za-z0-9_]*\#[0-9a-f]{10}(?![0-9A-Za-z_]))
 |(?P<comment>\#[^\r\n]*)
 |(?P<string>"(?:[^"\\\r\n]|\\.)*")
 |(?P<date>[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?(?![0-9A-Za-z_.\-]))
 |(?P<number>[+-]?[0-9]+(?:\.[0-9]+)?(?![0-9A-Za-z_]))
 |(?P<factref>@[A-Za-z_][A-Za-z0-9_.\-]*)
 |(?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
 |(?P<op>==|!=|<=|>=|<|>)
 |(?P<punct>[{}\[\]():,?])
 |(?P<other>.)
""", re.X | re.S)

KEYWORDS = ("accept on enum open extend type inherit from list of ref ruleset rule derive criterion when where not "
            "exists and or in contains intersects matches null today true false test given expect no count").split()
_HEADS = {"criterion", "rule", "type", "enum", "ruleset", "test", "accept", "extend"}


class Tok(list):
    """``[kind, text]``; a list so that operators can edit a token in place."""

    @property
    def kind(self) -> str:
        return self[0]

    @property
    def text(self) -> str:
        return self[1]


def tokens(text: str) -> list[Tok]:
    return [Tok((m.lastgroup, m.group())) for m in _TOKEN.finditer(text)]


def join(toks: list) -> str:
    return "".join(t[1] for t in toks)


def _sig(toks: list, i: int, step: int) -> Optional[int]:
    """The next significant token (not a blank, line end or comment) from ``i`` in direction ``step``."""
    while 0 <= i < len(toks):
        if toks[i][0] not in ("ws", "nl", "comment"):
            return i
        i += step
    return None


@dataclass
class Structure:
    """Statements (token ranges at depth 0), blocks (``{``..``}`` pairs) and fields (``name:`` and
    what follows it, up to the next field or the block's end) of a token list."""

    statements: list[tuple[int, int]] = field(default_factory=list)
    blocks: list[tuple[int, int]] = field(default_factory=list)
    fields: list[tuple[int, int, int]] = field(default_factory=list)  # (block index, start, end)
    values: list[int] = field(default_factory=list)  # tokens that are values
    headers: list[tuple[int, str, int]] = field(default_factory=list)  # (statement, head word, id token)


def structure(toks: list) -> Structure:
    s = Structure()
    depth = 0
    stack: list[int] = []
    start: Optional[int] = None
    for i, t in enumerate(toks):
        k, x = t[0], t[1]
        if depth == 0 and start is None and k not in ("ws", "nl", "comment"):
            start = i
        if x == "{" and k == "punct":
            stack.append(i)
            depth += 1
        elif x == "}" and k == "punct":
            if stack:
                s.blocks.append((stack.pop(), i))
            depth = max(0, depth - 1)
            if depth == 0 and start is not None:
                s.statements.append((start, i))
                start = None
    if start is not None:
        s.statements.append((start, len(toks) - 1))
    s.blocks.sort()
    for bi, (a, b) in enumerate(s.blocks):
        inner_depth = 0
        starts = []
        for i in range(a + 1, b):
            x = toks[i][1]
            if x in "{[(" and toks[i][0] == "punct":
                inner_depth += 1
            elif x in "}])" and toks[i][0] == "punct":
                inner_depth -= 1
            elif inner_depth == 0 and toks[i][0] == "word":
                j = _sig(toks, i + 1, 1)
                if j is not None and j < b and toks[j][1] == ":":
                    starts.append(i)
        for n, i in enumerate(starts):
            end = (starts[n + 1] if n + 1 < len(starts) else b) - 1
            s.fields.append((bi, i, end))
    for i, t in enumerate(toks):
        if t[0] in ("string", "number", "date", "factref", "derived"):
            s.values.append(i)
        elif t[0] == "word" or (t[0] == "punct" and t[1] == "["):
            p = _sig(toks, i - 1, -1)
            if p is not None and (toks[p][1] in (":", ",", "[") or toks[p][0] == "op"
                                  or toks[p][1] in ("in", "contains", "intersects")):
                s.values.append(i)
    for si, (a, b) in enumerate(s.statements):
        head = toks[a][1] if toks[a][0] == "word" else ""
        j = _sig(toks, a + 1, 1)
        if head == "extend" and j is not None:
            j = _sig(toks, j + 1, 1)
        if j is not None and j <= b and toks[j][0] == "word":
            s.headers.append((si, head, j))
    return s


# ---- values of every kind ----------------------------------------------------------------------------------------

_COMBINING = "\u0301\u0308\u0338\u20dd"
UNICODE = ["\u0301", "e\u0301", "\u2028", "\u2029", "\u202e", "\u202d", "\u2066", "\u2069", "\u200b", "\u200d",
           "\ufeff", "\x00", "\x1b[2J", "\x85", "\x0b", "\x0c", "\x7f", "\u00a0", "\u3000", "\U0001f600",
           "\U000e0041", "\ud800", "\udfff", "\\ud800", "\\u202e", "\\x00", "\\", "\t", "\r", "\u0130", "\uff21",
           "\u0345" * 50, _COMBINING * 20]
STRINGS = ['""', '"x"', '"é"', '"a\\"b"', '"\\\\"', '"\\ud800"', '"\\u0000"', '"\\n"', '"{"', '"}"', '"{m}"',
           '"{m.title}"', '"{ {"', '"#"', '"a" "b"', '"' + "x" * 5000 + '"', '"\u202eevil\u202c"', '"e\u0301"',
           '"\u2028"', '"' + _COMBINING * 30 + '"', '"\U0001f600"', '"%s%n"', '"{{m}}"', '"\x1b]8;;x\x07"']
NUMBERS = ["0", "-0", "+0", "1", "-1", "+1", "0.5", "-0.5", "9223372036854775807", "9223372036854775808",
           "-9223372036854775808", "-9223372036854775809", "1" + "0" * 399, "9" * 400, "-" + "9" * 400,
           "7" * 4301, "1" * 5000, "0." + "0" * 400 + "1", "1" + "0" * 400 + ".5", "1e999", "1e-999", "1E5",
           "0x10", "1_000", "1.5.5", "00000000000000000007", ".5", "5.", "--1", "+-1", "NaN", "inf", "-inf"]
DATES = ["2026-02-30", "2026-02-29", "2024-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-12-32",
         "0000-01-01", "0001-01-01", "9999-12-31", "2026-04", "2026-00", "2026-1-1", "20260-01-01", "2026-02-3",
         "1970-01-01", "2038-01-19", "2026-02-30T00:00"]
LISTS = ["[]", "[,]", "[a]", "[a, b,]", "[a,, b]", "[[a]]", '[1, "x", 2026-01-01, a]', "[a b]", "[",
         "[" + ", ".join(f"v{i}" for i in range(3000)) + "]", "[" * 40 + "a" + "]" * 40]
IDS = ["NOPE", "NOPE.1", "_", "a-", "a..b", "x.y.z", "A" * 300, "@MU", "@NOPE", "pressure#0123456789",
       "MU", "HSS", "O", "M", "X", "P", "true", "false", "null", "today", "open", "not", "when", "where", "and",
       "exists", "type", "criterion", "test", "given", "expect", "no", "count", "on", "accept"]


@lru_cache(maxsize=1)
def enum_members() -> tuple[str, ...]:
    """The members of every enum of the built-in schema and the shipped rulesets."""
    out: list[str] = []
    for name in ("rulesets/schema.rules", "rulesets/core.rules", "rulesets/demig.rules", "rulesets/impic.rules"):
        for m in re.finditer(r"\benum\s+\w+\s*(?:open\s*)?\{([^}]*)\}", _read(name)):
            body = re.sub(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*', " ", m.group(1))
            out += re.findall(r"[A-Za-z_][A-Za-z0-9_]*", body)
    return tuple(dict.fromkeys(out))


VALUE_KINDS = ("string", "number", "date", "list", "id", "enum", "bool", "nested")


def value_of(rng: random.Random, kind: str, ids: list[str]) -> str:
    if kind == "string":
        return rng.choice(STRINGS)
    if kind == "number":
        return rng.choice(NUMBERS)
    if kind == "date":
        return rng.choice(DATES)
    if kind == "list":
        if rng.random() < 0.5 and ids:
            return "[" + ", ".join(rng.choice(ids) for _ in range(rng.randint(1, 4))) + "]"
        return rng.choice(LISTS)
    if kind == "id":
        return rng.choice(ids) if ids and rng.random() < 0.6 else rng.choice(IDS)
    if kind == "enum":
        return rng.choice(enum_members())
    if kind == "bool":
        return rng.choice(["true", "false", "True", "yes"])
    n = rng.choice([2, 8, 64, 200, 1000, 5000])
    inner = rng.choice(["a", "1", '"s"', ""])
    return "[" * n + inner + "]" * (n if rng.random() < 0.8 else rng.randrange(n))


def _kind_of(tok: Tok) -> str:
    return {"string": "string", "number": "number", "date": "date", "factref": "id", "derived": "id"}.get(
        tok[0], "list" if tok[1] == "[" else "id")


# ---- operators ----------------------------------------------------------------------------------------------------


@dataclass
class Text:
    """The text being mutated, and what the operators know about it."""

    text: str
    suffix: str
    ids: list[str]


def _ids(text: str) -> list[str]:
    toks = tokens(text)
    st = structure(toks)
    return sorted({toks[j][1] for _, head, j in st.headers if head not in ("test",)})


def _span_of_value(toks: list, i: int) -> tuple[int, int]:
    """The token range of the value starting at ``i`` (a list runs to its closing bracket; adjacent
    strings go together)."""
    if toks[i][1] == "[" and toks[i][0] == "punct":
        depth = 0
        for j in range(i, len(toks)):
            if toks[j][1] == "[" and toks[j][0] == "punct":
                depth += 1
            elif toks[j][1] == "]" and toks[j][0] == "punct":
                depth -= 1
                if depth == 0:
                    return i, j
        return i, i
    end = i
    if toks[i][0] == "string":
        j = _sig(toks, i + 1, 1)
        while j is not None and toks[j][0] == "string":
            end = j
            j = _sig(toks, j + 1, 1)
    return i, end


def op_swap_statements(rng, t: Text):
    toks = tokens(t.text)
    st = structure(toks).statements
    if len(st) < 2:
        return None
    (a1, b1), (a2, b2) = sorted(rng.sample(st, 2))
    return join(toks[:a1] + toks[a2:b2 + 1] + toks[b1 + 1:a2] + toks[a1:b1 + 1] + toks[b2 + 1:])


def op_duplicate_statement(rng, t: Text):
    toks = tokens(t.text)
    st = structure(toks).statements
    if not st:
        return None
    a, b = rng.choice(st)
    where = rng.choice(st)[1] + 1 if rng.random() < 0.5 else b + 1
    return join(toks[:where]) + "\n" + join(toks[a:b + 1]) + "\n" + join(toks[where:])


def op_delete_statement(rng, t: Text):
    toks = tokens(t.text)
    st = structure(toks).statements
    if not st:
        return None
    a, b = rng.choice(st)
    return join(toks[:a] + toks[b + 1:])


def op_move_statement(rng, t: Text):
    toks = tokens(t.text)
    st = structure(toks).statements
    if len(st) < 2:
        return None
    a, b = rng.choice(st)
    moved = join(toks[a:b + 1])
    rest = toks[:a] + toks[b + 1:]
    st2 = structure(rest).statements
    if not st2:
        return None
    where = rng.choice([0] + [e + 1 for _, e in st2])
    return join(rest[:where]) + "\n" + moved + "\n" + join(rest[where:])


def _fields_of(rng, toks):
    st = structure(toks)
    return st, st.fields


def op_swap_fields(rng, t: Text):
    toks = tokens(t.text)
    _, fs = _fields_of(rng, toks)
    if len(fs) < 2:
        return None
    # mostly within a block; sometimes across blocks
    f1 = rng.choice(fs)
    same = [f for f in fs if f[0] == f1[0] and f != f1]
    f2 = rng.choice(same) if same and rng.random() < 0.8 else rng.choice([f for f in fs if f != f1])
    (_, a1, b1), (_, a2, b2) = sorted([f1, f2], key=lambda f: f[1])
    if b1 >= a2:
        return None
    return join(toks[:a1] + toks[a2:b2 + 1] + toks[b1 + 1:a2] + toks[a1:b1 + 1] + toks[b2 + 1:])


def op_duplicate_field(rng, t: Text):
    toks = tokens(t.text)
    _, fs = _fields_of(rng, toks)
    if not fs:
        return None
    _, a, b = rng.choice(fs)
    _, _, where = rng.choice(fs)  # after this field (possibly in another block)
    return join(toks[:where + 1]) + " " + join(toks[a:b + 1]).strip() + " " + join(toks[where + 1:])


def op_delete_field(rng, t: Text):
    toks = tokens(t.text)
    _, fs = _fields_of(rng, toks)
    if not fs:
        return None
    _, a, b = rng.choice(fs)
    return join(toks[:a] + toks[b + 1:])


def op_replace_value(rng, t: Text):
    toks = tokens(t.text)
    vals = structure(toks).values
    if not vals:
        return None
    i = rng.choice(vals)
    a, b = _span_of_value(toks, i)
    kinds = [k for k in VALUE_KINDS if k != _kind_of(toks[i])]
    new = value_of(rng, rng.choice(kinds), t.ids)
    return join(toks[:a]) + new + join(toks[b + 1:])


def op_rename_collide(rng, t: Text):
    """A declared id renamed to another declared id (a duplicate, or a fact of two types)."""
    toks = tokens(t.text)
    hs = structure(toks).headers
    if len(hs) < 2:
        return None
    (_, _, j), (_, _, k) = rng.sample(hs, 2)
    toks[j] = Tok(("word", toks[k][1]))
    return join(toks)


def op_rename_dangle(rng, t: Text):
    """A declared id renamed, so its uses dangle; or one use renamed, so it names nothing."""
    toks = tokens(t.text)
    st = structure(toks)
    if rng.random() < 0.5 and st.headers:
        _, _, j = rng.choice(st.headers)
    else:
        uses = [i for i in st.values if toks[i][0] in ("word", "factref")]
        if not uses:
            return None
        j = rng.choice(uses)
    toks[j] = Tok(("word", toks[j][1].lstrip("@") + rng.choice(["X", "_2", ".9", "-old", "\u0301"])))
    return join(toks)


def op_rename_consistently(rng, t: Text):
    """Every occurrence of a declared name renamed the same way: the meaning is kept."""
    toks = tokens(t.text)
    hs = structure(toks).headers
    if not hs:
        return None
    _, _, j = rng.choice(hs)
    old = toks[j][1]
    new = old + rng.choice(["Z", "_renamed", ".0", "-x"])
    for tok in toks:
        if tok[0] == "word" and tok[1] == old:
            tok[1] = new
        elif tok[0] == "factref" and tok[1] == "@" + old:
            tok[1] = "@" + new
    return join(toks)


def op_unicode(rng, t: Text):
    toks = tokens(t.text)
    if not toks:
        return rng.choice(UNICODE)
    i = rng.randrange(len(toks))
    ch = rng.choice(UNICODE)
    tok = toks[i]
    if tok[0] in ("string", "comment", "word") and len(tok[1]) > 1:
        p = rng.randrange(1, len(tok[1]))
        tok[1] = tok[1][:p] + ch + tok[1][p:]
    else:
        tok[1] = ch + tok[1]
    return join(toks)


def op_nest_condition(rng, t: Text):
    """A comparison in a condition wrapped in parentheses or `not`, up to thousands deep."""
    toks = tokens(t.text)
    ops = [i for i, tok in enumerate(toks) if tok[0] == "op" or (tok[0] == "word" and tok[1] in ("in", "contains"))]
    if not ops:
        return None
    i = rng.choice(ops)
    a = _sig(toks, i - 1, -1)
    b = _sig(toks, i + 1, 1)
    if a is None or b is None:
        return None
    b = _span_of_value(toks, b)[1]
    n = rng.choice([2, 5, 30, 99, 100, 101, 300, 1000, 5000])
    style = rng.random()
    if style < 0.5:
        opening, closing = "(" * n, ")" * n
    elif style < 0.7:
        opening, closing = "not " * n, ""
    elif style < 0.85:
        opening, closing = "(not " * n, ")" * n
    else:
        opening, closing = "(" * n, ")" * rng.randrange(n)  # unbalanced
    return join(toks[:a]) + opening + join(toks[a:b + 1]) + closing + join(toks[b + 1:])


def op_nest_list(rng, t: Text):
    toks = tokens(t.text)
    vals = structure(toks).values
    if not vals:
        return None
    a, b = _span_of_value(toks, rng.choice(vals))
    return join(toks[:a]) + value_of(rng, "nested", t.ids).replace("a", join(toks[a:b + 1]), 1) + join(toks[b + 1:])


def op_unterminated(rng, t: Text):
    toks = tokens(t.text)
    r = rng.random()
    strings = [i for i, tok in enumerate(toks) if tok[0] == "string"]
    if r < 0.35 and strings:
        i = rng.choice(strings)
        toks[i][1] = toks[i][1][:-1]  # the closing quote dropped
        return join(toks)
    if r < 0.5:
        i = rng.randrange(len(toks) + 1)
        return join(toks[:i]) + '"' + join(toks[i:])
    if r < 0.65:
        i = rng.randrange(len(toks) + 1)
        return join(toks[:i]) + rng.choice(["#", "# {", "/*", "//"]) + join(toks[i:])
    if r < 0.85:
        braces = [i for i, tok in enumerate(toks) if tok[1] in ("}", "]", ")")]
        if not braces:
            return None
        i = rng.choice(braces)
        return join(toks[:i] + toks[i + 1:])
    return t.text[:rng.randrange(len(t.text) + 1)]  # cut short


def op_line_ends(rng, t: Text):
    r = rng.random()
    if r < 0.3:
        return t.text.replace("\n", "\r\n")
    if r < 0.45:
        return t.text.replace("\n", "\r")
    if r < 0.55:
        return t.text.replace("\n", rng.choice(["\u2028", "\x85", "\x0b", "\x0c", "\u2029"]))
    return "".join(ch if ch != "\n" else rng.choice(["\n", "\n", "\r\n", "\r"]) for ch in t.text)


def op_whitespace(rng, t: Text):
    """Layout changes only: blanks doubled, line ends added between tokens, indentation changed."""
    toks = tokens(t.text)
    for tok in toks:
        if tok[0] == "ws" and rng.random() < 0.3:
            tok[1] = rng.choice(["\t", "   ", " " * 40, "\n  ", " \n"])
        elif tok[0] == "punct" and tok[1] in ",[]" and rng.random() < 0.1:
            tok[1] = tok[1] + "\n"
    return join(toks)


def op_comment(rng, t: Text):
    """A comment between tokens (where the formatter must keep it)."""
    toks = tokens(t.text)
    if not toks:
        return None
    i = rng.randrange(len(toks))
    c = rng.choice(["# note", "#", "# {m} \"x\"", "# é\u0301", "#" + "#" * 200, "# \u202e"])
    return join(toks[:i]) + rng.choice([" ", ""]) + c + "\n" + join(toks[i:])


def op_keyword(rng, t: Text):
    """A word replaced with a keyword, or a keyword with a word."""
    toks = tokens(t.text)
    words = [i for i, tok in enumerate(toks) if tok[0] == "word"]
    if not words:
        return None
    i = rng.choice(words)
    toks[i][1] = rng.choice(KEYWORDS) if toks[i][1] not in KEYWORDS or rng.random() < 0.5 else rng.choice(
        ["x", "M", "nurse", t.ids[0] if t.ids else "X"])
    return join(toks)


def op_splice(rng, t: Text):
    """A statement of another seed of the same kind, inserted (with the vocabulary it names)."""
    donors = [s for s in seeds() if s.suffix == t.suffix and len(_read(s.path)) < 60_000]
    if not donors:
        return None
    donor = _plain(rng.choice(donors))
    toks = tokens(donor)
    st = structure(toks).statements
    if not st:
        return None
    a, b = rng.choice(st)
    mine = tokens(t.text)
    ends = [0] + [e + 1 for _, e in structure(mine).statements]
    where = rng.choice(ends)
    return join(mine[:where]) + "\n" + join(toks[a:b + 1]) + "\n" + join(mine[where:])


def op_bytes(rng, t: Text):
    return byte_mutate(rng, t.text)


def op_replace_similar(rng, t: Text):
    """A value replaced with another of the same kind (an enum member, an id of the file, a date, a
    number, a string): the input still checks, more often than not, and means something else."""
    toks = tokens(t.text)
    vals = [i for i in structure(toks).values if toks[i][1] != "["]
    if not vals:
        return None
    i = rng.choice(vals)
    kind, old = toks[i][0], toks[i][1]
    if kind == "word":
        members = enum_members()
        new = rng.choice(members) if old in members or not t.ids else rng.choice(t.ids)
    elif kind == "number":
        new = str(rng.choice([0, 1, 2, 5, 10, 100, -1, -2]))
    elif kind == "date":
        new = rng.choice(["2019-01-01", "2020-06", "2026-11-23", "2030-12-31", "1964-08-19", "2000"])
    elif kind == "string":
        new = rng.choice(['"x"', '"a longer text, with \\ and \\"quotes\\""', '""', '"é"'])
    else:
        return None
    toks[i] = Tok((kind, new))
    return join(toks)


#: (name, weight, function). An operator returns the new text, or None when it does not apply.
OPERATORS: tuple[tuple[str, float, Callable], ...] = (
    ("swap-statements", 1.0, op_swap_statements),
    ("duplicate-statement", 1.0, op_duplicate_statement),
    ("delete-statement", 1.0, op_delete_statement),
    ("move-statement", 0.5, op_move_statement),
    ("swap-fields", 1.0, op_swap_fields),
    ("duplicate-field", 1.0, op_duplicate_field),
    ("delete-field", 1.0, op_delete_field),
    ("replace-value", 3.0, op_replace_value),
    ("rename-collide", 0.7, op_rename_collide),
    ("rename-dangle", 0.7, op_rename_dangle),
    ("rename-consistently", 0.7, op_rename_consistently),
    ("unicode", 1.5, op_unicode),
    ("nest-condition", 0.8, op_nest_condition),
    ("nest-list", 0.5, op_nest_list),
    ("unterminated", 1.0, op_unterminated),
    ("line-ends", 0.5, op_line_ends),
    ("whitespace", 0.7, op_whitespace),
    ("comment", 0.7, op_comment),
    ("keyword", 0.7, op_keyword),
    ("splice", 0.7, op_splice),
    ("bytes", 1.5, op_bytes),
    ("replace-similar", 1.5, op_replace_similar),
)
#: Operators that keep an input valid more often than not (drawn alone for a share of the inputs,
#: so that many inputs get through the checker to the engine and the formatter's meaning checks).
GENTLE = ("swap-statements", "move-statement", "swap-fields", "delete-field", "delete-statement",
          "rename-consistently", "whitespace", "comment", "replace-similar", "line-ends")
OPERATOR_NAMES = tuple(name for name, _, _ in OPERATORS)


# ---- Markdown and CSV ------------------------------------------------------------------------------------------

_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _md_blocks(text: str) -> list[tuple[int, int]]:
    """Line ranges (first content line, end exclusive) of the fenced blocks of a Markdown text."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        m = _FENCE_LINE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(m.group(1)):
            j += 1
        if lines[i].strip()[len(m.group(1)):].strip().lower() in ("policy", "rules"):
            out.append((i + 1, j))
        i = j + 1
    return out


def mutate_markdown(rng, text: str, ids: list[str], ops: list[str], gentle: bool = False) -> str:
    lines = text.split("\n")
    blocks = _md_blocks(text)
    if blocks and (gentle or rng.random() < 0.8):
        a, b = rng.choice(blocks)
        inner = "\n".join(lines[a:b])
        kind = ".rules" if "rules" in lines[a - 1] else ".policy"
        inner = mutate_source(rng, inner, kind, ids, ops, gentle)
        return "\n".join(lines[:a] + [inner] + lines[b:])
    ops.append("fence")
    fences = [i for i, ln in enumerate(lines) if _FENCE_LINE.match(ln)]
    if not fences:
        return "\n".join(lines) + "\n```policy\n" + rng.choice(["x y {", "jurisdiction Z { level: national }"])
    i = rng.choice(fences)
    r = rng.random()
    if r < 0.3:
        del lines[i]                                   # a fence removed: a block left open or prose read as source
    elif r < 0.5:
        lines[i] = lines[i].replace("policy", "rules") if "policy" in lines[i] else lines[i] + rng.choice(
            ["policy", " rules", "POLICY", " policy extra"])
    elif r < 0.65:
        lines[i] = "    " + lines[i]                   # indented: not a fence
    elif r < 0.8:
        lines[i] = lines[i].replace("```", "~~~")
    else:
        lines.insert(i + 1, rng.choice(["```", "```policy", "~~~", "````"]))
    return "\n".join(lines)


def mutate_csv(rng, text: str, ops: list[str]) -> str:
    rows = text.split("\n")
    r = rng.random()
    if r < 0.2 and len(rows) > 1:
        i = rng.randrange(1, len(rows))
        rows.insert(i, rows[i])
    elif r < 0.35 and len(rows) > 1:
        del rows[rng.randrange(len(rows))]
    elif r < 0.75 and rows:
        i = rng.randrange(len(rows))
        cells = rows[i].split(",")
        c = rng.randrange(len(cells))
        v = value_of(rng, rng.choice(VALUE_KINDS), [])
        cells[c] = rng.choice([v, '"' + v.replace('"', '""') + '"', '"' + v, v + '"'])
        rows[i] = ",".join(cells)
    else:
        ops.append("bytes")
        return byte_mutate(rng, text)
    ops.append("csv-cells")
    return "\n".join(rows)


def mutate_source(rng, text: str, suffix: str, ids: list[str], ops: list[str], gentle: bool = False) -> str:
    """One to three operators applied to a `.policy`/`.rules` text (or a Markdown block's); only
    those of :data:`GENTLE` when ``gentle``."""
    t = Text(text, suffix, ids)
    names = [name for name, _, _ in OPERATORS]
    weights = [w if not gentle or name in GENTLE else 0.0 for name, w, _ in OPERATORS]
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        for _attempt in range(4):
            n = rng.choices(range(len(OPERATORS)), weights)[0]
            out = OPERATORS[n][2](rng, t)
            if out is not None:
                ops.append(names[n])
                t = Text(out, suffix, ids)
                break
    return t.text


# ---- core.rules in slices ---------------------------------------------------------------------------------------


def core_slice(rng, text: str) -> str:
    """``core.rules`` with its header, vocabulary, facts and rules, but only a few of its criteria
    and the tests that name nothing else: a ruleset that still checks, a fraction of the size."""
    toks = tokens(text)
    st = structure(toks)
    heads = {si: (head, toks[j][1]) for si, head, j in st.headers}
    codes = [name for head, name in heads.values() if head == "criterion"]
    keep_codes = set(rng.sample(codes, min(len(codes), rng.randint(1, 4))))
    parts, last = [], 0
    for si, (a, b) in enumerate(st.statements):
        head = toks[a][1]
        keep = True
        if head == "criterion":
            keep = heads.get(si, ("", ""))[1] in keep_codes
        elif head == "test":
            named = {m.group(1) for m in re.finditer(r"\bexpect\s+(?:no\s+|count\s+)?([A-Za-z_][\w.\-]*)",
                                                     join(toks[a:b + 1]))}
            keep = bool(named) and named <= keep_codes
        parts.append(join(toks[last:a]))
        if keep:
            parts.append(join(toks[a:b + 1]))
        last = b + 1
    parts.append(join(toks[last:]))
    return re.sub(r"\n{3,}", "\n\n", "".join(parts))


def _plain(seed: Seed) -> str:
    return seed.text


# ---- inputs ---------------------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One fuzz input: the seed it came from, the mutant's bytes, the operators applied, and how it
    is run (``set``: with the rest of its group under the default rulesets; ``ruleset``: given with
    ``--ruleset`` on :data:`RULESET_SET`, ``with_core``: next to the built-in core)."""

    seed: int
    index: int
    source: Seed
    name: str
    data: bytes
    ops: list[str]
    mode: str
    with_core: bool = False

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "surrogateescape")

    def describe(self) -> str:
        how = self.mode + (" (with core)" if self.with_core else "")
        return (f"input {self.index} of seed {self.seed}: {self.source.path} as {self.name}, {how}, "
                f"operators {', '.join(self.ops) or 'none'}")


_SURROGATE = re.compile("([\ud800-\udfff])")


def to_bytes(text: str) -> bytes:
    """UTF-8, with a seed's undecodable bytes back as they were (surrogate escapes) and any other
    lone surrogate as the invalid three bytes a careless encoder writes for it."""
    out = bytearray()
    for n, part in enumerate(_SURROGATE.split(text)):
        if n % 2 == 0:
            out += part.encode("utf-8")
        elif "\udc80" <= part <= "\udcff":
            out.append(ord(part) - 0xDC00)
        else:
            out += part.encode("utf-8", "surrogatepass")
    return bytes(out)


def _encode(rng, text: str, ops: list[str]) -> bytes:
    """The mutant's bytes (:func:`to_bytes`), sometimes with a byte order mark (or two, or UTF-16's)
    or a stray invalid byte."""
    data = to_bytes(text)
    r = rng.random()
    if r < 0.04:
        ops.append("bom")
        data = b"\xef\xbb\xbf" + data
    elif r < 0.05:
        ops.append("bom-twice")
        data = b"\xef\xbb\xbf\xef\xbb\xbf" + data
    elif r < 0.06:
        ops.append("utf16-bom")
        data = b"\xff\xfe" + data
    elif r < 0.08 and data:
        ops.append("invalid-utf8")
        i = rng.randrange(len(data))
        data = data[:i] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"]) + data[i:]
    return data


def generate(seed: int, index: int) -> Case:
    """Input ``index`` of the run seeded ``seed``."""
    rng = random.Random(f"{seed}:{index}")
    source = rng.choices(seeds(), _seed_weights())[0]
    text = source.text
    suffix = source.suffix
    ops: list[str] = []
    if source.path == "rulesets/core.rules" and rng.random() < 0.9:
        text = core_slice(rng, text)
        ops.append("core-slice")
    ids = _ids(text) if suffix != ".csv" else []
    gentle = rng.random() < 0.4
    if suffix == ".md":
        text = mutate_markdown(rng, text, ids, ops, gentle)
    elif suffix == ".csv":
        text = mutate_csv(rng, text, ops)
    else:
        text = mutate_source(rng, text, suffix, ids, ops, gentle)
    name = Path(source.path).name
    if name.endswith((".in", ".out")):
        name = Path(name).stem
    mode = source.mode
    with_core = False
    if mode == "set" and suffix == ".rules" and re.search(r"^\s*ruleset\s", source.text, re.M) and rng.random() < 0.4:
        mode = "ruleset"  # a ruleset of the fixtures or golden cases, given with --ruleset
    if mode == "ruleset" and source.path not in ("rulesets/core.rules", "rulesets/schema.rules"):
        with_core = rng.random() < 0.3
    data = _encode(rng, text, ops) if not gentle else to_bytes(text)
    return Case(seed, index, source, name, data, ops, mode, with_core)
