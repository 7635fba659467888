"""The first thing every request meets: ``Host`` and ``Origin`` checks and the security headers.

The server runs on the drafter's machine and can write their files, so it answers only requests
that come from its own page or from programs on the machine:

* ``Host`` must name the address the server listens on (or ``localhost``, ``127.0.0.1`` or
  ``[::1]``), with its port. A web page on another site that makes its own name resolve to
  127.0.0.1 (DNS rebinding) still sends its own name as ``Host``, and is refused (400).
* A request with an ``Origin`` header that is not the server's own origin is refused (403),
  whatever its method: another site's page may not read from nor write to the server. Requests
  without ``Origin`` (curl, scripts, the browser navigating to the page) are served.
* Every response carries a Content-Security-Policy that allows only the server's own script,
  styles and requests (no inline script, nothing from elsewhere, no framing), ``nosniff`` and
  ``no-referrer``.
"""

from __future__ import annotations

import ipaddress
import json
import socket

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                           "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this machine's
    loopback interface."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` header values the server answers, lower case: the listening address and the
    loopback names, each with the port (and without it on port 80, as browsers send it). A server
    on every interface (0.0.0.0, ::) also answers to this machine's host name."""
    name = host.lower()
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"  # an IPv6 address, as it appears in a Host header
    names = {name, *LOOPBACK_NAMES}
    if name in ("0.0.0.0", "[::]"):
        names.discard(name)
        try:
            names.update({socket.gethostname().lower(), socket.getfqdn().lower()})
        except OSError:  # pragma: no cover - depends on the machine
            pass
    out = {f"{n}:{port}" for n in names}
    if port == 80:
        out |= names
    return frozenset(out)


class Guard:
    """ASGI middleware: refuses requests whose ``Host`` or ``Origin`` is not the server's, and adds
    :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app, *, hosts: frozenset[str]):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _SET]
                message = {**message, "headers": headers + list(SECURITY_HEADERS)}
            await send(message)

        hosts = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"host"]
        origins = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"origin"]
        if len(hosts) != 1 or hosts[0].lower() not in self.hosts:
            shown = hosts[0][:100] if hosts else "(none)"
            await _refuse(send_with_headers, 400, "bad_host",
                          f"this server answers only requests addressed to it (Host {shown!r} is not one of its "
                          "names); open the address `coherence serve` printed")
            return
        if len(origins) > 1 or (origins and origins[0].lower() != f"http://{hosts[0].lower()}"):
            await _refuse(send_with_headers, 403, "cross_origin",
                          f"requests from another origin ({origins[0][:100]!r}) are refused: only the server's own "
                          "page, and programs that send no Origin header, may use it")
            return
        await self.app(scope, receive, send_with_headers)


_SET = {k for k, _ in SECURITY_HEADERS}


async def _refuse(send, status: int, error: str, message: str) -> None:
    body = json.dumps({"error": error, "message": message}, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
