/**
 * The composition root: the one place that knows every layer (platform/, processors/,
 * producers/) and wires them from the configuration: brokers, topics, store and
 * migrations, the stages' workers, the producer. `cx start`, `cx process`, the bench
 * and the eval all build their pipeline here.
 */
import { EventEmitter } from 'node:events';
import type { Kafka } from 'kafkajs';
import { DAY_MS, HOUR_MS, type MetricParams } from '../processors/params.ts';
import type { Notifier, OnAttempt } from '../processors/alerting/notifier.ts';
import { WebhookNotifier } from '../processors/alerting/webhook.ts';
import { AlertStage, type AlertStageOptions, type AlertStageStats } from '../processors/runtime/alertStage.ts';
import type { StoolWindow } from '../processors/folds/legConsistency.ts';
import type { RuntimeTiming } from '../platform/stage/runtime.ts';
import { killAfterRounds, metricFaults } from './faults.ts';
import { StageThread, type FoldStageName } from './stageThread.ts';
import { NotifyWorker } from '../processors/runtime/notifyWorker.ts';
import { MetricsWorker, type MetricsStats, type MetricsWorkerOptions } from '../processors/runtime/metricsWorker.ts';
import { RawIngest, type RawIngestOptions } from '../processors/runtime/rawIngest.ts';
import { OUTCOME_EVENT, TOUCHPOINT_EVENT } from '../schemas/contracts.ts';
import { SchemaRegistry } from '../schemas/registry.ts';
import { migrate } from '../platform/clickhouse/migrate.ts';
import { openStore, type Store } from '../platform/clickhouse/store.ts';
import type { Config } from '../platform/config.ts';
import { ensureTopics, kafkaClient, resolveBrokers } from '../platform/kafka/client.ts';
import { consumerOptions } from '../platform/kafka/groupMember.ts';
import type { Logger } from '../platform/log.ts';
import { TouchpointProducer } from '../producers/touchpointProducer.ts';

/** The metric parameters, from the one configuration schema (platform/config.ts). */
export function metricParams(c: Pick<Config, 'horizonDays' | 'memoryHalfLifeDays' | 'badMemoryFactor' | 'momentOfTruthWeight' | 'stoolThreshold' | 'atRiskMemory' | 'minCellExperiences' | 'consistencyWindowMinutes' | 'allowedLatenessMs' | 'dedupWindowHours' | 'dedupMaxIds'>): MetricParams {
  return {
    horizonMs: c.horizonDays * DAY_MS,
    halfLifeMs: c.memoryHalfLifeDays * DAY_MS,
    badFactor: c.badMemoryFactor,
    motWeight: c.momentOfTruthWeight,
    stoolThreshold: c.stoolThreshold,
    atRisk: c.atRiskMemory,
    nMin: c.minCellExperiences,
    windowMinutes: c.consistencyWindowMinutes,
    latenessMs: c.allowedLatenessMs,
    dedupWindowMs: c.dedupWindowHours === undefined ? c.horizonDays * DAY_MS : c.dedupWindowHours * HOUR_MS,
    dedupMaxIds: c.dedupMaxIds,
    calibration: null,
  };
}

export interface Connected {
  kafka: Kafka;
  brokers: string[];
  /** True when this process started the local broker (and so may stop it). */
  startedBroker: boolean;
  registry: SchemaRegistry;
  /** Where components built on this connection report (the producer's outages). */
  log?: Logger;
}

export async function connectKafka(config: Config, log: Logger): Promise<Connected> {
  const { brokers, startedHere } = await resolveBrokers(config, log);
  const kafka = kafkaClient(brokers, config.kafkaClientId, log);
  await ensureTopics(kafka, config, log);
  return { kafka, brokers, startedBroker: startedHere, registry: SchemaRegistry.load(), log };
}

export async function openMigratedStore(config: Config, log: Logger): Promise<Store> {
  const store = await openStore(config);
  const applied = await migrate(store);
  if (applied.length) log.info({ applied, store: store.where }, 'applied migrations');
  return store;
}

export function rawIngest(config: Config, c: Connected, store: Store, log: Logger, afterStore?: RawIngestOptions['afterStore']): RawIngest {
  return new RawIngest({
    kafka: c.kafka,
    store,
    registry: c.registry,
    log,
    consumer: consumerOptions(config, config.consumerGroup),
    families: { [config.touchpointsTopic]: TOUCHPOINT_EVENT, [config.outcomesTopic]: OUTCOME_EVENT },
    deadLetterTopic: config.deadLetterTopic,
    chunkSize: config.batchMaxMessages,
    afterStore,
  });
}

/** The metric processors' worker (its own consumer group: `<CX_CONSUMER_GROUP>.metrics`). */
export function metricsWorker(config: Config, c: Connected, store: Store, log: Logger, afterStore?: MetricsWorkerOptions['afterStore']): MetricsWorker {
  return new MetricsWorker({
    kafka: c.kafka,
    store,
    registry: c.registry,
    log,
    consumer: consumerOptions(config, `${config.consumerGroup}.metrics`),
    topic: config.touchpointsTopic,
    params: metricParams(config),
    chunkSize: config.batchMaxMessages,
    idleFlushMs: config.idleFlushMs,
    afterStore,
  });
}

/** The producer SDK on the configured topics, connected; it reports outages to the connection's log. */
export async function connectProducer(config: Config, c: Connected): Promise<TouchpointProducer> {
  const producer = new TouchpointProducer(c.kafka, c.registry, {
    touchpointsTopic: config.touchpointsTopic,
    outcomesTopic: config.outcomesTopic,
    bufferBytes: config.producerBufferBytes,
    maxBlockMs: config.producerMaxBlockMs,
    log: c.log,
  });
  await producer.connect();
  return producer;
}

/** The alert detectors' parameters, from the one configuration schema. */
export function alertParams(config: Config): Pick<AlertStageOptions, 'health' | 'legs' | 'traffic'> {
  return {
    health: {
      threshold: config.alertCusumThreshold,
      baselineHalfLifeMs: config.alertBaselineHalfLifeHours * HOUR_MS,
      minHistory: config.alertMinHistory,
      resolveMinutes: config.alertResolveMinutes,
      updateMinutes: config.alertUpdateMinutes,
    },
    legs: {
      stoolThreshold: config.stoolThreshold, threshold: config.alertLegThreshold, halfLifeMs: config.alertBaselineHalfLifeHours * HOUR_MS,
      resolveMinutes: config.alertResolveMinutes, updateMinutes: config.alertUpdateMinutes,
    },
    traffic: {
      threshold: config.alertTrafficThreshold, halfLifeMs: config.alertBaselineHalfLifeHours * HOUR_MS,
      resolveMinutes: config.alertResolveMinutes, updateMinutes: config.alertUpdateMinutes,
    },
  };
}

/** Touchpoint health and alerts (its own consumer group, `<CX_CONSUMER_GROUP>.alerts`: one member runs it). */
export function alertStage(config: Config, c: Connected, store: Store, log: Logger, afterStore?: AlertStageOptions['afterStore']): AlertStage {
  return new AlertStage({
    kafka: c.kafka,
    store,
    registry: c.registry,
    log,
    consumer: consumerOptions(config, `${config.consumerGroup}.alerts`, 500),
    alertsTopic: config.alertsTopic,
    touchpointsTopic: config.touchpointsTopic,
    ...alertParams(config),
    afterStore,
  });
}

/** Delivers alert changes to `notifiers` (its own consumer group, `<CX_CONSUMER_GROUP>.notify`). */
export function notifyWorker(config: Config, c: Connected, store: Store, log: Logger, notifiers: (onAttempt: OnAttempt) => Notifier[]): NotifyWorker {
  const worker: NotifyWorker = new NotifyWorker({
    kafka: c.kafka,
    store,
    registry: c.registry,
    log,
    consumer: consumerOptions(config, `${config.consumerGroup}.notify`, 500),
    alertsTopic: config.alertsTopic,
    notifiers: notifiers((a) => worker.record(a)),
  });
  return worker;
}

/** The webhook notifier, when CX_ALERT_WEBHOOK_URL is set. */
export function webhookNotifier(config: Config, log: Logger, onAttempt: OnAttempt): Notifier[] {
  if (!config.alertWebhookUrl) return [];
  return [new WebhookNotifier({
    url: config.alertWebhookUrl,
    secret: config.alertWebhookSecret,
    format: config.alertWebhookFormat,
    timeoutMs: config.alertWebhookTimeoutMs,
    maxAttempts: config.alertWebhookMaxAttempts,
    onAttempt,
    log,
  })];
}

/** A worker the launcher runs: any stage runtime (or anything that starts, stops and may fail for good). */
export interface Launchable {
  start(): Promise<void>;
  stop(): Promise<void>;
  on(event: 'fatal', f: (err: Error) => void): unknown;
}

/**
 * Starts workers together (each is its own consumer group, so none waits on another),
 * each stopped again on the way out (through `teardown`), and each heard when it fails
 * for good: `onFatal` gets the first such failure of any of them (a supervisor should
 * restart the process). If one cannot start, everything is undone and it rejects.
 */
export async function launchWorkers(
  workers: [what: string, worker: Launchable][],
  teardown: { add(what: string, undo: () => Promise<unknown>): void; run(): Promise<void> },
  onFatal: (what: string, err: Error) => void,
): Promise<void> {
  let heard = false;
  for (const [what, worker] of workers) {
    teardown.add(`stop the ${what}`, () => worker.stop());
    worker.on('fatal', (err: Error) => {
      if (heard) return;
      heard = true;
      onFatal(what, err);
    });
  }
  const started = await Promise.allSettled(workers.map(([, w]) => w.start()));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await teardown.run();
    throw failed.reason;
  }
}

/**
 * The metric folds (with the live stool) and the alerts, as `cx start` and `cx process`
 * run them: in a stage thread of their own (CX_STAGE_THREADS=1, the default: two cores)
 * or in this thread. Either way the same face: figures, start, stop, finishInput.
 */
export interface FoldStages extends Launchable {
  readonly metrics: { readonly stats: MetricsStats; readonly latestWindow?: StoolWindow; readonly timing: RuntimeTiming };
  readonly alerts: { readonly stats: AlertStageStats };
  /** End of input: every open minute closed and stored, the windows written, the alerts caught up. */
  finishInput(): Promise<{ partitions: number; completeTo: number | null }>;
  on(event: 'fatal' | 'progress', f: (arg: any) => void): unknown; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const NO_METRICS: FoldStages['metrics'] = {
  stats: { consumed: 0, duplicates: 0, calibrationId: '', released: 0, late: 0, rows: {}, checkpoints: 0, restoredCustomers: 0, stateBytesPerCustomer: 0, windows: 0, watermarks: {}, completeTo: null, ms: { folds: 0, insert: 0, state: 0, commit: 0, stool: 0 } },
  timing: { rounds: 0, ms: { fold: 0, store: 0, commit: 0 } },
};

/** The two stages in this thread (the stage thread runs this too). */
export function foldStagesHere(config: Config, c: Connected, store: Store, log: Logger, stages: FoldStageName[] = ['metrics', 'alerts']): FoldStages {
  const metrics = stages.includes('metrics') ? metricsWorker(config, c, store, log, metricFaults(log)) : undefined;
  const alerts = stages.includes('alerts') ? alertStage(config, c, store, log, killAfterRounds('CX_FAULT_KILL_AFTER_ALERT_CHANGES')) : undefined;
  const events = new EventEmitter();
  alerts?.on('published', (changes: { summary: string; status: string }[]) => {
    for (const ch of changes) log.info({ status: ch.status }, `alert: ${ch.summary}`);
  });
  for (const w of [metrics, alerts]) {
    w?.on('progress', () => events.emit('progress', metrics?.stats));
    w?.on('fatal', (err: Error) => events.emit('fatal', err));
  }
  return {
    get metrics() {
      return metrics ?? NO_METRICS;
    },
    alerts: alerts ?? { stats: { minutes: 0, healthRows: 0, changes: 0, published: 0, leader: false } },
    async start() {
      await metrics?.start();
      try {
        await alerts?.start();
      } catch (err) {
        await metrics?.stop();
        throw err;
      }
    },
    async stop() {
      const failures: string[] = [];
      await alerts?.stop().catch((err: unknown) => failures.push(`stop the alert stage: ${(err as Error).message}`));
      await metrics?.stop().catch((err: unknown) => failures.push(`stop the metric processors: ${(err as Error).message}`));
      if (failures.length) throw new Error(failures.join('; '));
    },
    async finishInput() {
      const finished = (await metrics?.finishInput()) ?? { partitions: 0, completeTo: null };
      await alerts?.catchUp();
      return finished;
    },
    on(event: 'fatal' | 'progress', f: (arg: any) => void) { // eslint-disable-line @typescript-eslint/no-explicit-any
      return events.on(event, f);
    },
  };
}

/** The two stages as the configuration says: in a stage thread (CX_STAGE_THREADS=1) or here. */
export function foldStages(config: Config, c: Connected, store: Store, log: Logger, stages: FoldStageName[] = ['metrics', 'alerts']): FoldStages {
  if (config.stageThreads === 0) return foldStagesHere(config, c, store, log, stages);
  return new StageThread({ brokers: c.brokers, config, logLevel: log.level, logName: 'cx-stages', stages }) as unknown as FoldStages;
}
