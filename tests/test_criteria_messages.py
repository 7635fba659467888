"""What each criterion says, as a drafter reads it.

For every criterion of the built-in rulesets, the findings of the first test where it fires are
kept in ``tests/criteria-messages/CODE.txt``: title, message and advice as the report prints them. A
change to a template, a label or the way values are written shows here as a diff to read, and
``pytest tests/test_criteria_messages.py --update-golden`` rewrites the files once it reads well.

The messages are also checked for what a lawyer must never see: an engine's id (``#`` and hex
digits, a derived fact's id), an enum code where the member has a label (outside the `code`
the advice quotes for the file's author), a Python value
(``None``, ``True``, ``[...]``, ``{...}``) or a template field left unfilled.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from coherence_rules.commands.language_tests import run_tests
from coherence_rules.session import Session, builtin_rulesets

GOLDEN = Path(__file__).parent / "criteria-messages"


@pytest.fixture(scope="module")
def run():
    session = Session(rulesets=builtin_rulesets(), as_of=date(2026, 11, 23))
    result = run_tests(session, rulesets={r.name for r in session.program.rulesets if r.name != "schema"})
    assert result is not None, session.diagnostics
    return session, result


def _first_firing(result, code):
    for outcome in result.outcomes:
        findings = [f for f in outcome.findings if f.criterion == code]
        if findings:
            return outcome, findings
    return None, []


def _golden_text(outcome, findings) -> str:
    lines = [f"test: {outcome.name}", ""]
    for f in sorted(findings, key=lambda f: (f.message, f.fingerprint)):
        lines += [f"{f.criterion} ({f.label}): {f.title}", f"  {f.message}", f"  advice: {f.advice}", ""]
    return "\n".join(lines)


def _codes():
    session = Session(rulesets=builtin_rulesets(), as_of=date(2026, 11, 23))
    session.run_until("check")
    return sorted(c.code for c in session.program.criteria)


@pytest.mark.parametrize("code", _codes())
def test_criterion_message(code, run, request):
    _, result = run
    outcome, findings = _first_firing(result, code)
    assert outcome is not None, f"{code} fires in none of its tests"
    text = _golden_text(outcome, findings)
    path = GOLDEN / f"{code}.txt"
    if request.config.getoption("--update-golden"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    assert path.is_file(), f"run pytest {__file__} --update-golden to create {path}"
    assert text == path.read_text(encoding="utf-8")


def _raw_members(program) -> set[str]:
    """Enum members whose label differs from their code and that do not read as a word."""
    raw = set()
    for enum in program.schema.enums.values():
        for member in enum.members:
            label = enum.label(member)
            if label != member and ("_" in member or member.isupper()):
                raw.add(member)
    return raw


_UNREADABLE = [
    (re.compile(r"#[0-9a-f]{6,}"), "an engine id"),
    (re.compile(r"\b(None|True|False)\b"), "a Python value"),
    (re.compile(r"[\[{]'"), "a Python list or dict"),
    (re.compile(r"\{[a-z_.:]+\}"), "a template field left unfilled"),
    (re.compile(r"<builtin>|coherence_rules/rulesets/"), "a file of the tool"),
    (re.compile(r"\$[a-z]"), "a derived fact's id"),
]


def test_messages_read_as_sentences(run):
    session, result = run
    raw = _raw_members(session.program)
    assert raw, "the vocabulary has labelled members: the check below must have something to find"
    seen = 0
    for outcome in result.outcomes:
        for f in outcome.findings:
            for text in (f.message, f.advice, f.title):
                seen += 1
                for pattern, what in _UNREADABLE:
                    assert not pattern.search(text), f"{f.criterion} in {outcome.name!r} shows {what}: {text}"
                # what to write in a policy file is quoted as code (`area: labour_migration`)
                prose = re.sub(r"`[^`]*`", "", text)
                words = set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", prose))
                codes = words & raw
                assert not codes, f"{f.criterion} in {outcome.name!r} shows enum codes {sorted(codes)}: {text}"
                snake = [w for w in words if "_" in w]
                assert not snake, f"{f.criterion} in {outcome.name!r} shows codes {snake}: {text}"
            for text in (f.message, f.advice):
                assert text[:1].isupper() or text[:1] == "\u201c", f"{f.criterion}: not a sentence: {text}"
                assert text.endswith("."), f"{f.criterion}: not a sentence: {text}"
    assert seen > 100


def test_every_golden_file_has_its_criterion():
    codes = set(_codes())
    stale = sorted(p.stem for p in GOLDEN.glob("*.txt") if p.stem not in codes)
    assert not stale, f"golden messages of criteria that no longer exist: {stale}"
