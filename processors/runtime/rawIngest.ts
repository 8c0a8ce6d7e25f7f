/**
 * The raw ingestion stage: decodes each message, writes raw rows and dead letters to
 * ClickHouse, and (through the stage runtime) commits offsets only once those rows are
 * durable. Bad messages never stop valid traffic.
 *
 * Replay protection: each table holds, per source partition, rows in offset order, so
 * its highest stored offset marks everything before it as stored (StoredOffsets); a
 * replayed message at or below the mark is skipped, whatever the round boundaries.
 */
import { CompressionTypes, type Kafka, type Producer } from 'kafkajs';
import type { Store } from '../../platform/clickhouse/store.ts';
import { PRODUCER_RETRY } from '../../platform/kafka/client.ts';
import type { GroupConsumerOptions } from '../../platform/kafka/groupMember.ts';
import type { Logger } from '../../platform/log.ts';
import { StageRuntime, type Chunk, type Output, type RuntimeOptions, type Stage, type StageContext, type Write } from '../../platform/stage/runtime.ts';
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
  /** Most messages of one partition per round (a fetched batch is split into chunks of this size). */
  chunkSize: number;
  /** Called after a round's rows are stored and before its offsets are committed (tests inject crashes here). */
  afterStore?: RuntimeOptions['afterStore'];
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

type Message = Chunk['messages'][number];

const headerText = (h: Message['headers']): Record<string, string> =>
  Object.fromEntries(Object.entries(h ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(Array.isArray(v) ? v[0] : v)]])));

class RawIngestStage implements Stage {
  readonly name = 'raw ingest';
  readonly topics: string[];
  readonly stats: IngestStats = {
    consumed: 0, touchpointRows: 0, outcomeRows: 0, deadLetters: 0, replayedSkipped: 0, chunks: 0,
    ms: { decode: 0, deadLetterTopic: 0, insert: 0, commit: 0 },
  };
  private ctx?: StageContext;
  private dlq?: Producer;
  private stored?: StoredOffsets;
  private readonly clock: () => number;

  constructor(private readonly o: RawIngestOptions) {
    // The dead-letter topic too: dead letters other producers (file replay) send there are stored as well.
    this.topics = [...Object.keys(o.families), o.deadLetterTopic];
    this.clock = o.clock ?? Date.now;
  }

  async open(ctx: StageContext): Promise<void> {
    this.ctx = ctx;
    this.stored = new StoredOffsets(ctx.store, ctx.cluster);
    this.dlq = this.o.kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: PRODUCER_RETRY });
    await this.dlq.connect();
  }

  revoked(): void {
    // Another worker may have written more: re-read the marks.
    this.stored?.reset();
  }

  failed(): void {
    // The insert may have landed anyway (a timeout): re-read the marks before any retry.
    this.stored?.reset();
  }

  async close(): Promise<void> {
    await this.dlq?.disconnect();
  }

  async round(chunks: Chunk[]): Promise<Output> {
    const { registry, families, log } = this.o;
    const ctx = this.ctx as StageContext;
    const stored = this.stored as StoredOffsets;
    let t = performance.now();
    const now = this.clock();
    // Per table, each chunk's entries (in offset order).
    const byTable = new Map<RawTable, { chunk: Chunk; entries: { offset: bigint; c: Classified }[] }[]>(TABLE_ORDER.map((table) => [table, []]));
    for (const chunk of chunks) {
      const { topic, partition } = chunk;
      const fromDeadLetterTopic = topic === this.o.deadLetterTopic;
      const mine = new Map<RawTable, { offset: bigint; c: Classified }[]>(TABLE_ORDER.map((table) => [table, []]));
      for (const m of chunk.messages) {
        const src = { cluster: ctx.cluster, topic, partition, offset: m.offset, key: m.key, value: m.value };
        const c = fromDeadLetterTopic ? classifyDeadLetterTopic(src, headerText(m.headers), now) : classify(registry, families, src, now);
        if (c) mine.get(c.table)?.push({ offset: BigInt(m.offset), c });
      }
      for (const [table, entries] of mine) if (entries.length) byTable.get(table)?.push({ chunk, entries });
      this.stats.consumed += chunk.messages.length;
      const dead = mine.get('dead_letters') ?? [];
      if (dead.length) {
        const first = (dead[0]?.c as Extract<Classified, { table: 'dead_letters' }>).deadLetter;
        log.warn(
          { topic, partition, offsets: `${dead[0]?.offset}..${dead[dead.length - 1]?.offset}`, count: dead.length },
          `${dead.length} dead letter(s); first: ${first.reason}`,
        );
      }
    }
    this.stats.ms.decode += performance.now() - t;

    const writes: Write[] = [];
    const marks: { table: RawTable; topic: string; partition: number; last: bigint; rows: number }[] = [];
    for (const table of TABLE_ORDER) {
      const rows: object[] = [];
      const spans: string[] = [];
      const letters: DeadLetter[] = [];
      for (const { chunk, entries } of byTable.get(table) ?? []) {
        const { topic, partition } = chunk;
        let mark = await stored.highest(table, topic, partition);
        if (mark >= chunk.highWatermark) {
          // Stored offsets beyond the end of the log: the topic was deleted and created again.
          log.warn({ table, topic, partition, mark: String(mark), highWatermark: String(chunk.highWatermark) },
            'stored offsets run past the end of this partition: the topic was recreated; ingesting it from the start');
          stored.forget(table, topic, partition);
          mark = -1n;
        }
        const fresh = entries.filter((e) => e.offset > mark);
        this.stats.replayedSkipped += entries.length - fresh.length;
        if (fresh.length === 0) continue;
        const first = fresh[0]?.offset as bigint;
        const last = fresh[fresh.length - 1]?.offset as bigint;
        for (const e of fresh) {
          rows.push(e.c.row);
          if (e.c.table === 'dead_letters' && e.c.publish) letters.push(e.c.deadLetter);
        }
        spans.push(`${topic}:${partition}:${first}-${last}`);
        marks.push({ table, topic, partition, last, rows: fresh.length });
      }
      if (rows.length === 0) continue;
      if (letters.length) {
        // On the dead-letter topic before the rows are stored: a crash in between sends them again, never loses them.
        t = performance.now();
        await this.publishDeadLetters(letters);
        this.stats.ms.deadLetterTopic += performance.now() - t;
      }
      writes.push({ table, rows, token: `${table}:${ctx.cluster}:${spans.join(',')}` });
    }
    t = performance.now();
    return {
      writes,
      stored: () => {
        this.stats.ms.insert += performance.now() - t;
        for (const m of marks) {
          stored.record(m.table, m.topic, m.partition, m.last);
          this.stats[STAT_OF[m.table]] += m.rows;
        }
        this.stats.chunks += chunks.length;
      },
    };
  }

  private async publishDeadLetters(letters: DeadLetter[]): Promise<void> {
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

/**
 * The raw ingestion worker: a consumer-group member running the raw ingestion stage.
 * Events: 'progress' (stats) after each committed round; 'fatal' (Error) when the
 * consumer has crashed and kafkajs will not restart it.
 */
export class RawIngest extends StageRuntime<RawIngestStage> {
  constructor(o: RawIngestOptions) {
    const stage = new RawIngestStage(o);
    super(stage, { kafka: o.kafka, store: o.store, log: o.log, consumer: o.consumer, chunkSize: o.chunkSize, afterStore: o.afterStore, clock: o.clock }, () => this.stats);
  }

  get stats(): IngestStats {
    this.stage.stats.ms.commit = this.timing.ms.commit;
    return this.stage.stats;
  }
}
