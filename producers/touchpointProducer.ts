/**
 * The producer SDK: validates events against the contracts, encodes them as Avro
 * single-object messages keyed by customer_id, and sends them in batches with the
 * idempotent producer. `send()` resolves once Kafka has acknowledged the event.
 */
import type { Kafka, Producer, TopicMessages } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import {
  describeIssues, OUTCOME_EVENT, outcomeEventSchema, TOUCHPOINT_EVENT, touchpointEventSchema,
  type OutcomeEvent, type TouchpointEvent,
} from '../schemas/contracts.ts';
import type { SchemaRegistry } from '../schemas/registry.ts';
import { PRODUCER_RETRY } from '../platform/kafka/client.ts';

export interface TouchpointProducerOptions {
  touchpointsTopic: string;
  outcomesTopic: string;
  /** Send when this many events are waiting... */
  batchSize?: number;
  /** ...or when the oldest has waited this long (ms). */
  lingerMs?: number;
}

export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

interface Pending {
  topic: string;
  key: string | null;
  value: Buffer;
  headers?: Record<string, string>;
  done: { resolve: () => void; reject: (e: unknown) => void };
}

export class TouchpointProducer {
  private readonly producer: Producer;
  private queue: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  /** Events Kafka has acknowledged. */
  acknowledged = 0;

  constructor(kafka: Kafka, private readonly registry: SchemaRegistry, private readonly o: TouchpointProducerOptions) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      retry: PRODUCER_RETRY,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  send(event: TouchpointEvent): Promise<void> {
    const checked = touchpointEventSchema.safeParse(event);
    if (!checked.success) return Promise.reject(new InvalidEventError(`invalid TouchpointEvent ${event?.event_id ?? ''}: ${describeIssues(checked.error)}`));
    return this.enqueue(this.o.touchpointsTopic, event.customer_id, this.registry.encode(TOUCHPOINT_EVENT, checked.data));
  }

  sendOutcome(event: OutcomeEvent): Promise<void> {
    const checked = outcomeEventSchema.safeParse(event);
    if (!checked.success) return Promise.reject(new InvalidEventError(`invalid OutcomeEvent ${event?.event_id ?? ''}: ${describeIssues(checked.error)}`));
    return this.enqueue(this.o.outcomesTopic, event.customer_id, this.registry.encode(OUTCOME_EVENT, checked.data));
  }

  /** Sends raw bytes as they are, with optional headers (dead letters, and tests of foreign data). */
  sendRaw(topic: string, key: string | null, value: Buffer, headers?: Record<string, string>): Promise<void> {
    return this.enqueue(topic, key, value, headers);
  }

  /** Sends everything queued and waits for every acknowledgement. */
  async flush(): Promise<void> {
    this.sendQueued();
    while (this.inFlight || this.queue.length) {
      await this.inFlight;
      this.sendQueued();
    }
  }

  async disconnect(): Promise<void> {
    await this.flush();
    await this.producer.disconnect();
  }

  private enqueue(topic: string, key: string | null, value: Buffer, headers?: Record<string, string>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ topic, key, value, headers, done: { resolve, reject } });
      if (this.queue.length >= (this.o.batchSize ?? 500)) this.sendQueued();
      else this.timer ??= setTimeout(() => this.sendQueued(), this.o.lingerMs ?? 20);
    });
  }

  /**
   * One request in flight at a time: kafkajs rewinds the idempotent sequence of a
   * failed request, which a concurrent request could already have taken, so
   * overlapping requests could reorder a customer's events or be refused. Events that
   * arrive meanwhile wait and go out together in the next request.
   */
  private sendQueued(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight || this.queue.length === 0) return;
    const max = (this.o.batchSize ?? 500) * 4;
    const batch = this.queue.splice(0, max);
    const byTopic = new Map<string, TopicMessages>();
    for (const p of batch) {
      let t = byTopic.get(p.topic);
      if (!t) byTopic.set(p.topic, (t = { topic: p.topic, messages: [] }));
      t.messages.push({ key: p.key, value: p.value, headers: p.headers });
    }
    this.inFlight = this.producer
      .sendBatch({ topicMessages: [...byTopic.values()] })
      .then(() => {
        this.acknowledged += batch.length;
        for (const p of batch) p.done.resolve();
      })
      .catch((err: unknown) => {
        for (const p of batch) p.done.reject(err);
      })
      .finally(() => {
        this.inFlight = undefined;
        this.sendQueued();
      });
  }
}
