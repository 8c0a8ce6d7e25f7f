/**
 * The prompt's decisions, without a terminal or a store: where statements end, what a
 * meta command asks for, the one-line history form, and the history file's bound.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addHistory,
  describeSql,
  HISTORY_MAX,
  loadHistory,
  oneLine,
  parseMeta,
  PromptInput,
  quoteString,
  saveHistory,
  splitStatements,
  tableName,
  tablesSql,
} from '../../cli/sqlPrompt.ts';

const sqls = (text: string) => splitStatements(text).statements.map((s) => s.sql);

describe('splitStatements', () => {
  it('ends statements at ; and keeps the unfinished rest', () => {
    expect(splitStatements('SELECT 1; SELECT 2;\nSELECT 3')).toEqual({
      statements: [{ sql: 'SELECT 1', line: 1 }, { sql: 'SELECT 2', line: 1 }],
      rest: 'SELECT 3',
      restLine: 2,
    });
    expect(splitStatements('SELECT 1;  \n')).toEqual({ statements: [{ sql: 'SELECT 1', line: 1 }], rest: '', restLine: 2 });
  });

  it('does not end a statement at a ; inside quotes, identifiers, comments or heredocs', () => {
    expect(sqls(`SELECT 'a;b', "c;d", \`e;f\`; SELECT 2;`)).toEqual([`SELECT 'a;b', "c;d", \`e;f\``, 'SELECT 2']);
    expect(sqls(`SELECT 'it\\'s; here', 'it''s; there';`)).toEqual([`SELECT 'it\\'s; here', 'it''s; there'`]);
    expect(sqls('SELECT 1 -- not the end;\n, 2;')).toEqual(['SELECT 1 -- not the end;\n, 2']);
    expect(sqls('SELECT 1 # nor this;\n, 2;')).toEqual(['SELECT 1 # nor this;\n, 2']);
    expect(sqls('SELECT /* one; /* nested; */ still; */ 1;')).toEqual(['SELECT /* one; /* nested; */ still; */ 1']);
    expect(sqls('SELECT $$a;b$$, $tag$c;$$;d$tag$;')).toEqual(['SELECT $$a;b$$, $tag$c;$$;d$tag$']);
    // `$` inside a name is not a heredoc.
    expect(sqls('SELECT a$b; SELECT 2;')).toEqual(['SELECT a$b', 'SELECT 2']);
  });

  it('leaves out empty statements and comment-only pieces', () => {
    expect(sqls(';; -- nothing\n; /* nor here */ ; SELECT 1;;')).toEqual(['SELECT 1']);
    expect(splitStatements('-- only a comment\n')).toEqual({ statements: [], rest: '', restLine: 2 });
  });

  it("numbers each statement by the line it starts on", () => {
    const split = splitStatements('\n\nSELECT 1;\n-- note\nSELECT\n  2;\n\n  SELECT 3');
    expect(split.statements.map((s) => s.line)).toEqual([3, 5]);
    expect(split.restLine).toBe(8);
  });

  it('keeps a statement open while a string or a block comment is', () => {
    expect(splitStatements("SELECT 'a;")).toMatchObject({ statements: [], rest: "SELECT 'a;" });
    expect(splitStatements('/* started;')).toMatchObject({ statements: [], rest: '/* started;' });
    expect(splitStatements('/* started;\nended */ SELECT 1;')).toMatchObject({ statements: [{ sql: '/* started;\nended */ SELECT 1', line: 2 }], rest: '' });
  });

  it('splits any statements whose string literals hold ;, quotes, backslashes and line breaks', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', ';', "'", '"', '`', '\\', '\n', '-', '/', '*', '$', ' ') }), { minLength: 1, maxLength: 5 }), (values) => {
        const statements = values.map((v, i) => `SELECT ${quoteString(v)} AS c${i}`);
        expect(sqls(`${statements.join(';\n')};`)).toEqual(statements);
        // The history's one-line form splits the same way, on one line.
        const line = oneLine(`${statements.join(';\n  ')};`);
        expect(line).not.toContain('\n');
        expect(sqls(line)).toHaveLength(statements.length);
      }),
    );
  });
});

describe('oneLine', () => {
  it('joins lines, drops their indent, and keeps what quotes hold', () => {
    expect(oneLine('SELECT a,\n       b\nFROM t;')).toBe('SELECT a, b FROM t;');
    expect(oneLine("SELECT 'x\ny'")).toBe("SELECT 'x\\ny'");
  });

  it('turns a line comment into a block comment so it cannot swallow the rest', () => {
    expect(oneLine('SELECT 1 -- why */ here /* and\n  , 2;')).toBe('SELECT 1 /* why * / here / * and */ , 2;');
    expect(sqls(oneLine('SELECT 1 -- note\n;'))).toEqual(['SELECT 1 /* note */']);
  });
});

describe('meta commands', () => {
  it('knows quit, help, \\dt and \\d', () => {
    for (const q of ['\\q', 'exit', 'quit;', ' \\quit ', 'EXIT']) expect(parseMeta(q), q).toEqual({ kind: 'quit' });
    for (const h of ['\\help', '\\?', 'help', '\\h']) expect(parseMeta(h), h).toEqual({ kind: 'help' });
    expect(parseMeta('\\dt')).toEqual({ kind: 'tables' });
    expect(parseMeta('\\d')).toEqual({ kind: 'tables' });
    expect(parseMeta('\\d cx.journeys')).toEqual({ kind: 'describe', table: 'cx.journeys' });
    expect(parseMeta('\\x')).toEqual({ kind: 'unknown', text: '\\x' });
    expect(parseMeta('SELECT 1;')).toBeUndefined();
    expect(parseMeta('exit_code')).toBeUndefined();
  });

  it('looks names up in the database, quoted safely', () => {
    expect(tableName('journeys', 'cx')).toEqual({ database: 'cx', table: 'journeys' });
    expect(tableName('system.tables', 'cx')).toEqual({ database: 'system', table: 'tables' });
    expect(tableName('`odd.db`.`t x`', 'cx')).toEqual({ database: 'odd.db', table: 't x' });
    expect(describeSql("x' OR 1", 'cx')).toContain("table = 'x\\' OR 1'");
    expect(tablesSql('cx')).toContain("database = 'cx'");
  });
});

describe('PromptInput', () => {
  it('gathers lines until ;, runs each statement, and makes one history entry of them', () => {
    const input = new PromptInput();
    expect(input.push('SELECT 1 AS a,')).toEqual({ kind: 'more' });
    expect(input.pending).toBe(true);
    expect(input.push('       2 AS b; SELECT 3;')).toEqual({ kind: 'statements', statements: ['SELECT 1 AS a,\n       2 AS b', 'SELECT 3'], entry: 'SELECT 1 AS a, 2 AS b; SELECT 3;' });
    expect(input.pending).toBe(false);
  });

  it('runs what ended and keeps the rest for the next line', () => {
    const input = new PromptInput();
    expect(input.push('SELECT 1; SELECT')).toEqual({ kind: 'statements', statements: ['SELECT 1'], entry: undefined });
    expect(input.push('2;')).toEqual({ kind: 'statements', statements: ['SELECT\n2'], entry: 'SELECT 1; SELECT 2;' });
  });

  it('takes meta commands only at the start of a statement, and forgets on clear', () => {
    const input = new PromptInput();
    expect(input.push('\\dt')).toEqual({ kind: 'meta', meta: { kind: 'tables' }, entry: '\\dt' });
    expect(input.push('SELECT')).toEqual({ kind: 'more' });
    expect(input.push('exit')).toEqual({ kind: 'more' });
    input.clear();
    expect(input.pending).toBe(false);
    expect(input.push('exit')).toMatchObject({ kind: 'meta', meta: { kind: 'quit' } });
    expect(input.push('')).toEqual({ kind: 'more' });
    expect(input.pending).toBe(false);
  });
});

describe('history', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cx-history-'));

  it('starts empty without a file, and moves a repeated entry to the end', () => {
    expect(loadHistory(join(dir, 'missing'))).toEqual([]);
    expect(addHistory(['a;', 'b;'], 'a;')).toEqual(['b;', 'a;']);
    expect(addHistory(['a;'], '  ')).toEqual(['a;']);
  });

  it('keeps the last HISTORY_MAX entries in memory and in the file, readable by its owner only', () => {
    let entries: string[] = [];
    for (let i = 0; i < HISTORY_MAX + 50; i++) entries = addHistory(entries, `SELECT ${i};`);
    expect(entries).toHaveLength(HISTORY_MAX);
    expect(entries[0]).toBe('SELECT 50;');
    const file = join(dir, 'nested', 'history');
    saveHistory(file, entries);
    expect(readFileSync(file, 'utf8').trimEnd().split('\n')).toHaveLength(HISTORY_MAX);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadHistory(file)).toEqual(entries);
    expect(loadHistory(file, 10)).toEqual(entries.slice(-10));
  });

  it('reads only the last HISTORY_MAX entries of a longer file', () => {
    const file = join(dir, 'long');
    writeFileSync(file, `${Array.from({ length: HISTORY_MAX * 2 }, (_, i) => `SELECT ${i};`).join('\n')}\n\n`);
    const loaded = loadHistory(file);
    expect(loaded).toHaveLength(HISTORY_MAX);
    expect(loaded.at(-1)).toBe(`SELECT ${HISTORY_MAX * 2 - 1};`);
  });
});
