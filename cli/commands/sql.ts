import type { Command } from 'commander';
import { READS } from '../../platform/clickhouse/statements.ts';
import { openStore } from '../../platform/clickhouse/store.ts';
import { loadConfig } from '../../platform/config.ts';
import { renderTable } from '../sqlTable.ts';

export function sqlCommand(program: Command): void {
  program
    .command('sql')
    .description('run one SQL statement against the store (embedded chdb, or CLICKHOUSE_URL) and print the result')
    .argument('<statement>', 'e.g. "SELECT channel, count() FROM cx.touchpoint_events GROUP BY channel"')
    .option('--format <format>', 'table, json (one object per line) or csv', 'table')
    .action(async (statement: string, opts: { format: string }) => {
      if (!['table', 'json', 'csv'].includes(opts.format)) throw new Error(`--format ${opts.format}: expected table, json or csv`);
      const store = await openStore(loadConfig());
      try {
        if (!READS.test(statement)) {
          await store.command(statement);
          process.stdout.write('ok\n');
        } else if (opts.format === 'csv') {
          process.stdout.write(await store.queryText(statement, 'CSVWithNames'));
        } else {
          const { columns, rows } = await store.queryWithColumns(statement);
          if (opts.format === 'json') for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
          else process.stdout.write(`${renderTable(columns, rows)}\n`);
        }
      } finally {
        await store.close();
      }
    });
}
