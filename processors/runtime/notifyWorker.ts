/**
 * Delivers alert changes from the alerts topic to the notifiers (webhook, console),
 * as its own consumer group, so a slow or dead endpoint holds back nothing but
 * itself. A batch's offsets are committed once every notifier has settled every
 * change in it (delivered, or given up after its retries); a crash before that
 * delivers them again, which receivers can recognise by `X-CX-Delivery`. Every
 * attempt is recorded in `alert_deliveries`.
 */
import { EventEmitter } from 'node:events';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Store } from '../../platform/clickhouse/store.ts';
import type { GroupConsumerOptions } from '../../platform/kafka/groupMember.ts';
import type { Logger } from '../../platform/log.ts';
import type { AlertEvent } from '../../schemas/contracts.ts';
import type { SchemaRegistry } from '../../schemas/registry.ts';
import type { DeliveryAttempt, Notifier } from '../alerting/notifier.ts';
import { ALERT_EVENT } from './alertStage.ts';
import { chTime } from './rawRows.ts';

export interface NotifyWorkerOptions {
  kafka: Kafka;
  store: Store;
  registry: SchemaRegistry;
  log: Logger;
  /** The group and its timings (platform/kafka/groupMember.ts: consumerOptions). */
  consumer: GroupConsumerOptions;
  alertsTopic: string;
  notifiers: Notifier[];
}

export const deliveryRowOf = (a: DeliveryAttempt) => ({
  alert_id: a.alert_id, version: a.version, notifier: a.notifier, target: a.target, attempt: a.attempt,
  attempted_at: chTime(a.attempted_at), outcome: a.outcome, http_status: a.http_status, error: a.error, latency_ms: Math.round(a.latency_ms),
});

export class NotifyWorker extends EventEmitter {
  readonly stats = { alerts: 0, attempts: 0 };
  private consumer?: Consumer;
  private readonly attempts: DeliveryAttempt[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: NotifyWorkerOptions) {
    super();
  }

  /** Where notifiers report their attempts. */
  readonly record = (a: DeliveryAttempt): void => {
    this.attempts.push(a);
    this.stats.attempts++;
  };

  async start(): Promise<void> {
    const { kafka, log, alertsTopic } = this.o;
    const consumer = kafka.consumer(this.o.consumer);
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, (e) => {
      log.error({ err: e.payload.error.message, restart: e.payload.restart }, 'alert notifier consumer crashed');
      if (!e.payload.restart) this.emit('fatal', e.payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [alertsTopic], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => this.onBatch(p) });
    this.timer = setInterval(() => void this.flush(), 1000);
  }

  async stop(timeoutMs = 5_000): Promise<void> {
    await this.consumer?.disconnect();
    await Promise.all(this.o.notifiers.map((n) => n.close(timeoutMs)));
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }: EachBatchPayload): Promise<void> {
    const settled: Promise<void>[] = [];
    for (const m of batch.messages) {
      if (!isRunning() || isStale()) break;
      const d = this.o.registry.decode(m.value);
      if (!d.ok || d.family !== ALERT_EVENT) {
        this.o.log.warn({ topic: batch.topic, partition: batch.partition, offset: m.offset, reason: d.ok ? `a ${d.family}, not an AlertEvent` : d.reason }, 'notifier: skipping a message that is not an alert');
        continue;
      }
      const alert = d.value as unknown as AlertEvent;
      this.stats.alerts++;
      for (const n of this.o.notifiers) settled.push(n.notify(alert));
    }
    // Wait for every delivery to settle, heartbeating so a slow endpoint does not cost the partition.
    const all = Promise.all(settled).then(() => true);
    while (!(await Promise.race([all, new Promise<false>((r) => setTimeout(() => r(false), this.o.consumer.heartbeatInterval))]))) await heartbeat();
    await this.flush();
    const last = batch.messages[batch.messages.length - 1];
    if (!last || !isRunning() || isStale()) return;
    await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }] }] });
    resolveOffset(last.offset);
    this.emit('progress', this.stats);
  }

  /** Writes the attempts recorded so far to `alert_deliveries`. */
  private flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.attempts.length === 0) return;
      const batch = this.attempts.splice(0);
      try {
        const first = batch[0] as DeliveryAttempt;
        await this.o.store.insert(`${this.o.store.database}.alert_deliveries`, batch.map(deliveryRowOf), `alert_deliveries:${first.notifier}:${first.alert_id}:${first.version}:${first.attempt}:${first.attempted_at}:${batch.length}`);
      } catch (err) {
        this.attempts.unshift(...batch);
        this.o.log.warn({ err: (err as Error).message, attempts: batch.length }, 'notifier: could not record delivery attempts; keeping them for the next try');
      }
    });
    return this.flushing;
  }
}
