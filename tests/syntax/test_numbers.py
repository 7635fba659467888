"""Numbers out of range (beyond ±(2**63 - 1), or decimals too large to be finite) are E307 at the
number, with exit 2, in every reader: Lark's, the fast fact reader, CSV cells, and `expect count`.
Before: OverflowError and "Exceeds the limit (4300 digits)" were internal errors (exit 3)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main
from coherence_rules.syntax.fastfacts import parse_facts
from coherence_rules.syntax.numbers import MAX_INT, number_value
from coherence_rules.syntax.parser import parse_source

BIG = "9" * 400
HUGE = "9" * 5000


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("-12", -12), ("+3", 3), ("2.5", 2.5), (str(MAX_INT), MAX_INT), (f"-{MAX_INT}", -MAX_INT),
    ("0000000000000000000000000001", 1), ("1" * 300 + ".5", float("1" * 300 + ".5")),
])
def test_in_range(text, value):
    assert number_value(text) == value


@pytest.mark.parametrize("text", [str(MAX_INT + 1), f"-{MAX_INT + 1}", BIG, HUGE, BIG + ".5", HUGE + ".0"])
def test_out_of_range(text):
    assert number_value(text) is None


def _lint(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return CliRunner().invoke(main, ["lint", str(path)])


@pytest.mark.parametrize("number", [BIG, HUGE, BIG + ".5", str(MAX_INT + 1)])
def test_a_fact_with_a_number_out_of_range(tmp_path, number):
    text = f'sdg_target T1 "t" {{ goal: {number}  text: "x" }}\n'
    assert parse_facts(text, "t.policy") is None  # the fast reader leaves it to Lark, which reports it
    module, diags = parse_source(text, "t.policy")
    assert [d.code for d in diags] == ["E307"]
    assert (diags[0].span.line, diags[0].span.column) == (1, 27)
    result = _lint(tmp_path, "t.policy", text)
    assert result.exit_code == 2 and "E307" in result.output and "t.policy:1:27" in result.output, result.output


def test_a_csv_cell_out_of_range(tmp_path):
    result = _lint(tmp_path, "t.csv", f"type,id,title,goal,text\nsdg_target,T1,x,{HUGE},hello\n")
    assert result.exit_code == 2, result.output
    assert "E307" in result.output and "t.csv:2:17" in result.output


def test_expect_count_out_of_range(tmp_path):
    rules = f"""ruleset t "T" {{ version: "1" }}
criterion C "c" {{ dimension: internal  score: -1  source: "s"  message: "{{m}}"  advice: "a"
  when {{ m: measure where area == admission }} }}
test "count" {{
  given {{ jurisdiction MU "M" {{ level: national }} }}
  expect count C == {BIG}
}}
"""
    path = tmp_path / "t.rules"
    path.write_text(rules)
    for command in (["lint", str(path)], ["test", str(path)], ["check", str(path)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, (command, result.output)
        assert "E307" in result.output and "internal error" not in result.output
