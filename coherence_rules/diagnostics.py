"""One diagnostic type for every stage, a registry of documented codes, and the renderers.

Codes are grouped by stage: ``E1xx`` reading and syntax, ``E2xx`` names and references, ``E3xx``
schema, ``W4xx`` lints, ``E5xx`` running rules. Every code has an entry in :data:`CODES` (rendered
into ``docs/diagnostics.md``) and a golden test in ``tests/golden/``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Literal, Optional

from .syntax.ast import Span

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class CodeDoc:
    """Documentation of one diagnostic code: what triggers it and how to fix it."""

    code: str
    severity: Severity
    title: str
    explanation: str
    example: str
    fix: str


def _c(code: str, severity: Severity, title: str, explanation: str, example: str, fix: str) -> CodeDoc:
    return CodeDoc(code, severity, title, explanation, example, fix)


CODES: dict[str, CodeDoc] = {
    d.code: d
    for d in [
        # ---- E1xx: reading files and syntax -------------------------------------------------------
        _c("E100", "error", "syntax error",
           "The parser met a token it did not expect here. The message lists what it expected.",
           'objective O "t" { aim: increase ] }', "Fix the text at the caret; `coherence fmt` shows the canonical layout."),
        _c("E101", "error", "unexpected character",
           "A character that cannot start any token of the language (for example `;` or `$`).",
           "jurisdiction MU { level: national; }", "Remove the character. Items are separated by whitespace, not `;`."),
        _c("E102", "error", "missing closing brace",
           "A `{` was opened and the file (or the next statement) came before its `}`.",
           'jurisdiction MU "Mauritius" { level: national\n\nactor MOH { kind: ministry }', "Add the `}` that closes the block the help points at."),
        _c("E103", "error", "`=` used instead of `:`",
           "Fields are written `name: value`. `=` is not part of the language outside conditions (`==`).",
           "jurisdiction MU { level = national }", "Write `level: national`."),
        _c("E104", "error", "unquoted title",
           "A title with spaces must be a quoted string; without quotes the words are read as separate items.",
           "instrument HSS Health Sector Plan { kind: strategy }", 'Quote the title: `instrument HSS "Health Sector Plan" { ... }`.'),
        _c("E105", "error", "unterminated string",
           "A string opened with `\"` has no closing quote on the same line. Strings do not span lines.",
           'objective O "Expand the workforce { aim: increase }', "Close the string on the same line; join long texts by writing adjacent strings."),
        _c("E106", "error", "field outside braces",
           "A `name: value` pair appears where a statement should start: fields belong inside a fact's `{ }`.",
           "jurisdiction MU { }\nlevel: national", "Move the field inside the braces of the fact it describes."),
        _c("E107", "error", "invalid escape in string",
           "Strings support the escapes `\\\"` and `\\\\` only.",
           'objective O "Target \\n 20%" { aim: increase }', "Remove the backslash or double it."),
        _c("E108", "error", "nested list",
           "Lists hold values, not other lists.",
           "mechanism M { members: [[A, B]] }", "Flatten the list: `members: [A, B]`."),
        _c("E110", "error", "file cannot be read",
           "The file does not exist, is a directory of an unexpected kind, or cannot be opened.",
           "coherence lint missing.policy", "Check the path."),
        _c("E111", "error", "invalid UTF-8",
           "Source files must be UTF-8 (with or without a byte order mark).",
           "a file saved as Latin-1 containing `é`", "Re-save the file as UTF-8."),
        _c("E112", "error", "binary file",
           "The file contains NUL bytes, so it is not a text source.",
           "a PDF or a spreadsheet renamed to .policy", "Encode the text as facts; export spreadsheets as CSV."),
        _c("E113", "error", "file too large",
           "The file exceeds the size limit (default 32 MiB, `COHERENCE_MAX_FILE_SIZE` in bytes changes it). "
           "Large inventories should be split into several files.",
           "a 50 MB .policy file", "Split the file, or raise the limit deliberately."),
        _c("E114", "error", "empty source",
           "A `.policy`, `.rules` or `.csv` file holds no statement at all. An empty file is usually a mistake "
           "(a failed export, a wrong path).",
           "an empty work-permits.policy", "Add the facts, or remove the file."),
        _c("E115", "error", "malformed CSV inventory",
           "A CSV inventory needs a header row starting `type,id` (then `title` and field columns), and rows "
           "that fit the header.",
           "name,kind\nMOH,ministry", "Start the header with `type,id,title`."),
        _c("E116", "error", "nesting too deep",
           "A condition is nested more deeply than the limit: 100 levels of `and`/`or`/`not` (parentheses "
           "that only group add no level).",
           "not not not ... not aim == increase  # 101 times", "Simplify the condition."),
        _c("E117", "error", "unsupported file",
           "A file given on the command line is not a `.policy`, `.rules`, `.md` or `.csv` file.",
           "coherence lint notes.txt", "Pass policy sources only; directories are searched for these extensions."),
        _c("E118", "error", "unclosed fenced block",
           "A fenced block tagged `policy` or `rules` in a Markdown file has no closing fence, so everything "
           "after it, prose included, is read as facts or rules.",
           "```policy\njurisdiction MU { level: national }\n## 5. Education (no closing ```)",
           "Close the block with ``` on a line of its own."),
        _c("E119", "error", "`=` used instead of `==`",
           "A condition compares with `==` (and `!=`, `<`, `<=`, `>`, `>=`); a single `=` is not an operator "
           "of the language. In a fact or a criterion's fields, `:` sets a field (E103).",
           "m: measure where area = return", "Write `==`: `where area == return`."),
        # ---- E2xx: names and references -----------------------------------------------------------
        _c("E201", "error", "duplicate id",
           "Two facts of one policy set (all files checked together, with the rulesets' reference facts) have "
           "the same id. The error is at the second definition; a note gives the first.",
           "objective O1 {...}  objective O1 {...}", "Give each fact its own id (legal numbering works: `HSS.2.1`)."),
        _c("E202", "error", "unknown type",
           "The fact, pattern or derive names a type that no loaded schema declares.",
           "objectve O1 { ... }", "Fix the spelling (see the help), or declare the type in a ruleset."),
        _c("E203", "error", "unknown reference",
           "A `ref` field names a fact id that does not exist in the policy set.",
           "measure WPR.7 { instrument: WRP ... }", "Fix the id or add the missing fact."),
        _c("E204", "error", "reference to a fact of the wrong type",
           "A `ref T` field names a fact that exists but is not of type `T`.",
           "measure M { instrument: MOH ... }  # MOH is an actor", "Point the field at a fact of the expected type."),
        _c("E205", "error", "duplicate definition",
           "A type, enum, criterion, rule, ruleset or binding is defined twice. To add to an existing type or "
           "enum use `extend`.",
           "enum aim { increase }  # aim is built in", "Use `extend enum aim { ... }`, or rename."),
        _c("E206", "error", "extending an unknown type or enum",
           "`extend type` / `extend enum` names something that is not declared.",
           "extend enum ocupation { midwife }", "Fix the name."),
        _c("E207", "error", "unknown binding",
           "A condition, template or derive refers to a binding that the `when` block does not define (or that "
           "is defined only later).",
           "message: \"{x} restricts ...\"", "Use a binding of an earlier pattern."),
        _c("E208", "error", "unknown field",
           "A condition, template or derive uses a field that the binding's type does not have.",
           "o: objective where ocupation == nurse", "Fix the field name (see the help)."),
        _c("E209", "error", "incompatible comparison",
           "The two sides of a comparison have types that can never be equal or ordered (a date with a "
           "number, one enum with another, ordering on text).",
           "o: objective where aim == m.occupation", "Compare values of the same type."),
        _c("E210", "error", "invalid template",
           "Message templates substitute `{binding}` and `{binding.field}` only: no expressions, no "
           "attribute access beyond fields, no format specifications.",
           'message: "{o.__class__}"', "Use `{binding}` or `{binding.field}`; write `{{` for a literal brace."),
        _c("E211", "error", "unknown criterion",
           "A test expectation or an `accept` names a criterion code that no loaded ruleset defines.",
           "expect ADM-SECTR on [O, M]", "Fix the code (see the help)."),
        _c("E212", "error", "missing part of a criterion or rule",
           "A criterion needs `dimension`, `score`, `source`, `message`, `advice` and a `when` block; a rule "
           "needs a `when` block and a `derive` block.",
           "criterion X \"t\" { when { ... } }", "Add the missing field."),
        _c("E213", "error", "unknown ruleset",
           "`--ruleset` names neither a built-in ruleset nor an existing path.",
           "coherence check --ruleset cor policies/", "Use a built-in name (`coherence criteria` lists them) or a path."),
        _c("E214", "error", "invalid regular expression",
           "The pattern of `matches` is not a valid Python regular expression.",
           'cite matches "Art. (1"', "Fix the pattern."),
        _c("E215", "error", "invalid inherit",
           "`inherit FIELD from VIA` needs FIELD to be a field of the type and VIA a `ref` field whose target "
           "type also has FIELD.",
           "inherit jurisdiction from owner  # owner is not declared", "Fix the field names."),
        _c("E216", "error", "invalid path",
           "A dotted path in a condition can only follow `ref` fields; it cannot go through a list or a plain value.",
           "m.origin.level == national  # origin is a list", "Bind the referenced fact with its own pattern."),
        _c("E217", "error", "invalid value in a criterion or rule",
           "A criterion field has a value of the wrong kind (for example a `score` outside -3..+3), or a "
           "derive sets a value that does not fit the derived type.",
           "score: -5", "Use a value in the allowed range."),
        # ---- E3xx: schema -----------------------------------------------------------------------------
        _c("E218", "error", "cycle through negation",
           "Rules depend on each other through `not` or `exists`: a rule tests the absence (or the "
           "existence) of facts that it derives itself, directly or through other rules. Such rules "
           "have no single answer, so nothing runs. Found by `lint` and `check` before anything runs.",
           "rule A derives `shortage` when there is no `recruitment`; rule B derives `recruitment` when "
           "there is no `shortage`", "Break the cycle: derive one of the types from written facts only, or "
           "test a fact the rules do not derive."),
        _c("E219", "error", "cycle through parent",
           "A jurisdiction's `parent` references lead back to itself: the levels of government form a "
           "ring instead of a hierarchy, so nothing can tell which jurisdiction contains which.",
           "jurisdiction ON { level: subnational  parent: CA }  jurisdiction CA { level: national  parent: ON }",
           "Remove the `parent` of the jurisdiction at the top of the hierarchy (a national jurisdiction has "
           "none)."),
        _c("E220", "error", "accept names a derived fact",
           "An `accept` lists the id of a derived fact (`area_in_use#fe8828a92a`). Derived facts are the "
           "engine's conclusions, not articles of the policy set, and their ids are not meant to be written: "
           "an accept names the written facts a finding rests on, which every output lists under its facts. "
           "The accept applies to nothing until it names them.",
           "accept INST-NO-LEAD on [area_in_use#fe8828a92a] { reason: \"...\" }",
           "Name the written facts the message gives (the help line lists them): `accept INST-NO-LEAD on "
           "[MU, NMDP.4.3] { ... }`."),
        _c("E301", "error", "value not in enum",
           "The field's type is an enum and the value is not one of its members.",
           "sector: helth", "Use one of the members (see the help), or extend the enum in a ruleset."),
        _c("E302", "error", "unknown field",
           "The fact's type has no field of this name.",
           "objective O { aim: increase  ocupation: nurse }", "Fix the field name, or extend the type."),
        _c("E303", "error", "missing required field",
           "A field that the type requires (declared without `?`) is absent. Inherited fields count as set when "
           "they can be inherited.",
           "measure M { instrument: P  effect: restrict }  # no area", "Add the field."),
        _c("E304", "error", "wrong value type",
           "The value's kind does not fit the field's type (a string where a number is expected, a list for a "
           "single value, ...).",
           "places: \"forty\"", "Write a value of the declared type."),
        _c("E305", "error", "invalid date",
           "A date field holds something that is not a calendar date (`YYYY-MM-DD`, `YYYY-MM` or `YYYY`).",
           "in_force: 2019-02-30", "Write a valid date."),
        _c("E306", "error", "duplicate field",
           "The same field is set twice in one fact.",
           "objective O { aim: increase  aim: decrease }", "Keep one."),
        _c("E307", "error", "number out of range",
           "A number is beyond what the language keeps exactly: integers from -(2**63 - 1) to 2**63 - 1 "
           "(what the engine stores without saturating), and finite decimals (`1e400` is infinite). This "
           "holds for facts, CSV cells and the counts of tests (`expect count`).",
           "places: 1000000000000000000000", "Write the number in the range, or as a string if it is an "
           "identifier rather than a quantity."),
        # ---- W4xx: lints ------------------------------------------------------------------------------
        _c("W401", "warning", "value not in an open enum",
           "The enum is declared `open`: values outside it are allowed but may be typos.",
           "occupation: nurze", "Use a listed member if one is meant, or extend the enum to make it official."),
        _c("W402", "warning", "stale accept",
           "An `accept` matched no finding of the run: the conflict it accepted is gone, or its ids are wrong.",
           "accept ADM-SECTOR on [HSS.2.1, WPR.9] {...}", "Remove the accept, or fix its ids."),
        _c("W403", "warning", "Markdown file without coherence blocks",
           "A Markdown file given explicitly has no fenced block tagged `policy` or `rules`.",
           "coherence lint notes.md", "Tag the fenced blocks with `policy` or `rules`."),
        _c("W404", "warning", "join without equality",
           "A pattern is joined to earlier ones only through `!=`, `<`, `>` or similar comparisons. Such joins "
           "compare every pair of facts and grow quadratically with the policy set.",
           "b: objective where aim != a.aim", "Add an equality join (same jurisdiction, same occupation) if the criterion allows."),
        _c("W405", "warning", "no sources",
           "A directory given on the command line holds no `.policy`, `.rules`, `.md` or `.csv` file, so "
           "nothing in it was checked.",
           "coherence lint drafts/  # an empty folder", "Check the path; give the folder that holds the sources."),
        _c("W410", "warning", "new enum member looks like a relabel",
           "An `extend enum` gives a label to a member the enum does not have, and the member is close to one "
           "it has. A label given to an existing member replaces its label; a new member is added to the "
           "enum, so a misspelt relabel silently adds a member instead.",
           'extend enum area { famly_reunion "family reunion" }',
           "Spell the member as the enum does to relabel it, or keep the new member if that was the intent."),
        _c("W406", "warning", "symbolic link not followed",
           "A policy set is read with the symbolic links inside it followed (a linked folder is read as if it "
           "were there), but each real folder only once: a link to a folder already read (a loop, or a second "
           "link to the same folder) is skipped, and so is a link whose target does not exist. Its files would "
           "otherwise be read twice or silently missing.",
           "policies/set/shared -> ..  # a link back to a folder of the set",
           "Remove the link, or point it at a folder that is not already part of the set."),
        _c("W407", "warning", "patterns not related (cross product)",
           "The positive patterns of a criterion or rule fall apart into groups that no `where` condition "
           "relates: every combination of their facts matches, so three unrelated patterns over 60 facts make "
           "216,000 matches. `not` and `exists` patterns only filter matches and relate nothing.",
           "when { o: objective  m: measure }  # no condition relates m to o",
           "Relate the pattern to an earlier one (`m: measure where jurisdiction == o.jurisdiction`), or split "
           "the criterion."),
        _c("W408", "warning", "findings limit reached",
           "A criterion matched more than the findings limit of a run (default 10,000 per criterion, "
           "`COHERENCE_MAX_FINDINGS`); the findings beyond it, in fingerprint order, are dropped from the "
           "report. So many findings of one criterion almost always mean its patterns are not related "
           "(see W407).",
           "a criterion `when { a: measure  b: measure }` on 200 measures: 39,800 findings",
           "Relate the criterion's patterns; raise COHERENCE_MAX_FINDINGS only if every finding is wanted."),
        _c("W409", "warning", "criterion without a firing test or a near miss",
           "With `coherence lint --require-tests`: a criterion of the linted sources has no test where it "
           "fires (`expect CODE on [...]`, or `expect count CODE` of at least one) or no near miss, a test "
           "where it must not fire (`expect no CODE`, or `expect count CODE == 0`). The core ruleset keeps "
           "both for every criterion: the first shows the criterion catches what it is for, the second that "
           "it stops where it should. Criteria of the built-in rulesets are not reported unless their files "
           "are linted.",
           'criterion CAP "A cap" { ... }\ntest "a cap fires" { given {...} expect CAP on [M] }  # no near miss',
           "Add the missing test: for a near miss, copy the firing test, change the one fact that makes the "
           "difference and write `expect no CODE`."),
        _c("W411", "warning", "no criteria",
           "The rulesets of the run hold no criterion, so nothing could be found: a report of 0 findings "
           "says nothing about the policy set.",
           "coherence check my-set --ruleset schema", "Run a ruleset with criteria: the built-in `core`, or yours."),
        _c("W412", "warning", "the core criteria were replaced",
           "`--ruleset` replaces the default `core` ruleset. The policy set uses the built-in vocabulary "
           "(objectives, measures, agreements...) that the core criteria check, but none of the criteria "
           "that ran looks at those facts.",
           "coherence check policies/mauritius --ruleset mine.rules",
           "Add `--ruleset core` to run the core criteria with yours."),
        _c("W413", "warning", "one directory of policy sets",
           "`batch` was given one directory that holds several subdirectories, each of which looks like a "
           "policy set: they were checked together as one set. Each PATH of a batch is one set.",
           "coherence batch policies/agreements", "Let the shell list the sets: `coherence batch policies/agreements/*/`."),
        # ---- E5xx: running rules -----------------------------------------------------------------------
        _c("E501", "error", "derivation limit reached",
           "Rules derived more facts than the limit (default 100,000, `--max-derived`). A rule that keeps "
           "deriving new facts from its own conclusions would otherwise never stop.",
           "a rule deriving `pressure` from `pressure` with a changing field", "Make the rule's conclusion independent of its own output."),
        _c("E502", "error", "engine failure",
           "The rule engine itself failed while running the rules: its process stopped (for example "
           "killed by a signal or out of memory) or it could not store a fact. Nothing the policy set "
           "says can cause this; the message says what happened.",
           "the engine's process killed while it runs the rules", "Report it with the input that triggers it; "
           "if the process ran out of memory, check a smaller set or raise the memory limit."),
        _c("E503", "error", "time limit reached",
           "Checking the policy set took longer than `--timeout SECONDS` (`coherence batch`), so it was "
           "stopped and marked failed; the other sets go on. Such a set is not kept in the result store, so "
           "a rerun tries it again.",
           "coherence batch sets/* --timeout 60  # a set whose criteria match millions of combinations",
           "Look for criteria whose patterns are not related (W407) or a huge input; give a larger --timeout."),
    ]
}


@dataclass(frozen=True)
class Label:
    """A secondary location shown under the primary one."""

    span: Span
    message: str


@dataclass(frozen=True)
class Diagnostic:
    """A problem found in the user's input, at a location, with optional labels, notes and help."""

    code: str
    message: str
    span: Optional[Span] = None
    label: str = ""
    labels: tuple[Label, ...] = ()
    notes: tuple[str, ...] = ()
    help: Optional[str] = None
    severity: Severity = field(default="error")

    @staticmethod
    def make(code: str, message: str, span: Optional[Span] = None, *, label: str = "",
             labels: Iterable[Label] = (), notes: Iterable[str] = (), help: Optional[str] = None) -> "Diagnostic":
        """Build a diagnostic; the severity comes from the code's registry entry."""
        return Diagnostic(code, message, span, label, tuple(labels), tuple(notes), help, CODES[code].severity)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple:
        s = self.span
        return (s.file if s else "", s.line if s else 0, s.column if s else 0, self.code, self.message)

    def to_dict(self) -> dict:
        s = self.span
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": s.file if s else None,
            "line": s.line if s else None,
            "column": s.column if s else None,
            "end_line": s.end_line if s else None,
            "end_column": s.end_column if s else None,
            "labels": [
                {"file": l.span.file, "line": l.span.line, "column": l.span.column,
                 "end_line": l.span.end_line, "end_column": l.span.end_column, "message": l.message}
                for l in self.labels
            ],
            "notes": list(self.notes),
            "help": self.help,
        }


def did_you_mean(word: str, candidates: Iterable[str]) -> Optional[str]:
    """``"did you mean 'x'?"`` for the closest candidate, or None when nothing is close."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sorted by location and code; exact duplicates removed."""
    seen = set()
    out = []
    for d in sorted(diags, key=Diagnostic.sort_key):
        key = (d.code, d.message, d.span)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


# ---- rendering --------------------------------------------------------------------------------------


class SourceLines:
    """Lines of every source file seen in a run, for excerpts in diagnostics and reports."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}

    def add(self, file: str, text: str) -> None:
        """``text``'s lines as the parser numbers them: split at line feeds only (texts are read
        with their line ends made line feeds), not at the other characters ``str.splitlines``
        breaks at (U+2028, form feed, ...), which a string may hold: an excerpt must show the line
        the diagnostic names."""
        lines = text.split("\n")
        if lines[-1] == "":  # as after the last line end of a file, or an empty text
            lines.pop()
        self._lines[file] = lines

    def copy(self, other: "SourceLines", file: str) -> None:
        """Take ``file``'s lines from ``other`` (shared, not split again; the file as an empty
        text when ``other`` has not seen it)."""
        self._lines[file] = other._lines.get(file, [])

    def line(self, file: str, number: int) -> Optional[str]:
        lines = self._lines.get(file)
        if lines is None or number < 1 or number > len(lines):
            return None
        return lines[number - 1]

    def text(self, file: str) -> Optional[str]:
        lines = self._lines.get(file)
        return None if lines is None else "\n".join(lines)

    def files(self) -> list[str]:
        return sorted(self._lines)


_MAX_SHOWN_LINE = 200


def _excerpt(out: list[str], gutter: int, span: Span, src: str, text: str) -> None:
    shown = src.replace("\t", " ")
    clipped = len(shown) > _MAX_SHOWN_LINE
    if clipped:
        shown = shown[:_MAX_SHOWN_LINE] + " ..."
    out.append(f"{str(span.line).rjust(gutter)} | {shown}")
    start = max(span.column, 1)
    end = span.end_column if span.end_line == span.line else len(src) + 1
    width = max(1, end - start)
    if clipped:
        start = min(start, _MAX_SHOWN_LINE + 1)
        width = min(width, _MAX_SHOWN_LINE + 2 - start)
    carets = " " * (start - 1) + "^" * max(1, width)
    out.append(f"{' ' * gutter} | {carets}{(' ' + text) if text else ''}")


def render_text(diag: Diagnostic, sources: Optional[SourceLines] = None) -> str:
    """rustc/ruff style: header, ``-->`` location, the source line with carets, labels, notes, help."""
    out = [f"{diag.severity}[{diag.code}]: {diag.message}"]
    s = diag.span
    spans = [s] if s else []
    spans += [l.span for l in diag.labels]
    gutter = max([len(str(x.line)) for x in spans] + [1])
    if s is not None:
        out.append(f"{' ' * gutter}--> {s.file}:{s.line}:{s.column}")
        src = sources.line(s.file, s.line) if sources else None
        if src is not None:
            out.append(f"{' ' * gutter} |")
            _excerpt(out, gutter, s, src, diag.label)
    for label in diag.labels:
        ls = label.span
        src = sources.line(ls.file, ls.line) if sources else None
        out.append(f"{' ' * gutter}::: {ls.file}:{ls.line}:{ls.column}")
        if src is not None:
            _excerpt(out, gutter, ls, src, label.message)
        else:
            out.append(f"{' ' * gutter} = {label.message}")
    for note in diag.notes:
        out.append(f"{' ' * gutter} = note: {note}")
    if diag.help:
        out.append(f"{' ' * gutter} = help: {diag.help}")
    return "\n".join(out)


def render_all_text(diags: list[Diagnostic], sources: Optional[SourceLines] = None) -> str:
    """Every diagnostic, then a count line; the empty string when there is nothing to say."""
    if not diags:
        return ""
    errors = sum(1 for d in diags if d.is_error)
    warnings = len(diags) - errors
    parts = [render_text(d, sources) for d in diags]
    parts.append(f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}")
    from .render.escape import terminal  # titles, names and source lines reach a terminal

    return terminal("\n\n".join(parts))


def render_json(diags: list[Diagnostic]) -> str:
    from .findings.report import json_text

    return json_text({"diagnostics": [d.to_dict() for d in diags]})


def codes_markdown() -> str:
    """The body of ``docs/diagnostics.md``, generated from :data:`CODES`."""
    import re

    lines = [
        "# Diagnostic codes",
        "",
        "Generated from `coherence_rules/diagnostics.py` (`python -m coherence_rules.commands.docs`); a test keeps "
        "this page in sync. Codes are grouped by stage: `E1xx` reading and syntax, `E2xx` names and "
        "references, `E3xx` schema, `W4xx` lints (warnings; `--strict` makes them fail `lint`), `E5xx` "
        "running rules.",
        "",
    ]
    for doc in CODES.values():
        # a fence longer than any run of backticks in the example, so an example that holds a
        # fence itself (E118) stays inside its block
        fence = "`" * max([3] + [len(run) + 1 for run in re.findall(r"`{3,}", doc.example)])
        lines += [
            f"## {doc.code}: {doc.title}",
            "",
            f"Severity: {doc.severity}.",
            "",
            doc.explanation,
            "",
            "Example:",
            "",
            fence,
            doc.example,
            fence,
            "",
            f"Fix: {doc.fix}",
            "",
        ]
    return "\n".join(lines)
