/**
 * Plays simulated events into Kafka. With a speed, event time advances that many
 * times faster than the wall clock (1: real time, 10080: a week in a minute);
 * without one, as fast as Kafka takes them. Can slip a garbage message in every
 * N events to show the dead-letter path working.
 */
import type { TouchpointProducer } from '../touchpointProducer.ts';
import type { SimEvent } from './simulate.ts';

export interface SimulationRunOptions {
  /** Event-time ms per wall ms; undefined: as fast as possible. */
  speed?: number;
  /** Stop after this many messages. */
  count?: number;
  /** Every Nth message is garbage bytes (0: never; otherwise a whole number, at least 2). */
  badEvery?: number;
  garbageTopic: string;
  /** Most messages waiting for Kafka's acknowledgement before the run waits. */
  maxPending?: number;
  clock?: () => number;
}

export interface SimulationStats {
  touchpoints: number;
  outcomes: number;
  garbage: number;
  failures: number;
  lastError?: string;
  /** Event time of the last event sent. */
  eventTime?: number;
}

export class SimulationRun {
  readonly stats: SimulationStats = { touchpoints: 0, outcomes: 0, garbage: 0, failures: 0 };
  private stopped = false;
  private running?: Promise<void>;
  private wake?: () => void;

  constructor(private readonly producer: TouchpointProducer, private readonly events: Iterator<SimEvent>, private readonly o: SimulationRunOptions) {
    if (o.badEvery && !(Number.isInteger(o.badEvery) && o.badEvery >= 2)) throw new Error(`badEvery ${o.badEvery}: expected 0 or a whole number, at least 2`);
  }

  get sent(): number {
    return this.stats.touchpoints + this.stats.outcomes + this.stats.garbage;
  }

  /** Starts playing; resolves when the events run out, `count` is reached or stop() is called, and all are acknowledged. */
  start(): Promise<void> {
    this.running ??= this.play();
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  /** Waits for `ms`, or less if stop() is called meanwhile. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async play(): Promise<void> {
    const clock = this.o.clock ?? Date.now;
    const maxPending = this.o.maxPending ?? 10_000;
    let pending: Promise<void>[] = [];
    let wallStart: number | undefined;
    let eventStart: number | undefined;
    for (;;) {
      if (pending.length >= maxPending) {
        await Promise.all(pending);
        pending = [];
      }
      if (this.stopped || (this.o.count !== undefined && this.sent >= this.o.count)) break;
      if (this.o.badEvery && (this.sent + 1) % this.o.badEvery === 0) {
        this.stats.garbage++;
        pending.push(this.track(this.producer.sendRaw(this.o.garbageTopic, 'garbage', Buffer.from(`not avro #${this.sent}`))));
        continue;
      }
      const next = this.events.next();
      if (next.done) break;
      const e = next.value;
      if (this.o.speed) {
        wallStart ??= clock();
        eventStart ??= e.event.occurred_at;
        const due = wallStart + (e.event.occurred_at - eventStart) / this.o.speed;
        const wait = due - clock();
        if (wait > 2) await this.sleep(wait);
        if (this.stopped) break;
      }
      if (e.kind === 'touchpoint') {
        this.stats.touchpoints++;
        pending.push(this.track(this.producer.send(e.event)));
      } else {
        this.stats.outcomes++;
        pending.push(this.track(this.producer.sendOutcome(e.event)));
      }
      this.stats.eventTime = e.event.occurred_at;
    }
    await this.producer.flush();
    await Promise.all(pending);
  }

  private track(p: Promise<void>): Promise<void> {
    return p.catch((err: unknown) => {
      this.stats.failures++;
      this.stats.lastError = (err as Error).message;
    });
  }
}
