/**
 * The stage runtime: what every processor stage does with Kafka, ClickHouse and the
 * clock, written once. A stage (processors/runtime/*) says only what is particular to
 * it: which topics, how a round of chunks folds into rows and state, and its timed
 * work. The runtime keeps the crash-safety rules:
 *
 * 1. A round is one chunk (at most `chunkSize` messages) of every partition the last
 *    fetch brought, folded together, so each table gets one insert per round whatever
 *    the number of partitions.
 * 2. Writes are stored in the order the stage gives them: result rows first, then the
 *    state that produced them. Then `afterStore` (tests inject crashes there), then the
 *    side effect that makes the round final: the offsets' commit (or a publish). A crash
 *    anywhere before the commit replays the round, and the stages' rows are keyed by
 *    their content (or skipped by stored marks), so a replay lands on the same rows.
 * 3. A store that fails makes the stage forget what moved past it for those partitions
 *    (its state is restored from the last checkpoint) and ends the batches; kafkajs
 *    fetches again from the last commit.
 * 4. A rebalance makes the stage forget every partition: the next owner restores it.
 * 5. The member heartbeats while a round waits on ClickHouse (whileHeartbeating), and
 *    before each round; a batch that went stale (a seek) or a stop that began ends
 *    before it writes anything.
 * 6. Timed work (idle flushes, the live stool, alert rounds) keeps the same order of
 *    store, hook, side effect; a tick marked serial never overlaps a round.
 * 7. A consumer crash kafkajs will not restart is 'fatal': the process should exit so
 *    a supervisor restarts it. Other errors of timed work are logged and retried on the
 *    next tick.
 * 8. A clean stop finishes and commits the round in hand, then leaves the group.
 */
import { EventEmitter } from 'node:events';
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Store } from '../clickhouse/store.ts';
import { whileHeartbeating, type GroupConsumerOptions } from '../kafka/groupMember.ts';
import type { Logger } from '../log.ts';

/** One partition's share of a round. */
export interface Chunk {
  topic: string;
  partition: number;
  highWatermark: bigint;
  messages: KafkaMessage[];
  firstOffset: string;
  lastOffset: string;
}

/** Rows for one table (its name without the database), and the token that makes a retried insert land once. */
export interface Write {
  table: string;
  rows: readonly object[];
  token: string;
}

export interface Output {
  /** In order: result rows first, the state that produced them last. */
  writes: Write[];
  /** Called once every write is stored (before the hook and the commit). */
  stored?: () => void;
  /** Called when a write failed: forget what moved past the last stored state. */
  failed?: () => void;
  /** Chunks whose offsets the round commits (default: all of them). A chunk left out ends its batch uncommitted. */
  commit?: Chunk[];
  /** The side effect that makes timed work final, after the hook (e.g. publishing alert changes). */
  after?: () => Promise<void>;
  /** Whether `afterStore` is called for this output (default: when it wrote anything or commits chunks). */
  hook?: boolean;
}

export interface StageContext {
  readonly cluster: string;
  readonly store: Store;
  readonly admin: Admin;
  readonly consumer: Consumer;
  readonly log: Logger;
  readonly clock: () => number;
  /** Stores an output by the rules above, outside a round (end of input, timed work). */
  storeOutput(out: Output, chunks?: Chunk[]): Promise<void>;
}

export interface Tick {
  name: string;
  everyMs: number;
  /** Run through the same lock as rounds (it changes state the rounds use). */
  serial: boolean;
  run(): Promise<Output | null>;
}

export interface Stage {
  /** Used in log lines: 'metrics'. */
  readonly name: string;
  readonly topics: string[];
  /** Whether rounds commit their offsets (false: the stage reads a topic from its start every time it takes over). */
  readonly commits?: boolean;
  /** Before the consumer joins: the context is ready. */
  open?(ctx: StageContext): Promise<void>;
  /** A new generation: the partitions this member holds now, per topic. */
  assigned?(assignment: Record<string, number[]>): void;
  /** The group is rebalancing or the consumer crashed: forget every partition. */
  revoked?(): void;
  /** Folds a round into what to store. */
  round(chunks: Chunk[]): Promise<Output>;
  /** A store of these chunks' round failed: forget what moved past the last stored state. */
  failed?(chunks: Chunk[]): void;
  readonly ticks?: Tick[];
  /** After the consumer has left the group and every tick has finished. */
  close?(): Promise<void>;
}

export interface RuntimeOptions {
  kafka: Kafka;
  store: Store;
  log: Logger;
  /** The group and its timings (platform/kafka/groupMember.ts: consumerOptions). */
  consumer: GroupConsumerOptions;
  /** Most messages of one partition in a round. */
  chunkSize: number;
  /** After a round's (or a tick's) writes are stored and before its commit or side effect. */
  afterStore?: (chunks: readonly Pick<Chunk, 'topic' | 'partition' | 'lastOffset'>[]) => void | Promise<void>;
  clock?: () => number;
}

export interface RuntimeTiming {
  rounds: number;
  /** Milliseconds spent folding, storing and committing. */
  ms: { fold: number; store: number; commit: number };
}

type Waiting = { chunk: Chunk; payload: EachBatchPayload; resolve: (committed: boolean) => void; reject: (err: unknown) => void };

/**
 * Events: 'progress' (the stage's stats) after each stored round or tick; 'fatal'
 * (Error) when the consumer crashed for good.
 */
export class StageRuntime<S extends Stage = Stage> extends EventEmitter {
  readonly timing: RuntimeTiming = { rounds: 0, ms: { fold: 0, store: 0, commit: 0 } };
  protected consumer?: Consumer;
  protected admin?: Admin;
  protected cluster = '';
  private lock: Promise<unknown> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private readonly busy = new Set<Tick>();
  /** Batch handlers inside eachBatch now, and the chunks of theirs that wait for a round. */
  private active = 0;
  private waiting: Waiting[] = [];
  private roundScheduled = false;
  private readonly clock: () => number;
  /** Set when a stop begins: no more timed work is started (a round in hand still finishes and commits). */
  protected stopping = false;

  constructor(readonly stage: S, protected readonly o: RuntimeOptions, private readonly progressOf: () => unknown = () => undefined) {
    super();
    this.clock = o.clock ?? Date.now;
  }

  /** Runs `f` after everything queued before it: rounds, serial ticks and rebalances never overlap. */
  serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.lock.then(f, f);
    this.lock = run.catch(() => undefined);
    return run;
  }

  async start(): Promise<void> {
    const { kafka, log, store } = this.o;
    const stage = this.stage;
    const admin = kafka.admin();
    this.admin = admin;
    await admin.connect();
    this.cluster = (await admin.describeCluster()).clusterId;
    const consumer = kafka.consumer(this.o.consumer);
    this.consumer = consumer;
    const ctx: StageContext = {
      cluster: this.cluster, store, admin, consumer, log, clock: this.clock,
      storeOutput: (out, chunks) => this.storeOutput(out, chunks ?? []),
    };
    await stage.open?.(ctx);
    consumer.on(consumer.events.REBALANCING, () => void this.serial(async () => stage.revoked?.()));
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assignment = e.payload.memberAssignment;
      void this.serial(async () => {
        stage.revoked?.();
        stage.assigned?.(assignment);
      });
      log.info({ assignment }, `${stage.name}: joined consumer group`);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      log.error({ err: e.payload.error.message, restart: e.payload.restart }, `${stage.name}: consumer crashed`);
      void this.serial(async () => stage.revoked?.());
      if (!e.payload.restart) this.emit('fatal', e.payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: stage.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Every partition of a fetch in hand at once, so one round takes a chunk of each.
      partitionsConsumedConcurrently: 1024,
      eachBatch: (payload) => this.onBatch(payload),
    });
    for (const tick of stage.ticks ?? []) {
      this.timers.push(setInterval(() => void this.runTick(tick), tick.everyMs));
    }
  }

  /** Finishes and commits the round in hand, leaves the group, waits for timed work to end. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.consumer?.disconnect();
    await this.lock;
    while (this.busy.size > 0) await new Promise((r) => setTimeout(r, 20));
    await this.stage.close?.();
    await this.admin?.disconnect();
  }

  private async runTick(tick: Tick): Promise<void> {
    if (this.busy.has(tick) || this.stopping) return;
    await this.tickOnce(tick).catch((err: unknown) => {
      this.o.log.warn({ err: (err as Error).message }, `${this.stage.name}: ${tick.name} failed; retrying on the next tick`);
    });
  }

  /** Stores an output by the same rules, outside a round (e.g. at the end of input); call it inside `serial` when it changes state rounds use. */
  storeNow(out: Output): Promise<void> {
    return this.storeOutput(out, []);
  }

  /** Runs a tick now (end of input), through the same rules; resolves once it has run. */
  async runNow(name: string): Promise<void> {
    const tick = this.stage.ticks?.find((t) => t.name === name);
    if (!tick) throw new Error(`${this.stage.name} has no tick ${name}`);
    while (this.busy.has(tick)) await new Promise((r) => setTimeout(r, 20));
    if (this.stopping) return;
    await this.tickOnce(tick);
  }

  /** One run of a tick and the store of its output, inside the lock when the tick is serial; never two of one tick at once. */
  private async tickOnce(tick: Tick): Promise<void> {
    this.busy.add(tick);
    try {
      const work = async () => {
        const out = await tick.run();
        if (out) await this.storeOutput(out, []);
      };
      await (tick.serial ? this.serial(work) : work());
    } finally {
      this.busy.delete(tick);
    }
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    this.active++;
    try {
      await whileHeartbeating(payload.heartbeat, this.o.consumer.heartbeatInterval, async () => {
        const { batch, isRunning, isStale, heartbeat, resolveOffset } = payload;
        const { messages } = batch;
        for (let i = 0; i < messages.length; i += this.o.chunkSize) {
          if (!isRunning() || isStale()) return;
          // A member that lost its partitions in a rebalance learns it here, before writing.
          await heartbeat();
          const part = messages.slice(i, i + this.o.chunkSize);
          const chunk: Chunk = {
            topic: batch.topic, partition: batch.partition, highWatermark: BigInt(batch.highWatermark), messages: part,
            firstOffset: part[0]?.offset as string, lastOffset: part[part.length - 1]?.offset as string,
          };
          const committed = await new Promise<boolean>((resolve, reject) => {
            this.waiting.push({ chunk, payload, resolve, reject });
            this.scheduleRound();
          });
          if (!committed) return;
          resolveOffset(chunk.lastOffset);
        }
      });
    } finally {
      this.active--;
      this.scheduleRound();
    }
  }

  /** A round starts once every batch in hand waits with a chunk (the rest of a fetch has joined). */
  private scheduleRound(): void {
    if (this.roundScheduled || this.waiting.length === 0) return;
    this.roundScheduled = true;
    // After the handlers kafkajs starts in the same turn have had theirs in.
    setImmediate(() => {
      this.roundScheduled = false;
      if (this.waiting.length === 0 || this.waiting.length < this.active) return;
      const round = this.waiting.splice(0);
      void this.serial(() => this.runRound(round));
    });
  }

  private async runRound(round: Waiting[]): Promise<void> {
    const chunks = round.map((w) => w.chunk);
    try {
      // Whatever went stale while the round gathered (a seek, a stop) is not written.
      const live = round.filter((w) => w.payload.isRunning() && !w.payload.isStale());
      for (const w of round) if (!live.includes(w)) w.resolve(false);
      if (live.length === 0) return;
      const liveChunks = live.map((w) => w.chunk);
      let t = performance.now();
      const out = await this.stage.round(liveChunks);
      this.timing.ms.fold += performance.now() - t;
      const commit = new Set(out.commit ?? liveChunks);
      await this.storeOutput(out, liveChunks.filter((c) => commit.has(c)));
      const committed = live.filter((w) => commit.has(w.chunk));
      if (committed.length && this.stage.commits !== false) {
        t = performance.now();
        const byTopic = new Map<string, { partition: number; offset: string }[]>();
        for (const { chunk } of committed) {
          const list = byTopic.get(chunk.topic) ?? [];
          list.push({ partition: chunk.partition, offset: (BigInt(chunk.lastOffset) + 1n).toString() });
          byTopic.set(chunk.topic, list);
        }
        // Not consumer.commitOffsets: that one is skipped silently once a stop has begun,
        // and a clean stop must commit the round it just stored.
        await (committed[0] as Waiting).payload.commitOffsetsIfNecessary({ topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
        this.timing.ms.commit += performance.now() - t;
      }
      this.timing.rounds++;
      for (const w of live) w.resolve(commit.has(w.chunk));
      this.emit('progress', this.progressOf());
    } catch (err) {
      this.stage.failed?.(chunks);
      for (const w of round) w.reject(err);
    }
  }

  private async storeOutput(out: Output, chunks: Chunk[]): Promise<void> {
    const { store } = this.o;
    const t = performance.now();
    let wrote = false;
    try {
      for (const w of out.writes) {
        if (w.rows.length === 0) continue;
        await store.insert(`${store.database}.${w.table}`, w.rows, w.token);
        wrote = true;
      }
    } catch (err) {
      out.failed?.();
      throw err;
    }
    this.timing.ms.store += performance.now() - t;
    out.stored?.();
    if (out.hook ?? (wrote || chunks.length > 0)) await this.o.afterStore?.(chunks.map(({ topic, partition, lastOffset }) => ({ topic, partition, lastOffset })));
    await out.after?.();
    if (wrote && chunks.length === 0) this.emit('progress', this.progressOf());
  }
}
