/**
 * The read-only SQL endpoint (`npm start`'s live SQL, `cx store serve --read-only`)
 * reads the project's data and nothing else, within limits, without blocking the
 * pipeline, and stops in bounded time whatever clients do. Real chdb engine, real HTTP;
 * the last test runs a real `cx store serve --read-only` process.
 *
 * Random parts (the canary secret, table suffixes) come from SEED, printed below.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeSql, tablesSql } from '../../cli/sqlPrompt.ts';
import { dashboardModels } from '../../dashboards/build.ts';
import type { ClickHouseQuery } from '../../dashboards/clickhouseQuery.ts';
import { expandMacros, type VariableValue } from '../../dashboards/macros.ts';
import { endpointFile, openQueryStore } from '../../platform/clickhouse/endpoint.ts';
import { migrate } from '../../platform/clickhouse/migrate.ts';
import { threadPoolSize, PIPELINE_THREADS } from '../../platform/clickhouse/querySlots.ts';
import { AUDITED_ENGINE } from '../../platform/clickhouse/readOnlyGuard.ts';
import { openStore, type Store } from '../../platform/clickhouse/store.ts';
import { startStoreServer, type StoreServer } from '../../platform/clickhouse/storeServer.ts';
import { isolatedConfig, isolatedEnv, waitFor } from '../helpers.ts';
import { seededRandom } from '../../producers/random.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SEED = Number(process.env.CX_TEST_SEED ?? Date.now() % 1_000_000);
console.log(`sqlEndpointSecurity: seed ${SEED} (CX_TEST_SEED=${SEED} repeats this run)`);
const random = seededRandom(SEED);
const token = () => Math.floor(random() * 2 ** 48).toString(36);

const { config } = isolatedConfig();
const db = config.clickhouseDatabase;
// A secret in this process's environment and in a file: neither may come back.
const CANARY = `canary-${token()}`;
process.env.CX_TEST_CANARY = CANARY;
const scratch = mkdtempSync(join(tmpdir(), 'cx-endpoint-'));
const secretFile = join(scratch, 'secret.txt');
writeFileSync(secretFile, `${CANARY}\n`);
const outFile = join(scratch, 'p.txt');

let writable: StoreServer;
let readOnly: StoreServer;
let store: Store;
/** Requests that reached the canary HTTP server (an outside service url() must not reach). */
const canaryHits: string[] = [];
let canary: Server;
let canaryUrl: string;

interface Answer {
  status: number;
  code: string | null;
  text: string;
}

async function post(url: string, sql: string, params: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Answer> {
  const qs = new URLSearchParams({ default_format: 'TabSeparated', ...params });
  const res = await fetch(`${url}/?${qs}`, { method: 'POST', body: sql, headers, signal: AbortSignal.timeout(60_000) });
  return { status: res.status, code: res.headers.get('x-clickhouse-exception-code'), text: await res.text() };
}

beforeAll(async () => {
  canary = createServer((req, res) => {
    canaryHits.push(req.url ?? '');
    res.end(CANARY);
  });
  await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
  canaryUrl = `http://127.0.0.1:${(canary.address() as { port: number }).port}`;
  writable = await startStoreServer({ path: config.clickhousePath, port: 0 });
  readOnly = await startStoreServer({ path: config.clickhousePath, port: 0, readOnly: true, database: db });
  store = await openStore({ ...config, clickhouseUrl: writable.url });
  await migrate(store);
  // A table outside our database, as another tool sharing the engine might leave.
  await store.command('CREATE TABLE default.other_secret (s String) ENGINE = MergeTree ORDER BY s');
  await store.insert('default.other_secret', [{ s: CANARY }], 'other-1');
}, 120_000);

afterAll(async () => {
  await store?.close();
  await readOnly?.close();
  await writable?.close();
  await new Promise((r) => canary?.close(r));
});

const selfUrl = () => `${readOnly.url}/?query=SELECT%201`;

/** [what, SQL, expected code, a phrase the message must have]. */
const hostile = (): [string, string, string, RegExp][] => [
  ['process environment via file()', "SELECT * FROM file('/proc/self/environ','RawBLOB')", '497', /file/],
  ['a file via file()', `SELECT * FROM file('${secretFile}','LineAsString')`, '497', /file/],
  ['the scalar file() function', `SELECT file('${secretFile}')`, '497', /file/],
  ['INTO OUTFILE APPEND', `SELECT 'x' INTO OUTFILE '${outFile}' APPEND`, '497', /INTO OUTFILE/],
  ['INTO OUTFILE TRUNCATE', `SELECT 'x' INTO OUTFILE '${outFile}' TRUNCATE`, '497', /INTO OUTFILE/],
  ['url() to another service', `SELECT * FROM url('${canaryUrl}/x','LineAsString')`, '497', /table function url\(\)/],
  ['url() to the endpoint itself', `SELECT * FROM url('${selfUrl()}','LineAsString')`, '497', /table function url\(\)/],
  ['urlCluster()', `SELECT * FROM urlCluster('default', '${canaryUrl}/x','LineAsString')`, '497', /urlCluster/],
  ['s3()', `SELECT * FROM s3('${canaryUrl}/b/k.csv')`, '497', /s3/],
  ['hdfs()', "SELECT * FROM hdfs('hdfs://127.0.0.1:9000/x', 'TSV', 'a String')", '497', /hdfs/],
  ['remote()', "SELECT * FROM remote('127.0.0.1:9000', system.one)", '497', /remote/],
  ['remoteSecure()', "SELECT * FROM remoteSecure('127.0.0.1:9440', system.one)", '497', /remoteSecure/],
  ['cluster()', "SELECT * FROM cluster('default', system.one)", '497', /cluster/],
  ['mysql()', "SELECT * FROM mysql('127.0.0.1:3306', 'd', 't', 'u', 'p')", '497', /mysql/],
  ['postgresql()', "SELECT * FROM postgresql('127.0.0.1:5432', 'd', 't', 'u', 'p')", '497', /postgresql/],
  ['mongodb()', "SELECT * FROM mongodb('127.0.0.1:27017', 'd', 'c', 'u', 'p', 'a String')", '497', /mongodb/],
  ['sqlite()', `SELECT * FROM sqlite('${scratch}/x.db', 't')`, '497', /sqlite/],
  ['jdbc()', "SELECT * FROM jdbc('jdbc:x', 't')", '497', /jdbc/],
  ['odbc()', "SELECT * FROM odbc('DSN=x', 't')", '497', /odbc/],
  ['executable()', "SELECT * FROM executable('cat /etc/passwd', 'LineAsString', 'x String')", '497', /executable/],
  ['input()', "SELECT * FROM input('a String')", '497', /input/],
  ['azureBlobStorage()', "SELECT * FROM azureBlobStorage('DefaultEndpointsProtocol=http', 'c', 'b')", '497', /azureBlobStorage/],
  ['iceberg()', `SELECT * FROM iceberg('${scratch}')`, '497', /iceberg/],
  ['deltaLake()', `SELECT * FROM deltaLake('${scratch}')`, '497', /deltaLake/],
  ['hudi()', `SELECT * FROM hudi('${scratch}')`, '497', /hudi/],
  ['a catboost model path', `SELECT catboostEvaluate('${scratch}/model.bin', 1)`, '497', /catboostEvaluate/],
  ['a dictionary', "SELECT dictGet('default.d', 'v', toUInt64(1))", '497', /dictGet/],
  ['the dictionary() table function', "SELECT * FROM dictionary('default.d')", '497', /dictionary/],
  ['joinGet on a table named in a string', "SELECT joinGet('default.other_secret', 's', 1)", '497', /joinGet/],
  ['hasColumnInTable with a remote host', "SELECT hasColumnInTable('127.0.0.1', 'default', 'other_secret', 's')", '497', /hasColumnInTable/],
  ['an AI provider over HTTP', "SELECT aiGenerate('say hi')", '497', /aiGenerate/],
  ['loop() over another database', 'SELECT * FROM loop(default, other_secret) LIMIT 1', '497', /loop/],
  ['mergeTreeIndex() over another database', 'SELECT * FROM mergeTreeIndex(default, other_secret)', '497', /mergeTreeIndex/],
  ['introspection', 'SELECT addressToSymbol(toUInt64(0))', '497', /addressToSymbol/],
  // Bypass attempts.
  ['mixed case', `SeLeCt * FrOm FiLe('${secretFile}', 'LineAsString')`, '497', /FiLe/],
  ['comments inside', `SELECT * FROM /* a */ file /* b */ ('${secretFile}' -- c\n, 'LineAsString')`, '497', /file/],
  ['a backquoted name', `SELECT * FROM \`file\`('${secretFile}', 'LineAsString')`, '497', /file/],
  ['a double-quoted name', `SELECT * FROM "file"('${secretFile}', 'LineAsString')`, '497', /file/],
  ['another database', 'SELECT * FROM default.other_secret', '497', /outside the database/],
  ['another database, backquoted', 'SELECT * FROM `default`.`other_secret`', '497', /outside the database/],
  ['a database name with a dot', `SELECT * FROM \`${db}.x\`.other_secret`, '497', /outside the database/],
  ['a system table not on the list', 'SELECT * FROM system.processes', '497', /outside the database/],
  ['information_schema', 'SELECT * FROM information_schema.tables', '497', /outside the database/],
  ['a table behind IN', 'SELECT 1 IN default.other_secret', '497', /outside the database/],
  ['a join to another database', `SELECT * FROM ${db}.touchpoint_events AS e JOIN default.other_secret AS o ON 1`, '497', /outside the database/],
  ['nested subqueries', `SELECT * FROM (SELECT * FROM (SELECT * FROM file('${secretFile}', 'LineAsString')))`, '497', /file/],
  ['a scalar subquery', "SELECT (SELECT any(s) FROM default.other_secret)", '497', /outside the database/],
  ['a WITH CTE', `WITH f AS (SELECT * FROM url('${canaryUrl}/x', 'LineAsString')) SELECT * FROM f`, '497', /url/],
  ['a WITH expression', `WITH file('${secretFile}') AS p SELECT p`, '497', /file/],
  ['view() of a file', `SELECT * FROM view(SELECT * FROM file('${secretFile}', 'LineAsString'))`, '497', /file/],
  ['merge() over another database', "SELECT * FROM merge('default', '.*')", '497', /merge\(\) may read only/],
  ['merge() with a database regexp', "SELECT * FROM merge(REGEXP('.*'), '.*')", '497', /merge\(\) may read only/],
  ['EXPLAIN wrapping', `EXPLAIN SELECT * FROM url('${canaryUrl}/x', 'LineAsString')`, '497', /url/],
  ['EXPLAIN PIPELINE wrapping', `EXPLAIN PIPELINE SELECT * FROM file('${secretFile}', 'LineAsString')`, '497', /file/],
  ['DESCRIBE of a url() subquery', `DESCRIBE (SELECT * FROM url('${canaryUrl}/x', 'LineAsString'))`, '497', /url/],
  ['DESCRIBE of a table function', `DESCRIBE url('${canaryUrl}/x', 'LineAsString')`, '497', /url/],
  ['SHOW CREATE of another database', 'SHOW CREATE TABLE default.other_secret', '497', /outside the database/],
  ['SHOW PROCESSLIST', 'SHOW PROCESSLIST', '497', /not accepted/],
  ['SHOW GRANTS', 'SHOW GRANTS', '497', /not accepted/],
  ['SHOW SETTINGS (a system table behind SHOW)', "SHOW SETTINGS LIKE 'max%'", '497', /SHOW SETTINGS is not accepted/],
  ['SHOW MERGES', 'SHOW MERGES', '497', /SHOW MERGES is not accepted/],
  ['SHOW DICTIONARIES', 'SHOW DICTIONARIES', '497', /SHOW DICTIONARIES is not accepted/],
  ['SHOW TABLES of another database', 'SHOW TABLES FROM default', '497', /another database/],
  ['APPLY(file) column transformer', `SELECT * APPLY(file) FROM (SELECT '${secretFile}' AS p)`, '497', /file/],
  ['an escaped line break in a name', `SELECT 1 AS \`a\\x0A    Function numbers\` FROM ${db}.touchpoint_events`, '497', /escape sequence/],
  ['a line break in a name (forging the parse)', `SELECT 1 AS \`a\n    Function numbers\` FROM ${db}.touchpoint_events`, '497', /escape sequence/],
  ['a statement behind a read', `SELECT 1; SELECT * FROM file('${secretFile}', 'LineAsString')`, '164', /one statement per request/],
  ['settings inside the query', 'SELECT 1 SETTINGS readonly = 0', '164', /readonly/],
  ['settings inside the query (a limit)', 'SELECT 1 SETTINGS max_execution_time = 100000', '164', /readonly mode/],
  ['settings inside a subquery', 'SELECT * FROM (SELECT 1 SETTINGS max_result_bytes = 0)', '164', /SETTINGS inside a subquery/],
  ['settings inside a CTE', 'WITH t AS (SELECT 1 SETTINGS max_execution_time = 0) SELECT * FROM t', '164', /SETTINGS inside a subquery/],
  ['settings inside the query (introspection)', 'SELECT demangle(\'x\') SETTINGS allow_introspection_functions = 1', '497', /demangle/],
  // Writes, DDL, SET, SYSTEM: refused before, refused still.
  ['an insert', `INSERT INTO ${db}.touchpoint_events (event_id) VALUES ('x')`, '164', /read-only/],
  ['DDL', `CREATE TABLE ${db}.made (a UInt8) ENGINE = Memory`, '164', /read-only/],
  ['DROP behind a comment', `/* SELECT */ DROP TABLE ${db}.touchpoint_events`, '164', /read-only/],
  ['SET readonly = 0', 'SET readonly = 0', '164', /read-only/],
  ['SYSTEM', 'SYSTEM FLUSH LOGS', '164', /read-only/],
];

describe('the read-only endpoint reads the project\'s data and nothing else', () => {
  it('refuses every escape with a clear ClickHouse error, and answers afterwards', async () => {
    for (const [what, sql, code, phrase] of hostile()) {
      const a = await post(readOnly.url, sql);
      expect(a.status, `${what}: ${a.text}`).toBeGreaterThanOrEqual(400);
      expect(a.code, `${what}: ${a.text}`).toBe(code);
      expect(a.text, what).toMatch(new RegExp(`^Code: ${code}\\. DB::Exception: `));
      expect(a.text, what).toMatch(phrase);
      expect(a.text, what).not.toContain(CANARY);
      expect(await post(readOnly.url, 'SELECT 1'), `after ${what}`).toMatchObject({ status: 200, text: '1\n' });
    }
    expect(canaryHits, 'url() reached the outside service').toEqual([]);
    expect(existsSync(outFile), 'INTO OUTFILE wrote a file').toBe(false);
    expect(await post(writable.url, 'SELECT s FROM default.other_secret')).toMatchObject({ status: 200, text: `${CANARY}\n` });
  });

  it('refuses what query parameters and URL settings try', async () => {
    // A parameter is checked as substituted.
    const t = await post(readOnly.url, 'SELECT * FROM {t:Identifier}', { param_t: 'default.other_secret' });
    expect([t.code, t.text]).toEqual(['497', expect.stringMatching(/default\.other_secret is outside the database/)]);
    const nl = await post(readOnly.url, 'SELECT 1 AS {t:Identifier}', { param_t: 'a\n    Function numbers' });
    expect(nl.code).toBe('497');
    // readonly cannot be lowered from the URL; the limits can be lowered but not raised.
    expect((await post(readOnly.url, 'SELECT 1', { readonly: '0' })).code).toBe('164');
    const limit = await post(readOnly.url, "SELECT getSetting('max_execution_time'), getSetting('readonly'), getSetting('result_overflow_mode')", { max_execution_time: '100000', result_overflow_mode: 'break' });
    expect(limit).toMatchObject({ status: 200, text: '60\t1\tthrow\n' });
    expect((await post(readOnly.url, "SELECT getSetting('max_execution_time')", { max_execution_time: '7' })).text).toBe('7\n');
    const intro = await post(readOnly.url, 'SELECT demangle(\'x\')', { allow_introspection_functions: '1' });
    expect(intro.code).toBe('497');
    // One database: asking for another is refused, `default` (what tools send unasked) means ours.
    expect((await post(readOnly.url, 'SELECT 1', { database: 'system' })).code).toBe('497');
    expect((await post(readOnly.url, 'SELECT currentDatabase()', { database: 'default' })).text).toBe(`${db}\n`);
    expect((await post(readOnly.url, 'SELECT count() FROM touchpoint_events')).text).toBe('0\n');
  });

  it('has the engine itself refuse sources (readonly = 1), a second layer under the guard', async () => {
    // The endpoint states readonly = 1 on every query...
    expect((await post(readOnly.url, "SELECT getSetting('readonly')")).text).toBe('1\n');
    // ...and at readonly = 1 the engine refuses table functions that open a source, with no guard in front.
    const { Session } = await import('chdb');
    const s = new Session(config.clickhousePath);
    try {
      for (const f of [`file('${secretFile}', 'LineAsString')`, `url('${canaryUrl}/x', 'LineAsString')`, "executable('cat', 'LineAsString', 'x String')"]) {
        await expect(s.queryAsync(`SET readonly = 1; SELECT * FROM ${f}`), f).rejects.toThrow(/Code: 164.*READONLY/s);
      }
    } finally {
      s.close();
    }
    expect(canaryHits).toEqual([]);
  });

  it('was audited against this engine version (a new one needs the deny-list checked again)', async () => {
    // readOnlyGuard.ts DENIED_FUNCTIONS lists scalar functions that read outside; a new
    // engine brings new functions. Check `SELECT name FROM system.functions` against it, then update AUDITED_ENGINE.
    expect((await post(readOnly.url, 'SELECT version()')).text.trim()).toBe(AUDITED_ENGINE);
  });
});

/** docs/sql.md's SQL blocks, as analysts run them. */
const cookbook = [...readFileSync(new URL('../../docs/sql.md', import.meta.url), 'utf8').matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => (m[1] as string).trim());

describe('what analysts run still works', () => {
  it('runs every docs/sql.md query, the prompt\'s \\dt and \\d, and the common read shapes', async () => {
    expect(cookbook.length).toBeGreaterThan(10);
    const legitimate = [
      ...cookbook.map((sql) => sql.replace(/;\s*$/, '')),
      tablesSql(db),
      describeSql('touchpoint_events', db),
      describeSql(`${db}.stool_now`, db),
      'SELECT 1',
      'SELECT * FROM system.one',
      `SELECT table, sum(rows) FROM system.parts WHERE database = '${db}' AND active GROUP BY table`,
      'SELECT name FROM system.databases',
      'SELECT sum(number) FROM numbers(1000)',
      'SELECT * FROM generateSeries(1, 3)',
      "SELECT * FROM values('a UInt8', 1, 2)",
      `SELECT count() FROM merge('${db}', '^touchpoint_events$')`,
      `SELECT count() FROM merge('^touchpoint_events$')`,
      `WITH recent AS (SELECT * FROM ${db}.touchpoint_events LIMIT 10) SELECT count() FROM recent`,
      `SELECT count() FROM (SELECT channel FROM ${db}.touchpoint_events WHERE customer_id IN (SELECT customer_id FROM ${db}.touchpoint_events))`,
      `SELECT count() FROM view(SELECT * FROM ${db}.touchpoint_events)`,
      `SELECT channel, count() AS n FROM ${db}.touchpoint_events GROUP BY channel ORDER BY n DESC LIMIT 5 FORMAT JSON`,
      `SELECT * FROM ${db}.touchpoint_events AS e ARRAY JOIN mapKeys(e.attributes) AS k LIMIT 1`,
      'SELECT file_name FROM (SELECT \'x\' AS file_name)',
      `SHOW TABLES FROM ${db}`,
      'SHOW TABLES',
      'SHOW DATABASES',
      `SHOW CREATE TABLE ${db}.touchpoint_events`,
      `EXISTS TABLE ${db}.touchpoint_events`,
      `DESCRIBE TABLE ${db}.touchpoint_events`,
      `EXPLAIN SELECT count() FROM ${db}.touchpoint_events`,
      `-- a comment first\nSELECT /* inline */ 1`,
      'SELECT 1 SETTINGS join_use_nulls = 1, max_threads = 2 FORMAT TSV',
      'SELECT 1 FORMAT TSV SETTINGS max_threads = 2',
    ];
    for (const sql of legitimate) {
      const a = await post(readOnly.url, sql);
      expect(a.status, `${sql}\n${a.text}`).toBe(200);
    }
    // Every dashboard panel's SQL, macros expanded as Grafana's plugin would, variables at "All".
    type Panel = { type?: string; title?: string; panels?: Panel[]; targets?: ClickHouseQuery[] };
    const range = { from: new Date(Date.now() - 3 * 3_600_000), to: new Date() };
    let panels = 0;
    for (const d of dashboardModels(config)) {
      const variables: Record<string, VariableValue> = {};
      for (const v of (d.model.templating?.list ?? []) as { name: string; type: string; query?: string }[]) {
        let options = (v.query ?? '').split(',');
        if (v.type !== 'custom') {
          const a = await post(readOnly.url, expandMacros(v.query ?? '', { ...range, intervalMs: 60_000, variables: {} }));
          expect(a.status, `${d.uid} variable ${v.name}: ${a.text}`).toBe(200);
          options = a.text.split('\n').filter(Boolean);
        }
        variables[v.name] = { options, selected: 'All' };
      }
      for (const panel of ((d.model.panels ?? []) as Panel[]).flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]))) {
        for (const t of panel.targets ?? []) {
          const a = await post(readOnly.url, expandMacros(t.rawSql, { ...range, intervalMs: 60_000, variables }));
          expect(a.status, `${d.uid} / ${panel.title}: ${a.text}`).toBe(200);
          panels++;
        }
      }
    }
    expect(panels).toBeGreaterThan(10);
    // Through the client too, with query parameters.
    const ro = await openStore({ ...config, clickhouseUrl: readOnly.url });
    try {
      expect(await ro.query('SELECT {n:UInt32} AS n, {s:String} AS s', { n: 3, s: "it's\nmultiline" })).toEqual([{ n: 3, s: "it's\nmultiline" }]);
    } finally {
      await ro.close();
    }
  });
});

describe('limits', () => {
  it('stops a query over the time limit with TIMEOUT_EXCEEDED, whatever the client asks', async () => {
    const limited = await startStoreServer({ path: config.clickhousePath, port: 0, readOnly: true, database: db, limits: { maxExecutionSeconds: 1 } });
    try {
      for (const params of [{}, { max_execution_time: '100000' }, { max_execution_time: '0' }, { timeout_overflow_mode: 'break' }] as Record<string, string>[]) {
        const a = await post(limited.url, 'SELECT sum(number) FROM numbers(1e13)', params);
        // The engine stopped it at the limit (not merely the server's wall clock giving up on it).
        expect([a.code, a.text], JSON.stringify(params)).toEqual(['159', expect.stringMatching(/Timeout exceeded: elapsed .*maximum: 1000 ms.*TIMEOUT_EXCEEDED/)]);
      }
      expect((await post(limited.url, 'SELECT 1')).text).toBe('1\n');
    } finally {
      await limited.close();
    }
  });

  it('answers a result over the size limit with an error, never a cut answer', async () => {
    const limited = await startStoreServer({ path: config.clickhousePath, port: 0, readOnly: true, database: db, limits: { maxResultBytes: 100_000 } });
    try {
      for (const params of [{}, { max_result_bytes: '0' }, { result_overflow_mode: 'break' }, { max_result_bytes: '10000000000' }] as Record<string, string>[]) {
        const a = await post(limited.url, 'SELECT number FROM numbers(1000000)', params);
        expect(a.status, JSON.stringify(params)).toBe(500);
        expect(a.code).toBe('396');
        expect(a.text).toMatch(/^Code: 396\. DB::Exception: .*(Limit for result exceeded|more than this endpoint returns)/);
      }
      expect((await post(limited.url, 'SELECT number FROM numbers(10)')).text.split('\n').length).toBe(11);
    } finally {
      await limited.close();
    }
  });
});

describe('long reads block neither short ones nor the pipeline', () => {
  const LONG = 'SELECT sum(number) FROM numbers(1e13)';
  /** Until `n` copies of `sql` run in the engine (system.processes, seen through the unguarded server), not a fixed delay. */
  const inEngine = (sql: string, n = 1) =>
    waitFor(`${n} of ${sql} in the engine`, async () => {
      const a = await post(writable.url, `SELECT count() FROM system.processes WHERE query = ${"'"}${sql}${"'"}`);
      return Number(a.text) >= n;
    }, 20_000, 50);

  it('answers SELECT 1 and lands a pipeline insert while a long scan runs', async () => {
    // The long scan runs until its time limit stops it; everything else must be done first.
    const server = await startStoreServer({ path: config.clickhousePath, port: 0, readOnly: true, database: db, limits: { maxExecutionSeconds: 20 } });
    const pipeline = await openStore(config); // the pipeline's own Store, same process, as in `npm start`
    const table = `${db}.endpoint_inserts_${token()}`;
    await pipeline.command(`CREATE TABLE ${table} (n UInt32) ENGINE = MergeTree ORDER BY n`);
    try {
      const order: string[] = [];
      const long = post(server.url, LONG).then((a) => {
        order.push('long');
        return a;
      });
      // Wait until the engine is on it (the first read of the table function), not a fixed delay.
      await inEngine(LONG);
      const short = await post(server.url, 'SELECT 1');
      order.push('select 1');
      await pipeline.insert(table, [{ n: 1 }, { n: 2 }], `ins-${token()}`);
      order.push('insert');
      const a = await long;
      expect(order).toEqual(['select 1', 'insert', 'long']);
      expect(short.text).toBe('1\n');
      expect(a.code).toBe('159');
      expect(await pipeline.query(`SELECT count() AS n FROM ${table}`)).toEqual([{ n: 2 }]);
    } finally {
      await pipeline.command(`DROP TABLE IF EXISTS ${table}`);
      await pipeline.close();
      await server.close();
    }
  }, 60_000);

  it('leaves pool threads to the pipeline even when every query slot is busy', async () => {
    const pool = threadPoolSize();
    const server = await startStoreServer({ path: config.clickhousePath, port: 0, readOnly: true, database: db, limits: { maxExecutionSeconds: 15 }, maxConcurrent: 64 });
    expect(server.maxConcurrent).toBe(Math.max(1, pool - PIPELINE_THREADS));
    const pipeline = await openStore(config);
    const table = `${db}.endpoint_busy_${token()}`;
    await pipeline.command(`CREATE TABLE ${table} (n UInt32) ENGINE = MergeTree ORDER BY n`);
    try {
      let longDone = 0;
      const longs = Array.from({ length: server.maxConcurrent + 1 }, () => post(server.url, LONG).finally(() => longDone++));
      await inEngine(LONG, server.maxConcurrent);
      await pipeline.insert(table, [{ n: 7 }], `busy-${token()}`);
      const [row] = await pipeline.query<{ n: number }>(`SELECT count() AS n FROM ${table}`);
      expect(longDone, 'the insert waited for the long reads').toBe(0);
      expect(row?.n).toBe(1);
      for (const a of await Promise.all(longs)) expect(a.code).toBe('159');
    } finally {
      await pipeline.command(`DROP TABLE IF EXISTS ${table}`);
      await pipeline.close();
      await server.close();
    }
  }, 90_000);
});

describe('password', () => {
  it('is required, in any of the three forms a ClickHouse server takes, and never echoed', async () => {
    const password = `pw-${token()}`;
    const guarded = await startStoreServer({ path: config.clickhousePath, port: 0, readOnly: true, database: db, password });
    try {
      expect((await fetch(`${guarded.url}/ping`)).status).toBe(200);
      for (const [what, params, headers] of [
        ['nothing', {}, {}],
        ['a wrong basic password', {}, { authorization: `Basic ${Buffer.from('default:nope').toString('base64')}` }],
        ['a wrong X-ClickHouse-Key', {}, { 'x-clickhouse-user': 'default', 'x-clickhouse-key': `${password}x` }],
        ['a wrong URL password', { user: 'default', password: password.slice(1) }, {}],
      ] as [string, Record<string, string>, Record<string, string>][]) {
        const a = await post(guarded.url, 'SELECT 1', params, headers);
        expect([a.status, a.code], what).toEqual([401, '516']);
        expect(a.text, what).toMatch(/AUTHENTICATION_FAILED/);
        expect(a.text, what).not.toContain(password);
      }
      for (const [what, params, headers] of [
        ['basic auth, default', {}, { authorization: `Basic ${Buffer.from(`default:${password}`).toString('base64')}` }],
        ['basic auth, any user', {}, { authorization: `Basic ${Buffer.from(`analyst:${password}`).toString('base64')}` }],
        ['X-ClickHouse headers', {}, { 'x-clickhouse-user': 'default', 'x-clickhouse-key': password }],
        ['URL parameters', { user: 'default', password }, {}],
      ] as [string, Record<string, string>, Record<string, string>][]) {
        expect(await post(guarded.url, 'SELECT 1', params, headers), what).toMatchObject({ status: 200, text: '1\n' });
      }
      const client = createClient({ url: guarded.url, password });
      try {
        expect(await (await client.query({ query: 'SELECT 2 AS n', format: 'JSONEachRow' })).json()).toEqual([{ n: 2 }]);
      } finally {
        await client.close();
      }
    } finally {
      await guarded.close();
    }
  });
});

describe('a bounded stop', () => {
  it('closes within its bound while a slow client, an idle keep-alive client and a long query hold it', async () => {
    // The long query would run 30 s; the bound is well under that, and generous against the 1 s grace.
    const limit = 30;
    const bound = 20_000;
    const server = await startStoreServer({ path: config.clickhousePath, port: 0, readOnly: true, database: db, limits: { maxExecutionSeconds: limit }, closeGraceMs: 1000 });
    const { port } = new URL(server.url);
    const sockets: Socket[] = [];
    const open = () =>
      new Promise<Socket>((r) => {
        const s = connect(Number(port), '127.0.0.1', () => r(s));
        s.on('error', () => undefined);
        sockets.push(s);
      });
    try {
      // Slow: headers sent a few bytes at a time, never finished.
      const slow = await open();
      slow.write('POST / HTTP/1.1\r\nHost: x\r\n');
      // Idle keep-alive: one request done, connection left open.
      const idle = await open();
      idle.write('GET /ping HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
      const long = post(server.url, 'SELECT sum(number) FROM numbers(1e13)').catch((e: Error) => e);
      await new Promise((r) => setTimeout(r, 500));
      const started = Date.now();
      await server.close();
      const took = Date.now() - started;
      expect(took, `close() took ${took} ms`).toBeLessThan(bound);
      const answer = await long;
      // The client of the cut query learns of it (a closed connection), it is not left hanging.
      expect(answer).toBeInstanceOf(Error);
      // And the engine was told to stop it: it does not run on for its 30 s (a process could not exit meanwhile).
      await waitFor('the cut query to leave the engine', async () => {
        const a = await post(writable.url, "SELECT count() FROM system.processes WHERE query = 'SELECT sum(number) FROM numbers(1e13)'");
        return a.text === '0\n';
      }, 10_000, 100);
    } finally {
      for (const s of sockets) s.destroy();
    }
  }, 90_000);

  it('cx store serve --read-only: password never recorded or printed, `cx sql` sends it, and SIGTERM stops it mid-query', async () => {
    const password = `pw-${token()}`;
    const { CLICKHOUSE_URL: _, ...env } = isolatedEnv({ CX_SQL_PASSWORD: password, CX_SQL_MAX_EXECUTION_SECONDS: '120' });
    // The read-only endpoint serves the project's database, so it must exist.
    const migrated = spawnSync(process.execPath, ['bin/cx.js', 'migrate'], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
    expect(migrated.status, migrated.stderr).toBe(0);
    const child = spawn(process.execPath, ['bin/cx.js', 'store', 'serve', '--read-only', '--port', '0', '--host', '0.0.0.0'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const url = await waitFor('the URL of cx store serve', async () => {
        if (child.exitCode !== null) throw new Error(`cx store serve exited:\n${out}`);
        return /CLICKHOUSE_URL=(\S+)/.exec(out)?.[1];
      }, 60_000);
      // Listening beyond 127.0.0.1 with a password: no warning.
      expect(out).not.toMatch(/without a password/);
      const record = readFileSync(endpointFile(env.CX_CLICKHOUSE_PATH as string), 'utf8');
      expect(record).not.toContain(password);

      const sql = (extra: NodeJS.ProcessEnv) =>
        new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
          const c = spawn(process.execPath, ['bin/cx.js', 'sql', '--format', 'csv', 'SELECT 40 + 2 AS n'], { cwd: ROOT, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
          let stdout = '';
          let stderr = '';
          c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          c.once('close', (status) => resolve({ status, stdout, stderr }));
        });
      const ok = await sql({});
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toContain('42');
      const { CX_SQL_PASSWORD: __, ...noPassword } = env;
      const refused = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, ['bin/cx.js', 'sql', 'SELECT 1'], { cwd: ROOT, env: noPassword, stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        c.once('close', (status) => resolve({ status, stderr }));
      });
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toMatch(/AUTHENTICATION_FAILED|password/);
      expect(refused.stderr).not.toContain(password);

      // A long query in the engine and a client that never finishes its request: SIGTERM still stops it.
      const long = post(url, 'SELECT sum(number) FROM numbers(1e13)', { user: 'default', password }).catch((e: Error) => e);
      const slow = connect(Number(new URL(url).port), '127.0.0.1');
      slow.on('error', () => undefined);
      slow.write('POST / HTTP/1.1\r\nHost: x\r\n');
      await new Promise((r) => setTimeout(r, 1000));
      const started = Date.now();
      child.kill('SIGTERM');
      const code = await Promise.race([exit, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
      const took = Date.now() - started;
      console.log(`cx store serve stopped ${took} ms after SIGTERM, with a 120 s query in the engine`);
      expect(code, out).toBe(0);
      expect(took).toBeLessThan(30_000);
      slow.destroy();
      await long;
      expect(out).not.toContain(password);
    } finally {
      child.kill('SIGKILL');
    }
  }, 120_000);

  it('warns when it listens beyond 127.0.0.1 without a password', async () => {
    const { CLICKHOUSE_URL: _, CX_SQL_PASSWORD: __, ...env } = isolatedEnv();
    const child = spawn(process.execPath, ['bin/cx.js', 'store', 'serve', '--read-only', '--port', '0', '--host', '0.0.0.0'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await waitFor('the warning', async () => /without a password/.test(out) && /CLICKHOUSE_URL=/.test(out), 60_000);
      expect(out).toMatch(/listens on 0\.0\.0\.0:\d+ without a password: anyone who can reach it can read the data\. Set CX_SQL_PASSWORD/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exit).toBe(0);
  }, 90_000);
});
