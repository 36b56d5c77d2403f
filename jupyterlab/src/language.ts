// The msense language for CodeMirror 6, as a stream (legacy-mode) parser. It colours; it does
// not check: grammar/metricsense.lark defines the language, `msense lsp` checks it. The word
// lists are metricsense/pygments_lexer.py's (tests/test_jupyterlab_extension.py compares them).
import { StreamLanguage, StringStream } from '@codemirror/language';

export const DECLARATIONS = ['mission', 'lever', 'disturbance', 'failure', 'kpi', 'trigger', 'trust', 'include', 'data'];
export const CLAUSES = [
  'why', 'owner', 'unit', 'kind', 'focus', 'better', 'scope', 'target', 'by', 'link', 'guards',
  'column', 'responds', 'disturbed', 'lag', 'review', 'every', 'for', 'when', 'ask', 'with', 'at',
  'managers', 'team', 'scale', 'gap', 'min_group', 'open', 'sql', 'from', 'layout', 'period', 'segment',
  'decimal', 'currency', 'sheet', 'range', 'table',
  'cost', 'size', 'best', 'noise'
];
export const CONSTANTS = [
  'input', 'process', 'output', 'outcome', 'results', 'relationships', 'higher', 'lower',
  'individual', 'organization', 'one-to-one', 'manager', 'leadership', 'all-hands', 'wide', 'long',
  'periods', 'days', 'day', 'weeks', 'week', 'months', 'month', 'quarters', 'quarter', 'years', 'year'
];
export const OPERATORS = ['and', 'or', 'not', 'abs', 'of'];
export const FUNCTIONS = ['change', 'lag', 'mean', 'min', 'max', 'target'];

/** Declarations that name what they declare: the next word is a definition. */
const NAMING = new Set(['kpi', 'lever', 'disturbance', 'failure', 'trigger', 'trust']);
const declarations = new Set(DECLARATIONS);
const clauses = new Set(CLAUSES);
const constants = new Set(CONSTANTS);
const operators = new Set(OPERATORS);
const functions = new Set(FUNCTIONS);

interface State {
  inString: boolean;
  defines: boolean; // the previous word was a naming declaration
}

// NOTE: CodeMirror calls token(stream, state) unbound: no `this` in here.
function token(stream: StringStream, state: State): string | null {
  if (state.inString) {
    return stringBody(stream, state);
  }
  if (stream.sol() && stream.match(/^%%\w+/)) {
    // the `%%msense` line of a notebook cell
    stream.skipToEnd();
    return 'meta';
  }
  if (stream.eatSpace()) {
    return null;
  }
  if (stream.match(/^#\s*msense:.*/)) {
    return 'comment meta'; // a suppression: a comment that matters
  }
  if (stream.match(/^#.*/)) {
    return 'lineComment';
  }
  if (stream.eat('"')) {
    state.inString = true;
    return stringBody(stream, state);
  }
  if (stream.match(/^\d{4}-\d{2}-\d{2}/) || stream.match(/^\d+\.\.\d+/) || stream.match(/^\d+(\.\d+)?%?/)) {
    state.defines = false;
    return 'number';
  }
  const word = stream.match(/^[A-Za-z_][\w]*(-[a-z]+)*/) as RegExpMatchArray | null;
  if (word) {
    const w = word[0];
    if (state.defines) {
      state.defines = false;
      return 'variableName.definition';
    }
    if (declarations.has(w)) {
      state.defines = NAMING.has(w);
      return 'definitionKeyword';
    }
    if (operators.has(w)) {
      return 'operatorKeyword';
    }
    if (functions.has(w) && stream.match(/^\s*\(/, false)) {
      return 'variableName.standard';
    }
    if (clauses.has(w)) {
      return 'keyword';
    }
    if (constants.has(w)) {
      return 'atom';
    }
    if (w.includes('-')) {
      // not a hyphenated constant: give back the hyphen and what follows
      stream.backUp(w.length - w.indexOf('-'));
    }
    stream.match(/^\.[A-Za-z_]\w*/); // a column: kpi.column
    return 'variableName';
  }
  state.defines = false;
  if (stream.match(/^(<=|>=|==|!=|[<>+\-*/])/)) {
    return 'operator';
  }
  if (stream.match(/^[{}(),[\]]/)) {
    return 'punctuation';
  }
  stream.next();
  return null;
}

function stringBody(stream: StringStream, state: State): string {
  while (!stream.eol()) {
    const ch = stream.next();
    if (ch === '\\') {
      stream.next();
    } else if (ch === '"') {
      state.inString = false;
      return 'string';
    }
  }
  state.inString = false; // an unclosed string ends at the line
  return 'string';
}

export const msense = StreamLanguage.define<State>({
  name: 'msense',
  startState: () => ({ inString: false, defines: false }),
  copyState: s => ({ ...s }),
  token,
  languageData: { commentTokens: { line: '#' } }
});
