"""The bugs the fuzzing suite found, each with the minimal input that showed it.

Each test names what happened before the fix. The inputs were minimised by the suite
(``tests/fuzz/harness.py``) and then cut down by hand to the smallest text that still shows the bug.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main
from coherence_rules.session import Session, lint
from coherence_rules.syntax import parser as P
from coherence_rules.syntax.fmt import format_source

from tests.fuzz.harness import fast_path_problems
from tests.fuzz.mutator import KEYWORDS, ROOT


def run(args, cwd, monkeypatch):
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


# ---- a fact's field named like a keyword -----------------------------------------------------------------------------
# Before: `role R { actor: X  derive: asylum }` was E100 "unexpected 'derive'" for the Lark parser
# (after a value, its states also expected what follows a value in a criterion or a condition), but
# the fast fact reader read it: the same text parsed or not depending on the path, and a fact whose
# first field was `derive` parsed where its second did not.

@pytest.mark.parametrize("src", [
    "role R { actor: X  derive: asylum }\n",
    'role R "t" { a: "s"  when: 1 }\n',
    'role R { a: "s" "t"  and: [a,] }\n',
    "role R { a: [X]  in: y }\n",
    "accept C on [X] { a: b  matches: x }\n",
])
def test_fact_fields_named_like_keywords_parse_on_both_paths(src):
    module, diags = P._parse_lark(src, src, "a.policy", "policy", 0)
    assert diags == []
    fast = P.parse_fast(src, "a.policy", "policy")
    assert fast is not None and fast.items == module.items
    assert format_source(src, "a.policy")[0] is not None


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_every_keyword_as_a_later_field_name(keyword):
    for src in (f"role R {{ a: X  {keyword}: y }}\n", f'role R {{ a: "s"  {keyword}: 1 }}\n',
                f"role R {{ a: [x]  {keyword}: 2020-01 }}\n", f"accept C on [X] {{ a: 1  {keyword}: true }}\n"):
        assert fast_path_problems(src, "a.policy", "policy", 0) == [], src


def test_conditions_still_read_their_keywords():
    src = ('criterion C { message: "m"  when { o: objective where aim == increase and target in [workforce]\n'
           '  not measure where title matches "x" or occupation == o.occupation } }\n')
    module, diags = P.parse_source(src, "a.rules", "rules")
    assert diags == [] and module.items[0].when is not None


# ---- a rule with a criterion's name --------------------------------------------------------------------------------
# Before: a ruleset with `criterion same-name` and `rule same-name` checked, and the engine failed
# on it (E502 "the rule engine failed: AttributeError: 'CriterionIR' object has no attribute
# 'name'", a diagnostic without a location asking for a bug report): the engine keys criteria and
# rules by one name. Found by renaming a criterion of bench/rules.rules to a rule's name.

RULE_AND_CRITERION = '''ruleset same "Same names" { version: "0.1" }

rule area-in-use "A jurisdiction acts in an area" {
  when { m: measure where area != null }
  derive area_in_use { jurisdiction: m.jurisdiction  area: m.area }
}

criterion area-in-use "Measures in an area" {
  dimension: horizontal
  score: -1
  source: "x"
  when { m: measure where area == admission }
  message: "{m}"
  advice: "a"
}
'''


def test_a_rule_with_the_name_of_a_criterion_is_e205_at_the_rule(tmp_path, monkeypatch):
    (tmp_path / "same.rules").write_text(RULE_AND_CRITERION, encoding="utf-8")
    (tmp_path / "set.policy").write_text(
        'jurisdiction X { level: national }\ninstrument P { kind: strategy  jurisdiction: X }\n'
        'measure M { instrument: P  area: admission  effect: restrict }\n', encoding="utf-8")
    for command in ("lint", "check"):
        r = run([command, "set.policy", "-r", "same.rules"], tmp_path, monkeypatch)
        assert r.exit_code == 2, r.output
        assert "error[E205]: rule 'area-in-use' has the name of a criterion" in r.output
        assert "--> same.rules:3:6" in r.output and "E502" not in r.output


# ---- lint and check on a ruleset whose tests do not check -------------------------------------------------------------
# `lint` rejected rulesets with errors inside `test` blocks that `check` accepted.
# Decided: such a ruleset is broken, and `check` reports those errors too (exit 2), as `lint` does;
# the tests of the built-in rulesets are left out when nothing of the run can break them.

BROKEN_TESTS = '''ruleset mine "Mine" { version: "0.1" }

criterion MINE-CAP "A restrictive measure" {
  dimension: horizontal
  score: -1
  source: "x"
  when { m: measure where effect == restrict }
  message: "{m} restricts"
  advice: "a"
}

test "fires" {
  given {
    jurisdiction X { level: national }
    instrument P { kind: strategy  jurisdiction: X }
    measure M { instrument: P  area: admission  effect: restrictt  quota: 3 }
  }
  expect MINE-CAP on [M]
}
'''


@pytest.mark.parametrize("rulesets", [["mine.rules"], ["core", "mine.rules"]])
def test_lint_and_check_agree_on_a_ruleset_whose_tests_do_not_check(tmp_path, monkeypatch, rulesets):
    (tmp_path / "mine.rules").write_text(BROKEN_TESTS, encoding="utf-8")
    (tmp_path / "set.policy").write_text('jurisdiction X { level: national }\n', encoding="utf-8")
    options = [x for r in rulesets for x in ("-r", r)]
    outputs = {}
    for command in ("lint", "check"):
        r = run([command, "set.policy", *options], tmp_path, monkeypatch)
        assert r.exit_code == 2, (command, r.output)
        outputs[command] = r.output
        assert "error[E301]: unknown value 'restrictt' for field 'effect'" in r.output
        assert "error[E302]: unknown field 'quota' for type 'measure'" in r.output
        assert "--> mine.rules:16:57" in r.output
    assert outputs["lint"] == outputs["check"]


def test_built_in_tests_are_checked_only_when_the_run_can_break_them(monkeypatch):
    from coherence_rules import checker

    checked = []
    real = checker.check_test_facts

    def counting(program, test, reference):
        checked.append(test.span.file)
        return real(program, test, reference)

    monkeypatch.setattr(checker, "check_test_facts", counting)
    monkeypatch.chdir(ROOT)
    session = Session(["policies/mauritius"])
    assert not lint(session).errors
    assert checked == []  # the built-in vocabulary alone: the test suite checks those tests
    extended = Session([], texts={"mine.rules": 'ruleset mine "M" { }\nextend enum occupation { herder }\n'})
    assert not lint(extended).errors
    assert checked and all(f.endswith("core.rules") for f in checked)  # vocabulary of the run's own
