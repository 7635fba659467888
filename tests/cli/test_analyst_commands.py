"""The analyst's commands: lint, fmt, test, explain, criteria, import; and docs kept in sync."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def _cwd(monkeypatch):
    monkeypatch.chdir(ROOT)


def shipped_sets() -> list[str]:
    """Every shipped policy set, as `make lint` lists them: each directory of policies/, and each
    agreement of policies/agreements/."""
    sets = [p for p in sorted((ROOT / "policies").iterdir()) if p.is_dir() and p.name != "agreements"]
    sets += sorted(p for p in (ROOT / "policies" / "agreements").iterdir() if p.is_dir())
    return [str(p.relative_to(ROOT)) for p in sets]


def test_everything_shipped_lints_clean():
    sets = shipped_sets()
    r = invoke("lint", "--each", "rulesets", *sets, "bench/rules.rules", "--with", "policies/reference")
    assert r.exit_code == 0, r.output
    assert f"no problems found in {len(sets) + 2} policy sets" in r.output
    # and every shipped file is in the canonical layout, so a copied example passes `fmt --check`
    r = invoke("fmt", "--check", "rulesets", "policies", "bench/rules.rules")
    assert r.exit_code == 0, r.output
    # linted together, the agreements define their parties twice: --each is what tells sets apart
    r = invoke("lint", "policies/agreements/nl-turkey-1964", "policies/agreements/ss-nl-turkey-1966")
    assert r.exit_code == 2 and "error[E201]: duplicate id 'NLD'" in r.output


def test_lint_json_and_strict(tmp_path):
    p = tmp_path / "x.policy"
    p.write_text('jurisdiction MU { level: national }\nactor A { kind: ministry  jurisdiction: MU }\n'
                 'instrument I { kind: plan  jurisdiction: MU }\n'
                 'objective O { instrument: I  aim: increase  occupation: nurze }\n')
    r = invoke("lint", p, "--format", "json")
    doc = json.loads(r.stdout)
    assert [d["code"] for d in doc["diagnostics"]] == ["W401"]
    assert doc["diagnostics"][0]["line"] == 4 and doc["diagnostics"][0]["column"] == 57
    assert r.exit_code == 0
    assert invoke("lint", p, "--strict").exit_code == 1


def test_the_core_tests_pass_with_full_coverage():
    r = invoke("test", "core", "--coverage", "--threshold", "100")
    assert r.exit_code == 0, r.output
    assert "coverage 100.0%: 25 of 25 criteria fired in a test; 18 of 18 rules derived a fact in a test" in r.output
    assert " 0 failed" in r.output


def test_a_failing_test_shows_expected_and_actual(tmp_path):
    rules = tmp_path / "mine.rules"
    rules.write_text('''ruleset mine "t" { version: "1" }
criterion CAP "cap" { dimension: horizontal  score: -1  source: "s"  message: "{m} caps"  advice: "a"
  when { m: measure where effect == restrict } }
test "expects the wrong thing" {
  given {
    jurisdiction X { level: national }
    instrument P { kind: regulation  jurisdiction: X }
    measure M { instrument: P  area: admission  effect: restrict }
  }
  expect no CAP
}
''')
    r = invoke("test", rules)
    assert r.exit_code == 1
    assert "FAIL" in r.output and "expected no CAP, got 1" in r.output
    assert "CAP on [M]: M caps" in r.output


def test_coverage_threshold_fails_when_a_criterion_never_fires(tmp_path):
    rules = tmp_path / "mine.rules"
    rules.write_text('''ruleset mine "t" { version: "1" }
criterion NEVER "never tested" { dimension: horizontal  score: -1  source: "s"  message: "{m}"  advice: "a"
  when { m: measure where effect == prohibit } }
''')
    r = invoke("test", rules, "--coverage", "--threshold", "100")
    assert r.exit_code == 1 and "never fired: NEVER" in r.output


def test_explain_a_finding_and_a_criterion_that_did_not_fire():
    r = invoke("explain", "ADM-SECTOR", "policies/mauritius", "--as-of", "2026-11-23")
    assert r.exit_code == 0 and "ADM-SECTOR fired 1 time" in r.output and "├─ o: objective = HSS.2.1" in r.output
    r = invoke("explain", "ADM-SECTOR", "policies/sweden", "--as-of", "2026-11-23")
    assert "did not fire" in r.output and "fails `target == workforce`" in r.output
    r = invoke("explain", "SUBNATIONAL-UNCOORDINATED", "policies/kenya-ncm", "--facts", "KAKAMEGA-CIDP.M1",
               "--as-of", "2026-11-23")
    assert "fired 1 time, but on none of KAKAMEGA-CIDP.M1" in r.output and "blocked by" in r.output
    r = invoke("explain", "ADM-SECTR", "policies/mauritius")
    assert r.exit_code == 2 and "did you mean 'ADM-SECTOR'?" in r.output


def test_criteria_list_and_pages():
    r = invoke("criteria")
    codes = [line.split()[0] for line in r.output.splitlines()[2:]]
    assert len(codes) == 25 and codes[0] == "ADM-SECTOR"
    for code in codes:
        page = invoke("criteria", code)
        assert page.exit_code == 0
        for heading in ("What it detects", "Why it matters", "Example", "How a drafter resolves it"):
            assert heading in page.output, (code, heading)
    j = json.loads(invoke("criteria", "BLA-GAP", "--format", "json").output)
    assert j["score"] == -1 and j["dimension"] == "bilateral"
    assert invoke("criteria", "NOPE").exit_code == 2


def test_docs_criteria_page_is_in_sync():
    from coherence_rules.commands.docs import generate

    for path, text in generate(ROOT).items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run `make docs`"


def test_fmt_check_diff_and_rewrite(tmp_path):
    p = tmp_path / "x.policy"
    original = 'jurisdiction MU "Mauritius" {level: national}   # the state\n'
    p.write_text(original)
    r = invoke("fmt", p, "--check")
    assert r.exit_code == 1 and "would reformat" in r.output
    assert p.read_text() == original
    r = invoke("fmt", p, "--diff")
    assert r.exit_code == 1 and "+jurisdiction MU" in r.output and p.read_text() == original
    assert invoke("fmt", p).exit_code == 0
    assert p.read_text() == 'jurisdiction MU "Mauritius" { level: national }  # the state\n'
    assert invoke("fmt", p, "--check").exit_code == 0


def test_import_csv_wired(tmp_path):
    src = tmp_path / "inventory.csv"
    src.write_text("type,id,title,level\njurisdiction,MU,Republic of Mauritius,national\n")
    out = tmp_path / "out"
    r = invoke("import", "csv", src, "--output", out)
    assert r.exit_code == 0, r.output
    written = list(out.glob("*.policy"))
    assert written and "jurisdiction MU" in written[0].read_text()
    # never overwrites without --force
    r = invoke("import", "csv", src, "--output", out)
    assert r.exit_code == 2
