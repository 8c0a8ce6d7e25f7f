/**
 * `npm run bench` (third script): the metric processors.
 * 1. In-process, one core, no I/O: Avro decode + validation + every metric fold, per event.
 * 2. State bytes per active customer, at 100k customers (persisted records and heap), and the time to restore them.
 * 3. End to end through Kafka into ClickHouse with raw ingestion and all metric processors on.
 * Medians of several runs; figures, not assertions.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../platform/clickhouse/migrate.ts';
import { openStore, type Store } from '../platform/clickhouse/store.ts';
import { loadConfig } from '../platform/config.ts';
import { stopLocalBroker } from '../platform/kafka/localBroker.ts';
import { connectKafka, connectProducer, metricsWorker, rawIngest } from '../pipeline/compose.ts';
import { takeSimulated } from '../producers/simulator/simulate.ts';
import { DEFAULT_PARAMS } from '../processors/params.ts';
import { encodeCustomer } from '../processors/customerRecord.ts';
import { MetricOutputs, PartitionMetrics } from '../processors/partitionMetrics.ts';
import { decodeTouchpoint } from '../processors/runtime/classify.ts';
import { touchOf, type Touch } from '../processors/touch.ts';
import { SchemaRegistry } from '../schemas/registry.ts';
import { TOUCHPOINT_EVENT, type TouchpointEvent } from '../schemas/contracts.ts';
import { EVENTS, finish, fmt, freshTopics, log, median, out, RUNS } from './figures.ts';

const IN_PROCESS_EVENTS = Number(process.env.BENCH_FOLD_EVENTS ?? 400_000);
const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 100_000);
// Visits per second of event time: the default spreads 400k events over about two weeks, so 100k customers come back.
const FOLD_RATE = Number(process.env.BENCH_FOLD_RATE ?? 0.35);
const PARTITIONS = 6;
const CHUNK = 5000;

const partitionOf = (key: string) => {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return (h >>> 0) % PARTITIONS;
};

function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

async function inProcess(): Promise<void> {
  const registry = SchemaRegistry.load();
  // About 4 events per customer slot over ~2 weeks of event time: nearly every one of the 100k customers is active.
  const events = takeSimulated({ seed: 11, customers: CUSTOMERS, start: Date.UTC(2026, 10, 1), rate: FOLD_RATE }, IN_PROCESS_EVENTS * 1.3)
    .filter((e) => e.kind === 'touchpoint')
    .slice(0, IN_PROCESS_EVENTS)
    .map((e) => e.event as TouchpointEvent);
  const messages = events.map((e) => ({ value: registry.encode(TOUCHPOINT_EVENT, e), partition: partitionOf(e.customer_id) }));
  const span = (events.at(-1)?.occurred_at ?? 0) - (events[0]?.occurred_at ?? 0);
  out(`in-process: ${fmt(events.length)} TouchpointEvents over ${(span / 86_400_000).toFixed(1)} days of event time, ${fmt(CUSTOMERS)} customer slots, ${PARTITIONS} partitions, ${RUNS} runs`);

  const full: number[] = [];
  const decodeOnly: number[] = [];
  const foldsOnly: number[] = [];
  let last: PartitionMetrics[] = [];
  for (let run = 1; run <= RUNS; run++) {
    // Decode + validate alone.
    let t = performance.now();
    const touches: Touch[] = [];
    for (const m of messages) touches.push(touchOf(decodeTouchpoint(registry, m.value) as TouchpointEvent));
    decodeOnly.push((messages.length * 1000) / (performance.now() - t));

    // Folds alone, on already decoded touches.
    let parts = Array.from({ length: PARTITIONS }, () => new PartitionMetrics(DEFAULT_PARAMS));
    let outs = parts.map(() => new MetricOutputs());
    t = performance.now();
    for (let i = 0; i < touches.length; i++) {
      // Outputs per chunk, as the worker turns them into rows and lets them go.
      if (i % CHUNK === 0) outs = parts.map(() => new MetricOutputs());
      const p = (messages[i] as { partition: number }).partition;
      (parts[p] as PartitionMetrics).arrive(touches[i] as Touch, String(i), outs[p] as MetricOutputs);
    }
    for (let p = 0; p < PARTITIONS; p++) (parts[p] as PartitionMetrics).flush(outs[p] as MetricOutputs);
    foldsOnly.push((messages.length * 1000) / (performance.now() - t));

    // Decode + validate + all folds, as the worker does per message.
    parts = Array.from({ length: PARTITIONS }, () => new PartitionMetrics(DEFAULT_PARAMS));
    outs = parts.map(() => new MetricOutputs());
    t = performance.now();
    for (let i = 0; i < messages.length; i++) {
      if (i % CHUNK === 0) outs = parts.map(() => new MetricOutputs());
      const m = messages[i] as { value: Buffer; partition: number };
      const event = decodeTouchpoint(registry, m.value);
      if (event) (parts[m.partition] as PartitionMetrics).arrive(touchOf(event), String(i), outs[m.partition] as MetricOutputs);
    }
    for (let p = 0; p < PARTITIONS; p++) (parts[p] as PartitionMetrics).flush(outs[p] as MetricOutputs);
    full.push((messages.length * 1000) / (performance.now() - t));
    out(`run ${run}: decode+validate ${fmt(decodeOnly.at(-1) as number)} ev/s · folds ${fmt(foldsOnly.at(-1) as number)} ev/s · decode+validate+folds ${fmt(full.at(-1) as number)} ev/s`);
    last = parts;
    outs.length = 0;
  }
  out(`in-process decode + validate + all folds: median ${fmt(median(full))} events/s on one core (decode+validate alone ${fmt(median(decodeOnly))}, folds alone ${fmt(median(foldsOnly))})`);

  // State per active customer: what a checkpoint persists (every customer's record), and what the heap holds.
  const customers = last.reduce((s, p) => s + p.customers.size, 0);
  const checkpoints = last.map((p) => ({ meta: p.checkpoint().meta, customers: [...p.customers].map(([id, c]) => [id, encodeCustomer(c)] as [string, string]) }));
  let record = 0;
  let windowless = 0;
  let legacy = 0;
  let seenIds = 0;
  for (const p of last) {
    for (const c of p.customers.values()) {
      record += encodeCustomer(c).length;
      windowless += encodeCustomer({ ...c, seenIds: [], seenAt: [] }).length;
      seenIds += c.seenIds.length;
      // The JSON object checkpoints held before records, for comparison.
      const journeys = Object.fromEntries([...c.journeys].map(([id, j]) => [id, { ...j, cells: Object.fromEntries(j.cells.map((x) => [`${x.leg}\u0000${x.touchpoint}`, [x.n, x.sumX, x.sumX2, x.good, x.impressed]])) }]));
      legacy += JSON.stringify({ ...c, journeys, seenIds: undefined, seenAt: undefined, seen: Object.fromEntries(c.seenIds.map((id, i) => [id, c.seenAt[i]])), seenCount: c.seenIds.length }).length;
    }
  }
  const restoreMs: number[] = [];
  let copy: PartitionMetrics[] = [];
  for (let run = 1; run <= RUNS; run++) {
    copy = [];
    const t = performance.now();
    for (const cp of checkpoints) copy.push(new PartitionMetrics(DEFAULT_PARAMS, cp));
    restoreMs.push(performance.now() - t);
  }
  copy = [];
  const before = heapUsed();
  copy = checkpoints.map((cp) => new PartitionMetrics(DEFAULT_PARAMS, cp));
  const heap = heapUsed() - before;
  out(`state at ${fmt(customers)} active customers: ${fmt(record / customers)} bytes persisted per customer (record; the JSON of before: ${fmt(legacy / customers)}) and ~${fmt(heap / customers)} bytes of heap${(globalThis as { gc?: unknown }).gc ? '' : ' (run with --expose-gc for a steadier heap figure)'}`);
  out(`  of which the dedup window (docs/metrics.md, "Duplicates"): ${(seenIds / customers).toFixed(1)} event ids and ${fmt((record - windowless) / customers)} bytes per customer (${fmt(seenIds ? (record - windowless) / seenIds : 0)} bytes per id; at most CX_DEDUP_MAX_IDS = ${DEFAULT_PARAMS.dedupMaxIds} ids)`);
  out(`  restore (checkpoint -> PartitionMetrics): median ${fmt((median(restoreMs) * 100_000) / customers)} ms per 100k customers (${RUNS} runs)`);
  copy.length = 0;
}

async function endToEnd(): Promise<void> {
  const base = loadConfig({ ...process.env, CX_CLICKHOUSE_PATH: process.env.CX_CLICKHOUSE_PATH ?? mkdtempSync(join(tmpdir(), 'cx-bench-')) });
  const events = takeSimulated({ seed: 7, customers: 20_000, start: Date.UTC(2026, 10, 1), rate: 2 }, EVENTS * 1.3)
    .filter((e) => e.kind === 'touchpoint')
    .slice(0, EVENTS)
    .map((e) => e.event as TouchpointEvent);
  const first = await connectKafka(freshTopics(base, 'probe'), log);
  const store: Store = await openStore(base);
  out('');
  out(`end to end: ${fmt(EVENTS)} TouchpointEvents per run, raw ingestion + all metric processors, ${base.partitions} partitions, ${RUNS} runs`);
  const rates: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const config = freshTopics({ ...base, clickhouseDatabase: `bench_m${run}_${Date.now() % 100000}` }, `m${run}`);
    const kafka = await connectKafka(config, log);
    const runStore = { ...store, database: config.clickhouseDatabase } as Store;
    await migrate(runStore);
    const producer = await connectProducer(config, kafka);
    const ingest = rawIngest(config, kafka, runStore, log);
    const metrics = metricsWorker(config, kafka, runStore, log);
    await ingest.start();
    await metrics.start();
    const t = performance.now();
    await Promise.all(events.map((e) => producer.send(e)));
    // Done when raw rows are all visible and the metric processors have consumed, folded and checkpointed every message.
    while (ingest.stats.touchpointRows < EVENTS || metrics.stats.consumed < EVENTS) await new Promise((r) => setTimeout(r, 20));
    const ms = performance.now() - t;
    rates.push((EVENTS * 1000) / ms);
    const m = metrics.stats;
    out(`run ${run}: ${fmt(rates.at(-1) as number)} events/s in ${(ms / 1000).toFixed(2)} s (metrics: folds ${fmt(m.ms.folds)} ms, result inserts ${fmt(m.ms.insert)} ms, state ${fmt(m.ms.state)} ms, commit ${fmt(m.ms.commit)} ms, ${fmt(m.checkpoints)} checkpoints; raw insert ${fmt(ingest.stats.ms.insert)} ms)`);
    await metrics.stop();
    await ingest.stop();
    await producer.disconnect();
  }
  out(`end to end with all processors (produce -> raw rows + results + state durable): median ${fmt(median(rates))} events/s`);
  await store.close();
  if (first.startedBroker) await stopLocalBroker(base);
}

finish((async () => {
  await inProcess();
  if (process.env.BENCH_IN_PROCESS_ONLY !== '1') await endToEnd();
})());
