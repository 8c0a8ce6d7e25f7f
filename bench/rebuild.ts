/**
 * `npm run bench` (last script): `cx rebuild`'s throughput, in events folded per second,
 * on a simulated log of a few hundred thousand touchpoint events stored in
 * touchpoint_events, against a bare read of the same rows from the same store in the
 * same run (the copy in event-time order and the keyset pages the rebuild reads, with
 * no fold and no write). Medians of several runs; figures, not assertions.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../platform/clickhouse/migrate.ts';
import { openStore } from '../platform/clickhouse/store.ts';
import { loadConfig } from '../platform/config.ts';
import { stopLocalBroker } from '../platform/kafka/localBroker.ts';
import { connectKafka } from '../pipeline/compose.ts';
import { takeSimulated } from '../producers/simulator/simulate.ts';
import { DEFAULT_PARAMS } from '../processors/params.ts';
import { kafkaView, liveMembers } from '../processors/rebuild/handOver.ts';
import { PAGE_ROWS, rebuild, type RebuildSummary } from '../processors/rebuild/rebuild.ts';
import { INPUT_TABLE } from '../processors/rebuild/shadowTables.ts';
import { touchpointRow } from '../processors/runtime/rawRows.ts';
import type { TouchpointEvent } from '../schemas/contracts.ts';
import { finish, fmt, freshTopics, log, median, out, RUNS } from './figures.ts';

const EVENTS = Number(process.env.BENCH_REBUILD_EVENTS ?? 300_000);
const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 50_000);
// About a week of event time: customers come back, so memory, drops, spirals and journeys all have work.
const RATE = Number(process.env.BENCH_REBUILD_RATE ?? 0.5);

finish((async () => {
  const base = loadConfig({ ...process.env, CX_CLICKHOUSE_PATH: process.env.CX_CLICKHOUSE_PATH ?? mkdtempSync(join(tmpdir(), 'cx-bench-rebuild-')) });
  const config = freshTopics(base, 'rebuild');
  const kafka = await connectKafka(config, log);
  const admin = kafka.kafka.admin();
  await admin.connect();
  const store = await openStore(config);
  await migrate(store);
  const db = store.database;

  // The log: simulated events stored as raw ingestion stores them, each with its partition and offset.
  const events = takeSimulated({ seed: 13, customers: CUSTOMERS, start: Date.UTC(2026, 10, 1), rate: RATE }, EVENTS * 1.3)
    .filter((e) => e.kind === 'touchpoint')
    .slice(0, EVENTS)
    .map((e) => e.event as TouchpointEvent);
  const view = await kafkaView(admin, config.touchpointsTopic, config.consumerGroup);
  const partitions = view.committed.size;
  const partitionOf = (key: string) => {
    let h = 2166136261;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
    return (h >>> 0) % partitions;
  };
  const offsets = new Array<number>(partitions).fill(0);
  const now = Date.now();
  for (let i = 0; i < events.length; i += 50_000) {
    const rows = events.slice(i, i + 50_000).map((e) => {
      const partition = partitionOf(e.customer_id);
      const offset = String(offsets[partition]!++);
      return touchpointRow(e, 1, { cluster: view.cluster, topic: config.touchpointsTopic, partition, offset, key: null, value: null }, now);
    });
    await store.insert(`${db}.touchpoint_events`, rows, `bench-rebuild:${i}`);
  }
  const span = (events.at(-1)?.occurred_at ?? 0) - (events[0]?.occurred_at ?? 0);
  out('');
  out(`rebuild: ${fmt(events.length)} touchpoint events in touchpoint_events over ${(span / 86_400_000).toFixed(1)} days of event time, ${fmt(CUSTOMERS)} customer slots, ${partitions} partitions, pages of ${fmt(PAGE_ROWS)}, ${RUNS} runs, embedded chdb`);

  const bare: number[] = [];
  const rebuilt: number[] = [];
  const summaries: RebuildSummary[] = [];
  for (let run = 1; run <= RUNS; run++) {
    // Baseline: the same rows, read the way the rebuild reads them, nothing done with them.
    let t = performance.now();
    await store.command(`DROP TABLE IF EXISTS ${db}.${INPUT_TABLE} SYNC`);
    await store.command(
      `CREATE TABLE ${db}.${INPUT_TABLE} ENGINE = MergeTree ORDER BY (occurred_at, event_id) AS
       SELECT event_id, occurred_at, customer_id, journey_id, channel, touchpoint, leg, stage, department, moment_of_truth,
              rating_scale, rating_value, outcome, source_cluster, source_topic, source_partition, source_offset
       FROM ${db}.touchpoint_events FINAL`,
    );
    let read = 0;
    let cursor: { t: number; id: string } | null = null;
    for (;;) {
      const rows: { id: string; t: number | string }[] = await store.query(
        `SELECT toString(event_id) AS id, toUnixTimestamp64Milli(occurred_at) AS t, customer_id, journey_id, channel, touchpoint, leg, stage, department,
                moment_of_truth, rating_scale, rating_value, outcome, source_cluster AS cluster, source_topic AS topic, source_partition AS partition
         FROM ${db}.${INPUT_TABLE}
         WHERE 1 ${cursor ? `AND occurred_at >= fromUnixTimestamp64Milli({t:Int64}, 'UTC') AND (occurred_at, event_id) > (fromUnixTimestamp64Milli({t:Int64}, 'UTC'), toUUID({id:String}))` : ''}
         ORDER BY occurred_at, event_id LIMIT {limit:UInt32}`,
        { t: cursor?.t ?? 0, id: cursor?.id ?? '', limit: PAGE_ROWS },
      );
      read += rows.length;
      const last = rows.at(-1);
      if (!last || rows.length < PAGE_ROWS) break;
      cursor = { t: Number(last.t), id: last.id };
    }
    await store.command(`DROP TABLE ${db}.${INPUT_TABLE} SYNC`);
    if (read !== events.length) throw new Error(`bare read got ${read} rows of ${events.length}`);
    bare.push((read * 1000) / (performance.now() - t));

    t = performance.now();
    const s = await rebuild({
      store,
      params: DEFAULT_PARAMS,
      kafka: await kafkaView(admin, config.touchpointsTopic, config.consumerGroup),
      range: { from: null, to: null },
      assertIdle: async () => {
        if ((await liveMembers(admin, `${config.consumerGroup}.metrics`)).length) throw new Error('a metric worker joined the bench\'s group');
      },
    });
    if (s.events !== events.length) throw new Error(`rebuild folded ${s.events} events of ${events.length}`);
    rebuilt.push((s.events * 1000) / (performance.now() - t));
    summaries.push(s);
    const m = s.ms;
    out(`run ${run}: bare read ${fmt(bare.at(-1) as number)} events/s · rebuild ${fmt(rebuilt.at(-1) as number)} events/s in ${(m.total / 1000).toFixed(1)} s ` +
      `(copy ${fmt(m.snapshot)} ms, read ${fmt(m.read)} ms, folds ${fmt(m.folds)} ms, result inserts ${fmt(m.insert)} ms, stool ${fmt(m.stool)} ms, swap ${fmt(m.swap)} ms, state ${fmt(m.state)} ms)`);
  }
  const last = summaries.at(-1) as RebuildSummary;
  out(`rebuild rows: ${Object.entries(last.rows).map(([t, n]) => `${t} ${fmt(n)}`).join(', ')}; ${fmt(last.handOver?.customers ?? 0)} customers handed over`);
  out(`rebuild from the raw log: median ${fmt(median(rebuilt))} events/s; bare read of the same rows (copy + keyset pages) median ${fmt(median(bare))} events/s in the same run (ratio ${(median(rebuilt) / median(bare)).toFixed(2)})`);

  await admin.disconnect();
  await store.close();
  if (kafka.startedBroker) await stopLocalBroker(base);
})());
