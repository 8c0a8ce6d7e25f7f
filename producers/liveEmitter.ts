/**
 * Paces a synthetic stream into Kafka at a steady rate, stamping each event with
 * the wall clock, and optionally slipping in a bad message every N events to show
 * the dead-letter path working.
 */
import type { SyntheticEvent } from './syntheticEmitter.ts';
import type { TouchpointProducer } from './touchpointProducer.ts';

export interface LiveEmitterOptions {
  ratePerSecond: number;
  /** Stop after this many events (undefined: until stop()). */
  count?: number;
  /** Every Nth message is garbage bytes (0: never). */
  badEvery?: number;
  garbageTopic: string;
  clock?: () => number;
}

export class LiveEmitter {
  produced = 0;
  bad = 0;
  failures = 0;
  lastError?: string;
  private timer?: NodeJS.Timeout;
  private startedAt = 0;
  private finished?: () => void;
  readonly done: Promise<void>;

  constructor(private readonly producer: TouchpointProducer, private readonly source: Iterator<SyntheticEvent>, private readonly o: LiveEmitterOptions) {
    this.done = new Promise((r) => (this.finished = r));
  }

  start(): void {
    const clock = this.o.clock ?? Date.now;
    this.startedAt = clock();
    this.timer = setInterval(() => {
      const due = Math.floor(((clock() - this.startedAt) / 1000) * this.o.ratePerSecond);
      while (this.produced + this.bad < due) {
        if (this.o.count !== undefined && this.produced + this.bad >= this.o.count) {
          void this.stop();
          return;
        }
        const n = this.produced + this.bad + 1;
        if (this.o.badEvery && n % this.o.badEvery === 0) {
          this.bad++;
          this.track(this.producer.sendRaw(this.o.garbageTopic, 'c-garbage', Buffer.from(`not avro #${n}`)));
          continue;
        }
        const next = this.source.next().value as SyntheticEvent;
        next.event.occurred_at = clock();
        this.produced++;
        this.track(next.kind === 'touchpoint' ? this.producer.send(next.event) : this.producer.sendOutcome(next.event));
      }
    }, 50);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.producer.flush();
    this.finished?.();
  }

  private track(p: Promise<void>): void {
    p.catch((err: unknown) => {
      this.failures++;
      this.lastError = (err as Error).message;
    });
  }
}
