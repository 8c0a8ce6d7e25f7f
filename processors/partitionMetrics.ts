/**
 * All the metric folds for one Kafka partition of touchpoint events, in the order
 * they must run: event time (reorder, lateness) -> per-customer folds -> per-minute
 * aggregates closed by the watermark. Deterministic: the same messages in the same
 * partition order give the same outputs, however they are chunked, and whether or
 * not the state was checkpointed and restored in between.
 */
import { MinuteBuckets, type MinuteBucketsJson } from './folds/minuteBuckets.ts';
import { CELL_KEYS, closeCellMinutes, cellMinute, newCellMinutes } from './folds/cellMinute.ts';
import { countTransition, newTransitionMinutes, TRANSITION_KEYS, type Transition, type TransitionAggregate } from './folds/channelDrop.ts';
import { customerMoment, expireCustomer, newCustomer, pruneSeen, seenBefore, type CustomerState } from './folds/customer.ts';
import { NO_SPIRALS, type SpiralEvent } from './folds/deathSpiral.ts';
import { DEPARTMENT_KEYS, departmentImpact, newDepartmentMinutes, type DepartmentAggregate } from './folds/departmentImpact.ts';
import { eventTime, flushEventTime, newEventClock, type EventClock } from './folds/eventTime.ts';
import type { MemoryUpdate } from './folds/experienceMemory.ts';
import type { Pending } from './folds/eventTime.ts';
import type { JourneyState } from './folds/journey.ts';
import type { Cell, CellAggregate } from './folds/legConsistency.ts';
import { calibrationIdOf, DAY_MS, MINUTE_MS, minuteOf, type MetricParams } from './params.ts';
import { byContent, type ExperienceTouch, type Touch } from './touch.ts';
import { decodeCustomer, encodeCustomer } from './customerRecord.ts';

/**
 * Where the watermark goes at the end of input: the end of the newest event's minute.
 * Far enough to close every open minute and release every waiting event; no further,
 * so that a later run's events after that minute are not all late.
 */
export const inputEndWatermark = (newest: number): number => minuteOf(newest) + MINUTE_MS;

export interface PartitionClock {
  clock: EventClock;
  cells: MinuteBuckets<CellAggregate>;
  transitions: MinuteBuckets<TransitionAggregate>;
  departments: MinuteBuckets<DepartmentAggregate>;
  /** Event-time day of the last sweep of silent customers. */
  sweptDay: number;
  /** Offset of the last message applied; '-1' before any. */
  offset: string;
  /** Flushes since that message: with the offset, orders checkpoints. */
  flushes: number;
  /** Duplicates skipped so far (docs/metrics.md, "Duplicates"); absent in state saved before them. */
  duplicates?: number;
  /** The calibration whose weights built the memory in this state ('' = the defaults; absent in older state). */
  calibrationId?: string;
}

/** The meta row's JSON (the open minutes as plain objects: MinuteBuckets.toJSON). */
type PartitionClockJson = Omit<PartitionClock, 'cells' | 'transitions' | 'departments'> & {
  cells: MinuteBucketsJson<CellAggregate>;
  transitions: MinuteBucketsJson<TransitionAggregate>;
  departments: MinuteBucketsJson<DepartmentAggregate>;
};

const clockFromJson = (j: PartitionClockJson): PartitionClock => ({
  ...j, cells: MinuteBuckets.from(j.cells, CELL_KEYS), transitions: MinuteBuckets.from(j.transitions, TRANSITION_KEYS), departments: MinuteBuckets.from(j.departments, DEPARTMENT_KEYS),
});

/** What one or more steps produced, ready to become rows. */
export class MetricOutputs {
  readonly cellMinutes: { minute: number; cell: Cell }[] = [];
  readonly transitionMinutes: { minute: number; from: string; to: string; agg: TransitionAggregate }[] = [];
  readonly departmentMinutes: { minute: number; department: string; agg: DepartmentAggregate }[] = [];
  /** Good-to-bad transitions, cross-channel or not. */
  readonly drops: { customerId: string; transition: Transition }[] = [];
  readonly spirals: { customerId: string; event: SpiralEvent }[] = [];
  readonly memory: { touch: ExperienceTouch; update: MemoryUpdate }[] = [];
  /** Each journey touched (its live state: read at the end of the chunk) -> its customer. */
  readonly journeys = new Map<JourneyState, string>();
  readonly late: { pending: Pending; watermark: number }[] = [];
  /** Touches released to the folds. */
  released = 0;
  /** Arrivals whose event id the customer already had in the dedup window: skipped. */
  duplicates = 0;
}

export interface Checkpoint {
  /** The partition's clock, open minutes and offset (JSON). */
  meta: string;
  /** Customers changed since the last checkpoint: [customer id, state record (customerRecord.ts)]. */
  customers: [string, string][];
  watermark: number;
}

export class PartitionMetrics {
  private s: PartitionClock;
  readonly customers = new Map<string, CustomerState>();
  private readonly dirty = new Set<string>();
  /** The offset in `s.offset`, as a number (a cache). */
  private appliedOffset: number;
  /** The watermark's minute at the last close (a cache: recomputed after a restore). */
  private lastCloseMinute = Number.NaN;

  constructor(private readonly p: MetricParams, restored?: { meta: string; customers: Iterable<[string, string]> }) {
    this.s = restored
      ? clockFromJson(JSON.parse(restored.meta) as PartitionClockJson)
      : { clock: newEventClock(), cells: newCellMinutes(), transitions: newTransitionMinutes(), departments: newDepartmentMinutes(), sweptDay: 0, offset: '-1', flushes: 0 };
    if (restored) for (const [id, text] of restored.customers) this.customers.set(id, decodeCustomer(text));
    this.appliedOffset = Number(this.s.offset);
    const calibration = calibrationIdOf(p);
    if (restored && (this.s.calibrationId ?? '') !== calibration) this.calibrationChangedFrom = this.s.calibrationId ?? '';
    this.s.calibrationId = calibration;
  }

  /**
   * Set when the restored state's memory was built with other weights than these
   * parameters' (a calibration activated or changed since): from here on the sums mix
   * both, until `npx cx rebuild` recomputes history with one set.
   */
  readonly calibrationChangedFrom: string | undefined;

  /** Duplicates this partition has skipped, ever (kept in its checkpoint). */
  get duplicates(): number {
    return this.s.duplicates ?? 0;
  }

  get offset(): bigint {
    return BigInt(this.s.offset);
  }

  get watermark(): number {
    return this.s.clock.watermark;
  }

  /** Newest event time seen. */
  get maxSeen(): number {
    return this.s.clock.maxSeen;
  }

  /** Events waiting for the watermark. */
  get buffered(): number {
    return this.s.clock.buffer.length;
  }

  /**
   * One message's touch, in partition order. A message at or before the last one
   * applied (Kafka delivering again what a crash left uncommitted) changes nothing:
   * returns false. A touch whose event id its customer already had in the dedup
   * window (a resend) changes nothing but the duplicates count.
   */
  arrive(touch: Touch, offset: string, out: MetricOutputs): boolean {
    const n = Number(offset);
    if (!(n > this.appliedOffset)) return false;
    this.s.offset = offset;
    this.appliedOffset = n;
    this.s.flushes = 0;
    let c = this.customers.get(touch.customer_id);
    if (!c) {
      c = newCustomer(touch.t);
      this.customers.set(touch.customer_id, c);
    }
    this.dirty.add(touch.customer_id);
    if (seenBefore(c, touch, this.p)) {
      out.duplicates++;
      this.s.duplicates = (this.s.duplicates ?? 0) + 1;
      return true;
    }
    const before = this.s.clock.watermark;
    const r = eventTime(this.s.clock, { touch, offset }, this.p.latenessMs).out;
    if (r.late) out.late.push({ pending: r.late, watermark: this.s.clock.watermark });
    this.applyReleased(r.released, out);
    if (this.s.clock.watermark !== before) this.advance(out);
    return true;
  }

  /** A message that is not a touch (a dead letter): only its offset moves on. */
  skip(offset: string): boolean {
    const n = Number(offset);
    if (!(n > this.appliedOffset)) return false;
    this.s.offset = offset;
    this.appliedOffset = n;
    this.s.flushes = 0;
    return true;
  }

  /** Offsets stay far below 2^53 in practice; a number compare keeps this cheap per message. */
  isNew(offset: string): boolean {
    return Number(offset) > this.appliedOffset;
  }

  /**
   * The partition went quiet: release everything waiting, and move the watermark to
   * `upTo` if that is later (see flushEventTime). Returns false when nothing changed.
   */
  flush(out: MetricOutputs, upTo = 0): boolean {
    const before = this.s.clock.watermark;
    const r = flushEventTime(this.s.clock, upTo).out;
    this.applyReleased(r.released, out);
    if (this.s.clock.watermark === before) return false;
    this.s.flushes++;
    this.advance(out);
    return true;
  }

  /** Would a flush to `upTo` release an event or close a minute? */
  wouldFlush(upTo: number): boolean {
    const c = this.s.clock;
    const target = Math.max(c.maxSeen + 1, upTo);
    return c.buffer.length > 0 || minuteOf(target) > minuteOf(c.watermark);
  }

  /** Orders this partition's checkpoints, across owners: the offset, then the flushes since it. */
  get seq(): bigint {
    return (this.offset + 1n) * 1_048_576n + BigInt(this.s.flushes);
  }

  /**
   * Released touches, in event-time order, to the folds one moment at a time: a
   * customer's touches with the same event time. All touches with one event time are
   * released together (the watermark passes them at once; later ones are late), so a
   * moment is never split.
   */
  private applyReleased(released: Pending[], out: MetricOutputs): void {
    let i = 0;
    while (i < released.length) {
      const t = (released[i] as Pending).touch.t;
      let j = i + 1;
      while (j < released.length && (released[j] as Pending).touch.t === t) j++;
      if (j === i + 1) this.applyMoment([(released[i] as Pending).touch], out);
      else {
        const byCustomer = new Map<string, Touch[]>();
        for (let k = i; k < j; k++) {
          const e = (released[k] as Pending).touch;
          const list = byCustomer.get(e.customer_id);
          if (list) list.push(e);
          else byCustomer.set(e.customer_id, [e]);
        }
        // Customers in id order: the per-minute sums then add up the same whatever the events' ids.
        for (const id of [...byCustomer.keys()].sort()) this.applyMoment(byCustomer.get(id) as Touch[], out);
      }
      i = j;
    }
  }

  private applyMoment(moment: Touch[], out: MetricOutputs): void {
    if (moment.length > 1) moment.sort(byContent);
    const customerId = (moment[0] as Touch).customer_id;
    out.released += moment.length;
    for (const e of moment) cellMinute(this.s.cells, e);
    const before = this.customers.get(customerId);
    const c = customerMoment(before, moment, this.p);
    if (c.state !== before) this.customers.set(customerId, c.state);
    this.dirty.add(customerId);
    const fx = c.out;
    for (const j of fx.journeys) out.journeys.set(j, customerId);
    for (let k = 0; k < fx.experiences.length; k++) {
      const e = fx.experiences[k] as ExperienceTouch;
      const memory = fx.memory[k] as MemoryUpdate;
      out.memory.push({ touch: e, update: memory });
      const t = fx.transitions[k] ?? null;
      if (t) {
        countTransition(this.s.transitions, minuteOf(e.t), t);
        if (t.drop) out.drops.push({ customerId, transition: t });
      }
      // A moment's spiral changes count once, with its first experience.
      departmentImpact(this.s.departments, { touch: e, memory, transition: t, spirals: k === 0 ? fx.spirals : NO_SPIRALS });
    }
    for (const event of fx.spirals) out.spirals.push({ customerId, event });
  }

  /** The watermark moved: close the minutes behind it, and now and then compact silent customers. */
  private advance(out: MetricOutputs): void {
    const w = this.s.clock.watermark;
    // Minutes close only when the watermark crosses a minute boundary.
    if (minuteOf(w) === this.lastCloseMinute) return;
    this.lastCloseMinute = minuteOf(w);
    out.cellMinutes.push(...closeCellMinutes(this.s.cells, w));
    for (const { minute, bucket: b } of this.s.transitions.close(w)) out.transitionMinutes.push({ minute, from: b.k1, to: b.k2, agg: b.agg });
    for (const { minute, bucket: b } of this.s.departments.close(w)) out.departmentMinutes.push({ minute, department: b.k1, agg: b.agg });
    // Once a day of event time: a silent spiral's close row carries its own time (lastAt + H), so a later sweep changes nothing in it.
    const day = Math.floor(w / DAY_MS);
    if (day > this.s.sweptDay) {
      this.s.sweptDay = day;
      // At the day's start, not at w: which arrival moves the watermark into a new day depends on arrival order.
      this.sweep(day * DAY_MS, out);
    }
  }

  /**
   * Customers silent for more than H: close their spirals and journeys, keep only what
   * memory needs. And every customer forgets the event ids the dedup window has passed.
   */
  private sweep(w: number, out: MetricOutputs): void {
    for (const [id, c] of this.customers) {
      if (pruneSeen(c, w, this.p)) this.dirty.add(id);
      if (w - c.lastAt <= this.p.horizonMs || (!c.run && !c.previous && c.journeys.size === 0)) continue;
      for (const event of expireCustomer(c, w, this.p).out.spirals) out.spirals.push({ customerId: id, event });
      this.dirty.add(id);
    }
  }

  /** The state to persist now; clears the changed set. */
  checkpoint(): Checkpoint {
    const customers: [string, string][] = [];
    for (const id of this.dirty) customers.push([id, encodeCustomer(this.customers.get(id) as CustomerState)]);
    this.dirty.clear();
    return { meta: JSON.stringify(this.s), customers, watermark: this.s.clock.watermark };
  }
}
