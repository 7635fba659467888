"""Reading sources never blocks and never loses a file silently: a FIFO (or a device) put in a
file's place is refused without hanging, and symbolic links inside a policy set are followed,
each real folder once, with W406 for a link that loops back, repeats a folder or points to
nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from coherence_rules.cli import main
from coherence_rules.sources.loader import discover, read_text

ROOT = Path(__file__).resolve().parents[2]


def test_read_text_refuses_a_fifo_without_blocking(tmp_path):
    """The file is swapped for a FIFO between discovery and reading (discover saw a regular
    file): reading must not wait for a writer that never comes. In a child with a timeout."""
    fifo = tmp_path / "swapped.policy"
    os.mkfifo(fifo)
    code = textwrap.dedent(f"""
        from pathlib import Path
        from coherence_rules.sources.loader import read_text
        text, diags = read_text(Path({str(fifo)!r}), "swapped.policy")
        assert text is None and diags[0].code == "E110", diags
        assert "not a regular file" in diags[0].message, diags[0].message
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_read_text_bounds_the_size(tmp_path, monkeypatch):
    monkeypatch.setenv("COHERENCE_MAX_FILE_SIZE", "10")
    big = tmp_path / "big.policy"
    big.write_text("x" * 11)
    text, diags = read_text(big, "big.policy")
    assert text is None and diags[0].code == "E113"


def _set_with_linked_folder(tmp_path: Path) -> Path:
    """policies/set/ with its workforce objectives in a folder that is a link to a shared one."""
    shared = tmp_path / "shared-health"
    shutil.copytree(ROOT / "policies" / "mauritius", tmp_path / "set")
    shared.mkdir()
    moved = tmp_path / "set" / "health-strategy.md"
    shutil.move(str(moved), shared / "health-strategy.md")
    (tmp_path / "set" / "health").symlink_to(shared, target_is_directory=True)
    return tmp_path / "set"


def test_a_linked_folder_inside_a_set_is_read(tmp_path, monkeypatch):
    set_dir = _set_with_linked_folder(tmp_path)
    files, diags = discover([set_dir])
    assert any(p.name == "health-strategy.md" for p, _ in files)
    assert not diags
    monkeypatch.chdir(tmp_path)
    linked = CliRunner().invoke(main, ["check", "set", "--as-of", "2026-11-23", "--format", "json"])
    plain = CliRunner().invoke(main, ["check", str(ROOT / "policies" / "mauritius"), "--as-of", "2026-11-23",
                                      "--format", "json"])
    assert linked.exit_code == plain.exit_code == 1
    import json

    count = lambda out: len(json.loads(out[out.index("{"):])["findings"])  # noqa: E731
    assert count(linked.stdout) == count(plain.stdout) > 0


def test_links_that_loop_repeat_or_point_nowhere_are_skipped_with_w406(tmp_path):
    set_dir = tmp_path / "set"
    (set_dir / "a").mkdir(parents=True)
    (set_dir / "a" / "x.policy").write_text('jurisdiction MU "M" { level: national }\n')
    (set_dir / "a" / "loop").symlink_to("..", target_is_directory=True)
    (set_dir / "b").symlink_to("a", target_is_directory=True)
    (set_dir / "gone.policy").symlink_to("missing.policy")
    files, diags = discover([set_dir])
    assert [p.relative_to(set_dir).as_posix() for p, _ in files] == ["a/x.policy"]
    messages = sorted(d.message for d in diags)
    assert [d.code for d in diags] == ["W406"] * 3, messages
    assert any("set/a/loop" in m and "already read" in m for m in messages)
    assert any("set/b" in m and "already read" in m for m in messages)
    assert any("gone.policy" in m and "points to nothing" in m for m in messages)
