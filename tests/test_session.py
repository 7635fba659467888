"""The session and its stage table: every command runs the same stages, stops where it needs to,
and reads the products it keeps; ``--with`` reference facts, ``--dump`` and ``--profile``."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

import coherence_rules
from coherence_rules.cli import main
from coherence_rules.session import STAGE_NAMES, STAGES, Rulesets, Session

ROOT = Path(__file__).resolve().parent.parent
UK = ROOT / "tests" / "fixtures" / "uk"
GOLDEN = ROOT / "tests" / "golden"
AS_OF = dt.date(2026, 11, 23)


def invoke(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def test_the_stage_table_is_the_pipeline():
    assert STAGE_NAMES == ("parse", "check", "compile", "run", "findings", "render")
    assert [s.product for s in STAGES] == ["Workspace", "Program", "CompiledRuleset", "RunResult", "Report", "str"]
    s = Session([ROOT / "policies" / "mauritius"], as_of=AS_OF, profile=True)
    assert s.run_until("check") and list(s.products) == ["parse", "check"]
    assert [name for name, _, _ in s.profile.rows] == ["parse", "check"]
    s.render("json")
    assert list(s.products) == list(STAGE_NAMES)
    assert [name for name, _, _ in s.profile.rows] == list(STAGE_NAMES)
    assert json.loads(s.products["render"])["schema"] == "coherence-report/1"


def test_errors_stop_the_run_after_their_stage(tmp_path):
    (tmp_path / "bad.policy").write_text("jurisdiction MU { level: nationl }\n", encoding="utf-8")
    s = Session([tmp_path], as_of=AS_OF)
    assert s.run_until("check") is True  # lint reads a program that does not check
    assert s.stopped == "check" and [d.code for d in s.errors] == ["E301"]
    assert s.run_until("run") is False and s.result is None and "compile" not in s.products
    report = s.report
    assert report.findings == [] and [d.code for d in report.errors] == ["E301"]


def test_lint_stops_after_check_and_compiles_nothing():
    from coherence_rules.session import lint

    s = Session([ROOT / "policies" / "mauritius"])
    result = lint(s)
    assert not result.errors and result.program is not None
    assert set(s.products) == {"parse", "check"}


def test_sessions_share_rulesets_and_their_compiled_form():
    rules = Rulesets(None)
    a = Session([ROOT / "policies" / "mauritius"], rules=rules, as_of=AS_OF)
    b = Session([ROOT / "policies" / "sweden"], rules=rules, as_of=AS_OF)
    assert a.compiled is b.compiled is rules.alone().compiled
    assert a.report.findings and b.report.findings
    # a set with criteria of its own is compiled on its own
    own = Session([ROOT / "tests" / "fixtures" / "language"], rules=rules, as_of=AS_OF)
    assert own.workspace.brings_rules()
    assert own.compiled is not None and own.compiled is not rules.alone().compiled


def test_with_joins_reference_facts_without_reporting_them():
    without = coherence_rules.check([UK / "v1"], as_of=AS_OF, raise_on_error=False)
    assert [d.code for d in without.errors] == ["E203"]
    assert without.errors[0].help == "NGA is defined in the shipped WHO safeguards list: add `--with policies/reference`"
    report = coherence_rules.check([UK / "v1"], with_=[ROOT / "policies" / "reference"], as_of=AS_OF)
    assert not report.errors
    assert sorted(f.criterion for f in report.findings) == ["GENDER-NO-ANALYSIS", "WHO-SAFEGUARD"]
    assert report.facts == 7  # the set's own facts: the 54 countries of the list are not counted
    doc = report.to_dict()
    assert all(i.startswith(str(UK / "v1")) or "fixtures/uk/v1" in i for i in doc["inputs"])
    assert any(r.endswith("who-ssl-2023.policy") for r in doc["references"])


def test_with_reference_names_the_shipped_copy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no policies/reference here
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "r.policy").write_text((UK / "v1" / "recruitment.policy").read_text(encoding="utf-8"),
                                                encoding="utf-8")
    r = invoke("check", "set", "--as-of", "2026-11-23")
    assert r.exit_code == 2 and "add `--with reference`" in r.output
    r = invoke("check", "set", "--with", "reference", "--as-of", "2026-11-23")
    assert r.exit_code == 1 and "conflict[WHO-SAFEGUARD]" in r.output


def test_diff_with_reference_facts_on_both_sides(monkeypatch):
    monkeypatch.chdir(ROOT)
    r = invoke("diff", "tests/fixtures/uk/v1", "tests/fixtures/uk/v2", "--with", "policies/reference",
               "--as-of", "2026-11-23", "-f", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [f["criterion"] for f in doc["resolved"]] == ["WHO-SAFEGUARD"]
    assert doc["new_findings"] == []
    # the same two versions as lists of paths, split at --
    r = invoke("diff", "--with", "policies/reference", "--as-of", "2026-11-23", "-f", "json",
               "tests/fixtures/uk/v1/recruitment.policy", "--", "tests/fixtures/uk/v2/recruitment.policy")
    assert r.exit_code == 0, r.output
    assert [f["criterion"] for f in json.loads(r.stdout)["resolved"]] == ["WHO-SAFEGUARD"]
    r = invoke("diff", "tests/fixtures/uk/v1")
    assert r.exit_code == 2 and "give OLD and NEW" in r.output


def test_compare_parses_and_checks_each_side_once(monkeypatch):
    from coherence_rules import checker
    from coherence_rules import references
    from coherence_rules.commands import compare
    from coherence_rules.sources import loader

    parsed, checked = [], []
    real_load, real_check = loader.load_file, checker.check

    def counting_load(path, explicit, loaded, shown=None):
        parsed.append(Path(path).name)
        return real_load(path, explicit, loaded, shown)

    def counting_check(modules):
        checked.append(1)
        return real_check(modules)

    monkeypatch.setattr(loader, "load_file", counting_load)
    monkeypatch.setattr(checker, "check", counting_check)
    monkeypatch.setattr(references, "_FRAMEWORKS_READ", {})  # as in a new process
    monkeypatch.chdir(ROOT)
    result = compare.compare_sets("policies/mauritius", "policies/sweden", as_of=AS_OF)
    assert not result.errors
    files = sorted(p.name for p in (ROOT / "policies" / "mauritius").iterdir() if p.suffix in (".policy", ".md")) + \
        sorted(p.name for p in (ROOT / "policies" / "sweden").iterdir() if p.suffix in (".policy", ".md"))
    files += ["gcm-objectives.policy", "sdg-targets.policy"]  # the frameworks Mauritius names, joined once
    assert sorted(parsed) == sorted(files)  # every file of each side read once
    # the rulesets once alone (shared by both sides, compiled once) and each side once
    assert len(checked) == 3


def _golden_cases():
    return sorted(p for p in GOLDEN.iterdir() if (p / "cmd.txt").is_file())


@pytest.mark.parametrize("case", _golden_cases(), ids=lambda p: p.name)
def test_explain_on_every_golden_input_reports_never_crashes(case, monkeypatch):
    """`explain` runs the same stages as `check`: on any golden input it exits 0, 1 or 2, with a
    diagnostic when it cannot explain, never 3."""
    from tests.test_golden import _read_env

    env = _read_env(case)
    if env.get("COHERENCE_ENGINE_FAULT") == "hang":
        pytest.skip("an engine that never answers is stopped only by `batch --timeout`")
    args = shlex.split((case / "cmd.txt").read_text(encoding="utf-8"))
    paths = [a for a in args[1:] if not a.startswith("-") and Path(case / a).exists()] or ["."]
    monkeypatch.chdir(case)
    r = CliRunner().invoke(main, ["explain", "ADM-SECTOR", *paths, "--as-of", "2026-11-23"], env=env)
    assert r.exit_code in (0, 1, 2), r.output
    assert "internal error" not in r.output and "Traceback" not in r.output
    if r.exit_code == 2:
        assert "error[" in r.output


def test_explain_says_a_criterion_fired_when_it_fired(monkeypatch):
    monkeypatch.chdir(ROOT)
    r = invoke("explain", "ADM-SECTOR", "policies/mauritius", "--facts", "MU", "--as-of", "2026-11-23")
    assert r.exit_code == 0, r.output
    assert "ADM-SECTOR fired 1 time, but on none of MU" in r.output
    assert "did not fire" not in r.output and "residual" not in r.output
    assert "MU is a jurisdiction: no pattern of ADM-SECTOR matches a jurisdiction" in r.output


@pytest.mark.parametrize("stage", ["ast", "program", "compiled", "run"])
def test_dump_prints_a_stage_product_as_json(stage, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = invoke("check", "policies/mauritius", "--dump", stage, "--as-of", "2026-11-23")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    if stage == "ast":
        assert any(m["__node__"] == "Module" for m in data["modules"])
    elif stage == "program":
        assert {"facts", "criteria", "rules"} <= set(data)
        adm = next(c for c in data["criteria"] if c["code"] == "ADM-SECTOR")
        assert adm["patterns"][0]["cond"]["op"] == "AllOf"
        assert any(f["id"] == "WPR.7" for f in data["facts"])
    elif stage == "compiled":
        assert data["definition"] and all(name in data["disjuncts"] for name in data["definition"])
    else:
        assert any(m["criterion"] == "ADM-SECTOR" for m in data["matches"])
        assert all(d["derivations"] for d in data["derived"])


def test_dump_of_a_set_that_does_not_check(tmp_path):
    (tmp_path / "bad.policy").write_text("jurisdiction MU { level: nationl }\n", encoding="utf-8")
    r = invoke("check", str(tmp_path), "--dump", "run")
    assert r.exit_code == 2 and "error[E301]" in r.output
    r = invoke("check", str(tmp_path), "--dump", "ast")
    assert r.exit_code == 0 and json.loads(r.stdout)["modules"]


def test_profile_rows_are_the_stages_that_ran(monkeypatch):
    monkeypatch.chdir(ROOT)
    r = invoke("check", "policies/mauritius", "--profile", "-f", "json", "--as-of", "2026-11-23")
    rows = [line.split()[0] for line in r.stderr.splitlines()[2:] if line.strip() and not line[0].isdigit()]
    assert rows == list(STAGE_NAMES) + ["total"]
