"""A small Language Server Protocol client for the tests: it starts ``coherence lsp`` as a
subprocess and speaks JSON-RPC to it over stdio, with the protocol's ``Content-Length`` framing.

Synchronous on purpose: a reader thread files every message the server sends (responses by id,
notifications in order), and the test waits for what it expects with a timeout, so a test never
hangs on a server that stopped answering.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Optional

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0


class LspError(Exception):
    """The server answered a request with an error."""


def uri(path: Path | str) -> str:
    """The ``file:`` URI of a path (as the server builds it)."""
    return Path(path).absolute().as_uri()


def utf16(text: str) -> int:
    """The length of ``text`` in UTF-16 code units (LSP's default character counting)."""
    return len(text.encode("utf-16-le")) // 2


def position(text: str, offset: int) -> dict:
    """The LSP position (UTF-16) of a code-point offset into ``text``."""
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return {"line": line, "character": utf16(text[start:offset])}


def position_of(text: str, needle: str, delta: int = 0, nth: int = 0) -> dict:
    """The LSP position of the ``nth`` occurrence of ``needle`` in ``text``, plus ``delta``
    code points."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    return position(text, i + delta)


def apply_edits(text: str, edits: list[dict]) -> str:
    """``text`` with LSP text edits applied (UTF-16 positions, none overlapping)."""
    lines = text.split("\n")

    def offset(pos: dict) -> int:
        line = min(pos["line"], len(lines) - 1)
        before = sum(len(l) + 1 for l in lines[:line])
        units, col = 0, 0
        for ch in lines[line]:
            if units >= pos["character"]:
                break
            units += utf16(ch)
            col += 1
        return before + col

    for e in sorted(edits, key=lambda e: (e["range"]["start"]["line"], e["range"]["start"]["character"]),
                    reverse=True):
        a, b = offset(e["range"]["start"]), offset(e["range"]["end"])
        text = text[:a] + e["newText"] + text[b:]
        lines = text.split("\n")
    return text


class LspClient:
    """A client connected to a ``coherence lsp`` subprocess started in ``cwd``."""

    def __init__(self, cwd: Path, args: tuple[str, ...] = (), env: Optional[dict] = None):
        environment = dict(os.environ)
        environment["PYTHONPATH"] = str(REPO) + os.pathsep + environment.get("PYTHONPATH", "")
        environment.update(env or {})
        self.proc = subprocess.Popen([sys.executable, "-m", "coherence_rules.cli", "lsp", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=str(cwd), env=environment)
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._next_id = 0
        self.responses: dict[int, dict] = {}
        self.notifications: list[dict] = []
        self.stderr: list[str] = []
        self.versions: dict[str, int] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()

    # ---- transport

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    with self._cond:
                        self._cond.notify_all()
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
            body = out.read(length or 0)
            msg = json.loads(body.decode("utf-8"))
            if "method" in msg and "id" in msg:  # a request from the server: accept it
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                continue
            with self._cond:
                if "id" in msg and "method" not in msg:
                    self.responses[msg["id"]] = msg
                else:
                    self.notifications.append(msg)
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    def _send(self, msg: dict) -> None:
        body = json.dumps(msg).encode("utf-8")
        with self._write_lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self.proc.poll() is None

    def request(self, method: str, params: Any = None, timeout: float = TIMEOUT) -> Any:
        """Send a request and wait for its result (an error answer raises :class:`LspError`)."""
        with self._cond:
            self._next_id += 1
            rid = self._next_id
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        with self._cond:
            if not self._cond.wait_for(lambda: rid in self.responses or not self.alive(), timeout):
                raise TimeoutError(f"no answer to {method} within {timeout}s; stderr:\n{''.join(self.stderr)}")
            if rid not in self.responses:
                raise RuntimeError(f"the server exited during {method}; stderr:\n{''.join(self.stderr)}")
            msg = self.responses.pop(rid)
        if "error" in msg:
            raise LspError(msg["error"])
        return msg.get("result")

    def notify(self, method: str, params: Any = None) -> None:
        """Send a notification."""
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_for(self, predicate: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
        """Wait until ``predicate()`` (called under the lock, as messages arrive) is true."""
        with self._cond:
            found = self._cond.wait_for(predicate, timeout)
        if not found:
            raise TimeoutError(f"condition not met within {timeout}s; stderr:\n{''.join(self.stderr)}")
        return found

    # ---- the protocol

    def initialize(self, root: Path, debounce: float = 0.05, encodings: tuple[str, ...] = ("utf-16",)) -> dict:
        """``initialize`` and ``initialized``, as an editor with the usual capabilities would (with a
        short debounce, to keep the tests quick), offering the position ``encodings``."""
        caps = {
            "general": {"positionEncodings": list(encodings)},
            "textDocument": {
                "synchronization": {"didSave": True},
                "publishDiagnostics": {"relatedInformation": True, "dataSupport": True, "versionSupport": True},
                "hover": {"contentFormat": ["markdown", "plaintext"]},
                "completion": {"completionItem": {"snippetSupport": False}},
                "codeAction": {"codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix"]}},
                               "dataSupport": True},
                "definition": {},
                "formatting": {},
            },
            "window": {"workDoneProgress": False},
        }
        result = self.request("initialize", {"processId": os.getpid(), "rootUri": uri(root),
                                             "capabilities": caps, "workspaceFolders": None,
                                             "initializationOptions": {"debounce": debounce}})
        self.notify("initialized", {})
        return result

    def open(self, path: Path, text: Optional[str] = None, language: str = "coherence") -> str:
        """``didOpen`` a file (its text on disk unless ``text`` is given); its URI."""
        u = uri(path)
        self.versions[u] = 1
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": u, "languageId": language, "version": 1,
            "text": path.read_text(encoding="utf-8") if text is None else text}})
        return u

    def change(self, u: str, text: str) -> None:
        """Replace the whole text of an open document."""
        self.versions[u] += 1
        self.notify("textDocument/didChange", {"textDocument": {"uri": u, "version": self.versions[u]},
                                               "contentChanges": [{"text": text}]})

    def edit(self, u: str, start: dict, end: dict, text: str) -> None:
        """An incremental change: replace the range ``start``-``end`` by ``text``."""
        self.versions[u] += 1
        self.notify("textDocument/didChange", {"textDocument": {"uri": u, "version": self.versions[u]},
                                               "contentChanges": [{"range": {"start": start, "end": end},
                                                                   "text": text}]})

    def close_document(self, u: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": u}})

    def published(self, u: str) -> Optional[list[dict]]:
        """The diagnostics last published for ``u`` (None when none were); call under the lock or
        from a :meth:`wait_for` predicate."""
        for msg in reversed(self.notifications):
            if msg.get("method") == "textDocument/publishDiagnostics" and msg["params"]["uri"] == u:
                return msg["params"]["diagnostics"]
        return None

    def diagnostics(self, u: str, predicate: Callable[[list[dict]], bool] = lambda d: True,
                    timeout: float = TIMEOUT) -> list[dict]:
        """Wait until the diagnostics last published for ``u`` satisfy ``predicate``; them."""
        box: list = []

        def ready():
            d = self.published(u)
            if d is not None and predicate(d):
                box.append(d)
                return True
            return False

        try:
            self.wait_for(ready, timeout)
        except TimeoutError as e:
            with self._cond:
                last = self.published(u)
            raise TimeoutError(f"diagnostics of {u} not as expected; last published: {last}\n{e}") from None
        return box[0]

    def log_errors(self) -> list[str]:
        """The error messages the server logged to the client (``window/logMessage`` type 1)."""
        with self._cond:
            return [m["params"]["message"] for m in self.notifications
                    if m.get("method") == "window/logMessage" and m["params"].get("type") == 1]

    def text_request(self, method: str, u: str, pos: Optional[dict] = None, **extra) -> Any:
        """A ``textDocument/...`` request on ``u`` (at ``pos``)."""
        params: dict = {"textDocument": {"uri": u}, **extra}
        if pos is not None:
            params["position"] = pos
        return self.request(method, params)

    def shutdown(self, timeout: float = TIMEOUT) -> int:
        """``shutdown`` then ``exit``; the server's exit status."""
        self.request("shutdown")
        self.notify("exit")
        return self.proc.wait(timeout)

    def close(self) -> None:
        """End the server process, however the test went."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
