"""The ``coherence serve`` application: the drafting page and its JSON API, on Starlette.

=======  =====================  ===============================================================
method   path                   does
=======  =====================  ===============================================================
GET      ``/``                  the drafting page (editor, findings re-checked as you type)
GET      ``/api/files``         the served set's files, each with its text and version
PUT      ``/api/files/{name}``  save a file (atomically; 409 when it changed on disk)
POST     ``/api/check``         the ``coherence-report/1`` document of the texts given
POST     ``/api/accept``        append an ``accept`` statement to a file
GET      ``/api/schema``        the JSON Schemas of the API and of the report
GET      ``/static/{name}``     the page's script, styles and icon
=======  =====================  ===============================================================

Requests and responses are the models of :mod:`.models`; files are read and written by
:class:`.files.ServedDirectory`; :class:`.guard.Guard` checks ``Host`` and ``Origin`` first.

Checks run in the event loop's thread, one at a time, not in a thread pool: durable_rules keeps
process-wide state and the engine forks a child per run, and forking is only safe from a
process with one thread. A check of a policy set of a few hundred facts takes milliseconds,
so the page's requests queue briefly at worst.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import models as M
from .files import FileProblem, ServedDirectory, StaleVersion, accept_statement, check_name
from .guard import Guard, allowed_hosts

#: The largest request body read (a policy set's texts are far smaller); larger ones get 413.
MAX_BODY = 5 * 1024 * 1024
#: How many rulesets other than the server's a running server keeps parsed.
OTHER_RULESETS_KEPT = 4

_HERE = Path(__file__).resolve().parent
_STATIC = {
    # name -> (file, media type): a fixed table, so no request names a path
    "serve.js": (_HERE / "static" / "serve.js", "text/javascript; charset=utf-8"),
    "serve.css": (_HERE / "static" / "serve.css", "text/css; charset=utf-8"),
    "favicon.svg": (_HERE / "static" / "favicon.svg", "image/svg+xml"),
    # the HTML report's stylesheet: the page uses its vocabulary and colours
    "report.css": (_HERE.parent / "render" / "templates" / "report.css", "text/css; charset=utf-8"),
}


class ApiError(Exception):
    """A request the API refuses: the status, a short code and a message for people."""

    def __init__(self, status: int, error: str, message: str, *, issues: Optional[list[dict]] = None,
                 current_version: Optional[str] = None):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.issues, self.current_version = issues, current_version

    def response(self) -> JSONResponse:
        body = M.ErrorResponse(error=self.error, message=self.message, issues=self.issues,
                               current_version=self.current_version)
        return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=self.status,
                            headers={"cache-control": "no-store"})


class ServeError(Exception):
    """The server cannot start (a ruleset with errors, a missing --with path, an address in use);
    ``diagnostics`` and ``sources`` hold the rulesets' diagnostics when there are any."""

    def __init__(self, message: str, diagnostics=(), sources=None):
        super().__init__(message)
        self.diagnostics, self.sources = list(diagnostics), sources


class Drafting:
    """What the application serves: the directory, the shared rulesets, the check settings."""

    def __init__(self, directory: Path, *, rulesets: Optional[Sequence[str]] = None,
                 with_paths: Sequence[str] = (), as_of: Optional[dt.date] = None, max_derived: Optional[int] = None,
                 max_body: int = MAX_BODY, shown: Optional[str] = None):
        from ..session import Rulesets, resolve_reference

        self.shown = shown if shown is not None else str(directory)
        self.rulesets = list(rulesets) if rulesets else None
        self.with_paths = list(with_paths)
        self.as_of = as_of
        self.max_derived = max_derived
        self.max_body = max_body
        for p in self.with_paths:
            if not resolve_reference(p).exists():
                raise ServeError(f"--with {p}: no such file or directory")
        self.directory = ServedDirectory(directory, max_text=max_body,
                                         exclude=tuple(resolve_reference(p) for p in self.with_paths))
        # parsed, checked and compiled once; every check that names no other rulesets shares it
        self.rules = Rulesets(self.rulesets)
        if self.rules.errors:
            raise ServeError("the rulesets have errors", self.rules.all_diagnostics, self.rules.sources)
        self.rules.alone().run_until("compile")
        self._other: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        # each text's and reference file's parse, kept while it is unchanged: a check after an
        # edit parses the edited file alone (checks take turns, one memo serving them)
        from ..warm import SourceMemo

        self.memo = SourceMemo()
        self._checking = threading.Lock()

    # ---- rulesets

    def available_rulesets(self) -> list[str]:
        from ..session import builtin_rulesets

        return sorted(set(builtin_rulesets()) | set(self.rulesets or []))

    def rules_for(self, names: Optional[list[str]]):
        """The :class:`Rulesets` of a check: the shared one, or one built for the names asked for
        (shipped rulesets or the server's own, never another path from a request)."""
        from ..session import Rulesets

        if names is None or names == (self.rulesets or ["core"]):
            return self.rules
        if not names:
            raise ApiError(422, "invalid_request", "rulesets: give at least one ruleset, or leave the field out")
        allowed = self.available_rulesets()
        for n in names:
            if n not in allowed:
                raise ApiError(400, "unknown_ruleset", f"unknown ruleset {n!r}: the server checks with "
                                                       f"{', '.join(allowed)}")
        key = tuple(names)
        if key not in self._other:
            rules = Rulesets(list(key))
            if rules.errors:
                raise ApiError(400, "ruleset_errors", f"the rulesets {', '.join(key)} have errors")
            self._other[key] = rules
            while len(self._other) > OTHER_RULESETS_KEPT:
                self._other.popitem(last=False)
        self._other.move_to_end(key)
        return self._other[key]

    # ---- the stages

    def check(self, texts: dict[str, str], rulesets: Optional[list[str]], as_of: Optional[dt.date]) -> str:
        """The ``coherence-report/1`` JSON of ``texts`` (plus the server's ``--with`` sets), the
        same bytes ``coherence check --format json`` writes for those files."""
        from ..session import Session

        rules = self.rules_for(rulesets)
        session = Session(texts=texts, with_paths=self.with_paths, rules=rules, as_of=as_of or self.as_of,
                          max_derived=self.max_derived)
        with self._checking, self.memo.checking(session):
            try:
                return session.report.to_json()
            except RecursionError:
                raise ApiError(400, "too_deep", "the input nests too deeply to analyse")

    def files(self) -> M.FilesResponse:
        """The served set, as ``GET /api/files`` answers."""
        entries = [M.FileEntry(**e.to_dict()) for e in self.directory.list()]
        return M.FilesResponse(directory=self.shown, files=entries, rulesets=self.rulesets,
                               available_rulesets=self.available_rulesets(), with_paths=self.with_paths,
                               as_of=self.as_of, max_body=self.max_body)


# ---- request plumbing -----------------------------------------------------------------------------------------


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, refused when it is not JSON or larger than ``limit`` (before reading
    it when ``Content-Length`` says so, else as soon as the chunks read pass the limit)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        # also what keeps an HTML form of another site (which cannot send this type) out
        raise ApiError(415, "unsupported_media_type", "send the request as JSON, with Content-Type: application/json")
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ApiError(400, "bad_length", "invalid Content-Length")
        if int(length) > limit:
            raise ApiError(413, "too_large", f"the request body is {int(length)} bytes; the limit is {limit}")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise ApiError(413, "too_large", f"the request body is larger than the limit of {limit} bytes")
    return bytes(data)


def _parse(model: type[BaseModel], data: bytes) -> Any:
    """``data`` as an instance of ``model``: 400 for text that is not UTF-8 or not JSON, 422 for
    JSON that does not follow the model (each problem listed)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, "not_utf8", f"the request body is not UTF-8 text (byte 0x{data[e.start]:02x} at "
                                        f"offset {e.start})")
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {e}")
    try:  # a \ud800 escape is valid JSON but no Unicode text: it could not be written as UTF-8
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "not_utf8", "the request holds a string that is not valid Unicode (a lone surrogate "
                                        "escape such as \\ud800)")
    try:
        return model.model_validate_json(text)
    except ValidationError as e:
        issues = [{"loc": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
                  for err in e.errors(include_url=False)]
        first = issues[0] if issues else {"loc": "(body)", "message": "invalid"}
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise ApiError(422, "invalid_request", f"the request does not follow {model.__name__}: "
                                               f"{first['loc']}: {first['message']}{more}", issues=issues)


def _text(name: str, text: str, what: str = "text") -> str:
    """A file's text from a request, refused when it is not valid Unicode or holds NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "not_utf8", f"the {what} of {name!r} is not valid Unicode (a lone surrogate)")
    if "\0" in text:
        raise ApiError(400, "binary", f"the {what} of {name!r} contains a NUL character")
    return text


def _name(name: str) -> str:
    try:
        return check_name(name)
    except FileProblem as e:
        raise ApiError(e.status, e.error, e.message)


def _file_problem(e: FileProblem) -> ApiError:
    current = e.current if isinstance(e, StaleVersion) else None
    return ApiError(e.status, e.error, e.message, current_version=current)


def _json(model: BaseModel, status: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json", by_alias=True), status_code=status,
                        headers={"cache-control": "no-store"})


# ---- the application ------------------------------------------------------------------------------------------


def create_app(directory: Path | str, *, rulesets: Optional[Sequence[str]] = None, with_paths: Sequence[str] = (),
               as_of: Optional[dt.date] = None, max_derived: Optional[int] = None, host: str = "127.0.0.1",
               port: int = 8765, max_body: int = MAX_BODY, shown: Optional[str] = None,
               drafting: Optional[Drafting] = None) -> Guard:
    """The application serving ``directory``: checks with ``rulesets`` (None: core) and the
    ``with_paths`` reference sets, on ``as_of`` (None: today); answers requests addressed to
    ``host:port`` (see :mod:`.guard`). ``drafting``, when given, replaces all of those but the
    address. The ASGI application, whose ``drafting`` attribute is the :class:`Drafting` it
    serves. Raises :class:`ServeError` when it cannot serve."""
    state = drafting or Drafting(Path(directory), rulesets=rulesets, with_paths=with_paths, as_of=as_of,
                                 max_derived=max_derived, max_body=max_body, shown=shown)

    async def page(request: Request) -> Response:
        return Response(_page_html(state.shown), media_type="text/html; charset=utf-8",
                        headers={"cache-control": "no-store"})

    async def static(request: Request) -> Response:
        entry = _STATIC.get(request.path_params["name"])
        if entry is None:
            raise ApiError(404, "not_found", "no such file")
        return Response(_read_static(entry[0]), media_type=entry[1], headers={"cache-control": "no-cache"})

    async def list_files(request: Request) -> Response:
        return _json(state.files())

    async def save_file(request: Request) -> Response:
        name = _name(request.path_params["name"])
        req = _parse(M.SaveRequest, await _body(request, state.max_body))
        _text(name, req.text)
        try:
            version, size = state.directory.save(name, req.text, req.version)
        except FileProblem as e:
            raise _file_problem(e)
        return _json(M.SaveResponse(name=name, version=version, size=size))

    async def check(request: Request) -> Response:
        req = _parse(M.CheckRequest, await _body(request, state.max_body))
        for name, text in req.files.items():
            _text(_name(name), text)
        doc = state.check(req.files, req.rulesets, req.as_of)
        return Response(doc, media_type="application/json", headers={"cache-control": "no-store"})

    async def accept(request: Request) -> Response:
        req = _parse(M.AcceptRequest, await _body(request, state.max_body))
        name = _name(req.file)
        _text(name, req.reason, "reason")
        try:
            statement = accept_statement(req.criterion, req.ids, req.reason, req.until)
            version, size, text, appended = state.directory.append_accept(name, statement, req.version)
        except FileProblem as e:
            raise _file_problem(e)
        return _json(M.AcceptResponse(name=name, version=version, size=size, statement=statement,
                                      appended=appended, text=text))

    async def schema(request: Request) -> Response:
        return JSONResponse(_schemas(), headers={"cache-control": "no-cache"})

    async def api_error(request: Request, exc: ApiError) -> Response:
        return exc.response()

    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return ApiError(exc.status_code, code, str(exc.detail)).response()

    async def internal_error(request: Request, exc: Exception) -> Response:
        return ApiError(500, "internal", f"internal error: {type(exc).__name__}: {exc}. This is a bug in "
                                         "coherence; please report it with the input that triggers it.").response()

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        Route("/api/files", list_files, methods=["GET"]),
        Route("/api/files/{name:path}", save_file, methods=["PUT"]),
        Route("/api/check", check, methods=["POST"]),
        Route("/api/accept", accept, methods=["POST"]),
        Route("/api/schema", schema, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={ApiError: api_error, HTTPException: http_error,
                                                       Exception: internal_error})
    # the guard wraps everything, Starlette's own error pages included
    guarded = Guard(app, hosts=allowed_hosts(host, port))
    guarded.drafting = state
    return guarded


@lru_cache(maxsize=None)
def _read_static(path: Path) -> bytes:
    return path.read_bytes()


@lru_cache(maxsize=1)
def _schemas() -> dict:
    return {"api": M.api_schema(), "report": M.report_schema()}


@lru_cache(maxsize=8)
def _page_html(shown: str) -> str:
    """The drafting page: a shell the script fills. The template substitutes fields only, with
    autoescaping; the vocabulary of the HTML report (score labels, statuses, proof node kinds)
    goes into ``data-`` attributes for the script, never into script text."""
    import jinja2

    from ..render.html import ACCEPT_NOTES, SCALE, STATUS_NAMES, STATUS_NOTES, TRACE_KINDS, score_class, score_text

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_HERE / "templates")), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    vocabulary = {
        "scale": [{"score": s, "text": score_text(s), "label": SCALE[s][0], "meaning": SCALE[s][1],
                   "cls": score_class(s)} for s in range(-3, 4)],
        "statuses": [{"key": k, "name": STATUS_NAMES[k], "note": STATUS_NOTES[k]} for k in STATUS_NAMES],
        "accepts": [{"key": k, "note": v} for k, v in ACCEPT_NOTES.items()],
        "trace": [{"key": k, "name": v} for k, v in TRACE_KINDS.items()],
    }
    return env.get_template("page.html.j2").render(directory=shown, vocabulary=vocabulary)


# ---- running ----------------------------------------------------------------------------------------------------


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (port 0: a free port), or :class:`ServeError`."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ServeError(f"cannot listen on {host}: {e.strerror or e}")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as e:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e}")
    sock.set_inheritable(True)
    return sock


def serve(directory: Path | str, *, rulesets: Optional[Sequence[str]] = None, with_paths: Sequence[str] = (),
          as_of: Optional[dt.date] = None, max_derived: Optional[int] = None, host: str = "127.0.0.1",
          port: int = 8765, echo: Callable[[str], None] = print) -> None:
    """Serve ``directory`` on ``host:port`` until interrupted; ``echo`` prints the address."""
    import uvicorn

    shown = str(directory)
    if shown in (".", "./"):
        shown = os.path.basename(os.path.realpath(directory)) or shown
    # the rulesets are read and checked before the port is taken: a bad one stops here
    state = Drafting(Path(directory), rulesets=rulesets, with_paths=with_paths, as_of=as_of,
                     max_derived=max_derived, shown=shown)
    sock = listen(host, port)
    try:
        port = sock.getsockname()[1]
        app = create_app(directory, host=host, port=port, drafting=state)
        # every interface: the page is opened on this machine's loopback address
        name = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
        name = f"[{name}]" if ":" in name and not name.startswith("[") else name
        echo(f"coherence serve: drafting {shown} at http://{name}:{port}/ (Ctrl+C stops)")
        sys.stdout.flush()
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
