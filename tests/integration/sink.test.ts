/**
 * The sink: `Store.insert` (JSONCompactColumns, platform/clickhouse/store.ts) stores
 * exactly what plain JSONEachRow through @clickhouse/client stores, for every column
 * of every table the migrations make, with hostile values: strings with tabs,
 * newlines, backslashes, quotes, NULs and any Unicode; nulls; arrays; maps; DateTime64
 * text; Float64 -0, NaN, infinities, tiny and huge; booleans; UInt64 as strings. Both
 * ways the store goes: the embedded engine, and a server over HTTP (the store server,
 * which runs the statement the client sends). Readback is SELECT ... FORMAT JSONEachRow
 * of each table, lines sorted.
 *
 * The rows are built from system.columns, so a new table or column is covered without
 * touching this file, and a new column type fails until it has its hostile values here.
 *
 * Breakage tried (in columnarInsert): backslashes in the body written single -> the
 * engine refuses the body; NULs dropped from strings -> the tables with string columns
 * differ (alert_deliveries first); -0 sent as "-0" (JSON.stringify writes 0) -> the
 * Float64 columns differ (calibrations first); the dedup token quoted without escaping
 * -> the token test fails with a syntax error.
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../platform/clickhouse/migrate.ts';
import { columnarInsert, openStore, type Store } from '../../platform/clickhouse/store.ts';
import { startStoreServer, type StoreServer } from '../../platform/clickhouse/storeServer.ts';
import { chTime } from '../../processors/runtime/rawRows.ts';
import { isolatedConfig } from '../helpers.ts';

const { config } = isolatedConfig();
const SEED = Number(process.env.CX_TEST_SEED ?? Date.now() % 1_000_000);
/** Where each way of inserting writes: the same migrations, run once per database. */
const DB = { json: 'sink_json', embedded: 'sink_embedded', served: 'sink_served' } as const;

let server: StoreServer;
let raw: ClickHouseClient;
const stores = {} as Record<keyof typeof DB, Store>;

const STRINGS = [
  '', 'plain', 'tab\there', 'new\nline', 'cr\rand crlf\r\n', 'back\\slash', 'ends with a backslash\\', '\\N', '\\t', '\\\\n',
  "single'quote", 'double"quote', '`backtick`', 'nul\0byte', '\u0001\u0007\u001b\u001f\u007f controls', 'üñíçødé', '日本語のテキスト',
  'emoji 😀 family 👩‍👩‍👧 flag 🇳🇱', 'combining e\u0301', 'rtl \u202eoverride\u202c', 'separators \u2028\u2029', 'bom \ufeff', 'max \u{10ffff}',
  ' padded ', "['a','b']", '{"k":"v"}', "{'k':'v'}", '[1,2]', 'null', 'NULL', 'true', '-0', '1e308',
  '0x1F', ',;|', 'x'.repeat(5000),
];
const FLOATS = [0, -0, 1, -1, 0.1, 1 / 3, -2.5e-7, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308, 1e21, 123456789.123456789, 2 ** 53 + 2, NaN, Infinity, -Infinity];
const UUIDS = ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '0b3c5f0e-9a5d-4c1e-8d2a-7f6e5d4c3b2a'];
const DATETIME64 = ['1970-01-01 00:00:00.000', '2026-11-23 15:04:05.123', '2026-12-31 23:59:59.999', '2105-12-31 23:59:59.999', 1_764_633_600_123];
const DATETIME = ['1970-01-01 00:00:00', '2026-11-23 15:04:00', '2106-02-07 06:28:15'];
const UINT_MAX: Record<string, number> = { UInt8: 255, UInt16: 65535, UInt32: 4294967295 };

/** Not valid text, which no JSON format takes (below): kept out of the rows. */
const LONE_SURROGATES = ['lone \ud800 high', 'lone \udc00 low'];
const wellFormed = (s: string) => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
const anyString = fc.oneof(fc.constantFrom(...STRINGS), fc.string({ unit: 'binary', maxLength: 40 }).map(wellFormed), fc.string({ unit: fc.constantFrom('\t', '\n', '\r', '\\', "'", '"', '\0', 'a', 'é', '😀'), maxLength: 12 }));

/** A column type's hostile values (every one lands in some row) and an arbitrary for the random rows. */
function valuesOf(type: string): { fixed: unknown[]; arb: fc.Arbitrary<unknown> } {
  let m: RegExpExecArray | null;
  if ((m = /^LowCardinality\((.*)\)$/.exec(type))) return valuesOf(m[1] as string);
  if ((m = /^Nullable\((.*)\)$/.exec(type))) {
    const inner = valuesOf(m[1] as string);
    return { fixed: [null, ...inner.fixed], arb: fc.option(inner.arb, { nil: null }) };
  }
  if (type === 'String') return { fixed: STRINGS, arb: anyString };
  if (type === 'Array(String)') return { fixed: [[], [''], STRINGS.slice(0, 12), STRINGS.slice(12)], arb: fc.array(anyString, { maxLength: 6 }) };
  if (type === 'Map(String, String)') {
    return {
      fixed: [{}, { simulation: 'baseline' }, Object.fromEntries(STRINGS.slice(0, 20).map((s, i) => [s, STRINGS[STRINGS.length - 1 - i]])), { '': '', 'k\t\n': "v'\"\\" }],
      arb: fc.dictionary(anyString, anyString, { maxKeys: 5 }),
    };
  }
  if (type === 'Float64') return { fixed: FLOATS, arb: fc.double() };
  if (type === 'Bool') return { fixed: [true, false], arb: fc.boolean() };
  if (type === 'UUID') return { fixed: UUIDS, arb: fc.uuid() };
  if (/^DateTime64\(3, 'UTC'\)$/.test(type)) {
    return { fixed: DATETIME64, arb: fc.integer({ min: 0, max: Date.UTC(2105, 0, 1) }).map(chTime) };
  }
  if (type === "DateTime('UTC')") return { fixed: DATETIME, arb: fc.integer({ min: 0, max: 4_294_967_295 }).map((s) => chTime(s * 1000).slice(0, 19)) };
  if (type in UINT_MAX) return { fixed: [0, 1, UINT_MAX[type]], arb: fc.integer({ min: 0, max: UINT_MAX[type] as number }) };
  // The 64-bit integers arrive as strings (Kafka offsets) or as numbers.
  if (type === 'UInt64') return { fixed: ['0', '18446744073709551615', '9007199254740993', 42], arb: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String) };
  if (type === 'Int64') return { fixed: ['-9223372036854775808', '9223372036854775807', -1, 0], arb: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) };
  throw new Error(`sink.test: no hostile values for the column type ${type}: add them to valuesOf`);
}

interface Column {
  name: string;
  type: string;
}

/** Every table the migrations make (not the views), with its columns in order. */
async function tablesOf(store: Store): Promise<Map<string, Column[]>> {
  const rows = await store.query<{ table: string; name: string; type: string }>(
    `SELECT table, name, type FROM system.columns
     WHERE database = {db:String} AND table IN (SELECT name FROM system.tables WHERE database = {db:String} AND NOT engine LIKE '%View')
     ORDER BY table, position`,
    { db: store.database },
  );
  const tables = new Map<string, Column[]>();
  for (const r of rows) tables.set(r.table, [...(tables.get(r.table) ?? []), { name: r.name, type: r.type }]);
  return tables;
}

/** Rows in which every hostile value of every column appears at least once, then the random ones. */
function hostileRows(columns: Column[], random: Record<string, unknown>[]): Record<string, unknown>[] {
  const values = columns.map((c) => valuesOf(c.type).fixed);
  const n = Math.max(...values.map((v) => v.length));
  const rows = Array.from({ length: n }, (_, i) => Object.fromEntries(columns.map((c, k) => [c.name, (values[k] as unknown[])[(i + k) % (values[k] as unknown[]).length]])));
  return [...rows, ...random];
}

async function readBack(db: string, table: string): Promise<string[]> {
  const rs = await raw.query({ query: `SELECT * FROM ${db}.${table}`, format: 'JSONEachRow' });
  return (await rs.text()).split('\n').filter(Boolean).sort();
}

beforeAll(async () => {
  const { createChdbConnection } = await import('chdb/connection');
  for (const way of ['json', 'embedded'] as const) stores[way] = await openStore({ ...config, clickhouseDatabase: DB[way] });
  // Same directory, same process: chdb lets connections to one directory coexist.
  server = await startStoreServer({ path: config.clickhousePath, host: '127.0.0.1', port: 0 });
  stores.served = await openStore({ ...config, clickhouseUrl: server.url, clickhouseDatabase: DB.served });
  for (const store of Object.values(stores)) await migrate(store);
  raw = createClient({ connection: createChdbConnection({ path: config.clickhousePath }) } as Parameters<typeof createClient>[0]);
});

afterAll(async () => {
  await raw?.close();
  for (const store of Object.values(stores)) await store?.close();
  await server?.close();
});

describe('the sink', () => {
  it('stores what plain JSONEachRow stores, in every table, embedded and over HTTP', async () => {
    process.stderr.write(`sink.test: CX_TEST_SEED=${SEED}\n`);
    const tables = await tablesOf(stores.json);
    expect([...tables.keys()]).toEqual(expect.arrayContaining(['touchpoint_events', 'customer_memory', 'death_spirals', 'processor_state', 'alerts', 'calibrations']));
    for (const [way, store] of Object.entries(stores)) expect([...(await tablesOf(store)).entries()], way).toEqual([...tables.entries()]);
    const randomRows = fc.array(fc.record(Object.fromEntries([...new Set([...tables.values()].flat().map((c) => c.type))].map((t) => [t, valuesOf(t).arb]))), { maxLength: 30 });

    let run = 0;
    await fc.assert(
      fc.asyncProperty(randomRows, async (byType) => {
        run++;
        for (const [table, columns] of tables) {
          const random = byType.map((r) => Object.fromEntries(columns.map((c) => [c.name, (r as Record<string, unknown>)[c.type]])));
          const rows = hostileRows(columns, random);
          for (const db of Object.values(DB)) await raw.command({ query: `TRUNCATE TABLE ${db}.${table}` });
          const token = `sink-test:${SEED}:${run}:${table}`;
          await raw.insert({ table: `${DB.json}.${table}`, values: rows, format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: token } });
          await stores.embedded.insert(`${DB.embedded}.${table}`, rows, token);
          await stores.served.insert(`${DB.served}.${table}`, rows, token);
          const expected = await readBack(DB.json, table);
          // ReplacingMergeTree may fold rows with equal keys on insert, the same way for every path; never to nothing.
          expect(expected.length, table).toBeGreaterThan(0);
          expect(await readBack(DB.embedded, table), `${table}, embedded`).toEqual(expected);
          expect(await readBack(DB.served, table), `${table}, over HTTP`).toEqual(expected);
        }
      }),
      { seed: SEED, numRuns: 3 },
    );
  });

  it('keeps every hostile string as it was given, not only as JSONEachRow keeps it', async () => {
    const db = DB.embedded;
    await stores.embedded.command(`CREATE TABLE ${db}.strings (i UInt32, s String, a Array(String), m Map(String, String)) ENGINE = MergeTree ORDER BY i`);
    const rows = STRINGS.map((s, i) => ({ i, s, a: [s, s], m: { [s]: s } }));
    await stores.embedded.insert(`${db}.strings`, rows, 'strings-1');
    expect(await stores.embedded.query(`SELECT i, s, a, m FROM ${db}.strings ORDER BY i`)).toEqual(rows);
  });

  it('does with a lone surrogate what plain JSONEachRow does', async () => {
    const db = DB.embedded;
    const outcome = async (insert: () => Promise<unknown>, table: string) =>
      insert().then(
        async () => ({ stored: await readBack(db, table) }),
        (err: { code?: string; type?: string }) => ({ refused: { code: err.code, type: err.type } }),
      );
    const outcomes: unknown[] = [];
    for (const [i, s] of LONE_SURROGATES.entries()) {
      for (const t of ['json', 'columns']) await stores.embedded.command(`CREATE TABLE ${db}.lone_${t}_${i} (i UInt32, s String) ENGINE = MergeTree ORDER BY i`);
      const rows = [{ i: 1, s: 'fine' }, { i: 2, s }];
      const json = await outcome(() => raw.insert({ table: `${db}.lone_json_${i}`, values: rows, format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: `lone-${i}` } }), `lone_json_${i}`);
      const columns = await outcome(() => stores.embedded.insert(`${db}.lone_columns_${i}`, rows, `lone-${i}`), `lone_columns_${i}`);
      expect(columns, JSON.stringify(s)).toEqual(json);
      outcomes.push(json);
    }
    // A high surrogate alone is refused (the whole insert), a low one is stored as some bytes.
    expect(outcomes.map((o) => Object.keys(o as object)[0])).toEqual(['refused', 'stored']);
  });

  it('lands a retried insert once, and its token is the very one the client would send', async () => {
    const db = DB.embedded;
    const table = `${db}.dedup`;
    await stores.embedded.command(`CREATE TABLE ${table} (id UInt32) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100`);
    const count = async () => Number((await stores.embedded.query<{ n: string }>(`SELECT count() AS n FROM ${table}`))[0]?.n);
    // The token travels as a SQL literal in the statement: quotes and backslashes must survive.
    const token = "dedup:it's a 'token'";
    await stores.embedded.insert(table, [{ id: 1 }, { id: 2 }], token);
    await stores.embedded.insert(table, [{ id: 1 }, { id: 2 }], token);
    expect(await count()).toBe(2);
    // Other rows under the same token, sent the client's way (a setting): dropped as the same insert.
    // (chdb's connection doubles quotes but leaves backslashes as they are, so none in this token.)
    await raw.insert({ table, values: [{ id: 3 }], format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: token } });
    expect(await count()).toBe(2);
    const slashed = 'dedup:back\\slash\\';
    await stores.embedded.insert(table, [{ id: 4 }], slashed);
    await stores.embedded.insert(table, [{ id: 4 }], slashed);
    // Had a token outlived its insert, these would vanish as duplicates.
    await stores.embedded.insert(table, [{ id: 5 }], '');
    await stores.embedded.insert(table, [{ id: 6 }], `${token}-2`);
    expect(await stores.embedded.query(`SELECT id FROM ${table} ORDER BY id`)).toEqual([1, 2, 4, 5, 6].map((id) => ({ id })));
  });

  it('sends the rows as columns, in the first row\'s key order', () => {
    const { query, body } = columnarInsert('cx.t', [{ b: 'x', a: 1 }, { b: 'y\t"', a: -0 }], 'tok');
    expect(query).toBe("INSERT INTO cx.t (b, a) SETTINGS insert_deduplication_token = 'tok' FORMAT JSONCompactColumns");
    expect(JSON.parse(body)).toEqual([['x', 'y\t"'], [1, 0]]);
  });
});
