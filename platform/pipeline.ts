/**
 * Wiring shared by the commands: brokers, topics, store and migrations, and the
 * raw ingestion worker, in the order they must come up.
 */
import type { Kafka } from 'kafkajs';
import { HOUR_MS, metricParams } from '../processors/params.ts';
import type { Notifier, OnAttempt } from '../processors/alerting/notifier.ts';
import { WebhookNotifier } from '../processors/alerting/webhook.ts';
import { AlertStage, type AlertStageOptions } from '../processors/runtime/alertStage.ts';
import { NotifyWorker } from '../processors/runtime/notifyWorker.ts';
import { MetricsWorker, type MetricsWorkerOptions } from '../processors/runtime/metricsWorker.ts';
import { RawIngest, type RawIngestOptions } from '../processors/runtime/rawIngest.ts';
import { OUTCOME_EVENT, TOUCHPOINT_EVENT } from '../schemas/contracts.ts';
import { SchemaRegistry } from '../schemas/registry.ts';
import { migrate } from './clickhouse/migrate.ts';
import { openStore, type Store } from './clickhouse/store.ts';
import type { Config } from './config.ts';
import { ensureTopics, kafkaClient, resolveBrokers } from './kafka/client.ts';
import { consumerOptions } from './kafka/groupMember.ts';
import type { Logger } from './log.ts';
import { TouchpointProducer } from '../producers/touchpointProducer.ts';

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
export function alertParams(config: Config): Pick<AlertStageOptions, 'health' | 'legs'> {
  return {
    health: {
      threshold: config.alertCusumThreshold,
      baselineHalfLifeMs: config.alertBaselineHalfLifeHours * HOUR_MS,
      minHistory: config.alertMinHistory,
      resolveMinutes: config.alertResolveMinutes,
      updateMinutes: config.alertUpdateMinutes,
    },
    legs: { stoolThreshold: config.stoolThreshold, resolveMinutes: config.alertResolveMinutes, updateMinutes: config.alertUpdateMinutes },
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
    timeoutMs: config.alertWebhookTimeoutMs,
    maxAttempts: config.alertWebhookMaxAttempts,
    onAttempt,
    log,
  })];
}
