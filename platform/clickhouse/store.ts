/**
 * The store: ClickHouse through @clickhouse/client, either a server (CLICKHOUSE_URL)
 * or the embedded engine (chdb) plugged into the same client. Everything above
 * this file is one code path.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { maskUrl, type Config } from '../config.ts';
import { literal } from './httpError.ts';

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

/**
 * An insert of rows that share their keys, as one statement and its body in
 * JSONCompactColumns: `[[first column's values], [second's], ...]`.
 *
 * Why this shape (bench/sink.ts, chdb, same rows in one run): one JSON.stringify of a
 * few column arrays is V8's C++ serialiser doing the whole body, where the client's
 * JSONCompactEachRow path allocates an array and calls JSON.stringify per row; and the
 * engine parses a column of one type faster than rows of mixed ones. Each value is
 * still JSON, read by the same per-type JSON reader as JSONEachRow, so every value
 * lands as it did before (-0, NaN and undefined become what JSON.stringify makes of
 * them, as in any JSON format: tests/integration/sink.test.ts holds the two equal).
 * Text formats (TabSeparated, CSV) would need an escaper written in JS, which is slower
 * than JSON.stringify and can drift from it; binary ones cannot pass chdb's connection,
 * which hands the body to the engine as a UTF-8 string.
 *
 * The dedup token goes in the statement's SETTINGS clause rather than in
 * clickhouse_settings: it belongs to this statement alone (never to the session, see
 * `settings`), and chdb's connection turns clickhouse_settings into a `SET ...;` before
 * the INSERT, which makes the engine take the statement as a script, slower with a
 * large inline body.
 */
export function columnarInsert(table: string, rows: readonly object[], dedupToken: string): { query: string; body: string } {
  const columns = Object.keys(rows[0] as object);
  const values = columns.map(() => new Array<unknown>(rows.length));
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as Record<string, unknown>;
    for (let c = 0; c < columns.length; c++) (values[c] as unknown[])[i] = row[columns[c] as string];
  }
  return {
    query: `INSERT INTO ${table} (${columns.join(', ')}) SETTINGS insert_deduplication_token = ${literal(dedupToken)} FORMAT JSONCompactColumns`,
    body: JSON.stringify(values),
  };
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
      // exec, not insert: the client's insert takes JSON formats only as one object per row.
      // To a server the statement goes as the `query` URL parameter and the body as the request body.
      // The body as a stream of one string (as the client streams a string body itself): chdb's
      // connection takes the string as it is, without a round trip through UTF-8 bytes.
      const { query, body } = columnarInsert(table, rows, dedupToken);
      const result = await client.exec({ query, values: Readable.from([body]) });
      // The response is empty; reading it to the end hands a server's socket back to the pool.
      await finished(result.stream.resume());
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
