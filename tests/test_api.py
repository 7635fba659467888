"""The Python API a notebook user sees: check(), lint(), the Report object."""

from __future__ import annotations

import datetime
import datetime as dt
import json
from pathlib import Path

import pytest

import coherence_rules
from coherence_rules.findings.report import Report

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 11, 23)


def test_check_returns_a_report_a_notebook_can_show(monkeypatch):
    monkeypatch.chdir(ROOT)
    report = coherence_rules.check("policies/mauritius", as_of=AS_OF)
    assert isinstance(report, Report)
    adm = [f for f in report.findings if f.criterion == "ADM-SECTOR"]
    assert [f.facts for f in adm] == [["HSS.2.1", "WPR.7"]]
    assert adm[0].label == "counteracting" and adm[0].score == -2
    assert adm[0].trace.children[0].id == "HSS.2.1"
    html = report._repr_html_()
    assert "<html" in html and "ADM-SECTOR" in html
    assert "findings" in repr(report)
    # calling check twice in one process works (the API function is not shadowed by a module)
    again = coherence_rules.check(["policies/mauritius"], as_of=AS_OF)
    assert again.to_json() == report.to_json()


def test_summary_index_and_matrix(monkeypatch):
    monkeypatch.chdir(ROOT)
    report = coherence_rules.check(["policies/mauritius"], as_of=AS_OF)
    s = report.summary()
    assert s["findings"] == len(report.findings)
    counted = [f for f in report.findings if not (f.status == "accepted" and f.score < 0)]
    assert s["coherence_index"] == round(sum(f.score for f in counted) / (3 * len(counted)), 4)
    assert sum(s["by_score"].values()) == s["findings"]
    m = report.matrix()
    cell = [c for c in m["cells"] if (c["a"], c["b"]) == ("HSS", "WPR")]
    assert cell and cell[0]["worst"] == -2
    fp = [f.fingerprint for f in report.findings if f.criterion == "ADM-SECTOR"][0]
    assert fp in cell[0]["findings"]
    doc = json.loads(report.to_json())
    assert doc["schema"] == "coherence-report/1" and doc["summary"] == json.loads(json.dumps(s))


def test_lint_api_returns_diagnostics(tmp_path):
    p = tmp_path / "x.policy"
    p.write_text("jurisdiction MU { level: national }\njurisdiction MU { level: national }\n")
    result = coherence_rules.lint(p)
    assert [d.code for d in result.errors] == ["E201"]
    assert result.errors[0].span.line == 2


def test_bad_input_raises_a_check_error_carrying_the_diagnostics(tmp_path):
    p = tmp_path / "x.policy"
    p.write_text("measure M { instrument: NOPE  area: admission  effect: restrict }\n")
    with pytest.raises(coherence_rules.CheckError) as caught:
        coherence_rules.check([p], as_of=AS_OF)
    assert {d.code for d in caught.value.diagnostics} == {"E203"}
    assert "E203" in str(caught.value) and "x.policy:1" in str(caught.value)
    report = coherence_rules.check([p], as_of=AS_OF, raise_on_error=False)
    assert report.findings == [] and {d.code for d in report.errors} == {"E203"}


def test_as_of_takes_a_date_or_an_iso_string_and_nothing_else(monkeypatch):
    monkeypatch.chdir(ROOT)
    by_string = coherence_rules.check("policies/mauritius", as_of="2027-07-01")
    by_date = coherence_rules.check("policies/mauritius", as_of=datetime.date(2027, 7, 1))
    assert by_string.to_json() == by_date.to_json()
    for bad in ("next week", "2027-13-01", 20270701, 1.5):
        with pytest.raises(ValueError, match="as_of must be a date or an ISO date string"):
            coherence_rules.check("policies/mauritius", as_of=bad)


def test_diff_and_batch_from_python(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    d = coherence_rules.diff("tests/fixtures/uk/v1", "tests/fixtures/uk/v2", with_=["policies/reference"],
                             as_of=AS_OF)
    assert [f.criterion for f in d.resolved] == ["WHO-SAFEGUARD"] and d.to_dict()["schema"] == "coherence-diff/2"
    b = coherence_rules.batch(["policies/mauritius", "policies/sweden"], as_of=AS_OF, jobs=1)
    assert [s["name"] for s in b.sets] == ["policies/mauritius", "policies/sweden"]


def test_every_public_function_and_class_has_a_docstring():
    import inspect

    for name in coherence_rules.__all__:
        obj = getattr(coherence_rules, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert (obj.__doc__ or "").strip(), name


def test_the_package_says_it_is_typed():
    assert (Path(coherence_rules.__file__).parent / "py.typed").is_file()


def test_results_show_what_they_hold_in_a_notebook(monkeypatch):
    monkeypatch.chdir(ROOT)
    d = coherence_rules.diff("tests/fixtures/uk/v1", "tests/fixtures/uk/v2", with_=["policies/reference"],
                             as_of="2026-11-23")
    assert repr(d) == ("<DiffResult tests/fixtures/uk/v1 -> tests/fixtures/uk/v2: 0 new, 1 resolved, "
                       "0 with a changed status, 1 unchanged>")
    b = coherence_rules.batch(["policies/agreements/nl-turkey-1964"], as_of="2026-11-23", jobs=1)
    assert repr(b) == "<BatchResult 1 sets (1 ok, 0 failed): 0 findings, 0 conflicts (0 open), 0 synergies>"
