import type { Command } from 'commander';
import { migrate } from '../../platform/clickhouse/migrate.ts';
import { openStore } from '../../platform/clickhouse/store.ts';
import { loadConfig } from '../../platform/config.ts';

export function migrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply the SQL migrations the store does not have yet (safe to repeat)')
    .action(async () => {
      const store = await openStore(loadConfig());
      try {
        const applied = await migrate(store);
        process.stdout.write(applied.length ? `applied ${applied.join(', ')} to ${store.where}\n` : `${store.where} is up to date\n`);
      } finally {
        await store.close();
      }
    });
}
