/**
 * `cx rebuild`: every result table recomputed from the raw log (docs/metrics.md,
 * "Rebuild from the raw log"). The stored touchpoint events go, per source
 * partition and in event-time order, through the same PartitionMetrics and the same
 * row builders (resultRows) as the live metrics worker, into copies of the result
 * tables that are swapped in at the end. The folds' state then becomes the metrics
 * stage's checkpoint, so the live workers carry on from it.
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../../platform/clickhouse/store.ts';
import type { TouchpointEvent } from '../../schemas/contracts.ts';
import { minuteOf, type MetricParams } from '../params.ts';
import { MetricOutputs, PartitionMetrics } from '../partitionMetrics.ts';
import { resultRows, type ResultTable } from '../runtime/resultRows.ts';
import { touchOf } from '../touch.ts';
import type { KafkaView } from './handOver.ts';
import { INPUT_TABLE, isFullRange, REBUILT_TABLES, ShadowTables, stagingOf, type Range } from './shadowTables.ts';
import { writeStoolWindows } from './stoolWindows.ts';

/** The processor_state stage of the metric folds (metricsWorker.ts). */
const STAGE = 'metrics';
/** Rows read, folded and written per round: bounds memory, whatever the size of the log. */
export const PAGE_ROWS = 50_000;
/** Not projections of touchpoint events through these folds; left as they are. */
export const NOT_REBUILT = ['touchpoint_health', 'alerts', 'alert_deliveries'] as const;

export interface RebuildOptions {
  store: Store;
  params: MetricParams;
  kafka: KafkaView;
  /** Throws (RebuildRefusedError) while a metric worker is live: asked before anything changes, and again just before the swap. */
  assertIdle: (when: 'before' | 'before the swap') => Promise<void>;
  range: Range;
  pageRows?: number;
  onProgress?: (folded: number, total: number) => void;
  onPhase?: (what: string) => void;
}

/** One source partition's folds (per cluster and topic, as the live state is kept). */
interface Group {
  cluster: string;
  topic: string;
  partition: number;
  pm: PartitionMetrics;
  out: MetricOutputs;
  events: number;
  /** Offset of the last message the rebuilt state covers (the hand-over cut). */
  cut: bigint;
  /** Next offset given to the folds: they take offsets in increasing order, and event-time order is not offset order. */
  next: number;
  /** How the partition's event clock was left: as the live worker's own checkpoint had it, as a worker that had just read the cut, or flushed to --to. */
  end: 'live' | 'natural' | 'to';
}

export interface PartitionCut {
  cluster: string;
  topic: string;
  partition: number;
  events: number;
  /** The last offset the handed-over state covers; live processing resumes after it. */
  cut: string;
  watermark: number;
  end: Group['end'];
}

export interface RebuildSummary {
  events: number;
  partitions: number;
  /** Rows of each rebuilt table (FINAL) after the swap. */
  rows: Record<ResultTable, number>;
  windows: number;
  /** The state given to the live processors; null with --to before the end of the log (the live state stays). */
  handOver: { partitions: PartitionCut[]; customers: number } | null;
  /** Lowest watermark of the rebuilt partitions of the current topic: results are complete before it. */
  completeTo: number | null;
  ms: { snapshot: number; read: number; folds: number; insert: number; stool: number; swap: number; state: number; total: number };
}

interface InputRow {
  id: string;
  t: number | string;
  customer_id: string;
  journey_id: string;
  channel: TouchpointEvent['channel'];
  touchpoint: string;
  leg: TouchpointEvent['leg'];
  stage: TouchpointEvent['stage'];
  department: string;
  moment_of_truth: boolean;
  rating_scale: NonNullable<TouchpointEvent['rating']>['scale'] | null;
  rating_value: number | null;
  outcome: TouchpointEvent['outcome'];
  cluster: string;
  topic: string;
  partition: number | string;
}

const groupKey = (cluster: string, topic: string, partition: number) => `${cluster}\u0000${topic}\u0000${partition}`;

/** The stored event as the folds take it (the same TouchpointEvent the live worker decodes; attributes play no part in the folds). */
function eventOf(r: InputRow): TouchpointEvent {
  return {
    event_id: r.id,
    occurred_at: Number(r.t),
    customer_id: r.customer_id,
    journey_id: r.journey_id,
    channel: r.channel,
    touchpoint: r.touchpoint,
    leg: r.leg,
    stage: r.stage,
    department: r.department,
    moment_of_truth: Boolean(r.moment_of_truth),
    rating: r.rating_scale === null ? null : { scale: r.rating_scale, value: Number(r.rating_value) },
    outcome: r.outcome,
    attributes: {},
  };
}

export class RebuildInputError extends Error {
  override name = 'RebuildInputError';
}

export async function rebuild(o: RebuildOptions): Promise<RebuildSummary> {
  const { store, params: p, kafka, range } = o;
  const db = store.database;
  const pageRows = o.pageRows ?? PAGE_ROWS;
  // Tokens of this run only: the live tables' deduplication logs must never take a rebuilt row for a replay.
  const token = `rebuild:${Date.now()}:${randomUUID().slice(0, 8)}`;
  const ms = { snapshot: 0, read: 0, folds: 0, insert: 0, stool: 0, swap: 0, state: 0, total: 0 };
  const t0 = performance.now();
  const phase = (what: string) => o.onPhase?.(what);

  await o.assertIdle('before');
  const shadow = new ShadowTables(store);
  await shadow.prepare();
  try {
    // 1. The input, copied once in event-time order: later pages read it by its key, and raw ingest may go on meanwhile.
    phase('copying the raw touchpoint events in event-time order');
    let t = performance.now();
    await store.command(
      `CREATE TABLE ${db}.${INPUT_TABLE} ENGINE = MergeTree ORDER BY (occurred_at, event_id) AS
       SELECT event_id, occurred_at, customer_id, journey_id, channel, touchpoint, leg, stage, department, moment_of_truth,
              rating_scale, rating_value, outcome, source_cluster, source_topic, source_partition, source_offset
       FROM ${db}.touchpoint_events FINAL`,
    );
    const stats = await store.query<{ cluster: string; topic: string; partition: number | string; events: number | string; before_to: number | string; max_offset: string }>(
      `SELECT source_cluster AS cluster, source_topic AS topic, source_partition AS partition, count() AS events,
              countIf(${range.to === null ? '1' : `occurred_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`}) AS before_to, toString(max(source_offset)) AS max_offset
       FROM ${db}.${INPUT_TABLE} GROUP BY cluster, topic, partition ORDER BY cluster, topic, partition`,
      { to: range.to ?? 0 },
    );
    ms.snapshot = performance.now() - t;

    // 2. The partitions, and the cut of each: the rebuilt state covers every message up to it.
    // With --to before the newest stored event, the log goes on after the rebuilt span: no hand-over.
    const handOver = stats.every((s) => Number(s.events) === Number(s.before_to));
    const groups = new Map<string, Group>();
    const addGroup = (cluster: string, topic: string, partition: number, events: number, cut: bigint) =>
      groups.set(groupKey(cluster, topic, partition), { cluster, topic, partition, pm: new PartitionMetrics(p), out: new MetricOutputs(), events, cut, next: 0, end: 'natural' });
    for (const s of stats) {
      const partition = Number(s.partition);
      const current = s.cluster === kafka.cluster && s.topic === kafka.topic;
      // Everything before the raw ingest group's committed offset is stored (a touchpoint row or a dead letter), and so is every
      // offset up to the highest one stored (each chunk lands in offset order: processors/runtime/storedOffsets.ts).
      const committed = current ? (kafka.committed.get(partition) ?? -1n) : -1n;
      const maxStored = BigInt(s.max_offset);
      const cut = committed - 1n > maxStored ? committed - 1n : maxStored;
      const events = Number(s.before_to);
      if (handOver && BigInt(events) > cut + 1n) {
        throw new RebuildInputError(
          `touchpoint_events holds ${events} events of ${s.topic} partition ${partition} (Kafka cluster ${s.cluster}) at offsets up to ${cut}, more than there are offsets: ` +
            'rows of a deleted topic and of the one recreated under its name share those offsets, and the live state can only follow one of them. ' +
            'Delete the old topic\'s rows from touchpoint_events (they differ by ingested_at), or rebuild a span that ends before the new rows with --to (no hand-over then).',
        );
      }
      addGroup(s.cluster, s.topic, partition, events, cut);
    }
    if (handOver) {
      // A partition whose messages were all dead letters still has a live checkpoint (its offset moved on): it gets one too.
      for (const [partition, committed] of kafka.committed) {
        if (committed > 0n && !groups.has(groupKey(kafka.cluster, kafka.topic, partition))) addGroup(kafka.cluster, kafka.topic, partition, 0, committed - 1n);
      }
    }
    const total = [...groups.values()].reduce((a, g) => a + g.events, 0);
    const liveMeta = new Map(
      (await store.query<{ cluster: string; topic: string; partition: number | string; offset: string; watermark: number | string }>(
        `SELECT source_cluster AS cluster, source_topic AS topic, source_partition AS partition, toString(source_offset) AS offset, watermark
         FROM ${db}.processor_state FINAL WHERE stage = {stage:String} AND key = ''`,
        { stage: STAGE },
      )).map((r) => [groupKey(r.cluster, r.topic, Number(r.partition)), { offset: BigInt(r.offset), watermark: Number(r.watermark) }]),
    );

    // 3. The folds, page by page in event-time order (occurred_at, then event id: the order the live clock releases them in).
    let page = 0;
    // One page's inserts run (in the engine's threads) while the next page is read and folded; never two at once.
    let writing: Promise<void> = Promise.resolve();
    const writeOutputs = async () => {
      // Rows now: a journey's row is read off its live state, which the next page moves on.
      const tables = new Map<string, object[]>();
      for (const g of groups.values()) {
        for (const [table, rows] of Object.entries(resultRows(g.out, g.partition, p))) {
          const into = tables.get(table) ?? [];
          for (const r of rows) into.push(r);
          tables.set(table, into);
        }
        g.out = new MetricOutputs();
      }
      await writing;
      const n = page++;
      const w = (async () => {
        const ti = performance.now();
        for (const [table, rows] of tables) if (rows.length) await store.insert(`${db}.${stagingOf(table)}`, rows, `${token}:${table}:${n}`);
        ms.insert += performance.now() - ti;
      })();
      w.catch(() => undefined); // awaited before the next write and at the end; a failure surfaces there
      writing = w;
    };
    phase(`folding ${total.toLocaleString('en-US')} events`);
    o.onProgress?.(0, total);
    let folded = 0;
    let cursor: { t: number; id: string } | null = null;
    for (;;) {
      t = performance.now();
      const rows: InputRow[] = await store.query<InputRow>(
        `SELECT toString(event_id) AS id, toUnixTimestamp64Milli(occurred_at) AS t, customer_id, journey_id, channel, touchpoint, leg, stage, department,
                moment_of_truth, rating_scale, rating_value, outcome, source_cluster AS cluster, source_topic AS topic, source_partition AS partition
         FROM ${db}.${INPUT_TABLE}
         WHERE ${range.to === null || handOver ? '1' : `occurred_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`}
           ${cursor ? `AND occurred_at >= fromUnixTimestamp64Milli({t:Int64}, 'UTC') AND (occurred_at, event_id) > (fromUnixTimestamp64Milli({t:Int64}, 'UTC'), toUUID({id:String}))` : ''}
         ORDER BY occurred_at, event_id
         LIMIT {limit:UInt32}`,
        { to: range.to ?? 0, t: cursor?.t ?? 0, id: cursor?.id ?? '', limit: pageRows },
      );
      ms.read += performance.now() - t;
      t = performance.now();
      for (const r of rows) {
        const g = groups.get(groupKey(r.cluster, r.topic, Number(r.partition))) as Group;
        g.pm.arrive(touchOf(eventOf(r)), String(g.next++), g.out);
      }
      ms.folds += performance.now() - t;
      if (rows.length === 0) break;
      folded += rows.length;
      const last = rows[rows.length - 1] as InputRow;
      cursor = { t: Number(last.t), id: last.id };
      await writeOutputs();
      o.onProgress?.(folded, total);
      if (rows.length < pageRows) break;
    }
    if (folded !== total) throw new Error(`rebuild read ${folded} events of the ${total} it counted in ${INPUT_TABLE}: the input changed while it was read`);

    // 4. The end of the input, per partition.
    for (const [key, g] of groups) {
      if (!handOver) {
        // The span ends at --to: everything before it is released and every minute before it closes.
        g.pm.flush(g.out, range.to as number);
        g.end = 'to';
        continue;
      }
      g.pm.skip(g.cut.toString());
      // Where the live worker had moved this partition's clock at the same offset (its idle flush, or `cx process --until-idle`),
      // the rebuilt one goes too, so the live processors carry on exactly as they would have. Otherwise it stays where a worker
      // that had just read the cut would have it, and the live worker's own idle flush takes it on from there.
      const live = liveMeta.get(key);
      if (live && live.offset === g.cut && live.watermark > g.pm.watermark) {
        g.pm.flush(g.out, live.watermark);
        g.end = 'live';
      }
    }
    await writeOutputs();
    await writing;

    // 5. The stool windows, from the cells that will be live: up to the minute every partition's watermark has passed.
    t = performance.now();
    const current = [...groups.values()].filter((g) => g.cluster === kafka.cluster && g.topic === kafka.topic);
    const clocked = handOver && current.length ? current : [...groups.values()];
    const low = clocked.length ? Math.min(...clocked.map((g) => g.pm.watermark)) : null;
    const incoming = new Map<ResultTable, string>();
    for (const table of REBUILT_TABLES) if (table !== 'leg_consistency') incoming.set(table, await shadow.assemble(table, range));
    let windows = 0;
    if (low !== null) {
      const closedUntil = minuteOf(low);
      const untilMinute = range.to === null ? closedUntil : Math.min(closedUntil, range.to);
      windows = await writeStoolWindows(store, incoming.get('cell_minute') as string, stagingOf('leg_consistency'), p, { fromMinute: range.from, untilMinute }, token);
    }
    incoming.set('leg_consistency', await shadow.assemble('leg_consistency', range));
    ms.stool = performance.now() - t;

    // 6. The checkpoints to hand over, built before the swap so that the swap and the state follow each other closely.
    const handed = handOver ? [...groups.values()] : [];
    const checkpoints = handed.map((g) => {
      const cp = g.pm.checkpoint();
      const base = { stage: STAGE, source_cluster: g.cluster, source_topic: g.topic, source_partition: g.partition, seq: g.pm.seq.toString(), source_offset: g.pm.offset.toString(), watermark: cp.watermark };
      return { g, rows: [{ ...base, key: '', state: cp.meta }, ...cp.customers.map(([key, state]) => ({ ...base, key, state }))] };
    });

    // 7. Swap in, then hand over. Readers saw the old results until here.
    await o.assertIdle('before the swap');
    phase(isFullRange(range) ? 'swapping the rebuilt tables in' : 'swapping the rebuilt range in');
    t = performance.now();
    await shadow.swapIn(incoming);
    ms.swap = performance.now() - t;
    t = performance.now();
    let customers = 0;
    for (const { g, rows } of checkpoints) {
      // The live rows may carry a higher seq than the rebuilt ones, so they go first; each partition's checkpoint is one insert, as live.
      await store.command(
        `DELETE FROM ${db}.processor_state WHERE stage = {stage:String} AND source_cluster = {cluster:String} AND source_topic = {topic:String} AND source_partition = {partition:UInt32}`,
        { stage: STAGE, cluster: g.cluster, topic: g.topic, partition: g.partition },
      );
      await store.insert(`${db}.processor_state`, rows, `${token}:processor_state:${g.cluster}:${g.topic}:${g.partition}`);
      customers += rows.length - 1;
    }
    ms.state = performance.now() - t;

    const rows = {} as Record<ResultTable, number>;
    for (const table of REBUILT_TABLES) {
      const [r] = await store.query<{ n: number | string }>(`SELECT count() AS n FROM ${db}.${table} FINAL`);
      rows[table] = Number(r?.n ?? 0);
    }
    ms.total = performance.now() - t0;
    return {
      events: folded,
      partitions: groups.size,
      rows,
      windows,
      handOver: handOver
        ? {
            customers,
            partitions: handed.map((g) => ({ cluster: g.cluster, topic: g.topic, partition: g.partition, events: g.events, cut: g.cut.toString(), watermark: g.pm.watermark, end: g.end })),
          }
        : null,
      completeTo: low,
      ms,
    };
  } finally {
    // After a swap these hold the old rows; after a failure, the unfinished rebuilt ones. Either way nothing reads them.
    await shadow.dropAll();
  }
}
