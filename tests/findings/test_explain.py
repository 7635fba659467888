"""``coherence explain``: through derivations, derivation rules, every candidate path, ``--facts``.

The small ruleset here derives a type (``child_affected``) that a criterion needs; the sets make
the rule's condition fail in different ways, and the explanation has to name the rule and the
condition that failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main
from coherence_rules.findings.explain import MAX_CANDIDATES, Explainer, explain_criterion
from coherence_rules.session import Session

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2026-11-23"

RULES = '''ruleset kids "Children" { version: "0.1" }

type child_affected "A measure that concerns migrant children (derived)" {
  measure: ref measure
  effect: effect
}

rule children-affected "A measure for children or their families concerns children" {
  when {
    m: measure where group in [children, family_members] and area in [admission, family_reunion]
  }
  derive child_affected {
    measure: m
    effect: m.effect
  }
  describe: "{m:cited} concerns children"
}

criterion CHILD-RESTRICT "A restriction that concerns migrant children" {
  dimension: horizontal
  score: -1
  source: "test"
  when {
    c: child_affected where effect == restrict
  }
  message: "{c.measure} restricts what children may do"
  advice: "Check the measure against the best interests of the child."
}
'''

BASE = '''jurisdiction MU "Republic of Mauritius" { level: national }
instrument IA "Immigration Act" { kind: law  jurisdiction: MU }
'''


def make_set(tmp_path: Path, measures: str) -> Path:
    (tmp_path / "kids.rules").write_text(RULES, encoding="utf-8")
    (tmp_path / "set.policy").write_text(BASE + measures, encoding="utf-8")
    return tmp_path


def explain(tmp_path: Path, code: str, *extra: str):
    runner = CliRunner()
    return runner.invoke(main, ["explain", code, str(tmp_path / "set.policy"), "--ruleset", "core",
                                "--ruleset", str(tmp_path / "kids.rules"), "--as-of", AS_OF, *extra])


def test_a_criterion_on_a_derived_type_names_the_rule_and_its_failed_condition(tmp_path):
    # the only measure is for workers: the rule's condition fails, so no child_affected exists
    make_set(tmp_path, 'measure IA.5 "Work permits" { instrument: IA  area: admission  effect: restrict  '
                       'group: workers }\n')
    r = explain(tmp_path, "CHILD-RESTRICT")
    assert r.exit_code == 0, r.output
    out = r.output
    assert "CHILD-RESTRICT did not fire" in out
    assert "pattern c: child_affected where effect == restrict: no fact of type child_affected" in out
    assert ('child_affected is derived by rule children-affected "A measure for children or their families '
            'concerns children": it derived nothing; needed: effect == restrict') in out
    # the rule's pattern, with what the criterion needs pushed down into it, and the failed condition
    assert "pattern m: measure where group in [children, family_members] and area in [admission, family_reunion] " \
           "(needed: effect == restrict): no candidate matches (1 candidate)" in out
    assert "IA.5: fails `group in [children, family_members]`" in out
    lines = out.splitlines()
    rule_line = next(i for i, line in enumerate(lines) if "is derived by rule children-affected" in line)
    fail_line = next(i for i, line in enumerate(lines) if "IA.5: fails" in line)
    assert fail_line > rule_line and lines[fail_line].startswith("      ")  # nested under the rule


def test_a_derived_candidate_that_fails_is_explained_through_its_rule(tmp_path):
    # the rule derives a child_affected, but for a measure that facilitates: the criterion needs
    # a restriction, so the rule is explained with `effect == restrict` pushed down to its measure
    make_set(tmp_path, 'measure IA.7 "Family reunion" { instrument: IA  area: family_reunion  effect: facilitate  '
                       'group: family_members }\n')
    out = explain(tmp_path, "CHILD-RESTRICT").output
    assert "no candidate matches (1 candidate)" in out
    assert "(child_affected {measure: IA.7, effect: facilitate}, derived by children-affected from m=IA.7): " \
           "fails `effect == restrict`" in out
    assert "it derived 1 child_affected fact, none that matches; needed: effect == restrict" in out
    assert "IA.7: fails `effect == restrict` (needed by pattern c above)" in out


def test_a_rule_can_be_explained_by_name(tmp_path):
    make_set(tmp_path, 'measure IA.5 "Work permits" { instrument: IA  area: admission  effect: restrict  '
                       'group: workers }\n'
                       'measure IA.7 "Family reunion" { instrument: IA  area: family_reunion  effect: restrict  '
                       'group: family_members }\n')
    out = explain(tmp_path, "children-affected").output
    assert out.startswith("rule children-affected derived 1 child_affected fact: A measure for children")
    assert "(child_affected {measure: IA.7, effect: restrict}) from m=IA.7" in out
    # narrowed to a fact it did not derive from: why not, for that fact only
    out = explain(tmp_path, "children-affected", "--facts", "IA.5").output
    assert out.startswith("rule children-affected derived 1 fact, but none from IA.5")
    assert "1 candidate named by --facts" in out and "IA.5: fails `group in [children, family_members]`" in out
    assert "IA.7" not in out.split("\n\n", 1)[1]


def test_a_rule_that_derived_nothing(tmp_path):
    make_set(tmp_path, 'measure IA.5 "Work permits" { instrument: IA  area: admission  effect: restrict }\n')
    r = explain(tmp_path, "children-affected")
    assert r.exit_code == 0
    assert r.output.startswith("rule children-affected derived nothing: ")
    assert "IA.5: fails `group in [children, family_members]`" in r.output


def test_an_unknown_name_suggests_criteria_and_rules(tmp_path):
    make_set(tmp_path, "")
    r = explain(tmp_path, "children-afected")
    assert r.exit_code == 2 and "unknown criterion or rule 'children-afected'" in r.output
    assert "did you mean 'children-affected'?" in r.output


def test_facts_restrict_the_candidates_shown():
    runner = CliRunner()
    args = ["explain", "SUBNATIONAL-UNCOORDINATED", str(ROOT / "policies" / "kenya-ncm"), "--as-of", AS_OF]
    everything = runner.invoke(main, args).output
    narrowed = runner.invoke(main, args + ["--facts", "KAKAMEGA-CIDP.M1"]).output
    assert "candidate named by --facts" in narrowed and "KAKAMEGA-CIDP.M1: matches" in narrowed
    measures = [line.split(":")[0].strip() for line in narrowed.splitlines()
                if line.startswith("  ") and not line.startswith("    ") and ("matches" in line or "fails" in line)]
    assert measures == ["KAKAMEGA-CIDP.M1"]  # the other measures are left out, not only reordered
    assert "blocked by KE-NCM" in narrowed
    assert len(narrowed.splitlines()) < len(everything.splitlines())


def test_every_candidate_path_is_followed(tmp_path):
    # two measures for children: both derive a child_affected; the criterion fires on the
    # restricting one, and a guard-free path for each candidate is shown
    make_set(tmp_path, 'measure IA.7 "Family reunion" { instrument: IA  area: family_reunion  effect: facilitate  '
                       'group: family_members }\n'
                       'measure IA.8 "Child visas" { instrument: IA  area: admission  effect: facilitate  '
                       'group: children }\n')
    out = explain(tmp_path, "CHILD-RESTRICT").output
    assert "no candidate matches (2 candidates)" in out
    assert "derived by children-affected from m=IA.7): fails" in out
    assert "derived by children-affected from m=IA.8): fails" in out
    assert "IA.7: fails `effect == restrict`" in out and "IA.8: fails `effect == restrict`" in out


def test_every_blocked_path_names_its_blocker():
    """SUBNATIONAL-UNCOORDINATED on the Kenyan set: each subnational measure's path ends at the
    mechanism that covers it, or at the finding."""
    s = Session([ROOT / "policies" / "kenya-ncm"], as_of=__import__("datetime").date(2026, 11, 23))
    e = explain_criterion(s, "SUBNATIONAL-UNCOORDINATED", ["KAKAMEGA-CIDP.M1", "KAKAMEGA-CG"])
    assert e is not None and not e.fired
    assert e.text.count("blocked by KE-NCM") == 1


def test_candidates_are_capped_with_a_count(tmp_path):
    measures = "".join(f'measure IA.{i} "M{i}" {{ instrument: IA  area: admission  effect: restrict }}\n'
                       for i in range(20))
    make_set(tmp_path, measures)
    out = explain(tmp_path, "children-affected").output
    assert f"... and {20 - MAX_CANDIDATES} more" in out
    assert sum(1 for line in out.splitlines() if ": fails `group in" in line) == MAX_CANDIDATES


def test_the_depth_of_derivations_is_bounded(tmp_path):
    """A chain of derived types longer than the bound: the explanation stops and says how to go on."""
    chain = ['ruleset chain "c" { version: "1" }']
    for i in range(5):
        chain.append(f'type t{i} "level {i}" {{ measure: ref measure }}')
    chain.append('rule r0 "r0" { when { m: measure where effect == prohibit } derive t0 { measure: m } }')
    for i in range(1, 5):
        chain.append(f'rule r{i} "r{i}" {{ when {{ x: t{i - 1} }} derive t{i} {{ measure: x.measure }} }}')
    chain.append('criterion DEEP "deep" { dimension: horizontal  score: -1  source: "s"  message: "{x}"  advice: "a"\n'
                 '  when { x: t4 } }')
    (tmp_path / "kids.rules").write_text("\n".join(chain) + "\n", encoding="utf-8")
    (tmp_path / "set.policy").write_text(BASE + 'measure IA.5 "M" { instrument: IA  area: admission  '
                                                'effect: restrict }\n', encoding="utf-8")
    out = explain(tmp_path, "DEEP").output
    assert "t4 is derived by rule r4" in out and "t2 is derived by rule r2" in out
    assert "t1 is derived by rule r1: not followed further (3 rules deep)" in out
    assert "coherence explain RULE PATHS" in out


def test_the_explainer_stops_at_its_line_budget(tmp_path):
    make_set(tmp_path, "".join(f'measure IA.{i} "M{i}" {{ instrument: IA  area: admission  effect: restrict }}\n'
                               for i in range(5)))
    s = Session([tmp_path / "set.policy"], rulesets=["core", str(tmp_path / "kids.rules")],
                as_of=__import__("datetime").date(2026, 11, 23))
    program, result = s.program, s.result
    store = {f.id: f for f in program.facts} | result.derived
    ex = Explainer(program, store, result.derivations, s.as_of, max_lines=3)
    rule = next(r for r in program.rules if r.name == "children-affected")
    text = ex.text(lambda: ex.walk(rule.patterns, 0, 0, (), lambda env, i: None))
    assert text.splitlines()[-1].startswith("... the explanation stops at 3 lines")


@pytest.mark.parametrize("code", ["ADM-SECTOR", "WORKFORCE-DRAIN", "CHILDREN-EDUCATION", "INST-NO-LEAD"])
def test_explaining_the_shipped_sets_never_fails(code):
    for name in ("mauritius", "sweden", "kenya-ncm"):
        r = CliRunner().invoke(main, ["explain", code, str(ROOT / "policies" / name), "--as-of", AS_OF])
        assert r.exit_code == 0 and r.exception is None, r.output
