/**
 * `npm run bench`: producer throughput into Kafka and end-to-end raw ingestion
 * throughput (first produce -> rows visible in ClickHouse), each the median of
 * several runs, plus where the processor's time goes. Figures, not assertions.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../platform/clickhouse/migrate.ts';
import { openStore, type Store } from '../platform/clickhouse/store.ts';
import { loadConfig } from '../platform/config.ts';
import { EVENTS, finish, fmt, freshTopics, log, median, out, RUNS } from './figures.ts';
import { stopLocalBroker } from '../platform/kafka/localBroker.ts';
import { connectKafka, connectProducer, rawIngest } from '../pipeline/compose.ts';
import { takeSimulated } from '../producers/simulator/simulate.ts';
import { classify } from '../processors/runtime/classify.ts';
import { TOUCHPOINT_EVENT, type TouchpointEvent } from '../schemas/contracts.ts';



async function main(): Promise<void> {
  const base = loadConfig({ ...process.env, CX_CLICKHOUSE_PATH: process.env.CX_CLICKHOUSE_PATH ?? mkdtempSync(join(tmpdir(), 'cx-bench-')) });
  const events = takeSimulated({ seed: 7, customers: 20_000, start: Date.UTC(2026, 10, 1), rate: 2 }, EVENTS * 1.3)
    .filter((e) => e.kind === 'touchpoint')
    .slice(0, EVENTS)
    .map((e) => e.event as TouchpointEvent);
  out(`cx bench: ${fmt(EVENTS)} TouchpointEvents per run, ${RUNS} runs, ${base.partitions} partitions, chunk ${base.batchMaxMessages}`);

  const first = await connectKafka(freshTopics(base, 'probe'), log);
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
    const config = freshTopics({ ...base, clickhouseDatabase: `bench_${run}_${Date.now() % 100000}` }, `r${run}`);
    const kafka = await connectKafka(config, log);
    const runStore = { ...store, database: config.clickhouseDatabase } as Store;
    await migrate(runStore);

    // 1. Producer alone: every event acknowledged by Kafka.
    const producer = await connectProducer(config, kafka);
    t = performance.now();
    await Promise.all(events.map((e) => producer.send(e)));
    const produceMs = performance.now() - t;
    produceRates.push((EVENTS * 1000) / produceMs);

    // 2. End to end on a fresh topic: produce while the processor runs; stop the clock when count() sees every row.
    const e2e = freshTopics({ ...config }, `e2e${run}`);
    const kafka2 = await connectKafka(e2e, log);
    const producer2 = await connectProducer(e2e, kafka2);
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

finish(main());
