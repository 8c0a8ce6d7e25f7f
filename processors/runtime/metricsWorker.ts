/**
 * The metrics worker: a consumer-group member on the touchpoint topic that runs the
 * metric folds per partition, writes their rows, then checkpoints the partition's
 * keyed state, then commits. On assignment a partition's state is restored from its
 * checkpoint before its first event; messages at or before the checkpoint's offset
 * are skipped. Rows are deterministic, so what a crash replays lands on the same rows.
 *
 * The live stool needs every partition: any worker turns the per-minute cells of all
 * partitions into sliding windows once every partition's watermark has passed them.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Store } from '../../platform/clickhouse/store.ts';
import { whileHeartbeating, type GroupConsumerOptions } from '../../platform/kafka/groupMember.ts';
import type { Logger } from '../../platform/log.ts';
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
  /** Called after a chunk's rows and state are stored and before its offsets are committed (tests inject crashes here). */
  afterStore?: (chunk: { partition: number; lastOffset: string }) => void | Promise<void>;
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
  /** Average bytes of one customer's persisted state (JSON). */
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

export class MetricsWorker extends EventEmitter {
  readonly stats: MetricsStats = {
    consumed: 0, duplicates: 0, calibrationId: '', released: 0, late: 0, rows: {}, checkpoints: 0, restoredCustomers: 0, stateBytesPerCustomer: 0, windows: 0, watermarks: {}, completeTo: null,
    ms: { folds: 0, insert: 0, state: 0, commit: 0, stool: 0 },
  };
  /** The newest live stool window this worker wrote. */
  latestWindow?: StoolWindow;
  private consumer?: Consumer;
  private admin?: Admin;
  private cluster = '';
  private partitionCount = 0;
  /** Partitions this worker owns in the current generation, with their state. */
  private readonly owned = new Map<number, PartitionMetrics>();
  private readonly activity = new Map<number, Activity>();
  /** Partitions of the topic assigned to this worker in the current generation. */
  private readonly assigned = new Set<number>();
  private lock: Promise<unknown> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private stoolRunning = false;
  private stateBytes = 0;
  private stateRows = 0;
  private readonly clock: () => number;
  /** The parameters in force: the options' own, with the active calibration applied at start. */
  private params: MetricParams;
  /** Duplicates of each partition held, from its state. */
  private readonly duplicatesBy = new Map<number, number>();

  constructor(private readonly o: MetricsWorkerOptions) {
    super();
    this.clock = o.clock ?? Date.now;
    this.params = o.params;
  }

  get metricParams(): MetricParams {
    return this.params;
  }

  /** Runs `f` after everything queued before it: batches, idle flushes and rebalances never overlap. */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.lock.then(f, f);
    this.lock = run.catch(() => undefined);
    return run;
  }

  async start(): Promise<void> {
    const { kafka, log, topic } = this.o;
    if ((this.o.calibration ?? 'active') === 'active') {
      const c = await activeCalibration(this.o.store);
      this.params = withCalibration(this.o.params, c);
      if (c) log.info({ calibration: c.id }, 'metrics: memory uses the active calibration\'s weights');
    }
    this.stats.calibrationId = calibrationIdOf(this.params);
    const admin = kafka.admin();
    this.admin = admin;
    await admin.connect();
    this.cluster = (await admin.describeCluster()).clusterId;
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    this.partitionCount = meta.topics[0]?.partitions.length ?? 0;

    const consumer = kafka.consumer(this.o.consumer);
    this.consumer = consumer;
    const forget = () => {
      // Another worker may own these partitions now and move their state on: restore afresh next time.
      this.owned.clear();
      this.activity.clear();
      this.assigned.clear();
      this.stats.watermarks = {};
      this.duplicatesBy.clear();
      this.stats.duplicates = 0;
    };
    consumer.on(consumer.events.REBALANCING, () => void this.serial(async () => forget()));
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const mine = e.payload.memberAssignment[topic] ?? [];
      void this.serial(async () => {
        forget();
        for (const p of mine) this.assigned.add(p);
      });
      log.info({ assignment: e.payload.memberAssignment }, 'metrics: joined consumer group');
    });
    consumer.on(consumer.events.CRASH, (e) => {
      log.error({ err: e.payload.error.message, restart: e.payload.restart }, 'metrics consumer crashed');
      if (!e.payload.restart) this.emit('fatal', e.payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => whileHeartbeating(p.heartbeat, this.o.consumer.heartbeatInterval, () => this.serial(() => this.onBatch(p))) });
    this.timers.push(setInterval(() => void this.serial(() => this.flushIdle()).catch((err) => this.failed('idle flush', err)), Math.min(1000, this.o.idleFlushMs)));
    this.timers.push(setInterval(() => void this.emitStool().catch((err) => this.failed('stool windows', err)), 1000));
  }

  private failed(what: string, err: unknown): void {
    this.o.log.warn({ err: (err as Error).message }, `metrics: ${what} failed; retrying on the next tick`);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.consumer?.disconnect();
    await this.lock;
    while (this.stoolRunning) await new Promise((r) => setTimeout(r, 50));
    await this.admin?.disconnect();
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }: EachBatchPayload): Promise<void> {
    const { topic, partition, messages, highWatermark } = batch;
    for (let i = 0; i < messages.length; i += this.o.chunkSize) {
      if (!isRunning() || isStale()) return;
      await heartbeat();
      const chunk = messages.slice(i, i + this.o.chunkSize);
      const lastOffset = chunk[chunk.length - 1]?.offset as string;
      const pm = await this.partitionState(partition, BigInt(highWatermark));
      const firstNew = chunk.find((m) => pm.isNew(m.offset))?.offset;
      if (firstNew !== undefined && BigInt(firstNew) > pm.offset + 1n) {
        // Committed offsets are ahead of the state (its checkpoint was lost): go back to where the state stands.
        this.o.log.warn({ topic, partition, from: firstNew, state: String(pm.offset) }, 'metrics: committed offset is ahead of the partition state; replaying from the state');
        this.consumer?.seek({ topic, partition, offset: String(pm.offset + 1n) });
        return;
      }
      if (firstNew !== undefined) {
        const out = new MetricOutputs();
        const t = performance.now();
        for (const m of chunk) {
          if (!pm.isNew(m.offset)) continue;
          const event = decodeTouchpoint(this.o.registry, m.value);
          if (event) pm.arrive(touchOf(event), m.offset, out);
          else pm.skip(m.offset);
        }
        this.stats.ms.folds += performance.now() - t;
        this.stats.consumed += chunk.length;
        await this.persistOrForget(partition, pm, out, `${firstNew}-${lastOffset}`);
      }
      this.activity.set(partition, { at: this.clock(), caughtUp: BigInt(lastOffset) + 1n >= BigInt(highWatermark), maxSeen: pm.maxSeen });
      await this.o.afterStore?.({ partition, lastOffset });
      const t = performance.now();
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: (BigInt(lastOffset) + 1n).toString() }] }] });
      this.stats.ms.commit += performance.now() - t;
      resolveOffset(lastOffset);
      this.emit('progress', this.stats);
    }
  }

  /** The partition's state: in memory, or restored from its checkpoint before its first event here. */
  private async partitionState(partition: number, highWatermark: bigint): Promise<PartitionMetrics> {
    const have = this.owned.get(partition);
    if (have) return have;
    const { store, topic, log } = this.o;
    const params = this.params;
    const t = performance.now();
    const rows = await store.query<{ key: string; state: string }>(
      `SELECT key, state FROM ${store.database}.processor_state FINAL
       WHERE stage = {stage:String} AND source_cluster = {cluster:String} AND source_topic = {topic:String} AND source_partition = {partition:UInt32}`,
      { stage: STAGE, cluster: this.cluster, topic, partition },
    );
    const meta = rows.find((r) => r.key === '');
    let pm = meta ? new PartitionMetrics(params, { meta: meta.state, customers: rows.filter((r) => r.key !== '').map((r) => [r.key, r.state]) }) : new PartitionMetrics(params);
    if (meta && pm.offset >= highWatermark) {
      log.warn({ topic, partition, state: String(pm.offset), highWatermark: String(highWatermark) }, 'metrics: the saved state runs past the end of this partition: the topic was recreated; starting it afresh');
      pm = new PartitionMetrics(params);
      // Its old rows would outrank the new ones (higher seq): remove them.
      await store.command(
        `DELETE FROM ${store.database}.processor_state WHERE stage = {stage:String} AND source_cluster = {cluster:String} AND source_topic = {topic:String} AND source_partition = {partition:UInt32}`,
        { stage: STAGE, cluster: this.cluster, topic, partition },
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
    const waiting = [...this.assigned].filter((p) => !this.activity.has(p));
    if (waiting.length === 0 || !this.admin) return;
    const ends = new Map((await this.admin.fetchTopicOffsets(this.o.topic)).map((o) => [o.partition, BigInt(o.high)]));
    for (const partition of waiting) {
      const high = ends.get(partition);
      if (high === undefined || high === 0n) continue;
      const pm = await this.partitionState(partition, high);
      // Still no batch: if there is something to fetch, the batch will set the activity.
      if (!this.activity.has(partition) && pm.offset + 1n >= high) this.activity.set(partition, { at: now, caughtUp: true, maxSeen: pm.maxSeen });
    }
  }

  /**
   * The state in memory has moved past what is stored: if storing fails, drop it, so
   * the retry restores the last checkpoint instead of skipping what was never stored.
   */
  private async persistOrForget(partition: number, pm: PartitionMetrics, out: MetricOutputs, span: string): Promise<void> {
    try {
      await this.persist(partition, pm, out, span);
    } catch (err) {
      this.owned.delete(partition);
      this.activity.delete(partition);
      throw err;
    }
  }

  /** Rows first, then the state that produced them: a crash in between replays into the same rows. */
  private async persist(partition: number, pm: PartitionMetrics, out: MetricOutputs, span: string): Promise<void> {
    const { store, topic } = this.o;
    const params = this.params;
    const db = store.database;
    let t = performance.now();
    const tables = resultRows(out, partition, params);
    for (const [table, rows] of Object.entries(tables)) {
      if (rows.length === 0) continue;
      await store.insert(`${db}.${table}`, rows, `${table}:${this.cluster}:${topic}:${partition}:${span}`);
      this.stats.rows[table] = (this.stats.rows[table] ?? 0) + rows.length;
    }
    this.stats.ms.insert += performance.now() - t;
    this.stats.released += out.released;
    this.stats.late += out.late.length;

    t = performance.now();
    const cp = pm.checkpoint();
    const seq = pm.seq.toString();
    const base = { stage: STAGE, source_cluster: this.cluster, source_topic: topic, source_partition: partition, seq, source_offset: pm.offset.toString(), watermark: cp.watermark };
    const rows = [{ ...base, key: '', state: cp.meta }, ...cp.customers.map(([key, state]) => ({ ...base, key, state }))];
    // The content's hash in the token: after a rebuild hands over a state behind this one, a later checkpoint with an
    // old seq but new content must not be taken for a retry of the old insert (and silently dropped).
    const digest = createHash('sha1').update(cp.meta).digest('hex').slice(0, 16);
    await store.insert(`${db}.processor_state`, rows, `processor_state:${this.cluster}:${topic}:${partition}:${seq}:${digest}`);
    for (const [, s] of cp.customers) this.stateBytes += s.length;
    this.stateRows += cp.customers.length;
    this.stats.stateBytesPerCustomer = this.stateRows ? Math.round(this.stateBytes / this.stateRows) : 0;
    this.stats.checkpoints++;
    this.stats.watermarks[partition] = cp.watermark;
    this.countDuplicates(partition, pm);
    this.stats.ms.state += performance.now() - t;
  }

  /**
   * Partitions that have gone quiet: release what waits for the watermark, so the
   * last events are not held back. A live partition (its events were about as new
   * as the wall clock) also lets its watermark follow the wall clock less the
   * lateness, so its quiet minutes close and it does not hold the live stool back.
   * A backfill's does not: its next events would all be late.
   */
  private async flushIdle(): Promise<void> {
    const now = this.clock();
    const lateness = this.params.latenessMs;
    await this.noticeQuietAssignments(now);
    for (const [partition, a] of this.activity) {
      const pm = this.owned.get(partition);
      if (!pm || !a.caughtUp || now - a.at < this.o.idleFlushMs) continue;
      const live = a.at - a.maxSeen <= lateness + LIVE_MARGIN_MS;
      const upTo = live ? now - lateness : 0;
      if (!pm.wouldFlush(upTo)) continue;
      const out = new MetricOutputs();
      if (!pm.flush(out, upTo)) continue;
      await this.persistOrForget(partition, pm, out, `flush@${pm.seq}`);
      this.emit('progress', this.stats);
    }
  }

  /**
   * End of input (`cx process --until-idle`, a finished backfill): stops fetching, then
   * moves the watermark of every partition this worker holds to the end of the minute
   * of the newest event it holds, so everything waiting is released and every open
   * minute closes; stores that with the usual checkpoint, then writes the stool windows
   * up to there. Later events before that point are late (docs/metrics.md).
   */
  async finishInput(): Promise<{ partitions: number; completeTo: number | null }> {
    const { topic } = this.o;
    this.consumer?.pause([{ topic }]);
    const partitions = await this.serial(async () => {
      const ends = new Map(((await this.admin?.fetchTopicOffsets(topic)) ?? []).map((o) => [o.partition, BigInt(o.high)]));
      const held: [number, PartitionMetrics][] = [];
      for (const partition of [...this.assigned].sort((a, b) => a - b)) {
        const high = ends.get(partition) ?? 0n;
        if (high > 0n) held.push([partition, await this.partitionState(partition, high)]);
      }
      const upTo = inputEndWatermark(Math.max(0, ...held.map(([, pm]) => pm.maxSeen)));
      for (const [partition, pm] of held) {
        const out = new MetricOutputs();
        if (pm.flush(out, upTo)) await this.persistOrForget(partition, pm, out, `end@${pm.seq}`);
      }
      return held.length;
    });
    // Until a pass writes nothing more: each writes at most a day of windows.
    for (;;) {
      const windows = await this.emitStool();
      if (windows === 0) break;
      if (windows === null) await new Promise((r) => setTimeout(r, 50));
    }
    this.emit('progress', this.stats);
    return { partitions, completeTo: this.stats.completeTo };
  }

  /**
   * The live stool over all partitions: the sliding windows ending with each minute
   * that every partition's watermark has passed, from the merged per-minute cells.
   * Any worker may do it; the rows depend only on those cells, so doing it twice is harmless.
   */
  private async emitStool(): Promise<number | null> {
    if (this.stoolRunning) return null;
    if (this.partitionCount === 0) return 0;
    this.stoolRunning = true;
    const t = performance.now();
    try {
      const { store, topic } = this.o;
      const params = this.params;
      const db = store.database;
      const marks = await store.query<{ watermark: number | string }>(
        `SELECT watermark FROM ${db}.processor_state FINAL WHERE stage = {stage:String} AND key = '' AND source_cluster = {cluster:String} AND source_topic = {topic:String}`,
        { stage: STAGE, cluster: this.cluster, topic },
      );
      if (marks.length < this.partitionCount) {
        // Partitions that never had a message hold nothing back.
        const offsets = await this.admin?.fetchTopicOffsets(topic);
        const nonEmpty = (offsets ?? []).filter((o) => BigInt(o.high) > BigInt(o.low)).length;
        if (marks.length < nonEmpty || marks.length === 0) {
          this.stats.completeTo = null;
          return 0;
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
      if (!next || Number(next.c) === 0) return 0;
      const first = Math.max(lastEnd, Number(next.m));
      const until = Math.min(closedUntil, first + WINDOW_BATCH_MINUTES * MINUTE_MS);
      if (first >= until) return 0;
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
      let state: StoolWindowState | undefined;
      const rows: object[] = [];
      let windows = 0;
      for (let m = first - windowMs + MINUTE_MS; m < until; m += MINUTE_MS) {
        const r = stoolWindow(state, { minute: m, cells: byMinute.get(m) ?? [] }, params);
        state = r.state;
        if (m >= first && r.out) {
          rows.push(...legConsistencyRows(r.out));
          windows++;
          this.latestWindow = r.out;
        }
      }
      if (rows.length) {
        await store.insert(`${db}.leg_consistency`, rows, `leg_consistency:${this.cluster}:${topic}:${first}-${until}`);
        this.stats.windows += windows;
        this.stats.rows.leg_consistency = (this.stats.rows.leg_consistency ?? 0) + rows.length;
      }
      return windows;
    } finally {
      this.stats.ms.stool += performance.now() - t;
      this.stoolRunning = false;
    }
  }
}
