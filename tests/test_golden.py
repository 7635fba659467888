"""Golden tests of the diagnostics: one case per code of the registry.

``tests/golden/<CODE>/`` holds the input files of one typical mistake, ``cmd.txt`` (the command
line, run with the case directory as working directory so paths in the output are relative),
optionally ``env.txt`` (``NAME=value`` lines) and ``expected.txt``, the exact output. The test is
parametrised over :data:`coherence_rules.diagnostics.CODES`, so a new code without a golden case
fails. ``pytest --update-golden`` rewrites the expected files from the current output; review the
diff before committing it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main
from coherence_rules.diagnostics import CODES, codes_markdown

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).parent.parent

#: The stage that reports a code: `lint` reads and checks, `check` also runs the rules.
RUN_TIME_CODES = {"W402", "W408", "E220", "E501", "E502"}
#: Codes only `batch` reports (a set's time limit, a directory of sets given as one set).
BATCH_CODES = {"E503", "W413"}


def _read_env(case: Path) -> dict[str, str]:
    env = {}
    path = case / "env.txt"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                name, _, value = line.strip().partition("=")
                env[name] = value
    return env


def run_case(case: Path, monkeypatch) -> tuple[str, int, object]:
    args = shlex.split((case / "cmd.txt").read_text(encoding="utf-8"))
    monkeypatch.chdir(case)
    result = CliRunner().invoke(main, args, env=_read_env(case))
    return result.output, result.exit_code, result.exception


@pytest.mark.parametrize("code", sorted(CODES))
def test_golden(code, request, monkeypatch):
    case = GOLDEN / code
    assert (case / "cmd.txt").is_file(), f"no golden case for {code}: add tests/golden/{code}/ (see this module's docstring)"
    output, exit_code, exception = run_case(case, monkeypatch)
    assert exception is None or isinstance(exception, SystemExit), f"{code}: {exception!r}"
    expected_file = case / "expected.txt"
    if request.config.getoption("--update-golden"):
        expected_file.write_text(output, encoding="utf-8", newline="\n")
    assert f"[{code}]" in output, f"{code} is not reported by its golden case:\n{output}"
    assert "Traceback" not in output
    assert exit_code == (2 if CODES[code].severity == "error" else 0), output
    assert expected_file.is_file(), f"run pytest --update-golden to create {expected_file}"
    assert output == expected_file.read_text(encoding="utf-8")


def test_golden_cases_use_the_right_command():
    """Run-time codes come from `check`, a batch's time limit from `batch`; every other code from
    `lint` alone."""
    for case in sorted(p for p in GOLDEN.iterdir() if p.is_dir()):
        assert case.name in CODES, f"golden case {case.name} has no code in the registry"
        command = shlex.split((case / "cmd.txt").read_text(encoding="utf-8"))[0]
        expected = "batch" if case.name in BATCH_CODES else "check" if case.name in RUN_TIME_CODES else "lint"
        assert command == expected, case.name


@pytest.mark.parametrize("code", sorted(CODES))
def test_code_is_documented(code):
    doc = CODES[code]
    assert doc.code == code
    assert doc.severity == ("warning" if code.startswith("W") else "error")
    for part in ("title", "explanation", "example", "fix"):
        assert getattr(doc, part).strip(), f"{code} has an empty {part}"


def test_diagnostics_page_is_generated_from_the_registry():
    page = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    assert page == codes_markdown(), "regenerate it: python -m coherence_rules.commands.docs ."
