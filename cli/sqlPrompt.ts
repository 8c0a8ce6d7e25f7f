/**
 * `cx sql` without a statement: the interactive prompt (a TTY) and script mode (stdin).
 *
 * The parts that decide things are pure and tested without a terminal: where a
 * statement ends (`;` outside quotes and comments), what a meta command asks for,
 * the one-line form a statement takes in the history, and the history file's bound.
 * `runPrompt` wires them to node:readline and a store.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Store } from '../platform/clickhouse/store.ts';
import { READS } from '../platform/clickhouse/statements.ts';
import { renderTable } from './sqlTable.ts';

// ---------------------------------------------------------------------------
// Statements

export interface Statement {
  sql: string;
  /** 1-based line of the input where the statement starts. */
  line: number;
}

export interface Split {
  /** Statements ended by `;`, in order, without the `;`; empty ones (`;;`, comments only) are left out. */
  statements: Statement[];
  /** What follows the last `;`: the start of a statement not ended yet, or '' (blank or comments only). */
  rest: string;
  /** Line where `rest` starts. */
  restLine: number;
}

/** The token the scanner is inside, at a given character. */
type Scan = 'code' | 'string' | 'comment';

/**
 * Walks SQL the way ClickHouse's lexer reads quotes and comments: '...' strings and
 * "..." / `...` identifiers (backslash escapes, doubled quotes), -- and `# ` line
 * comments, nested /* *\/ comments, $tag$ heredocs. `visit` sees each character with
 * what it is part of; a `;` in code ends a statement. Returns whether the text ends
 * inside a string, a block comment or a heredoc.
 */
function scan(text: string, visit: (i: number, what: Scan, quote: string) => void): boolean {
  let open = false;
  let i = 0;
  const n = text.length;
  const isWord = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);
  while (i < n) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === "'" || c === '"' || c === '`') {
      visit(i++, 'string', c);
      open = true;
      while (i < n) {
        const d = text[i] as string;
        if (d === '\\' && i + 1 < n) {
          visit(i++, 'string', c);
          visit(i++, 'string', c);
        } else if (d === c && text[i + 1] === c) {
          visit(i++, 'string', c);
          visit(i++, 'string', c);
        } else {
          visit(i++, 'string', c);
          if (d === c) {
            open = false;
            break;
          }
        }
      }
    } else if ((c === '-' && next === '-') || (c === '#' && (next === ' ' || next === '!'))) {
      while (i < n && text[i] !== '\n') visit(i++, 'comment', '--');
    } else if (c === '/' && next === '*') {
      let depth = 0;
      while (i < n) {
        if (text[i] === '/' && text[i + 1] === '*') {
          depth++;
          visit(i++, 'comment', '/*');
          visit(i++, 'comment', '/*');
        } else if (text[i] === '*' && text[i + 1] === '/') {
          depth--;
          visit(i++, 'comment', '/*');
          visit(i++, 'comment', '/*');
          if (depth === 0) break;
        } else visit(i++, 'comment', '/*');
      }
      open = depth > 0;
    } else if (c === '$' && !isWord(text[i - 1])) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 64))?.[0];
      const end = tag ? text.indexOf(tag, i + tag.length) : -1;
      if (!tag) visit(i++, 'code', '');
      else {
        const stop = end < 0 ? n : end + tag.length;
        open = end < 0;
        while (i < stop) visit(i++, 'string', '$');
      }
    } else visit(i++, 'code', '');
  }
  return open;
}

/** Splits text into `;`-ended statements, and the unfinished rest. */
export function splitStatements(text: string): Split {
  const statements: Statement[] = [];
  let start = 0;
  let hasCode = false;
  let line = 1;
  let firstLine = 1;
  const open = scan(text, (i, what) => {
    const c = text[i];
    if (what === 'code' && c === ';') {
      if (hasCode) statements.push({ sql: text.slice(start, i).trim(), line: firstLine });
      start = i + 1;
      hasCode = false;
    } else if (what !== 'comment' && !/\s/.test(c as string)) {
      if (!hasCode) firstLine = line;
      hasCode = true;
    }
    if (c === '\n') line++;
  });
  // An unfinished comment keeps the statement open too: its end may come on a later line.
  if (!hasCode && !open) return { statements, rest: '', restLine: line };
  const rest = text.slice(start);
  // Where the rest's first line is: count the newlines before its first non-blank character.
  const lead = rest.length - rest.trimStart().length;
  const restLine = line - (rest.slice(lead).match(/\n/g)?.length ?? 0);
  return { statements, rest: rest.trim(), restLine };
}

/**
 * The statement on one line, for the history (readline recalls one line): line breaks
 * between tokens become a space, inside quotes a `\n` escape (inside a $$ heredoc, which
 * has no escapes, a space), and a line comment becomes a block comment so it cannot
 * swallow what followed it.
 */
export function oneLine(sql: string): string {
  let out = '';
  let skipIndent = false;
  let comment = '';
  const flushComment = () => {
    // ClickHouse nests block comments: neither end may appear inside.
    if (comment) out += `/*${comment.replace(/^(--|#)/, '').replaceAll('*/', '* /').replaceAll('/*', '/ *')} */`;
    comment = '';
  };
  scan(sql, (i, what, quote) => {
    const c = sql[i] as string;
    if (what === 'comment' && quote === '--') {
      comment += c;
      return;
    }
    flushComment();
    if (skipIndent && (c === ' ' || c === '\t') && what === 'code') return;
    skipIndent = false;
    if (c === '\r') return;
    if (c === '\n') {
      if (what === 'string' && quote !== '$') out += '\\n';
      else {
        out += ' ';
        skipIndent = true;
      }
      return;
    }
    out += c;
  });
  flushComment();
  return out.trim();
}

// ---------------------------------------------------------------------------
// Meta commands

export type Meta =
  | { kind: 'quit' }
  | { kind: 'help' }
  | { kind: 'tables' }
  | { kind: 'describe'; table: string }
  | { kind: 'unknown'; text: string };

/** A meta command, when the line is one (only at the start of a statement). */
export function parseMeta(line: string): Meta | undefined {
  const t = line.trim().replace(/;+$/, '').trim();
  if (/^(\\q|\\quit|exit|quit)$/i.test(t)) return { kind: 'quit' };
  if (/^(\\help|\\h|\\\?|help)$/i.test(t)) return { kind: 'help' };
  if (t === '\\dt' || t === '\\d') return { kind: 'tables' };
  const d = /^\\d\s+(\S+)$/.exec(t);
  if (d) return { kind: 'describe', table: d[1] as string };
  if (t.startsWith('\\')) return { kind: 'unknown', text: t };
  return undefined;
}

export const HELP = `Statements end with ; and may span lines. Meta commands:
  \\dt            tables and views of the database, with row counts
  \\d <table>     columns of a table or view (db.table, or a name in the database)
  \\help          this help
  \\q, exit       quit (or Ctrl-D)
Ctrl-C clears the current input (a statement already sent runs to its end).
Up and down arrows walk the history; results are tables with their row count and time.`;

/** A ClickHouse string literal. */
export function quoteString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** `db.table`, `table` (in `database`), each part optionally in backticks or double quotes. */
export function tableName(name: string, database: string): { database: string; table: string } {
  const parts = /^(?:(`[^`]+`|"[^"]+"|[^.`"]+)\.)?(`[^`]+`|"[^"]+"|[^.`"]+)$/.exec(name.trim());
  const unquote = (p: string) => (/^[`"]/.test(p) ? p.slice(1, -1) : p);
  if (!parts) return { database, table: name.trim() };
  return { database: parts[1] ? unquote(parts[1]) : database, table: unquote(parts[2] as string) };
}

/** `\dt`: every table and view of the database, with its stored rows (views have none: they are queries). */
export function tablesSql(database: string): string {
  return (
    "SELECT name, if(engine LIKE '%View', 'view', 'table') AS kind, engine, ifNull(toString(total_rows), '') AS rows " +
    `FROM system.tables WHERE database = ${quoteString(database)} ORDER BY kind, name`
  );
}

/** `\d table`: its columns, in order. */
export function describeSql(name: string, database: string): string {
  const t = tableName(name, database);
  return (
    'SELECT name, type, default_kind AS default, default_expression AS expression, comment ' +
    `FROM system.columns WHERE database = ${quoteString(t.database)} AND table = ${quoteString(t.table)} ORDER BY position`
  );
}

// ---------------------------------------------------------------------------
// History

export const HISTORY_MAX = 1000;

/** The history file's entries, oldest first, at most `max` (a missing file is an empty history). */
export function loadHistory(file: string, max = HISTORY_MAX): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.trim()).slice(-max);
}

/** Adds an entry (newest last); an earlier copy of it moves up rather than repeating. */
export function addHistory(entries: readonly string[], entry: string, max = HISTORY_MAX): string[] {
  const e = entry.trim();
  if (!e) return [...entries];
  return [...entries.filter((x) => x !== e), e].slice(-max);
}

/** Writes the last `max` entries, one per line, readable by this user only (statements can hold secrets). */
export function saveHistory(file: string, entries: readonly string[], max = HISTORY_MAX): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${entries.slice(-max).join('\n')}\n`, { mode: 0o600 });
}

// ---------------------------------------------------------------------------
// Input: lines in, statements and meta commands out

export type Step =
  | { kind: 'more' }
  | { kind: 'meta'; meta: Meta; entry: string }
  | { kind: 'statements'; statements: string[]; entry?: string };

/** What the user has typed so far of the statement in hand. */
export class PromptInput {
  private lines: string[] = [];
  /** Lines since the input was last empty: what goes into the history as one entry. */
  private typed: string[] = [];

  get pending(): boolean {
    return this.lines.length > 0;
  }

  clear(): void {
    this.lines = [];
    this.typed = [];
  }

  push(line: string): Step {
    if (!this.pending) {
      const meta = parseMeta(line);
      if (meta) {
        this.typed = [];
        return { kind: 'meta', meta, entry: line.trim() };
      }
      if (!line.trim()) return { kind: 'more' };
    }
    this.typed.push(line);
    const { statements, rest } = splitStatements([...this.lines, line].join('\n'));
    this.lines = rest ? [rest] : [];
    if (!statements.length) {
      if (!rest) this.typed = [];
      return { kind: 'more' };
    }
    const entry = rest ? undefined : oneLine(this.typed.join('\n'));
    if (!rest) this.typed = [];
    return { kind: 'statements', statements: statements.map((s) => s.sql), entry };
  }
}

// ---------------------------------------------------------------------------
// Running statements

export type Format = 'table' | 'json' | 'csv';

export function elapsed(ms: number): string {
  return ms < 1000 ? `${Math.max(0, Math.round(ms))} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Runs one statement and returns what to print: a table (with its row count), JSON lines, CSV, or `ok`. */
export async function runStatement(store: Store, sql: string, format: Format): Promise<string> {
  if (!READS.test(sql)) {
    await store.command(sql);
    return 'ok\n';
  }
  if (format === 'csv') return store.queryText(sql, 'CSVWithNames');
  const { columns, rows } = await store.queryWithColumns(sql);
  if (format === 'json') return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  return `${renderTable(columns, rows)}\n`;
}

/** An error as ClickHouse states it: code, type and message; no stack. */
export function errorText(err: unknown): string {
  const e = err as { code?: string; type?: string; message?: string };
  // The client keeps the space and the dot before ClickHouse's `(TYPE)`.
  const message = (e?.message ?? String(err)).trim().replace(/\.\.$/, '.');
  return e?.code && e.type ? `Code ${e.code} (${e.type}): ${message}` : message;
}

export interface PromptOptions {
  store: Store;
  /** Database `\dt` lists and `\d` looks names up in. */
  database: string;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** A terminal: line editing, arrows, Ctrl-C. Off: plain lines (tests, pipes). */
  terminal: boolean;
  /** Where the history lives; none: no history. */
  historyFile?: string;
  /** Printed first: what the prompt is connected to. */
  banner?: string;
  format?: Format;
  /** The text of an error (e.g. with advice on how to get write access). */
  describeError?: (err: unknown) => string;
}

const PRIMARY = 'cx> ';
const CONTINUATION = ' -> ';

/** The interactive prompt, until `\q`, `exit` or the end of input (Ctrl-D). */
export async function runPrompt(options: PromptOptions): Promise<void> {
  const { store, database, input, output, terminal, historyFile, format = 'table' } = options;
  const describeError = options.describeError ?? errorText;
  const say = (s: string) => output.write(s.endsWith('\n') ? s : `${s}\n`);
  let history = historyFile ? loadHistory(historyFile) : [];
  const rl = createInterface({ input, output, terminal, prompt: PRIMARY, history: [...history].reverse(), historySize: HISTORY_MAX, removeHistoryDuplicates: true });
  const state = new PromptInput();

  const remember = (entry: string | undefined) => {
    if (!entry || !historyFile) return;
    history = addHistory(history, entry);
    // readline keeps each line it reads; a statement typed over several lines is one entry instead.
    (rl as unknown as { history: string[] }).history = [...history].reverse();
    try {
      saveHistory(historyFile, history);
    } catch (err) {
      say(`(history not saved to ${historyFile}: ${(err as Error).message})`);
    }
  };

  const show = async (sql: string, whenEmpty?: string) => {
    const started = performance.now();
    try {
      const text = await runStatement(store, sql, whenEmpty ? 'table' : format);
      const ms = elapsed(performance.now() - started);
      if (whenEmpty && /^0 rows$/m.test(text)) say(whenEmpty);
      else say(format === 'table' || whenEmpty ? `${text.replace(/\n$/, '')} in ${ms}` : text);
    } catch (err) {
      say(`error: ${describeError(err)}`);
    }
  };

  rl.on('SIGINT', () => {
    const hadInput = state.pending || rl.line.length > 0;
    state.clear();
    // To the end of the line, a visible ^C, then an empty line under a fresh prompt.
    rl.write(null, { ctrl: true, name: 'e' });
    output.write(hadInput ? '^C\n' : '^C (\\q or Ctrl-D to quit)\n');
    rl.write(null, { ctrl: true, name: 'u' });
    rl.setPrompt(PRIMARY);
    rl.prompt();
  });

  if (options.banner) say(options.banner);
  rl.prompt();
  for await (const line of rl) {
    const step = state.push(line);
    if (step.kind === 'meta') {
      remember(step.entry);
      const { meta } = step;
      if (meta.kind === 'quit') break;
      if (meta.kind === 'help') say(HELP);
      else if (meta.kind === 'unknown') say(`unknown meta command ${meta.text}: \\help lists them`);
      else if (meta.kind === 'tables') await show(tablesSql(database), `no tables in database ${database} yet`);
      else {
        const t = tableName(meta.table, database);
        await show(describeSql(meta.table, database), `no table or view ${t.database}.${t.table} (\\dt lists them)`);
      }
    } else if (step.kind === 'statements') {
      remember(step.entry);
      for (const sql of step.statements) await show(sql);
    }
    rl.setPrompt(state.pending ? CONTINUATION : PRIMARY);
    rl.prompt();
  }
  rl.close();
  if (terminal) output.write('\n');
}
