/**
 * The metrics stage: on the touchpoint topic, runs the metric folds per partition,
 * writes their rows, then checkpoints each partition's keyed state; the stage runtime
 * commits after that. On assignment a partition's state is restored from its
 * checkpoint before its first event; messages at or before the checkpoint's offset
 * are skipped. Rows are deterministic, so what a crash replays lands on the same rows.
 * A round folds a chunk of every partition fetched and writes one insert per table.
 *
 * The live stool needs every partition: any worker turns the per-minute cells of all
 * partitions into sliding windows once every partition's watermark has passed them.
 */
import { createHash } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { Store } from '../../platform/clickhouse/store.ts';
import type { GroupConsumerOptions } from '../../platform/kafka/groupMember.ts';
import type { Logger } from '../../platform/log.ts';
import { StageRuntime, type Chunk, type Output, type RuntimeOptions, type Stage, type StageContext, type Tick, type Write } from '../../platform/stage/runtime.ts';
import type { SchemaRegistry } from '../../schemas/registry.ts';
import { stoolWindow, type Cell, type StoolWindow, type StoolWindowState } from '../folds/legConsistency.ts';
import { activeCalibration } from '../calibration/stored.ts';
import { calibrationIdOf, MINUTE_MS, withCalibration, type MetricParams } from '../params.ts';
import { inputEndWatermark, MetricOutputs, PartitionMetrics } from '../partitionMetrics.ts';
import { touchOf } from '../touch.ts';
import { decodeTouchpoint } from './classify.ts';
import { chTime } from './rawRows.ts';
import { legConsistencyRows, resultRows } from './resultRows.ts';

export interface MetricsWorkerOptions {
  kafka: Kafka;
  store: Store;
  registry: SchemaRegistry;
  log: Logger;
  /** The group and its timings (platform/kafka/groupMember.ts: consumerOptions). */
  consumer: GroupConsumerOptions;
  topic: string;
  params: MetricParams;
  /** 'active' (the default): at start, memory takes the weights of the active calibration, if any (docs/metrics.md, "Outcome calibration"); else `params` as they are. */
  calibration?: 'active' | 'as-given';
  chunkSize: number;
  idleFlushMs: number;
  /** Called after a round's rows and state are stored and before its offsets are committed (tests inject crashes here). */
  afterStore?: RuntimeOptions['afterStore'];
  clock?: () => number;
}

export interface MetricsStats {
  consumed: number;
  /** Arrivals skipped as duplicates (an event id the customer already had in the dedup window), over the partitions this worker holds, as checkpointed. */
  duplicates: number;
  /** The calibration memory uses ('' = the defaults). */
  calibrationId: string;
  /** Touches that went through the folds. */
  released: number;
  late: number;
  rows: Record<string, number>;
  checkpoints: number;
  /** Customers' state restored from checkpoints on assignment. */
  restoredCustomers: number;
  /** Average bytes of one customer's persisted state. */
  stateBytesPerCustomer: number;
  /** Live stool windows written. */
  windows: number;
  /** Watermark (ms) of each partition this worker holds, as checkpointed: its results before it are final. */
  watermarks: Record<number, number>;
  /**
   * Results are complete before this event time (ms): the lowest checkpointed watermark
   * over every partition of the topic that has messages, whoever holds it. Null until
   * each of them has a checkpoint.
   */
  completeTo: number | null;
  ms: { folds: number; insert: number; state: number; commit: number; stool: number };
}

const STAGE = 'metrics';
const WINDOW_BATCH_MINUTES = 24 * 60;

/** When the partition last had messages, whether it was then at the end of its log, and its newest event time then. */
type Activity = { at: number; caughtUp: boolean; maxSeen: number };

/** A partition whose newest event was at most this much older than the wall clock (plus the lateness) is live. */
const LIVE_MARGIN_MS = 10 * 60_000;

/** Longest stretch a round folds without letting the event loop run. */
const BREATHE_MS = 50;

/** One partition's part of what a round (or a flush) stores. */
type Part = { partition: number; pm: PartitionMetrics; out: MetricOutputs; span: string };

const shortHash = (s: string) => createHash('sha1').update(s).digest('hex').slice(0, 16);

class MetricsStage implements Stage {
  readonly name = 'metrics';
  readonly topics: string[];
  readonly stats: MetricsStats = {
    consumed: 0, duplicates: 0, calibrationId: '', released: 0, late: 0, rows: {}, checkpoints: 0, restoredCustomers: 0, stateBytesPerCustomer: 0, windows: 0, watermarks: {}, completeTo: null,
    ms: { folds: 0, insert: 0, state: 0, commit: 0, stool: 0 },
  };
  /** The newest live stool window this worker wrote. */
  latestWindow?: StoolWindow;
  readonly ticks: Tick[];
  private ctx?: StageContext;
  private partitionCount = 0;
  /** Partitions this worker owns in the current generation, with their state. */
  private readonly owned = new Map<number, PartitionMetrics>();
  private readonly activity = new Map<number, Activity>();
  /** Partitions of the topic assigned to this worker in the current generation. */
  private readonly assigned_ = new Set<number>();
  private stateBytes = 0;
  private stateRows = 0;
  private readonly clock: () => number;
  /** The parameters in force: the options' own, with the active calibration applied at start. */
  params: MetricParams;
  /** Duplicates of each partition held, from its state. */
  private readonly duplicatesBy = new Map<number, number>();

  constructor(private readonly o: MetricsWorkerOptions) {
    this.topics = [o.topic];
    this.clock = o.clock ?? Date.now;
    this.params = o.params;
    this.ticks = [
      { name: 'idle flush', everyMs: Math.min(1000, o.idleFlushMs), serial: true, run: () => this.flushIdle() },
      { name: 'stool windows', everyMs: 1000, serial: false, run: () => this.stoolRound() },
    ];
  }

  async open(ctx: StageContext): Promise<void> {
    this.ctx = ctx;
    const { log, topic } = this.o;
    if ((this.o.calibration ?? 'active') === 'active') {
      const c = await activeCalibration(ctx.store);
      this.params = withCalibration(this.o.params, c);
      if (c) log.info({ calibration: c.id }, 'metrics: memory uses the active calibration\'s weights');
    }
    this.stats.calibrationId = calibrationIdOf(this.params);
    const meta = await ctx.admin.fetchTopicMetadata({ topics: [topic] });
    this.partitionCount = meta.topics[0]?.partitions.length ?? 0;
  }

  revoked(): void {
    // Another worker may own these partitions now and move their state on: restore afresh next time.
    this.owned.clear();
    this.activity.clear();
    this.assigned_.clear();
    this.stats.watermarks = {};
    this.duplicatesBy.clear();
    this.stats.duplicates = 0;
  }

  assigned(assignment: Record<string, number[]>): void {
    for (const p of assignment[this.o.topic] ?? []) this.assigned_.add(p);
  }

  failed(chunks: Chunk[]): void {
    // The state in memory has moved past what is stored: the retry restores the last checkpoint instead of skipping what was never stored.
    for (const c of chunks) {
      this.owned.delete(c.partition);
      this.activity.delete(c.partition);
    }
  }

  async round(chunks: Chunk[]): Promise<Output> {
    const parts: Part[] = [];
    const commit: Chunk[] = [];
    for (const chunk of chunks) {
      const { topic, partition, messages, highWatermark, lastOffset } = chunk;
      const pm = await this.partitionState(partition, highWatermark);
      const firstNew = messages.find((m) => pm.isNew(m.offset))?.offset;
      if (firstNew !== undefined && BigInt(firstNew) > pm.offset + 1n) {
        // Committed offsets are ahead of the state (its checkpoint was lost): go back to where the state stands.
        this.o.log.warn({ topic, partition, from: firstNew, state: String(pm.offset) }, 'metrics: committed offset is ahead of the partition state; replaying from the state');
        this.ctx?.consumer.seek({ topic, partition, offset: String(pm.offset + 1n) });
        continue;
      }
      commit.push(chunk);
      if (firstNew !== undefined) {
        const out = new MetricOutputs();
        let t = performance.now();
        let slice = t;
        for (let k = 0; k < messages.length; k++) {
          const m = messages[k] as (typeof messages)[number];
          if (!pm.isNew(m.offset)) continue;
          const event = decodeTouchpoint(this.o.registry, m.value);
          if (event) pm.arrive(touchOf(event), m.offset, out);
          else pm.skip(m.offset);
          // A large round folds for a while: let the event loop run (heartbeats, fetches, the status) every ~50 ms.
          if ((k & 511) === 511 && performance.now() - slice > BREATHE_MS) {
            this.stats.ms.folds += performance.now() - t;
            await new Promise((r) => setImmediate(r));
            t = slice = performance.now();
          }
        }
        this.stats.ms.folds += performance.now() - t;
        parts.push({ partition, pm, out, span: `${firstNew}-${lastOffset}` });
      }
      this.stats.consumed += messages.length;
      this.activity.set(partition, { at: this.clock(), caughtUp: BigInt(lastOffset) + 1n >= highWatermark, maxSeen: pm.maxSeen });
    }
    return { ...this.persist(parts), commit };
  }

  /** The partition's state: in memory, or restored from its checkpoint before its first event here. */
  private async partitionState(partition: number, highWatermark: bigint): Promise<PartitionMetrics> {
    const have = this.owned.get(partition);
    if (have) return have;
    const { topic, log } = this.o;
    const ctx = this.ctx as StageContext;
    const store = ctx.store;
    const params = this.params;
    const t = performance.now();
    const rows = await store.query<{ key: string; state: string }>(
      `SELECT key, state FROM ${store.database}.processor_state FINAL
       WHERE stage = {stage:String} AND source_cluster = {cluster:String} AND source_topic = {topic:String} AND source_partition = {partition:UInt32}`,
      { stage: STAGE, cluster: ctx.cluster, topic, partition },
    );
    const meta = rows.find((r) => r.key === '');
    let pm = meta ? new PartitionMetrics(params, { meta: meta.state, customers: rows.filter((r) => r.key !== '').map((r) => [r.key, r.state]) }) : new PartitionMetrics(params);
    if (meta && pm.offset >= highWatermark) {
      log.warn({ topic, partition, state: String(pm.offset), highWatermark: String(highWatermark) }, 'metrics: the saved state runs past the end of this partition: the topic was recreated; starting it afresh');
      pm = new PartitionMetrics(params);
      // Its old rows would outrank the new ones (higher seq): remove them.
      await store.command(
        `DELETE FROM ${store.database}.processor_state WHERE stage = {stage:String} AND source_cluster = {cluster:String} AND source_topic = {topic:String} AND source_partition = {partition:UInt32}`,
        { stage: STAGE, cluster: ctx.cluster, topic, partition },
      );
    } else if (meta) {
      this.stats.restoredCustomers += pm.customers.size;
      log.info({ topic, partition, offset: String(pm.offset), customers: pm.customers.size, ms: Math.round(performance.now() - t) }, 'metrics: restored partition state');
      if (pm.calibrationChangedFrom !== undefined) {
        log.warn(
          { topic, partition, builtWith: pm.calibrationChangedFrom || 'the defaults', now: calibrationIdOf(params) || 'the defaults' },
          'metrics: this partition\'s memory was built with other weights than the ones in force now; new experiences add to it with the new weights. `npx cx rebuild` recomputes history with one set',
        );
      }
      this.stats.watermarks[partition] = pm.watermark;
      this.countDuplicates(partition, pm);
    }
    this.owned.set(partition, pm);
    return pm;
  }

  private countDuplicates(partition: number, pm: PartitionMetrics): void {
    this.duplicatesBy.set(partition, pm.duplicates);
    let sum = 0;
    for (const d of this.duplicatesBy.values()) sum += d;
    this.stats.duplicates = sum;
  }

  /**
   * A partition assigned with nothing left to fetch gets no batch, so nothing would
   * ever flush it: restore its state now and count it as quiet from here.
   */
  private async noticeQuietAssignments(now: number): Promise<void> {
    const waiting = [...this.assigned_].filter((p) => !this.activity.has(p));
    if (waiting.length === 0 || !this.ctx) return;
    const ends = new Map((await this.ctx.admin.fetchTopicOffsets(this.o.topic)).map((o) => [o.partition, BigInt(o.high)]));
    for (const partition of waiting) {
      const high = ends.get(partition);
      if (high === undefined || high === 0n) continue;
      const pm = await this.partitionState(partition, high);
      // Still no batch: if there is something to fetch, the batch will set the activity.
      if (!this.activity.has(partition) && pm.offset + 1n >= high) this.activity.set(partition, { at: now, caughtUp: true, maxSeen: pm.maxSeen });
    }
  }

  /**
   * The writes of some partitions' outputs: one insert per result table, then one of
   * their checkpoints (rows first, then the state that produced them: a crash in
   * between replays into the same rows). Each token names the partitions and spans,
   * so a retried insert lands once.
   */
  persist(parts: Part[]): Output {
    if (parts.length === 0) return { writes: [] };
    const { topic } = this.o;
    const cluster = this.ctx?.cluster ?? '';
    const params = this.params;
    const spans = parts.map((p) => `${p.partition}:${p.span}`).join(',');
    const byTable = new Map<string, object[]>();
    let released = 0;
    let late = 0;
    for (const { partition, out } of parts) {
      for (const [table, rows] of Object.entries(resultRows(out, partition, params))) {
        if (rows.length === 0) continue;
        const all = byTable.get(table);
        if (all) for (const r of rows) all.push(r);
        else byTable.set(table, rows);
      }
      released += out.released;
      late += out.late.length;
    }
    const t = performance.now();
    const state: object[] = [];
    const keys: string[] = [];
    let stateBytes = 0;
    let stateRows = 0;
    const marks: [number, PartitionMetrics, number][] = [];
    for (const { partition, pm } of parts) {
      const cp = pm.checkpoint();
      const seq = pm.seq.toString();
      const base = { stage: STAGE, source_cluster: cluster, source_topic: topic, source_partition: partition, seq, source_offset: pm.offset.toString(), watermark: cp.watermark };
      state.push({ ...base, key: '', state: cp.meta });
      for (const [key, s] of cp.customers) {
        state.push({ ...base, key, state: s });
        stateBytes += s.length;
      }
      stateRows += cp.customers.length;
      // The content's hash in the token: after a rebuild hands over a state behind this one, a later checkpoint with an
      // old seq but new content must not be taken for a retry of the old insert (and silently dropped).
      keys.push(`${partition}:${seq}:${shortHash(cp.meta)}`);
      marks.push([partition, pm, cp.watermark]);
    }
    const joined = keys.join(',');
    // The result rows' tokens name the spans and the checkpoints they lead to: an idle flush after a failed
    // store can reach the same seq with other rows (its watermark follows the wall clock), and must not be
    // taken for a retry of the earlier insert.
    const content = shortHash(`${spans}|${joined}`);
    const writes: Write[] = [...byTable].map(([table, rows]) => ({ table, rows, token: `${table}:${cluster}:${topic}:${spans.length > 120 ? '' : `${spans}:`}${content}` }));
    writes.push({ table: 'processor_state', rows: state, token: `processor_state:${cluster}:${topic}:${joined.length > 200 ? shortHash(joined) : joined}` });
    const checkpointMs = performance.now() - t;
    const started = performance.now();
    return {
      writes,
      failed: () => this.forgetParts(parts),
      stored: () => {
        const storeMs = performance.now() - started;
        this.stats.ms.insert += storeMs;
        this.stats.ms.state += checkpointMs;
        for (const [table, rows] of byTable) this.stats.rows[table] = (this.stats.rows[table] ?? 0) + rows.length;
        this.stats.released += released;
        this.stats.late += late;
        this.stateBytes += stateBytes;
        this.stateRows += stateRows;
        this.stats.stateBytesPerCustomer = this.stateRows ? Math.round(this.stateBytes / this.stateRows) : 0;
        this.stats.checkpoints += parts.length;
        for (const [partition, pm, watermark] of marks) {
          this.stats.watermarks[partition] = watermark;
          this.countDuplicates(partition, pm);
        }
      },
    };
  }

  /**
   * Partitions that have gone quiet: release what waits for the watermark, so the
   * last events are not held back. A live partition (its events were about as new
   * as the wall clock) also lets its watermark follow the wall clock less the
   * lateness, so its quiet minutes close and it does not hold the live stool back.
   * A backfill's does not: its next events would all be late.
   */
  private async flushIdle(): Promise<Output | null> {
    const now = this.clock();
    const lateness = this.params.latenessMs;
    await this.noticeQuietAssignments(now);
    const parts: Part[] = [];
    for (const [partition, a] of this.activity) {
      const pm = this.owned.get(partition);
      if (!pm || !a.caughtUp || now - a.at < this.o.idleFlushMs) continue;
      const live = a.at - a.maxSeen <= lateness + LIVE_MARGIN_MS;
      const upTo = live ? now - lateness : 0;
      if (!pm.wouldFlush(upTo)) continue;
      const out = new MetricOutputs();
      if (pm.flush(out, upTo)) parts.push({ partition, pm, out, span: `flush@${pm.seq}` });
    }
    return parts.length ? this.persist(parts) : null;
  }

  /**
   * End of input (`cx process --until-idle`, a finished backfill): moves the watermark
   * of every partition this worker holds to the end of the minute of the newest event
   * it holds, so everything waiting is released and every open minute closes, and
   * returns that as one output to store with the usual checkpoint. Later events before
   * that point are late (docs/metrics.md).
   */
  async finishParts(): Promise<{ parts: Part[]; held: number }> {
    const ends = new Map(((await this.ctx?.admin.fetchTopicOffsets(this.o.topic)) ?? []).map((o) => [o.partition, BigInt(o.high)]));
    const held: [number, PartitionMetrics][] = [];
    for (const partition of [...this.assigned_].sort((a, b) => a - b)) {
      const high = ends.get(partition) ?? 0n;
      if (high > 0n) held.push([partition, await this.partitionState(partition, high)]);
    }
    const upTo = inputEndWatermark(Math.max(0, ...held.map(([, pm]) => pm.maxSeen)));
    const parts: Part[] = [];
    for (const [partition, pm] of held) {
      const out = new MetricOutputs();
      if (pm.flush(out, upTo)) parts.push({ partition, pm, out, span: `end@${pm.seq}` });
    }
    return { parts, held: held.length };
  }

  /** Forgets partitions whose store failed outside a round. */
  forgetParts(parts: Part[]): void {
    for (const p of parts) {
      this.owned.delete(p.partition);
      this.activity.delete(p.partition);
    }
  }

  /**
   * The live stool over all partitions: the sliding windows ending with each minute
   * that every partition's watermark has passed, from the merged per-minute cells.
   * Any worker may do it; the rows depend only on those cells, so doing it twice is harmless.
   */
  async stoolRound(): Promise<Output | null> {
    if (this.partitionCount === 0) return null;
    const t = performance.now();
    try {
      const { topic } = this.o;
      const ctx = this.ctx as StageContext;
      const store = ctx.store;
      const params = this.params;
      const db = store.database;
      const marks = await store.query<{ watermark: number | string }>(
        `SELECT watermark FROM ${db}.processor_state FINAL WHERE stage = {stage:String} AND key = '' AND source_cluster = {cluster:String} AND source_topic = {topic:String}`,
        { stage: STAGE, cluster: ctx.cluster, topic },
      );
      if (marks.length < this.partitionCount) {
        // Partitions that never had a message hold nothing back.
        const offsets = await ctx.admin.fetchTopicOffsets(topic);
        const nonEmpty = (offsets ?? []).filter((o) => BigInt(o.high) > BigInt(o.low)).length;
        if (marks.length < nonEmpty || marks.length === 0) {
          this.stats.completeTo = null;
          return this.wrote(0);
        }
      }
      const low = Math.min(...marks.map((m) => Number(m.watermark)));
      this.stats.completeTo = low;
      const closedUntil = low - (((low % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
      const windowMs = params.windowMinutes * MINUTE_MS;
      const [last] = await store.query<{ end: number | string }>(`SELECT toUnixTimestamp(max(window_end)) * 1000 AS end FROM ${db}.leg_consistency`);
      const lastEnd = Number(last?.end ?? 0);
      const [next] = await store.query<{ m: number | string; c: number | string }>(
        `SELECT toUnixTimestamp(min(minute)) * 1000 AS m, count() AS c FROM ${db}.cell_minute WHERE minute >= {from:DateTime} AND minute < {until:DateTime}`,
        { from: chTime(Math.max(0, lastEnd - windowMs + MINUTE_MS)).slice(0, 19), until: chTime(closedUntil).slice(0, 19) },
      );
      if (!next || Number(next.c) === 0) return this.wrote(0);
      const first = Math.max(lastEnd, Number(next.m));
      const until = Math.min(closedUntil, first + WINDOW_BATCH_MINUTES * MINUTE_MS);
      if (first >= until) return this.wrote(0);
      const cells = await store.query<{ minute_ms: number | string; leg: Cell['leg']; channel: string; touchpoint: string; events: number | string; n: number | string; sum_x: number; sum_x2: number; bad: number | string; good: number | string; impressed: number | string }>(
        `SELECT toUnixTimestamp(minute) * 1000 AS minute_ms, leg, channel, touchpoint, sum(events) AS events, sum(n) AS n, sum(sum_x) AS sum_x, sum(sum_x2) AS sum_x2,
                sum(bad) AS bad, sum(good) AS good, sum(impressed) AS impressed
         FROM ${db}.cell_minute FINAL
         WHERE minute >= {from:DateTime} AND minute < {until:DateTime}
         GROUP BY minute_ms, leg, channel, touchpoint
         ORDER BY minute_ms, leg, channel, touchpoint`,
        { from: chTime(first - windowMs + MINUTE_MS).slice(0, 19), until: chTime(until).slice(0, 19) },
      );
      const byMinute = new Map<number, Cell[]>();
      for (const c of cells) {
        const minute = Number(c.minute_ms);
        const cell: Cell = { leg: c.leg, channel: c.channel, touchpoint: c.touchpoint, events: Number(c.events), n: Number(c.n), sumX: Number(c.sum_x), sumX2: Number(c.sum_x2), bad: Number(c.bad), good: Number(c.good), impressed: Number(c.impressed) };
        const list = byMinute.get(minute);
        if (list) list.push(cell);
        else byMinute.set(minute, [cell]);
      }
      let newest: StoolWindow | undefined;
      let state: StoolWindowState | undefined;
      const rows: object[] = [];
      let windows = 0;
      for (let m = first - windowMs + MINUTE_MS; m < until; m += MINUTE_MS) {
        const r = stoolWindow(state, { minute: m, cells: byMinute.get(m) ?? [] }, params);
        state = r.state;
        if (m >= first && r.out) {
          rows.push(...legConsistencyRows(r.out));
          windows++;
          newest = r.out;
        }
      }
      if (rows.length === 0) return this.wrote(0);
      return {
        writes: [{ table: 'leg_consistency', rows, token: `leg_consistency:${ctx.cluster}:${topic}:${first}-${until}` }],
        hook: false,
        stored: () => {
          this.latestWindow = newest;
          this.stats.windows += windows;
          this.stats.rows.leg_consistency = (this.stats.rows.leg_consistency ?? 0) + rows.length;
          this.lastWindows = windows;
        },
      };
    } finally {
      this.stats.ms.stool += performance.now() - t;
    }
  }

  /** Windows the last stool round wrote (0: it was up to date). */
  lastWindows = 0;

  private wrote(windows: number): null {
    this.lastWindows = windows;
    return null;
  }
}

/**
 * The metrics worker: a consumer-group member running the metrics stage.
 * Events: 'progress' (stats) after each stored round; 'fatal' (Error).
 */
export class MetricsWorker extends StageRuntime<MetricsStage> {
  constructor(o: MetricsWorkerOptions) {
    super(new MetricsStage(o), { kafka: o.kafka, store: o.store, log: o.log, consumer: o.consumer, chunkSize: o.chunkSize, afterStore: o.afterStore, clock: o.clock }, () => this.stats);
  }

  get stats(): MetricsStats {
    this.stage.stats.ms.commit = this.timing.ms.commit;
    return this.stage.stats;
  }

  /** The newest live stool window this worker wrote. */
  get latestWindow(): StoolWindow | undefined {
    return this.stage.latestWindow;
  }

  get metricParams(): MetricParams {
    return this.stage.params;
  }

  /**
   * End of input (`cx process --until-idle`, a finished backfill): stops fetching,
   * closes every open minute of the partitions held (MetricsStage.finishParts), stores
   * that with the usual checkpoint, then writes the stool windows up to there.
   */
  async finishInput(): Promise<{ partitions: number; completeTo: number | null }> {
    this.consumer?.pause([{ topic: this.stage.topics[0] as string }]);
    const partitions = await this.serial(async () => {
      const { parts, held } = await this.stage.finishParts();
      const out = this.stage.persist(parts);
      await this.storeNow(out);
      return held;
    });
    // Until a pass writes nothing more: each writes at most a day of windows.
    do await this.runNow('stool windows');
    while (this.stage.lastWindows > 0);
    this.emit('progress', this.stats);
    return { partitions, completeTo: this.stats.completeTo };
  }
}
