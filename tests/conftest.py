"""Shared pytest configuration and fixtures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

POLICIES = Path(__file__).resolve().parent.parent / "policies"
#: the shipped example policy sets
EXAMPLES = ["mauritius", "kenya-ncm", "sweden", "agreements/nl-turkey-1964"]


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory):
    """The caches (parsed rulesets, checked policy files) live in a directory of this test session,
    never in the user's cache directory; commands the tests start inherit it."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory holding copies of the shipped examples (set names are relative)."""
    for name in EXAMPLES:
        shutil.copytree(POLICIES / name, tmp_path / Path(name).name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="Rewrite tests/golden/*/expected.txt from the current output instead of comparing.",
    )
