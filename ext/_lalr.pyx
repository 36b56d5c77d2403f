# The compiled parser: Lark's LALR table and contextual lexer (read off the Lark parser by
# metricsense/syntax/tables.py), run in C. The model is built on each reduce by the same
# ModelBuilder methods the Lark path calls, with the same children and the same positions as
# Lark's tree builder would give them (child filter, `_rule` inlining, `?rule` single children,
# placeholders, propagate_positions with container positions). Anything unexpected raises, and
# the caller parses with Lark instead: syntax errors, their messages and recovery stay Lark's.

from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy
from cpython.unicode cimport PyUnicode_READ, PyUnicode_KIND, PyUnicode_DATA

cdef enum:
    EXPAND1 = 1
    INLINE = 2
    K_TOKEN = 0
    K_NODE = 1
    K_NONE = 2
    #: Deeper trees are left to Lark, whose tree transformer reports what nests too deeply.
    MAX_DEPTH = 100


class Fallback(Exception):
    """The compiled parser cannot take this input; parse it with Lark."""


ctypedef struct Entry:
    int state
    int kind
    int term
    int empty
    int depth
    Py_ssize_t start_pos, end_pos, cstart_pos, cend_pos
    int line, column, end_line, end_column
    int cline, ccolumn, cend_line, cend_column


cdef class Meta:
    """What a ModelBuilder method reads of Lark's Meta: the node's own position."""
    cdef readonly bint empty
    cdef int _line, _column, _end_line, _end_column
    cdef Py_ssize_t _start_pos, _end_pos

    def _check(self):
        if self.empty:
            raise AttributeError("empty node has no position")

    @property
    def line(self):
        self._check()
        return self._line

    @property
    def column(self):
        self._check()
        return self._column

    @property
    def end_line(self):
        self._check()
        return self._end_line

    @property
    def end_column(self):
        self._check()
        return self._end_column

    @property
    def start_pos(self):
        self._check()
        return self._start_pos

    @property
    def end_pos(self):
        self._check()
        return self._end_pos


cdef class Parser:
    """One grammar's tables; `parse(text, callbacks)` returns (value of `start`, comments)."""
    cdef int nterm, nsym, start_state, end_state, end_term, ws_skip
    cdef int *actions
    cdef int *state_lexer
    cdef int *rule_lhs
    cdef int *rule_size
    cdef int *rule_flags
    cdef int *rule_append
    cdef int *rule_inc_start
    cdef int *rule_inc_len
    cdef int *inc  # triples: child index, splice, Nones before
    cdef char *ignored
    cdef char *commented
    cdef list lexer_matchers  # per lexer: the compiled regex's `match` (None until first use)
    cdef list lexer_patterns  # per lexer: (pattern, flags)
    cdef list lexer_groups  # per lexer: tuple, group index -> terminal id (-1 none)
    cdef list lexer_unless  # per lexer: dict terminal id -> {keyword: terminal id}
    cdef tuple term_names
    cdef readonly tuple rule_names  # the builder method of each rule (None: an inlined `_rule`)
    cdef object token_class
    cdef object str_new

    def __cinit__(self):
        self.actions = NULL

    def __init__(self, tables, token_class):
        (terminals, nonterminals, actions, start, end, state_lexer, lexers, rules, ws_skip,
         ignore_ids, comment_ids) = tables
        self.term_names = tuple(terminals)
        self.nterm = len(terminals)
        self.nsym = len(terminals) + len(nonterminals)
        self.end_term = terminals.index("$END")
        self.start_state = start
        self.end_state = end
        self.ws_skip = 1 if ws_skip else 0
        self.token_class = token_class
        self.str_new = str.__new__
        cdef Py_ssize_t i, n
        cdef const unsigned char[:] raw = actions
        n = len(raw) // sizeof(int)
        if n * sizeof(int) != len(raw) or n != len(state_lexer) * self.nsym:
            raise ValueError("the action table does not fit the states and symbols")
        self.actions = <int *> malloc(n * sizeof(int))
        self.state_lexer = <int *> malloc(len(state_lexer) * sizeof(int))
        self.ignored = <char *> malloc(self.nterm)
        self.commented = <char *> malloc(self.nterm)
        nr = len(rules)
        self.rule_lhs = <int *> malloc(nr * sizeof(int))
        self.rule_size = <int *> malloc(nr * sizeof(int))
        self.rule_flags = <int *> malloc(nr * sizeof(int))
        self.rule_append = <int *> malloc(nr * sizeof(int))
        self.rule_inc_start = <int *> malloc(nr * sizeof(int))
        self.rule_inc_len = <int *> malloc(nr * sizeof(int))
        ninc = 0
        for row in rules:
            if row[4] is not None:
                ninc += len(row[4])
        self.inc = <int *> malloc((3 * ninc + 1) * sizeof(int))
        if not (self.actions and self.state_lexer and self.ignored and self.commented and self.rule_lhs
                and self.rule_size and self.rule_flags and self.rule_append and self.rule_inc_start
                and self.rule_inc_len and self.inc):
            raise MemoryError()
        if n:
            memcpy(self.actions, &raw[0], n * sizeof(int))
        for i in range(len(state_lexer)):
            self.state_lexer[i] = state_lexer[i]
        for i in range(self.nterm):
            self.ignored[i] = 1 if i in ignore_ids else 0
            self.commented[i] = 1 if i in comment_ids else 0
        names = []
        k = 0
        for i, (lhs, size, flags, name, kept, append_none) in enumerate(rules):
            self.rule_lhs[i] = lhs
            self.rule_size[i] = size
            self.rule_flags[i] = flags
            self.rule_append[i] = append_none
            names.append(None if flags & INLINE else name)
            if kept is None:
                self.rule_inc_start[i] = -1
                self.rule_inc_len[i] = 0
            else:
                self.rule_inc_start[i] = k
                self.rule_inc_len[i] = len(kept)
                for child, splice, nones in kept:
                    self.inc[3 * k] = child
                    self.inc[3 * k + 1] = 1 if splice else 0
                    self.inc[3 * k + 2] = nones
                    k += 1
        self.rule_names = tuple(names)
        self.lexer_matchers = []
        self.lexer_patterns = []
        self.lexer_groups = []
        self.lexer_unless = []
        for mres, unless in lexers:
            # Lark's Scanner tries its regexes in order with group numbers per regex: one map of
            # group -> terminal per lexer needs one regex (Python 3.11 has no group limit).
            if len(mres) != 1:
                raise ValueError("one regex per lexer state expected")
            pattern, flags, groups = mres[0]
            table = [-1] * (max([0] + [g for g, _ in groups]) + 1)
            for g, t in groups:
                table[g] = t
            self.lexer_matchers.append(None)  # compiled on first use: a small spec visits few states
            self.lexer_patterns.append((pattern, flags))
            self.lexer_groups.append(tuple(table))
            self.lexer_unless.append({t: dict(words) for t, words in unless})

    cdef object _matcher(self, int lx):
        import re
        pattern, flags = self.lexer_patterns[lx]
        match = re.compile(pattern, flags).match
        self.lexer_matchers[lx] = match
        return match

    def __dealloc__(self):
        free(self.actions)
        free(self.state_lexer)
        free(self.ignored)
        free(self.commented)
        free(self.rule_lhs)
        free(self.rule_size)
        free(self.rule_flags)
        free(self.rule_append)
        free(self.rule_inc_start)
        free(self.rule_inc_len)
        free(self.inc)

    cdef object _token(self, str text, Entry *e):
        value = text[e.start_pos:e.end_pos]
        tok = self.str_new(self.token_class, value)
        tok.type = self.term_names[e.term]
        tok.value = value
        tok.start_pos = e.start_pos
        tok.line = e.line
        tok.column = e.column
        tok.end_line = e.end_line
        tok.end_column = e.end_column
        tok.end_pos = e.end_pos
        return tok

    def parse(self, str text, list callbacks):
        cdef Py_ssize_t n = len(text)
        cdef Py_ssize_t pos = 0, line_start = 0, tend, j
        cdef int line = 1, state, term = -1, act, r, size, lx, depth, top, i, kk
        cdef Py_UCS4 ch
        cdef int kind = PyUnicode_KIND(text)
        cdef void *data = PyUnicode_DATA(text)
        cdef Py_ssize_t cap = 256
        cdef Entry *stack = <Entry *> malloc(cap * sizeof(Entry))
        cdef Entry *e
        cdef Entry *first
        cdef Entry *last
        cdef Entry res
        cdef Entry tok
        cdef list values = []
        cdef list comments = []
        cdef list children
        cdef Meta meta
        cdef bint at_end = False
        if stack == NULL:
            raise MemoryError()
        try:
            top = 0
            stack[0].state = self.start_state
            stack[0].kind = K_NONE
            stack[0].empty = 1
            stack[0].depth = 0
            values.append(None)
            while True:
                # ---- the next token, lexed for the current parser state ----
                state = stack[top].state
                while True:
                    if self.ws_skip:
                        while pos < n:
                            ch = PyUnicode_READ(kind, data, pos)
                            if ch == u' ' or ch == u'\t' or ch == u'\x0c' or ch == u'\r':
                                pos += 1
                            elif ch == u'\n':
                                pos += 1
                                line += 1
                                line_start = pos
                            else:
                                break
                    if pos >= n:
                        term = self.end_term
                        at_end = True
                        break
                    lx = self.state_lexer[state]
                    match = self.lexer_matchers[lx]
                    if match is None:
                        match = self._matcher(lx)
                    m = match(text, pos)
                    if m is None:
                        raise Fallback("no terminal matches here")
                    term = (<tuple> self.lexer_groups[lx])[m.lastindex]
                    if term < 0:
                        raise Fallback("a regex group that is no terminal")
                    tend = m.end()
                    tok.start_pos = pos
                    tok.line = line
                    tok.column = <int> (pos - line_start + 1)
                    for j in range(pos, tend):
                        if PyUnicode_READ(kind, data, j) == u'\n':
                            line += 1
                            line_start = j + 1
                    tok.end_pos = tend
                    tok.end_line = line
                    tok.end_column = <int> (tend - line_start + 1)
                    pos = tend
                    if self.ignored[term]:
                        if self.commented[term] and "msense:" in text[tok.start_pos:tend]:
                            tok.term = term
                            comments.append(self._token(text, &tok))
                        continue
                    unless = (<dict> self.lexer_unless[lx]).get(term)
                    if unless is not None:
                        term = (<dict> unless).get(text[tok.start_pos:tend], term)
                    break
                tok.term = term
                tok.kind = K_TOKEN
                tok.empty = 0
                tok.depth = 0
                tok.cstart_pos = tok.start_pos
                tok.cend_pos = tok.end_pos
                tok.cline = tok.line
                tok.ccolumn = tok.column
                tok.cend_line = tok.end_line
                tok.cend_column = tok.end_column
                # ---- feed it: reduce as often as needed, then shift ----
                while True:
                    state = stack[top].state
                    act = self.actions[state * self.nsym + term]
                    if act == 0:
                        raise Fallback("syntax error")
                    if act > 0:
                        if at_end:
                            raise Fallback("shift at the end")
                        if top + 1 >= cap:
                            cap *= 2
                            e = <Entry *> realloc(stack, cap * sizeof(Entry))
                            if e == NULL:
                                raise MemoryError()
                            stack = e
                        top += 1
                        stack[top] = tok
                        stack[top].state = act - 1
                        values.append(None)
                        break
                    r = -act - 1
                    size = self.rule_size[r]
                    # Positions as Lark's PropagatePositions takes them, from all raw children.
                    first = NULL
                    last = NULL
                    depth = 0
                    for i in range(top - size + 1, top + 1):
                        e = &stack[i]
                        if e.kind != K_NONE and not e.empty:
                            if first == NULL:
                                first = e
                            last = e
                        if e.depth > depth:
                            depth = e.depth
                    children = self._children(text, stack, values, top, r, size)
                    flags = self.rule_flags[r]
                    if flags & EXPAND1 and len(children) == 1:
                        value = children[0]
                        kk = self._single(r, top, size)
                        if kk == -2:
                            raise Fallback("unexpected single child")
                        if kk < 0:  # a placeholder
                            res.kind = K_NONE
                            res.empty = 1
                            res.depth = 0
                        else:
                            res = stack[kk]
                            if res.kind == K_NODE:
                                if first != NULL:
                                    if res.empty:
                                        raise Fallback("position set on an expanded empty node")
                                    res.cline = first.cline
                                    res.ccolumn = first.ccolumn
                                    res.cstart_pos = first.cstart_pos
                                    res.cend_line = last.cend_line
                                    res.cend_column = last.cend_column
                                    res.cend_pos = last.cend_pos
                    else:
                        res.kind = K_NODE
                        if first != NULL:
                            res.empty = 0
                            res.line = res.cline = first.cline
                            res.column = res.ccolumn = first.ccolumn
                            res.start_pos = res.cstart_pos = first.cstart_pos
                            res.end_line = res.cend_line = last.cend_line
                            res.end_column = res.cend_column = last.cend_column
                            res.end_pos = res.cend_pos = last.cend_pos
                        else:
                            res.empty = 1
                        if flags & INLINE:
                            value = children
                            res.depth = depth
                        else:
                            res.depth = depth + 1
                            if res.depth > MAX_DEPTH:
                                raise Fallback("nests deeper than the compiled parser goes")
                            meta = Meta.__new__(Meta)
                            meta.empty = res.empty
                            meta._line = res.line
                            meta._column = res.column
                            meta._end_line = res.end_line
                            meta._end_column = res.end_column
                            meta._start_pos = res.start_pos
                            meta._end_pos = res.end_pos
                            callback = callbacks[r]
                            if callback is None:
                                raise Fallback(f"no builder method for {self.rule_names[r]}")
                            value = callback(meta, children)
                    if size:
                        del values[top - size + 1:]
                        top -= size
                    act = self.actions[stack[top].state * self.nsym + self.rule_lhs[r]]
                    if act <= 0:
                        raise Fallback("no goto")
                    top += 1
                    if top >= cap:
                        cap *= 2
                        e = <Entry *> realloc(stack, cap * sizeof(Entry))
                        if e == NULL:
                            raise MemoryError()
                        stack = e
                    res.state = act - 1
                    stack[top] = res
                    values.append(value)
                    if at_end and res.state == self.end_state:
                        return value, comments
        finally:
            free(stack)

    cdef int _single(self, int r, int top, int size):
        """The stack index of the one child a `?rule` returns (-1: a placeholder, -2: none)."""
        cdef int base = top - size + 1, s = self.rule_inc_start[r]
        if s < 0:
            return base if size == 1 else -2
        if self.rule_inc_len[r] == 0:
            return -1
        return base + self.inc[3 * s]

    cdef list _children(self, str text, Entry *stack, list values, int top, int r, int size):
        cdef int base = top - size + 1, k, s = self.rule_inc_start[r], i, nn
        cdef list out
        cdef Entry *e
        if s < 0:
            out = []
            for i in range(base, top + 1):
                e = &stack[i]
                if e.kind == K_TOKEN:
                    out.append(self._token(text, e))
                else:
                    out.append(values[i])
            return out
        out = []
        k = s
        if self.rule_inc_len[r] and self.inc[3 * s + 1] and self.inc[3 * s + 2] == 0:
            # NOTE: a list (`NAME ("," NAME)*`) is a left-recursive inlined rule: its first child
            # is the list so far, spliced. It is taken over, not copied (the stack drops it after
            # this reduce), as Lark's ChildFilterLALR does: copying made a list of n names cost n^2.
            out = <list> values[base + self.inc[3 * s]]
            values[base + self.inc[3 * s]] = None
            k = s + 1
        while k < s + self.rule_inc_len[r]:
            nn = self.inc[3 * k + 2]
            while nn > 0:
                out.append(None)
                nn -= 1
            i = base + self.inc[3 * k]
            e = &stack[i]
            if self.inc[3 * k + 1]:
                out.extend(<list> values[i])
            elif e.kind == K_TOKEN:
                out.append(self._token(text, e))
            else:
                out.append(values[i])
            k += 1
        nn = self.rule_append[r]
        while nn > 0:
            out.append(None)
            nn -= 1
        return out
