"""The language server (pygls 2): documents in, diagnostics and the editor features out.

Diagnostics as you type: every change schedules a check without data (syntax, structure,
declared gains) after a short pause (``debounce``; a newer change cancels the waiting one), run
on a worker thread; its result is published only if the document is still at the version that
was checked. Opening and saving also read the spec's data, on a second worker thread, so typing
never waits for it; the findings only that pass made are shown beside the structural ones
until the next save.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from metricsense.diagnostics import Diagnostic, Severity
from metricsense.lsp import actions
from metricsense.lsp.checker import Checker, Result
from metricsense.lsp.positions import Files, Lines, document_path, span_path, uri_to_path
from metricsense.model import Include
from metricsense.version import __version__

log = logging.getLogger(__name__)

#: Seconds a change waits for the next one before it is checked.
DEBOUNCE = 0.05
#: Where every finding's code links (`codeDescription`): the rules' documentation, as in SARIF.
RULES_URI = "https://github.com/metricsense/metricsense#rules"
_SEVERITY = {Severity.ERROR: types.DiagnosticSeverity.Error, Severity.WARNING: types.DiagnosticSeverity.Warning,
             Severity.INFO: types.DiagnosticSeverity.Information, Severity.HINT: types.DiagnosticSeverity.Hint}


@dataclass
class State:
    """One open document: its latest check, its last check that parsed, and the data pass's findings."""

    uri: str
    path: Path | None
    fast: Result | None = None  # the latest check without data
    good: Result | None = None  # the latest check whose spec parsed
    data_only: list[Diagnostic] = field(default_factory=list)  # what only reading the data found
    analysis: dict = field(default_factory=dict)  # the data pass's analysis (noise for hover)
    pending: asyncio.Task | None = None

    @property
    def document(self):
        for r in (self.fast, self.good):
            if r is not None and r.document is not None:
                return r.document
        return None

    @property
    def shown(self) -> str:
        return (self.fast or self.good).shown if (self.fast or self.good) else "<string>"


class MsenseServer(LanguageServer):
    def __init__(self, checker: Checker | None = None) -> None:
        super().__init__("msense", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.checker = checker or Checker()
        self.states: dict[str, State] = {}
        self.debounce = DEBOUNCE
        self.fast_pool = ThreadPoolExecutor(1, thread_name_prefix="msense-check")
        self.data_pool = ThreadPoolExecutor(1, thread_name_prefix="msense-data")
        self.tasks: set[asyncio.Task] = set()

    def background(self, coro) -> None:
        """Run ``coro`` without waiting for it (a reference is kept until it ends)."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ---- documents and checks ----------------------------------------------------------------

    def open(self, uri: str) -> State:
        """The state of a document the editor opened (kept until it is closed)."""
        if uri not in self.states:
            self.states[uri] = State(uri, document_path(uri))
        return self.states[uri]

    def state(self, uri: str) -> State:
        """An open document's state; for any other URI (a request after didClose) an empty one
        that is not kept, so no later check publishes for a document the editor closed."""
        st = self.states.get(uri)
        return st if st is not None else State(uri, document_path(uri))

    def current(self, uri: str) -> tuple[int | None, str]:
        doc = self.workspace.get_text_document(uri)
        return doc.version, doc.source

    def overlay(self) -> dict[Path, str]:
        """The open editors' texts by file: what the checks read instead of the disk."""
        out = {}
        for uri, st in self.states.items():
            if st.path is not None:
                out[st.path.resolve()] = self.workspace.get_text_document(uri).source
        return out

    def files(self, st: State) -> Files:
        buffers = {} if st.path is not None else {"<string>": (st.uri, self.current(st.uri)[1])}
        moved = {s.path.resolve(): s.uri for s in self.states.values()
                 if s.path is not None and s.path != uri_to_path(s.uri)}  # notebook cells
        return Files(self.overlay(), buffers, moved)

    def schedule(self, uri: str, delay: float) -> None:
        st = self.state(uri)
        if st.pending is not None and not st.pending.done():
            st.pending.cancel()
        st.pending = asyncio.ensure_future(self.check_fast(uri, delay))

    async def check_fast(self, uri: str, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        if uri not in self.states:
            return
        st = self.states[uri]
        version, text = self.current(uri)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.fast_pool, partial(
                self.checker.check, st.path, text, version=version, overlay=self.overlay()))
        except Exception as exc:  # noqa: BLE001 - a check that crashed is logged, never the server's end
            log.exception("check failed")
            self.window_log_message(types.LogMessageParams(types.MessageType.Error, f"msense: check failed: {exc}"))
            return
        if uri not in self.states or self.current(uri)[0] != version:
            return  # NOTE: the text changed while it was checked; the newer check publishes
        st.fast = result
        if result.document is not None:
            st.good = result
        self.publish(st)

    async def check_data(self, uri: str) -> None:
        """The check that reads data files (open and save): its own thread, never the typing's."""
        if uri not in self.states:
            return
        st = self.states[uri]
        version, text = self.current(uri)
        loop = asyncio.get_running_loop()
        run = partial(self.checker.check, st.path, text, version=version, overlay=self.overlay())
        try:
            full = await loop.run_in_executor(self.data_pool, partial(run, data=True))
            if not full.data:
                st.data_only, st.analysis = [], {}
                return
            fast = await loop.run_in_executor(self.data_pool, run)
        except Exception as exc:  # noqa: BLE001
            log.exception("data check failed")
            self.window_log_message(types.LogMessageParams(types.MessageType.Error, f"msense: check failed: {exc}"))
            return
        if uri not in self.states:
            return
        structural = {d.key for d in fast.diagnostics}
        st.data_only = [d for d in full.diagnostics if d.key not in structural]
        st.analysis = full.analysis
        if self.current(uri)[0] == version:
            st.fast = fast
            if fast.document is not None:
                st.good = fast
            self.publish(st)

    def recheck_all(self) -> None:
        for uri in list(self.states):
            self.schedule(uri, 0)

    # ---- publishing --------------------------------------------------------------------------

    def publish(self, st: State) -> None:
        result = st.fast
        if result is None:
            return
        files = self.files(st)
        lines = files.lines(result.shown) if st.path is not None else Lines(self.current(st.uri)[1])
        seen, out = set(), []
        for d in [*result.diagnostics, *st.data_only]:
            if d.key in seen:
                continue
            seen.add(d.key)
            out.append(self.to_lsp(d, result, lines, files))
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=st.uri, version=result.version, diagnostics=out))

    def to_lsp(self, d: Diagnostic, result: Result, lines: Lines, files: Files) -> types.Diagnostic:
        """A finding as the LSP's Diagnostic; one in another file is shown on the `include` that brings it in."""
        related = []
        for r in d.related:
            loc = files.location(r.span)
            if loc is not None:
                related.append(types.DiagnosticRelatedInformation(location=loc, message=r.message))
        message = d.message + (f"\nhelp: {d.help}" if d.help else "")
        data: dict = {}
        if d.span.file == result.shown:
            rng = lines.range(d.span)
            data["fixes"] = actions.fixes(d, lines, result.document)
        else:
            rng = self._include_range(d, result, lines)
            message = f"{d.span}: {message}"
            data["elsewhere"] = True
            loc = files.location(d.span)
            if loc is not None:
                related.insert(0, types.DiagnosticRelatedInformation(location=loc, message="the finding is here"))
        rule = self.checker.registry.rules.get(d.code)
        return types.Diagnostic(
            range=rng, message=message, severity=_SEVERITY[d.severity], code=d.code, source="msense",
            code_description=types.CodeDescription(href=RULES_URI) if rule is not None else None,
            related_information=related or None, data=data)

    @staticmethod
    def _include_range(d: Diagnostic, result: Result, lines: Lines) -> types.Range:
        target = span_path(d.span.file)
        includes = [s for s in result.statements if isinstance(s, Include)]
        for inc in includes:
            inc_path = span_path(inc.span.file)
            if target is not None and inc_path is not None and (inc_path.parent / inc.path).resolve() == target.resolve():
                return lines.range(inc.span)
        if includes:
            return lines.range(includes[0].span)
        return types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))



def build(checker: Checker | None = None) -> MsenseServer:
    """A server with every feature registered."""
    from metricsense.lsp import features

    ls = MsenseServer(checker)
    features.register(ls)
    return ls


def main(tcp: str | None = None) -> None:
    """Serve on stdio, or on ``tcp`` (HOST:PORT)."""
    ls = build()
    if tcp:
        host, _, port = tcp.rpartition(":")
        ls.start_tcp(host or "127.0.0.1", int(port))
    else:
        ls.start_io()
