"""The LSP methods the server answers, each a thin handler over a feature module."""

from __future__ import annotations

from lsprotocol import types

from metricsense.lsp import actions, completion, hover, names, navigation, tokens
from metricsense.lsp.positions import Lines
from metricsense.span import normalise_line_ends
from metricsense.syntax import markdown_to_spec

#: Files whose change can change any open document's findings (configuration, included specs).
WATCHED = ("**/*.msense", "**/msense.toml", "**/pyproject.toml")

LEGEND = types.SemanticTokensLegend(token_types=tokens.TOKEN_TYPES, token_modifiers=tokens.TOKEN_MODIFIERS)


def _declared(ls, st, text: str) -> dict[str, str]:
    """name -> kind of every name the spec declares: across includes (the last spec that parsed)
    and in the text as it is now (which may not parse)."""
    out = {}
    doc = st.document
    if doc is not None:
        out.update({s.name: names.kind_of(s) for s in doc.named()})
    overlay = ls.overlay()

    def read(path):
        if path in overlay:
            return overlay[path]
        try:
            return path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    out.update(names.declared_with_includes(text, st.path.resolve() if st.path else None, read))
    return out


def _in_comment_or_string(line: str, col: int) -> bool:
    """Column ``col`` (0-based code points) of ``line`` lies in a `#` comment or a quoted string."""
    quoted = False
    i = 0
    while i < len(line) and i <= col:
        c = line[i]
        if quoted and c == "\\":
            i += 2
            continue
        if c == '"':
            quoted = not quoted
            if i == col:
                return True
        elif c == "#" and not quoted:
            return True
        i += 1
    return quoted


def _occurrence(ls, uri: str, pos: types.Position):
    """(document, name, occurrence or None) under the cursor, or None."""
    st = ls.state(uri)
    doc = st.document
    lines = Lines(ls.current(uri)[1])
    word = lines.word_at(pos)
    if doc is None or word is None or _in_comment_or_string(lines.line(pos.line), lines.column(pos) - 1):
        return None  # a word in a comment or a string is no name: nothing to hover, rename or follow
    occ = navigation.occurrence_at(doc, st.shown, pos.line + 1, lines.column(pos))
    if occ is not None:
        return doc, occ.name, occ
    if doc.lookup(word[0]) is not None:
        return doc, word[0], None
    return None


def register(ls) -> None:
    @ls.feature(types.INITIALIZE)
    def initialize(ls, params: types.InitializeParams):
        opts = params.initialization_options if isinstance(params.initialization_options, dict) else {}
        if isinstance(opts.get("debounce"), (int, float)) and opts["debounce"] >= 0:
            ls.debounce = float(opts["debounce"])

    @ls.feature(types.INITIALIZED)
    def initialized(ls, params):
        caps = ls.client_capabilities.workspace
        watch = getattr(caps, "did_change_watched_files", None) if caps else None
        if watch is not None and watch.dynamic_registration:
            ls.client_register_capability(types.RegistrationParams(registrations=[types.Registration(
                id="msense-watch", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(
                    watchers=[types.FileSystemWatcher(glob_pattern=g) for g in WATCHED]))]))

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls, params: types.DidOpenTextDocumentParams):
        uri = params.text_document.uri
        ls.open(uri)
        await ls.check_fast(uri)
        ls.background(ls.check_data(uri))

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: types.DidChangeTextDocumentParams):
        ls.schedule(params.text_document.uri, ls.debounce)

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls, params: types.DidSaveTextDocumentParams):
        uri = params.text_document.uri
        ls.recheck_all()  # an included file or the configuration may have changed with it
        ls.background(ls.check_data(uri))

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: types.DidCloseTextDocumentParams):
        st = ls.states.pop(params.text_document.uri, None)
        if st is not None and st.pending is not None:
            st.pending.cancel()
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=params.text_document.uri,
                                                                             diagnostics=[]))

    @ls.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched(ls, params: types.DidChangeWatchedFilesParams):
        ls.recheck_all()

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls, params: types.HoverParams):
        uri, pos = params.text_document.uri, params.position
        lines = Lines(ls.current(uri)[1])
        word = lines.word_at(pos)
        if word is None:
            return None
        rng = lines.range(word[1])
        rule = hover.rule_hover(ls.checker.registry, word[0])
        if rule is not None:
            return hover.hover(hover.rule_markdown(rule), rng)
        found = _occurrence(ls, uri, pos)
        if found is None:
            return None
        doc, name, _ = found
        return hover.hover(hover.declaration_markdown(doc.lookup(name), doc, ls.state(uri).analysis), rng)

    @ls.feature(types.TEXT_DOCUMENT_COMPLETION,
                types.CompletionOptions(trigger_characters=["[", ",", " "]))
    def on_completion(ls, params: types.CompletionParams):
        uri, pos = params.text_document.uri, params.position
        text = normalise_line_ends(ls.current(uri)[1])
        lines = Lines(text)
        offset = lines.offset(pos)
        st = ls.state(uri)
        units = {k.unit for k in st.document.kpis if k.unit} if st.document is not None else set()
        items = completion.complete(lines.line(pos.line)[: lines.column(pos) - 1], text[:offset],
                                    _declared(ls, st, text), ls.checker.registry, units)
        return types.CompletionList(is_incomplete=False, items=items)

    @ls.feature(types.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls, params: types.DefinitionParams):
        found = _occurrence(ls, params.text_document.uri, params.position)
        if found is None:
            return None
        doc, name, _ = found
        return navigation.definition(doc, name, ls.files(ls.state(params.text_document.uri)))

    @ls.feature(types.TEXT_DOCUMENT_REFERENCES)
    def on_references(ls, params: types.ReferenceParams):
        found = _occurrence(ls, params.text_document.uri, params.position)
        if found is None:
            return None
        doc, name, _ = found
        return navigation.references(doc, name, ls.files(ls.state(params.text_document.uri)),
                                     params.context.include_declaration)

    @ls.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    def on_prepare_rename(ls, params: types.PrepareRenameParams):
        found = _occurrence(ls, params.text_document.uri, params.position)
        if found is None:
            return None
        lines = Lines(ls.current(params.text_document.uri)[1])
        word = lines.word_at(params.position)
        return types.PrepareRenamePlaceholder(range=lines.range(word[1]), placeholder=found[1])

    @ls.feature(types.TEXT_DOCUMENT_RENAME)
    def on_rename(ls, params: types.RenameParams):
        found = _occurrence(ls, params.text_document.uri, params.position)
        if found is None:
            return None
        doc, name, _ = found
        try:
            return navigation.rename(doc, name, params.new_name, ls.files(ls.state(params.text_document.uri)))
        except navigation.RenameError as exc:
            from pygls.exceptions import JsonRpcInvalidParams

            raise JsonRpcInvalidParams(str(exc)) from None

    @ls.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(ls, params: types.DocumentSymbolParams):
        st = ls.state(params.text_document.uri)
        result = st.fast if st.fast is not None and st.fast.statements else st.good
        if result is None:
            return []
        return navigation.symbols([s for s in result.statements if s.span.file == result.shown], ls.files(st))

    @ls.feature(types.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(ls, params: types.DocumentFormattingParams):
        from metricsense.syntax.fmt import FormatError, format_file_text

        uri = params.text_document.uri
        st = ls.state(uri)
        text = ls.current(uri)[1]
        name = str(st.path) if st.path is not None else "<buffer>.msense"
        try:
            new = format_file_text(text, name)
        except (FormatError, RecursionError) as exc:
            ls.window_show_message(types.ShowMessageParams(types.MessageType.Warning, f"msense fmt: {exc}"))
            return None
        if new == text:
            return []
        lines = Lines(text)
        whole = types.Range(start=types.Position(line=0, character=0), end=lines.end())
        return [types.TextEdit(range=whole, new_text=new)]

    @ls.feature(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, LEGEND)
    def on_tokens(ls, params: types.SemanticTokensParams):
        uri = params.text_document.uri
        st = ls.state(uri)
        text = normalise_line_ends(ls.current(uri)[1])
        if st.path is not None and st.path.suffix == ".md":
            text = markdown_to_spec(text)
        return types.SemanticTokens(data=tokens.encode(tokens.tokens(text, set(_declared(ls, st, text)))))

    @ls.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
    def on_code_action(ls, params: types.CodeActionParams):
        uri = params.text_document.uri
        window = ls.client_capabilities.window
        show = bool(window is not None and window.show_document is not None and window.show_document.support)
        return actions.actions(uri, list(params.context.diagnostics), Lines(ls.current(uri)[1]),
                               ls.checker.registry, show)

    @ls.command(actions.SELECT)
    async def select(ls, uri: str, r: list):
        rng = types.Range(start=types.Position(line=r[0], character=r[1]), end=types.Position(line=r[2], character=r[3]))
        await ls.window_show_document_async(types.ShowDocumentParams(uri=uri, take_focus=True, selection=rng))
