"""A workspace of specs on disk, a recording client, and waiting for what the server publishes."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Union

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

MAIN = '''\
mission "Serve customers" {
  why "Customers who are served well stay"
}
include "parts.msense"

lever deploys "Deploys per week" owner "platform"
failure outages "Customers meet outages" at outcome

kpi csat "Customer satisfaction" {
  kind outcome
  focus results
  better higher
  unit "points"
  target >= 4.5 by 2027-06-30
  link "Satisfied customers are the mission itself"
  guards outages
  responds deploys +0.2, support_hours +0.6
}

trigger csat_dip when csat < target - 0.3 for 2 periods {
  ask "What changed for customers?"
  with team
}
'''

PARTS = '''\
lever support_hours "Support staff hours per week" owner "support lead"
failure backlog "Support queue grows" at process

kpi queue "Support queue length" {
  kind process
  focus relationships
  better lower
  target <= 20 by 2027-06-30
  link "A short queue is a customer answered"
  guards backlog
  responds support_hours -0.5
}
'''

CLIENTS = ["visual-studio-code@v1.65.2", "neovim@v0.11.0"]
#: A short pause: the tests see one check per change burst without waiting long.
INIT = {"debounce": 0.02}


def workspace(root: Path) -> tuple[Path, Path]:
    main, parts = root / "main.msense", root / "parts.msense"
    main.write_text(MAIN, "utf-8")
    parts.write_text(PARTS, "utf-8")
    return main, parts


def recording_client() -> LanguageClient:
    """pytest-lsp's client that also keeps every publishDiagnostics, with its version, in order."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []
    default = DEFAULT_CLIENT_FEATURES[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

    def publish(ls, params):
        ls.published.append(params)
        default(ls, params)

    def register_capability(ls, params):
        ls.registrations = [*getattr(ls, "registrations", []), *params.registrations]

    # NOTE: lsprotocol reads any code action with a `command` as a bare Command (its hook tests
    # for the key, not for a string), losing the edit; editors tell them apart by the type.
    converter = client.protocol._converter

    def code_action_or_command(obj, _):
        kind = types.Command if isinstance(obj.get("command"), str) else types.CodeAction
        return converter.structure(obj, kind)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], code_action_or_command)
    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish,
                                   types.CLIENT_REGISTER_CAPABILITY: register_capability})
    return client


CONFIG = ClientServerConfig(server_command=[sys.executable, "-P", "-m", "metricsense", "lsp"],
                            client_factory=recording_client)


async def published(client, uri: str, version: int | None = None, *, after: int = 0, seconds: float = 30):
    """The first diagnostics published for ``uri`` (at ``version`` when given) after the
    ``after``-th publication; the test fails if none come (a guard, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        for p in client.published[after:]:
            if p.uri == uri and (version is None or p.version == version):
                return p
        await asyncio.sleep(0.01)
    raise AssertionError(f"no diagnostics for {uri} at version {version}: {client.published[after:]}")


def open_doc(client, path: Path, text: str | None = None, version: int = 1, language: str = "msense") -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id=language, version=version, text=path.read_text("utf-8") if text is None else text)))
    return uri


def change(client, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def pos(text: str, needle: str, nth: int = 0, offset: int = 0) -> types.Position:
    """The position of the ``nth`` occurrence of ``needle`` in ``text`` (plus ``offset`` characters)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += offset
    line = text.count("\n", 0, at)
    return types.Position(line=line, character=at - (text.rfind("\n", 0, at) + 1))


def doc_id(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)
