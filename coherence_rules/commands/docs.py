"""Documentation generated from the registries: criteria (``coherence criteria``,
``docs/criteria.md``), diagnostic codes (``docs/diagnostics.md``) and the vocabulary
(``coherence schema``, ``docs/vocabulary.md``); and the examples of the hand-written pages, run.

``python -m coherence_rules.commands.docs`` rewrites the generated pages, and the outputs shown in
the console blocks of ``docs/language.md`` and ``docs/first-criterion.md`` (each command run
again); a test keeps all of them in sync.

The hand-written pages hold two kinds of checked blocks (see :func:`fenced_blocks`):

- examples, fenced with the info string ``coherence-example KIND [key=value ...]``, KIND one of
  ``facts`` (a ``.policy`` source), ``rules`` (a ``.rules`` source), ``markdown``, ``csv`` or
  ``console``. Every source example must parse. ``set=NAME`` makes it part of a policy set that
  is checked as a whole (its files written to a temporary directory, named by ``file=`` or after
  the set); ``expect=CODE,...`` lists the diagnostics the set (or the block alone) must report,
  and no others are allowed; ``rulesets=R,...`` the rulesets it is checked with (default
  ``core``; ``-`` for none); a set whose rules hold tests must pass them. ``excerpt=PATH`` says
  the block is a verbatim part of the repository file PATH.
- console blocks (``console``, or ``coherence-example console set=NAME``): ``$ coherence ...``
  lines, each followed by the output that command prints, run in the repository (``cwd=PATH``: in
  that directory of it), or in the set's directory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shlex
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..checker.ir import CriterionIR
from ..findings.report import dump_json
from ..render import signed


def criterion_dict(c: CriterionIR) -> dict:
    return {"code": c.code, "title": c.title, "dimension": c.dimension, "score": c.score, "label": c.label,
            "source": c.source, "message": c.message, "advice": c.advice, "ruleset": c.ruleset,
            "location": {"file": c.span.file, "line": c.span.line}, **{k: v for k, v in c.docs.items()}}


def criteria_table(crits: list[CriterionIR]) -> str:
    from tabulate import tabulate

    rows = [[c.code, signed(c.score), c.dimension, c.title, textwrap.shorten(c.source, 60)] for c in crits]
    return tabulate(rows, headers=["code", "score", "dimension", "title", "source"], tablefmt="simple")


_SECTIONS = (("detects", "What it detects"), ("why", "Why it matters"), ("example", "Example"),
             ("resolution", "How a drafter resolves it"))


def criterion_text(c: CriterionIR) -> str:
    out = [f"{c.code}: {c.title}", "", f"score {signed(c.score)} ({c.label}), dimension {c.dimension}, "
           f"ruleset {c.ruleset or '-'}", f"source: {c.source}", ""]
    for key, heading in _SECTIONS:
        if key in c.docs:
            out += [heading, textwrap.fill(c.docs[key], 96, initial_indent="  ", subsequent_indent="  "), ""]
    out += ["Message", "  " + c.message, "", "Advice", textwrap.fill(c.advice, 96, initial_indent="  ",
                                                                      subsequent_indent="  ")]
    return "\n".join(out)


def criterion_markdown(c: CriterionIR, level: int = 2) -> str:
    h = "#" * level
    out = [f"{h} {c.code}: {c.title}", "", f"Score **{signed(c.score)}** ({c.label}); dimension **{c.dimension}**; "
           f"ruleset `{c.ruleset or '-'}`.", "", f"Source: {c.source}", ""]
    for key, heading in _SECTIONS:
        if key in c.docs:
            out += [f"{h}# {heading}", "", c.docs[key], ""]
    out += [f"{h}# Message and advice", "", f"> {c.message}", "", c.advice, ""]
    return "\n".join(out)


def criteria_markdown(crits: list[CriterionIR]) -> str:
    out = ["# Criteria", "",
           "Generated from the rulesets by `python -m coherence_rules.commands.docs`; `coherence criteria CODE` prints "
           "the same page. A test keeps this file in sync.", "",
           "| code | score | dimension | title |", "| --- | --- | --- | --- |"]
    for c in crits:
        out.append(f"| [{c.code}](#{c.code.lower()}-{_anchor(c.title)}) | {signed(c.score)} | {c.dimension} | {c.title} |")
    out.append("")
    for c in crits:
        out.append(criterion_markdown(c))
    return "\n".join(out)


def _anchor(title: str) -> str:
    return "".join(ch for ch in title.lower().replace(" ", "-") if ch.isalnum() or ch == "-")


def criteria_view(crits: list[CriterionIR], code: Optional[str], fmt: str) -> Optional[str]:
    """``coherence criteria [CODE]``: the list of criteria, or one criterion's page, in ``fmt``
    (text, json or markdown); None when no criterion has that code."""
    if code:
        c = next((c for c in crits if c.code == code), None)
        if c is None:
            return None
        if fmt == "json":
            return dump_json(criterion_dict(c)).rstrip("\n")
        return criterion_markdown(c) if fmt == "markdown" else criterion_text(c)
    if fmt == "json":
        return dump_json([criterion_dict(c) for c in crits]).rstrip("\n")
    return criteria_markdown(crits) if fmt == "markdown" else criteria_table(crits)


def statement_lines(text: str, line: int) -> tuple[int, int]:
    """The first and last line of the statement that starts at ``line`` of ``text``: up to the
    brace that closes its first ``{`` (strings and comments skipped)."""
    lines = text.split("\n")
    depth, opened = 0, False
    for n in range(line, len(lines) + 1):
        src, i = lines[n - 1], 0
        while i < len(src):
            c = src[i]
            if c == "#":
                break
            if c == '"':
                i += 1
                while i < len(src) and src[i] != '"':
                    i += 2 if src[i] == "\\" else 1
            elif c == "{":
                depth, opened = depth + 1, True
            elif c == "}":
                depth -= 1
                if opened and depth == 0:
                    return line, n
            i += 1
    return line, len(lines)


def rule_source(item, sources) -> Optional[dict]:
    """A criterion's or a derivation rule's text as written, with its location: ``{"name", "file",
    "line", "end_line", "source"}`` read from the sources the session read; None when its file is
    not among them."""
    span = item.span
    text = sources.text(span.file) if span is not None and sources is not None else None
    if text is None:
        return None
    first, last = statement_lines(text, span.line)
    body = "\n".join(text.split("\n")[first - 1:last])
    return {"name": getattr(item, "code", None) or item.name, "file": span.file, "line": first, "end_line": last,
            "source": textwrap.dedent(body)}


def rule_source_view(found: dict, fmt: str) -> str:
    """``coherence criteria CODE --rule``: the source (a comment with its location first, so the
    text can be pasted into a ``.rules`` file), as JSON, or as a Markdown code block."""
    where = f"{found['file']}:{found['line']}"
    if fmt == "json":
        return dump_json(found).rstrip("\n")
    if fmt == "markdown":
        return f"`{where}`\n\n```rules\n{found['source']}\n```"
    return f"# {where}\n{found['source']}"


def unknown_criterion(code: str, crits: list[CriterionIR]) -> str:
    from ..diagnostics import did_you_mean

    hint = did_you_mean(code, [c.code for c in crits])
    return f"unknown criterion '{code}'" + (f"; {hint}" if hint else "")


def builtin_criteria() -> list[CriterionIR]:
    """Every criterion of the shipped rulesets."""
    from ..session import Session, builtin_rulesets

    return Session(rulesets=builtin_rulesets()).program.criteria


VOCABULARY_PREFACE = (
    "Generated from the built-in schema (`rulesets/schema.rules`, always loaded) and the shipped rulesets "
    "(`core`, `demig`, `impic`) by `python -m coherence_rules.commands.docs`; `coherence schema [TYPE|ENUM]` "
    "prints the same for the rulesets a run loads, your own included. A test keeps this page in sync.")


def builtin_vocabulary_markdown() -> str:
    """``docs/vocabulary.md``: the vocabulary of the built-in schema and every shipped ruleset."""
    from ..session import Session, builtin_rulesets
    from .schema_view import vocabulary, vocabulary_markdown

    session = Session(rulesets=builtin_rulesets())
    session.run_until("check")
    return vocabulary_markdown(vocabulary(session), preface=VOCABULARY_PREFACE)


#: The hand-written pages whose console blocks are run again by :func:`generate`.
RUN_PAGES = ("language.md", "first-criterion.md")


def generate(root: Path) -> dict[Path, str]:
    from ..diagnostics import codes_markdown

    pages = {root / "docs" / "criteria.md": criteria_markdown(builtin_criteria()),
             root / "docs" / "diagnostics.md": codes_markdown(),
             root / "docs" / "vocabulary.md": builtin_vocabulary_markdown()}
    for name in RUN_PAGES:
        path = root / "docs" / name
        if path.is_file():
            pages[path] = refresh_outputs(path.read_text(encoding="utf-8"), root)
    return pages


# ---- the examples of the hand-written pages --------------------------------------------------------------------

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
EXAMPLE_TAG = "coherence-example"
SOURCE_KINDS = {"facts": ".policy", "rules": ".rules", "markdown": ".md", "csv": ".csv"}
#: The reference date of the examples' runs (what `--as-of` would give).
EXAMPLES_AS_OF = dt.date(2026, 1, 1)


@dataclass
class Block:
    """A fenced block of a Markdown page: its info string split into ``tag``, ``kind`` (the next
    word) and ``options`` (``key=value`` words); ``text`` its content; ``line`` the 1-based line of
    the opening fence; ``start``/``end`` the 0-based indexes of its first and past-last content
    lines."""

    tag: str
    kind: str
    options: dict[str, str]
    text: str
    line: int
    start: int
    end: int
    fence: str = "```"

    @property
    def is_example(self) -> bool:
        return self.tag == EXAMPLE_TAG

    @property
    def is_console(self) -> bool:
        return self.tag == "console" or (self.is_example and self.kind == "console")

    @property
    def expect(self) -> list[str]:
        return [c for c in self.options.get("expect", "").split(",") if c]

    def where(self, page: str) -> str:
        return f"{page}:{self.line}"


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, as CommonMark reads them: a fence of three or more
    backticks or tildes opens a block, which a fence of the same character, at least as long and
    with nothing after it, closes (else the block runs to the end)."""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m or (m.group("fence")[0] == "`" and "`" in m.group("info")):
            i += 1
            continue
        fence = m.group("fence")
        j = i + 1
        while j < len(lines):
            close = lines[j].strip()
            if (len(lines[j]) - len(lines[j].lstrip(" ")) <= 3 and close.startswith(fence[0] * len(fence))
                    and set(close) <= {fence[0]}):
                break
            j += 1
        words = m.group("info").split()
        tag = words[0] if words else ""
        rest = words[1:]
        kind = rest[0] if rest and "=" not in rest[0] else ""
        options = dict(w.split("=", 1) for w in rest if "=" in w)
        out.append(Block(tag, kind, options, "\n".join(lines[i + 1:j]), i + 1, i + 1, j, fence))
        i = j + 1
    return out


def _parse_problems(block: Block, name: str) -> list:
    """The diagnostics of reading the block's text alone, as a file called ``name``."""
    from ..sources.loader import Loaded, load_text

    loaded = Loaded()
    load_text(block.text + "\n", name, True, loaded)
    return loaded.diagnostics


@dataclass
class ExampleSet:
    """The blocks of one ``set=NAME``: files (name -> text), the codes they expect, rulesets."""

    name: str
    files: dict[str, str] = field(default_factory=dict)
    expect: set[str] = field(default_factory=set)
    rulesets: Optional[list[str]] = None
    blocks: list[Block] = field(default_factory=list)
    as_of: dt.date = EXAMPLES_AS_OF


def example_sets(blocks: list[Block]) -> dict[str, ExampleSet]:
    """The sets the examples of a page make up (see the module docstring)."""
    sets: dict[str, ExampleSet] = {}
    for b in blocks:
        if not b.is_example or "set" not in b.options:
            continue
        s = sets.setdefault(b.options["set"], ExampleSet(b.options["set"]))
        s.blocks.append(b)
        s.expect |= set(b.expect)
        if "rulesets" in b.options:
            s.rulesets = [] if b.options["rulesets"] == "-" else b.options["rulesets"].split(",")
        if "as-of" in b.options:
            s.as_of = dt.date.fromisoformat(b.options["as-of"])
        if b.kind in SOURCE_KINDS:
            fname = b.options.get("file", s.name + SOURCE_KINDS[b.kind])
            s.files[fname] = (s.files[fname] + "\n" if fname in s.files else "") + b.text + "\n"
    return sets


def write_set(s: ExampleSet, directory: Path) -> None:
    for fname, text in s.files.items():
        path = directory / fname
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _codes(diags) -> set[str]:
    return {d.code for d in diags}


def check_set(s: ExampleSet, directory: Path) -> list[str]:
    """Problems of one example set written in ``directory``: every diagnostic of checking it (run
    to its findings) must be one it expects, and every code it expects must be reported; the
    tests of its rules must pass."""
    from ..session import Session
    from .language_tests import run_tests

    problems = []
    with contextlib.chdir(directory):
        paths = sorted(s.files)
        session = Session(paths, rulesets=s.rulesets, as_of=s.as_of)
        session.run_until("findings")
        diags = session.diagnostics
        got = _codes(diags)
        for d in diags:
            if d.code not in s.expect:
                problems.append(f"set {s.name}: unexpected {d.code} {d.message} at {d.span.file}:{d.span.line}"
                                if d.span else f"set {s.name}: unexpected {d.code} {d.message}")
        for code in sorted(s.expect - got):
            problems.append(f"set {s.name}: expected {code}, not reported")
        rules = [f for f in paths if f.endswith(".rules")]
        if rules and any(re.search(r"^\s*test\s+\"", s.files[f], re.M) for f in rules) and not s.expect:
            tests = Session(rulesets=list(s.rulesets if s.rulesets is not None else ["core"]) + rules,
                            as_of=s.as_of)
            mine = {r for r in _ruleset_names(s, rules)} | {""}
            run = run_tests(tests, rulesets=mine)
            if run is None:
                problems.append(f"set {s.name}: the tests do not run: "
                                + "; ".join(d.message for d in tests.diagnostics if d.is_error))
            else:
                ran = [o for o in run.outcomes if o.ruleset in mine]
                if not ran:
                    problems.append(f"set {s.name}: no test ran")
                for o in ran:
                    if not o.passed:
                        problems.append(f"set {s.name}: test '{o.name}' fails: {'; '.join(o.failures)}")
    return problems


def _ruleset_names(s: ExampleSet, rules: list[str]) -> set[str]:
    names = set()
    for f in rules:
        m = re.search(r"^\s*ruleset\s+([A-Za-z_][A-Za-z0-9_.\-]*)", s.files[f], re.M)
        if m:
            names.add(m.group(1))
    return names


def check_examples(text: str, page: str, root: Path) -> list[str]:
    """Every problem of the examples of one page (empty when they all hold): source examples that
    do not parse (unless they expect it), excerpts that are not in their file, sets that do not
    check or whose tests fail, console blocks whose output is not what the command prints."""
    problems = []
    blocks = fenced_blocks(text)
    sets = example_sets(blocks)
    for b in blocks:
        if not b.is_example:
            continue
        if b.kind not in SOURCE_KINDS and b.kind != "console":
            problems.append(f"{b.where(page)}: unknown example kind '{b.kind}'")
            continue
        if b.kind in SOURCE_KINDS:
            fname = b.options.get("file", "example" + SOURCE_KINDS[b.kind])
            allowed = set(b.expect) | (sets[b.options["set"]].expect if "set" in b.options else set())
            for d in (d for d in _parse_problems(b, fname) if d.code not in allowed):
                problems.append(f"{b.where(page)}: {d.code} {d.message} (line {d.span.line if d.span else '?'} "
                                "of the block)")
            if b.expect and "set" not in b.options:
                one = ExampleSet(f"line {b.line}", {fname: b.text + "\n"}, set(b.expect),
                                 [] if b.options.get("rulesets") == "-" else
                                 (b.options["rulesets"].split(",") if "rulesets" in b.options else None))
                with tempfile.TemporaryDirectory() as tmp:
                    write_set(one, Path(tmp))
                    problems += [f"{b.where(page)}: {p}" for p in check_set(one, Path(tmp))]
        if "excerpt" in b.options:
            target = root / b.options["excerpt"]
            if not target.is_file():
                problems.append(f"{b.where(page)}: no file {b.options['excerpt']}")
            elif b.text not in target.read_text(encoding="utf-8"):
                problems.append(f"{b.where(page)}: the block is not a part of {b.options['excerpt']} as written")
    for s in sets.values():
        with tempfile.TemporaryDirectory() as tmp:
            write_set(s, Path(tmp))
            problems += [f"{page}: {p}" for p in check_set(s, Path(tmp))]
    for b in blocks:
        if b.is_console:
            problems += [f"{b.where(page)}: {p}" for p in _console_problems(b, sets, root)]
    return problems


# ---- console blocks --------------------------------------------------------------------------------------------


def console_commands(block: Block) -> list[tuple[str, str]]:
    """The ``(command, shown output)`` pairs of a console block."""
    out: list[tuple[str, list[str]]] = []
    for line in block.text.split("\n"):
        if line.startswith("$ "):
            out.append((line[2:].strip(), []))
        elif out:
            out[-1][1].append(line)
    return [(c, "\n".join(lines).rstrip("\n")) for c, lines in out]


def run_command(command: str, cwd: Path) -> str:
    """What ``coherence ...`` prints (standard output and error), run in ``cwd``."""
    from click.testing import CliRunner

    from ..cli import main

    args = shlex.split(command)
    if not args or args[0] != "coherence":
        raise ValueError(f"not a coherence command: {command}")
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(main, args[1:], env={"COLUMNS": "100", "NO_COLOR": "1"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise RuntimeError(f"`{command}` raised {result.exception!r}")
    return "\n".join(line.rstrip() for line in result.output.rstrip("\n").split("\n"))


def _with_set_dir(block: Block, sets: dict[str, ExampleSet], root: Path, fn: Callable[[Path], object]):
    """``fn`` run in the block's directory: its set's, written to a temporary directory, or the
    repository's (``cwd=PATH``: a directory of the repository)."""
    name = block.options.get("set")
    if name is None:
        return fn(root / block.options.get("cwd", "."))
    with tempfile.TemporaryDirectory() as tmp:
        write_set(sets[name], Path(tmp))
        return fn(Path(tmp))


def _console_problems(block: Block, sets: dict[str, ExampleSet], root: Path) -> list[str]:
    if "set" in block.options and block.options["set"] not in sets:
        return [f"no example set '{block.options['set']}'"]
    commands = console_commands(block)
    if not commands:
        return ["a console block without a `$ coherence ...` line"]

    def run(cwd: Path) -> list[str]:
        problems = []
        for command, shown in commands:
            actual = run_command(command, cwd)
            if actual != "\n".join(line.rstrip() for line in shown.split("\n")):
                problems.append(f"`{command}` prints something else; run `python -m coherence_rules.commands.docs .`"
                                f"\n--- shown\n{shown}\n--- printed\n{actual}")
        return problems

    return _with_set_dir(block, sets, root, run)


def refresh_outputs(text: str, root: Path) -> str:
    """``text`` with the output of every console block's commands printed again."""
    blocks = fenced_blocks(text)
    sets = example_sets(blocks)
    lines = text.split("\n")
    for b in reversed([b for b in blocks if b.is_console]):
        commands = console_commands(b)

        def run(cwd: Path, commands=commands) -> list[str]:
            body = []
            for command, _ in commands:
                body.append("$ " + command)
                output = run_command(command, cwd)
                if output:
                    body += output.split("\n")
            return body

        if not commands or ("set" in b.options and b.options["set"] not in sets):
            continue
        lines[b.start:b.end] = _with_set_dir(b, sets, root, run)
    return "\n".join(lines)


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    for path, text in generate(root).items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
