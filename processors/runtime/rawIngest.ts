/**
 * The raw ingestion worker: a kafkajs consumer-group member that decodes each
 * message, writes raw rows and dead letters to ClickHouse, and commits offsets
 * only once those rows are durable. Bad messages never stop valid traffic.
 */
import { EventEmitter } from 'node:events';
import { CompressionTypes, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import type { Store } from '../../platform/clickhouse/store.ts';
import { PRODUCER_RETRY } from '../../platform/kafka/client.ts';
import { whileHeartbeating, type GroupConsumerOptions } from '../../platform/kafka/groupMember.ts';
import type { Logger } from '../../platform/log.ts';
import type { SchemaRegistry } from '../../schemas/registry.ts';
import { classify, classifyDeadLetterTopic, type Classified, type RawTable, type TopicFamilies } from './classify.ts';
import type { DeadLetter } from './rawRows.ts';
import { StoredOffsets } from './storedOffsets.ts';

export interface RawIngestOptions {
  kafka: Kafka;
  store: Store;
  registry: SchemaRegistry;
  log: Logger;
  /** The group and its timings (platform/kafka/groupMember.ts: consumerOptions). */
  consumer: GroupConsumerOptions;
  /** Input topic -> the record family it carries. */
  families: TopicFamilies;
  deadLetterTopic: string;
  /** Most messages per insert (a fetched batch is split into chunks of this size). */
  chunkSize: number;
  /** Called after a chunk's rows are stored and before its offsets are committed (tests inject crashes here). */
  afterStore?: (chunk: { topic: string; partition: number; lastOffset: string }) => void;
  clock?: () => number;
}

export interface IngestStats {
  consumed: number;
  touchpointRows: number;
  outcomeRows: number;
  deadLetters: number;
  /** Messages skipped because an earlier run had already stored them (replay after a crash). */
  replayedSkipped: number;
  chunks: number;
  /** Milliseconds spent in each step, for the benchmark's "where the time goes". */
  ms: { decode: number; deadLetterTopic: number; insert: number; commit: number };
}

const TABLE_ORDER: RawTable[] = ['dead_letters', 'touchpoint_events', 'outcome_events'];
const STAT_OF: Record<RawTable, 'deadLetters' | 'touchpointRows' | 'outcomeRows'> = {
  dead_letters: 'deadLetters',
  touchpoint_events: 'touchpointRows',
  outcome_events: 'outcomeRows',
};

type Message = { offset: string; key: Buffer | null; value: Buffer | null; headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined> };

const headerText = (h: Message['headers']): Record<string, string> =>
  Object.fromEntries(Object.entries(h ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(Array.isArray(v) ? v[0] : v)]])));

/**
 * Events: 'progress' (stats) after each committed chunk; 'fatal' (Error) when the
 * consumer has crashed and kafkajs will not restart it: the worker is dead and the
 * process should exit so a supervisor restarts it.
 */
export class RawIngest extends EventEmitter {
  readonly stats: IngestStats = {
    consumed: 0, touchpointRows: 0, outcomeRows: 0, deadLetters: 0, replayedSkipped: 0, chunks: 0,
    ms: { decode: 0, deadLetterTopic: 0, insert: 0, commit: 0 },
  };
  private consumer?: Consumer;
  private dlq?: Producer;
  private stored?: StoredOffsets;
  private cluster = '';
  private readonly clock: () => number;

  constructor(private readonly o: RawIngestOptions) {
    super();
    this.clock = o.clock ?? Date.now;
  }

  async start(): Promise<void> {
    const { kafka, families, log } = this.o;
    const admin = kafka.admin();
    await admin.connect();
    this.cluster = (await admin.describeCluster()).clusterId;
    await admin.disconnect();
    this.stored = new StoredOffsets(this.o.store, this.cluster);

    this.dlq = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: PRODUCER_RETRY });
    await this.dlq.connect();
    const consumer = kafka.consumer(this.o.consumer);
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.stored?.reset();
      log.info({ assignment: e.payload.memberAssignment }, 'joined consumer group');
    });
    consumer.on(consumer.events.CRASH, (e) => {
      log.error({ err: e.payload.error.message, restart: e.payload.restart }, 'consumer crashed');
      if (!e.payload.restart) this.emit('fatal', e.payload.error);
    });
    await consumer.connect();
    // The dead-letter topic too: dead letters other producers (file replay) send there are stored as well.
    await consumer.subscribe({ topics: [...Object.keys(families), this.o.deadLetterTopic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => whileHeartbeating(payload.heartbeat, this.o.consumer.heartbeatInterval, () => this.onBatch(payload)),
    });
  }

  /** Finishes and commits the chunk in hand, then leaves the group. */
  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    await this.dlq?.disconnect();
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }: EachBatchPayload): Promise<void> {
    const { topic, partition, messages, highWatermark } = batch;
    for (let i = 0; i < messages.length; i += this.o.chunkSize) {
      if (!isRunning() || isStale()) return;
      // A worker that lost its partitions in a rebalance learns it here, before writing.
      await heartbeat();
      const chunk = messages.slice(i, i + this.o.chunkSize);
      const lastOffset = chunk[chunk.length - 1]?.offset as string;
      try {
        await this.storeChunk(topic, partition, BigInt(highWatermark), chunk);
      } catch (err) {
        // The insert may have landed anyway (a timeout): re-read the marks before any retry.
        this.stored?.reset();
        throw err;
      }
      this.o.afterStore?.({ topic, partition, lastOffset });
      const t = performance.now();
      // Not consumer.commitOffsets: that one is skipped silently once a stop has begun,
      // and a clean stop must commit the chunk it just stored.
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: (BigInt(lastOffset) + 1n).toString() }] }] });
      this.stats.ms.commit += performance.now() - t;
      resolveOffset(lastOffset);
      this.stats.chunks++;
      this.emit('progress', this.stats);
    }
  }

  private async storeChunk(topic: string, partition: number, highWatermark: bigint, messages: Message[]): Promise<void> {
    const { registry, families, store, log } = this.o;
    const stored = this.stored as StoredOffsets;
    let t = performance.now();
    const now = this.clock();
    const byTable: Record<RawTable, { offset: bigint; c: Classified }[]> = { dead_letters: [], touchpoint_events: [], outcome_events: [] };
    const fromDeadLetterTopic = topic === this.o.deadLetterTopic;
    for (const m of messages) {
      const src = { cluster: this.cluster, topic, partition, offset: m.offset, key: m.key, value: m.value };
      const c = fromDeadLetterTopic ? classifyDeadLetterTopic(src, headerText(m.headers), now) : classify(registry, families, src, now);
      if (c) byTable[c.table].push({ offset: BigInt(m.offset), c });
    }
    this.stats.ms.decode += performance.now() - t;
    this.stats.consumed += messages.length;

    for (const table of TABLE_ORDER) {
      const entries = byTable[table];
      if (entries.length === 0) continue;
      let mark = await stored.highest(table, topic, partition);
      if (mark >= highWatermark) {
        // Stored offsets beyond the end of the log: the topic was deleted and created again.
        log.warn({ table, topic, partition, mark: String(mark), highWatermark: String(highWatermark) },
          'stored offsets run past the end of this partition: the topic was recreated; ingesting it from the start');
        stored.forget(table, topic, partition);
        mark = -1n;
      }
      const fresh = entries.filter((e) => e.offset > mark);
      this.stats.replayedSkipped += entries.length - fresh.length;
      if (fresh.length === 0) continue;
      const first = fresh[0]?.offset as bigint;
      const last = fresh[fresh.length - 1]?.offset as bigint;

      if (table === 'dead_letters') {
        t = performance.now();
        const letters = fresh.map((e) => e.c as Extract<Classified, { table: 'dead_letters' }>).filter((d) => d.publish);
        await this.publishDeadLetters(letters.map((d) => d.deadLetter));
        this.stats.ms.deadLetterTopic += performance.now() - t;
      }
      t = performance.now();
      await store.insert(`${store.database}.${table}`, fresh.map((e) => e.c.row), `${table}:${this.cluster}:${topic}:${partition}:${first}-${last}`);
      this.stats.ms.insert += performance.now() - t;
      stored.record(table, topic, partition, last);
      this.stats[STAT_OF[table]] += fresh.length;
    }

    const dead = byTable.dead_letters;
    if (dead.length) {
      const first = (dead[0]?.c as Extract<Classified, { table: 'dead_letters' }>).deadLetter;
      log.warn(
        { topic, partition, offsets: `${dead[0]?.offset}..${dead[dead.length - 1]?.offset}`, count: dead.length },
        `${dead.length} dead letter(s); first: ${first.reason}`,
      );
    }
  }

  private async publishDeadLetters(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.dlq?.send({
      topic: this.o.deadLetterTopic,
      // Compressed: a message that arrived compressed must still fit when it is sent on.
      compression: CompressionTypes.GZIP,
      messages: letters.map((d) => ({
        key: d.source.key,
        value: d.source.value ?? Buffer.alloc(0),
        headers: {
          'cx-reason': d.reason,
          'cx-reason-code': d.code,
          'cx-step': d.step,
          'cx-source-topic': d.source.topic,
          'cx-source-partition': String(d.source.partition),
          'cx-source-offset': d.source.offset,
        },
      })),
    });
  }
}
