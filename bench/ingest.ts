/**
 * `npm run bench`: producer throughput into Kafka and end-to-end raw ingestion
 * throughput (first produce -> rows visible in ClickHouse), each the median of
 * several runs, plus where the processor's time goes. Figures, not assertions.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../platform/clickhouse/migrate.ts';
import { openStore, type Store } from '../platform/clickhouse/store.ts';
import { loadConfig, type Config } from '../platform/config.ts';
import { stopLocalBroker } from '../platform/kafka/localBroker.ts';
import { createLogger } from '../platform/log.ts';
import { connectKafka, rawIngest } from '../platform/pipeline.ts';
import { takeSimulated } from '../producers/simulator/simulate.ts';
import { TouchpointProducer } from '../producers/touchpointProducer.ts';
import { classify } from '../processors/runtime/classify.ts';
import { TOUCHPOINT_EVENT, type TouchpointEvent } from '../schemas/contracts.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
const log = createLogger('error', 'bench');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const out = (s: string) => process.stdout.write(`${s}\n`);

function runConfig(base: Config, run: string): Config {
  const id = `${run}-${randomUUID().slice(0, 6)}`;
  return {
    ...base,
    touchpointsTopic: `bench-${id}.touchpoints`,
    outcomesTopic: `bench-${id}.outcomes`,
    deadLetterTopic: `bench-${id}.deadletter`,
    alertsTopic: `bench-${id}.alerts`,
    consumerGroup: `bench-${id}`,
  };
}

async function main(): Promise<void> {
  const base = loadConfig({ ...process.env, CX_CLICKHOUSE_PATH: process.env.CX_CLICKHOUSE_PATH ?? mkdtempSync(join(tmpdir(), 'cx-bench-')) });
  const events = takeSimulated({ seed: 7, customers: 20_000, start: Date.UTC(2026, 10, 1), rate: 2 }, EVENTS * 1.1)
    .filter((e) => e.kind === 'touchpoint')
    .slice(0, EVENTS)
    .map((e) => e.event as TouchpointEvent);
  out(`cx bench: ${fmt(EVENTS)} TouchpointEvents per run, ${RUNS} runs, ${base.partitions} partitions, chunk ${base.batchMaxMessages}`);

  const first = await connectKafka(runConfig(base, 'probe'), log);
  out(`Kafka ${first.brokers.join(',')}${first.startedBroker ? ' (local, started for the bench)' : ''}; ClickHouse ${base.clickhouseUrl ?? `embedded at ${base.clickhousePath}`}`);
  const store: Store = await openStore(base);

  // In-process only: validate + encode, and decode + validate + row, on one core.
  const reg = first.registry;
  let t = performance.now();
  const encoded = events.map((e) => reg.encode(TOUCHPOINT_EVENT, e));
  const encodeMs = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < encoded.length; i++) {
    classify(reg, { tp: TOUCHPOINT_EVENT }, { cluster: 'bench', topic: 'tp', partition: 0, offset: String(i), key: null, value: encoded[i] as Buffer }, 0);
  }
  const decodeMs = performance.now() - t;
  out(`in-process: encode ${fmt((EVENTS * 1000) / encodeMs)} events/s, decode+validate+row ${fmt((EVENTS * 1000) / decodeMs)} events/s (one core, no I/O)`);

  const produceRates: number[] = [];
  const e2eRates: number[] = [];
  const steps: Record<string, number[]> = { decode: [], insert: [], commit: [], deadLetterTopic: [] };
  for (let run = 1; run <= RUNS; run++) {
    const config = runConfig({ ...base, clickhouseDatabase: `bench_${run}_${Date.now() % 100000}` }, `r${run}`);
    const kafka = await connectKafka(config, log);
    const runStore = { ...store, database: config.clickhouseDatabase } as Store;
    await migrate(runStore);

    // 1. Producer alone: every event acknowledged by Kafka.
    const producer = new TouchpointProducer(kafka.kafka, kafka.registry, { touchpointsTopic: config.touchpointsTopic, outcomesTopic: config.outcomesTopic });
    await producer.connect();
    t = performance.now();
    await Promise.all(events.map((e) => producer.send(e)));
    const produceMs = performance.now() - t;
    produceRates.push((EVENTS * 1000) / produceMs);

    // 2. End to end on a fresh topic: produce while the processor runs; stop the clock when count() sees every row.
    const e2e = runConfig({ ...config }, `e2e${run}`);
    const kafka2 = await connectKafka(e2e, log);
    const producer2 = new TouchpointProducer(kafka2.kafka, kafka2.registry, { touchpointsTopic: e2e.touchpointsTopic, outcomesTopic: e2e.outcomesTopic });
    await producer2.connect();
    const ingest = rawIngest(e2e, kafka2, runStore, log);
    await ingest.start();
    t = performance.now();
    await Promise.all(events.map((e) => producer2.send(e)));
    for (;;) {
      const [r] = await runStore.query<{ n: string }>(`SELECT count() AS n FROM ${runStore.database}.touchpoint_events`);
      if (Number(r?.n) >= EVENTS) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const e2eMs = performance.now() - t;
    e2eRates.push((EVENTS * 1000) / e2eMs);
    for (const k of Object.keys(steps)) steps[k]?.push(ingest.stats.ms[k as keyof typeof ingest.stats.ms]);
    out(`run ${run}: producer ${fmt(produceRates.at(-1) as number)} events/s; end to end ${fmt(e2eRates.at(-1) as number)} events/s in ${(e2eMs / 1000).toFixed(2)} s ` +
      `(processor: decode ${fmt(ingest.stats.ms.decode)} ms, insert ${fmt(ingest.stats.ms.insert)} ms, commit ${fmt(ingest.stats.ms.commit)} ms, ${ingest.stats.chunks} chunks)`);
    await ingest.stop();
    await producer.disconnect();
    await producer2.disconnect();
  }
  out('');
  out(`producer into Kafka:           median ${fmt(median(produceRates))} events/s`);
  out(`end to end (produce -> rows):  median ${fmt(median(e2eRates))} events/s  (${(median(produceRates) / median(e2eRates)).toFixed(2)}x slower than producing alone)`);
  const e2eSeconds = EVENTS / median(e2eRates);
  out(`processor time per run (median): decode ${fmt(median(steps.decode as number[]))} ms, ClickHouse insert ${fmt(median(steps.insert as number[]))} ms, offset commit ${fmt(median(steps.commit as number[]))} ms, of ${fmt(e2eSeconds * 1000)} ms wall`);
  await store.close();
  if (first.startedBroker) await stopLocalBroker(base);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
    process.exit(1);
  },
);
