"""Fixtures of the `coherence serve` tests: a copy of the Mauritius set to serve and clients of
the application through Starlette's TestClient."""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("pydantic")

with warnings.catch_warnings():
    # this Starlette prefers httpx2 for its test client and says so on import; httpx works
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from starlette.testclient import TestClient

from coherence_rules.serve.app import create_app  # noqa: E402

from tests.serve.helpers import AS_OF, BASE, HOST, MAURITIUS, PORT  # noqa: E402


@pytest.fixture
def served(tmp_path) -> Path:
    """A copy of policies/mauritius, the directory the app serves."""
    target = tmp_path / "set"
    shutil.copytree(MAURITIUS, target)
    return target


@pytest.fixture
def make_client():
    """``make_client(directory, **create_app options)``: a TestClient addressed as the server at
    127.0.0.1:8765 would be; closed after the test."""
    clients = []

    def make(directory: Path, **options) -> TestClient:
        options.setdefault("as_of", dt.date.fromisoformat(AS_OF))
        client = TestClient(create_app(directory, host=HOST, port=PORT, **options), base_url=BASE)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(served, make_client) -> TestClient:
    return make_client(served)
