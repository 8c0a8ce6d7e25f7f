/**
 * `npm run bench` (first script): the pipeline against the bare limits of its parts,
 * measured in the same run on the same events, so a loaded machine moves both sides:
 * - baselines: avsc decode alone, kafkajs produce alone, kafkajs consume alone, and a
 *   naive JSONEachRow insert of the raw rows into the engine through @clickhouse/client;
 * - P1: in-process decode + validate + every metric fold, as a ratio to avsc decode;
 * - P2: end to end (produce -> raw rows + every result + state durable, alerts on), as a
 *   ratio to kafkajs produce alone;
 * - P3: freshness at a steady rate: produce -> row visible in touchpoint_events, and
 *   minute closed by the watermark -> its cells visible;
 * - P4: persisted state per active customer at 100k customers, and restore time;
 * - P5: the store's insert path against the naive JSONEachRow one, same rows;
 * - scaling from one worker to two (the stages split over two processes).
 * Medians of BENCH_RUNS runs (3); figures, never assertions. P1, its ceiling, P2 and P5
 * time their baseline right before each of their runs, and their ratio is the median of
 * the runs' ratios: this machine is shared, and its speed drifts between minutes.
 * Each end-to-end run also prints the CPU this process and the local broker used: the
 * machine's two cores are the limit, so CPU per event is the figure to move.
 *
 * - the P1 ceiling: the folds' skeleton (decode + validate, event-time order, the
 *   customer's lookup, one per-minute aggregate, no other fold) against avsc decode;
 * - the P2 ceiling: the CPU per event of the work no design can skip (produce, consume,
 *   decode + validate + fold, the raw row's insert; then with the result rows and
 *   checkpoints stored as rounds store them), measured in the same run, on every core.
 *
 * One figure alone: BENCH_ONLY=e2e (P2 beside kafkajs produce), floor (the P1 and P2 ceilings), freshness (P3), scaling.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@clickhouse/client';
import type { Kafka } from 'kafkajs';
import { migrate } from '../platform/clickhouse/migrate.ts';
import { openStore, type Store } from '../platform/clickhouse/store.ts';
import { loadConfig, type Config } from '../platform/config.ts';
import { endOffsets, lagBefore } from '../platform/kafka/lag.ts';
import { localBrokerStatus, stopLocalBroker } from '../platform/kafka/localBroker.ts';
import { connectKafka, foldStages, rawIngest, type Connected } from '../pipeline/compose.ts';
import { takeSimulated } from '../producers/simulator/simulate.ts';
import { DEFAULT_PARAMS } from '../processors/params.ts';
import { MetricOutputs, PartitionMetrics } from '../processors/partitionMetrics.ts';
import { decodeTouchpoint } from '../processors/runtime/classify.ts';
import { touchpointRow } from '../processors/runtime/rawRows.ts';
import { resultRows } from '../processors/runtime/resultRows.ts';
import { touchOf } from '../processors/touch.ts';
import { cellMinute, newCellMinutes } from '../processors/folds/cellMinute.ts';
import { eventTime, newEventClock, type EventClock } from '../processors/folds/eventTime.ts';
import type { CellAggregate } from '../processors/folds/legConsistency.ts';
import type { MinuteBuckets } from '../processors/folds/minuteBuckets.ts';
import { TOUCHPOINT_EVENT, type TouchpointEvent } from '../schemas/contracts.ts';
import { SchemaRegistry } from '../schemas/registry.ts';
import { finish, fmt, freshTopics, log, median, out, RUNS } from './figures.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const N = Number(process.env.BENCH_LIMIT_EVENTS ?? 100_000);
const FRESH_RATE = Number(process.env.BENCH_FRESHNESS_RATE ?? 5_000);
// 100 s: the lateness (30 s) plus a whole minute, so at least one minute with traffic closes while it runs.
const FRESH_SECONDS = Number(process.env.BENCH_FRESHNESS_SECONDS ?? 100);
const STATE_CUSTOMERS = 100_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(3) : '-');

interface Row { figure: string; value: string; baseline: string; ratio: string; target: string }
const table: Row[] = [];
const runsOf = (xs: number[]) => `runs ${xs.map(fmt).join(' / ')}`;

/** Times `f` RUNS times; returns the per-run rates (items per second). */
async function rates(items: number, f: (run: number) => Promise<number | void>): Promise<number[]> {
  const r: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const t = performance.now();
    const ms = await f(run);
    r.push((items * 1000) / (typeof ms === 'number' ? ms : performance.now() - t));
  }
  return r;
}

/**
 * CPU (µs) per item of what `f` runs, this process (every thread: chdb's too) and the
 * local broker together, per run; run with `rates` to time the same runs.
 */
function cpuMeter(items: number, brokerPid: number | undefined) {
  const perItem: number[] = [];
  return {
    perItem,
    /** Wraps a run of `rates`: returns what `f` returns. */
    async run<T>(f: () => Promise<T>): Promise<T> {
      const c0 = process.cpuUsage();
      const b0 = brokerCpuMs(brokerPid);
      const r = await f();
      const c = process.cpuUsage(c0);
      const broker = brokerCpuMs(brokerPid) - b0;
      perItem.push((c.user + c.system + (Number.isNaN(broker) ? 0 : broker * 1000)) / items);
      return r;
    },
    get median(): number {
      return median(perItem);
    },
  };
}

/**
 * A figure and its baseline, run by run: each run times the baseline, then the figure,
 * back to back, so a machine that slows down between runs moves both sides of that
 * run's ratio. Rates (items per second) of each, and the median of the per-run ratios.
 */
interface Paired { value: number[]; baseline: number[]; ratio: number }
async function paired(baseline: (run: number) => Promise<number> | number, figure: (run: number) => Promise<number> | number): Promise<Paired> {
  const p = { value: [] as number[], baseline: [] as number[], ratios: [] as number[] };
  for (let run = 1; run <= RUNS; run++) {
    const b = await baseline(run);
    const v = await figure(run);
    p.baseline.push(b);
    p.value.push(v);
    p.ratios.push(b > 0 ? v / b : Number.NaN);
  }
  return { value: p.value, baseline: p.baseline, ratio: median(p.ratios) };
}
const pairedText = (x: Paired, unit: string, baseline: string) =>
  `median ${fmt(median(x.value))} ${unit} (${runsOf(x.value)}); ${baseline} in the same runs ${fmt(median(x.baseline))} (${runsOf(x.baseline)}); median of the runs' ratios ${x.ratio.toFixed(3)}`;

/** One pass of bare avsc decode over the messages' bodies (past the 10-byte single-object header): ev/s. */
function bareDecode(registry: SchemaRegistry, messages: { value: Buffer }[]): number {
  const type = registry.latest(TOUCHPOINT_EVENT).type;
  const t = performance.now();
  for (const m of messages) type.fromBuffer(m.value.subarray(10));
  return (messages.length * 1000) / (performance.now() - t);
}

function simulated(customers: number, count: number, rate: number, seed = 7): TouchpointEvent[] {
  return takeSimulated({ seed, customers, start: Date.UTC(2026, 10, 1), rate }, count * 1.3)
    .filter((e) => e.kind === 'touchpoint')
    .slice(0, count)
    .map((e) => e.event as TouchpointEvent);
}

/**
 * Bare kafkajs: pre-encoded messages, keyed by customer, acks from all replicas, batches
 * of 1,000 in flight together (not idempotent: kafkajs's idempotent producer takes one
 * request in flight, and concurrent sends on it break its sequence numbers).
 */
async function produceBare(kafka: Kafka, topic: string, messages: { key: string; value: Buffer }[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < messages.length; i += 1000) sends.push(producer.send({ topic, acks: -1, messages: messages.slice(i, i + 1000) }));
  await Promise.all(sends);
  await producer.disconnect();
}

async function consumeBare(kafka: Kafka, topic: string, count: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-bare-${Date.now()}-${Math.random()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let seen = 0;
  let t0 = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((r) => (done = r));
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (t0 === 0) t0 = performance.now();
      seen += batch.messages.length;
      if (seen >= count) done();
    },
  });
  await all;
  const ms = performance.now() - t0;
  await consumer.disconnect();
  return ms;
}

/** A plain @clickhouse/client on the same engine (chdb lets one process open several connections to its directory). */
async function plainClient(base: Config) {
  if (base.clickhouseUrl) return createClient({ url: base.clickhouseUrl, username: base.clickhouseUser, password: base.clickhousePassword });
  const { createChdbConnection } = await import('chdb/connection');
  return createClient({ connection: createChdbConnection({ path: base.clickhousePath }) } as Parameters<typeof createClient>[0]);
}

/** Bare kafkajs produce, RUNS times, each into fresh topics (whose names go to `topics`); per-run rates. */
function produceRates(c: Connected, base: Config, messages: { key: string; value: Buffer }[], topics: string[] = [], cpu?: ReturnType<typeof cpuMeter>): Promise<number[]> {
  // produceOnce gives its ms, which rates turns into msg/s.
  return rates(N, (run) => produceOnce(c, base, messages, `bare${run}`, topics, cpu));
}

/** One bare kafkajs produce of `messages` into fresh topics: its ms. */
async function produceOnce(c: Connected, base: Config, messages: { key: string; value: Buffer }[], label: string, topics: string[] = [], cpu?: ReturnType<typeof cpuMeter>): Promise<number> {
  const cfg = freshTopics(base, label);
  await connectKafka(cfg, log);
  topics.push(cfg.touchpointsTopic);
  const t = performance.now();
  await (cpu ? cpu.run(() => produceBare(c.kafka, cfg.touchpointsTopic, messages)) : produceBare(c.kafka, cfg.touchpointsTopic, messages));
  return performance.now() - t;
}

/** P2, each end-to-end run beside a bare kafkajs produce of the same messages. */
async function endToEndPaired(c: Connected, base: Config, store: Store, bare: { key: string; value: Buffer }[], threads: boolean): Promise<Paired> {
  const r = await paired(
    async (run) => (bare.length * 1000) / (await produceOnce(c, base, bare, `pairbare${run}`)),
    async (run) => (bare.length * 1000) / (await endToEnd(base, store, bare, run, threads)),
  );
  out(`end to end${threads ? '' : ' with every stage in one thread (CX_STAGE_THREADS=0)'}: ${pairedText(r, 'ev/s', 'kafkajs produce alone')}`);
  return r;
}

async function baselines(c: Connected, base: Config, store: Store, events: TouchpointEvent[], messages: { key: string; value: Buffer }[]) {
  const naiveClient = await plainClient(base);
  const brokerPid = (await localBrokerStatus(base)).pid;
  const cpu = { produce: cpuMeter(N, brokerPid), consume: cpuMeter(N, brokerPid), sink: cpuMeter(N, brokerPid) };
  const decode = Array.from({ length: RUNS }, () => bareDecode(c.registry, messages));
  out(`avsc decode alone: median ${fmt(median(decode))} ev/s (${runsOf(decode)})`);

  const topics: string[] = [];
  const produce = await produceRates(c, base, messages, topics, cpu.produce);
  out(`kafkajs produce alone: median ${fmt(median(produce))} msg/s (${runsOf(produce)})`);
  const consume = await rates(N, async (run) => cpu.consume.run(() => consumeBare(c.kafka, topics[run - 1] as string, N)));
  out(`kafkajs consume alone: median ${fmt(median(consume))} msg/s (${runsOf(consume)})`);

  const rows = events.map((e, i) => touchpointRow(e, 1, { cluster: 'bench', topic: 't', partition: i % 6, offset: String(i), key: null, value: null }, Date.now()));
  const sinkVsNaive = await paired(
    async (run) => {
      const db = `bench_naive_${run}_${Date.now() % 100000}`;
      await migrate({ ...store, database: db } as Store);
      const t = performance.now();
      for (let i = 0; i < rows.length; i += 10_000) await naiveClient.insert({ table: `${db}.touchpoint_events`, values: rows.slice(i, i + 10_000), format: 'JSONEachRow' });
      return (rows.length * 1000) / (performance.now() - t);
    },
    async (run) => {
      const db = `bench_sink_${run}_${Date.now() % 100000}`;
      const s = { ...store, database: db } as Store;
      await migrate(s);
      const t = performance.now();
      await cpu.sink.run(async () => {
        for (let i = 0; i < rows.length; i += 10_000) await s.insert(`${db}.touchpoint_events`, rows.slice(i, i + 10_000), `sink:${run}:${i}`);
      });
      return (rows.length * 1000) / (performance.now() - t);
    },
  );
  await naiveClient.close();
  const naive = sinkVsNaive.baseline;
  const sink = sinkVsNaive.value;
  out(`the store's insert of the raw rows (10k rows an insert): ${pairedText(sinkVsNaive, 'rows/s', '@clickhouse/client JSONEachRow into the engine')}`);
  out(`CPU per event (this process and the broker): produce ${cpu.produce.median.toFixed(1)} µs, consume ${cpu.consume.median.toFixed(1)} µs, the store's insert of its raw row ${cpu.sink.median.toFixed(1)} µs`);
  return {
    decode: median(decode), produce: median(produce), consume: median(consume), naive: median(naive), sink: median(sink), sinkRatio: sinkVsNaive.ratio,
    cpuUs: { produce: cpu.produce.median, consume: cpu.consume.median, sink: cpu.sink.median }, brokerPid,
  };
}

/** Decodes messages [from, end) and folds them into their partition's metrics (offset: the message's index). */
function foldRange(registry: SchemaRegistry, messages: { value: Buffer; partition: number }[], parts: PartitionMetrics[], outs: MetricOutputs[], from: number, end: number): void {
  for (let i = from; i < end; i++) {
    const m = messages[i] as { value: Buffer; partition: number };
    const event = decodeTouchpoint(registry, m.value);
    if (event) (parts[m.partition] as PartitionMetrics).arrive(touchOf(event), String(i), outs[m.partition] as MetricOutputs);
  }
}

/** P1, each run beside a pass of bare avsc decode. */
async function inProcess(registry: SchemaRegistry, messages: { key: string; value: Buffer; partition: number }[]): Promise<Paired> {
  const r = await paired(
    () => bareDecode(registry, messages),
    () => {
      const parts = Array.from({ length: 6 }, () => new PartitionMetrics(DEFAULT_PARAMS));
      let outs = parts.map(() => new MetricOutputs());
      const t = performance.now();
      // Fresh outputs every 5,000 messages, as rounds hand theirs on.
      for (let from = 0; from < messages.length; from += 5000) {
        outs = parts.map(() => new MetricOutputs());
        foldRange(registry, messages, parts, outs, from, Math.min(messages.length, from + 5000));
      }
      for (let p = 0; p < 6; p++) (parts[p] as PartitionMetrics).flush(outs[p] as MetricOutputs);
      return (messages.length * 1000) / (performance.now() - t);
    },
  );
  out(`in-process decode + validate + all folds: ${pairedText(r, 'ev/s', 'avsc decode alone')}`);
  return r;
}

/**
 * CPU (µs per event) of storing what the folds make of the messages: the result rows,
 * then the checkpoint rows, each round's one insert per table through the store, in
 * rounds of BENCH_FLOOR_ROUND messages of each partition (5,000: CX_BATCH_MAX_MESSAGES's
 * default), as the metrics stage takes them. Rows are built before the meter starts:
 * only the inserts are measured.
 */
async function writeCosts(registry: SchemaRegistry, store: Store, messages: { value: Buffer; partition: number }[], brokerPid: number | undefined): Promise<{ results: number; state: number }> {
  const meters = { results: cpuMeter(messages.length, brokerPid), state: cpuMeter(messages.length, brokerPid) };
  for (let run = 1; run <= RUNS; run++) {
    const parts = Array.from({ length: 6 }, () => new PartitionMetrics(DEFAULT_PARAMS));
    const rounds: { results: Map<string, object[]>; state: object[] }[] = [];
    const ROUND = Number(process.env.BENCH_FLOOR_ROUND ?? 5000) * 6;
    for (let from = 0; from < messages.length; from += ROUND) {
      const outs = parts.map(() => new MetricOutputs());
      const end = Math.min(messages.length, from + ROUND);
      foldRange(registry, messages, parts, outs, from, end);
      if (end === messages.length) parts.forEach((pm, k) => pm.flush(outs[k] as MetricOutputs));
      const results = new Map<string, object[]>();
      const state: object[] = [];
      parts.forEach((pm, partition) => {
        for (const [table, rows] of Object.entries(resultRows(outs[partition] as MetricOutputs, partition, DEFAULT_PARAMS))) {
          const all = results.get(table);
          if (all) all.push(...rows);
          else results.set(table, rows);
        }
        const cp = pm.checkpoint();
        const base = { stage: 'metrics', source_cluster: 'bench', source_topic: 't', source_partition: partition, seq: pm.seq.toString(), source_offset: pm.offset.toString(), watermark: cp.watermark };
        state.push({ ...base, key: '', state: cp.meta }, ...cp.customers.map(([key, text]) => ({ ...base, key, state: text })));
      });
      rounds.push({ results, state });
    }
    const db = `bench_writes_${run}_${Date.now() % 100000}`;
    const s = { ...store, database: db } as Store;
    await migrate(s);
    await meters.results.run(async () => {
      for (const [k, r] of rounds.entries()) for (const [table, rows] of r.results) if (rows.length) await s.insert(`${db}.${table}`, rows, `w:${run}:${k}:${table}`);
    });
    await meters.state.run(async () => {
      for (const [k, r] of rounds.entries()) await s.insert(`${db}.processor_state`, r.state, `w:${run}:${k}:state`);
    });
  }
  out(`CPU per event of storing the folds' output (this process and chdb): result rows ${meters.results.median.toFixed(1)} µs, checkpoints ${meters.state.median.toFixed(1)} µs`);
  return { results: meters.results.median, state: meters.state.median };
}

/**
 * The most any design could reach end to end on this machine: the CPU of the work it
 * cannot skip, measured above in this run, spread over every core. Each event is
 * produced once, consumed at least once, decoded, validated and folded once, and its
 * raw row inserted once; result rows, checkpoints, commits and ClickHouse's merges
 * come on top, so this is a ceiling, not a forecast.
 */
function p2Floor(b: { produce: number; cpuUs: { produce: number; consume: number; sink: number } }, p1: number, writes: { results: number; state: number }): { ceiling: number; withWrites: number } {
  const folds = 1e6 / p1;
  const us = b.cpuUs.produce + b.cpuUs.consume + b.cpuUs.sink + folds;
  const all = us + writes.results + writes.state;
  const cores = availableParallelism();
  const ceiling = (cores * 1e6) / us;
  const withWrites = (cores * 1e6) / all;
  out(
    `P2 floor: produce ${b.cpuUs.produce.toFixed(1)} + consume ${b.cpuUs.consume.toFixed(1)} + raw row insert ${b.cpuUs.sink.toFixed(1)} + decode, validate and fold ${folds.toFixed(1)} ` +
      `= ${us.toFixed(1)} µs of CPU per event; on ${cores} cores at most ${fmt(ceiling)} ev/s, ${ratio(ceiling, b.produce)} of kafkajs produce alone (target 0.5)`,
  );
  out(
    `  with the folds' result rows (${writes.results.toFixed(1)} µs) and checkpoints (${writes.state.toFixed(1)} µs) stored as rounds store them: ${all.toFixed(1)} µs; ` +
      `at most ${fmt(withWrites)} ev/s, ${ratio(withWrites, b.produce)} of kafkajs produce alone`,
  );
  return { ceiling, withWrites };
}

/**
 * The P1 ceiling: what every fold needs before it computes anything. Decode + validate,
 * the touch, event-time order (the watermark's heap), the customer's lookup and one
 * per-minute aggregate (cell_minute), and none of the other folds: memory, drops,
 * spirals, journeys, departments, transitions, the dedup window. Its ratio to avsc
 * decode bounds P1's from above.
 */
async function foldSkeleton(registry: SchemaRegistry, messages: { value: Buffer; partition: number }[]): Promise<Paired> {
  const r = await paired(() => bareDecode(registry, messages), () => {
    const clocks = Array.from({ length: 6 }, () => newEventClock());
    const cells = Array.from({ length: 6 }, () => newCellMinutes());
    const customers = new Map<string, { n: number }>();
    const t = performance.now();
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as { value: Buffer; partition: number };
      const event = decodeTouchpoint(registry, m.value);
      if (!event) continue;
      const clock = clocks[m.partition] as EventClock;
      const { released } = eventTime(clock, { touch: touchOf(event), offset: String(i) }, DEFAULT_PARAMS.latenessMs).out;
      for (const { touch } of released) {
        let c = customers.get(touch.customer_id);
        if (!c) customers.set(touch.customer_id, (c = { n: 0 }));
        c.n++;
        cellMinute(cells[m.partition] as MinuteBuckets<CellAggregate>, touch);
      }
      if (i % 5000 === 0) (cells[m.partition] as MinuteBuckets<CellAggregate>).close(clock.watermark);
    }
    return (messages.length * 1000) / (performance.now() - t);
  });
  out(`the folds' skeleton (decode + validate, event-time order, the customer's lookup, one per-minute aggregate; no other fold): ${pairedText(r, 'ev/s', 'avsc decode alone')}`);
  return r;
}

/** P4: checkpoint bytes per active customer at 100k customers, and the restore of them. */
function stateFigures(registry: SchemaRegistry): { bytes: number; restoreMs: number; customers: number } {
  const events = simulated(STATE_CUSTOMERS, 400_000, 0.35, 11);
  const pm = new PartitionMetrics(DEFAULT_PARAMS);
  const o = new MetricOutputs();
  events.forEach((e, i) => pm.arrive(touchOf(decodeTouchpoint(registry, registry.encode(TOUCHPOINT_EVENT, e)) as TouchpointEvent), String(i), o));
  pm.flush(new MetricOutputs());
  const cp = pm.checkpoint();
  const bytes = cp.customers.reduce((s, [, state]) => s + state.length, 0) / Math.max(1, cp.customers.length);
  const restores: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const t = performance.now();
    new PartitionMetrics(DEFAULT_PARAMS, { meta: cp.meta, customers: cp.customers });
    restores.push(performance.now() - t);
  }
  const restoreMs = (median(restores) * 100_000) / Math.max(1, cp.customers.length);
  out(`state: ${fmt(cp.customers.length)} active customers, ${fmt(bytes)} bytes persisted per customer; restore ${fmt(restoreMs)} ms per 100k customers`);
  return { bytes, restoreMs, customers: cp.customers.length };
}

/** P2: produce -> raw rows + every result + state durable, all stages in this process. */
async function endToEnd(base: Config, store: Store, messages: { key: string; value: Buffer }[], run: number, threads: boolean): Promise<number> {
  const config = freshTopics({ ...base, clickhouseDatabase: `bench_e2e_${run}_${Date.now() % 100000}` }, `e2e${run}`);
  const c = await connectKafka(config, log);
  const s = { ...store, database: config.clickhouseDatabase } as Store;
  await migrate(s);
  const ingest = rawIngest(config, c, s, log);
  // As `cx start` runs them: the metric folds and the alerts in a stage thread when `threads`.
  const folds = foldStages({ ...config, stageThreads: threads ? 1 : 0 }, c, s, log);
  await Promise.all([ingest.start(), folds.start()]);
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  const brokerPid = (await localBrokerStatus(base)).pid;
  const broker0 = brokerCpuMs(brokerPid);
  await produceBare(c.kafka, config.touchpointsTopic, messages);
  // Done once the raw rows are stored and the metric stage has consumed and checkpointed every message (the thread reports a few times a second).
  while (ingest.stats.touchpointRows < messages.length || folds.metrics.stats.consumed < messages.length) await sleep(10);
  const ms = performance.now() - t;
  const cpu = process.cpuUsage(cpu0);
  const brokerMs = brokerCpuMs(brokerPid) - broker0;
  const m = folds.metrics;
  out(`  run ${run}${threads ? ' (stage thread)' : ' (one thread)'}: ${fmt((messages.length * 1000) / ms)} ev/s (raw: decode ${fmt(ingest.stats.ms.decode)} ms, insert ${fmt(ingest.stats.ms.insert)} ms, ${fmt(ingest.timing.rounds)} rounds; metrics: folds ${fmt(m.stats.ms.folds)} ms, rows+state store ${fmt(m.timing.ms.store)} ms, commit ${fmt(m.timing.ms.commit)} ms, ${fmt(m.timing.rounds)} rounds); this process used ${fmt((cpu.user + cpu.system) / 1000)} ms of CPU (${((cpu.user + cpu.system) / 1000 / ms).toFixed(2)} cores), the producer's share included; the local broker ${Number.isNaN(brokerMs) ? '-' : fmt(brokerMs)} ms`);
  await folds.stop();
  await ingest.stop();
  return ms;
}

function spawnCx(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: string[]; exit: Promise<unknown> } {
  const child = spawn(process.execPath, ['bin/cx.js', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  return { child, output, exit: new Promise((r) => child.once('exit', r)) };
}

/** CPU time (ms) the local broker's process (pid) has used so far; NaN without one (a broker that is not the project's own). */
function brokerCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Workers as processes against one store server: `stages` per process. Returns ms from the first produce to both groups caught up. */
async function processes(base: Config, url: string, messages: { key: string; value: Buffer }[], stages: string[], run: number): Promise<number> {
  const config = freshTopics({ ...base, clickhouseDatabase: `bench_proc_${stages.length}_${run}_${Date.now() % 100000}` }, `p${stages.length}-${run}`);
  const c = await connectKafka(config, log);
  const env = {
    ...process.env, CLICKHOUSE_URL: url, CLICKHOUSE_DATABASE: config.clickhouseDatabase, KAFKA_BROKERS: c.brokers.join(','), LOG_LEVEL: 'warn',
    CX_TOPIC_TOUCHPOINTS: config.touchpointsTopic, CX_TOPIC_OUTCOMES: config.outcomesTopic, CX_TOPIC_DEADLETTER: config.deadLetterTopic, CX_TOPIC_ALERTS: config.alertsTopic,
    CX_CONSUMER_GROUP: config.consumerGroup,
  };
  const workers = stages.map((s) => spawnCx(['process', '--stages', s], env));
  const admin = c.kafka.admin();
  await admin.connect();
  try {
    // Every worker in its groups before the clock starts (the workers log at warn: the group says who has joined).
    const groups = [config.consumerGroup, `${config.consumerGroup}.metrics`];
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { groups: g } = await admin.describeGroups(groups);
      if (g.length === groups.length && g.every((x) => x.state === 'Stable' && x.members.length > 0)) break;
      if (Date.now() > deadline) throw new Error(`the worker processes did not join their groups in 120 s: ${workers.map((w) => w.output.join('').slice(-500)).join('\n')}`);
      await sleep(200);
    }
    await sleep(1000);
    const t = performance.now();
    await produceBare(c.kafka, config.touchpointsTopic, messages);
    const ends = await endOffsets(admin, [config.touchpointsTopic]);
    let said = performance.now();
    for (;;) {
      const raw = await lagBefore(admin, config.consumerGroup, ends);
      const metrics = await lagBefore(admin, `${config.consumerGroup}.metrics`, ends);
      if (raw + metrics === 0) break;
      if (performance.now() - said > 10_000) {
        said = performance.now();
        out(`  waiting for the worker processes (${stages.join(' | ')}) to catch up: raw ingestion ${fmt(raw)} messages behind, metrics ${fmt(metrics)}`);
      }
      if (performance.now() - t > 600_000) throw new Error(`workers did not catch up: ${workers.map((w) => w.output.join('').slice(-500)).join('\n')}`);
      await sleep(50);
    }
    return performance.now() - t;
  } finally {
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exit));
    await admin.disconnect();
  }
}

/** P3: a steady rate for a while; latency of sampled events to visibility, and of closed minutes to their cells. */
async function freshness(base: Config, store: Store, registry: SchemaRegistry): Promise<{ rowP99: number; resultP99: number; kept: boolean }> {
  const config = freshTopics({ ...base, clickhouseDatabase: `bench_fresh_${Date.now() % 100000}` }, 'fresh');
  const c = await connectKafka(config, log);
  const s = { ...store, database: config.clickhouseDatabase } as Store;
  await migrate(s);
  const ingest = rawIngest(config, c, s, log);
  const folds = foldStages(config, c, s, log);
  await Promise.all([ingest.start(), folds.start()]);
  const producer = c.kafka.producer();
  await producer.connect();
  // Event time = wall time (live traffic): customers and channels from the simulator, each stamped with the
  // moment it is due to be sent, encoded before the clock starts so the sending loop only sends.
  const pool = simulated(20_000, 50_000, 5);
  const total = FRESH_RATE * FRESH_SECONDS;
  const t0 = Date.now() + 3000;
  const due = (k: number) => t0 + Math.floor((k * 1000) / FRESH_RATE);
  const planned = Array.from({ length: total }, (_, k) => {
    const e = { ...(pool[k % pool.length] as TouchpointEvent), event_id: crypto.randomUUID(), occurred_at: due(k) };
    return { id: e.event_id, key: e.customer_id, value: registry.encode(TOUCHPOINT_EVENT, e) };
  });
  const sent = new Map<string, number>();
  const closes: { minute: number; closedAt: number }[] = [];
  // Visibility is polled while the traffic runs (every 50 ms), from another connection's view: the store's query.
  const seenAt = new Map<string, number>();
  const cellsAt = new Map<number, number>();
  let producing = true;
  let pollUntil = Number.POSITIVE_INFINITY;
  const poller = (async () => {
    while (producing || ((seenAt.size < sent.size || cellsAt.size < closes.length) && Date.now() < pollUntil)) {
      const ids = [...sent.keys()].filter((id) => !seenAt.has(id));
      if (ids.length) {
        const rows = await s.query<{ event_id: string }>(`SELECT event_id FROM ${s.database}.touchpoint_events WHERE event_id IN {ids:Array(String)}`, { ids });
        const now = Date.now();
        for (const r of rows) seenAt.set(r.event_id, now);
      }
      for (const cl of closes) {
        if (cellsAt.has(cl.minute)) continue;
        const [r] = await s.query<{ n: string }>(`SELECT count() AS n FROM ${s.database}.cell_minute WHERE minute = toDateTime({m:UInt32})`, { m: cl.minute / 1000 });
        if (Number(r?.n) > 0) cellsAt.set(cl.minute, Date.now());
      }
      await sleep(50);
    }
  })();
  while (Date.now() < t0) await sleep(5);
  const lateness = config.allowedLatenessMs;
  let i = 0;
  let lastMinuteClosed = 0;
  const tickMs = 20;
  const sends: Promise<unknown>[] = [];
  while (i < total) {
    const tickStart = Date.now();
    const batch: { key: string; value: Buffer }[] = [];
    for (; i < total && due(i) <= tickStart; i++) {
      const e = planned[i] as { id: string; key: string; value: Buffer };
      if (i % 100 === 0) sent.set(e.id, Date.now());
      batch.push({ key: e.key, value: e.value });
    }
    if (batch.length) sends.push(producer.send({ topic: config.touchpointsTopic, acks: -1, messages: batch }));
    // The watermark passes minute M once an event at M + 1 min + lateness is produced.
    const closed = Math.floor((Date.now() - lateness) / 60_000) * 60_000 - 60_000;
    // Only minutes that had traffic (from t0's minute on): an earlier one has no cells to see.
    if (closed > lastMinuteClosed && lastMinuteClosed > 0 && closed >= Math.floor(t0 / 60_000) * 60_000) closes.push({ minute: closed, closedAt: Date.now() });
    lastMinuteClosed = Math.max(lastMinuteClosed, closed);
    await sleep(Math.max(0, tickMs - (Date.now() - tickStart)));
  }
  const achieved = (i * 1000) / (Date.now() - t0);
  await Promise.all(sends);
  producing = false;
  const deadline = Date.now() + 120_000;
  pollUntil = deadline;
  await poller;
  const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))] ?? NaN;
  const rowLat = [...sent].map(([id, at]) => (seenAt.get(id) ?? deadline) - at);
  const resLat = closes.map((cl) => (cellsAt.get(cl.minute) ?? deadline) - cl.closedAt);
  out(`freshness at ${fmt(FRESH_RATE)} ev/s asked (${fmt(achieved)} produced) for ${FRESH_SECONDS} s: produce -> row visible p50 ${fmt(median(rowLat))} ms, p99 ${fmt(p99(rowLat))} ms (${fmt(rowLat.length)} sampled); ` +
    `minute closed by the watermark -> its cells visible: ${resLat.map((x) => `${fmt(x)} ms`).join(', ') || 'no minute closed'} (the poll adds up to ~50 ms)`);
  await producer.disconnect();
  await folds.stop();
  await ingest.stop();
  return { rowP99: p99(rowLat), resultP99: resLat.length ? p99(resLat) : NaN, kept: achieved >= FRESH_RATE * 0.95 };
}

async function main(): Promise<void> {
  const base = loadConfig({ ...process.env, CX_CLICKHOUSE_PATH: process.env.CX_CLICKHOUSE_PATH ?? mkdtempSync(join(tmpdir(), 'cx-bench-')) });
  const first = await connectKafka(freshTopics(base, 'probe'), log);
  const store = await openStore(base);
  const registry = first.registry;
  const events = simulated(20_000, N, 2);
  const partitionOf = (key: string) => {
    let h = 2166136261;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
    return (h >>> 0) % 6;
  };
  const messages = events.map((e) => ({ key: e.customer_id, value: registry.encode(TOUCHPOINT_EVENT, e), partition: partitionOf(e.customer_id) }));
  out(`cx bench, the limits: ${fmt(N)} simulated TouchpointEvents (seed 7, 20,000 customers), ${RUNS} runs of each figure, medians; Kafka ${first.brokers.join(',')}, ClickHouse ${store.where}`);

  const bare = messages.map(({ key, value }) => ({ key, value }));
  try {
    const only = process.env.BENCH_ONLY;
    if (only === 'freshness') await freshness(base, store, registry);
    else if (only === 'scaling') await scaling(base, bare);
    else if (only === 'floor') {
      const b = await baselines(first, base, store, events, messages);
      const skeleton = await foldSkeleton(registry, messages);
      out(`P1 ceiling: the skeleton is ${skeleton.ratio.toFixed(3)} of avsc decode alone (target for all folds 0.333)`);
      p2Floor(b, median((await inProcess(registry, messages)).value), await writeCosts(registry, store, messages, b.brokerPid));
    }
    // P2 alone: each end-to-end run beside a bare kafkajs produce (CX_STAGE_THREADS as configured).
    else if (only === 'e2e') await endToEndPaired(first, base, store, bare, base.stageThreads !== 0);
    else await everything(first, base, store, registry, events, messages, bare);
  } finally {
    await store.close();
    if (first.startedBroker) await stopLocalBroker(base);
  }
}

async function everything(
  first: Connected, base: Config, store: Store, registry: SchemaRegistry, events: TouchpointEvent[],
  messages: { key: string; value: Buffer; partition: number }[], bare: { key: string; value: Buffer }[],
): Promise<void> {
  const b = await baselines(first, base, store, events, messages);
  const p1 = await inProcess(registry, messages);
  const skeleton = await foldSkeleton(registry, messages);
  const floor = p2Floor(b, median(p1.value), await writeCosts(registry, store, messages, b.brokerPid));
  const p4 = stateFigures(registry);
  out('end to end, all stages in one process (raw ingestion, metric folds, live stool, alerts):');
  const p2 = await endToEndPaired(first, base, store, bare, true);
  const oneThread = await rates(N, (run) => endToEnd(base, store, bare, run, false));
  out(`end to end with every stage in one thread (CX_STAGE_THREADS=0): median ${fmt(median(oneThread))} ev/s (${runsOf(oneThread)})`);
  const fresh = await freshness(base, store, registry);

  table.push(
    { figure: 'P1 decode + validate + all folds, in process', value: `${fmt(median(p1.value))} ev/s`, baseline: `avsc decode ${fmt(median(p1.baseline))} ev/s`, ratio: p1.ratio.toFixed(3), target: '>= 0.333' },
    { figure: 'P1 ceiling: the folds\' skeleton alone', value: `${fmt(median(skeleton.value))} ev/s`, baseline: `avsc decode ${fmt(median(skeleton.baseline))} ev/s`, ratio: skeleton.ratio.toFixed(3), target: '' },
    { figure: 'P2 end to end, all stages', value: `${fmt(median(p2.value))} ev/s`, baseline: `kafkajs produce ${fmt(median(p2.baseline))} msg/s`, ratio: p2.ratio.toFixed(3), target: '>= 0.5' },
    { figure: 'P2 ceiling: the CPU floor on every core', value: `${fmt(floor.ceiling)} ev/s`, baseline: `kafkajs produce ${fmt(b.produce)} msg/s`, ratio: ratio(floor.ceiling, b.produce), target: '' },
    { figure: 'P2 ceiling with result rows and checkpoints', value: `${fmt(floor.withWrites)} ev/s`, baseline: `kafkajs produce ${fmt(b.produce)} msg/s`, ratio: ratio(floor.withWrites, b.produce), target: '' },
    { figure: `P3 produce -> row visible, p99 at ${fmt(FRESH_RATE)} ev/s`, value: `${fmt(fresh.rowP99)} ms${fresh.kept ? '' : ' (rate not kept)'}`, baseline: '', ratio: '', target: '<= 2,000 ms' },
    { figure: 'P3 minute closed -> results visible, worst', value: Number.isNaN(fresh.resultP99) ? '-' : `${fmt(fresh.resultP99)} ms`, baseline: '', ratio: '', target: '<= 2,000 ms' },
    { figure: 'P4 state per active customer', value: `${fmt(p4.bytes)} B at ${fmt(p4.customers)} customers; restore ${fmt(p4.restoreMs)} ms/100k`, baseline: '', ratio: '', target: '<= 300 B' },
    { figure: 'scaling: stage thread (two cores) vs one thread', value: `${fmt(median(p2.value))} ev/s`, baseline: `one thread ${fmt(median(oneThread))} ev/s`, ratio: ratio(median(p2.value), median(oneThread)), target: '' },
    { figure: 'P5 the store\'s insert', value: `${fmt(b.sink)} rows/s`, baseline: `naive JSONEachRow ${fmt(b.naive)} rows/s`, ratio: b.sinkRatio.toFixed(3), target: '>= 2' },
    { figure: 'kafkajs consume alone', value: `${fmt(b.consume)} msg/s`, baseline: '', ratio: '', target: '' },
  );

  await scaling(base, bare);
  out('');
  const w = [48, 44, 34, 7, 12];
  const line = (r: string[]) => r.map((x, k) => x.padEnd(w[k] as number)).join(' ');
  out(line(['figure', 'value (median)', 'baseline in the same run', 'ratio', 'target']));
  for (const r of table) out(line([r.figure, r.value, r.baseline, r.ratio, r.target]));
}

/** Scaling: the same events through worker processes sharing one store server. */
async function scaling(base: Config, bare: { key: string; value: Buffer }[]): Promise<void> {
  if (process.env.BENCH_SKIP_SCALING !== '1') {
    const dir = mkdtempSync(join(tmpdir(), 'cx-bench-served-'));
    const server = spawnCx(['store', 'serve', '--port', '0'], { ...process.env, CX_CLICKHOUSE_PATH: dir, LOG_LEVEL: 'warn' });
    let url: string | undefined;
    for (let k = 0; k < 600 && !url; k++) {
      url = /http:\/\/127\.0\.0\.1:\d+/.exec(server.output.join(''))?.[0];
      await sleep(100);
    }
    if (!url) throw new Error(`the store server did not start: ${server.output.join('')}`);
    try {
      const one = await rates(N, (run) => processes(base, url as string, bare, ['raw,metrics,alerts'], run));
      const two = await rates(N, (run) => processes(base, url as string, bare, ['raw', 'metrics,alerts'], run));
      out(`workers as processes on one store server: one worker (all stages) ${fmt(median(one))} ev/s (${runsOf(one)}); two (raw | metrics + alerts) ${fmt(median(two))} ev/s (${runsOf(two)})`);
      table.push({ figure: 'scaling: two worker processes vs one', value: `${fmt(median(two))} ev/s`, baseline: `one worker ${fmt(median(one))} ev/s`, ratio: ratio(median(two), median(one)), target: '' });
    } finally {
      server.child.kill('SIGTERM');
      await server.exit;
    }
  }
}

finish(main());
