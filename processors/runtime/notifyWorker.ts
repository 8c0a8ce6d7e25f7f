/**
 * Delivers alert changes from the alerts topic to the notifiers (webhook, console),
 * as its own consumer group, so a slow or dead endpoint holds back nothing but
 * itself. A batch's offsets are committed once every notifier has settled every
 * change in it (delivered, or given up after its retries); a crash before that
 * delivers them again, which receivers can recognise by `X-CX-Delivery`. Every
 * attempt is recorded in `alert_deliveries`.
 */
import type { Kafka } from 'kafkajs';
import type { Store } from '../../platform/clickhouse/store.ts';
import type { GroupConsumerOptions } from '../../platform/kafka/groupMember.ts';
import type { Logger } from '../../platform/log.ts';
import { StageRuntime, type Chunk, type Output, type Stage, type StageContext } from '../../platform/stage/runtime.ts';
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

class NotifyStage implements Stage {
  readonly name = 'alert notifier';
  readonly topics: string[];
  readonly stats = { alerts: 0, attempts: 0 };
  readonly ticks = [{ name: 'delivery records', everyMs: 1000, serial: false, run: async () => (await this.flush(), null) }];
  private ctx?: StageContext;
  private readonly attempts: DeliveryAttempt[] = [];
  private flushing: Promise<void> = Promise.resolve();
  /** Set once a stop begins: deliveries cut short by it are not committed (they are delivered again). */
  stopping = false;

  constructor(private readonly o: NotifyWorkerOptions) {
    this.topics = [o.alertsTopic];
  }

  async open(ctx: StageContext): Promise<void> {
    this.ctx = ctx;
  }

  /** Where notifiers report their attempts. */
  readonly record = (a: DeliveryAttempt): void => {
    this.attempts.push(a);
    this.stats.attempts++;
  };

  /** Delivers every alert of the round; the round commits once every notifier has settled every change (the runtime heartbeats meanwhile). */
  async round(chunks: Chunk[]): Promise<Output> {
    const settled: Promise<void>[] = [];
    for (const chunk of chunks) {
      for (const m of chunk.messages) {
        const d = this.o.registry.decode(m.value);
        if (!d.ok || d.family !== ALERT_EVENT) {
          this.o.log.warn({ topic: chunk.topic, partition: chunk.partition, offset: m.offset, reason: d.ok ? `a ${d.family}, not an AlertEvent` : d.reason }, 'notifier: skipping a message that is not an alert');
          continue;
        }
        const alert = d.value as unknown as AlertEvent;
        this.stats.alerts++;
        for (const n of this.o.notifiers) settled.push(n.notify(alert));
      }
    }
    await Promise.all(settled);
    await this.flush();
    return { writes: [], hook: false, commit: this.stopping ? [] : chunks };
  }

  async close(): Promise<void> {
    await this.flush();
  }

  /** Writes the attempts recorded so far to `alert_deliveries`. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.attempts.length === 0 || !this.ctx) return;
      const store = this.ctx.store;
      const batch = this.attempts.splice(0);
      try {
        const first = batch[0] as DeliveryAttempt;
        await store.insert(`${store.database}.alert_deliveries`, batch.map(deliveryRowOf), `alert_deliveries:${first.notifier}:${first.alert_id}:${first.version}:${first.attempt}:${first.attempted_at}:${batch.length}`);
      } catch (err) {
        this.attempts.unshift(...batch);
        this.o.log.warn({ err: (err as Error).message, attempts: batch.length }, 'notifier: could not record delivery attempts; keeping them for the next try');
      }
    });
    return this.flushing;
  }
}

/** The notifier worker: its own consumer group, so a slow endpoint holds back nothing but itself. */
export class NotifyWorker extends StageRuntime<NotifyStage> {
  private readonly notifiers: Notifier[];

  constructor(o: NotifyWorkerOptions) {
    super(new NotifyStage(o), { kafka: o.kafka, store: o.store, log: o.log, consumer: o.consumer, chunkSize: 10_000 }, () => this.stats);
    this.notifiers = o.notifiers;
  }

  get stats(): NotifyStage['stats'] {
    return this.stage.stats;
  }

  /** Where notifiers report their attempts. */
  get record(): (a: DeliveryAttempt) => void {
    return this.stage.record;
  }

  override async stop(timeoutMs = 5_000): Promise<void> {
    this.stage.stopping = true;
    // Deliveries in hand are cut short by closing the notifiers, so the consumer's stop does not wait on a slow endpoint.
    await Promise.all([super.stop(), ...this.notifiers.map((n) => n.close(timeoutMs))]);
  }
}
