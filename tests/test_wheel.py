"""The wheel works outside the repository: grammar, rulesets and templates ship inside the package
and are found through it, and no generic top-level module is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # build from a copy so the build leaves nothing in the working tree
    src = tmp_path_factory.mktemp("src") / "coherence"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "*.egg-info", "build", "dist", "__pycache__", ".hypothesis", ".pytest_cache", "artifacts"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    wheels = list(out.glob("coherence_rules-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("coherence_rules/cli.py", "coherence_rules/grammar/coherence.lark",
                   "coherence_rules/rulesets/schema.rules", "coherence_rules/rulesets/core.rules",
                   "coherence_rules/render/templates/report.html.j2", "coherence_rules/reference/who-ssl-2023.policy"):
        assert needed in names, needed
    assert not [n for n in names if "/" not in n and n.endswith(".py")], "no top-level modules"
    assert not [n for n in names if n.startswith(("tests/", "bench/", "policies/"))]


def test_installed_wheel_lints_and_checks_outside_the_repository(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    # dependencies come from the same versions as the development environment (pip's cache)
    proc = subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "permits.policy").write_text(
        'jurisdiction MU "Republic of Mauritius" { level: national }\n'
        'instrument HSS "Health Sector Strategic Plan" { kind: strategy  jurisdiction: MU }\n'
        'instrument WPR "Work Permit Regulations" { kind: regulation  jurisdiction: MU }\n'
        'objective HSS.2.1 "Expand the nursing workforce" { instrument: HSS  aim: increase  target: workforce\n'
        '  occupation: nurse  indicator: "nurses per 1,000 inhabitants" }\n'
        'measure WPR.7 "Cap on work permits for foreign nurses" { instrument: WPR  area: admission  effect: restrict\n'
        '  occupation: nurse  evidence: "2019 labour market survey" }\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    coherence = venv / "bin" / "coherence"
    lint = subprocess.run([str(coherence), "lint", "permits.policy"], cwd=work, capture_output=True, text=True, env=env)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "no problems found" in lint.stdout
    check = subprocess.run([str(coherence), "check", "permits.policy", "--as-of", "2026-11-23"], cwd=work,
                           capture_output=True, text=True, env=env)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "conflict[ADM-SECTOR]" in check.stdout
    # the shipped reference facts, named `reference` where no such path exists
    (work / "recruit").mkdir()
    (work / "recruit" / "nhs.policy").write_text(
        'jurisdiction ENG "England" { level: subnational }\n'
        'instrument NHS-IR "NHS international recruitment programme" { kind: programme  jurisdiction: ENG }\n'
        'measure NHS-IR.3 "Recruit registered nurses abroad" { instrument: NHS-IR  area: recruitment\n'
        '  effect: facilitate  occupation: nurse  origin: [NGA]  evidence: "NHS workforce plan" }\n', encoding="utf-8")
    who = subprocess.run([str(coherence), "check", "recruit", "--with", "reference", "--as-of", "2026-11-23"],
                         cwd=work, capture_output=True, text=True, env=env)
    assert who.returncode == 1 and "conflict[WHO-SAFEGUARD]" in who.stdout, who.stdout + who.stderr
    where = subprocess.run([str(py), "-c", "import coherence_rules, sys; print(coherence_rules.__file__)"],
                           cwd=work, capture_output=True, text=True, env=env)
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout
