"""Writing the files the tool produces: reports (``--output``), formatted sources (``fmt``) and
imported policy sets (``import``). One writer, so every command keeps the same promises
(``docs/security.md``, "How files are written"):

- a regular file is replaced atomically: the new text goes to a temporary file in the same
  directory, which takes the old file's mode (and owner, where allowed) and is renamed over it,
  so a reader sees the old or the new file, never half of one;
- a file with several hard links is written in place instead (after the new text was written in
  full to a temporary file, so a full disk fails before the file is touched), so that every name
  sees the change: replacing it would split the links, the other names keeping the old text;
- a symbolic link is written through only when asked (``follow_symlinks``), else refused with an
  error naming the link: replacing it would turn the link into a plain file, and following it
  unasked would write wherever it points;
- a read-only file, a directory and anything that is not a regular file (a device, a FIFO, a
  socket) are refused; writing to standard output is the caller's business (``-o -``);
- a failed write (a full disk, a read-only directory) leaves no temporary file behind and the
  target as it was, and is a :class:`WriteError`, which the command line reports with exit 2.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: How an existing file is opened to be written in place: never through a link, never blocking.
_IN_PLACE_FLAGS = os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class WriteError(Exception):
    """A file that could not or must not be written; ``message`` says which and why."""

    def __init__(self, path: str | os.PathLike, message: str):
        super().__init__(message)
        self.path = str(path)
        self.message = message


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _reason(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on the device"
    return e.strerror or str(e)


def write_text_atomically(path: str | os.PathLike, text: str, *, follow_symlinks: bool = False,
                          encoding: str = "utf-8") -> Path:
    """Write ``text`` (encoded as is: line ends are not translated) to ``path`` as this module's
    docstring says, and return the path written (the link's target when a symbolic link was
    followed). Raises :class:`WriteError` for a target that is refused or a write that failed."""
    return write_bytes_atomically(path, text.encode(encoding), follow_symlinks=follow_symlinks)


def write_bytes_atomically(path: str | os.PathLike, data: bytes, *, follow_symlinks: bool = False) -> Path:
    """:func:`write_text_atomically` for bytes."""
    target = Path(path)
    shown = str(path)
    for _ in range(40):  # a chain of links, followed one at a time (a loop ends here)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise WriteError(shown, f"cannot write '{shown}': {_reason(e)}")
        if st is None or not stat.S_ISLNK(st.st_mode):
            break
        link = os.readlink(target)
        if not follow_symlinks:
            raise WriteError(shown, f"cannot write '{shown}': it is a symbolic link (to '{link}'); not "
                                    f"replaced or followed; give its target, or pass --follow-symlinks to "
                                    f"write to the file it points to")
        target = target.parent / link
    else:
        raise WriteError(shown, f"cannot write '{shown}': too many levels of symbolic links")
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise WriteError(shown, f"cannot write '{shown}': it is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise WriteError(shown, f"cannot write '{shown}': not a regular file (a device, FIFO or socket); "
                                    f"write to a file, or to standard output with -o -")
        if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
            raise WriteError(shown, f"cannot write '{shown}': the file is read-only")
    directory = target.parent
    tmp = None
    try:
        try:
            import tempfile  # only to write: importing it costs every command 4 ms

            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        except OSError as e:
            raise WriteError(shown, f"cannot write '{shown}': cannot create a file in '{directory}': {_reason(e)}")
        try:
            mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
            os.fchmod(fd, mode)
            if st is not None and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.fchown(fd, st.st_uid, st.st_gid)
                except OSError:
                    pass  # only a privileged user can give a file away; the mode is kept anyway
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if st is not None and st.st_nlink > 1:
            _write_in_place(target, data, shown)
        else:
            os.replace(tmp, target)
            tmp = None
    except OSError as e:
        raise WriteError(shown, f"cannot write '{shown}': {_reason(e)}")
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return target


def _write_in_place(target: Path, data: bytes, shown: str) -> None:
    """Overwrite the file ``target`` (a file with several hard links) with ``data``, keeping its
    inode, so every name sees the new text."""
    fd = os.open(target, _IN_PLACE_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise WriteError(shown, f"cannot write '{shown}': not a regular file")
        _write_all(fd, data)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
