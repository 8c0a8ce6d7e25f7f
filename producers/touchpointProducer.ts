/**
 * The producer SDK: validates events against the contracts, encodes them as Avro
 * single-object messages keyed by customer_id, and sends them in batches with the
 * idempotent producer.
 *
 * - `send()` resolves once Kafka has acknowledged the event, and only then; it rejects
 *   only when the event is certainly not on the topic (see sdk/errors.ts for which).
 * - While Kafka is away it keeps the events (a bounded buffer, producerBufferBytes) and
 *   retries until Kafka answers; a send that finds the buffer full waits for room, for
 *   at most producerMaxBlockMs, then fails with BufferFullError.
 * - An event too large for one record batch of its topic is refused before it is queued.
 * - `send(event, { signal })`: aborting takes the event back while it is still queued.
 */
import type { Kafka, Producer } from 'kafkajs';
import { describeIssues, OUTCOME_EVENT, TOUCHPOINT_EVENT, type OutcomeEvent, type TouchpointEvent } from '../schemas/contracts.ts';
import type { SchemaRegistry } from '../schemas/registry.ts';
import { validateOutcome, validateTouchpoint } from '../schemas/validate.ts';
import { PRODUCER_RETRY } from '../platform/kafka/client.ts';
import type { Logger } from '../platform/log.ts';
import { Delivery } from './sdk/delivery.ts';
import { EventTooLargeError, InvalidEventError } from './sdk/errors.ts';
import { rootMessage } from './sdk/produceErrors.ts';
import { BATCH_OVERHEAD_BYTES, recordBytes } from './sdk/recordSize.ts';
import { SendBuffer } from './sdk/sendBuffer.ts';
import { loadTopicLayout, partitionChooser, type TopicLayout } from './sdk/topicLayout.ts';

export { BufferFullError, EventTooLargeError, InvalidEventError, KafkaRefusedError, SendWithdrawnError } from './sdk/errors.ts';

export interface TouchpointProducerOptions {
  touchpointsTopic: string;
  outcomesTopic: string;
  /** Send when this many events are waiting... */
  batchSize?: number;
  /** ...or when the oldest has waited this long (ms). */
  lingerMs?: number;
  /** Bytes of encoded events held (queued or in flight) before sends wait (default 64 MiB). */
  bufferBytes?: number;
  /** How long a send waits for room before BufferFullError (default 60 s). */
  maxBlockMs?: number;
  /** Where outages are reported (warn), and recoveries. */
  log?: Logger;
}

export interface SendOptions {
  /** Aborting withdraws the event while it is still queued (its send then rejects with SendWithdrawnError). */
  signal?: AbortSignal;
}

/** An event checked, encoded and sized, ready to send. */
export interface PreparedEvent {
  topic: string;
  key: string;
  value: Buffer;
  /** Its size in a record batch (an upper bound). */
  bytes: number;
}

export type Prepared = { ok: true; event: PreparedEvent } | { ok: false; error: InvalidEventError | EventTooLargeError };

export class TouchpointProducer {
  private producer: Producer;
  private readonly layouts = new Map<string, TopicLayout>();
  private readonly loading = new Map<string, Promise<TopicLayout>>();
  private readonly choosePartition = partitionChooser();
  private readonly buffer: SendBuffer;
  private readonly delivery: Delivery;
  /** Events Kafka has acknowledged. */
  acknowledged = 0;

  constructor(private readonly kafka: Kafka, private readonly registry: SchemaRegistry, private readonly o: TouchpointProducerOptions) {
    this.producer = this.newProducer();
    this.buffer = new SendBuffer(o.bufferBytes ?? 64 * 1024 * 1024, o.maxBlockMs ?? 60_000);
    this.delivery = new Delivery({
      batchSize: o.batchSize ?? 500,
      lingerMs: o.lingerMs ?? 20,
      maxBatchBytes: (topic) => (this.layouts.get(topic) as TopicLayout).maxBatchBytes,
      leaderOf: (topic, partition) => (this.layouts.get(topic) as TopicLayout).partitions.find((p) => p.partitionId === partition)?.leader ?? -1,
      produce: (topicMessages) => this.producer.sendBatch({ topicMessages }),
      // The topic's limit changed under us: read it again, so later events are refused before they are queued.
      onRefused: (topic, type) => {
        if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE') void this.reloadLayout(topic);
      },
      resetProducer: async () => {
        await this.producer.disconnect().catch(() => undefined);
        this.producer = this.newProducer();
        await this.producer.connect();
      },
      log: o.log,
    });
  }

  /** Connects, and reads the partitions and size limits of the event topics. */
  async connect(): Promise<void> {
    await this.producer.connect();
    await Promise.all([this.layout(this.o.touchpointsTopic), this.layout(this.o.outcomesTopic)]);
  }

  /** Bytes held for Kafka (queued or in flight), and whether Kafka is answering. */
  get status(): { bufferedBytes: number; waitingSends: number; pending: number; kafkaAway: boolean } {
    return { bufferedBytes: this.buffer.heldBytes, waitingSends: this.buffer.waiting, pending: this.delivery.pending, kafkaAway: this.delivery.kafkaAway };
  }

  /** The largest record batch the topic takes, once known (after connect() for the event topics). */
  maxBatchBytes(topic: string): number | undefined {
    return this.layouts.get(topic)?.maxBatchBytes;
  }

  prepare(event: TouchpointEvent): Prepared {
    // The hot-path validator (held equal to the zod schema by tests/unit/validator.test.ts); zod words the refusal.
    const checked = validateTouchpoint(event);
    if (!checked.success) return { ok: false, error: new InvalidEventError(`invalid TouchpointEvent ${event?.event_id ?? ''}: ${describeIssues(checked.error)}`) };
    return this.sized(this.o.touchpointsTopic, event.customer_id, this.registry.encode(TOUCHPOINT_EVENT, checked.data), `TouchpointEvent ${event.event_id}`);
  }

  prepareOutcome(event: OutcomeEvent): Prepared {
    const checked = validateOutcome(event);
    if (!checked.success) return { ok: false, error: new InvalidEventError(`invalid OutcomeEvent ${event?.event_id ?? ''}: ${describeIssues(checked.error)}`) };
    return this.sized(this.o.outcomesTopic, event.customer_id, this.registry.encode(OUTCOME_EVENT, checked.data), `OutcomeEvent ${event.event_id}`);
  }

  send(event: TouchpointEvent, opts?: SendOptions): Promise<void> {
    const p = this.prepare(event);
    return p.ok ? this.sendPrepared(p.event, opts) : Promise.reject(p.error);
  }

  sendOutcome(event: OutcomeEvent, opts?: SendOptions): Promise<void> {
    const p = this.prepareOutcome(event);
    return p.ok ? this.sendPrepared(p.event, opts) : Promise.reject(p.error);
  }

  /** Sends raw bytes as they are, with optional headers (dead letters, and tests of foreign data). */
  async sendRaw(topic: string, key: string | null, value: Buffer, headers?: Record<string, string>, opts?: SendOptions): Promise<void> {
    const layout = this.layouts.get(topic) ?? (await this.layout(topic));
    const bytes = recordBytes(key, value, headers);
    if (bytes + BATCH_OVERHEAD_BYTES > layout.maxBatchBytes) throw new EventTooLargeError(bytes + BATCH_OVERHEAD_BYTES, layout.maxBatchBytes, topic, `a raw message for ${topic}`);
    return this.enqueue(layout, key, value, headers, bytes, opts);
  }

  /** Sends an event prepare() accepted. Synchronous up to the queue, so events keep the order of the calls. */
  sendPrepared(e: PreparedEvent, opts?: SendOptions): Promise<void> {
    const layout = this.layouts.get(e.topic);
    if (!layout) return this.layout(e.topic).then(() => this.sendPrepared(e, opts));
    if (e.bytes + BATCH_OVERHEAD_BYTES > layout.maxBatchBytes) return Promise.reject(new EventTooLargeError(e.bytes + BATCH_OVERHEAD_BYTES, layout.maxBatchBytes, e.topic, `the event for ${e.topic}`));
    return this.enqueue(layout, e.key, e.value, undefined, e.bytes, opts);
  }

  /** Sends everything queued and waits for every acknowledgement (through an outage, however long). */
  flush(): Promise<void> {
    return this.delivery.flush();
  }

  async disconnect(): Promise<void> {
    await this.flush();
    await this.producer.disconnect();
  }

  private sized(topic: string, key: string, value: Buffer, what: string): Prepared {
    const bytes = recordBytes(key, value);
    const limit = this.layouts.get(topic)?.maxBatchBytes;
    if (limit !== undefined && bytes + BATCH_OVERHEAD_BYTES > limit) return { ok: false, error: new EventTooLargeError(bytes + BATCH_OVERHEAD_BYTES, limit, topic, what) };
    return { ok: true, event: { topic, key, value, bytes } };
  }

  private enqueue(layout: TopicLayout, key: string | null, value: Buffer, headers: Record<string, string> | undefined, bytes: number, opts?: SendOptions): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.buffer.acquire(
        bytes,
        () => {
          const partition = this.choosePartition(layout, key);
          const settle = () => this.buffer.release(bytes);
          this.delivery.add(
            {
              topic: layout.topic, partition, key, value, headers, bytes,
              resolve: () => {
                settle();
                this.acknowledged++;
                resolve();
              },
              reject: (e) => {
                settle();
                reject(e);
              },
            },
            opts?.signal,
          );
        },
        reject,
        opts?.signal,
      );
    });
  }

  /** Partitions and limits of a topic, read once; retried while Kafka is away, for up to maxBlockMs. */
  private layout(topic: string): Promise<TopicLayout> {
    let p = this.loading.get(topic);
    if (!p) {
      const deadline = Date.now() + (this.o.maxBlockMs ?? 60_000);
      p = (async () => {
        for (let wait = 200; ; wait = Math.min(wait * 2, 5_000)) {
          try {
            const l = await loadTopicLayout(this.kafka, topic);
            this.layouts.set(topic, l);
            return l;
          } catch (err) {
            if (Date.now() + wait > deadline) {
              this.loading.delete(topic);
              throw new Error(`cannot read the partitions and max.message.bytes of ${topic}: ${rootMessage(err)}. Is Kafka up, and does the topic exist?`);
            }
            this.o.log?.warn({ topic, error: rootMessage(err) }, 'cannot read the topic\'s partitions and limits yet; retrying');
            await new Promise((r) => setTimeout(r, wait));
          }
        }
      })();
      this.loading.set(topic, p);
    }
    return p;
  }

  private async reloadLayout(topic: string): Promise<void> {
    try {
      const l = await loadTopicLayout(this.kafka, topic);
      const before = this.layouts.get(topic)?.maxBatchBytes;
      this.layouts.set(topic, l);
      if (before !== l.maxBatchBytes) this.o.log?.warn({ topic, before, now: l.maxBatchBytes, source: l.limitSource }, 'the topic\'s record batch limit changed; events over it are now refused before they are queued');
    } catch {
      // Kept as it was: Kafka still refuses what is too large, one event at a time.
    }
  }

  private newProducer(): Producer {
    // The SDK chooses each partition itself (message.partition), so no partitioner is needed here.
    return this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: PRODUCER_RETRY });
  }
}
