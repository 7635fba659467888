"""The ``coherence lsp`` server: pygls wiring, debounced checks, publishing, request handlers.

Each open document belongs to the policy set of its folder (:mod:`coherence_rules.lsp.sets`). A
change bumps the set's generation and, once no change has come for :data:`DEBOUNCE` seconds,
the set is checked in the server's one checking thread (the event loop keeps reading messages
meanwhile) and each file's diagnostics are published. Everything that parses or runs rules
(checks, formatting) runs in that one thread: the parser keeps the parse under way in a module
global and the rule engine is not run from several threads at once. A request (hover, definition, completion, code action)
first brings its set up to date, so it never answers from text older than itself.

Every handler catches and logs its own errors (``window/logMessage`` and the server's log on
stderr) and answers "nothing": a bug in one feature must not end the drafter's session.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import faulthandler
import functools
import logging
import os
import signal
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional, Sequence
from urllib.parse import unquote

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .. import __version__
from ..warm import SourceMemo
from ..sources.loader import markdown_blocks
from . import features as F
from .positions import UTF16
from .sets import CheckResult, RulesetCache, check_set, fallback_program, inside, is_source, set_config

log = logging.getLogger("coherence.lsp")

#: Seconds without a change before a set is checked again.
DEBOUNCE = 0.3
#: Seconds a request waits for its set's check before answering from the previous check.
FRESH_WAIT = 10.0


class SetState:
    """What the server keeps for one policy set (one folder)."""

    def __init__(self, folder: str):
        self.folder = folder
        self.generation = 0  # bumped by every change of one of its texts
        self.checked = -1  # the generation of the last check
        self.lock = asyncio.Lock()
        self.result: Optional[CheckResult] = None
        #: look-ups for hover, definition, completion: from the last check that got a program
        self.index: Optional[F.Index] = None
        #: the diagnostics last published, by path
        self.published: dict[str, list[T.Diagnostic]] = {}


class CoherenceServer(LanguageServer):
    """The language server. ``rulesets``/``with_paths`` (absolute paths or shipped names) replace
    the settings files' ``ruleset``/``with``, as on every command line; ``debounce`` is the quiet
    time before a check."""

    def __init__(self, rulesets: Optional[Sequence[str]] = None, with_paths: Optional[Sequence[str]] = None,
                 debounce: float = DEBOUNCE):
        super().__init__("coherence", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Incremental)
        self.rulesets = list(rulesets) if rulesets else None
        self.with_paths = list(with_paths) if with_paths else None
        self.debounce = debounce
        self.cache = RulesetCache()
        self.checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coherence-check")
        self.sets: dict[str, SetState] = {}
        #: each set's parses, kept between its checks (read and written by the checking thread)
        self.memos: dict[str, SourceMemo] = {}

    # ---- documents and sets

    @property
    def encoding(self) -> str:
        """The position encoding agreed with the client (UTF-16 unless it offered another)."""
        enc = getattr(self.workspace, "position_encoding", None) or UTF16
        return str(getattr(enc, "value", enc))

    @staticmethod
    def path_of(uri: str) -> Optional[str]:
        """The absolute path of a ``file:`` URI (None for other schemes)."""
        path = to_fs_path(uri) if uri.startswith("file:") else None
        return os.path.abspath(path) if path else None

    def open_texts(self, folder: str) -> dict[str, tuple[str, Optional[int]]]:
        """The unsaved texts of the open documents under ``folder``: path -> (text, version)."""
        out = {}
        for uri, doc in list(self.workspace.text_documents.items()):
            path = self.path_of(uri)
            if path and is_source(path) and inside(path, folder):
                out[path] = (doc.source, doc.version)
        return out

    def is_ours(self, uri: str, path: Optional[str]) -> bool:
        """Whether a document is a source with a set of its own: a ``.policy``, ``.rules`` or
        ``.csv`` file, or a Markdown file with ``policy``/``rules`` blocks (prose Markdown, a
        README at the top of a repository, does not make its whole folder a policy set)."""
        if not path or not is_source(path):
            return False
        if not path.endswith(".md"):
            return True
        doc = self.workspace.text_documents.get(unquote(uri))
        text = doc.source if doc is not None else ""
        return bool(markdown_blocks(text.replace("\r\n", "\n").replace("\r", "\n")))

    def state_for(self, path: str) -> SetState:
        """The state of the set of the folder holding ``path`` (created on first use)."""
        folder = os.path.dirname(path)
        state = self.sets.get(folder)
        if state is None:
            state = self.sets[folder] = SetState(folder)
        return state

    def owner(self, path: str) -> Optional[str]:
        """The folder of the most specific open set holding ``path`` (None when no set does):
        that set publishes the file's diagnostics."""
        best = None
        for folder in self.sets:
            if inside(path, folder) and (best is None or len(folder) > len(best)):
                best = folder
        return best

    def changed(self, path: str, own: bool = True, delay: Optional[float] = None) -> None:
        """A text of ``path`` changed: check every open set holding it (and, with ``own``, the set
        of its folder, opened if need be) once changes have stopped for ``delay`` seconds (the
        server's debounce by default)."""
        if own:
            self.state_for(path)
        for state in list(self.sets.values()):
            if inside(path, state.folder):
                state.generation += 1
                asyncio.ensure_future(self._debounced(state, state.generation,
                                                      self.debounce if delay is None else delay))

    async def _debounced(self, state: SetState, generation: int, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            if generation == state.generation and self.sets.get(state.folder) is state:
                await self.refresh(state)
        except Exception:  # noqa: BLE001 - logged, the server keeps running
            self.log_error("checking the policy set of " + state.folder)

    async def refresh(self, state: SetState) -> Optional[CheckResult]:
        """Bring ``state`` up to date with the texts (checking it when it changed since its last
        check) and publish its diagnostics; its last result."""
        async with state.lock:
            if state.checked == state.generation:
                return state.result
            generation = state.generation
            texts = self.open_texts(state.folder)
            encoding = self.encoding
            loop = asyncio.get_running_loop()
            result, index, per_file = await loop.run_in_executor(
                self.checker, self._check, state.folder, texts, encoding)
            state.result, state.checked = result, generation
            if index.program is not None and (result.program is not None or state.index is None
                                              or state.index.program is None):
                state.index = index
            if generation == state.generation and self.sets.get(state.folder) is state:
                self.publish(state, per_file)
            return result

    def _check(self, folder: str, texts: dict, encoding: str):
        """In the checking thread: check the set, and compute what to publish and answer with."""
        config = set_config(folder, self.rulesets, self.with_paths)
        memo = self.memos.setdefault(folder, SourceMemo())  # this thread alone uses them
        result = check_set(folder, texts, config, self.cache, memo=memo)
        program = result.program if result.program is not None else fallback_program(result)
        index = F.Index(result, program, encoding)
        open_paths = [p for p in texts if os.path.dirname(p) == folder or p in result.texts]
        return result, index, F.file_diagnostics(result, index, open_paths)

    def publish(self, state: SetState, per_file: dict[str, list[T.Diagnostic]]) -> None:
        """Publish the diagnostics of every file whose diagnostics changed, and clear those of
        files that no longer have any (a file that left the set is cleared too)."""
        result = state.result
        todo = dict(per_file)
        for path in state.published:
            todo.setdefault(path, [])
        for path, diags in todo.items():
            owner = self.owner(path)
            if owner is not None and owner != state.folder:
                continue  # a more specific open set publishes this file
            if path in state.published and state.published[path] == diags:
                continue
            version = result.versions.get(path) if result is not None else None
            self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(F.uri_of(path), list(diags), version))
            state.published[path] = list(diags)
        for path in [p for p in state.published if p not in per_file]:
            del state.published[path]

    def forget(self, state: SetState) -> None:
        """Drop a set none of whose documents is open any more, clearing its diagnostics."""
        for path, diags in state.published.items():
            if diags and self.owner(path) in (None, state.folder):
                self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(F.uri_of(path), []))
        self.sets.pop(state.folder, None)

    async def current(self, uri: str) -> tuple[Optional[str], Optional[SetState]]:
        """The path and the up-to-date set of a document (None, None when it is not a source)."""
        path = self.path_of(uri)
        if not self.is_ours(uri, path):
            return None, None
        state = self.state_for(path)
        try:
            # a check that takes long (a huge set) goes on; the request answers from the last one
            await asyncio.wait_for(asyncio.shield(self.refresh(state)), FRESH_WAIT)
        except asyncio.TimeoutError:
            log.warning("the check of %s takes more than %ss: answering from the previous one", state.folder,
                        FRESH_WAIT)
        return path, state

    def text(self, uri: str) -> str:
        """The document's text as the editor has it."""
        return self.workspace.get_text_document(uri).source

    def log_error(self, what: str) -> None:
        """Log the exception being handled, to the server's log and to the client."""
        log.exception("error while %s", what)
        message = f"coherence: error while {what}:\n{traceback.format_exc()}"
        try:
            self.window_log_message(T.LogMessageParams(T.MessageType.Error, message))
        except Exception:  # noqa: BLE001 - the connection may be gone
            log.debug("cannot send the log message", exc_info=True)


def guarded(what: str, default: Any = None) -> Callable:
    """Make a handler catch and log its own errors and answer ``default`` instead."""

    def wrap(fn):
        @functools.wraps(fn)
        async def handler(ls: CoherenceServer, params):
            try:
                return await fn(ls, params)
            except Exception:  # noqa: BLE001 - the server keeps running
                ls.log_error(what)
                return default() if callable(default) else default

        return handler

    return wrap


def build_server(rulesets: Optional[Sequence[str]] = None, with_paths: Optional[Sequence[str]] = None,
                 debounce: float = DEBOUNCE) -> CoherenceServer:
    """A server with every feature registered."""
    server = CoherenceServer(rulesets, with_paths, debounce)

    @server.feature(T.INITIALIZE)
    @guarded("initializing")
    async def initialize(ls: CoherenceServer, params: T.InitializeParams):
        options = params.initialization_options
        value = options.get("debounce") if isinstance(options, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 10:
            ls.debounce = float(value)

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    @guarded("opening a document")
    async def did_open(ls: CoherenceServer, params: T.DidOpenTextDocumentParams):
        path = ls.path_of(params.text_document.uri)
        if path and is_source(path):  # a document just opened is checked at once
            ls.changed(path, own=ls.is_ours(params.text_document.uri, path), delay=0)

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    @guarded("applying a change")
    async def did_change(ls: CoherenceServer, params: T.DidChangeTextDocumentParams):
        path = ls.path_of(params.text_document.uri)
        if path and is_source(path):
            ls.changed(path, own=ls.is_ours(params.text_document.uri, path))

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE)
    @guarded("saving a document")
    async def did_save(ls: CoherenceServer, params: T.DidSaveTextDocumentParams):
        path = ls.path_of(params.text_document.uri)
        if path and is_source(path):  # other sets may read the file from disk
            ls.changed(path, own=ls.is_ours(params.text_document.uri, path))

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    @guarded("closing a document")
    async def did_close(ls: CoherenceServer, params: T.DidCloseTextDocumentParams):
        path = ls.path_of(params.text_document.uri)
        if not path or not is_source(path):
            return
        state = ls.sets.get(os.path.dirname(path))
        still_open = [p for p in ls.open_texts(os.path.dirname(path)) if os.path.dirname(p) == os.path.dirname(path)]
        if state is not None and not still_open:
            ls.forget(state)
        # what is on disk replaces the closed text in the sets that stay open
        ls.changed(path, own=False)

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    @guarded("answering a hover")
    async def hover(ls: CoherenceServer, params: T.HoverParams):
        path, state = await ls.current(params.text_document.uri)
        if state is None or state.index is None:
            return None
        pos = params.position
        return F.hover(state.index, ls.text(params.text_document.uri), path, pos.line, pos.character)

    @server.feature(T.TEXT_DOCUMENT_DEFINITION)
    @guarded("finding a definition", list)
    async def definition(ls: CoherenceServer, params: T.DefinitionParams):
        path, state = await ls.current(params.text_document.uri)
        if state is None or state.index is None:
            return []
        pos = params.position
        return F.definition(state.index, ls.text(params.text_document.uri), path, pos.line, pos.character)

    @server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[":", "[", ",", "@", " "]))
    @guarded("completing", lambda: T.CompletionList(is_incomplete=False, items=[]))
    async def completion(ls: CoherenceServer, params: T.CompletionParams):
        path, state = await ls.current(params.text_document.uri)
        if state is None or state.index is None:
            return T.CompletionList(is_incomplete=False, items=[])
        pos = params.position
        return F.completion(state.index, ls.text(params.text_document.uri), path, pos.line, pos.character)

    @server.feature(T.TEXT_DOCUMENT_FORMATTING)
    @guarded("formatting", list)
    async def formatting(ls: CoherenceServer, params: T.DocumentFormattingParams):
        path = ls.path_of(params.text_document.uri)
        if path is None or not is_source(path):
            return []
        # in the checking thread: the parser keeps the state of the parse under way in a module
        # global, so two parses at once (a check and this) would mix their trees
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(ls.checker, F.formatting, ls.text(params.text_document.uri), path,
                                          ls.encoding)

    @server.feature(T.TEXT_DOCUMENT_CODE_ACTION, T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
    @guarded("computing code actions", list)
    async def code_action(ls: CoherenceServer, params: T.CodeActionParams):
        only = params.context.only
        if only and not any(str(k).startswith(T.CodeActionKind.QuickFix) for k in only):
            return []
        uri = params.text_document.uri
        path = ls.path_of(uri)
        if path is None or not is_source(path):
            return []
        state = ls.sets.get(os.path.dirname(path))
        result = state.result if state is not None else None
        actions, seen = [], set()
        today = dt.date.today()
        for diag in params.context.diagnostics:
            found = F.finding_for(diag, result, path)
            if found is None or (found[0], tuple(found[1])) in seen:
                continue
            seen.add((found[0], tuple(found[1])))
            actions.append(F.accept_action(uri, ls.text(uri), path, diag, found[0], found[1], today, ls.encoding))
        return actions

    @server.feature(T.SHUTDOWN)
    @guarded("shutting down")
    async def shutdown(ls: CoherenceServer, params):
        ls.checker.shutdown(wait=False, cancel_futures=True)

    return server


def serve(rulesets: Optional[Sequence[str]] = None, with_paths: Optional[Sequence[str]] = None,
          debounce: float = DEBOUNCE) -> None:
    """Run the server over stdin and stdout until the client tells it to exit."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.DEBUG if os.environ.get("COHERENCE_DEBUG") else logging.WARNING,
                            format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if hasattr(signal, "SIGUSR1"):
        # `kill -USR1 PID` writes every thread's stack to the log: how to see where a server hangs
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    build_server(rulesets, with_paths, debounce).start_io()
