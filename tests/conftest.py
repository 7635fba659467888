"""Shared pytest configuration."""

from __future__ import annotations


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="Rewrite tests/golden/*/expected.txt from the current output instead of comparing.",
    )
