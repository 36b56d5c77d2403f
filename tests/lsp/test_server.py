"""`msense lsp` end to end over stdio (pytest-lsp), with VS Code's and Neovim's recorded capabilities."""

import asyncio

import pytest
import pytest_lsp
from lsprotocol import types
from lsp_helpers import CLIENTS, CONFIG, INIT, MAIN, change, doc_id, open_doc, pos, published, workspace

pytestmark = pytest.mark.asyncio


@pytest_lsp.fixture(params=CLIENTS, config=CONFIG)
async def client(request, lsp_client: pytest_lsp.LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=pytest_lsp.client_capabilities(request.param), initialization_options=INIT))
    yield
    await lsp_client.shutdown_session()


async def test_diagnostics_on_open_carry_code_description_and_related_spans(client, tmp_path):
    main, _ = workspace(tmp_path)
    text = MAIN.replace("guards outages", "guards outages, outage")  # undefined: did you mean?
    uri = open_doc(client, main, text)
    params = await published(client, uri, 1)
    by_code = {d.code: d for d in params.diagnostics}
    ms002 = by_code["MS002"]
    assert "`outage` is not declared" in ms002.message
    assert ms002.range.start == pos(text, ", outage", offset=2)
    assert ms002.source == "msense" and ms002.code_description.href.startswith("https://")
    assert ms002.data["fixes"][0]["text"] == "outages"
    # A name used as the wrong kind points at its declaration (related information).
    wrong = text.replace("guards outages, outage", "guards deploys")
    change(client, uri, wrong, 2)
    params = await published(client, uri, 2)
    ms002 = [d for d in params.diagnostics if d.code == "MS002"][0]
    assert ms002.related_information[0].location.uri == uri
    assert ms002.related_information[0].location.range.start == pos(wrong, "deploys")


async def test_changes_publish_only_the_latest_version(client, tmp_path):
    main, _ = workspace(tmp_path)
    uri = open_doc(client, main)
    first = await published(client, uri, 1)
    assert not [d for d in first.diagnostics if d.severity == types.DiagnosticSeverity.Error]
    mark = len(client.published)
    for v in range(2, 12):  # a burst of typing, each version a syntax error but the last
        change(client, uri, MAIN.replace("kind outcome", "kind outcom" + "e" * (v == 11)), v)
    final = await published(client, uri, 11, after=mark)
    assert not [d for d in final.diagnostics if d.code == "MS001"]
    versions = [p.version for p in client.published[mark:] if p.uri == uri]
    assert versions == sorted(versions) and all(v is not None for v in versions)
    # A syntax error is reported for the version it is in.
    change(client, uri, MAIN.replace("kind outcome", "kind outcomes"), 12)
    bad = await published(client, uri, 12)
    assert [d.code for d in bad.diagnostics if d.code == "MS001"] == ["MS001"]


async def test_included_file_changes_in_an_editor_are_seen(client, tmp_path):
    main, parts = workspace(tmp_path)
    uri = open_doc(client, main)
    await published(client, uri, 1)
    parts_uri = open_doc(client, parts, parts.read_text().replace("lever support_hours", "lever support_time"))
    await published(client, parts_uri, 1)
    change(client, uri, MAIN + "\n", 2)
    params = await published(client, uri, 2)
    assert any(d.code == "MS002" and "support_hours" in d.message for d in params.diagnostics)


async def test_a_notebook_cells_spec_reads_includes_beside_the_notebook(client, tmp_path):
    """jupyterlab-lsp sends a `%%msense` cell as a document under jupyter-lsp's
    `.virtual_documents/` folder: its includes (and data) are the notebook's folder's, as when the
    cell runs, and what the server answers still names the cell's document."""
    workspace(tmp_path)
    shadow = tmp_path / ".virtual_documents" / "tour.ipynb.python-1(msense).msense"
    shadow.parent.mkdir()
    shadow.write_text(MAIN, "utf-8")  # jupyter-lsp writes the cell there
    uri = open_doc(client, shadow)
    params = await published(client, uri, 1)
    assert not [d for d in params.diagnostics if d.code == "MS004"], params.diagnostics
    at = pos(MAIN, "guards outages", offset=7)  # declared in the cell itself
    defs = await client.text_document_definition_async(types.DefinitionParams(doc_id(uri), at))
    assert [(d.uri, d.range.start.line) for d in defs] == [(uri, pos(MAIN, "failure outages").line)]
    defs = await client.text_document_definition_async(types.DefinitionParams(doc_id(uri), pos(MAIN, "support_hours")))
    assert [d.uri for d in defs] == [(tmp_path / "parts.msense").as_uri()]


async def test_hover_rule_code_and_name(client, tmp_path):
    main, _ = workspace(tmp_path)
    text = MAIN.replace("lever deploys", '# msense: ignore[MS017] reason "x"\nlever deploys')
    uri = open_doc(client, main, text)
    await published(client, uri, 1)
    rule = await client.text_document_hover_async(types.HoverParams(doc_id(uri), pos(text, "MS017", offset=2)))
    assert "idle-lever" in rule.contents.value and "## Why is this bad?" in rule.contents.value
    kpi = await client.text_document_hover_async(types.HoverParams(doc_id(uri), pos(text, "csat <", offset=1)))
    assert "**kpi** `csat`" in kpi.contents.value
    assert "target >= 4.5 by 2027-06-30" in kpi.contents.value
    assert "`support_hours` +0.6" in kpi.contents.value
    lever = await client.text_document_hover_async(types.HoverParams(doc_id(uri), pos(text, "support_hours")))
    assert "**lever** `support_hours`" in lever.contents.value and "parts.msense" in lever.contents.value


async def test_completion_in_context(client, tmp_path):
    main, _ = workspace(tmp_path)
    text = MAIN.replace("  guards outages\n", "  guards \n").replace("  with team\n", "  with \n")
    text = text.replace("lever deploys", "# msense: ignore[\nlever deploys")
    uri = open_doc(client, main, text)

    async def labels(at):
        got = await client.text_document_completion_async(types.CompletionParams(doc_id(uri), at))
        return [i.label for i in (got.items if isinstance(got, types.CompletionList) else got)]

    assert set(await labels(pos(text, "guards ", offset=7))) == {"outages", "backlog"}  # across the include
    assert await labels(pos(text, "with ", offset=5)) == ["one-to-one", "team", "manager", "leadership", "all-hands"]
    codes = await labels(pos(text, "ignore[", offset=7))
    assert "MS013" in codes and "idle-lever" in codes
    assert "kind" in await labels(pos(text, "  kind", offset=2))
    assert "kpi" in await labels(types.Position(line=len(text.split("\n")) - 1, character=0))


async def test_definition_references_and_rename_across_includes(client, tmp_path):
    main, parts = workspace(tmp_path)
    uri = open_doc(client, main)
    await published(client, uri, 1)
    at = pos(MAIN, "support_hours")
    defs = await client.text_document_definition_async(types.DefinitionParams(doc_id(uri), at))
    assert [(d.uri, d.range.start.line) for d in defs] == [(parts.as_uri(), 0)]
    refs = await client.text_document_references_async(types.ReferenceParams(
        text_document=doc_id(uri), position=at, context=types.ReferenceContext(include_declaration=True)))
    assert sorted((r.uri, r.range.start.line) for r in refs) == sorted(
        [(uri, at.line), (parts.as_uri(), 0), (parts.as_uri(), 10)])
    edit = await client.text_document_rename_async(types.RenameParams(doc_id(uri), at, "staff_hours"))
    assert {u: len(e) for u, e in edit.changes.items()} == {uri: 1, parts.as_uri(): 2}
    assert all(e.new_text == "staff_hours" for es in edit.changes.values() for e in es)
    with pytest.raises(Exception, match="already declared"):
        await client.text_document_rename_async(types.RenameParams(doc_id(uri), at, "deploys"))


async def test_symbols_formatting_and_tokens(client, tmp_path):
    main, _ = workspace(tmp_path)
    messy = MAIN.replace("  kind outcome", "kind    outcome")
    uri = open_doc(client, main, messy)
    await published(client, uri, 1)
    syms = await client.text_document_document_symbol_async(types.DocumentSymbolParams(doc_id(uri)))
    assert [s.name for s in syms] == ["mission", "include parts.msense", "deploys", "outages", "csat", "csat_dip"]
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        doc_id(uri), types.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert "  kind outcome" in edits[0].new_text
    toks = await client.text_document_semantic_tokens_full_async(types.SemanticTokensParams(doc_id(uri)))
    assert toks.data and len(toks.data) % 5 == 0


async def test_suppress_code_action(client, tmp_path):
    main, _ = workspace(tmp_path)
    text = MAIN + 'lever idle "Nobody pulls it"\n'
    uri = open_doc(client, main, text)
    params = await published(client, uri, 1)
    idle = [d for d in params.diagnostics if d.code == "MS017"][0]
    got = await client.text_document_code_action_async(types.CodeActionParams(
        doc_id(uri), idle.range, types.CodeActionContext(diagnostics=[idle])))
    action = [a for a in got if a.title.startswith("Suppress MS017")][0]
    edit = action.edit.changes[uri][0]
    assert edit.new_text == '# msense: ignore[MS017] reason ""\n'
    lines = text.split("\n")
    lines.insert(idle.range.start.line, edit.new_text.rstrip("\n"))
    change(client, uri, "\n".join(lines), 2)
    after = await published(client, uri, 2)
    assert not [d for d in after.diagnostics if d.code == "MS017"]
    assert [d.code for d in after.diagnostics if "gives no reason" in d.message] == ["MS007"]
    if action.command is not None:  # the client can be shown a document: the cursor goes on the reason
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            action.command.command, action.command.arguments))
        shown = client.shown_documents[-1]
        assert shown.uri == uri and shown.selection.start.character == len(edit.new_text) - 2


async def test_data_findings_arrive_after_open_and_hover_shows_the_series(client):
    from support import EXAMPLES

    spec = EXAMPLES / "customer-love" / "customer-love.msense"
    uri = open_doc(client, spec)
    first = await published(client, uri, 1)
    assert "MS017" in {d.code for d in first.diagnostics}
    mark = 0
    while True:  # the data pass publishes again for the same version, with what the data shows
        params = await published(client, uri, 1, after=mark)
        mark = client.published.index(params) + 1
        if "MS101" in {d.code for d in params.diagnostics}:
            break
    codes = {d.code for d in params.diagnostics}
    assert {"MS017", "MS301", "MS101"} <= codes
    # MS301 in the included file is shown on the `include` line that brings it in.
    elsewhere = [d for d in params.diagnostics if d.data.get("elsewhere")]
    text = spec.read_text("utf-8")
    assert elsewhere and all(d.range.start == pos(text, 'include "teams/support.msense"') for d in elsewhere)
    assert elsewhere[0].related_information[0].location.uri.endswith("teams/support.msense")
    hov = await client.text_document_hover_async(types.HoverParams(doc_id(uri), pos(text, "kpi csat", offset=4)))
    assert "**kpi** `csat`" in hov.contents.value and "noise" in hov.contents.value


async def test_markdown_fences_map_to_the_markdown_file(client, tmp_path):
    md = tmp_path / "plan.md"
    text = "# Plan\n\nProse with kind outcomes.\n\n```msense\nmission \"M\"\nlever idle \"Nobody pulls it\"\n```\n"
    md.write_text(text)
    uri = open_doc(client, md, language="markdown")
    params = await published(client, uri, 1)
    idle = [d for d in params.diagnostics if d.code == "MS017"][0]
    assert idle.range.start == pos(text, "idle")


async def test_a_configuration_change_is_read_again(client, tmp_path):
    main, _ = workspace(tmp_path)
    text = MAIN + 'lever idle "Nobody pulls it"\n'
    uri = open_doc(client, main, text)
    assert "MS017" in {d.code for d in (await published(client, uri, 1)).diagnostics}
    (tmp_path / "msense.toml").write_text('ignore = ["MS017"]\n')
    mark = len(client.published)
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[types.FileEvent(
        uri=(tmp_path / "msense.toml").as_uri(), type=types.FileChangeType.Created)]))
    again = await published(client, uri, 1, after=mark)
    assert "MS017" not in {d.code for d in again.diagnostics}


async def test_a_closed_document_stays_closed_after_late_requests(client, tmp_path):
    """A request that arrives after didClose (an editor's late hover) is answered from the disk,
    and no later check publishes findings for the closed document again."""
    main, parts = workspace(tmp_path)
    uri = open_doc(client, main)
    await published(client, uri, 1)
    other = open_doc(client, parts)
    await published(client, other, 1)
    mark = len(client.published)
    client.text_document_did_close(types.DidCloseTextDocumentParams(doc_id(uri)))
    assert not (await published(client, uri, None, after=mark)).diagnostics  # cleared
    mark = len(client.published)
    await client.text_document_hover_async(types.HoverParams(doc_id(uri), pos(MAIN, "csat")))
    await client.text_document_document_symbol_async(types.DocumentSymbolParams(doc_id(uri)))
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[types.FileEvent(
        uri=(tmp_path / "msense.toml").as_uri(), type=types.FileChangeType.Created)]))
    await published(client, other, 1, after=mark)  # the open document is checked again...
    await asyncio.sleep(0.3)
    assert [p.uri for p in client.published[mark:] if p.uri == uri] == []  # ...the closed one is not
