/**
 * Versioned SQL migrations (platform/clickhouse/migrations/NNNN_name.sql), applied
 * in order, once each, recorded in `schema_migrations`. Each statement is written
 * to be re-runnable, so a crash between a statement and its record is harmless.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Store } from './store.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const text = readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .filter((line) => !line.trim().startsWith('--'))
        .join('\n');
      return {
        version: Number(file.slice(0, 4)),
        name: file.replace(/\.sql$/, ''),
        statements: text.split(/;\s*(?:\n|$)/).map((s) => s.trim()).filter(Boolean),
      };
    });
}

/** Applies what is missing; returns the names applied now. */
export async function migrate(store: Store, migrations = readMigrations()): Promise<string[]> {
  const db = store.database;
  await store.command(`CREATE DATABASE IF NOT EXISTS ${db}`);
  await store.command(
    `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (version UInt32, name String, applied_at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree ORDER BY version`,
  );
  const done = new Set((await store.query<{ version: number }>(`SELECT version FROM ${db}.schema_migrations FINAL`)).map((r) => Number(r.version)));
  const applied: string[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    for (const sql of m.statements) await store.command(sql.replaceAll('{{database}}', db));
    await store.insert(`${db}.schema_migrations`, [{ version: m.version, name: m.name, applied_at: Date.now() }], `migration-${m.version}`);
    applied.push(m.name);
  }
  return applied;
}
