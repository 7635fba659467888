"""Running fuzz inputs: the properties every input must keep, worker processes with a time limit
per input, and a minimiser that shrinks a failing input to one that fails the same way.

The properties (:func:`check_case`), for every input:

- nothing raises: ``lint``, ``check`` (and its text and JSON reports), ``fmt`` and the renderers
  of diagnostics return results or diagnostics (an exception is what the command line turns
  into exit 3; a ``RecursionError`` is its exit 2 *without* a location);
- every diagnostic has a file, a line and a column (run-level ones, about no file, aside:
  :data:`RUN_LEVEL`), and the JSON diagnostics say so;
- ``lint`` and ``check`` agree: one has errors exactly when the other does (beyond what only a
  run can find: :data:`RUN_TIME_CODES`), for policy sets and for rulesets given with ``--ruleset``;
- ``fmt`` refuses only a file with errors at which it points, and otherwise keeps the meaning
  (the formatted text parses, through the same loader, to the same trees, comments and
  Markdown prose), is idempotent, and a set that checks checks to the same facts when formatted;
- the fast fact reader builds exactly the Lark parser's tree, spans included, or gives up;
- a sample of the inputs also goes through the command line (click's runner): no exit 3, no
  ``Traceback``, JSON diagnostics with locations, exit codes that match the library's.

Each input runs in a worker process (:class:`Pool`: a fresh interpreter that builds the rulesets
and the parser once, then checks one input after another, in process) and must finish within a
time limit: a worker that does not answer in time is killed and the input is reported as a hang;
a worker that dies is reported as a crash. The run goes on with the next input in a new worker.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from coherence_rules.session import BUILTIN_PREFIX
from tests.fuzz.mutator import RULESET_SET, ROOT, Case, generate, to_bytes, tokens

#: Codes only a run reports (``check`` may have them where ``lint`` cannot).
RUN_TIME_CODES = {"W402", "W408", "E220", "E501", "E502"}
#: Diagnostics about the run rather than a place in a file: which rulesets ran (W411, W412).
RUN_LEVEL = {"W411", "W412"}
#: Every this many inputs, the command line runs too.
CLI_EVERY = 40
#: Bounds of every run (as `--max-derived` and ``COHERENCE_MAX_FINDINGS`` set them): both limits
#: are reached by some inputs, at a fraction of the default limits' cost.
MAX_DERIVED = 2_000
MAX_FINDINGS = "500"


@dataclass
class Outcome:
    """What one input did: the problems found (empty: it passed) and what it exercised."""

    index: int
    problems: list[str] = field(default_factory=list)
    lint_errors: bool = False
    check_exit: Optional[int] = None
    formatted: bool = False
    seconds: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"index": self.index, "problems": self.problems, "lint_errors": self.lint_errors,
                           "check_exit": self.check_exit, "formatted": self.formatted, "seconds": self.seconds})

    @staticmethod
    def from_json(s: str) -> "Outcome":
        d = json.loads(s)
        return Outcome(d["index"], d["problems"], d["lint_errors"], d["check_exit"], d["formatted"], d["seconds"])


# ---- the work directory -------------------------------------------------------------------------------------------


class Workdir:
    """A directory holding copies of the seeds' groups (made once each), into which each input is
    written in its seed's place, and put back afterwards. Paths are relative to it, so the
    diagnostics show the repository's own names."""

    def __init__(self, root: Path):
        self.root = root
        self.made: set[str] = set()

    def group(self, group: str) -> None:
        if group in self.made:
            return
        target = self.root / group
        target.mkdir(parents=True, exist_ok=True)
        for rel in group_files_of(group):
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / group / rel, dest)
        self.made.add(group)

    def place(self, case: Case) -> tuple[str, list[str], Optional[list[str]], Callable[[], None]]:
        """Write the input: ``(its path, the set's paths, the rulesets or None, undo)``."""
        if case.mode == "ruleset":
            self.group(RULESET_SET)
            rel = f"ruleset/{case.name}"
            paths = [RULESET_SET]
            rulesets = (["core"] if case.with_core else []) + [rel]
        elif case.source.group is not None:
            self.group(case.source.group)
            rel = case.source.path
            paths = [case.source.group]
            rulesets = None
        else:
            rel = f"alone/{case.name}"
            paths = [rel]
            rulesets = None
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        before = target.read_bytes() if target.exists() else None
        target.write_bytes(case.data)

        def undo() -> None:
            if before is None:
                target.unlink()
            else:
                target.write_bytes(before)

        return rel, paths, rulesets, undo


_GROUPS: dict[str, list[str]] = {}


def group_files_of(group: str) -> list[str]:
    if group not in _GROUPS:
        top = ROOT / group
        _GROUPS[group] = sorted(p.relative_to(top).as_posix() for p in top.rglob("*")
                                if p.is_file() and p.suffix in (".policy", ".rules", ".md", ".csv"))
    return _GROUPS[group]


# ---- the properties ----------------------------------------------------------------------------------------------


def _where(d) -> str:
    s = d.span
    return f"{d.code} {d.message!r} at {s.file}:{s.line}:{s.column}" if s else f"{d.code} {d.message!r}"


def located_problems(diags, what: str, files: set) -> list[str]:
    """Diagnostics without a file, line and column (or pointing outside the run's files)."""
    out = []
    for d in diags:
        if d.code in RUN_LEVEL:
            continue
        s = d.span
        if s is None or not s.file or not isinstance(s.line, int) or not isinstance(s.column, int) \
                or s.line < 1 or s.column < 1:
            out.append(f"{what}: diagnostic without a location: {_where(d)}")
        elif not (s.file.startswith(BUILTIN_PREFIX) or s.file in files or Path(s.file).exists()):
            out.append(f"{what}: diagnostic in a file that is not part of the run: {_where(d)}")
        for label in d.labels:
            ls = label.span
            if ls is None or not ls.file or ls.line < 1 or ls.column < 1:
                out.append(f"{what}: label without a location in {_where(d)}")
        data = d.to_dict()
        if d.code not in RUN_LEVEL and (data["file"] is None or data["line"] is None or data["column"] is None):
            out.append(f"{what}: JSON diagnostic without a location: {_where(d)}")
    return out


def _exception(what: str) -> str:
    tb = traceback.format_exc(limit=-6)
    return f"{what} raised: {tb.strip().splitlines()[-1]}\n{tb}"


class Context:
    """What the worker builds once: the default rulesets, shared by the inputs of a policy set."""

    def __init__(self) -> None:
        from coherence_rules.session import Rulesets

        os.environ["COHERENCE_MAX_FINDINGS"] = MAX_FINDINGS
        self.default = Rulesets(None)
        self.default.all_diagnostics  # checked alone once, as a batch does
        from coherence_rules.syntax.parser import _lark_parser

        _lark_parser()

    def rules(self, rulesets: Optional[list[str]]):
        from coherence_rules.session import Rulesets

        return self.default if rulesets is None else Rulesets(rulesets)


def _loaded(text: str, shown: str, explicit: bool = True):
    """``text`` read as the loader reads a file's text (``explicit``: named on the command line,
    not found in a directory): modules and diagnostics."""
    from coherence_rules.sources.loader import Loaded, load_text

    loaded = Loaded()
    load_text(text, shown, explicit, loaded)
    return loaded


def _meaning_of(modules) -> list:
    from coherence_rules.syntax.ast import strip_spans

    return [(m.kind, strip_spans(m.items), [c.text for c in m.comments]) for m in modules]


def _prose(text: str) -> list[str]:
    """The lines of a Markdown text outside its ``policy``/``rules`` blocks."""
    from coherence_rules.sources.loader import _fences

    lines = text.split("\n")
    inside = set()
    for tag, _, i, j in _fences(text):
        if tag in ("policy", "rules"):
            inside.update(range(i + 1, j if j is not None else len(lines)))
    return [ln for n, ln in enumerate(lines) if n not in inside]


def _normal(text: str) -> str:
    text = text[1:] if text.startswith("\ufeff") else text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _facts(program) -> list:
    return sorted((f.id, f.type, f.title, repr(sorted(f.values.items()))) for f in program.facts)


def fast_path_problems(text: str, shown: str, kind: str, offset: int) -> list[str]:
    """The fast fact reader must build the Lark parser's tree (spans included) or give up."""
    from coherence_rules.syntax import parser as P

    try:
        fast = P.parse_fast(text, shown, kind, offset)
    except RecursionError:
        return [_exception("the fast fact reader")]
    except Exception:  # noqa: BLE001
        return [_exception("the fast fact reader")]
    if fast is None:
        return []
    padded = ("\n" * offset) + text if offset else text
    try:
        slow, diags = P._parse_lark(text, padded, shown, kind, offset)
    except Exception:  # noqa: BLE001
        return [_exception("the Lark parser")]
    if diags:
        return [f"the fast fact reader accepts what Lark rejects: {_where(diags[0])}"]
    if slow.items != fast.items:
        for a, b in zip(fast.items, slow.items):
            if a != b:
                return [f"the fast fact reader and Lark build different trees: fast {a!r} / Lark {b!r}"]
        return [f"the fast fact reader read {len(fast.items)} statements, Lark {len(slow.items)}"]
    if [(c.line, c.column, c.text) for c in fast.comments] != [(c.line, c.column, c.text) for c in slow.comments]:
        return ["the fast fact reader and Lark find different comments"]
    return []


def check_case(case: Case, work: Workdir, ctx: Context) -> Outcome:
    """Every property, for one input (written into ``work`` and put back afterwards)."""
    out = Outcome(case.index)
    rel, paths, rulesets, undo = work.place(case)
    cwd = os.getcwd()
    os.chdir(work.root)
    try:
        _properties(case, rel, paths, rulesets, ctx, out)
    finally:
        os.chdir(cwd)
        undo()
    return out


class _Timer:
    """Seconds spent per phase, for the run's summary."""

    def __init__(self, out: "Outcome"):
        self.out = out
        self.t = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.out.seconds[phase] = self.out.seconds.get(phase, 0.0) + now - self.t
        self.t = now


def _properties(case: Case, rel: str, paths: list[str], rulesets, ctx: Context, out: Outcome) -> None:
    from coherence_rules.diagnostics import render_all_text, render_json
    from coherence_rules.session import Session, lint
    from coherence_rules.syntax.fmt import FormatterBug
    from coherence_rules.syntax.fmt_files import _stored_text, format_file_text
    from coherence_rules.sources.loader import markdown_blocks, read_text

    problems = out.problems
    timer = _Timer(out)
    text = None
    # -- lint
    try:
        linted = Session(paths, rules=ctx.rules(rulesets), max_derived=MAX_DERIVED)
        result = lint(linted)
        problems += located_problems(result.diagnostics, "lint", set(result.sources.files()))
        render_all_text(result.diagnostics, result.sources)
        json.loads(render_json(result.diagnostics))
    except Exception:  # noqa: BLE001 - what the command line reports as exit 3
        problems.append(_exception("lint"))
        return
    out.lint_errors = bool(result.errors)
    timer.lap("lint")
    # -- check: on a set that lints, the lint session goes on (what a check does after its check
    # stage); on one that does not, a check of its own, with new rulesets as the command line
    # makes (for every ruleset, and every other policy set: the other half goes on from lint)
    try:
        fresh = out.lint_errors and (case.mode == "ruleset" or case.index % 2 == 0)
        session = Session(paths, rules=ctx.rules(rulesets), max_derived=MAX_DERIVED) if fresh else linted
        report = session.report
        problems += located_problems(report.diagnostics, "check", set(session.sources.files()))
        if report.errors:
            out.check_exit = 2
            report.to_json()
        else:
            session.render("json")
            session.render("text", explain=True)
            out.check_exit = 1 if report.failing(-1) else 0
    except Exception:  # noqa: BLE001
        problems.append(_exception("check"))
        return
    timer.lap("check")
    lint_codes = sorted({d.code for d in result.errors})
    check_codes = sorted({d.code for d in report.errors})
    if out.lint_errors and out.check_exit != 2:
        problems.append(f"lint exits 2 ({', '.join(lint_codes)}) but check exits {out.check_exit}")
    if out.check_exit == 2 and not out.lint_errors and not set(check_codes) <= RUN_TIME_CODES:
        problems.append(f"check exits 2 ({', '.join(check_codes)}) but lint exits 0")
    # -- fmt
    shown = rel
    try:
        text, diags = read_text(Path(rel), shown)
        if text is None:
            problems += located_problems(diags, "fmt", set())
        else:
            stored = _stored_text(Path(rel), text)
            new, diags = format_file_text(stored, shown)
            if new is None:
                problems += located_problems(diags, "fmt", {shown})
                if not any(d.is_error and d.span is not None and d.span.file == shown for d in result.diagnostics):
                    problems.append(f"fmt refuses {shown} ({_where(diags[0]) if diags else 'no diagnostic'}) "
                                    "but lint reports no error there")
            else:
                out.formatted = True
                loaded = [m for m in linted.workspace.modules if m.file == shown]
                reading = sorted(d.code for d in result.diagnostics
                                 if d.span is not None and d.span.file == shown and (d.code[:2] == "E1" or d.code == "W403"))
                problems += fmt_problems(stored, new, shown, (loaded, reading, rel in paths))
                if not problems and not out.lint_errors and new != stored and case.index % 3 == 0:
                    problems += _same_facts(rel, paths, rulesets, ctx, new, linted)
    except FormatterBug:
        problems.append(_exception("fmt"))
    except Exception:  # noqa: BLE001
        problems.append(_exception("fmt"))
    timer.lap("fmt")
    # -- the fast fact reader against Lark (every other input)
    if text is not None and case.index % 2 == 1:
        if shown.endswith(".policy"):
            problems += fast_path_problems(text, shown, "policy", 0)
        elif shown.endswith(".md"):
            for kind, offset, block in markdown_blocks(text):
                if kind == "policy":
                    problems += fast_path_problems(block, shown, "policy", offset)
    timer.lap("fast path")
    # -- the command line, for a sample
    if case.index % CLI_EVERY == 0:
        problems += cli_problems(paths, rulesets, rel, out, text_too=case.index % (2 * CLI_EVERY) == 0)
    timer.lap("command line")


def fmt_problems(stored: str, new: str, shown: str, read: Optional[tuple] = None) -> list[str]:
    """The formatted text means what the stored one meant, keeps its content, and formats to itself.
    ``read``: what the loader made of the stored text, when already read (its modules, and the
    codes of what it reported)."""
    from coherence_rules.syntax.fmt_files import format_file_text

    problems = []
    if shown.endswith(".csv"):
        return [] if new == stored else ["fmt changed a CSV inventory"]
    if new != stored:  # (a text fmt leaves as it is formats to itself)
        again, diags = format_file_text(new, shown)
        if again is None:
            return [f"fmt's output does not parse: {_where(diags[0]) if diags else '?'}"]
        if again != new:
            problems.append("fmt is not idempotent")
    if read is None:
        before = _loaded(_normal(stored), shown)
        modules, codes, explicit = before.modules, sorted(d.code for d in before.diagnostics), True
    else:
        modules, codes, explicit = read
    after = _loaded(_normal(new), shown, explicit)
    if sorted(d.code for d in after.diagnostics) != codes:
        problems.append(f"fmt changed what the loader reports: {codes} -> "
                        f"{sorted(d.code for d in after.diagnostics)}")
    a, b = _meaning_of(modules), _meaning_of(after.modules)
    if a != b:
        if len(a) != len(b):
            problems.append(f"fmt changed the number of modules: {len(a)} -> {len(b)}")
        for (k1, i1, c1), (k2, i2, c2) in zip(a, b):
            if i1 != i2:
                first = next((x, y) for x, y in zip(i1 + [None], i2 + [None]) if x != y)
                problems.append(f"fmt changed the meaning: {first[0]!r} became {first[1]!r}")
                break
            if c1 != c2:
                problems.append(f"fmt lost or changed comments: {c1} -> {c2}")
                break
    if shown.endswith(".md") and _prose(_normal(stored)) != _prose(_normal(new)):
        problems.append("fmt changed Markdown prose")
    if new.startswith("\ufeff") != stored.startswith("\ufeff"):
        problems.append("fmt dropped or added the byte order mark")
    return problems


def _same_facts(rel, paths, rulesets, ctx, new: str, session) -> list[str]:
    """A set that checks checks, formatted, to the same facts, criteria, rules and tests."""
    from coherence_rules.session import Session, lint

    target = Path(rel)
    saved = target.read_bytes()
    target.write_bytes(new.encode("utf-8", "surrogatepass"))
    try:
        again = lint(Session(paths, rules=ctx.rules(rulesets), max_derived=MAX_DERIVED))
    finally:
        target.write_bytes(saved)
    if again.errors:
        return [f"the formatted set does not check: {_where(again.errors[0])}"]
    p, q = session.program, again.program
    if _facts(p) != _facts(q):
        return ["fmt changed the checked facts"]
    if [c.code for c in p.criteria] != [c.code for c in q.criteria] or len(p.tests) != len(q.tests):
        return ["fmt changed the criteria or tests"]
    return []


def cli_problems(paths: list[str], rulesets, rel: str, out: Outcome, text_too: bool = True) -> list[str]:
    """The same input through the command line (click's runner, in process)."""
    from click.testing import CliRunner

    from coherence_rules.cli import main

    problems = []
    rs = [x for r in (rulesets or []) for x in ("-r", r)]
    runs = {
        "lint": ["lint", "--format", "json", *rs, *paths],
        "check": ["check", "--format", "json", "--max-derived", str(MAX_DERIVED), *rs, *paths],
        "check-text": ["check", "--max-derived", str(MAX_DERIVED), *rs, *paths],
        "fmt": ["fmt", "--check", rel],
    }
    if not text_too:
        del runs["check-text"]
    codes = {}
    for name, args in runs.items():
        r = CliRunner().invoke(main, args)
        codes[name] = r.exit_code
        if r.exit_code == 3 or (r.exception is not None and not isinstance(r.exception, SystemExit)):
            problems.append(f"`coherence {' '.join(args)}` exits {r.exit_code}: {r.output[-2000:]!r}")
        if "Traceback" in r.output:
            problems.append(f"`coherence {' '.join(args)}` prints a traceback")
        if name == "lint":
            try:
                data = json.loads(r.stdout)
            except ValueError:
                problems.append(f"`coherence {' '.join(args)}` does not print JSON: {r.stdout[:300]!r}")
                continue
            for d in data["diagnostics"]:
                if d["code"] not in RUN_LEVEL and (d["file"] is None or d["line"] is None or d["column"] is None):
                    problems.append(f"`coherence lint` JSON diagnostic without a location: {d['code']} {d['message']!r}")
    if (codes["lint"] == 2) != out.lint_errors:
        problems.append(f"`coherence lint` exits {codes['lint']} but the library has lint errors: {out.lint_errors}")
    if out.check_exit is not None and codes["check"] != out.check_exit:
        problems.append(f"`coherence check` exits {codes['check']}, the library's check {out.check_exit}")
    if text_too and codes["check-text"] != codes["check"]:
        problems.append(f"`coherence check` exits {codes['check-text']} in text, {codes['check']} in JSON")
    return problems


# ---- workers ---------------------------------------------------------------------------------------------------------


class Pool:
    """Worker processes (``python -m tests.fuzz.harness ROOT``: a fresh interpreter each, so that
    no thread or state of the calling process reaches them), each building the rulesets and the
    parser once and then checking one input after another. A worker that does not answer within
    ``timeout`` seconds is killed (the input is a hang) and one that dies is a crash; either way
    a new worker takes its place."""

    def __init__(self, root: Path, jobs: int, timeout: float):
        self.root, self.jobs, self.timeout = root, max(1, jobs), timeout
        self.workers: list[_Worker] = []
        self.spawned = 0

    def _spawn(self) -> "_Worker":
        import subprocess
        import sys

        self.spawned += 1
        where = self.root / f"worker-{self.spawned}"
        where.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        log = open(where / "stderr.txt", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "tests.fuzz.harness", str(where)], cwd=ROOT, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        log.close()
        return _Worker(proc)

    def run(self, requests: list[dict]) -> list["Outcome"]:
        """The outcome of each request (``{"seed", "index"}``, and ``"data"``: the input's bytes in
        base 64 instead of the generated ones), in the order given."""
        todo = list(enumerate(requests))
        results: dict[int, Outcome] = {}
        while len(self.workers) < min(self.jobs, len(todo)):
            self.workers.append(self._spawn())
        while todo or any(w.current is not None for w in self.workers):
            for w in self.workers:
                if w.current is None and todo:
                    w.send(*todo.pop(0))
            busy = [w for w in self.workers if w.current is not None]
            wait = min(max(0.0, self.timeout - (time.monotonic() - w.started)) for w in busy) + 0.05
            ready, _, _ = select.select([w.fd for w in busy], [], [], wait)
            for w in busy:
                n, request = w.current
                if w.fd in ready:
                    line = w.read_line()
                    if line is None:  # the worker ended
                        status = w.proc.wait()
                        results[n] = Outcome(request["index"], [f"crash: the worker died ({_status(status)})"])
                        self._replace(w)
                    elif line:
                        results[n] = Outcome.from_json(line)
                        w.current = None
                elif time.monotonic() - w.started > self.timeout:
                    results[n] = Outcome(request["index"], [f"hang: no answer within {self.timeout:g} s"])
                    self._replace(w)
        return [results[n] for n in range(len(requests))]

    def _replace(self, w: "_Worker") -> None:
        w.kill()
        self.workers[self.workers.index(w)] = self._spawn()

    def close(self) -> None:
        for w in self.workers:
            w.close()
        self.workers = []


class _Worker:
    def __init__(self, proc):
        self.proc = proc
        self.fd = proc.stdout.fileno()
        self.current: Optional[tuple[int, dict]] = None
        self.started = time.monotonic()
        self.buffer = b""

    def send(self, n: int, request: dict) -> None:
        self.current, self.started = (n, request), time.monotonic()
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()

    def read_line(self) -> Optional[str]:
        """The answer once a whole line has come; ``""`` while it has not; None at the end."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            return None
        self.buffer += chunk
        if b"\n" not in self.buffer:
            return ""
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            pass
        self.kill()


def _status(status: int) -> str:
    return f"signal {-status}" if status < 0 else f"exit status {status}"


def worker_main(root: Path) -> None:
    """A worker: one request per line on standard input, one outcome per line on standard output
    (what the library prints goes to standard error instead)."""
    import base64
    import sys

    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    ctx = Context()
    work = Workdir(root)
    for line in sys.stdin:
        request = json.loads(line)
        case = generate(request["seed"], request["index"])
        if "data" in request:
            case.data = base64.b64decode(request["data"])
        outcome = check_case(case, work, ctx)
        answers.write(outcome.to_json() + "\n")
        answers.flush()


# ---- minimising ------------------------------------------------------------------------------------------------------


def problem_key(problem: str) -> str:
    """What identifies a failure across inputs: its first line without the input's own words."""
    import re

    first = problem.split("\n", 1)[0]
    first = re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", first)
    return first[:120]


def minimise(case: Case, key: str, run: Callable[[Case], list[str]], *, budget: float = 60.0) -> Case:
    """The smallest variant of ``case`` (by lines, then tokens, then characters) whose problems
    still include one with ``key``; at most ``budget`` seconds are spent."""
    deadline = time.monotonic() + budget
    text = case.text

    def variant(t: str) -> Case:
        return Case(case.seed, case.index, case.source, case.name, to_bytes(t), case.ops, case.mode, case.with_core)

    def fails(candidate: str) -> bool:
        if time.monotonic() > deadline:
            return False
        return any(problem_key(p) == key for p in run(variant(candidate)))

    for split, joiner in ((lambda t: t.split("\n"), "\n"), (lambda t: [x[1] for x in tokens(t)], ""), (list, "")):
        parts = split(text)
        if len(parts) > 4000 and joiner == "":
            continue
        chunk = max(1, len(parts) // 2)
        while chunk >= 1 and time.monotonic() < deadline:
            i, changed = 0, False
            while i < len(parts) and time.monotonic() < deadline:
                candidate = parts[:i] + parts[i + chunk:]
                if candidate != parts and fails(joiner.join(candidate)):
                    parts, changed = candidate, True
                else:
                    i += chunk
            if not changed:
                chunk //= 2
        text = joiner.join(parts)
    return variant(text)


def request_for(case: Case) -> dict:
    """The request that has a worker check ``case`` (its bytes, which may differ from the
    generated input's)."""
    import base64

    return {"seed": case.seed, "index": case.index, "data": base64.b64encode(case.data).decode()}


if __name__ == "__main__":
    import sys

    worker_main(Path(sys.argv[1]))
