"""Quick fixes: suppress a finding with a reason, the did-you-mean a finding already computed,
and the help lines that are mechanical (a `link` stub, a target date).

A finding's fixes are computed when it is published and travel in its `data`, each with the text
of the line it was made for; the code action request offers only those whose line still holds
that text (an editor moves a finding's range as you type, never its data: a cold attack applied a
stale did-you-mean to the wrong text), and skips malformed ones."""

from __future__ import annotations

import datetime as _dt
import re

from lsprotocol import types

from metricsense.diagnostics import Diagnostic
from metricsense.model import KPI, Document
from metricsense.lsp.positions import Lines

DID_YOU_MEAN = re.compile(r"^did you mean `([^`]+)`\?$")
SUPPRESSION_LINE = re.compile(r"^(?P<indent>\s*)#\s*msense:\s*ignore\s*\[(?P<codes>[^\]]*)\]")
#: The command that puts the cursor where the user should type next (window/showDocument).
SELECT = "msense.select"


def fix(title: str, start: types.Position, end: types.Position, text: str,
        cursor: types.Range | None = None) -> dict:
    """A fix as it is kept in a published finding's `data` (plain JSON)."""
    out = {"title": title, "range": [start.line, start.character, end.line, end.character], "text": text}
    if cursor is not None:
        out["cursor"] = [cursor.start.line, cursor.start.character, cursor.end.line, cursor.end.character]
    return out


def fixes(d: Diagnostic, lines: Lines, doc: Document | None, today: _dt.date | None = None) -> list[dict]:
    """The mechanical fixes of one finding in the open file (``lines`` is its text)."""
    out = []
    rng = lines.range(d.span)
    m = DID_YOU_MEAN.match(d.help or "")
    if m:
        out.append(fix(f"Replace with `{m.group(1)}`", rng.start, rng.end, m.group(1)))
    kpi = doc.lookup(lines.line(d.span.line - 1)[d.span.column - 1: d.span.end_column - 1]) if doc else None
    if d.code == "MS011" and isinstance(kpi, KPI) and kpi.span.end_line > kpi.span.line:
        # Before the closing `}`: `link ""` with the cursor between the quotes.
        close = lines.line(kpi.span.end_line - 1)
        indent = re.match(r"\s*", lines.line(kpi.span.line - 1)).group() + "  "
        at = types.Position(line=kpi.span.end_line - 1, character=0)
        if close.strip() == "}":
            text = f'{indent}link ""\n'
            cur = types.Position(line=at.line, character=len(indent) + 6)
            out.append(fix("Add a `link` to the mission", at, at, text, types.Range(start=cur, end=cur)))
    if d.code == "MS012" and "no valid date" in d.message and "no number" not in d.message:
        year = (today or _dt.date.today()).year + 1
        date = f"{year}-12-31"
        end = rng.end
        cur = types.Position(line=end.line, character=end.character + 4)
        out.append(fix(f"Add a target date (by {date})", end, end, f" by {date}",
                       types.Range(start=cur, end=types.Position(line=end.line, character=cur.character + len(date)))))
    for f in out:  # the line each fix was made for: a fix whose line changed since is not offered
        f["line"] = lines.line(f["range"][0])
    return out


def _still_fits(f, lines: Lines) -> bool:
    """A fix the client echoed back still applies: well formed, in the document, and made for the
    text its line holds now (an editor moves a finding's range as you type, never its data)."""
    try:
        r = [int(v) for v in f["range"]]
        ok = (isinstance(f["title"], str) and isinstance(f["text"], str) and len(r) == 4
              and 0 <= r[0] <= r[2] < len(lines.lines) and min(r) >= 0)
        return ok and f.get("line") == lines.line(r[0])
    except (KeyError, TypeError, ValueError):
        return False


def suppress(code: str, line: int, lines: Lines) -> dict:
    """`# msense: ignore[CODE] reason ""` on the line above 0-based ``line`` (or CODE added to the
    suppression already there), with the cursor on the reason."""
    above = lines.line(line - 1) if line > 0 else ""
    m = SUPPRESSION_LINE.match(above)
    if m is not None and line > 0:
        codes = [c.strip() for c in m.group("codes").split(",") if c.strip()]
        end = types.Position(line=line - 1, character=m.end("codes"))
        sep = ", " if codes else ""
        return fix(f"Suppress {code} (with the suppression above)", end, end, f"{sep}{code}")
    indent = re.match(r"\s*", lines.line(line)).group()
    at = types.Position(line=line, character=0)
    text = f'{indent}# msense: ignore[{code}] reason ""\n'
    cur = types.Position(line=line, character=len(text) - 2)
    return fix(f"Suppress {code} with a reason", at, at, text, types.Range(start=cur, end=cur))


def to_action(f: dict, uri: str, diagnostic: types.Diagnostic | None, show_document: bool,
              preferred: bool = False) -> types.CodeAction:
    r = f["range"]
    edit = types.TextEdit(range=types.Range(start=types.Position(line=r[0], character=r[1]),
                                            end=types.Position(line=r[2], character=r[3])), new_text=f["text"])
    command = None
    if show_document and f.get("cursor"):
        command = types.Command(title="Put the cursor where to type", command=SELECT, arguments=[uri, f["cursor"]])
    return types.CodeAction(title=f["title"], kind=types.CodeActionKind.QuickFix,
                            diagnostics=[diagnostic] if diagnostic is not None else None,
                            edit=types.WorkspaceEdit(changes={uri: [edit]}), command=command,
                            is_preferred=preferred or None)


def actions(uri: str, diagnostics: list[types.Diagnostic], lines: Lines, registry,
            show_document: bool) -> list[types.CodeAction]:
    """The quick fixes for the findings the client sent (those of the open file)."""
    out = []
    for diag in diagnostics:
        data = diag.data if isinstance(diag.data, dict) else {}
        if diag.source != "msense" or data.get("elsewhere"):
            continue
        fixes_ = data.get("fixes", ())
        for f in fixes_ if isinstance(fixes_, list) else ():
            if _still_fits(f, lines):
                out.append(to_action(f, uri, diag, show_document, preferred=True))
        rule = registry.rules.get(str(diag.code))
        if rule is not None and not rule.always and 0 <= diag.range.start.line < len(lines.lines):
            out.append(to_action(suppress(rule.code, diag.range.start.line, lines), uri, diag, show_document))
    return out
