/**
 * Gets queued records onto their partitions exactly once, in order per partition.
 *
 * Why it is built this way (kafkajs 2.2.4, src/producer/sendMessages.js): before a
 * produce request, kafkajs advances the idempotent sequence of every partition in it;
 * when the request throws, it rewinds all of them, although the broker may have written
 * some (a produce response carries one error code per partition, and kafkajs throws on
 * the first one). A later, different batch then reuses a sequence the broker already
 * holds: the broker answers "duplicate" without writing it (an acknowledged event lost)
 * or "out of order sequence" (every later request on that partition refused).
 *
 * So the rule here: after any failure, the batches of that request are resent exactly
 * as they were (same records, same partition, hence the same sequence), each in a
 * request of its own, before anything else goes to their partitions. A batch the broker
 * wrote comes back as a duplicate, which is an acknowledgement; one it refused fails
 * again, alone, and its records are then refused one by one so each gets its own
 * answer. A timeout or a dropped connection is retried the same way, with backoff,
 * for as long as it takes: that is what makes retrying an idempotent send safe.
 */
import type { Message, TopicMessages } from 'kafkajs';
import type { Logger } from '../../platform/log.ts';
import { abortReason, KafkaRefusedError, SendWithdrawnError } from './errors.ts';
import { classifyProduceError, rootMessage } from './produceErrors.ts';
import { BATCH_OVERHEAD_BYTES } from './recordSize.ts';

export interface OutgoingRecord {
  topic: string;
  partition: number;
  key: string | null;
  value: Buffer;
  headers?: Record<string, string>;
  /** Upper bound of its size in a record batch. */
  bytes: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Queued extends OutgoingRecord {
  /** Sent in a batch of its own (after its batch was refused: each record gets its own answer). */
  alone?: boolean;
  /** Detaches the caller's abort signal once the record is in a request. */
  detach?: () => void;
}

interface Lane {
  topic: string;
  partition: number;
  leader: number;
  queue: Queued[];
  /** A batch whose fate is unknown: resent alone and unchanged before anything else. */
  inDoubt?: Queued[];
}

interface Batch {
  lane: Lane;
  records: Queued[];
}

export interface DeliveryOptions {
  /** Records per partition batch, and the queue length that sends without waiting for the linger. */
  batchSize: number;
  lingerMs: number;
  /** Bytes one partition's record batch may take (the topic's max.message.bytes). */
  maxBatchBytes: (topic: string) => number;
  /** Leader broker of a partition: one request goes to one broker, so its outcome is one. */
  leaderOf: (topic: string, partition: number) => number;
  produce: (topicMessages: TopicMessages[]) => Promise<unknown>;
  /** Kafka refused a batch outright (e.g. MESSAGE_TOO_LARGE after the topic's limit was lowered). */
  onRefused?: (topic: string, type: string) => void;
  /** A new producer id (fresh sequences), after the broker lost track of ours. */
  resetProducer: () => Promise<void>;
  log?: Logger;
  initialRetryMs?: number;
  maxRetryMs?: number;
}

/** Bytes of one produce request, well under the broker's socket.request.max.bytes (100 MiB). */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
/** A request unanswered for this long is reported (kafkajs may be retrying it quietly). */
const SLOW_REQUEST_MS = 5_000;
const OUTAGE_REPORT_EVERY_MS = 15_000;

export class Delivery {
  private readonly lanes = new Map<string, Lane>();
  private queued = 0;
  private inDoubt = 0;
  private inFlight?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private retryAt = 0;
  private retryMs: number;
  private outage?: { since: number; lastReport: number; error: string };

  constructor(private readonly o: DeliveryOptions) {
    this.retryMs = o.initialRetryMs ?? 200;
  }

  /** Records queued or in doubt (not yet acknowledged nor refused), in flight excluded. */
  get pending(): number {
    return this.queued + this.inDoubt;
  }

  /** True while Kafka is not answering (since the first failed or slow request). */
  get kafkaAway(): boolean {
    return this.outage !== undefined;
  }

  add(record: OutgoingRecord, signal?: AbortSignal): void {
    const lane = this.lane(record.topic, record.partition);
    const r: Queued = record;
    lane.queue.push(r);
    this.queued++;
    if (signal) {
      // Until the record is in a request it can still be withdrawn, and then it is certainly not on the topic.
      const onAbort = () => {
        const i = lane.queue.indexOf(r);
        if (i < 0) return;
        lane.queue.splice(i, 1);
        this.queued--;
        r.reject(new SendWithdrawnError(abortReason(signal)));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      r.detach = () => signal.removeEventListener('abort', onAbort);
    }
    if (this.queued >= this.o.batchSize) this.pump();
    else this.timer ??= setTimeout(() => this.pump(), this.o.lingerMs);
  }

  /** Sends everything queued and waits until every record is acknowledged or refused. */
  async flush(): Promise<void> {
    for (;;) {
      this.pump();
      if (this.inFlight) await this.inFlight;
      else if (this.pending) await new Promise((r) => setTimeout(r, Math.max(1, this.retryAt - Date.now())));
      else return;
    }
  }

  private lane(topic: string, partition: number): Lane {
    const key = `${topic}\u0000${partition}`;
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = { topic, partition, leader: this.o.leaderOf(topic, partition), queue: [] }));
    return lane;
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight || this.pending === 0) return;
    const wait = this.retryAt - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => this.pump(), wait);
      return;
    }
    const batches = this.nextRequest();
    if (batches.length === 0) return;
    this.inFlight = this.execute(batches).finally(() => {
      this.inFlight = undefined;
      this.pump();
    });
  }

  /** A batch in doubt goes alone; otherwise one batch per partition that has records, for one leader. */
  private nextRequest(): Batch[] {
    for (const lane of this.lanes.values()) {
      if (lane.inDoubt) {
        const records = lane.inDoubt;
        lane.inDoubt = undefined;
        this.inDoubt -= records.length;
        return [{ lane, records }];
      }
    }
    const batches: Batch[] = [];
    let leader: number | undefined;
    let requestBytes = 0;
    for (const lane of this.lanes.values()) {
      if (lane.queue.length === 0 || (leader !== undefined && lane.leader !== leader)) continue;
      const room = Math.min(this.o.maxBatchBytes(lane.topic) - BATCH_OVERHEAD_BYTES, MAX_REQUEST_BYTES - requestBytes);
      let bytes = 0;
      let n = 0;
      for (const r of lane.queue) {
        if (n >= this.o.batchSize || (n > 0 && (r.alone || bytes + r.bytes > room))) break;
        bytes += r.bytes;
        n++;
        if (r.alone) break;
      }
      // The first record always goes, even alone over `room`: the SDK refuses too-large events before they are queued.
      if (n === 0 || (batches.length > 0 && bytes > room)) continue;
      const records = lane.queue.splice(0, n);
      for (const r of records) r.detach?.();
      this.queued -= n;
      batches.push({ lane, records });
      leader = lane.leader;
      requestBytes += bytes;
      if (requestBytes >= MAX_REQUEST_BYTES) break;
    }
    return batches;
  }

  private async execute(batches: Batch[]): Promise<void> {
    const slow = setTimeout(() => this.reportOutage(`no answer to a produce request for ${SLOW_REQUEST_MS / 1000} s`), SLOW_REQUEST_MS);
    try {
      await this.o.produce(toTopicMessages(batches));
      this.delivered(batches);
    } catch (err) {
      const failure = classifyProduceError(err);
      if (failure.kind === 'already_written') return this.delivered(batches);
      if (batches.length > 1 || failure.kind === 'ambiguous') {
        // Which partitions the broker wrote is unknown: each batch is resent alone, unchanged.
        for (const b of batches) this.putInDoubt(b);
        if (failure.kind === 'ambiguous') this.backOff(err);
        return;
      }
      const [{ lane, records }] = batches as [Batch];
      this.o.onRefused?.(lane.topic, failure.type);
      this.o.log?.warn({ topic: lane.topic, partition: lane.partition, type: failure.type, events: records.length, error: rootMessage(err) }, `Kafka refused a batch (${failure.type}); none of it is on the topic${records.length > 1 ? ', resending its events one by one' : ''}`);
      if (failure.resetProducer) {
        this.o.log?.warn({ topic: lane.topic, partition: lane.partition, error: rootMessage(err) }, 'Kafka lost track of this producer\'s sequence numbers; starting a new producer id');
        await this.o.resetProducer().catch((e: unknown) => this.backOff(e));
      }
      if (records.length > 1) {
        // Refused as a whole, so none of it is on the topic: resend one by one, and each record gets its own answer.
        for (const r of records) r.alone = true;
        lane.queue.unshift(...records);
        this.queued += records.length;
        return;
      }
      for (const r of records) r.reject(new KafkaRefusedError(failure.type, lane.topic, lane.partition, rootMessage(err)));
    } finally {
      clearTimeout(slow);
    }
  }

  private putInDoubt(b: Batch): void {
    b.lane.inDoubt = b.records;
    this.inDoubt += b.records.length;
  }

  private delivered(batches: Batch[]): void {
    this.retryMs = this.o.initialRetryMs ?? 200;
    this.retryAt = 0;
    if (this.outage) {
      this.o.log?.warn({ awaySeconds: (Date.now() - this.outage.since) / 1000, pending: this.pending }, 'Kafka answers again; delivering the events held meanwhile');
      this.outage = undefined;
    }
    for (const b of batches) for (const r of b.records) r.resolve();
  }

  private backOff(err: unknown): void {
    this.retryAt = Date.now() + this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.o.maxRetryMs ?? 1_000);
    this.reportOutage(rootMessage(err));
  }

  private reportOutage(error: string): void {
    const now = Date.now();
    if (this.outage && now - this.outage.lastReport < OUTAGE_REPORT_EVERY_MS) return;
    const since = this.outage?.since ?? now;
    this.outage = { since, lastReport: now, error };
    this.o.log?.warn(
      { error, awaySeconds: Math.round((now - since) / 1000), pending: this.pending },
      'Kafka is not answering; the producer keeps its events and retries until it does (sends wait when its buffer is full)',
    );
  }
}

function toTopicMessages(batches: Batch[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>();
  for (const { lane, records } of batches) {
    let messages = byTopic.get(lane.topic);
    if (!messages) byTopic.set(lane.topic, (messages = []));
    for (const r of records) messages.push({ key: r.key, value: r.value, headers: r.headers, partition: lane.partition });
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}
