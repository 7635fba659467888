"""The one writer of the files the tool produces (:mod:`coherence_rules.files`), and the commands
that use it: `--output`, `fmt` and `import` keep a file's mode, refuse read-only files,
directories, devices and symbolic links (unless asked), write hard links in place, and leave no
temporary file behind when a write fails, which is exit 2, never 3."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from coherence_rules import files
from coherence_rules.cli import main
from coherence_rules.files import WriteError, write_text_atomically

ROOT = Path(__file__).resolve().parent.parent
MAURITIUS = str(ROOT / "policies" / "mauritius")
UNFORMATTED = 'jurisdiction   MU "Republic of Mauritius" {level: national}\n'


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


# ---- the writer ------------------------------------------------------------------------------------


def test_a_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        write_text_atomically(tmp_path / "new.txt", "x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


def test_an_existing_file_keeps_its_mode(tmp_path):
    target = tmp_path / "private.txt"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    write_text_atomically(target, "new\r\nline ends kept\n")
    assert target.read_bytes() == b"new\r\nline ends kept\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _leftovers(tmp_path) == []


def test_a_read_only_file_is_refused(tmp_path):
    target = tmp_path / "ro.txt"
    target.write_text("old\n")
    os.chmod(target, 0o444)
    with pytest.raises(WriteError, match="read-only"):
        write_text_atomically(target, "new\n")
    assert target.read_text() == "old\n"


def test_a_directory_and_a_fifo_are_refused(tmp_path):
    with pytest.raises(WriteError, match="directory"):
        write_text_atomically(tmp_path, "x")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(WriteError, match="not a regular file"):
        write_text_atomically(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_device_is_refused_not_replaced(tmp_path):
    if os.getuid() != 0:
        pytest.skip("making a device node needs root")
    dev = tmp_path / "null"
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of the test's own
    before = os.lstat(dev)
    with pytest.raises(WriteError, match="not a regular file"):
        write_text_atomically(dev, "x")
    after = os.lstat(dev)
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def test_a_symbolic_link_is_refused_unless_asked(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old\n")
    os.chmod(real, 0o640)
    link = tmp_path / "link.txt"
    link.symlink_to("real.txt")
    with pytest.raises(WriteError) as caught:
        write_text_atomically(link, "new\n")
    assert "link.txt" in caught.value.message and "symbolic link" in caught.value.message
    assert link.is_symlink() and real.read_text() == "old\n"
    assert write_text_atomically(link, "new\n", follow_symlinks=True) == real
    assert link.is_symlink() and real.read_text() == "new\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def test_a_hard_link_is_written_in_place(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("old\n")
    other = tmp_path / "other.txt"
    os.link(one, other)
    write_text_atomically(one, "new\n")
    assert other.read_text() == "new\n" and os.path.samefile(one, other)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["write", "replace"])
def test_a_full_disk_leaves_the_file_and_no_temporary(tmp_path, monkeypatch, where):
    target = tmp_path / "report.txt"
    target.write_text("old\n")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, where, full)
    with pytest.raises(WriteError, match="no space left"):
        write_text_atomically(target, "new\n")
    monkeypatch.undo()
    assert target.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_a_read_only_directory_is_a_write_error(tmp_path, monkeypatch):
    d = tmp_path / "ro"
    d.mkdir()
    if os.getuid() == 0:  # root writes anywhere: make the directory refuse as it would refuse a user
        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

        import tempfile

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        os.chmod(d, 0o555)
    try:
        with pytest.raises(WriteError, match="cannot create a file"):
            write_text_atomically(d / "out.txt", "x")
    finally:
        os.chmod(d, 0o755)
    assert list(d.iterdir()) == []


# ---- --output --------------------------------------------------------------------------------------


def _check(args):
    return CliRunner().invoke(main, ["check", MAURITIUS, "--as-of", "2026-11-23", *args])


def test_output_keeps_the_mode_of_an_existing_report(tmp_path):
    out = tmp_path / "report.json"
    out.write_text("{}")
    os.chmod(out, 0o600)
    result = _check(["--format", "json", "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_text().startswith("{")


@pytest.mark.parametrize("kind", ["read-only", "directory", "fifo", "link"])
def test_output_refusals_are_exit_2_with_the_reason(tmp_path, kind):
    target = tmp_path / "out"
    if kind == "read-only":
        target.write_text("keep\n")
        os.chmod(target, 0o444)
    elif kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        (tmp_path / "real").write_text("keep\n")
        target.symlink_to("real")
    result = _check(["--format", "json", "-o", str(target)])
    assert result.exit_code == 2, result.output
    assert {"read-only": "read-only", "directory": "directory", "fifo": "not a regular file",
            "link": "symbolic link"}[kind] in result.output
    assert "Traceback" not in result.output and not _leftovers(tmp_path)
    if kind == "link":
        assert (tmp_path / "real").read_text() == "keep\n"


def test_output_follows_a_link_when_asked(tmp_path):
    (tmp_path / "real.json").write_text("")
    (tmp_path / "link.json").symlink_to("real.json")
    result = _check(["--format", "json", "-o", str(tmp_path / "link.json"), "--follow-symlinks"])
    assert result.exit_code == 1, result.output
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_text().startswith("{")


@pytest.mark.parametrize("name", ["-", "/dev/stdout"])
def test_output_to_stdout_replaces_nothing(name, monkeypatch):
    """`-o -` and `-o /dev/stdout` write to standard output; nothing is renamed (as root, the old
    writer replaced the /dev/stdout link with a file): a rename here fails the test instead."""
    def no_rename(*args, **kwargs):
        raise AssertionError(f"renamed {args}")

    monkeypatch.setattr(os, "replace", no_rename)
    monkeypatch.setattr(os, "rename", no_rename)
    result = _check(["--format", "json", "-o", name])
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("{")


def test_output_on_a_full_disk_is_exit_2_without_a_stray_file(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "write", full)
    result = _check(["--format", "json", "-o", str(tmp_path / "report.json")])
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    assert "no space left" in result.output
    assert list(tmp_path.iterdir()) == []


# ---- fmt -------------------------------------------------------------------------------------------


def test_fmt_keeps_the_mode_and_rewrites_a_hard_link_in_place(tmp_path):
    src = tmp_path / "a.policy"
    src.write_text(UNFORMATTED)
    os.chmod(src, 0o600)
    os.link(src, tmp_path / "b.policy.bak")
    result = CliRunner().invoke(main, ["fmt", str(src)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(src.stat().st_mode) == 0o600
    assert (tmp_path / "b.policy.bak").read_text() == src.read_text() != UNFORMATTED


def test_fmt_refuses_a_read_only_file_and_a_link(tmp_path):
    ro = tmp_path / "ro.policy"
    ro.write_text(UNFORMATTED)
    os.chmod(ro, 0o444)
    real = tmp_path / "real.policy"
    real.write_text(UNFORMATTED)
    (tmp_path / "link.policy").symlink_to("real.policy")
    result = CliRunner().invoke(main, ["fmt", str(ro), str(tmp_path / "link.policy")])
    assert result.exit_code == 2, result.output
    assert "read-only" in result.output and "link.policy" in result.output and "--follow-symlinks" in result.output
    assert ro.read_text() == UNFORMATTED and real.read_text() == UNFORMATTED
    assert (tmp_path / "link.policy").is_symlink() and not _leftovers(tmp_path)
    result = CliRunner().invoke(main, ["fmt", "--follow-symlinks", str(tmp_path / "link.policy")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "link.policy").is_symlink() and real.read_text() != UNFORMATTED


def test_fmt_on_a_full_disk_is_exit_2_and_leaves_the_file(tmp_path, monkeypatch):
    src = tmp_path / "a.policy"
    src.write_text(UNFORMATTED)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    result = CliRunner().invoke(main, ["fmt", str(src)])
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    assert src.read_text() == UNFORMATTED and not _leftovers(tmp_path)
