"""Shared helpers of the `coherence serve` tests (imported as tests.serve.helpers)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAURITIUS = ROOT / "policies" / "mauritius"
REFERENCE = ROOT / "policies" / "reference"
AS_OF = "2026-11-23"
HOST, PORT = "127.0.0.1", 8765
BASE = f"http://{HOST}:{PORT}"


def snapshot(top: Path) -> dict:
    """Every entry under ``top`` (hidden ones included): a file's bytes and mode, a link's target,
    a directory; so that two snapshots are equal only when nothing changed on disk."""
    out: dict = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(top).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", p.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def texts(client) -> dict[str, str]:
    """The served files' texts as the page sends them to /api/check."""
    return {f["name"]: f["text"] for f in client.get("/api/files").json()["files"] if f["text"] is not None}


def version(client, name: str) -> str:
    """The version token the API gives for file ``name`` now."""
    return next(f["version"] for f in client.get("/api/files").json()["files"] if f["name"] == name)
