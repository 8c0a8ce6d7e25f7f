/**
 * One scenario of `npm run eval:alerts` through the real pipeline: the simulator plays
 * it into Kafka, the metrics worker and the alert stage run as in `cx process
 * --until-idle` on a fresh embedded ClickHouse, and the alerts they store are scored
 * against the injected incidents.
 *
 * The whole scenario is on the topic before the metrics worker starts. The worker
 * then never catches up with its input before the end, so no partition is ever
 * flushed as idle in the middle (which would make events late, or not, with the
 * machine's speed), and the scores depend on the scenario alone. The end of input is
 * the one of `cx process --until-idle`: finishInput, then the alert stage's catch-up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { describeIssues, TOUCHPOINT_EVENT, touchpointEventSchema } from '../schemas/contracts.ts';
import { acceptTouchpoint } from '../schemas/validate.ts';
import type { Config } from '../platform/config.ts';
import { consumerOptions } from '../platform/kafka/groupMember.ts';
import { consumerLag } from '../platform/kafka/lag.ts';
import { createLogger } from '../platform/log.ts';
import { alertStage, connectKafka, metricParams, openMigratedStore, type Connected } from '../pipeline/compose.ts';
import { MetricsWorker } from '../processors/runtime/metricsWorker.ts';
import type { Store } from '../platform/clickhouse/store.ts';
import type { Logger } from '../platform/log.ts';
import type { Scenario } from '../producers/simulator/scenario.ts';
import { groundTruth, simulate, type SimEvent } from '../producers/simulator/simulate.ts';
import { scoreAlerts, type OpenedAlert, type ScenarioScore } from './scoreAlerts.ts';

/**
 * How hard the eval drives the metrics worker. None of it changes a row: the folds give
 * the same rows however the input is chunked (processors/partitionMetrics.ts), so these
 * only trade memory for fewer, larger inserts and checkpoints.
 */
export interface Drive {
  /** Messages per chunk (one insert per table and one checkpoint per chunk and partition). */
  chunk: number;
}

// 100k: a scenario's 1-2.4M messages in a handful of rounds, so a customer's state is checkpointed a handful of times (20k took twice the rounds and 12 % more fold time).
export const DEFAULT_DRIVE: Drive = { chunk: 100_000 };

/**
 * The eval's consumers keep their group membership through long stalls: a large chunk
 * folds for a while without yielding, and on a busy machine longer than the default
 * 6 s session, which costs a rebalance and replays (same rows, much time). No
 * crash is simulated here, so nothing waits on a short session.
 */
const EVAL_SESSION_TIMEOUT_MS = 60_000;

/** Bytes of one encoded touchpoint event, with room: what a fetch must hold for a whole chunk. */
const FETCH_BYTES_PER_MESSAGE = 256;

export interface ScenarioResult {
  score: ScenarioScore;
  events: number;
  seconds: number;
  legAlerts: number;
  /** Up to which event time the alert stage evaluated (ms), for the note when it stopped short of the end. */
  evaluatedTo: number;
  /** Wall seconds by phase, in order. */
  phases: [string, number][];
  /** The metrics worker's own timings (ms). */
  metricsMs: Record<string, number>;
  /** Its rounds (a round: one chunk of each partition fetched, one insert per table, one checkpoint). */
  rounds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What `playTouchpoints` has sent so far. */
interface PlayStats {
  touchpoints: number;
  /** Event time of the last event sent. */
  eventTime?: number;
}

/** Messages in one produce request. */
const PLAY_BATCH = 5_000;

/**
 * The scenario's touchpoint events onto the topic, as a bulk loader sends them: each
 * checked against the contract (the hot-path validator) and encoded as the SDK
 * encodes it, keyed by customer, so kafkajs's default partitioner puts it on the
 * partition the SDK would, in batches of 5,000 sent one at a time (in order) and
 * acknowledged by every replica. The SDK's per-event acknowledgement (an idempotent producer, one request in
 * flight) cost more than the folds; nothing here needs it, and the topic's end
 * offsets are checked against the count sent afterwards. Journey outcomes feed the
 * calibration, which nothing here reads, so they are not sent; the simulator makes them
 * all the same, so the touchpoints are the very ones a full run sends.
 */
async function playTouchpoints(c: Connected, topic: string, events: Iterable<SimEvent>, stats: PlayStats): Promise<void> {
  // kafkajs's own retries (a few, then the eval fails): not idempotent, so not retried forever.
  const producer = c.kafka.producer();
  await producer.connect();
  try {
    // One request at a time: two sends at once can land out of order (the second overtaking the first inside
    // kafkajs: a full run with 8 in flight scored differently), and a batch spans more event time than the lateness.
    let inFlight: Promise<unknown> = Promise.resolve();
    let batch: { key: string; value: Buffer }[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      await inFlight;
      inFlight = producer.send({ topic, acks: -1, messages: batch });
      batch = [];
    };
    for (const e of events) {
      if (e.kind !== 'touchpoint') continue;
      const event = acceptTouchpoint(e.event);
      if (!event) {
        await inFlight.catch(() => undefined);
        throw new Error(`the simulator made an invalid TouchpointEvent ${e.event.event_id}: ${describeIssues(touchpointEventSchema.safeParse(e.event).error as z.ZodError)}`);
      }
      batch.push({ key: event.customer_id, value: c.registry.encode(TOUCHPOINT_EVENT, event) });
      stats.touchpoints++;
      stats.eventTime = event.occurred_at;
      if (batch.length >= PLAY_BATCH) await flush();
    }
    await flush();
    await inFlight;
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

/** The metrics worker as `cx process` builds it (pipeline/compose.ts), with the eval's chunks and fetches large enough to fill them. */
function metricsWorker(config: Config, c: Connected, store: Store, log: Logger, drive: Drive): MetricsWorker {
  const bytes = drive.chunk * FETCH_BYTES_PER_MESSAGE;
  return new MetricsWorker({
    kafka: c.kafka,
    store,
    registry: c.registry,
    log,
    consumer: { ...consumerOptions(config, `${config.consumerGroup}.metrics`), maxBytesPerPartition: bytes, maxBytes: bytes * config.partitions },
    topic: config.touchpointsTopic,
    params: metricParams(config),
    chunkSize: drive.chunk,
    idleFlushMs: config.idleFlushMs,
  });
}

/** Plays `scenario` through the pipeline on topics and a store of its own, and scores the alerts. `progress` gets a status line now and then. */
export async function playScenario(base: Config, scenario: Scenario, drive: Drive, progress: (line: string) => void): Promise<ScenarioResult> {
  const tSetup = Date.now();
  const id = randomUUID().slice(0, 8);
  const dir = mkdtempSync(join(tmpdir(), 'cx-eval-'));
  const config: Config = {
    ...base,
    touchpointsTopic: `eval-${id}.touchpoints`, outcomesTopic: `eval-${id}.outcomes`, deadLetterTopic: `eval-${id}.deadletter`, alertsTopic: `eval-${id}.alerts`,
    consumerGroup: `eval-${id}`, clickhousePath: dir, sessionTimeoutMs: Math.max(base.sessionTimeoutMs, EVAL_SESSION_TIMEOUT_MS),
  };
  const log = createLogger('warn', 'eval');
  const kafka = await connectKafka(config, log);
  const store = await openMigratedStore(config, log);
  const metrics = metricsWorker(config, kafka, store, log, drive);
  const alerts = alertStage(config, kafka, store, log);
  const admin = kafka.kafka.admin();
  await admin.connect();
  const phases: [string, number][] = [];
  let tLast = tSetup;
  const phase = (name: string) => {
    const now = Date.now();
    phases.push([name, (now - tLast) / 1000]);
    tLast = now;
  };
  phase('setup');
  const fmt = (n: number) => n.toLocaleString('en-US');
  const sent: PlayStats = { touchpoints: 0 };
  const ticker = setInterval(() => {
    const at = sent.eventTime ? new Date(sent.eventTime).toISOString().slice(0, 16) : '-';
    progress(`${scenario.name}: sent ${fmt(sent.touchpoints)} (event time ${at}) · folded ${fmt(metrics.stats.released)} · alert minutes ${fmt(alerts.stats.minutes)} · ${Math.round((Date.now() - tSetup) / 1000)} s`);
  }, 1000);
  try {
    try {
      await playTouchpoints(kafka, config.touchpointsTopic, simulate({ scenario }), sent);
      const onTopic = (await admin.fetchTopicOffsets(config.touchpointsTopic)).reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
      if (onTopic !== sent.touchpoints) throw new Error(`sent ${sent.touchpoints} touchpoint events, but ${config.touchpointsTopic} holds ${onTopic}: the scores would not be the scenario's`);
      phase('simulate+produce');
      await alerts.start();
      await metrics.start();
      for (;;) {
        const lag = await consumerLag(admin, `${config.consumerGroup}.metrics`, [config.touchpointsTopic]).catch(() => -1);
        if (lag === 0 && metrics.stats.consumed >= sent.touchpoints) break;
        await sleep(200);
      }
      phase('fold+insert');
      await metrics.finishInput();
      phase('finish input');
      // The alert stage runs only while it holds partition 0 of the alerts topic: it joined at the start, long ago.
      for (const deadline = Date.now() + 120_000; !alerts.stats.leader; await sleep(50)) {
        if (Date.now() > deadline) throw new Error(`the alert stage never took partition 0 of ${config.alertsTopic} (group ${config.consumerGroup}.alerts): no alerts to score`);
      }
      await alerts.catchUp(600_000);
      phase('alerts catch-up');
    } finally {
      clearInterval(ticker);
    }
    const db = store.database;
    const opened = await store.query<{ kind: string; channel: string; touchpoint: string; leg: string; detected: number | string; started: number | string }>(
      `SELECT kind, channel, touchpoint, leg, toUnixTimestamp64Milli(detected_at) AS detected, toUnixTimestamp64Milli(started_at) AS started
       FROM ${db}.alerts FINAL WHERE status = 'OPENED' ORDER BY detected_at`,
    );
    const [tp] = await store.query<{ n: number | string; legs: number | string; channels: number | string; last: number | string }>(
      `SELECT uniqExact(channel, touchpoint) AS n, uniqExact(leg) AS legs, uniqExact(channel) AS channels, toUnixTimestamp(max(minute)) * 1000 AS last
       FROM ${db}.touchpoint_health WHERE events > 0`,
    );
    const all: OpenedAlert[] = opened.map((o) => ({ kind: o.kind, channel: o.channel || null, touchpoint: o.touchpoint || null, leg: o.leg, detectedAt: Number(o.detected), startedAt: Number(o.started) }));
    phase('score');
    return {
      score: scoreAlerts(groundTruth(scenario), all, { touchpoints: Number(tp?.n ?? 0), legs: Number(tp?.legs ?? 0), channels: Number(tp?.channels ?? 0) }),
      events: sent.touchpoints,
      seconds: (Date.now() - tSetup) / 1000,
      legAlerts: all.filter((a) => a.kind === 'LEG_BELOW_THRESHOLD').length,
      evaluatedTo: Number(tp?.last ?? 0),
      phases,
      metricsMs: Object.fromEntries(Object.entries(metrics.stats.ms).map(([k, v]) => [k, Math.round(v)])),
      rounds: metrics.timing.rounds,
    };
  } finally {
    await alerts.stop().catch(() => undefined);
    await metrics.stop().catch(() => undefined);
    await admin.deleteTopics({ topics: [config.touchpointsTopic, config.outcomesTopic, config.deadLetterTopic, config.alertsTopic] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
