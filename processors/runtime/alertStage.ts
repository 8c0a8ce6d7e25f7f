/**
 * The alert stage: folds the merged per-minute touchpoint counts into touchpoint
 * health rows and alert lifecycle changes (touchpoint degradation and legs below E),
 * stores them, then publishes the changes to the alerts topic as AlertEvent.
 *
 * It runs a minute once every partition's watermark has passed it, which is when the
 * minute's stool window exists in `leg_consistency`: the cells in `cell_minute` are
 * final by then, and the window gives the leg scores.
 *
 * One worker runs it: the owner of partition 0 of the alerts topic in the
 * `<group>.alerts` consumer group. On taking over, it reads the alerts topic to its
 * end to learn the last change published, and it restores its state from
 * `processor_state`. Each round stores rows, then state, then publishes every stored
 * change after the last published one, in (changed_at, alert_id, version) order.
 * Rows and ids are deterministic, so a crash at any point neither loses a change nor
 * publishes one twice.
 */
import type { Kafka, Producer } from 'kafkajs';
import type { Store } from '../../platform/clickhouse/store.ts';
import type { GroupConsumerOptions } from '../../platform/kafka/groupMember.ts';
import type { Logger } from '../../platform/log.ts';
import { StageRuntime, type Chunk, type Output, type RuntimeOptions, type Stage, type StageContext, type Tick } from '../../platform/stage/runtime.ts';
import { LEG_SYMBOLS, type AlertEvent } from '../../schemas/contracts.ts';
import type { SchemaRegistry } from '../../schemas/registry.ts';
import { alertEventOf, changeOrder, type AlertChange } from '../folds/alertLifecycle.ts';
import { emptyLegAlerts, legAlert, type LegAlertParams, type LegAlertState, type LegMinute } from '../folds/legAlert.ts';
import { emptyHealth, touchpointHealth, type HealthParams, type HealthRow, type TouchpointHealthState, type TouchpointMinute } from '../folds/touchpointHealth.ts';
import { emptyTraffic, trafficDrop, type TrafficParams, type TrafficState } from '../folds/trafficDrop.ts';
import { MINUTE_MS } from '../params.ts';
import { chTime } from './rawRows.ts';
import { chMinute } from './resultRows.ts';

export const ALERT_EVENT = 'AlertEvent';
const STAGE = 'alerts';
/** Most minutes folded in one round (a backfill catches up a day at a time). */
const BATCH_MINUTES = 24 * 60;

export interface AlertStageOptions {
  kafka: Kafka;
  store: Store;
  registry: SchemaRegistry;
  log: Logger;
  /** The group and its timings (platform/kafka/groupMember.ts: consumerOptions). */
  consumer: GroupConsumerOptions;
  alertsTopic: string;
  /** The input topic: the stage's state is kept under its name. */
  touchpointsTopic: string;
  health: HealthParams;
  legs: LegAlertParams;
  traffic: TrafficParams;
  pollMs?: number;
  /** Called after a round with alert changes has stored its rows and state, before publishing them (tests inject crashes here). */
  afterStore?: RuntimeOptions['afterStore'];
}

export interface AlertStageStats {
  minutes: number;
  healthRows: number;
  changes: number;
  published: number;
  leader: boolean;
}

interface StageState {
  /** The next minute to fold (null before any data). */
  next: number | null;
  health: TouchpointHealthState;
  legs: LegAlertState;
  /** Absent in state saved before traffic alerts existed. */
  traffic?: TrafficState;
}

type Position = Pick<AlertChange, 'changedAt' | 'alertId' | 'version'>;

export function healthRowOf(r: HealthRow) {
  return {
    minute: chMinute(r.minute), channel: r.channel, touchpoint: r.touchpoint, leg: r.leg, events: r.events, experiences: r.experiences, bad: r.bad,
    bad_rate: r.badRate, baseline: r.baseline, reference: r.reference, statistic: r.statistic, threshold: r.threshold, state: r.state, alert_id: r.alertId,
  };
}

export function alertRowOf(c: AlertChange) {
  return {
    alert_id: c.alertId, version: c.version, status: c.status, kind: c.kind, severity: c.severity,
    channel: c.channel ?? '', touchpoint: c.touchpoint ?? '', leg: c.leg,
    baseline: c.baseline, current: c.current, threshold: c.threshold, statistic: c.statistic,
    started_at: chTime(c.startedAt), detected_at: chTime(c.detectedAt), changed_at: chTime(c.changedAt), resolved_at: c.resolvedAt === null ? null : chTime(c.resolvedAt),
    minutes: c.minutes, events: c.events, experiences: c.experiences, bad: c.bad, summary: c.summary,
  };
}

interface AlertRow {
  alert_id: string; version: number; status: AlertChange['status']; kind: AlertChange['kind']; severity: AlertChange['severity'];
  channel: string; touchpoint: string; leg: string; baseline: number; current: number; threshold: number; statistic: number;
  started_ms: number | string; detected_ms: number | string; changed_ms: number | string; resolved_ms: number | string | null;
  minutes: number | string; events: number | string; experiences: number | string; bad: number | string; summary: string;
}

function changeOfRow(r: AlertRow): AlertChange {
  return {
    alertId: r.alert_id, version: Number(r.version), status: r.status, kind: r.kind, severity: r.severity,
    channel: r.channel || null, touchpoint: r.touchpoint || null, leg: r.leg,
    baseline: r.baseline, current: r.current, threshold: r.threshold, statistic: r.statistic,
    startedAt: Number(r.started_ms), detectedAt: Number(r.detected_ms), changedAt: Number(r.changed_ms), resolvedAt: r.resolved_ms === null ? null : Number(r.resolved_ms),
    minutes: Number(r.minutes), events: Number(r.events), experiences: Number(r.experiences), bad: Number(r.bad), summary: r.summary,
  };
}

class AlertStageCore implements Stage {
  readonly name = 'alert stage';
  readonly topics: string[];
  /** Never committed: each new owner reads the whole topic (alerts are few) to find what was published. */
  readonly commits = false;
  readonly stats: AlertStageStats = { minutes: 0, healthRows: 0, changes: 0, published: 0, leader: false };
  readonly ticks: Tick[];
  onPublished: (changes: AlertChange[]) => void = () => undefined;
  private ctx?: StageContext;
  private producer?: Producer;
  /** Whether this worker owns partition 0 of the alerts topic now. */
  leader = false;
  /** The offset of the alerts topic to read up to before publishing (-1n: not known yet). */
  private syncTo = -1n;
  private consumedTo = -1n;
  private tail: Position | null = null;
  private state?: StageState;

  constructor(private readonly o: AlertStageOptions) {
    this.topics = [o.alertsTopic];
    // Serial: a rebalance (which may hand the lead away and back, resetting what was published) never falls between a round's fold and its publish.
    this.ticks = [{ name: 'alerts', everyMs: o.pollMs ?? 1000, serial: true, run: () => this.alertRound() }];
  }

  async open(ctx: StageContext): Promise<void> {
    this.ctx = ctx;
    // Idempotent: a retried send after a lost acknowledgement is not written twice.
    this.producer = this.o.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await this.producer.connect();
  }

  assigned(assignment: Record<string, number[]>): void {
    this.lead((assignment[this.o.alertsTopic] ?? []).includes(0));
  }

  revoked(): void {
    this.lead(false);
  }

  async close(): Promise<void> {
    this.lead(false);
    await this.producer?.disconnect();
  }

  /** Reads what was published before: the last change on the topic is where publishing goes on. */
  async round(chunks: Chunk[]): Promise<Output> {
    for (const chunk of chunks) {
      if (chunk.partition !== 0) continue;
      for (const m of chunk.messages) {
        const d = this.o.registry.decode(m.value);
        if (d.ok && d.family === ALERT_EVENT) {
          const a = d.value as unknown as AlertEvent;
          const p = { changedAt: a.changed_at, alertId: a.alert_id, version: a.version };
          if (!this.tail || changeOrder(p, this.tail) > 0) this.tail = p;
        } else {
          this.o.log.warn({ topic: this.o.alertsTopic, offset: m.offset, reason: d.ok ? `a ${d.family}, not an AlertEvent` : d.reason }, 'alert stage: skipping a message on the alerts topic that is not an alert');
        }
        this.consumedTo = BigInt(m.offset);
      }
    }
    return { writes: [], hook: false };
  }

  private lead(yes: boolean): void {
    if (yes && !this.leader) {
      this.o.log.info({ topic: this.o.alertsTopic }, 'alert stage: this worker runs the alerts');
      this.syncTo = -1n;
      this.consumedTo = -1n;
      this.tail = null;
      this.state = undefined;
    }
    this.leader = yes;
    this.stats.leader = yes;
  }

  /** Whether everything published before this worker took over has been read (so `tail` is the last published change). */
  async synced(): Promise<boolean> {
    if (this.syncTo === -1n && this.ctx) {
      const p0 = (await this.ctx.admin.fetchTopicOffsets(this.o.alertsTopic)).find((o) => o.partition === 0);
      if (!p0) throw new Error(`topic ${this.o.alertsTopic} has no partition 0`);
      // -2n: the topic is empty, there is nothing to read.
      this.syncTo = BigInt(p0.high) === BigInt(p0.low) ? -2n : BigInt(p0.high) - 1n;
    }
    return this.syncTo === -2n || (this.syncTo >= 0n && this.consumedTo >= this.syncTo);
  }

  /** Starts over from what is stored and what the topic holds: a send that failed may still have landed. */
  private reset(err: unknown): never {
    this.state = undefined;
    this.syncTo = -1n;
    throw err;
  }

  /** One round: fold what is ready, store it (rows, then state), then publish what is stored and not yet published. */
  private async alertRound(): Promise<Output | null> {
    if (!this.leader) return null;
    try {
      if (!(await this.synced())) return null;
      this.state ??= await this.loadState();
      const folded = await this.fold(this.state);
      return {
        ...folded,
        failed: () => {
          this.state = undefined;
          this.syncTo = -1n;
        },
        after: async () => {
          if (this.leader) await this.publish().catch((err: unknown) => this.reset(err));
        },
      };
    } catch (err) {
      return this.reset(err);
    }
  }

  private async loadState(): Promise<StageState> {
    const { touchpointsTopic } = this.o;
    const ctx = this.ctx as StageContext;
    const store = ctx.store;
    const rows = await store.query<{ state: string }>(
      `SELECT state FROM ${store.database}.processor_state FINAL
       WHERE stage = {stage:String} AND source_cluster = {cluster:String} AND source_topic = {topic:String} AND source_partition = 0 AND key = ''`,
      { stage: STAGE, cluster: ctx.cluster, topic: touchpointsTopic },
    );
    const saved = rows[0];
    if (!saved) return { next: null, health: emptyHealth(), legs: emptyLegAlerts(), traffic: emptyTraffic() };
    const s = JSON.parse(saved.state) as StageState;
    this.o.log.info({ next: s.next === null ? null : new Date(s.next).toISOString(), touchpoints: Object.keys(s.health.detectors).length }, 'alert stage: restored state');
    return s;
  }

  private async fold(st: StageState): Promise<Pick<Output, 'writes' | 'stored' | 'hook'>> {
    const { touchpointsTopic } = this.o;
    const ctx = this.ctx as StageContext;
    const store = ctx.store;
    const db = store.database;
    const [f] = await store.query<{ end: number | string; c: number | string }>(`SELECT toUnixTimestamp(max(window_end)) * 1000 AS end, count() AS c FROM ${db}.leg_consistency`);
    if (!f || Number(f.c) === 0) return { writes: [], hook: false };
    const frontier = Number(f.end);
    if (st.next === null) {
      const [first] = await store.query<{ m: number | string }>(`SELECT toUnixTimestamp(min(minute)) * 1000 AS m FROM ${db}.cell_minute`);
      st.next = Number(first?.m ?? frontier);
    }
    const from = st.next;
    const until = Math.min(frontier, from + BATCH_MINUTES * MINUTE_MS);
    if (until <= from) return { writes: [], hook: false };

    const cells = await store.query<{ m: number | string; channel: string; touchpoint: string; leg: string; events: number | string; n: number | string; bad: number | string; sx: number; sx2: number }>(
      `SELECT toUnixTimestamp(minute) * 1000 AS m, channel, touchpoint, min(leg) AS leg, sum(events) AS events, sum(n) AS n, sum(bad) AS bad,
              sum(sum_x) AS sx, sum(sum_x2) AS sx2
       FROM ${db}.cell_minute FINAL
       WHERE minute >= {from:DateTime} AND minute < {until:DateTime}
       GROUP BY m, channel, touchpoint ORDER BY m, channel, touchpoint`,
      { from: chMinute(from), until: chMinute(until) },
    );
    const windows = await store.query<{ m: number | string; leg: string; score: number; experiences: number | string }>(
      `SELECT toUnixTimestamp(window_end) * 1000 - 60000 AS m, leg, score, experiences
       FROM ${db}.leg_consistency FINAL
       WHERE window_end > {from:DateTime} AND window_end <= {until:DateTime}`,
      { from: chMinute(from), until: chMinute(until) },
    );
    const byMinute = new Map<number, (TouchpointMinute & { sumX: number; sumX2: number })[]>();
    for (const c of cells) {
      const m = Number(c.m);
      const t = { channel: c.channel, touchpoint: c.touchpoint, leg: c.leg, events: Number(c.events), experiences: Number(c.n), bad: Number(c.bad), sumX: Number(c.sx), sumX2: Number(c.sx2) };
      const list = byMinute.get(m);
      if (list) list.push(t);
      else byMinute.set(m, [t]);
    }
    const scores = new Map<string, { score: number; experiences: number }>();
    for (const w of windows) scores.set(`${Number(w.m)}\u0000${w.leg}`, { score: w.score, experiences: Number(w.experiences) });

    const healthRows: object[] = [];
    const changes: AlertChange[] = [];
    st.traffic ??= emptyTraffic();
    for (let m = from; m < until; m += MINUTE_MS) {
      const touchpoints = byMinute.get(m) ?? [];
      const h = touchpointHealth(st.health, { minute: m, touchpoints }, this.o.health);
      for (const r of h.out.rows) healthRows.push(healthRowOf(r));
      changes.push(...h.out.changes);
      const legs: LegMinute[] = LEG_SYMBOLS.map((leg) => {
        const w = scores.get(`${m}\u0000${leg}`);
        const mine = touchpoints.filter((t) => t.leg === leg);
        const sum = (f: (t: (typeof mine)[number]) => number) => mine.reduce((s, t) => s + f(t), 0);
        return {
          leg, score: w?.score ?? null, windowExperiences: w?.experiences ?? 0,
          events: sum((t) => t.events), experiences: sum((t) => t.experiences), bad: sum((t) => t.bad), sumX: sum((t) => t.sumX), sumX2: sum((t) => t.sumX2),
        };
      });
      changes.push(...legAlert(st.legs, { minute: m, legs }, this.o.legs).out);
      changes.push(...trafficDrop(st.traffic, { minute: m, touchpoints }, this.o.traffic).out);
    }
    st.next = until;

    const span = `${ctx.cluster}:${from}-${until}`;
    return {
      writes: [
        { table: 'touchpoint_health', rows: healthRows, token: `touchpoint_health:${span}` },
        { table: 'alerts', rows: changes.map(alertRowOf), token: `alerts:${span}` },
        {
          table: 'processor_state',
          rows: [{ stage: STAGE, source_cluster: ctx.cluster, source_topic: touchpointsTopic, source_partition: 0, key: '', seq: String(until), source_offset: '0', watermark: until, state: JSON.stringify(st) }],
          token: `processor_state:${STAGE}:${span}`,
        },
      ],
      hook: changes.length > 0,
      stored: () => {
        this.stats.minutes += (until - from) / MINUTE_MS;
        this.stats.healthRows += healthRows.length;
        this.stats.changes += changes.length;
      },
    };
  }

  /** Publishes the stored changes after the last published one, in order. */
  private async publish(): Promise<void> {
    const { registry, alertsTopic } = this.o;
    const store = (this.ctx as StageContext).store;
    const db = store.database;
    const rows = await store.query<AlertRow>(
      `SELECT alert_id, version, status, kind, severity, channel, touchpoint, leg, baseline, current, threshold, statistic,
              toUnixTimestamp64Milli(started_at) AS started_ms, toUnixTimestamp64Milli(detected_at) AS detected_ms,
              toUnixTimestamp64Milli(changed_at) AS changed_ms, toUnixTimestamp64Milli(resolved_at) AS resolved_ms,
              minutes, events, experiences, bad, summary
       FROM ${db}.alerts FINAL
       WHERE changed_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
       ORDER BY changed_at, alert_id, version`,
      { since: this.tail?.changedAt ?? 0 },
    );
    const pending = rows.map(changeOfRow).filter((c) => !this.tail || changeOrder(c, this.tail) > 0).sort(changeOrder);
    if (pending.length === 0 || !this.producer) return;
    await this.producer.send({
      topic: alertsTopic,
      acks: -1,
      messages: pending.map((c) => ({ key: c.alertId, value: registry.encode(ALERT_EVENT, alertEventOf(c)), partition: 0 })),
    });
    const last = pending[pending.length - 1] as AlertChange;
    this.tail = { changedAt: last.changedAt, alertId: last.alertId, version: last.version };
    this.stats.published += pending.length;
    this.onPublished(pending);
  }
}

/**
 * The alert stage's worker: a member of `<group>.alerts`; the owner of partition 0 of
 * the alerts topic runs the alerts. Events: 'published' (AlertChange[]), 'progress', 'fatal'.
 */
export class AlertStage extends StageRuntime<AlertStageCore> {
  constructor(o: AlertStageOptions) {
    super(new AlertStageCore(o), { kafka: o.kafka, store: o.store, log: o.log, consumer: o.consumer, chunkSize: 10_000, afterStore: o.afterStore }, () => this.stats);
    this.stage.onPublished = (changes) => this.emit('published', changes);
  }

  get stats(): AlertStageStats {
    return this.stage.stats;
  }

  /** Gives the lead up first (after the round in hand has published), so nothing is published once this member is leaving the group. */
  override async stop(): Promise<void> {
    this.stopping = true;
    await this.serial(async () => this.stage.revoked());
    await super.stop();
  }

  /**
   * End of input: runs rounds until one folds nothing more, so the alerts of every
   * stool window written so far are stored and published. Nothing to do on a worker
   * that does not run the alerts.
   */
  async catchUp(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.stage.leader && !this.stopping && Date.now() < deadline) {
      if (!(await this.stage.synced())) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const before = this.stats.minutes;
      await this.runNow('alerts');
      if (this.stats.minutes === before) return;
    }
  }
}
