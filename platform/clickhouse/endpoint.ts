/**
 * Where a live embedded store is served. chdb lets one process open a data directory,
 * so the process that holds it (`npm start`, `cx store serve`) serves it over
 * ClickHouse's HTTP interface and records the URL in a small file inside the
 * directory; `cx sql` reads it and queries through that process instead of failing on
 * the directory's lock.
 *
 * A record counts only while the process that wrote it holds the directory (the
 * engine's own `status` file names that process), so a record left by a killed process,
 * or by one whose pid was reused since, is ignored.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { lockHolder, openStore, type OpenStoreOptions, type Store } from './store.ts';

export const ENDPOINT_FILE = 'cx-sql-endpoint.json';

export interface SqlEndpoint {
  /** ClickHouse HTTP interface, e.g. http://127.0.0.1:8124. */
  url: string;
  pid: number;
  readOnly: boolean;
  /** The command serving it, e.g. `npx cx start`. */
  servedBy: string;
  /** How to get write access when it is read-only. */
  writeAdvice?: string;
  startedAt: string;
}

export function endpointFile(dataPath: string): string {
  return join(dataPath, ENDPOINT_FILE);
}

function readRecord(file: string): SqlEndpoint | undefined {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as Partial<SqlEndpoint>;
    if (typeof r.url !== 'string' || !Number.isInteger(r.pid) || typeof r.readOnly !== 'boolean') return undefined;
    return { servedBy: 'another process', startedAt: '', ...r } as SqlEndpoint;
  } catch {
    return undefined;
  }
}

/**
 * Records that this process serves `dataPath` at `url`; returns what removes the record
 * (only while it is still this process's: a later server may have replaced it).
 */
export function recordEndpoint(dataPath: string, endpoint: Omit<SqlEndpoint, 'pid' | 'startedAt'>): () => void {
  const file = endpointFile(dataPath);
  const record: SqlEndpoint = { ...endpoint, pid: process.pid, startedAt: new Date().toISOString() };
  // Written whole then renamed, so a reader never sees half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(tmp, file);
  const remove = () => {
    process.off('exit', remove);
    const now = readRecord(file);
    if (now?.pid === process.pid && now.url === record.url) rmSync(file, { force: true });
  };
  // Also on an exit that skips the clean stop; a killed process leaves it, and readers ignore it.
  process.on('exit', remove);
  return remove;
}

/** The endpoint serving `dataPath`, while the process that recorded it holds the directory. */
export function liveEndpoint(dataPath: string): SqlEndpoint | undefined {
  const record = readRecord(endpointFile(dataPath));
  if (!record) return undefined;
  // A stale record is left alone, not deleted: a server starting right now may be about to replace it.
  return record.pid === process.pid || lockHolder(dataPath) === record.pid ? record : undefined;
}

export interface QueryStore {
  store: Store;
  /** Set when the store is reached through a live process's endpoint. */
  endpoint?: SqlEndpoint;
}

/**
 * The store for someone who wants to query: CLICKHOUSE_URL when set; otherwise the live
 * endpoint of the process that holds the embedded directory; otherwise the directory
 * itself (which fails with StoreLockedError if a process holds it without serving it).
 */
export async function openQueryStore(config: Config, options: OpenStoreOptions = {}): Promise<QueryStore> {
  // A server named by CLICKHOUSE_URL gets CLICKHOUSE_PASSWORD, as every other command sends it: never
  // CX_SQL_PASSWORD, which belongs to this machine's own endpoint and must not go to another server.
  if (config.clickhouseUrl) return { store: await openStore(config, options) };
  const endpoint = liveEndpoint(config.clickhousePath);
  if (!endpoint) return { store: await openStore(config, options) };
  try {
    const res = await fetch(`${endpoint.url}/ping`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    throw new Error(
      `${endpoint.servedBy} (pid ${endpoint.pid}) holds the embedded data directory ${config.clickhousePath} and serves it at ${endpoint.url}, ` +
        `but that endpoint does not answer (${(err as Error).message}). Is it stopping? Try again, or stop that process so the directory can be opened here.`,
    );
  }
  // The endpoint has one user; its password, when it wants one, is CX_SQL_PASSWORD (never in the record).
  const store = await openStore({ ...config, clickhouseUrl: endpoint.url, clickhouseUser: 'default', clickhousePassword: config.sqlPassword ?? '' }, options);
  return { store, endpoint };
}
