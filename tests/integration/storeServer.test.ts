/**
 * `cx store serve`: one process owns the embedded chdb data directory and others use
 * it over ClickHouse's HTTP interface, through the same `openStore` (and plain
 * @clickhouse/client) they would point at a ClickHouse server.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ClickHouseError, createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, readMigrations } from '../../platform/clickhouse/migrate.ts';
import { openStore, type Store } from '../../platform/clickhouse/store.ts';
import { startStoreServer, type StoreServer } from '../../platform/clickhouse/storeServer.ts';
import { isolatedConfig, isolatedEnv } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { config } = isolatedConfig();
const db = config.clickhouseDatabase;
const DEDUP_TABLE = `${db}.server_dedup`;

let server: StoreServer;
let readOnlyServer: StoreServer;
let store: Store;

const count = async (s: Store, table: string) => Number((await s.query<{ n: number }>(`SELECT count() AS n FROM ${table}`))[0]?.n);

beforeAll(async () => {
  server = await startStoreServer({ path: config.clickhousePath, host: '127.0.0.1', port: 0 });
  // Same directory, same process: chdb lets connections to one directory coexist.
  readOnlyServer = await startStoreServer({ path: config.clickhousePath, host: '127.0.0.1', port: 0, readOnly: true });
  store = await openStore({ ...config, clickhouseUrl: server.url });
});

afterAll(async () => {
  await store?.close();
  await readOnlyServer?.close();
  await server?.close();
});

describe('the store server, through openStore and @clickhouse/client', () => {
  it('answers /ping like ClickHouse and the client ping', async () => {
    const res = await fetch(`${server.url}/ping`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('Ok.\n');
    const client = createClient({ url: server.url });
    try {
      expect((await client.ping()).success).toBe(true);
      expect((await client.ping({ select: true })).success).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('runs the migrations, once', async () => {
    expect(await migrate(store)).toEqual(readMigrations().map((m) => m.name));
    expect(await migrate(store)).toEqual([]);
    expect(await count(store, `${db}.touchpoint_events`)).toBe(0);
  });

  it('lands a retried insert once, and an insert after a tokened one still lands', async () => {
    await store.command(
      `CREATE TABLE ${DEDUP_TABLE} (id UInt32, note String) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100`,
    );
    const batch = [{ id: 1, note: 'a' }, { id: 2, note: 'b' }];
    await store.insert(DEDUP_TABLE, batch, 'batch-1');
    await store.insert(DEDUP_TABLE, batch, 'batch-1');
    expect(await count(store, DEDUP_TABLE)).toBe(2);

    // Had batch-1's token outlived its request, these rows would be dropped as its duplicate.
    await store.insert(DEDUP_TABLE, [{ id: 3, note: 'c' }], '');
    expect(await count(store, DEDUP_TABLE)).toBe(3);

    // A client that sends no token at all (openStore always sends one, empty or not).
    const client = createClient({ url: server.url });
    try {
      await client.insert({ table: DEDUP_TABLE, values: [{ id: 4, note: 'd' }], format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: 'batch-2' } });
      await client.insert({ table: DEDUP_TABLE, values: [{ id: 5, note: 'e' }], format: 'JSONEachRow' });
    } finally {
      await client.close();
    }
    expect(await store.query(`SELECT id FROM ${DEDUP_TABLE} ORDER BY id`)).toEqual([1, 2, 3, 4, 5].map((id) => ({ id })));
  });

  it('binds query parameters exactly, and only for their own request', async () => {
    const params = { s: "it's a \\ back\tslash\nand 'quotes'", n: 42, xs: ["x'y", 'z\\'], d: null };
    const rows = await store.query('SELECT {s:String} AS s, {n:UInt32} AS n, {xs:Array(String)} AS xs, {d:Nullable(String)} AS d', params);
    expect(rows).toEqual([params]);
    await expect(store.query('SELECT {s:String} AS s')).rejects.toMatchObject({ code: '456', type: 'UNKNOWN_QUERY_PARAMETER' });
  });

  it("applies a request's database and settings to that request only", async () => {
    const client = createClient({ url: server.url, database: db, clickhouse_settings: { max_threads: 3, insert_deduplication_token: 'ignored-by-selects' } });
    try {
      const rs = await client.query({ query: "SELECT currentDatabase() AS d, toUInt32(getSetting('max_threads')) AS t", format: 'JSONEachRow' });
      expect(await rs.json()).toEqual([{ d: db, t: 3 }]);
    } finally {
      await client.close();
    }
    const [after] = await store.query<{ d: string; t: number; tok: string }>(
      "SELECT currentDatabase() AS d, toUInt32(getSetting('max_threads')) AS t, toString(getSetting('insert_deduplication_token')) AS tok",
    );
    expect(after?.d).toBe('default');
    expect(after?.t).not.toBe(3);
    expect(after?.tok).toBe('');
  });

  it('returns JSONEachRow, JSON, CSV and TSV as a ClickHouse server would', async () => {
    expect(await store.query(`SELECT id, note FROM ${DEDUP_TABLE} ORDER BY id LIMIT 2`)).toEqual([{ id: 1, note: 'a' }, { id: 2, note: 'b' }]);
    expect(await store.queryWithColumns(`SELECT note, id FROM ${DEDUP_TABLE} ORDER BY id LIMIT 2`)).toEqual({
      columns: ['note', 'id'],
      rows: [{ note: 'a', id: 1 }, { note: 'b', id: 2 }],
    });
    expect(await store.queryText(`SELECT id, note FROM ${DEDUP_TABLE} ORDER BY id LIMIT 2`, 'CSVWithNames')).toBe('"id","note"\n1,"a"\n2,"b"\n');
    expect(await store.queryText(`SELECT id, note FROM ${DEDUP_TABLE} ORDER BY id LIMIT 2`, 'TabSeparatedWithNames')).toBe('id\tnote\n1\ta\n2\tb\n');
  });

  it('works with the client compressing requests and responses', async () => {
    const client = createClient({ url: server.url, compression: { request: true, response: true } });
    try {
      await client.insert({ table: DEDUP_TABLE, values: [{ id: 6, note: 'f'.repeat(1000) }], format: 'JSONEachRow' });
      const rs = await client.query({ query: `SELECT length(note) AS l FROM ${DEDUP_TABLE} WHERE id = 6`, format: 'JSONEachRow' });
      expect(await rs.json()).toEqual([{ l: 1000 }]);
    } finally {
      await client.close();
    }
  });

  it('raises ClickHouse errors with their code, type and text', async () => {
    const bad = store.query('SELECT no_such_column FROM system.one');
    await expect(bad).rejects.toBeInstanceOf(ClickHouseError);
    await expect(bad).rejects.toMatchObject({ code: '47', type: 'UNKNOWN_IDENTIFIER', message: expect.stringContaining('no_such_column') });
    await expect(store.insert(`${db}.no_such_table`, [{ a: 1 }], 't')).rejects.toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    // The engine is fine after errors.
    expect(await count(store, DEDUP_TABLE)).toBe(6);
  });

  it('read-only: serves reads and refuses inserts and DDL', async () => {
    const ro = await openStore({ ...config, clickhouseUrl: readOnlyServer.url });
    try {
      expect(await count(ro, DEDUP_TABLE)).toBe(6);
      const readOnly = { code: '164', type: 'READONLY', message: expect.stringContaining('read-only') };
      await expect(ro.insert(DEDUP_TABLE, [{ id: 99, note: 'x' }], 'ro-1')).rejects.toMatchObject(readOnly);
      await expect(ro.command(`CREATE TABLE ${db}.ro_made (a UInt8) ENGINE = Memory`)).rejects.toMatchObject(readOnly);
      // A write behind a read passes the statement check; the engine's readonly setting stops it.
      await expect(ro.command(`SELECT 1; DROP TABLE ${DEDUP_TABLE}`)).rejects.toMatchObject({ code: '164' });
      const res = await fetch(`${readOnlyServer.url}/?query=${encodeURIComponent(`INSERT INTO ${DEDUP_TABLE} VALUES (98, 'y')`)}`, { method: 'POST' });
      expect(res.status).toBe(403);
      expect(res.headers.get('x-clickhouse-exception-code')).toBe('164');
      expect(await res.text()).toMatch(/^Code: 164\. DB::Exception: this endpoint is read-only/);
    } finally {
      await ro.close();
    }
    expect(await count(store, DEDUP_TABLE)).toBe(6);
    expect(await store.query(`EXISTS TABLE ${db}.ro_made`)).toEqual([{ result: 0 }]);
  });

  it('lands every insert of two clients writing at once', async () => {
    const table = `${db}.server_concurrent`;
    await store.command(`CREATE TABLE ${table} (client UInt8, batch UInt32, n UInt32) ENGINE = MergeTree ORDER BY (client, batch, n) SETTINGS non_replicated_deduplication_window = 1000`);
    const clients = [await openStore({ ...config, clickhouseUrl: server.url }), await openStore({ ...config, clickhouseUrl: server.url })];
    try {
      await Promise.all(
        clients.flatMap((c, client) =>
          Array.from({ length: 25 }, (_, batch) =>
            c.insert(table, Array.from({ length: 4 }, (_, n) => ({ client, batch, n })), batch % 2 === 0 ? `c${client}-b${batch}` : ''),
          ),
        ),
      );
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    expect(await store.query(`SELECT client, count() AS n FROM ${table} GROUP BY client ORDER BY client`)).toEqual([{ client: 0, n: 100 }, { client: 1, n: 100 }]);
  });
});

describe('cx store serve', () => {
  it('serves the configured data directory until SIGTERM, and a second one on it is refused clearly', async () => {
    const { CLICKHOUSE_URL: _, ...env } = isolatedEnv();
    const child = spawn(process.execPath, ['bin/cx.js', 'store', 'serve', '--port', '0'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL from cx store serve within 60 s:\n${out}`)), 60_000);
        child.stdout.on('data', () => {
          const m = /CLICKHOUSE_URL=(\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1] as string);
          }
        });
        void exit.then((code) => reject(new Error(`cx store serve exited (${code}):\n${out}`)));
      });
      expect(out).toContain(`ClickHouse HTTP interface for embedded chdb at ${env.CX_CLICKHOUSE_PATH}: ${url} (read-write); processes can use CLICKHOUSE_URL=${url}`);

      const remote = await openStore({ ...config, clickhouseUrl: url });
      try {
        await remote.command('CREATE TABLE default.served (a UInt8) ENGINE = MergeTree ORDER BY a');
        await remote.insert('default.served', [{ a: 7 }], 'served-1');
        expect(await remote.query('SELECT a FROM default.served')).toEqual([{ a: 7 }]);
      } finally {
        await remote.close();
      }

      const second = spawnSync(process.execPath, ['bin/cx.js', 'store', 'serve', '--port', '0'], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
      expect(second.status).toBe(1);
      expect(second.stderr).toContain(`cx: the embedded ClickHouse data directory ${env.CX_CLICKHOUSE_PATH} is open in another process (pid ${child.pid}`);

      const withUrl = spawnSync(process.execPath, ['bin/cx.js', 'store', 'serve'], { cwd: ROOT, env: { ...env, CLICKHOUSE_URL: url }, encoding: 'utf8', timeout: 60_000 });
      expect(withUrl.status).toBe(1);
      expect(withUrl.stderr).toContain(`cx: CLICKHOUSE_URL is set (${url})`);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exit, out).toBe(0);
  });
});
