"""The API of `coherence serve` through Starlette's TestClient: the files, the check (the same
bytes as `coherence check --format json`), saving, stale versions, accepts."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from coherence_rules.serve.app import ServeError, create_app
from coherence_rules.serve.models import api_schema, report_schema

from tests.serve.helpers import AS_OF, MAURITIUS, REFERENCE, snapshot, texts, version


def cli_json(cwd: Path, names, *args: str) -> bytes:
    """stdout of `coherence check NAMES... --format json` run in ``cwd``."""
    proc = subprocess.run([sys.executable, "-m", "coherence_rules.cli", "check", *names, "--format", "json",
                           "--as-of", AS_OF, *args], cwd=cwd, capture_output=True)
    assert proc.returncode in (0, 1, 2), proc.stderr.decode()
    return proc.stdout


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---- files ------------------------------------------------------------------------------------------------------


def test_files_lists_the_sources_with_their_texts_and_versions(served, client):
    (served / "sub").mkdir()
    (served / "sub" / "extra.policy").write_text('jurisdiction XX "X" { level: national }\n', encoding="utf-8")
    (served / ".hidden.policy").write_text("x", encoding="utf-8")
    (served / ".git").mkdir()
    (served / ".git" / "config.policy").write_text("x", encoding="utf-8")
    (served / "notes.txt").write_text("not a source", encoding="utf-8")
    (served / "latin1.policy").write_bytes(b"# caf\xe9\n")
    r = client.get("/api/files")
    assert r.status_code == 200
    body = r.json()
    names = [f["name"] for f in body["files"]]
    shipped = sorted(p.name for p in MAURITIUS.iterdir() if p.suffix in (".policy", ".md", ".rules", ".csv"))
    assert "instruments.policy" in shipped and "health-strategy.md" in shipped
    assert names == sorted(shipped + ["latin1.policy", "sub/extra.policy"])
    for f in body["files"]:
        data = (served / f["name"]).read_bytes()
        assert f["version"] == sha(data) and f["size"] == len(data)
        if f["name"] == "latin1.policy":
            assert f["text"] is None and "not UTF-8" in f["problem"]
        else:
            assert f["text"] == data.decode("utf-8") and f["problem"] is None
    assert {f["name"]: f["kind"] for f in body["files"]}["health-strategy.md"] == "markdown"
    assert body["rulesets"] is None and "core" in body["available_rulesets"]
    assert body["as_of"] == AS_OF


# ---- check ------------------------------------------------------------------------------------------------------


def test_a_check_after_an_edit_parses_the_edited_file_alone(served, client):
    """The drafting loop: the server keeps each text's parse while the text is unchanged, and the
    answer is still what `coherence check --format json` writes for the edited files."""
    files = texts(client)
    assert client.post("/api/check", json={"files": files, "as_of": AS_OF}).status_code == 200
    memo = client.app.drafting.memo
    assert sorted(memo.reread) == sorted(files)
    assert client.post("/api/check", json={"files": files, "as_of": AS_OF}).status_code == 200
    assert memo.reread == []
    edited = dict(files, **{"instruments.policy": files["instruments.policy"].replace(
        "effect: restrict", "effect: facilitate", 1)})
    r = client.post("/api/check", json={"files": edited, "as_of": AS_OF})
    assert memo.reread == ["instruments.policy"]
    (served / "instruments.policy").write_text(edited["instruments.policy"], encoding="utf-8")
    assert r.content == cli_json(served, sorted(edited))
    assert "ADM-SECTOR" not in {f["criterion"] for f in r.json()["findings"]}


def test_check_is_byte_identical_to_the_cli_json(served, client):
    files = texts(client)
    r = client.post("/api/check", json={"files": files, "as_of": AS_OF})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.content == cli_json(served, sorted(files))
    report = r.json()
    assert report["schema"] == "coherence-report/1"
    assert "ADM-SECTOR" in {f["criterion"] for f in report["findings"]}


def test_check_with_reference_sets_is_byte_identical_to_the_cli_json(served, make_client, monkeypatch):
    # the reference files are named as the CLI names them: relative to the working directory
    monkeypatch.chdir(served)
    client = make_client(served, with_paths=[str(REFERENCE)])
    files = texts(client)
    r = client.post("/api/check", json={"files": files, "as_of": AS_OF})
    assert r.status_code == 200
    assert r.json()["references"]
    assert r.content == cli_json(served, sorted(files), "--with", str(REFERENCE))


def test_a_set_with_errors_gives_the_report_with_its_diagnostics(served, client):
    files = texts(client)
    files["instruments.policy"] = files["instruments.policy"].replace("effect: restrict", "effect: restrictt", 1)
    (served / "instruments.policy").write_text(files["instruments.policy"], encoding="utf-8")
    r = client.post("/api/check", json={"files": files, "as_of": AS_OF})
    assert r.status_code == 200
    report = r.json()
    assert report["findings"] == []
    assert any(d["severity"] == "error" and d["file"] == "instruments.policy" for d in report["diagnostics"])
    assert r.content == cli_json(served, sorted(files))


def test_check_reads_the_texts_sent_not_the_disk(served, client):
    before = snapshot(served)
    files = texts(client)
    wpr7 = files["instruments.policy"].index("measure WPR.7")
    at = files["instruments.policy"].index("effect: restrict", wpr7)
    files["instruments.policy"] = (files["instruments.policy"][:at] + "effect: facilitate"
                                   + files["instruments.policy"][at + len("effect: restrict"):])
    report = client.post("/api/check", json={"files": files, "as_of": AS_OF}).json()
    assert "ADM-SECTOR" not in {f["criterion"] for f in report["findings"]}
    only = client.post("/api/check", json={"files": {"instruments.policy": files["instruments.policy"]}}).json()
    assert only["inputs"] == ["instruments.policy"]
    assert snapshot(served) == before


def test_the_rulesets_are_parsed_once_and_shared(client):
    drafting = client.app.drafting
    shared = drafting.rules
    assert drafting.rules_for(None) is shared and drafting.rules_for(["core"]) is shared
    files = texts(client)
    assert client.post("/api/check", json={"files": files}).status_code == 200
    assert drafting.rules is shared
    # a request naming other rulesets gets its own, kept for the next request
    r = client.post("/api/check", json={"files": files, "rulesets": ["core", "demig"]})
    assert r.status_code == 200
    assert [rs["name"] for rs in r.json()["rulesets"]] == ["core", "demig"]
    other = drafting.rules_for(["core", "demig"])
    assert other is not shared and drafting.rules_for(["core", "demig"]) is other


@pytest.mark.parametrize("rulesets", [["nope"], ["/etc/passwd"], ["../rulesets/core.rules"]])
def test_rulesets_a_request_may_not_name(client, rulesets):
    r = client.post("/api/check", json={"files": {"a.policy": "# x\n"}, "rulesets": rulesets})
    assert r.status_code == 400
    assert r.json()["error"] == "unknown_ruleset"


def test_a_server_whose_rulesets_have_errors_does_not_start(served):
    with pytest.raises(ServeError) as e:
        create_app(served, rulesets=["no-such-ruleset"])
    assert [d.code for d in e.value.diagnostics] == ["E213"]
    with pytest.raises(ServeError):
        create_app(served, with_paths=[str(served / "missing")])


# ---- saving -----------------------------------------------------------------------------------------------------


def test_save_writes_the_file_atomically_keeping_its_mode(served, client):
    path = served / "institutions.policy"
    os.chmod(path, 0o640)
    loaded = version(client, "institutions.policy")
    new = path.read_text(encoding="utf-8") + "\n# reviewed\n"
    r = client.put("/api/files/institutions.policy", json={"text": new, "version": loaded})
    assert r.status_code == 200, r.text
    assert path.read_text(encoding="utf-8") == new
    assert r.json() == {"name": "institutions.policy", "version": sha(new.encode()), "size": len(new.encode())}
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert sorted(p.name for p in served.iterdir() if p.name.startswith(".")) == []  # no temporary file left
    # the version returned is the one to send next
    again = new + "# twice\n"
    assert client.put("/api/files/institutions.policy", json={"text": again, "version": r.json()["version"]}
                      ).status_code == 200
    assert path.read_text(encoding="utf-8") == again


def test_save_keeps_crlf_line_ends_and_a_byte_order_mark(served, client):
    path = served / "crlf.policy"
    path.write_bytes(b"\xef\xbb\xbf# one\r\n# two\r\n")
    entry = next(f for f in client.get("/api/files").json()["files"] if f["name"] == "crlf.policy")
    assert entry["text"] == "# one\n# two\n"
    r = client.put("/api/files/crlf.policy", json={"text": "# one\n# three\n", "version": entry["version"]})
    assert r.status_code == 200
    assert path.read_bytes() == b"\xef\xbb\xbf# one\r\n# three\r\n"


def test_a_file_changed_on_disk_since_it_was_loaded_is_not_saved(served, client):
    path = served / "instruments.policy"
    loaded = version(client, "instruments.policy")
    path.write_text(path.read_text(encoding="utf-8") + "# edited elsewhere\n", encoding="utf-8")
    before = snapshot(served)
    r = client.put("/api/files/instruments.policy", json={"text": "# mine\n", "version": loaded})
    assert r.status_code == 409
    body = r.json()
    assert body["error"] == "stale_version" and "changed on disk" in body["message"]
    assert body["current_version"] == sha(path.read_bytes())
    assert snapshot(served) == before


def test_new_files_and_files_that_are_gone(served, client):
    r = client.put("/api/files/sub-set/new.policy", json={"text": "# new\n", "version": None})
    assert r.status_code == 404  # no such directory: none is created
    r = client.put("/api/files/new.policy", json={"text": "# new\n", "version": None})
    assert r.status_code == 200
    assert (served / "new.policy").read_text(encoding="utf-8") == "# new\n"
    # null means "must not exist yet"
    r = client.put("/api/files/new.policy", json={"text": "# again\n", "version": None})
    assert r.status_code == 409 and "already exists" in r.json()["message"]
    r = client.put("/api/files/gone.policy", json={"text": "# x\n", "version": sha(b"# x\n")})
    assert r.status_code == 404


# ---- accepts ----------------------------------------------------------------------------------------------------


REASON = 'Cabinet decision 2019/41: "stopgap" until the C:\\nursing\\ plan'


def finding(report: dict, code: str) -> dict:
    return next(f for f in report["findings"] if f["criterion"] == code)


def test_accept_appends_a_statement_and_the_next_check_shows_the_finding_accepted(served, client):
    files = texts(client)
    before = client.post("/api/check", json={"files": files, "as_of": AS_OF}).json()
    adm = finding(before, "ADM-SECTOR")
    assert adm["status"] == "open"
    r = client.post("/api/accept", json={"file": "instruments.policy", "version": version(client, "instruments.policy"),
                                         "criterion": "ADM-SECTOR", "ids": adm["facts"], "reason": REASON,
                                         "until": "2027-12-31"})
    assert r.status_code == 200, r.text
    body = r.json()
    statement = ('accept ADM-SECTOR on [HSS.2.1, WPR.7] { reason: "Cabinet decision 2019/41: \\"stopgap\\" until the '
                 'C:\\\\nursing\\\\ plan"  until: 2027-12-31 }')
    assert body["statement"] == statement
    on_disk = (served / "instruments.policy").read_text(encoding="utf-8")
    assert on_disk == files["instruments.policy"] + body["appended"] == body["text"]
    assert on_disk.endswith("\n\n" + statement + "\n")
    assert body["version"] == sha(on_disk.encode())

    after = client.post("/api/check", json={"files": texts(client), "as_of": AS_OF}).json()
    adm = finding(after, "ADM-SECTOR")
    assert adm["status"] == "accepted"
    assert adm["acceptance"]["reason"] == REASON and adm["acceptance"]["until"] == "2027-12-31"
    assert not [d for d in after["diagnostics"] if d["severity"] == "error"]


def test_accept_in_a_markdown_file_is_a_new_policy_block(served, client):
    files = texts(client)
    r = client.post("/api/accept", json={"file": "health-strategy.md", "version": version(client, "health-strategy.md"),
                                         "criterion": "OBJ-NO-INDICATOR", "ids": ["HSS.4.2"],
                                         "reason": "indicator agreed with the statistics office next year"})
    assert r.status_code == 200, r.text
    text = (served / "health-strategy.md").read_text(encoding="utf-8")
    assert text == files["health-strategy.md"] + r.json()["appended"]
    assert r.json()["appended"].endswith("```policy\naccept OBJ-NO-INDICATOR on [HSS.4.2] { reason: \"indicator "
                                         "agreed with the statistics office next year\" }\n```\n")
    after = client.post("/api/check", json={"files": texts(client), "as_of": AS_OF}).json()
    hss = next(f for f in after["findings"] if f["criterion"] == "OBJ-NO-INDICATOR" and f["facts"] == ["HSS.4.2"])
    assert hss["status"] == "accepted" and hss["acceptance"]["until"] is None


@pytest.mark.parametrize("change, status, error", [
    ({"reason": "two\nlines"}, 422, "invalid_accept"),
    ({"reason": "tab\there"}, 422, "invalid_accept"),
    ({"reason": "   "}, 422, "invalid_accept"),
    ({"reason": ""}, 422, "invalid_request"),
    ({"criterion": "ADM SECTOR"}, 422, "invalid_request"),
    ({"ids": ["WPR.7 }"]}, 422, "invalid_request"),
    ({"ids": []}, 422, "invalid_request"),
    ({"until": "31/12/2027"}, 422, "invalid_request"),
    ({"file": "institutions.csv"}, 400, "bad_name"),
    ({"file": "rules.rules"}, 400, "bad_name"),
    ({"version": "sha256:" + "0" * 64}, 409, "stale_version"),
])
def test_accepts_that_cannot_be_recorded(served, client, change, status, error):
    request = {"file": "instruments.policy", "version": version(client, "instruments.policy"),
               "criterion": "ADM-SECTOR", "ids": ["HSS.2.1", "WPR.7"], "reason": "ok", **change}
    before = snapshot(served)
    r = client.post("/api/accept", json=request)
    assert (r.status_code, r.json()["error"]) == (status, error), r.text
    assert r.json()["message"]
    assert snapshot(served) == before


# ---- the page and the schemas -------------------------------------------------------------------------------------


def test_the_page_loads_its_script_and_styles_from_the_server_only(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<script src="/static/serve.js" defer></script>' in html
    assert "<script>" not in html and not re.search(r"\son[a-z]+\s*=", html)  # no inline script or handler
    assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere
    for name, kind in [("serve.js", "text/javascript"), ("serve.css", "text/css"), ("report.css", "text/css"),
                       ("favicon.svg", "image/svg+xml")]:
        s = client.get(f"/static/{name}")
        assert s.status_code == 200 and s.headers["content-type"].startswith(kind), name
    assert client.get("/static/app.py").status_code == 404
    assert "innerHTML" not in client.get("/static/serve.js").text


def test_schema_returns_the_api_and_report_schemas(client):
    r = client.get("/api/schema")
    assert r.status_code == 200
    assert r.json() == json.loads(json.dumps({"api": api_schema(), "report": report_schema()}))
    defs = set(r.json()["api"]["$defs"])
    assert {"CheckRequest", "FilesResponse", "SaveRequest", "AcceptRequest", "ErrorResponse"} <= defs
