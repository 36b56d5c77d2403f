"""Builds the frozen model from the parse: one method per grammar alias, called with the node's
position (`meta`) and its children, by Lark's tree transformer or by the compiled parser."""

from __future__ import annotations

import datetime as _dt

from metricsense import model as m
from metricsense.span import Span

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def unquote(token: str) -> str:
    """The text of a STRING token: quotes removed, \\" \\\\ \\n \\t unescaped."""
    body = token[1:-1]
    if "\\" not in body:
        return body
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _plain(token: str) -> str:
    return str(token)


class _Clauses:
    """Collects a block's clauses by name, remembering the ones given twice."""

    __slots__ = ("values", "repeated")

    def __init__(self, children) -> None:
        self.values: dict[str, object] = {}
        self.repeated: list[tuple[str, Span]] = []
        for child in children:
            if isinstance(child, tuple) and len(child) == 3 and isinstance(child[0], str):
                key, value, span = child
            elif isinstance(child, m.DataSource):
                key, value, span = "data", child, child.span
            elif isinstance(child, m.Target):
                key, value, span = "target", child, child.span
            else:  # pragma: no cover - grammar guarantees the shapes above
                raise TypeError(child)
            if key in self.values:
                self.repeated.append((key, span))
            self.values[key] = value

    def get(self, key: str, default=None):
        return self.values.get(key, default)


class ModelBuilder:
    """One method per grammar alias; each only builds model objects with spans."""

    def __init__(self) -> None:
        self.file = "<string>"

    # ---- helpers ------------------------------------------------------------------------------
    def _span(self, meta) -> Span:
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    def _clause(self, key, meta, value):
        return (key, value, self._span(meta))

    # ---- top level ----------------------------------------------------------------------------
    def start(self, meta, children):
        return children

    def mission(self, meta, children):
        text = unquote(children[0])
        body = _Clauses(children[1]) if len(children) > 1 else _Clauses(())
        return m.Mission(text, body.get("why"), body.get("owner"), self._span(meta))

    def mission_body(self, meta, children):
        return children

    def item_body(self, meta, children):
        return children

    def lever_body(self, meta, children):
        return children

    def disturbance_body(self, meta, children):
        return children

    def cost(self, meta, children):
        return self._clause("cost", meta, m.Declared(_num(children[0]), self._span(meta)))

    def size(self, meta, children):
        return self._clause("size", meta, m.Declared(_num(children[0]), self._span(meta)))

    def noise(self, meta, children):
        return self._clause("noise", meta, m.Declared(_num(children[0]), self._span(meta)))

    def best(self, meta, children):
        return self._clause("best", meta, children[0])

    def move_list(self, meta, children):
        return tuple(children)

    def move(self, meta, children):
        return m.Gain(str(children[0]), children[1], None, self._span(meta))

    def why(self, meta, children):
        return self._clause("why", meta, unquote(children[0]))

    def owner(self, meta, children):
        return self._clause("owner", meta, unquote(children[0]))

    def owner_clause(self, meta, children):
        return self._clause("owner", meta, unquote(children[0]))

    def unit(self, meta, children):
        return self._clause("unit", meta, unquote(children[0]))

    def _named_head(self, children):
        name_tok = children[0]
        rest = children[1:]
        label = None
        if rest and isinstance(rest[0], str) and rest[0].type == "STRING":
            label = unquote(rest[0])
            rest = rest[1:]
        return name_tok, label, rest

    def lever(self, meta, children):
        name_tok, label, rest = self._named_head(children)
        clauses: list = []
        for part in rest:
            clauses.extend(part if isinstance(part, list) else [part])
        body = _Clauses(clauses)
        return m.Lever(
            str(name_tok), label, body.get("owner"), body.get("unit"), body.get("data"),
            self._span(meta), self._tspan(name_tok), body.get("cost"), tuple(body.repeated),
        )

    def disturbance(self, meta, children):
        name_tok, label, rest = self._named_head(children)
        body = _Clauses(rest[0] if rest else ())
        return m.Disturbance(
            str(name_tok), label, body.get("unit"), body.get("data"), self._span(meta), self._tspan(name_tok),
            body.get("size"), body.get("best", ()), tuple(body.repeated),
        )

    def failure(self, meta, children):
        name_tok, label_tok, level = children
        return m.Failure(str(name_tok), unquote(label_tok), str(level), self._span(meta), self._tspan(name_tok))

    def include(self, meta, children):
        return m.Include(unquote(children[0]), self._span(meta))

    def data_default(self, meta, children):
        return children[0]

    # ---- KPI ----------------------------------------------------------------------------------
    def kpi(self, meta, children):
        name_tok, label, rest = self._named_head(children)
        body = _Clauses(rest)
        return m.KPI(
            name=str(name_tok),
            label=label,
            kind=body.get("kind"),
            focus=body.get("focus"),
            better=body.get("better"),
            unit=body.get("unit"),
            owner=body.get("owner"),
            scope=body.get("scope"),
            target=body.get("target"),
            link=body.get("link"),
            guards=body.get("guards", ()),
            data=body.get("data"),
            responds=body.get("responds", ()),
            disturbed=body.get("disturbed", ()),
            review=body.get("review"),
            repeated=tuple(body.repeated),
            span=self._span(meta),
            name_span=self._tspan(name_tok),
            noise=body.get("noise"),
        )

    def kind(self, meta, children):
        return self._clause("kind", meta, str(children[0]))

    def focus(self, meta, children):
        return self._clause("focus", meta, str(children[0]))

    def better(self, meta, children):
        return self._clause("better", meta, str(children[0]))

    def scope(self, meta, children):
        return self._clause("scope", meta, str(children[0]))

    def link(self, meta, children):
        return self._clause("link", meta, unquote(children[0]))

    def guards(self, meta, children):
        return self._clause("guards", meta, children[0])

    def responds(self, meta, children):
        return self._clause("responds", meta, children[0])

    def disturbed(self, meta, children):
        return self._clause("disturbed", meta, children[0])

    def review(self, meta, children):
        count, unit = children
        return self._clause("review", meta, m.Duration(_int(count), _unit(unit), self._span(meta)))

    def target_number(self, meta, children):
        cmp_tok, rest = children[0], list(children[1:])
        sign = rest.pop(0) if rest and getattr(rest[0], "type", None) == "ADD_OP" else None
        value = _num(rest.pop(0))
        if sign == "-":
            value = -value
        by, since = _dates(rest)
        return m.Target(str(cmp_tok), value, None, by, self._span(meta), since)

    def target_words(self, meta, children):
        by, since = _dates(children[1:])
        return m.Target(None, None, unquote(children[0]), by, self._span(meta), since)

    def since_date(self, meta, children):
        from metricsense.syntax.errors import SpecValueError

        tok = children[0]
        try:
            return _Since(_dt.date.fromisoformat(str(tok)))
        except ValueError:
            raise SpecValueError(f"`since {tok}` is not a calendar date", tok.line, tok.column,
                                 tok.end_column) from None

    def by_date(self, meta, children):
        tok = children[0]
        try:
            return _dt.date.fromisoformat(str(tok))
        except ValueError:
            # An impossible date (2027-02-30) is kept as "no date"; rule MS012 reports it.
            return None

    def name_list(self, meta, children):
        return tuple(m.NameRef(str(t), self._tspan(t)) for t in children)

    def gain_list(self, meta, children):
        return tuple(children)

    def gain(self, meta, children):
        name_tok, value = children[0], children[1]
        lag = children[2] if len(children) > 2 else None
        return m.Gain(str(name_tok), value, lag, self._span(meta))

    def lag(self, meta, children):
        count, unit = children
        return m.Duration(_int(count), _unit(unit), self._span(meta))

    def signed_number(self, meta, children):
        if len(children) == 2:
            sign, num = children
            value = _num(num)
            return -value if sign == "-" else value
        return _num(children[0])

    # ---- data ---------------------------------------------------------------------------------
    def data_clause(self, meta, children):
        source = children[0]
        opts = dict(children[1:]) if len(children) > 1 else {}
        return m.DataSource(
            kind=source[0],
            path=source[1],
            query=source[2],
            url=source[3],
            column=opts.get("column"),
            period=opts.get("period"),
            layout=opts.get("layout"),
            segment=opts.get("segment"),
            frequency=opts.get("frequency"),
            span=self._span(meta),
            decimal=opts.get("decimal"),
            currency=opts.get("currency"),
            sheet=opts.get("sheet"),
            cells=opts.get("cells"),
            table=opts.get("table"),
            period_format=opts.get("period_format"),
        )

    def data_file(self, meta, children):
        return ("file", unquote(children[0]), None, None)

    def data_sql(self, meta, children):
        return ("sql", None, unquote(children[0]), unquote(children[1]))

    def column(self, meta, children):
        return ("column", unquote(children[0]))

    def period(self, meta, children):
        return ("period", unquote(children[0]))

    def segment(self, meta, children):
        return ("segment", unquote(children[0]))

    def layout(self, meta, children):
        return ("layout", str(children[0]))

    def frequency(self, meta, children):
        return ("frequency", _unit(children[0]))

    def decimal(self, meta, children):
        return ("decimal", unquote(children[0]))

    def currency(self, meta, children):
        return ("currency", unquote(children[0]))

    def sheet(self, meta, children):
        return ("sheet", unquote(children[0]))

    def cells(self, meta, children):
        return ("cells", unquote(children[0]))

    def excel_table(self, meta, children):
        return ("table", unquote(children[0]))

    def period_format(self, meta, children):
        return ("period_format", unquote(children[0]))

    # ---- triggers -----------------------------------------------------------------------------
    def trigger(self, meta, children):
        name_tok, condition = children[0], children[1]
        rest = children[2:]
        duration = None
        if rest and isinstance(rest[0], m.Duration):
            duration, rest = rest[0], rest[1:]
        body = _Clauses(rest)
        audience = body.get("audience")
        return m.Trigger(
            str(name_tok), condition, duration, body.get("ask"), audience[0] if audience else None,
            self._span(meta), self._tspan(name_tok), audience[1] if audience else None,
        )

    def duration(self, meta, children):
        count, unit = children
        return m.Duration(_int(count), _unit(unit), self._span(meta))

    def ask(self, meta, children):
        return self._clause("ask", meta, unquote(children[0]))

    def audience(self, meta, children):
        tok = children[0]
        return self._clause("audience", meta, (str(tok), self._tspan(tok)))

    def or_(self, meta, children):
        return m.Binary("or", children[0], children[1], self._span(meta))

    def and_(self, meta, children):
        return m.Binary("and", children[0], children[1], self._span(meta))

    def not_(self, meta, children):
        return m.Unary("not", children[0], self._span(meta))

    def compare(self, meta, children):
        left, op, right = children
        return m.Binary(str(op), left, right, self._span(meta))

    def binop(self, meta, children):
        left, op, right = children
        return m.Binary(str(op), left, right, self._span(meta))

    def neg(self, meta, children):
        op, operand = children
        return m.Unary(str(op), operand, self._span(meta))

    def number(self, meta, children):
        return m.Number(_num(children[0]), self._span(meta))

    def percent(self, meta, children):
        of = children[1] if len(children) > 1 else None
        return m.Percent(_num(children[0]), of, self._span(meta))

    def target_ref(self, meta, children):
        return m.TargetRef(children[0] if children else None, self._span(meta))

    def abs_(self, meta, children):
        return m.Unary("abs", children[0], self._span(meta))

    def call(self, meta, children):
        name_tok = children[0]
        args = tuple(c for c in children[1:] if c is not None)
        return m.Call(str(name_tok), args, self._span(meta))

    def ref(self, meta, children):
        return m.Ref(tuple(str(t) for t in children), self._span(meta))

    # ---- trust --------------------------------------------------------------------------------
    def trust(self, meta, children):
        name_tok = children[0]
        body = _Clauses(children[1:])
        return m.TrustSignal(
            str(name_tok), body.get("managers"), body.get("team"), body.get("scale"), body.get("data"),
            body.get("gap"), body.get("min_group"), self._span(meta), self._tspan(name_tok),
            body.get("open_round"),
        )

    def managers(self, meta, children):
        return self._clause("managers", meta, unquote(children[0]))

    def team(self, meta, children):
        return self._clause("team", meta, unquote(children[0]))

    def scale(self, meta, children):
        return self._clause("scale", meta, (_int(children[0]), _int(children[1])))

    def gap(self, meta, children):
        return self._clause("gap", meta, _num(children[-1]))

    def min_group(self, meta, children):
        return self._clause("min_group", meta, _int(children[0]))

    def open_round(self, meta, children):
        return self._clause("open_round", meta, unquote(children[0]))


def lark_transformer() -> ModelBuilder:
    """The ModelBuilder as a Lark Transformer, for Lark's trees (imports Lark)."""
    from lark import Transformer, v_args

    methods = {k: v for k, v in vars(ModelBuilder).items() if callable(v) and not k.startswith("_")}

    def __init__(self) -> None:
        ModelBuilder.__init__(self)
        Transformer.__init__(self, visit_tokens=False)

    # NOTE: v_args wraps only methods defined on the class itself, hence the copies.
    cls = type("LarkModelBuilder", (ModelBuilder, Transformer), {**methods, "__init__": __init__})
    return v_args(meta=True)(cls)()


MAX_DIGITS = 9


def _int(tok) -> int:
    """A whole number from the spec; more than nine digits is no count anyone means."""
    from metricsense.syntax.errors import SpecValueError

    text = str(tok).lstrip("0") or "0"
    if len(text) > MAX_DIGITS:
        raise SpecValueError(f"`{str(tok)[:12]}...` is too large: at most {MAX_DIGITS} digits",
                             tok.line, tok.column, tok.end_column)
    return int(text)


def _num(tok) -> float:
    """A number from the spec; one too large for a float (`1e400`) is an error, not infinity."""
    import math

    from metricsense.syntax.errors import SpecValueError

    value = float(tok)
    if not math.isfinite(value):
        shown = str(tok) if len(str(tok)) <= 24 else str(tok)[:20] + "..."
        raise SpecValueError(f"`{shown}` is too large: a number must be at most about 1.8e308",
                             tok.line, tok.column, tok.end_column)
    return value


class _Since:
    """The date of a `since` clause, told apart from the `by` date beside it."""

    def __init__(self, date: _dt.date) -> None:
        self.date = date


def _dates(children) -> tuple[_dt.date | None, _dt.date | None]:
    """A target's (`by` date, `since` date) from the children after its value."""
    by = since = None
    for child in children:
        if isinstance(child, _Since):
            since = child.date
        else:
            by = child
    return by, since


def _unit(tok) -> str:
    text = str(tok)
    return text[:-1] if text.endswith("s") else text
