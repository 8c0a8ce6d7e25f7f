/**
 * The store: ClickHouse through @clickhouse/client, either a server (CLICKHOUSE_URL)
 * or the embedded engine (chdb) plugged into the same client. Everything above
 * this file is one code path.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { maskUrl, type Config } from '../config.ts';

export interface Store {
  readonly database: string;
  readonly embedded: boolean;
  /** A human description: the URL or the data directory. */
  readonly where: string;
  /**
   * Inserts rows (objects with the same keys, in the same order). `dedupToken` makes a retried insert land once
   * (tables set non_replicated_deduplication_window).
   */
  insert(table: string, rows: readonly object[], dedupToken: string): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  /** Rows plus column names in the order the query returns them. */
  queryWithColumns(sql: string): Promise<{ columns: string[]; rows: Record<string, unknown>[] }>;
  /** The result as text in a ClickHouse output format, e.g. CSVWithNames. */
  queryText(sql: string, format: 'CSVWithNames' | 'TabSeparatedWithNames'): Promise<string>;
  command(sql: string, params?: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export class StoreLockedError extends Error {
  override name = 'StoreLockedError';
}

/**
 * The process holding the data directory, if another live one does. chdb's error says
 * only "Failed to create connection" (the engine's "Cannot lock file" goes to stderr),
 * so ask the directory: the engine writes its PID into `status` and keeps it locked.
 */
export function lockHolder(path: string): number | undefined {
  let pid: number;
  try {
    pid = Number(/^PID:\s*(\d+)/m.exec(readFileSync(join(path, 'status'), 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
  if (!pid || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: alive, just not ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}


/**
 * chdb's connection applies clickhouse_settings with a session-wide SET, so a
 * setting outlives its call. Every call therefore states the dedup token, empty
 * when it has none, so one insert's token can never swallow another's rows.
 */
function settings(token = ''): ClickHouseSettings {
  return { insert_deduplication_token: token };
}

export interface OpenStoreOptions {
  /**
   * No log lines from the client: the caller reports every error itself (`cx sql`).
   * Otherwise the client logs a failed request before the caller sees it.
   */
  quiet?: boolean;
  /** How long a request to a server may take (default 25 s, below the consumer rebalance timeout; an analyst's query can take longer). */
  requestTimeoutMs?: number;
}

export async function openStore(
  config: Pick<Config, 'clickhouseUrl' | 'clickhouseUser' | 'clickhousePassword' | 'clickhouseDatabase' | 'clickhousePath'>,
  options: OpenStoreOptions = {},
): Promise<Store> {
  let client: ClickHouseClient;
  let where: string;
  const embedded = !config.clickhouseUrl;
  if (config.clickhouseUrl) {
    client = createClient({
      url: config.clickhouseUrl,
      username: config.clickhouseUser,
      password: config.clickhousePassword,
      // Below the consumer rebalance timeout (workers heartbeat while an insert runs), so a hung insert
      // cannot outlive the worker's partitions.
      request_timeout: options.requestTimeoutMs ?? 25_000,
      ...(options.quiet ? { log: { level: ClickHouseLogLevel.OFF } } : {}),
    });
    // Printed and logged: never with the password a URL may carry.
    where = maskUrl(config.clickhouseUrl);
  } else {
    mkdirSync(config.clickhousePath, { recursive: true });
    const { createChdbConnection } = await import('chdb/connection');
    try {
      client = createClient({ connection: createChdbConnection({ path: config.clickhousePath }) } as Parameters<typeof createClient>[0]);
    } catch (err) {
      const message = (err as Error).message;
      const holder = lockHolder(config.clickhousePath);
      if (holder !== undefined || /lock/i.test(message)) {
        throw new StoreLockedError(
          `the embedded ClickHouse data directory ${config.clickhousePath} is open in another process (${holder ? `pid ${holder}: ` : ''}a running \`npm start\`, \`cx process\` or \`cx store serve\`?). ` +
            'Only one process can open it. `npm start` and `cx store serve` serve it over ClickHouse\'s HTTP interface at the URL they print: `npx cx sql` finds it by itself, ' +
              'other commands take CLICKHOUSE_URL=that URL (writes need a read-write endpoint). Or stop that process, or use a ClickHouse server.',
        );
      }
      throw err;
    }
    where = `embedded chdb at ${config.clickhousePath}`;
  }

  const store: Store = {
    database: config.clickhouseDatabase,
    embedded,
    where,
    async insert(table, rows, dedupToken) {
      if (rows.length === 0) return;
      // Rows of one insert share their shape; sending values without repeating the
      // keys (JSONCompactEachRow) made inserts 1.6x faster than JSONEachRow (bench, chdb).
      const columns = Object.keys(rows[0] as object);
      const values = rows.map((r) => columns.map((c) => (r as Record<string, unknown>)[c]));
      await client.insert({ table, values, columns: columns as [string, ...string[]], format: 'JSONCompactEachRow', clickhouse_settings: settings(dedupToken) });
    },
    async query<T>(sql: string, params?: Record<string, unknown>) {
      const rs = await client.query({ query: sql, query_params: params, format: 'JSONEachRow', clickhouse_settings: settings() });
      return rs.json<T>();
    },
    async queryWithColumns(sql) {
      const rs = await client.query({ query: sql, format: 'JSON', clickhouse_settings: settings() });
      const result = await rs.json<Record<string, unknown>>();
      return { columns: result.meta?.map((m) => m.name) ?? [], rows: result.data };
    },
    async queryText(sql, format) {
      const rs = await client.query({ query: sql, format, clickhouse_settings: settings() });
      return rs.text();
    },
    async command(sql, params) {
      await client.command({ query: sql, query_params: params, clickhouse_settings: settings() });
    },
    async close() {
      await client.close();
    },
  };
  return store;
}
