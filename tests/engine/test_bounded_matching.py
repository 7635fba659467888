"""The cost of matching is bounded: `matches` runs on RE2 (linear time: a pattern that makes a
backtracking engine run forever returns at once, and what RE2 cannot do is an E214 at lint
time), patterns that join nothing are W407 at lint time, and a criterion's findings are capped
(W408) so that a cross product cannot make a report of hundreds of megabytes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main

ROOT = Path(__file__).resolve().parents[2]

PREAMBLE = 'jurisdiction MU "M" { level: national }\ninstrument I "i" { kind: law  jurisdiction: MU }\n'


def _criterion(when: str, message: str = "{m}") -> str:
    return (f'ruleset t "T" {{ version: "1" }}\n'
            f'criterion C "c" {{ dimension: internal  score: -1  source: "s"  message: "{message}"  advice: "a"\n'
            f'  when {{ {when} }} }}\n')


def test_a_catastrophic_pattern_returns_at_once(tmp_path):
    (tmp_path / "redos.rules").write_text(_criterion('m: measure where cite matches "^(a+)+$"'))
    (tmp_path / "set.policy").write_text(
        PREAMBLE + f'measure M "m" {{ instrument: I  area: admission  effect: restrict  cite: "{"a" * 34}b" }}\n'
        + f'measure N "n" {{ instrument: I  area: admission  effect: restrict  cite: "{"a" * 5000}" }}\n')
    proc = subprocess.run([sys.executable, "-m", "coherence_rules.cli", "check", "set.policy", "-r", "redos.rules",
                           "--format", "json"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COHERENCE_NO_CACHE": "1"})
    assert proc.returncode == 1, proc.stderr
    assert [f["facts"] for f in json.loads(proc.stdout)["findings"]] == [["N"]]


@pytest.mark.parametrize("pattern, supported", [
    (r"^reg\\. 7", True), (r"(?i)nurse", True), (r"\\bcap\\b", True), (r"^[A-Z]{2}\\d+$", True),
    (r"(a)\\1", False), (r"nurse(?=s)", False), (r"(?<!x)y", False),
])
def test_what_re2_cannot_do_is_e214_at_lint_time(tmp_path, pattern, supported):
    (tmp_path / "r.rules").write_text(_criterion(f'm: measure where cite matches "{pattern}"'))
    result = CliRunner().invoke(main, ["lint", str(tmp_path / "r.rules")])
    if supported:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2 and "E214" in result.output and "not supported" in result.output, result.output
        assert "RE2" in result.output  # the help says why


def test_patterns_that_join_nothing_are_w407(tmp_path):
    path = tmp_path / "r.rules"
    path.write_text(_criterion("a: measure  b: measure where effect == restrict  c: objective", "{a}"))
    result = CliRunner().invoke(main, ["lint", str(path)])
    assert result.exit_code == 0 and result.output.count("W407") == 1, result.output
    related = _criterion("a: measure  b: measure where instrument == a.instrument  "
                         "not objective where instrument == b.instrument", "{a}")
    path.write_text(related)
    assert "W407" not in CliRunner().invoke(main, ["lint", str(path)]).output
    # a `not` relating the two positives does not bound their cross product
    path.write_text(_criterion("a: measure  b: measure  not objective where instrument == a.instrument "
                               "and instrument == b.instrument", "{a}"))
    assert "W407" in CliRunner().invoke(main, ["lint", str(path)]).output


def test_the_shipped_rulesets_have_no_cross_product():
    result = CliRunner().invoke(main, ["lint", str(ROOT / "rulesets")])
    assert "W407" not in result.output


def test_findings_are_capped_per_criterion(tmp_path, monkeypatch):
    (tmp_path / "cross.rules").write_text(_criterion("a: measure  b: measure  c: measure", "{a} {b} {c}"))
    lines = [f'measure M{i:02d} "m" {{ instrument: I  area: admission  effect: restrict }}' for i in range(60)]
    (tmp_path / "cross.policy").write_text(PREAMBLE + "\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COHERENCE_MAX_FINDINGS", "500")
    result = CliRunner().invoke(main, ["check", "cross.policy", "-r", "cross.rules", "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert len(report["findings"]) == 500
    (w,) = [d for d in report["diagnostics"] if d["code"] == "W408"]
    assert "33,720" in w["message"]  # C(60, 3) = 34,220 findings, 500 kept
    # the same 500 whatever the order of the facts
    (tmp_path / "cross.policy").write_text(PREAMBLE + "\n".join(reversed(lines)) + "\n")
    again = json.loads(CliRunner().invoke(main, ["check", "cross.policy", "-r", "cross.rules",
                                                 "--format", "json"]).stdout)
    assert {f["fingerprint"] for f in again["findings"]} == {f["fingerprint"] for f in report["findings"]}


def test_the_default_cap_is_ten_thousand(monkeypatch):
    from coherence_rules import engine

    monkeypatch.delenv("COHERENCE_MAX_FINDINGS", raising=False)
    assert engine.max_findings() == engine.DEFAULT_MAX_FINDINGS == 10_000
    monkeypatch.setenv("COHERENCE_MAX_FINDINGS", "nonsense")
    assert engine.max_findings() == 10_000
