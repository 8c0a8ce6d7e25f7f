/**
 * The ClickHouse sink (issue 14, P5): the same rows, in the same run, inserted three ways
 * into the embedded engine: (a) plain JSONEachRow through @clickhouse/client, (b) the
 * store's former path (an array per row, JSONCompactEachRow through the client), (c)
 * `Store.insert` as it is now (platform/clickhouse/store.ts). The rows: touchpoint_events
 * rows built by rawRows.ts from simulated events, and the customer_memory rows the real
 * folds make of them. Then the bare client insert (a) and the store's (c) at several
 * rows per insert, to show what batch size pays. Medians of several runs, wall clock;
 * the engine's CPU time beside it (all threads of this process), which a busy machine
 * disturbs less. Figures, not assertions.
 *
 *   node --import tsx bench/sink.ts
 *   BENCH_SINK_EVENTS (200000), BENCH_SINK_BATCH (50000 rows per insert), BENCH_SINK_RUNS (5),
 *   BENCH_SINK_ONLY=a|b|c (one way alone, e.g. under node --cpu-prof)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { migrate } from '../platform/clickhouse/migrate.ts';
import { columnarInsert, openStore, type Store } from '../platform/clickhouse/store.ts';
import { loadConfig } from '../platform/config.ts';
import { takeSimulated } from '../producers/simulator/simulate.ts';
import { DEFAULT_PARAMS } from '../processors/params.ts';
import { MetricOutputs, PartitionMetrics } from '../processors/partitionMetrics.ts';
import { touchpointRow } from '../processors/runtime/rawRows.ts';
import { resultRows } from '../processors/runtime/resultRows.ts';
import { touchOf } from '../processors/touch.ts';
import type { TouchpointEvent } from '../schemas/contracts.ts';
import { finish, fmt, median, out } from './figures.ts';

const EVENTS = Number(process.env.BENCH_SINK_EVENTS ?? 200_000);
const BATCH = Number(process.env.BENCH_SINK_BATCH ?? 50_000);
const RUNS = Number(process.env.BENCH_SINK_RUNS ?? 5);
const BATCH_SIZES = [1_000, 10_000, 50_000];
const PARTITIONS = 6;

type Insert = (table: string, rows: readonly object[], token: string) => Promise<unknown>;
interface Way {
  name: string;
  insert: Insert;
  /** The same encoding alone, on this thread, without the engine. */
  encode: (rows: readonly object[]) => string;
}

function ways(client: ClickHouseClient, store: Store): Way[] {
  const arrays = (rows: readonly object[]) => {
    const columns = Object.keys(rows[0] as object);
    return { columns, values: rows.map((r) => columns.map((c) => (r as Record<string, unknown>)[c])) };
  };
  return [
    {
      name: '(a) JSONEachRow, client',
      insert: (table, rows, token) => client.insert({ table, values: rows as object[], format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: token } }),
      encode: (rows) => rows.map((r) => `${JSON.stringify(r)}\n`).join(''),
    },
    {
      // store.ts before issue 14, verbatim.
      name: '(b) JSONCompactEachRow rows',
      insert: (table, rows, token) => {
        const { columns, values } = arrays(rows);
        return client.insert({ table, values, columns: columns as [string, ...string[]], format: 'JSONCompactEachRow', clickhouse_settings: { insert_deduplication_token: token } });
      },
      encode: (rows) => arrays(rows).values.map((v) => `${JSON.stringify(v)}\n`).join(''),
    },
    {
      name: '(c) Store.insert, columns',
      insert: (table, rows, token) => store.insert(table, rows, token),
      encode: (rows) => columnarInsert('t', rows, 'token').body,
    },
  ];
}

interface Timing {
  rowsPerSecond: number;
  cpuMs: number;
}

let tokens = 0;

/** All `rows` into an emptied `table`, `batch` rows per insert. */
async function timeInsert(store: Store, insert: Insert, table: string, rows: readonly object[], batch: number): Promise<Timing> {
  await store.command(`TRUNCATE TABLE ${table}`);
  const cpu = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < rows.length; i += batch) await insert(table, rows.slice(i, i + batch), `bench-sink:${tokens++}`);
  const ms = performance.now() - t;
  const used = process.cpuUsage(cpu);
  // Each way must have stored every row, or its figure means nothing.
  const [{ n } = { n: '0' }] = await store.query<{ n: string }>(`SELECT count() AS n FROM ${table}`);
  if (Number(n) !== rows.length) throw new Error(`bench/sink: ${table} holds ${n} rows after inserting ${rows.length}`);
  return { rowsPerSecond: (rows.length * 1000) / ms, cpuMs: (used.user + used.system) / 1000 };
}

finish((async () => {
  const path = process.env.CX_CLICKHOUSE_PATH ?? mkdtempSync(join(tmpdir(), 'cx-bench-sink-'));
  // The embedded engine always: (a) and (b) need a chdb connection of their own to the same directory.
  const { CLICKHOUSE_URL: _server, ...env } = process.env;
  const config = loadConfig({ ...env, CX_CLICKHOUSE_PATH: path });
  const store = await openStore(config);
  await migrate(store);
  const db = store.database;
  // A second connection to the same directory in this process (chdb allows it) for the client's own paths.
  const { createChdbConnection } = await import('chdb/connection');
  const client = createClient({ connection: createChdbConnection({ path: config.clickhousePath }) } as Parameters<typeof createClient>[0]);

  const events = takeSimulated({ seed: 13, customers: 50_000, start: Date.UTC(2026, 10, 1), rate: 0.5 }, EVENTS * 1.3)
    .filter((e) => e.kind === 'touchpoint')
    .slice(0, EVENTS)
    .map((e) => e.event as TouchpointEvent);
  const now = Date.now();
  const offsets = new Array<number>(PARTITIONS).fill(0);
  const touchpoints = events.map((e, i) => {
    const partition = i % PARTITIONS;
    return touchpointRow(e, 1, { cluster: 'bench-cluster', topic: 'cx.touchpoints.v1', partition, offset: String(offsets[partition]!++), key: null, value: null }, now);
  });
  const metrics = new PartitionMetrics(DEFAULT_PARAMS);
  const outputs = new MetricOutputs();
  events.forEach((e, i) => metrics.arrive(touchOf(e), String(i), outputs));
  metrics.flush(outputs);
  const memory = resultRows(outputs, 0, DEFAULT_PARAMS).customer_memory;
  const tables: [string, readonly object[]][] = [[`${db}.touchpoint_events`, touchpoints], [`${db}.customer_memory`, memory]];
  const total = touchpoints.length + memory.length;

  out(`sink: ${fmt(touchpoints.length)} touchpoint_events rows + ${fmt(memory.length)} customer_memory rows, ${fmt(BATCH)} rows per insert, ${RUNS} runs, embedded chdb, medians`);
  const only = process.env.BENCH_SINK_ONLY;
  const all = ways(client, store).filter((w) => !only || w.name.startsWith(`(${only})`));
  const rates = new Map<string, number[]>(all.map((w) => [w.name, []]));
  const cpu = new Map<string, number[]>(all.map((w) => [w.name, []]));
  const encodeMs = new Map<string, number[]>(all.map((w) => [w.name, []]));
  for (let run = 0; run < RUNS; run++) {
    // A different way first each run, so none always inherits the previous one's garbage.
    for (let k = 0; k < all.length; k++) {
      const way = all[(run + k) % all.length] as Way;
      let ms = 0;
      let cpuMs = 0;
      for (const [table, rows] of tables) {
        const timing = await timeInsert(store, way.insert, table, rows, BATCH);
        ms += (rows.length * 1000) / timing.rowsPerSecond;
        cpuMs += timing.cpuMs;
      }
      rates.get(way.name)!.push((total * 1000) / ms);
      cpu.get(way.name)!.push(cpuMs);
    }
  }
  // Encoding alone, with the tables emptied so that no merge of the engine runs beside it: CPU time.
  for (const [table] of tables) await store.command(`TRUNCATE TABLE ${table}`);
  for (let run = 0; run < RUNS; run++) {
    for (const way of all) {
      const used = process.cpuUsage();
      for (const [, rows] of tables) for (let i = 0; i < rows.length; i += BATCH) way.encode(rows.slice(i, i + BATCH)).charCodeAt(0);
      const d = process.cpuUsage(used);
      encodeMs.get(way.name)!.push((d.user + d.system) / 1000);
    }
  }
  const naive = all[0] as Way;
  const naiveRate = median(rates.get(naive.name)!);
  const naiveCpu = median(cpu.get(naive.name)!);
  out('');
  out('way                           rows/s   x (a)   CPU ms  x (a) less   of which encoding (CPU ms)');
  for (const w of all) {
    const r = median(rates.get(w.name)!);
    const c = median(cpu.get(w.name)!);
    out(`${w.name.padEnd(28)} ${fmt(r).padStart(8)}  ${(r / naiveRate).toFixed(2).padStart(5)}x  ${fmt(c).padStart(7)}  ${(naiveCpu / c).toFixed(2).padStart(5)}x       ${fmt(median(encodeMs.get(w.name)!)).padStart(6)}`);
  }
  out(`runs, rows/s: ${all.map((w) => `${w.name.slice(0, 3)} ${rates.get(w.name)!.map(fmt).join(' ')}`).join('; ')}`);

  // How batch size pays: touchpoint_events rows only, the bare client insert (a) and the store's (c).
  const sample = touchpoints.slice(0, Math.min(touchpoints.length, 100_000));
  const bare = all.filter((w) => w.name.startsWith('(a)') || w.name.startsWith('(c)'));
  out('');
  out(`rows per insert (${fmt(sample.length)} touchpoint_events rows a run, medians of ${RUNS}): rows/s (rows per CPU second)`);
  out(`${'rows per insert'.padEnd(16)}${bare.map((w) => w.name.padStart(28)).join('')}`);
  for (const batch of BATCH_SIZES) {
    const wall = new Map<string, number[]>(bare.map((w) => [w.name, []]));
    const perCpu = new Map<string, number[]>(bare.map((w) => [w.name, []]));
    for (let run = 0; run < RUNS; run++) {
      for (const w of run % 2 ? [...bare].reverse() : bare) {
        const timing = await timeInsert(store, w.insert, `${db}.touchpoint_events`, sample, batch);
        wall.get(w.name)!.push(timing.rowsPerSecond);
        perCpu.get(w.name)!.push((sample.length * 1000) / timing.cpuMs);
      }
    }
    out(`${fmt(batch).padEnd(16)}${bare.map((w) => `${fmt(median(wall.get(w.name)!))} (${fmt(median(perCpu.get(w.name)!))}/CPU-s)`.padStart(28)).join('')}`);
  }
  await client.close();
  await store.close();
})());
