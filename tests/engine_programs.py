"""Random programs and policy sets for the differential tests: a small vocabulary, criteria and
rules with joins, negations, chains, lists and paths, written as source text so that the whole
front end is exercised too."""

from __future__ import annotations

from hypothesis import strategies as st

SCHEMA = """
ruleset difftest "Vocabulary for differential tests" { version: "1" }
enum colour { red green blue }
type a "A" { k: colour?  n: number?  tag: colour?  xs: list of colour?  r: ref b?  d: date? }
type b "B" { k: colour?  n: number?  r: ref a? }
type c "C" { k: colour  n: number? }
type dd "derived from a" { k: colour  n: number? }
type ee "derived from dd" { k: colour }
type ff "derived through negation" { k: colour }
"""

COLOURS = ["red", "green", "blue"]
FIELDS = {
    "a": {"k": "colour", "n": "number", "tag": "colour", "xs": "list", "r": "ref b", "d": "date"},
    "b": {"k": "colour", "n": "number", "r": "ref a"},
    "c": {"k": "colour", "n": "number"},
    "dd": {"k": "colour", "n": "number"},
    "ee": {"k": "colour"},
    "ff": {"k": "colour"},
}


@st.composite
def own_atom(draw, t: str) -> str:
    fields = FIELDS[t]
    name = draw(st.sampled_from(sorted(fields)))
    kind = fields[name]
    if kind == "colour":
        return draw(st.sampled_from([
            f"{name} == {draw(st.sampled_from(COLOURS))}", f"{name} != {draw(st.sampled_from(COLOURS))}",
            f"{name} in [{', '.join(draw(st.lists(st.sampled_from(COLOURS), min_size=1, max_size=2)))}]",
            f"{name} == null", f"{name} != null"]))
    if kind == "number":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return draw(st.sampled_from([f"{name} {op} {draw(st.integers(0, 3))}", f"{name} == null"]))
    if kind == "list":
        return draw(st.sampled_from([f"xs contains {draw(st.sampled_from(COLOURS))}", "xs == null", "xs != null"]))
    if kind == "date":
        return draw(st.sampled_from(["d < today", "d >= 2020-01-01", "d == null"]))
    return draw(st.sampled_from([f"{name} == null", f"{name} != null"]))


@st.composite
def join_atom(draw, t: str, earlier: list[tuple[str, str]]) -> str:
    b, bt = draw(st.sampled_from(earlier))
    options = []
    common = sorted(set(FIELDS[t]) & set(FIELDS[bt]) & {"k", "n"})
    for f in common:
        options += [f"{f} == {b}.{f}", f"{f} != {b}.{f}"]
        if f == "n":
            options.append(f"n < {b}.n")
    if "k" in FIELDS[t] and bt == "a":
        options.append(f"{b}.xs contains k")
        options.append(f"k == {b}.tag")
    if t == "a" and bt == "b":
        options += [f"r == {b}", f"r.k == {b}.k"]
    if t == "b" and bt == "a":
        options += [f"r == {b}", f"id == {b}.r"]
    if not options:
        return draw(own_atom(t))
    return draw(st.sampled_from(options))


@st.composite
def condition(draw, t: str, earlier: list[tuple[str, str]], depth: int = 0) -> str:
    def atom():
        if earlier and draw(st.booleans()):
            return draw(join_atom(t, earlier))
        return draw(own_atom(t))

    shape = draw(st.sampled_from(["atom", "and", "or", "not"] if depth < 2 else ["atom"]))
    if shape == "atom":
        return atom()
    if shape == "not":
        return f"not ({draw(condition(t, earlier, depth + 1))})"
    parts = [draw(condition(t, earlier, depth + 1)) for _ in range(draw(st.integers(2, 3)))]
    joiner = f" {shape} "
    return "(" + joiner.join(parts) + ")"


@st.composite
def when_block(draw, types: list[str], allow_guards: bool = True) -> tuple[str, list[tuple[str, str]]]:
    n = draw(st.integers(1, 3))
    earlier: list[tuple[str, str]] = []
    lines = []
    for i in range(n):
        t = draw(st.sampled_from(types))
        name = f"x{i}"
        cond = draw(condition(t, earlier)) if draw(st.booleans()) or earlier else None
        lines.append(f"{name}: {t}" + (f" where {cond}" if cond else ""))
        earlier.append((name, t))
    if allow_guards:
        for _ in range(draw(st.integers(0, 2))):
            t = draw(st.sampled_from(["a", "b", "c", "dd"]))
            kw = draw(st.sampled_from(["not", "exists"]))
            cond = draw(condition(t, earlier))
            lines.append(f"{kw} {t} where {cond}")
    return "\n    ".join(lines), earlier


@st.composite
def program(draw) -> str:
    parts = [SCHEMA]
    # chains: dd from a (positive), ee from dd (join with b), ff through negation of dd
    wb, earlier = draw(when_block(["a"], allow_guards=False))
    src = next((b for b, t in earlier if t == "a"), earlier[0][0])
    parts.append(f'rule make-dd {{ when {{\n    {wb}\n    }}\n  derive dd {{ k: {src}.k  n: {src}.n }} }}')
    parts.append('rule make-ee { when {\n    y: dd\n    z: b where k == y.k\n    }\n  derive ee { k: y.k } }')
    parts.append('rule make-ff { when {\n    y: a where k != null\n    not dd where k == y.k\n    }\n  derive ff { k: y.k } }')
    for i in range(draw(st.integers(1, 3))):
        wb, _ = draw(when_block(["a", "b", "c", "dd", "ee", "ff"]))
        parts.append(f'criterion T-{i} "generated {i}" {{\n  dimension: internal\n  score: -1\n  source: "test"\n'
                     f'  when {{\n    {wb}\n  }}\n  message: "m"\n  advice: "a"\n}}')
    return "\n\n".join(parts)


@st.composite
def facts(draw) -> str:
    out = []
    counts = {t: draw(st.integers(0, 5)) for t in ("a", "b", "c")}
    ids = {t: [f"{t}{i}" for i in range(counts[t])] for t in counts}
    for t, n in counts.items():
        for i in range(n):
            fields = []
            for f, kind in FIELDS[t].items():
                if t == "c" and f == "k":
                    fields.append(f"k: {draw(st.sampled_from(COLOURS))}")
                    continue
                if draw(st.integers(0, 3)) == 0:
                    continue  # absent
                if kind == "colour":
                    fields.append(f"{f}: {draw(st.sampled_from(COLOURS))}")
                elif kind == "number":
                    fields.append(f"{f}: {draw(st.sampled_from(['0', '1', '2', '2.0', '3', '-1']))}")
                elif kind == "list":
                    fields.append(f"{f}: [{', '.join(draw(st.lists(st.sampled_from(COLOURS), max_size=3)))}]")
                elif kind == "date":
                    fields.append(f"{f}: {draw(st.sampled_from(['2019-05-01', '2021', '2030-01-01']))}")
                elif kind.startswith("ref"):
                    target = kind.split()[1]
                    if ids[target]:
                        fields.append(f"{f}: {draw(st.sampled_from(ids[target]))}")
            out.append(f"{t} {ids[t][i]} {{ {'  '.join(fields)} }}")
    return "\n".join(out)


@st.composite
def partitioned_program(draw, split_safe: bool = False) -> str:
    """Programs whose every multi-pattern rule and criterion joins all its patterns on `k`, so the
    engine splits working memory by `k` (the partitioned path). ``split_safe``: also no guard over
    a derived type, so a run can be split between processes by `k`."""
    parts = [SCHEMA]

    def block(types, allow_guards):
        n = draw(st.integers(2, 3))
        earlier: list[tuple[str, str]] = []
        lines = []
        for i in range(n):
            t = draw(st.sampled_from(types))
            cond = draw(condition(t, earlier)) if draw(st.booleans()) else None
            if i > 0:
                cond = f"k == x0.k and ({cond})" if cond else "k == x0.k"
            lines.append(f"x{i}: {t}" + (f" where {cond}" if cond else ""))
            earlier.append((f"x{i}", t))
        if allow_guards:
            for _ in range(draw(st.integers(0, 2))):
                t = draw(st.sampled_from(["a", "b", "c"] if split_safe else ["a", "b", "c", "dd"]))
                kw = draw(st.sampled_from(["not", "exists"]))
                lines.append(f"{kw} {t} where {draw(condition(t, earlier))}")
        return "\n    ".join(lines)

    parts.append(f'rule make-dd {{ when {{\n    {block(["a"], False)}\n    }}\n  derive dd {{ k: x0.k  n: x1.n }} }}')
    parts.append('rule make-ee { when {\n    y: dd\n    z: b where k == y.k\n    }\n  derive ee { k: y.k } }')
    parts.append('rule make-ff { when {\n    y: a where k != null\n    not ' + ("b" if split_safe else "dd")
                 + ' where k == y.k\n    }\n  derive ff { k: y.k } }')
    for i in range(draw(st.integers(1, 3))):
        parts.append(f'criterion P-{i} "partitioned {i}" {{\n  dimension: internal\n  score: -1\n  source: "test"\n'
                     f'  when {{\n    {block(["a", "b", "c", "dd", "ee", "ff"], True)}\n  }}\n'
                     f'  message: "m"\n  advice: "a"\n}}')
    return "\n\n".join(parts)
