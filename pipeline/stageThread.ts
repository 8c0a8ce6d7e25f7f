/**
 * A stage thread: the metric folds, the live stool and the alerts in a worker thread of
 * their own (stageThreadWorker.ts), beside raw ingestion in the main thread, so one
 * worker process uses two cores (CX_STAGE_THREADS). The thread has its own Kafka client
 * and store connection; the stage runtime's rules hold in it as anywhere. From here it
 * looks like the in-thread workers: `metrics.stats`, `metrics.latestWindow`,
 * `alerts.stats` (as last reported, a few times a second), start, stop, finishInput,
 * and 'fatal' when a consumer in it failed for good or the thread died.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { StoolWindow } from '../processors/folds/legConsistency.ts';
import type { AlertStageStats } from '../processors/runtime/alertStage.ts';
import type { MetricsStats } from '../processors/runtime/metricsWorker.ts';
import type { RuntimeTiming } from '../platform/stage/runtime.ts';
import type { Config } from '../platform/config.ts';

export interface ThreadData {
  brokers: string[];
  /** The configuration, as the main thread has it (a test's or the bench's may not be the environment's). */
  config: Config;
  logLevel?: string;
  logName: string;
  /** Which of the two stages the thread runs. */
  stages: FoldStageName[];
}

export type FoldStageName = 'metrics' | 'alerts';

export type ToThread = { type: 'finish' } | { type: 'stop' };
export type FromThread =
  | { type: 'started' }
  | { type: 'progress'; metrics: MetricsStats; latestWindow?: StoolWindow; alerts: AlertStageStats; timing: RuntimeTiming }
  | { type: 'fatal'; what: string; message: string }
  | { type: 'failed'; message: string }
  | { type: 'finished'; partitions: number; completeTo: number | null }
  | { type: 'stopped'; failures: string[] };

const STOP_TIMEOUT_MS = 60_000;

export class StageThread extends EventEmitter {
  readonly metrics: { stats: MetricsStats; latestWindow?: StoolWindow; timing: RuntimeTiming } = {
    stats: {
      consumed: 0, duplicates: 0, calibrationId: '', released: 0, late: 0, rows: {}, checkpoints: 0, restoredCustomers: 0, stateBytesPerCustomer: 0, windows: 0, watermarks: {}, completeTo: null,
      ms: { folds: 0, insert: 0, state: 0, commit: 0, stool: 0 },
    },
    timing: { rounds: 0, ms: { fold: 0, store: 0, commit: 0 } },
  };
  readonly alerts: { stats: AlertStageStats } = { stats: { minutes: 0, healthRows: 0, changes: 0, published: 0, leader: false } };
  private worker?: Worker;
  private waiting = new Map<FromThread['type'], (m: FromThread) => void>();
  private exited = false;

  constructor(private readonly data: ThreadData) {
    super();
  }

  async start(): Promise<void> {
    const worker = new Worker(new URL('./stageThread.entry.js', import.meta.url), { workerData: this.data });
    this.worker = worker;
    worker.on('message', (m: FromThread) => {
      if (m.type === 'progress') {
        Object.assign(this.metrics, { stats: m.metrics, latestWindow: m.latestWindow ?? this.metrics.latestWindow, timing: m.timing });
        this.alerts.stats = m.alerts;
        this.emit('progress', this.metrics.stats);
      } else if (m.type === 'fatal') {
        this.emit('fatal', new Error(`${m.what}: ${m.message}`));
      }
      const wait = this.waiting.get(m.type) ?? (m.type === 'failed' ? [...this.waiting.values()][0] : undefined);
      wait?.(m);
    });
    worker.on('error', (err) => {
      // An error that escaped the thread: it is dead.
      for (const w of this.waiting.values()) w({ type: 'failed', message: err.message });
      this.emit('fatal', err);
    });
    worker.on('exit', (code) => {
      this.exited = true;
      for (const w of this.waiting.values()) w({ type: 'failed', message: `the stage thread exited (code ${code})` });
      if (code !== 0 && !this.stopping) this.emit('fatal', new Error(`the stage thread exited (code ${code})`));
    });
    await this.call(undefined, 'started');
    this.started = true;
  }

  private started = false;

  private stopping = false;

  /** Stops the stages in the thread (each finishes and commits its round in hand), then the thread; bounded. */
  async stop(): Promise<void> {
    if (!this.worker || this.exited) return;
    // A thread whose stages never started has nothing to finish or commit.
    if (!this.started) {
      this.worker.unref();
      return;
    }
    this.stopping = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      const stopped = await Promise.race([
        this.call({ type: 'stop' }, 'stopped'),
        new Promise<FromThread>((r) => { timer = setTimeout(() => r({ type: 'failed', message: `did not stop within ${STOP_TIMEOUT_MS} ms` }), STOP_TIMEOUT_MS); }),
      ]);
      if (stopped.type === 'stopped' && stopped.failures.length) throw new Error(stopped.failures.join('; '));
      if (stopped.type === 'failed') throw new Error(`stage thread: ${stopped.message}`);
    } finally {
      clearTimeout(timer);
      // Not terminated: a thread that used the embedded engine and ends takes the engine down for every
      // thread of the process (chdb 3.4 segfaults on the next query). The stopped thread idles, unreferenced,
      // until the process exits.
      this.worker.unref();
    }
  }

  /** End of input: closes every open minute, writes the windows and catches the alerts up (MetricsWorker.finishInput, AlertStage.catchUp). */
  async finishInput(): Promise<{ partitions: number; completeTo: number | null }> {
    const m = await this.call({ type: 'finish' }, 'finished');
    if (m.type !== 'finished') throw new Error(`stage thread: ${(m as { message?: string }).message ?? 'could not finish the input'}`);
    return { partitions: m.partitions, completeTo: m.completeTo };
  }

  private call(message: ToThread | undefined, answer: FromThread['type']): Promise<FromThread> {
    return new Promise<FromThread>((resolve, reject) => {
      if (this.exited) return reject(new Error('the stage thread has exited'));
      this.waiting.set(answer, (m) => {
        this.waiting.delete(answer);
        if (m.type === 'failed' && answer !== 'stopped') reject(new Error(m.message));
        else resolve(m);
      });
      if (message) this.worker?.postMessage(message);
    });
  }
}
