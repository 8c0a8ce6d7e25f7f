import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openQueryStore, type SqlEndpoint } from '../../platform/clickhouse/endpoint.ts';
import type { Store } from '../../platform/clickhouse/store.ts';
import { loadConfig } from '../../platform/config.ts';
import { errorText, runPrompt, runStatement, splitStatements, type Format, type Statement } from '../sqlPrompt.ts';

// An analyst's query may take a while; the pipeline's 25 s request limit is for inserts.
const QUERY_TIMEOUT_MS = 3_600_000;

/** ClickHouse's message, plus how to get write access when a read-only endpoint refused a write. */
function explain(err: unknown, endpoint: SqlEndpoint | undefined): string {
  const text = errorText(err);
  if (endpoint && (err as { code?: string }).code === 'ECONNREFUSED') {
    return `${text}: ${endpoint.servedBy} no longer serves ${endpoint.url} (stopped?); run \`npx cx sql\` again to open the data directory itself`;
  }
  const readOnly = (err as { code?: string }).code === '164';
  if (!readOnly || !endpoint?.readOnly || !endpoint.writeAdvice || text.includes(endpoint.writeAdvice)) return text;
  return `${text}. ${endpoint.servedBy} (pid ${endpoint.pid}) serves this data read-only. ${endpoint.writeAdvice}`;
}

function describe(store: Store, endpoint: SqlEndpoint | undefined): string {
  if (!endpoint) return store.where;
  return `the live data of ${endpoint.servedBy} (pid ${endpoint.pid}) at ${endpoint.url}, ${endpoint.readOnly ? 'read-only' : 'read-write'}`;
}

/** Runs statements in order; stops at the first error, naming the statement and its line. */
async function runScript(store: Store, endpoint: SqlEndpoint | undefined, statements: Statement[], format: Format): Promise<void> {
  for (const [i, s] of statements.entries()) {
    let out: string;
    try {
      out = await runStatement(store, s.sql, format);
    } catch (err) {
      const which = statements.length > 1 ? `statement ${i + 1} of ${statements.length} (line ${s.line}): ` : '';
      throw new Error(`${which}${explain(err, endpoint)}`);
    }
    process.stdout.write(i > 0 && format === 'table' ? `\n${out}` : out);
  }
}

export function sqlCommand(program: Command): void {
  program
    .command('sql')
    .description(
      'run SQL against the store (embedded chdb, CLICKHOUSE_URL, or the live data a running `npm start` serves) and print the result. ' +
        'Without a statement: an interactive prompt on a terminal (history, \\dt, \\d, \\help), or the ;-separated statements on stdin, in order',
    )
    .argument('[statement]', 'e.g. "SELECT channel, count() FROM cx.touchpoint_events GROUP BY channel" (several may be separated by ;)')
    .option('--format <format>', 'table, json (one object per line) or csv', 'table')
    .action(async (statement: string | undefined, opts: { format: string }) => {
      if (!['table', 'json', 'csv'].includes(opts.format)) throw new Error(`--format ${opts.format}: expected table, json or csv`);
      const format = opts.format as Format;
      const config = loadConfig();
      const interactive = statement === undefined && process.stdin.isTTY === true;
      // Read before connecting, so a script piped in is whole before the first statement runs.
      let script: Statement[] = [];
      if (!interactive) {
        // The last statement needs no `;`.
        const { statements, rest, restLine } = splitStatements(statement ?? readFileSync(0, 'utf8'));
        script = rest ? [...statements, { sql: rest, line: restLine }] : statements;
        // Nothing but comments: the engine says what it makes of it.
        if (statement !== undefined && script.length === 0) script = [{ sql: statement, line: 1 }];
      }

      const { store, endpoint } = await openQueryStore(config, { quiet: true, requestTimeoutMs: QUERY_TIMEOUT_MS });
      try {
        if (!interactive) return await runScript(store, endpoint, script, format);
        await runPrompt({
          store,
          database: config.clickhouseDatabase,
          input: process.stdin,
          output: process.stdout,
          terminal: true,
          historyFile: config.sqlHistoryFile,
          format,
          banner: `cx sql: ${describe(store, endpoint)}, database ${config.clickhouseDatabase}. Statements end with ;  \\help for help, \\q to quit.`,
          describeError: (err) => explain(err, endpoint),
        });
      } finally {
        await store.close();
      }
    });
}
