"""No output a person reads speaks the engine's language.

Every shipped example and the test sets that exercise derived facts, in every format of `check`
(text, with and without the proof, table, JSON, SARIF, CSV, Markdown, HTML), and the batch,
diff, compare and topic documents over them in each of their formats: none holds a derived fact's
id (``type#`` and hex digits), an internal file name (``<builtin>``), or a Python value written by
Python (``None``, ``{'...``, ``[('...``, ``<... object at 0x...>``).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

import coherence_rules as C
from coherence_rules.commands.compare import compare_many
from coherence_rules.commands.topics import topics_document
from coherence_rules.render import REPORT_FORMATS, render_report
from coherence_rules.render.batch_text import render_batch, render_compare, render_diff
from coherence_rules.render.topics import render_topics

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "policies" / "reference"
AS_OF = dt.date(2026, 11, 23)

SETS = sorted(
    [p for p in (ROOT / "policies").iterdir() if p.is_dir() and p.name not in ("reference", "agreements")]
    + [ROOT / "policies" / "agreements" / n for n in ("nl-turkey-1964", "benelux-labour-treaty-1956",
                                                       "ss-nl-morocco-1972")]
    + [ROOT / "tests" / "fixtures" / n for n in ("uk/v1", "uk/v2", "frameworks")]
)

UNREADABLE = [
    (re.compile(r"[a-z_]+#[0-9a-f]{10}"), "a derived fact's id"),
    (re.compile(r"<builtin>"), "an internal file name"),
    (re.compile(r"\bNone\b"), "Python's None"),
    (re.compile(r"[\[{(]'[^']*'[,:)]"), "a Python list, tuple or dict"),
    (re.compile(r"object at 0x[0-9a-f]+"), "a Python object"),
    (re.compile(r"\b(?:FactRecord|Span|ProofNode|Finding)\("), "a Python dataclass"),
]


def _assert_readable(text: str, what: str) -> None:
    for pattern, name in UNREADABLE:
        m = pattern.search(text)
        assert m is None, f"{what} shows {name}: ...{text[max(0, m.start() - 120):m.end() + 80]}..."


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.fixture(scope="module")
def reports(request):
    pytest.importorskip("jinja2")
    return {s: C.check([s], with_=[REFERENCE], as_of=AS_OF) for s in SETS}


def test_the_sets_give_findings_with_derived_facts_behind_them(reports):
    """The check below must have something to find: derived facts stand in the proofs."""
    derived = 0
    for report in reports.values():
        for f in report.findings:
            stack = [f.trace]
            while stack:
                n = stack.pop()
                derived += n.kind == "derived"
                stack.extend(n.children)
    assert derived >= 5
    assert sum(len(r.findings) for r in reports.values()) > 20


@pytest.mark.parametrize("fmt", [*REPORT_FORMATS, "explain"])
def test_check_outputs(fmt, reports):
    for path, report in reports.items():
        text = render_report(report, "text", explain=True) if fmt == "explain" else render_report(report, fmt)
        _assert_readable(text, f"check {_rel(path)} -f {fmt}")


@pytest.fixture(scope="module")
def batch_result():
    return C.batch([str(s) for s in SETS], with_=[REFERENCE], as_of=AS_OF, jobs=1)


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown", "html"])
def test_batch_outputs(fmt, batch_result):
    pytest.importorskip("jinja2")
    _assert_readable(render_batch(batch_result, fmt), f"batch -f {fmt}")


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown", "html"])
def test_topic_outputs(fmt, batch_result):
    pytest.importorskip("jinja2")
    _assert_readable(render_topics(topics_document(batch_result), fmt), f"batch --view topics -f {fmt}")


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "html"])
def test_diff_outputs(fmt, monkeypatch):
    pytest.importorskip("jinja2")
    monkeypatch.chdir(ROOT)
    result = C.diff("tests/fixtures/uk/v1", "tests/fixtures/uk/v2", with_=[REFERENCE], as_of=AS_OF)
    assert result.to_dict()["summary"]["new_findings"] + result.to_dict()["summary"]["resolved"] > 0
    _assert_readable(render_diff(result, fmt), f"diff -f {fmt}")


@pytest.mark.parametrize("fmt", ["text", "table", "json", "markdown"])
def test_compare_outputs(fmt):
    sides = [ROOT / "policies" / "agreements" / n for n in ("nl-turkey-1964", "nl-morocco-1969", "nl-spain-1961")]
    result = compare_many(sides, with_paths=[REFERENCE], as_of=AS_OF)
    _assert_readable(render_compare(result, fmt), f"compare -f {fmt}")
