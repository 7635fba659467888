"""The outputs quoted in the shipped sets' READMEs are what the command prints today.

Each README of ``policies/`` that quotes "`coherence check PATH --as-of DATE`" followed by an
indented block shows each finding by its heading and its message, then the summary line. A
change of a criterion's message, of the facts or of the ruleset that leaves a README quoting the
old output fails here; ``pytest tests/test_example_readmes.py --update-golden`` rewrites the blocks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main

ROOT = Path(__file__).resolve().parent.parent
COMMAND = re.compile(r"^`coherence check (\S+) --as-of (\d{4}-\d\d-\d\d)`")
READMES = sorted(p for p in (ROOT / "policies").rglob("README.md") if any(
    COMMAND.match(line) for line in p.read_text(encoding="utf-8").splitlines()))


def quoted_blocks(lines: list[str]):
    """``(command line index, block start, block end, path, date)`` of each quoted output."""
    for i, line in enumerate(lines):
        m = COMMAND.match(line)
        if not m:
            continue
        start = i + 1
        while start < len(lines) and not lines[start].startswith("    "):
            start += 1
        end = start
        while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
            end += 1
        while end > start and not lines[end - 1].strip():
            end -= 1
        yield i, start, end, m.group(1), m.group(2)


def abbreviated(path: str, as_of: str, monkeypatch) -> list[str]:
    """The text report of ``path``: each finding's heading and message, and the summary."""
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["check", path, "--as-of", as_of])
    assert result.exit_code in (0, 1), result.output
    out, lines = [], result.output.splitlines()
    for k, line in enumerate(lines):
        if re.match(r"^(conflict|synergy)\[", line):
            out.append(line)
            message = next(x for x in lines[k + 1:] if x.startswith("   = "))
            out.append(message)
    out.append(lines[-1])
    return ["    " + x for x in out]


def test_every_set_with_quoted_output_is_found():
    names = {p.parent.name for p in READMES}
    assert {"ss-nl-tunisia-1978", "nl-greece-1966", "benelux-labour-treaty-1956"} <= names


@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.parent.name)
def test_quoted_output_is_current(readme, request, monkeypatch):
    text = readme.read_text(encoding="utf-8")
    lines = text.split("\n")
    blocks = list(quoted_blocks(lines))
    assert blocks, f"{readme} quotes no output block"
    for _, start, end, path, as_of in reversed(blocks):
        expected = abbreviated(path, as_of, monkeypatch)
        if request.config.getoption("--update-golden"):
            lines[start:end] = expected
            continue
        assert lines[start:end] == expected, f"{readme.relative_to(ROOT)} quotes old output of {path}"
    if request.config.getoption("--update-golden"):
        readme.write_text("\n".join(lines), encoding="utf-8", newline="\n")
