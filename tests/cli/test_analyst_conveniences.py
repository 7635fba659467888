"""The analyst's conveniences: coverage in words, `lint --require-tests`, `criteria CODE --rule`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main
from coherence_rules.commands.language_tests import TestRun
from coherence_rules.render.analyst import coverage_line

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


CRITERION = '''ruleset mine "t" {{ version: "1" }}
criterion CAP "cap" {{ dimension: horizontal  score: -1  source: "s"  message: "{{m}} caps"  advice: "a"
  when {{ m: measure where effect == restrict }} }}
{tests}'''

TEST = '''test "{name}" {{
  given {{
    jurisdiction X {{ level: national }}
    instrument P {{ kind: regulation  jurisdiction: X }}
    measure M {{ instrument: P  area: admission  effect: {effect} }}
  }}
  expect {expect}
}}
'''


def ruleset(tmp_path: Path, *tests: tuple[str, str]) -> Path:
    body = "".join(TEST.format(name=f"t{i}", effect=effect, expect=expect) for i, (effect, expect) in enumerate(tests))
    p = tmp_path / "mine.rules"
    p.write_text(CRITERION.format(tests=body), encoding="utf-8")
    return p


# ---- coverage -----------------------------------------------------------------------------------------------


def test_coverage_counts_criteria_and_rules_apart_in_english():
    run = TestRun([], criteria=["A"], rules=["r", "s"], fired_criteria={"A"}, fired_rules={"r"})
    assert coverage_line(run) == ("coverage 66.7%: 1 of 1 criterion fired in a test; "
                                  "1 of 2 rules derived a fact in a test")
    run = TestRun([], criteria=["A", "B"], rules=[], fired_criteria=set(), fired_rules=set())
    assert coverage_line(run) == ("coverage 0.0%: 0 of 2 criteria fired in a test; "
                                  "0 of 0 rules derived a fact in a test")


def test_coverage_of_the_shipped_rulesets_and_what_never_fired(tmp_path):
    r = invoke("test", "--coverage")
    assert "coverage 100.0%: 27 of 27 criteria fired in a test; 18 of 18 rules derived a fact in a test" in r.output
    p = ruleset(tmp_path, ("facilitate", "no CAP"))
    r = invoke("test", p, "--coverage")
    assert "0 of 1 criterion fired in a test; 0 of 0 rules derived a fact in a test" in r.output
    assert "  never fired: CAP" in r.output
    doc = json.loads(invoke("test", p, "--coverage", "--format", "json").output)
    assert doc["criteria"] == {"total": 1, "fired": 0, "never_fired": ["CAP"]}
    assert doc["rules"] == {"total": 0, "derived": 0, "never_derived": []}


# ---- lint --require-tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tests, missing", [
    ((), "no test where it fires and no near miss (a test where it must not fire)"),
    ((("restrict", "CAP on [M]"),), "no near miss (a test where it must not fire)"),
    ((("facilitate", "no CAP"),), "no test where it fires"),
    ((("restrict", "count CAP == 1"), ("facilitate", "count CAP == 0")), None),
    ((("restrict", "count CAP >= 1"), ("facilitate", "no CAP")), None),
    ((("restrict", "CAP on [M]"), ("facilitate", "count CAP < 1")), None),
])
def test_require_tests_wants_a_firing_test_and_a_near_miss(tmp_path, tests, missing):
    p = ruleset(tmp_path, *tests)
    r = invoke("lint", p, "--require-tests", "--format", "json")
    diags = [d for d in json.loads(r.output)["diagnostics"] if d["code"] == "W409"]
    if missing is None:
        assert diags == []
    else:
        assert [d["message"] for d in diags] == [f"criterion CAP has {missing}"]
        assert diags[0]["line"] == 2
    assert invoke("lint", p).exit_code == 0  # only asked for
    assert invoke("lint", p, "--require-tests", "--strict").exit_code == (1 if missing else 0)


def test_the_shipped_rulesets_keep_the_convention_and_policy_sets_are_not_blamed_for_them():
    r = invoke("lint", "--require-tests", "--strict", ROOT / "rulesets")
    assert r.exit_code == 0, r.output
    r = invoke("lint", "--require-tests", "--strict", ROOT / "policies" / "mauritius")
    assert r.exit_code == 0, r.output


# ---- criteria CODE --rule -----------------------------------------------------------------------------------


def test_criteria_rule_prints_the_source_with_its_location():
    r = invoke("criteria", "ADM-SECTOR", "--rule")
    assert r.exit_code == 0
    first, second = r.output.splitlines()[:2]
    line = int(first.rsplit(":", 1)[1])
    assert first.startswith("# coherence_rules/rulesets/core.rules:")
    assert second.startswith('criterion ADM-SECTOR "Admission restriction counteracts')
    text = (ROOT / "rulesets" / "core.rules").read_text(encoding="utf-8").split("\n")
    assert text[line - 1].startswith("criterion ADM-SECTOR")
    body = r.output.splitlines()[1:]
    assert body[-1] == "}" and body == text[line - 1:line - 1 + len(body)]
    assert "test " not in r.output  # the criterion alone, not the tests after it


def test_criteria_rule_formats_and_rule_names(tmp_path):
    doc = json.loads(invoke("criteria", "SILO", "--rule", "--format", "json").output)
    assert doc["file"] == "coherence_rules/rulesets/core.rules" and doc["source"].startswith("criterion SILO")
    assert doc["end_line"] > doc["line"]
    md = invoke("criteria", "SILO", "--rule", "--format", "markdown").output
    assert md.startswith("`coherence_rules/rulesets/core.rules:") and "```rules\ncriterion SILO" in md
    rule = invoke("criteria", "recruitment-drain", "--rule").output
    assert rule.splitlines()[1] == "rule recruitment-drain" and "derive pressure {" in rule
    # a criterion of the analyst's own file, shown at its own location
    p = ruleset(tmp_path)
    r = invoke("criteria", "CAP", "--rule", "--ruleset", p)
    assert r.output.splitlines()[0] == f"# {p}:2"
    assert invoke("criteria", "NOPE", "--rule").exit_code == 2
    assert invoke("criteria", "--rule").exit_code == 2
