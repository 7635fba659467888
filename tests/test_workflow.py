"""The analyst's workflow around the commands: the pre-commit hooks of ``.pre-commit-hooks.yaml``,
run by pre-commit itself in a policy repository (a good policy set passes both hooks, an error
fails `coherence lint`, a file out of layout fails `coherence fmt --check`), the CI guide, and
what `make demo` installs.

The hooks are taken from a copy of this checkout committed to a temporary git repository (so
what is tested is the working tree, committed or not, and this checkout's git state is never
touched). pre-commit is installed into the running environment when it is missing; the test skips,
saying why, when it cannot be installed or cannot build the hooks' environment (no network).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: What `pip install .` of the hooks' repository needs (the package and its data).
PROJECT_FILES = (".pre-commit-hooks.yaml", "pyproject.toml", "README.md", "cli.py")
PROJECT_DIRS = ("coherence_rules", "grammar", "rulesets", "policies/reference")

GOOD = '''jurisdiction MU "Republic of Mauritius" { level: national }

instrument WPR "Work Permit Regulations" { kind: regulation  jurisdiction: MU }
'''
WRONG_REFERENCE = 'measure WPR.7 "A cap" { instrument: WPR-2  area: admission  effect: restrict }\n'
OUT_OF_LAYOUT = 'measure WPR.7 "A cap" {instrument: WPR   area: admission effect: restrict}\n'


def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    return subprocess.run(["git", "-c", "user.name=coherence tests", "-c", "user.email=tests@example.invalid",
                           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                          cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _ensure_pre_commit() -> None:
    try:
        import pre_commit  # noqa: F401
        return
    except ImportError:
        pass
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "pre-commit"], check=True,
                       capture_output=True, text=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        pytest.skip(f"pre-commit is not installed and could not be installed from PyPI: {e}")


def _hooks_repository(tmp: Path) -> tuple[Path, str]:
    """This checkout's package and hooks, committed to a repository of their own: (path, commit)."""
    repo = tmp / "coherence"
    repo.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, repo / name)
    for name in PROJECT_DIRS:
        shutil.copytree(ROOT / name, repo / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "coherence hooks under test")
    return repo, _git(repo, "rev-parse", "HEAD").strip()


def _pre_commit(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
               PRE_COMMIT_COLOR="never", COHERENCE_NO_CACHE="1")
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_pre_commit_hooks_pass_a_good_set_and_fail_a_bad_one(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    _ensure_pre_commit()
    hooks, rev = _hooks_repository(tmp_path)
    policies = tmp_path / "policies"
    (policies / "set").mkdir(parents=True)
    (policies / "set" / "instruments.policy").write_text(GOOD, encoding="utf-8")
    (policies / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks}\n    rev: {rev}\n    hooks:\n"
        "      - id: coherence-lint\n      - id: coherence-fmt-check\n", encoding="utf-8")
    _git(policies, "init", "-q")
    _git(policies, "add", "-A")
    home = tmp_path / "pre-commit-home"

    installed = _pre_commit(policies, home, "install-hooks")
    if installed.returncode != 0:
        pytest.skip("pre-commit could not build the hooks' environment (pip install of coherence-rules and its "
                    f"dependencies): {(installed.stdout + installed.stderr)[-600:]}")

    good = _pre_commit(policies, home, "run", "--all-files")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "coherence lint" in good.stdout and "coherence fmt --check" in good.stdout
    assert "Failed" not in good.stdout

    # an unknown reference, laid out canonically: lint fails, fmt passes
    (policies / "set" / "measures.policy").write_text(WRONG_REFERENCE, encoding="utf-8")
    _git(policies, "add", "-A")
    bad = _pre_commit(policies, home, "run", "--all-files")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    lint_line = next(line for line in bad.stdout.splitlines() if line.startswith("coherence lint"))
    fmt_line = next(line for line in bad.stdout.splitlines() if line.startswith("coherence fmt --check"))
    assert lint_line.endswith("Failed") and fmt_line.endswith("Passed"), bad.stdout
    assert "error[E203]: unknown instrument 'WPR-2'" in bad.stdout

    # the reference fixed, but out of layout: fmt fails (and names the file), lint passes
    (policies / "set" / "measures.policy").write_text(OUT_OF_LAYOUT, encoding="utf-8")
    _git(policies, "add", "-A")
    messy = _pre_commit(policies, home, "run", "--all-files")
    assert messy.returncode == 1, messy.stdout + messy.stderr
    lint_line = next(line for line in messy.stdout.splitlines() if line.startswith("coherence lint"))
    fmt_line = next(line for line in messy.stdout.splitlines() if line.startswith("coherence fmt --check"))
    assert lint_line.endswith("Passed") and fmt_line.endswith("Failed"), messy.stdout
    assert "would reformat set/measures.policy" in messy.stdout


def test_the_hooks_file_names_the_commands_the_docs_describe():
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "entry: coherence lint\n" in text and "entry: coherence fmt --check\n" in text
    assert text.count("language: python") == 2
    assert text.count(r"files: \.(policy|rules|md|csv)$") == 2
    ci = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    for hook in ("coherence-lint", "coherence-fmt-check"):
        assert f"id: {hook}" in text and hook in ci
    assert "github/codeql-action/upload-sarif" in ci and "--format sarif --output coherence.sarif" in ci


def test_make_demo_installs_the_package_without_the_test_extras(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    plan = subprocess.run(["make", "-n", "demo", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    installs = [line for line in plan.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert installs == [f"{venv}/bin/python -m pip install --quiet -e ."], plan
    plan = subprocess.run(["make", "-n", "test", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    assert "-e '.[test,html]'" in plan
