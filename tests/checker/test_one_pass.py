"""Diagnostics in one pass and without cascades.

Each directory of ``tests/checker/cases/`` is a golden case as in ``tests/golden/`` (``cmd.txt``
run there, ``expected.txt`` the exact output; ``pytest --update-golden`` rewrites it): an error
that used to bring others with it (the cascade) and a file whose independent errors used to take
several runs of lint to see. The other tests here hold the rules behind them.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main
from coherence_rules.session import Session, lint
from coherence_rules.syntax import ast as A
from coherence_rules.syntax.parser import parse_source

CASES = Path(__file__).parent / "cases"


def run_cli(cwd: Path, args: list[str], monkeypatch) -> tuple[str, int]:
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.output, result.exit_code


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_case(case, request, monkeypatch):
    here = CASES / case
    output, code = run_cli(here, shlex.split((here / "cmd.txt").read_text(encoding="utf-8")), monkeypatch)
    expected = here / "expected.txt"
    if request.config.getoption("--update-golden"):
        expected.write_text(output, encoding="utf-8", newline="\n")
    assert code == 2, output
    assert output == expected.read_text(encoding="utf-8")


def test_an_added_required_field_is_one_error_in_the_users_file():
    """The E217 case: before, every measure of the set and of the built-in tests also reported
    the field missing (E303)."""
    out = (CASES / "extend-required-field" / "expected.txt").read_text(encoding="utf-8")
    assert out.count("error[") == 1 and "error[E217]" in out and "--> minors.rules:1:23" in out
    assert "coherence_rules/rulesets/" not in out


def test_built_in_tests_are_reported_at_the_users_fact_with_a_note():
    out = (CASES / "builtin-tests-against-user-facts" / "expected.txt").read_text(encoding="utf-8")
    assert out.count("error[") == 1 and "--> mine.rules:3:1" in out
    assert "10 built-in tests" in out and '"a work permit cap in Mauritius' in out


def test_three_independent_errors_of_three_stages_in_one_run():
    out = (CASES / "three-stages" / "expected.txt").read_text(encoding="utf-8")
    codes = [line.split("]")[0].split("[")[1] for line in out.splitlines() if line.startswith("error[")]
    assert codes == ["E119", "E301", "E203"]  # syntax, schema, references


def test_built_in_tests_without_a_user_change_are_not_checked_again(tmp_path):
    p = tmp_path / "set.policy"
    p.write_text('jurisdiction MU { level: national }\n', encoding="utf-8")
    r = lint(Session([p]))
    assert r.diagnostics == []


# ---- what a statement that does not parse takes with it --------------------------------------------------------


def test_recovery_keeps_the_statements_that_parse():
    text = ('jurisdiction MU { level: national }\n'
            'measure M2 { instrument: I  area: admission effect: restrict\n'
            'objective O { instrument: I  aim: increase }\n')
    module, diags = parse_source(text, "x.policy")
    assert [d.code for d in diags] == ["E102"] and diags[0].span.line == 2
    kinds = [(type(i).__name__, getattr(i, "id", None) or getattr(i, "name", None)) for i in module.items]
    assert kinds == [("Fact", "MU"), ("Unparsed", "M2"), ("Fact", "O")]


def test_a_stray_field_takes_its_fact_with_it():
    module, diags = parse_source('jurisdiction MU { }\nlevel: national\njurisdiction SC { level: national }\n',
                                 "x.policy")
    assert [d.code for d in diags] == ["E106"]
    assert [type(i).__name__ for i in module.items] == ["Unparsed", "Fact"] and module.items[0].name == "MU"


def test_every_statement_with_an_error_is_reported():
    text = ('jurisdiction MU { level = national }\n'
            'jurisdiction SC { level: national }\n'
            'instrument I Work Permits { kind: plan  jurisdiction: SC }\n')
    module, diags = parse_source(text, "x.policy")
    assert [(d.code, d.span.line) for d in diags] == [("E103", 1), ("E104", 3)]
    assert [type(i).__name__ for i in module.items] == ["Unparsed", "Fact", "Unparsed"]


def test_uses_of_what_did_not_parse_are_not_reported(tmp_path):
    p = tmp_path / "x.rules"
    p.write_text('ruleset r "r" { version: "1" }\n'
                 'instrument I "Plan" { kind: plan  jurisdiction: MU\n'  # never closed
                 'jurisdiction MU { level: national }\n'
                 'measure M { instrument: I  area: admission  effect: restrict }\n'
                 'accept CAP on [M] { reason: "r" }\n'
                 'criterion CAP "cap" { dimension: horizontal  score: -1  source: "s"  message: "{m}"  advice: "a"\n'
                 '  when { m: measure where area = admission } }\n'
                 'test "t" { given { jurisdiction X { level: national } } expect no CAP }\n', encoding="utf-8")
    r = lint(Session([p]))
    assert [d.code for d in r.errors] == ["E102", "E119"], [str(d) for d in r.errors]


def test_a_pattern_of_an_unknown_type_is_reported_once(tmp_path):
    p = tmp_path / "x.rules"
    p.write_text('ruleset r "r" { version: "1" }\n'
                 'criterion C "c" { dimension: horizontal  score: -1  source: "s"  advice: "a"\n'
                 '  message: "{k.measure} and {m}"\n'
                 '  when { k: kid_affected  m: measure where id == k.measure } }\n', encoding="utf-8")
    r = lint(Session([p]))
    assert [(d.code, d.message) for d in r.errors] == [("E202", "unknown type 'kid_affected'")]


def test_a_fact_of_an_unknown_type_is_reported_once(tmp_path):
    p = tmp_path / "x.policy"
    p.write_text('jurisdiction MU { level: national }\n'
                 'instrment I "Plan" { kind: plan  jurisdiction: MU }\n'
                 'measure M { instrument: I  area: admission  effect: restrict }\n', encoding="utf-8")
    r = lint(Session([p]))
    assert [d.code for d in r.errors] == ["E202"]


def test_a_criterion_is_checked_past_an_error_in_its_patterns(tmp_path):
    p = tmp_path / "x.rules"
    p.write_text('ruleset r "r" { version: "1" }\n'
                 'criterion C "c" { dimension: sideways  score: 9  source: "s"  advice: "a"\n'
                 '  message: "{m.nope}"\n'
                 '  when { m: measure where minors == true } }\n', encoding="utf-8")
    r = lint(Session([p]))
    assert sorted(d.code for d in r.errors) == ["E208", "E208", "E217", "E301"]


def test_check_still_stops_at_a_syntax_error(tmp_path):
    p = tmp_path / "x.policy"
    p.write_text('jurisdiction MU { level = national }\nmeasure M { instrument: NOPE }\n', encoding="utf-8")
    s = Session([p])
    assert s.report.errors and s.stopped == "parse" and "findings" not in s.products
    assert [d.code for d in s.report.errors] == ["E103"]


def test_unparsed_is_a_node():
    assert issubclass(A.Unparsed, A.Node)
