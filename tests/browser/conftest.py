"""Headless Chromium for the browser tests, through Playwright's sync API.

The tests use the system's Chromium (/usr/bin/chromium, installed by .ci/install-browser), never a
browser downloaded by Playwright, and are skipped, with the reason, when it or the package is missing.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A module-level pytest.skip() here would crash pytest when this directory is named on the command
# line (its conftest is then loaded before collection), so every test is marked skipped instead.
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None
    SKIP_REASON: str | None = "browser tests need the playwright Python package (pip install playwright)"
else:
    SKIP_REASON = None if os.path.exists(CHROMIUM) else (
        f"browser tests need Chromium at {CHROMIUM} (run .ci/install-browser)"
    )

FIXTURES = Path(__file__).parent.parent / "fixtures"
ARTIFACTS = Path(__file__).parent / "artifacts"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives headless Chromium against the HTML report")


def pytest_collection_modifyitems(config, items):
    if SKIP_REASON is None:
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_context():
    """One Chromium for the session, with a new empty profile."""
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)
    with tempfile.TemporaryDirectory(prefix="coherence-chromium-") as profile:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 900},
            )
            try:
                yield context
            finally:
                context.close()


class Tab:
    """A page with the console errors and uncaught exceptions it produced."""

    def __init__(self, page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))


@pytest.fixture
def tab(browser_context):
    page = browser_context.new_page()
    try:
        yield Tab(page)
    finally:
        page.close()


def _render_to(tmp_path_factory, name: str) -> str:
    from coherence_rules.render.html import render_html

    report = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    sources = json.loads((FIXTURES / f"{name}.sources.json").read_text(encoding="utf-8"))
    path = tmp_path_factory.mktemp("html") / f"{name}.html"
    path.write_text(render_html(report, sources), encoding="utf-8")
    return path.as_uri()


@pytest.fixture(scope="session")
def report_url(tmp_path_factory) -> str:
    """file:// URL of the Mauritius report."""
    return _render_to(tmp_path_factory, "report_mauritius")


@pytest.fixture(scope="session")
def hostile_url(tmp_path_factory) -> str:
    """file:// URL of the report whose every string is an injection attempt."""
    return _render_to(tmp_path_factory, "report_hostile")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
