"""`coherence import` writes only inside its output directory, never through a symbolic link
(with or without --force), all or nothing, and names taken from the data cannot add lines or
path parts to what it writes."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

import coherence_rules.importers as importers
from coherence_rules.cli import main
from coherence_rules.importers import ImportFailure, OutputExists, comment_text, run_import, safe_file_name
from tests.importers.test_importers import DEMIG, tree, write

INVENTORY = "type,id,title,level\njurisdiction,MU,Mauritius,national\n"


def test_a_link_planted_in_the_output_is_never_written_through(tmp_path):
    src = write(tmp_path / "inv.csv", INVENTORY)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    (out / "inv.policy").symlink_to(victim)  # dangling: the old writer created the victim
    with pytest.raises(ImportFailure, match="symbolic link") as caught:
        run_import("csv", src, out)
    assert caught.value.file == str(out / "inv.policy")
    assert not victim.exists()
    victim.write_text("precious\n")
    with pytest.raises(ImportFailure, match="symbolic link"):
        run_import("csv", src, out, force=True)
    assert victim.read_text() == "precious\n" and (out / "inv.policy").is_symlink()


def test_a_linked_folder_in_the_output_is_refused(tmp_path):
    src = write(tmp_path / "demig.csv", DEMIG)
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "DEU").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ImportFailure, match="symbolic link"):
        run_import("demig", src, out, force=True)
    assert list(elsewhere.iterdir()) == [] and sorted(p.name for p in out.iterdir()) == ["DEU"]


def test_a_failed_import_writes_nothing(tmp_path):
    """The second country's file is in the way (a directory): the first country is not written
    either, as docs/importers.md promises."""
    src = write(tmp_path / "demig.csv", DEMIG)
    out = tmp_path / "out"
    (out / "TUR" / "demig.policy").mkdir(parents=True)
    with pytest.raises(ImportFailure, match="not a regular file"):
        run_import("demig", src, out, force=True)
    assert tree(out) == {} and sorted(p.name for p in out.iterdir()) == ["TUR"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_failure_while_moving_puts_everything_back(tmp_path, monkeypatch):
    src = write(tmp_path / "demig.csv", DEMIG)
    out = tmp_path / "out"
    run_import("demig", src, out)
    before = tree(out)
    (out / "TUR" / "notes.txt").write_text("mine\n")
    real_replace = os.replace
    calls = {"n": 0}

    def failing(a, b):
        calls["n"] += 1
        if calls["n"] == 5:  # in the middle of moving the new files into place
            raise OSError(28, "No space left on device")
        return real_replace(a, b)

    monkeypatch.setattr(importers.os, "replace", failing)
    with pytest.raises(ImportFailure, match="nothing was written"):
        run_import("demig", write(tmp_path / "demig.csv", DEMIG.replace("1913", "1914")), out, force=True)
    monkeypatch.undo()
    assert tree(out) == {**before, "TUR/notes.txt": b"mine\n"}
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_a_new_output_directory_appears_whole(tmp_path):
    src = write(tmp_path / "demig.csv", DEMIG)
    out = tmp_path / "a" / "out"
    written = run_import("demig", src, out)
    assert sorted(p.relative_to(out).as_posix() for p in written) == sorted(tree(out))
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["out"]  # no staging left


def test_a_newline_in_the_file_name_injects_no_fact(tmp_path):
    name = 'x\njurisdiction EVIL "injected" { level: national }\n#.csv'
    src = write(tmp_path / name, INVENTORY)
    out = tmp_path / "out"
    (written,) = run_import("csv", src, out)
    assert written.parent == out and "\n" not in written.name and not written.name.startswith(".")
    text = written.read_text(encoding="utf-8")
    assert all(line.startswith("#") or not line.startswith("jurisdiction EVIL") for line in text.splitlines())
    result = CliRunner().invoke(main, ["lint", str(out)])
    assert result.exit_code == 0, result.output  # no second `jurisdiction`, no duplicate id
    from coherence_rules.session import Session

    ids = {f.id for f in Session([str(out)]).program.facts}
    assert "MU" in ids and "EVIL" not in ids


@pytest.mark.parametrize("text, expected", [
    ("a/b", "a_b"), ("..", "fallback"), (".hidden", "hidden"), ("a\x00b", "a_b"), ("a\nb", "a_b"),
    ("...", "fallback"), ("a\\b", "a_b"), ("x\u2028y", "x_y"), ("ok name", "ok name"),
])
def test_safe_file_name(text, expected):
    assert safe_file_name(text, "fallback") == expected


def test_comment_text_is_one_line():
    assert "\n" not in comment_text("a\nb\rc\u2028d\x85e") and comment_text("plain") == "plain"


def test_a_generated_path_outside_the_directory_is_refused(tmp_path, monkeypatch):
    from pathlib import PurePosixPath

    out = tmp_path / "out"
    for bad in ("../escape.policy", "/abs.policy", ".hidden/x.policy", "a\nb.policy"):
        monkeypatch.setitem(importers.FORMATS, "csv", lambda p, bad=bad: [
            importers.GeneratedFile(PurePosixPath(bad), "# x\n")])
        with pytest.raises(ImportFailure, match="not a plain path"):
            run_import("csv", tmp_path / "any.csv", out)
    assert not out.exists() and not (tmp_path / "escape.policy").exists()


def test_existing_files_still_need_force(tmp_path):
    src = write(tmp_path / "inv.csv", INVENTORY)
    out = tmp_path / "out"
    run_import("csv", src, out)
    with pytest.raises(OutputExists):
        run_import("csv", src, out)
    os.chmod(out / "inv.policy", 0o600)
    run_import("csv", src, out, force=True)
    assert oct(os.stat(out / "inv.policy").st_mode & 0o777) == "0o600"
