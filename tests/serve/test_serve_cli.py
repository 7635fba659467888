"""`coherence serve` on the command line: its help, its refusals, the missing extra, and a real
server process answering HTTP on a free loopback port."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from coherence_rules.cli import main
from tests.serve.helpers import MAURITIUS, REFERENCE
from tests.serve.live import LiveServer


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_help_explains_the_command():
    r = invoke("serve", "--help")
    assert r.exit_code == 0
    for words in ("Edit a policy set in the browser", "--host", "--port", "--with", "--ruleset", "--as-of",
                  "docs/serve.md", "127.0.0.1", "8765", "refused when it changed on disk"):
        assert words in r.output, words
    assert "serve" in invoke("--help").output


def test_one_directory_only(tmp_path):
    r = invoke("serve", tmp_path, tmp_path)
    assert r.exit_code == 2 and "one directory" in r.output
    (tmp_path / "a.policy").write_text("# x\n", encoding="utf-8")
    r = invoke("serve", tmp_path / "a.policy")
    assert r.exit_code == 2 and "not a directory" in r.output


def test_without_the_serve_extra_it_says_what_to_install(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_starlette(name, *args, **kwargs):  # as if Starlette were not installed
        if name == "starlette" or name.startswith("starlette."):
            raise ModuleNotFoundError(f"No module named '{name}'", name="starlette")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "coherence_rules.serve.app", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_starlette)
    r = invoke("serve", tmp_path)
    assert r.exit_code == 2
    assert "needs the serve extra" in r.output and "coherence-rules[serve]" in r.output and "starlette" in r.output


def test_options_reach_the_server_and_a_non_loopback_host_warns(monkeypatch, tmp_path):
    import coherence_rules.serve.app as app

    seen = {}
    monkeypatch.setattr(app, "serve", lambda directory, **kw: seen.update(kw, directory=directory))
    r = CliRunner().invoke(main, ["serve", str(tmp_path), "--host", "192.0.2.7", "--port", "9000", "--with",
                                  str(REFERENCE), "--ruleset", "core", "--as-of", "2026-11-23"])
    assert r.exit_code == 0, r.output
    assert "warning" in r.output and "not on a loopback address" in r.output
    assert seen["host"] == "192.0.2.7" and seen["port"] == 9000 and seen["with_paths"] == [str(REFERENCE)]
    assert seen["rulesets"] == ["core"] and str(seen["as_of"]) == "2026-11-23"
    seen.clear()
    r = CliRunner().invoke(main, ["serve", str(tmp_path)])
    assert r.exit_code == 0 and "warning" not in r.output and seen["host"] == "127.0.0.1" and seen["port"] == 8765


def test_bad_rulesets_stop_it_before_it_listens(tmp_path):
    r = invoke("serve", tmp_path, "--ruleset", "no-such-ruleset", "--port", "0")
    assert r.exit_code == 2
    assert "E213" in r.output and "unknown ruleset 'no-such-ruleset'" in r.output


def test_a_real_server_answers_on_loopback_and_stops(tmp_path):
    import shutil

    served = tmp_path / "set"
    shutil.copytree(MAURITIUS, served)
    with LiveServer(served, "--as-of", "2026-11-23") as server:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url + "api/files", timeout=30) as r:
            files = json.loads(r.read())
        assert "instruments.policy" in [f["name"] for f in files["files"]]
        body = json.dumps({"files": {f["name"]: f["text"] for f in files["files"]}}).encode()
        req = urllib.request.Request(server.url + "api/check", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
            report = json.loads(r.read())
        assert report["as_of"] == "2026-11-23"
        assert "ADM-SECTOR" in {f["criterion"] for f in report["findings"]}
        evil = urllib.request.Request(server.url + "api/files", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(evil, timeout=30)
        assert e.value.code == 400
        e.value.close()
    assert server.proc is None  # stopped
