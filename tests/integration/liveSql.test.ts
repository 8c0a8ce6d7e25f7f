/**
 * Live SQL: while `cx start` runs on the embedded store (and so holds its data
 * directory), it serves the data over ClickHouse's HTTP interface, read-only; `cx sql`
 * finds that endpoint by itself, and any ClickHouse HTTP client can use it. After the
 * pipeline stops, `cx sql` opens the directory itself again.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oneLine, runPrompt } from '../../cli/sqlPrompt.ts';
import { endpointFile, openQueryStore, type SqlEndpoint } from '../../platform/clickhouse/endpoint.ts';
import { openStore } from '../../platform/clickhouse/store.ts';
import { startStoreServer } from '../../platform/clickhouse/storeServer.ts';
import { loadConfig } from '../../platform/config.ts';
import { isolatedEnv, waitFor } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const historyFile = join(mkdtempSync(join(tmpdir(), 'cx-sql-history-')), 'history');
const env = isolatedEnv({ CX_SQL_HISTORY: historyFile });
const config = loadConfig(env);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `cx ...` as a child process, without blocking this one (the pipeline's output keeps flowing). */
function cx(args: string[], input = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/cx.js', ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const count = async () => {
  const r = await cx(['sql', '--format', 'csv', 'SELECT count() AS n FROM cx.touchpoint_events']);
  expect(r.status, r.stderr).toBe(0);
  return Number(r.stdout.trim().split('\n')[1]);
};

let start: ReturnType<typeof spawn>;
let startOut = '';
let startExit: Promise<number | null>;
let url: string;
let busy: Server;
let busyPort: number;

beforeAll(async () => {
  // A port already taken, asked for on purpose: the pipeline must serve on another one, not stop.
  busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  busyPort = (busy.address() as { port: number }).port;

  start = spawn(process.execPath, ['bin/cx.js', 'start', '--rate', '300', '--duration', '300', '--sql-port', String(busyPort)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  start.stdout?.on('data', (d: Buffer) => (startOut += d.toString()));
  start.stderr?.on('data', (d: Buffer) => (startOut += d.toString()));
  startExit = new Promise((r) => start.once('exit', (code) => r(code)));
  url = await waitFor('the SQL endpoint on cx start\'s startup lines', async () => {
    if (start.exitCode !== null) throw new Error(`cx start exited (${start.exitCode}):\n${startOut}`);
    return /^SQL: (http:\/\/127\.0\.0\.1:\d+) \(read-only/m.exec(startOut)?.[1];
  }, 120_000);
});

afterAll(async () => {
  if (start && start.exitCode === null) start.kill('SIGKILL');
  await new Promise((r) => busy?.close(r));
});

describe('cx start serves its live data', () => {
  it('on a free port when the one asked for is taken, says so, and records the endpoint', () => {
    expect(startOut).toContain(`port ${busyPort} is in use, so this is a free one`);
    expect(url).not.toBe(`http://127.0.0.1:${busyPort}`);
    expect(startOut).toContain(`— npx cx sql, or CLICKHOUSE_URL=${url} for any ClickHouse HTTP tool`);
    const record = JSON.parse(readFileSync(endpointFile(config.clickhousePath), 'utf8')) as SqlEndpoint;
    expect(record).toMatchObject({ url, pid: start.pid, readOnly: true });
  });

  it('to `cx sql` in another process, live: the count grows between two calls', async () => {
    const first = await waitFor('rows in cx.touchpoint_events', async () => {
      const n = await count();
      return n > 0 ? n : undefined;
    });
    const second = await waitFor('more rows', async () => {
      const n = await count();
      return n > first ? n : undefined;
    });
    expect(second).toBeGreaterThan(first);
    // The table form, as an analyst sees it.
    const table = await cx(['sql', 'SELECT count() > 0 AS some FROM cx.touchpoint_events']);
    expect(table.stdout).toMatch(/some[\s\S]*true|some[\s\S]*1/);
    expect(table.stdout).toContain('1 row');
  });

  it('to @clickhouse/client pointed at the endpoint', async () => {
    const client = createClient({ url, log: { level: ClickHouseLogLevel.OFF } });
    try {
      expect((await client.ping()).success).toBe(true);
      const rs = await client.query({ query: 'SELECT count() AS n FROM cx.touchpoint_events', format: 'JSONEachRow' });
      const [row] = await rs.json<{ n: string | number }>();
      expect(Number(row?.n)).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });

  it('read-only: a write is refused with how to get write access, and the data is unchanged', async () => {
    const insert = await cx(['sql', "INSERT INTO cx.dead_letters (reason) VALUES ('live-sql-marker')"]);
    expect(insert.status).toBe(1);
    expect(insert.stderr).toContain('cx: Code 164 (READONLY): this endpoint is read-only (the live data of `npx cx start`)');
    expect(insert.stderr).toContain('To write, stop `npx cx start` (then `npx cx sql` opens the data directory itself), or start it with --sql-writable.');
    expect(insert.stderr).not.toMatch(/\n\s+at /);

    const client = createClient({ url, log: { level: ClickHouseLogLevel.OFF } });
    try {
      await expect(client.command({ query: 'CREATE TABLE cx.analyst_scratch (a UInt8) ENGINE = Memory' })).rejects.toMatchObject({ code: '164' });
      // A write behind a read passes the statement check; the engine's readonly setting stops it.
      await expect(client.command({ query: 'SELECT 1; DROP TABLE cx.touchpoint_events' })).rejects.toMatchObject({ code: '164' });
    } finally {
      await client.close();
    }
    const check = await cx(['sql', '--format', 'json', "SELECT (SELECT count() FROM cx.dead_letters WHERE reason = 'live-sql-marker') AS marker, (SELECT count() FROM system.tables WHERE database = 'cx' AND name IN ('analyst_scratch')) AS scratch, (SELECT count() FROM system.tables WHERE database = 'cx' AND name = 'touchpoint_events') AS events"]);
    expect(check.status, check.stderr).toBe(0);
    const row = JSON.parse(check.stdout) as Record<string, unknown>;
    expect({ marker: Number(row.marker), scratch: Number(row.scratch), events: Number(row.events) }).toEqual({ marker: 0, scratch: 0, events: 1 });
  });

  it('reads nothing outside its data: files, URLs, even itself through url(), refused clearly, and it answers on', async () => {
    const ask = async (sql: string) => {
      const res = await fetch(`${url}/?default_format=TabSeparated`, { method: 'POST', body: sql, signal: AbortSignal.timeout(30_000) });
      return { status: res.status, code: res.headers.get('x-clickhouse-exception-code'), text: await res.text() };
    };
    for (const sql of [
      `SELECT * FROM url('${url}/?query=SELECT%201', 'LineAsString')`,
      "SELECT * FROM file('/proc/self/environ', 'RawBLOB')",
      "SELECT 'x' INTO OUTFILE '/tmp/cx-live-sql-outfile.txt' APPEND",
    ]) {
      const a = await ask(sql);
      expect([a.status, a.code], a.text).toEqual([403, '497']);
      expect(a.text).toMatch(/^Code: 497\. DB::Exception: this read-only endpoint reads the project's data only: /);
    }
    expect(existsSync('/tmp/cx-live-sql-outfile.txt')).toBe(false);
    // Still answering, to a plain request and to `cx sql`.
    expect(await ask('SELECT 1')).toMatchObject({ status: 200, text: '1\n' });
    expect(await count()).toBeGreaterThan(0);
  });

  it('runs a script from stdin in order, and stops at the first error with its number and line', async () => {
    const ok = await cx(['sql'], 'SELECT 1 AS one;\n-- a comment; not a statement\nSELECT count() > 0 AS some\n  FROM cx.touchpoint_events;\nSELECT \'a;b\' AS s');
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout.indexOf('one')).toBeLessThan(ok.stdout.indexOf('some'));
    expect(ok.stdout.indexOf('some')).toBeLessThan(ok.stdout.indexOf('a;b'));
    expect(ok.stdout.match(/1 row/g)).toHaveLength(3);

    const bad = await cx(['sql', '--format', 'json'], 'SELECT 1 AS one;\n\nSELECT no_such_column;\nSELECT 3 AS three;');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('{"one":1}\n');
    expect(bad.stderr).toMatch(/^cx: statement 2 of 3 \(line 3\): Code 47 \(UNKNOWN_IDENTIFIER\): .*no_such_column/);
  });

  it('to the prompt: \\dt with row counts, \\d, statements over lines, errors that keep it going, history', async () => {
    const { store, endpoint } = await openQueryStore(config, { quiet: true });
    expect(endpoint?.url).toBe(url);
    const input = new PassThrough();
    const output = new PassThrough();
    let printed = '';
    output.on('data', (d: Buffer) => (printed += d.toString()));
    try {
      const done = runPrompt({ store, database: 'cx', input, output, terminal: false, historyFile, banner: 'live' });
      input.end(['\\dt', 'SELECT count() > 0 AS some', '  FROM cx.touchpoint_events;', 'SELECT no_such_column;', '\\d touchpoint_events', '\\d nothing_here', `${oneLine("SELECT 'x;\ny' = concat('x;', char(10), 'y') AS same -- why\n, 2 AS two")};`, '\\q', 'SELECT 1 AS after_quit;'].join('\n'));
      await done;
    } finally {
      await store.close();
    }
    expect(printed).toMatch(/│ touchpoint_events\s+│ table │ ReplacingMergeTree\s+│ [1-9]\d*\s+│/);
    expect(printed).toMatch(/│ stool_now\s+│ view\s+│ View/);
    expect(printed).toMatch(/\d+ rows in \d+ ms/);
    expect(printed).toContain('error: Code 47 (UNKNOWN_IDENTIFIER)');
    expect(printed).toMatch(/│ event_id\s+│ UUID/);
    expect(printed).toContain('no table or view cx.nothing_here (\\dt lists them)');
    // The one-line history form means the same as what was typed: the newline is back in the string.
    expect(printed).toMatch(/│ (true|1)\s+│ 2\s+│/);
    // \q ends it: what follows is not run.
    expect(printed).not.toContain('after_quit');
    expect(readFileSync(historyFile, 'utf8').split('\n').filter(Boolean)).toEqual([
      '\\dt',
      'SELECT count() > 0 AS some FROM cx.touchpoint_events;',
      'SELECT no_such_column;',
      '\\d touchpoint_events',
      '\\d nothing_here',
      "SELECT 'x;\\ny' = concat('x;', char(10), 'y') AS same /* why */ , 2 AS two;",
      '\\q',
    ]);
  });

  it('after the pipeline stops, `cx sql` opens the directory itself (the record is gone, a stale one is ignored)', async () => {
    start.kill('SIGTERM');
    expect(await startExit, startOut).toBe(0);
    expect(existsSync(endpointFile(config.clickhousePath))).toBe(false);

    // A record left by a process that is gone (a SIGKILL) names a dead pid: ignored.
    const dead = spawnSync(process.execPath, ['-e', 'process.pid'], { encoding: 'utf8' });
    writeFileSync(endpointFile(config.clickhousePath), JSON.stringify({ url: 'http://127.0.0.1:9', pid: dead.pid, readOnly: true, servedBy: 'a killed run', startedAt: '' }));
    const n = await count();
    expect(n).toBeGreaterThan(0);
    // Opened directly, the data is writable again.
    const write = await cx(['sql', 'CREATE TABLE default.after_stop (a UInt8) ENGINE = Memory']);
    expect(write.status, write.stderr).toBe(0);
    expect(write.stdout).toBe('ok\n');
  });
});

describe('one process, two connections to the data directory', () => {
  it("the pipeline's inserts go on while a served query runs, and the endpoint's readonly stays its own", async () => {
    const path = mkdtempSync(join(tmpdir(), 'cx-chdb-'));
    const pipeline = await openStore({ ...config, clickhousePath: path });
    // This directory has no cx database: the endpoint serves `default` here.
    const server = await startStoreServer({ path, port: 0, readOnly: true, database: 'default' });
    const client = createClient({ url: server.url, log: { level: ClickHouseLogLevel.OFF } });
    try {
      await pipeline.command('CREATE TABLE default.events (n UInt32) ENGINE = MergeTree ORDER BY n');
      const sent = performance.now();
      let servedAt = 0;
      // About 2.4 s in the engine, on the server's own connection.
      const served = client.query({ query: 'SELECT sum(sleepEachRow(0.4)) AS slept FROM numbers(6)', format: 'JSONEachRow' }).then(async (rs) => {
        const rows = await rs.json();
        servedAt = performance.now();
        return rows;
      });
      await new Promise((r) => setTimeout(r, 500));
      const inserted: number[] = [];
      for (let i = 0; i < 5; i++) {
        await pipeline.insert('default.events', [{ n: i }], `batch-${i}`);
        inserted.push(performance.now());
      }
      expect(await served).toEqual([{ slept: 0 }]);
      expect(servedAt - sent).toBeGreaterThan(2000);
      // Had the engine run one connection's statement at a time, every insert would wait for the query.
      expect(Math.max(...inserted)).toBeLessThan(servedAt);
      expect(await pipeline.query('SELECT count() AS n FROM default.events')).toEqual([{ n: 5 }]);
    } finally {
      await client.close();
      await server.close();
      await pipeline.close();
    }
  });
});
