"""Hostile requests to `coherence serve`: each gets a clear 4xx, and nothing changes on disk (the
served directory and its surroundings are byte-identical before and after)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest

from coherence_rules.serve.files import BadName, check_name
from coherence_rules.serve.guard import CONTENT_SECURITY_POLICY, allowed_hosts, is_loopback
from tests.serve.helpers import BASE, PORT, snapshot, texts, version


@pytest.fixture
def world(tmp_path, served) -> Path:
    """Everything the tests could touch: the served directory and a directory beside it (a
    target outside the served one)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.policy").write_text("# outside the served directory\n", encoding="utf-8")
    return tmp_path


def unchanged(world: Path):
    """A context that asserts the tree under ``world`` is the same bytes after it as before."""

    class Same:
        def __enter__(self):
            self.before = snapshot(world)

        def __exit__(self, *exc):
            if exc[0] is None:
                assert snapshot(world) == self.before, "a hostile request changed the disk"

    return Same()


def assert_refused(r, status: int, error: str | None = None):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["message"] and isinstance(body["message"], str)
    if error:
        assert body["error"] == error, body
    return body


HOSTILE_NAMES = [
    ("../x.policy", 400), ("/etc/passwd", 400), ("a/../../x.policy", 400), ("../outside/secret.policy", 400),
    ("./instruments.policy", 400), ("sub//x.policy", 400), ("x.policy\0.md", 400), ("a\\..\\x.policy", 400),
    (".hidden.policy", 400), (".git/config.policy", 400), ("evil.sh", 400), ("instruments.policy/", 400),
    ("C:/x.policy", 400), ("", 400),
    ("x\n.policy", 404),  # the route itself does not match a name with a line break
]


@pytest.mark.parametrize("name, status", HOSTILE_NAMES)
def test_hostile_names_are_refused_on_save(world, served, client, name, status):
    with unchanged(world):
        r = client.put("/api/files/" + quote(name, safe=""), json={"text": "# pwned\n", "version": None})
        assert_refused(r, status)


@pytest.mark.parametrize("name", [n for n, _ in HOSTILE_NAMES if n])
def test_hostile_names_are_refused_on_accept_and_check(world, served, client, name):
    with unchanged(world):
        r = client.post("/api/accept", json={"file": name, "version": None, "criterion": "ADM-SECTOR",
                                             "ids": ["WPR.7"], "reason": "x"})
        assert_refused(r, 400, "bad_name")
        r = client.post("/api/check", json={"files": {name: "# x\n"}})
        assert_refused(r, 400, "bad_name")


def test_check_name_accepts_plain_relative_names():
    for name in ("a.policy", "sub/dir/b.md", "x-1.csv", "y_2.rules", "Ünicode.policy", "<b>.policy"):
        assert check_name(name) == name
    for name, _ in HOSTILE_NAMES:
        with pytest.raises(BadName):
            check_name(name)


def test_a_symlink_inside_pointing_outside_is_neither_listed_nor_followed(world, served, client):
    secret = world / "outside" / "secret.policy"
    os.symlink(secret, served / "link.policy")
    os.symlink(world / "outside", served / "linked-dir")
    names = [f["name"] for f in client.get("/api/files").json()["files"]]
    assert "link.policy" not in names and not [n for n in names if n.startswith("linked-dir/")]
    with unchanged(world):
        body = assert_refused(client.put("/api/files/link.policy", json={"text": "# pwned\n", "version": None}),
                              403, "outside")
        assert "symbolic link" in body["message"]
        assert_refused(client.put("/api/files/linked-dir/secret.policy", json={"text": "# pwned\n", "version": None}),
                       403, "outside")
        assert_refused(client.put("/api/files/linked-dir/new.policy", json={"text": "# pwned\n", "version": None}),
                       403, "outside")
        assert_refused(client.post("/api/accept", json={"file": "link.policy", "version": None,
                                                        "criterion": "ADM-SECTOR", "ids": ["WPR.7"], "reason": "x"}),
                       403, "outside")
        assert_refused(client.post("/api/accept", json={"file": "linked-dir/secret.policy", "version": None,
                                                        "criterion": "ADM-SECTOR", "ids": ["WPR.7"], "reason": "x"}),
                       403, "outside")


def test_a_symlink_to_a_file_inside_is_not_replaced(world, served, client):
    os.symlink(served / "instruments.policy", served / "alias.policy")
    with unchanged(world):
        assert_refused(client.put("/api/files/alias.policy",
                                  json={"text": "# x\n", "version": version(client, "instruments.policy")}),
                       403, "outside")


def test_a_50_mb_body_is_refused_before_it_is_read(world, client):
    big = b'{"files": {"a.policy": "' + b"x" * (50 * 1024 * 1024) + b'"}}'
    with unchanged(world):
        body = assert_refused(client.post("/api/check", content=big, headers={"content-type": "application/json"}),
                              413, "too_large")
        assert "limit" in body["message"]
        assert_refused(client.put("/api/files/instruments.policy", content=big,
                                  headers={"content-type": "application/json"}), 413, "too_large")


def test_a_body_without_length_is_cut_at_the_limit(world, client):
    def chunks():
        yield b'{"files": {"a.policy": "'
        for _ in range(7):
            yield b"x" * (1024 * 1024)
        yield b'"}}'

    with unchanged(world):
        assert_refused(client.post("/api/check", content=chunks(), headers={"content-type": "application/json"}),
                       413, "too_large")


@pytest.mark.parametrize("body, status, error", [
    (b"{", 400, "invalid_json"),
    (b"", 400, "invalid_json"),
    (b"[1, 2]", 422, "invalid_request"),
    (b'{"files": {"a.policy": 3}}', 422, "invalid_request"),
    (b'{"files": ["a.policy"]}', 422, "invalid_request"),
    (b'{"files": {}, "as_of": "yesterday"}', 422, "invalid_request"),
    (b'{"files": {}, "as_of": 20261123}', 422, "invalid_request"),
    (b'{"files": {}, "extra": true}', 422, "invalid_request"),
    (b'{"files": {"a.policy": "caf\xe9"}}', 400, "not_utf8"),
    (b'{"files": {"a.policy": "\\ud800"}}', 400, "not_utf8"),
    (b'\xff\xfe{\x00}\x00', 400, "not_utf8"),
    (b'{"files": {"a.policy": "a\\u0000b"}}', 400, "binary"),
])
def test_malformed_check_requests(world, client, body, status, error):
    with unchanged(world):
        assert_refused(client.post("/api/check", content=body, headers={"content-type": "application/json"}),
                       status, error)


def test_malformed_save_requests(world, client):
    v = version(client, "instruments.policy")
    with unchanged(world):
        for body, status, error in [
            (b'{"text": "caf\xe9 au lait", "version": null}', 400, "not_utf8"),
            (b'{"text": 3, "version": null}', 422, "invalid_request"),
            (b'{"text": "x"}', 422, "invalid_request"),
            (b'{"text": "x", "version": "abc"}', 422, "invalid_request"),
            (b'{"text": "a\\u0000b", "version": "' + v.encode() + b'"}', 400, "binary"),
            (b'not json', 400, "invalid_json"),
        ]:
            r = client.put("/api/files/instruments.policy", content=body, headers={"content-type": "application/json"})
            assert_refused(r, status, error)
        r = client.put("/api/files/instruments.policy", content=b'{"text": "x", "version": null}',
                       headers={"content-type": "text/plain"})
        assert_refused(r, 415, "unsupported_media_type")
        r = client.post("/api/check", data={"files": "x"})  # what an HTML form would send
        assert_refused(r, 415, "unsupported_media_type")


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:9999", "https://127.0.0.1:8765",
                                    "null", "http://localhost.evil.example:8765"])
def test_requests_from_another_origin_are_refused_for_every_method(world, served, client, origin):
    headers = {"origin": origin}
    v = version(client, "instruments.policy")
    with unchanged(world):
        assert_refused(client.get("/", headers=headers), 403, "cross_origin")
        assert_refused(client.get("/api/files", headers=headers), 403, "cross_origin")
        assert_refused(client.get("/api/schema", headers=headers), 403, "cross_origin")
        assert_refused(client.post("/api/check", json={"files": texts(client)}, headers=headers), 403, "cross_origin")
        assert_refused(client.put("/api/files/instruments.policy", json={"text": "# pwned\n", "version": v},
                                  headers=headers), 403, "cross_origin")
        assert_refused(client.post("/api/accept", json={"file": "instruments.policy", "version": v,
                                                        "criterion": "ADM-SECTOR", "ids": ["WPR.7"],
                                                        "reason": "pwned"}, headers=headers), 403, "cross_origin")
        assert_refused(client.options("/api/check", headers={**headers, "access-control-request-method": "POST"}),
                       403, "cross_origin")


def test_the_servers_own_origin_and_requests_without_one_are_served(client):
    assert client.get("/api/files").status_code == 200
    assert client.get("/api/files", headers={"origin": BASE}).status_code == 200
    r = client.post("/api/check", json={"files": texts(client)}, headers={"origin": BASE})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers  # no CORS: other origins cannot read answers


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1:9999", "127.0.0.2:8765",
                                  "localhost.evil.example:8765", "", "127.0.0.1:8765.evil.example"])
def test_a_host_header_of_another_site_is_refused(world, client, host):
    v = version(client, "instruments.policy")
    with unchanged(world):
        assert_refused(client.get("/", headers={"host": host}), 400, "bad_host")
        assert_refused(client.get("/api/files", headers={"host": host}), 400, "bad_host")
        assert_refused(client.put("/api/files/instruments.policy", json={"text": "# pwned\n", "version": v},
                                  headers={"host": host}), 400, "bad_host")


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "LOCALHOST:8765", "[::1]:8765"])
def test_the_loopback_names_with_the_port_are_served(client, host):
    assert client.get("/api/files", headers={"host": host}).status_code == 200


def test_allowed_hosts_and_loopback():
    assert allowed_hosts("127.0.0.1", PORT) == {"127.0.0.1:8765", "localhost:8765", "[::1]:8765"}
    assert "192.0.2.7:9000" in allowed_hosts("192.0.2.7", 9000)
    assert "[::1]:80" in allowed_hosts("::1", 80) and "localhost" in allowed_hosts("::1", 80)
    assert not any(h.startswith("0.0.0.0") for h in allowed_hosts("0.0.0.0", PORT))
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.2", "example.org"))


def test_every_response_carries_the_security_headers(client):
    responses = [client.get("/"), client.get("/api/files"), client.get("/static/serve.js"), client.get("/nope"),
                 client.get("/", headers={"host": "evil.example"}), client.get("/", headers={"origin": "http://x"}),
                 client.post("/api/check", content=b"{", headers={"content-type": "application/json"})]
    for r in responses:
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
    csp = CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp


def test_an_accept_reason_cannot_break_out_of_its_string(served, client):
    reason = 'x" } measure EVIL "pwned" { area: admission  effect: restrict } accept X on [Y] { reason: "\\'
    r = client.post("/api/accept", json={"file": "instruments.policy", "version": version(client, "instruments.policy"),
                                         "criterion": "ADM-SECTOR", "ids": ["HSS.2.1", "WPR.7"], "reason": reason})
    assert r.status_code == 200, r.text
    report = client.post("/api/check", json={"files": texts(client)}).json()
    assert not [d for d in report["diagnostics"] if d["severity"] == "error"]
    adm = next(f for f in report["findings"] if f["criterion"] == "ADM-SECTOR")
    assert adm["acceptance"]["reason"] == reason
    assert [a["criterion"] for a in report["accepts"]].count("X") == 0  # no second statement was smuggled in
