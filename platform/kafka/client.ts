/** kafkajs wiring: one client factory, the project's topics, and broker resolution. */
import { Kafka, logLevel as KafkaLogLevel, type logCreator } from 'kafkajs';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { startLocalBroker } from './localBroker.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

function kafkaLogs(log: Logger | undefined): logCreator {
  return () => ({ level, log: entry }) => {
    if (!log) return;
    // kafkajs attaches stack traces; the message and error name say enough to a person.
    const { message, stack: _stack, ...rest } = entry as typeof entry & { stack?: string };
    const fields = { kafka: entry.logger, ...rest };
    // kafkajs logs every failed response at error level, retriable ones included
    // (e.g. "coordinator not available" while __consumer_offsets is created);
    // real failures still surface as thrown errors.
    if (level === KafkaLogLevel.ERROR && message.startsWith('Response ')) log.debug(fields, message);
    else if (level === KafkaLogLevel.ERROR) log.error(fields, message);
    // The alert stage's producer is idempotent with bounded retries; after a failed send
    // it re-reads the topic before publishing again, so the bound costs no guarantee.
    else if (level === KafkaLogLevel.WARN && message.startsWith('Limiting retries for the idempotent producer')) log.debug(fields, message);
    else if (level === KafkaLogLevel.WARN) log.warn(fields, message);
    else log.debug(fields, message);
  };
}

/**
 * Idempotent producers retry what kafkajs retries (timeouts, leader moves) without a
 * bound: bounded retries could reorder or lose a batch (kafkajs warns about exactly
 * that). kafkajs still gives up when it cannot reconnect (the client's `retries`, about
 * 23 s: KafkaJSNumberOfRetriesExceeded from its broker pool), so the producer SDK
 * (producers/sdk/delivery.ts) resends the same batch itself until Kafka answers.
 */
export const PRODUCER_RETRY = { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5_000 };

export function kafkaClient(brokers: string[], clientId: string, log?: Logger, retries = 8): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: KafkaLogLevel.WARN,
    logCreator: kafkaLogs(log),
    retry: { retries, initialRetryTime: 200, maxRetryTime: 5_000 },
    connectionTimeout: 5_000,
  });
}

/** A metadata round trip: proves the broker answers Kafka requests, not just TCP. */
export async function probeBroker(bootstrap: string): Promise<void> {
  const admin = kafkaClient([bootstrap], 'cx-probe', undefined, 0).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } finally {
    await admin.disconnect();
  }
}

/**
 * The brokers to use: KAFKA_BROKERS when set, otherwise the local broker, started
 * if needed. `startedHere` tells the caller whether it owns the broker's lifetime.
 */
export async function resolveBrokers(config: Config, log?: Logger): Promise<{ brokers: string[]; startedHere: boolean }> {
  if (config.kafkaBrokers) return { brokers: config.kafkaBrokers, startedHere: false };
  const local = await startLocalBroker(config, probeBroker, log);
  return { brokers: [local.bootstrap], startedHere: local.started };
}

export function projectTopics(config: Config): string[] {
  return [config.touchpointsTopic, config.outcomesTopic, config.deadLetterTopic, config.alertsTopic];
}

/**
 * Partitions a topic is created with. Alerts are few and their lifecycle is read in
 * order, so their topic has one partition (whoever owns it publishes them).
 */
export const partitionsFor = (config: Config, topic: string): number => (topic === config.alertsTopic ? 1 : config.partitions);

/**
 * Creates the project's topics if missing and waits until every partition has a
 * leader. Existing topics are left as they are. Right after a broker starts, a new
 * topic's metadata can briefly answer "unknown topic", so readiness is polled here
 * rather than left to kafkajs's waitForLeaders, which gives up on that answer.
 */
export async function ensureTopics(kafka: Kafka, config: Config, log?: Logger, timeoutMs = 60_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = projectTopics(config);
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length) {
      await admin.createTopics({ waitForLeaders: false, topics: missing.map((topic) => ({ topic, numPartitions: partitionsFor(config, topic) })) });
      log?.info({ topics: missing.map((t) => `${t} (${partitionsFor(config, t)})`) }, 'created topics');
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const { topics: meta } = await admin.fetchTopicMetadata({ topics });
        if (meta.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} have no leaders after ${timeoutMs / 1000}s: ${(err as Error).message}`);
      }
      if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} have no leaders after ${timeoutMs / 1000}s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}
