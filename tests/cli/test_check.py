"""`coherence check` through click's runner: exit codes, formats, settings, accepts, determinism."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main

ROOT = Path(__file__).resolve().parents[2]
LANG = ROOT / "tests" / "fixtures" / "language"
MAURITIUS = ROOT / "policies" / "mauritius"


def invoke(*args, **kw):
    runner = CliRunner()
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False, **kw)


@pytest.fixture(autouse=True)
def _cwd(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_language_examples_lint_clean():
    """Every example of LANGUAGE.md (the facts, the accept, the Markdown block, the analyst's
    extension, the test) lints clean with the built-in schema and core ruleset."""
    r = invoke("lint", LANG)
    assert r.exit_code == 0, r.output
    assert "no problems found" in r.output


def test_language_example_finds_the_conflict_and_its_accept_applies_until_its_date():
    before = invoke("check", LANG / "mauritius.policy", "--format", "json", "--as-of", "2026-12-31")
    after = invoke("check", LANG / "mauritius.policy", "--format", "json", "--as-of", "2027-01-01")
    f_before = [f for f in json.loads(before.stdout)["findings"] if f["criterion"] == "ADM-SECTOR"]
    f_after = [f for f in json.loads(after.stdout)["findings"] if f["criterion"] == "ADM-SECTOR"]
    assert [f["facts"] for f in f_before] == [["HSS.2.1", "WPR.7"]]
    assert f_before[0]["status"] == "accepted"       # `until` still applies on that day
    assert f_after[0]["status"] == "expired"         # and counts like open after it
    assert f_after[0]["acceptance"]["until"] == "2026-12-31"
    # LABOUR-NO-EVIDENCE (-1, open) fails both runs; the expired ADM-SECTOR fails the second too
    assert before.exit_code == 1 and after.exit_code == 1
    loc = f_before[0]["location"]
    assert loc == {"file": "tests/fixtures/language/mauritius.policy", "line": 26, "column": 1}


def test_markdown_block_keeps_the_markdown_lines():
    r = invoke("check", LANG / "health-strategy.md", LANG / "mauritius.policy", "--format", "json",
               "--as-of", "2026-01-01")
    report = json.loads(r.stdout)
    obj = [d for f in report["findings"] for d in f["fact_details"] if d["id"] == "HSS.4.3"]
    assert obj and obj[0]["location"] == {"file": "tests/fixtures/language/health-strategy.md", "line": 7, "column": 1}


def test_text_output_shows_the_finding_and_its_proof():
    r = invoke("check", MAURITIUS, "--explain", "--as-of", "2026-11-23")
    assert r.exit_code == 1
    assert "conflict[ADM-SECTOR]" in r.output
    assert "--> policies/mauritius/instruments.policy:93:1" in r.output
    assert "├─ o: objective = HSS.2.1 (policies/mauritius/health-strategy.md:32)" in r.output
    assert "absent: no lead_cover where area == remittances and jurisdiction == MU" in r.output


@pytest.mark.parametrize("fmt", ["json", "sarif", "csv"])
def test_machine_formats_write_only_the_report_to_stdout(fmt, tmp_path):
    # a stale accept adds a warning, which must go to stderr only
    src = tmp_path / "set.policy"
    src.write_text((LANG / "mauritius.policy").read_text().replace("WPR.7]", "WPR.7, HSS]").replace(
        "ADM-SECTOR on", "SILO on"), encoding="utf-8")
    r = invoke("check", src, "--format", fmt, "--as-of", "2026-01-01")
    assert "W402" in r.stderr
    assert "W402" not in r.stdout or fmt != "csv"
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        assert {row["criterion"] for row in rows} >= {"ADM-SECTOR", "LABOUR-NO-EVIDENCE"}
        assert rows[0].keys() >= {"fingerprint", "score", "status", "file", "line", "facts"}
    else:
        doc = json.loads(r.stdout)  # nothing but the report
        if fmt == "sarif":
            assert doc["version"] == "2.1.0"
            results = doc["runs"][0]["results"]
            assert any(x["ruleId"] == "ADM-SECTOR" for x in results)
            assert any(x["ruleId"] == "W402" for x in results)  # diagnostics go into the report too
        else:
            assert doc["schema"] == "coherence-report/1"
            assert [d["code"] for d in doc["diagnostics"]] == ["W402"]


def test_table_and_markdown_formats():
    t = invoke("check", MAURITIUS, "--format", "table", "--as-of", "2026-11-23")
    assert "ADM-SECTOR" in t.stdout and "criterion" in t.stdout.splitlines()[0]
    m = invoke("check", MAURITIUS, "--format", "markdown", "--as-of", "2026-11-23")
    assert m.stdout.startswith("# Coherence report")
    assert "| ADM-SECTOR | -2 counteracting |" in m.stdout


def test_html_format_writes_one_self_contained_file(tmp_path):
    out = tmp_path / "report.html"
    r = invoke("check", MAURITIUS, "--format", "html", "--output", out, "--as-of", "2026-11-23")
    assert r.exit_code == 1
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "ADM-SECTOR" in html and "http://" not in html.split("<body")[0]


def test_fail_on_threshold():
    # the worst open finding in the demo is -2
    assert invoke("check", MAURITIUS, "--fail-on", "-3", "--as-of", "2026-11-23").exit_code == 0
    assert invoke("check", MAURITIUS, "--fail-on", "-2", "--as-of", "2026-11-23").exit_code == 1


def test_settings_from_coherence_toml(tmp_path, monkeypatch):
    (tmp_path / "coherence.toml").write_text('format = "json"\nfail_on = -3\nas_of = "2026-11-23"\n')
    (tmp_path / "set.policy").write_text((LANG / "mauritius.policy").read_text(), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    r = invoke("check", "set.policy")
    assert r.exit_code == 0                      # fail_on -3 from the file
    assert json.loads(r.stdout)["as_of"] == "2026-11-23"


def test_settings_from_pyproject_and_bad_settings(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.coherence]\nruleset = ["core"]\nformat = "csv"\n')
    (tmp_path / "set.policy").write_text((LANG / "mauritius.policy").read_text(), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert invoke("check", "set.policy").stdout.startswith("fingerprint,criterion")
    (tmp_path / "coherence.toml").write_text('colour = "blue"\n')
    r = invoke("check", "set.policy")
    assert r.exit_code == 2 and "unknown setting 'colour'" in r.output


def test_bad_input_exits_2_with_diagnostics(tmp_path):
    bad = tmp_path / "bad.policy"
    bad.write_text('jurisdiction MU { level: nationl }\n')
    r = invoke("check", bad)
    assert r.exit_code == 2
    assert "error[E301]: unknown value 'nationl' for field 'level'" in r.stderr
    assert "did you mean 'national'?" in r.stderr


def test_unknown_ruleset_and_bad_date():
    r = invoke("check", MAURITIUS, "--ruleset", "cor")
    assert r.exit_code == 2 and "E213" in r.stderr and "did you mean 'core'?" in r.stderr
    r = invoke("check", MAURITIUS, "--as-of", "2026-13-01")
    assert r.exit_code == 2 and "invalid date" in r.output


def test_ruleset_options_combine(tmp_path):
    extra = tmp_path / "mine.rules"
    extra.write_text('''ruleset mine "Extra" { version: "1" }
criterion NURSE-CAP "Any cap on nurses" { dimension: horizontal  score: -1  source: "analyst"
  when { m: measure where occupation == nurse and effect == restrict }
  message: "{m} caps nurses"  advice: "Review it." }
''')
    text = (LANG / "mauritius.policy").read_text()
    policy = tmp_path / "set.policy"
    policy.write_text(text[:text.index("accept ADM-SECTOR")])  # the accept names a core criterion
    only = json.loads(invoke("check", policy, "--ruleset", extra, "--format", "json").stdout)
    both = json.loads(invoke("check", policy, "--ruleset", "core", "--ruleset", extra,
                             "--format", "json").stdout)
    # with only the analyst's ruleset, a core criterion in an accept is an unknown criterion
    r = invoke("check", LANG / "mauritius.policy", "--ruleset", extra)
    assert r.exit_code == 2 and "E211" in r.stderr
    assert {f["criterion"] for f in only["findings"]} == {"NURSE-CAP"}
    assert {"NURSE-CAP", "ADM-SECTOR"} <= {f["criterion"] for f in both["findings"]}
    assert [r["name"] for r in both["rulesets"]] == ["core", "mine"]


def _json_run(args, seed: str) -> bytes:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    p = subprocess.run([sys.executable, "-m", "coherence_rules.cli", *args], cwd=ROOT, env=env,
                       capture_output=True, check=False)
    assert p.returncode in (0, 1), p.stderr.decode()
    return p.stdout


def test_json_is_byte_identical_whatever_hash_seed_and_file_order():
    files = sorted(str(p.relative_to(ROOT)) for p in MAURITIUS.iterdir() if p.suffix in (".md", ".policy"))
    a = _json_run(["check", *files, "--format", "json", "--as-of", "2026-11-23"], "1")
    b = _json_run(["check", *reversed(files), "--format", "json", "--as-of", "2026-11-23"], "4242")
    assert a == b and b"ADM-SECTOR" in a


def test_profile_prints_stages():
    import re

    r = invoke("check", MAURITIUS, "--profile", "--as-of", "2026-11-23")
    assert "peak RSS +KiB" in r.stderr
    for stage in ("parse", "check", "compile", "run", "findings", "render"):
        # a row per stage: its name, milliseconds, and the growth of peak memory in KiB
        assert re.search(rf"^{stage}\s+\d+\.\d\s+[\d,]+$", r.stderr, re.M), (stage, r.stderr)
    assert re.search(r"^41 facts, 26 derived; [\d,]+ facts/s$", r.stderr, re.M), r.stderr


def test_version_and_help():
    r = invoke("--version")
    assert r.output.startswith("coherence, version 0.2.0")
    for cmd in ("check", "lint", "fmt", "test", "explain", "criteria", "import"):
        h = invoke(cmd, "--help")
        assert h.exit_code == 0 and "Usage: main" not in h.output or "Usage:" in h.output


def test_a_command_runs_without_the_cycle_collector_and_restores_it(monkeypatch):
    """The collector is off while a one-shot command runs (it only slowed it) and on again once
    it has ended, for a caller that goes on (this test process)."""
    import gc

    from coherence_rules.session import Session
    from tests.clirunner import invoke

    seen = []
    real = Session.render

    def render(self, *a, **k):
        seen.append(gc.isenabled())
        return real(self, *a, **k)

    monkeypatch.setattr(Session, "render", render)
    assert gc.isenabled()
    result = invoke("check", str(MAURITIUS), "--as-of", "2026-11-23")
    assert result.exit_code == 1, result.stderr
    assert seen == [False]
    assert gc.isenabled()
