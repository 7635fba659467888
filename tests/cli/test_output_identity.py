"""`check > file` and `check -o file` write the same bytes, whatever the text holds: click strips
escape sequences from a standard output that is not a terminal, so a title carrying them came out
different (the renderers, not the writer, decide what to escape: docs/security.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("fmt", ["csv", "json", "text", "markdown"])
def test_redirected_stdout_and_output_file_are_identical(tmp_path, fmt):
    set_dir = tmp_path / "mauritius"
    shutil.copytree(ROOT / "policies" / "mauritius", set_dir)
    policy = set_dir / "instruments.policy"
    text = policy.read_text(encoding="utf-8")
    title = '"Annual cap on work permits for foreign nurses"'
    assert title in text
    policy.write_text(text.replace(title, '"Annual cap \x1b[31mon\x1b[0m work permits for foreign nurses"', 1),
                      encoding="utf-8")
    command = [sys.executable, "-m", "coherence_rules.cli", "check", str(set_dir), "--format", fmt,
               "--as-of", "2026-11-23"]
    redirected = tmp_path / f"redirected.{fmt}"
    with open(redirected, "wb") as out:
        first = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, cwd=ROOT)
    written = tmp_path / f"written.{fmt}"
    second = subprocess.run(command + ["-o", str(written)], capture_output=True, cwd=ROOT)
    assert first.returncode == second.returncode == 1, (first.stderr, second.stderr)
    assert redirected.read_bytes() == written.read_bytes()
