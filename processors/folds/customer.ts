/**
 * Everything one customer's events change, composed from the per-customer folds:
 * memory, the previous moment (drops), the current bad run (spirals), open journeys,
 * and the event ids already seen (duplicates). The folds take a customer's events one
 * moment at a time: all their events with the same event time, which are one
 * experience moment (docs/metrics.md, "Simultaneous experiences"). After H of silence
 * only the memory accumulators matter, so `expireCustomer` compacts the state to them
 * without changing any later result.
 */
import type { MetricParams } from '../params.ts';
import { isExperience, type ExperienceTouch, type Touch } from '../touch.ts';
import { channelDropMoment, type PreviousExperience, type Transition } from './channelDrop.ts';
import { deathSpiralMoment, expireRun, NO_SPIRALS, type BadRun, type SpiralEvent } from './deathSpiral.ts';
import { experienceMemoryMoment, type MemoryState, type MemoryUpdate } from './experienceMemory.ts';
import { journey, journeyEnded, type JourneyState } from './journey.ts';

// Every field is always present (undefined when unset): objects that keep one shape
// stay fast; deleting properties would turn them into slow dictionaries.
export interface CustomerState {
  lastAt: number;
  memory: MemoryState | undefined;
  previous: PreviousExperience | undefined;
  run: BadRun | undefined;
  /** Open journeys by journey id (a Map: journey ids are many and would each make a new object shape). */
  journeys: Map<string, JourneyState>;
  /**
   * The dedup window (docs/metrics.md, "Duplicates"): the event ids of the customer's
   * events seen lately and their event times, side by side, in no particular order.
   * A customer holds a few: a scan beats hashing, and two arrays cost less than a
   * dictionary per customer.
   */
  seenIds: string[];
  seenAt: number[];
}

export const newCustomer = (t: number): CustomerState => ({ lastAt: t, memory: undefined, previous: undefined, run: undefined, journeys: new Map(), seenIds: [], seenAt: [] });

// Shared empty lists of a moment without experiences (frozen: nobody adds to them).
const NO_EXPERIENCES: ExperienceTouch[] = Object.freeze([]) as unknown as ExperienceTouch[];
const NO_MEMORY: MemoryUpdate[] = Object.freeze([]) as unknown as MemoryUpdate[];
const NO_TRANSITIONS: (Transition | null)[] = Object.freeze([]) as unknown as (Transition | null)[];

/** What one moment changed. */
export interface MomentEffects {
  /** The moment's experiences (its traffic changes only journeys and cells). */
  experiences: ExperienceTouch[];
  /** One per experience, in the same order. */
  memory: MemoryUpdate[];
  transitions: (Transition | null)[];
  spirals: SpiralEvent[];
  /** Each journey the moment touched (live objects: read them before the next step). */
  journeys: JourneyState[];
}

/** One event as its own moment (the old single-step view, for tests and tools). */
export interface CustomerEffects {
  touch: Touch;
  memory: MemoryUpdate | null;
  transition: Transition | null;
  spirals: SpiralEvent[];
  journey: JourneyState;
}

/**
 * A moment: one customer's events (at least one) with the same event time, in any
 * order: every output is the same whatever their order (and whatever their ids).
 */
export function customerMoment(state: CustomerState | undefined, moment: readonly Touch[], p: MetricParams): { state: CustomerState; out: MomentEffects } {
  const first = moment[0] as Touch;
  const t = first.t;
  const s: CustomerState = state ?? newCustomer(t);
  s.lastAt = t;
  let journeys: JourneyState[];
  let experiences: ExperienceTouch[];
  // A moment of one touch is by far the most common: no lists to filter or dedupe.
  if (moment.length === 1) {
    const j = journey(s.journeys.get(first.journey_id), first, p).state;
    s.journeys.set(first.journey_id, j);
    journeys = [j];
    experiences = isExperience(first) ? [first] : NO_EXPERIENCES;
  } else {
    journeys = [];
    for (const e of moment) {
      const j = journey(s.journeys.get(e.journey_id), e, p).state;
      s.journeys.set(e.journey_id, j);
      if (!journeys.includes(j)) journeys.push(j);
    }
    experiences = moment.filter(isExperience);
  }
  if (experiences.length === 0) return { state: s, out: { experiences, memory: NO_MEMORY, transitions: NO_TRANSITIONS, spirals: NO_SPIRALS, journeys } };

  const m = experienceMemoryMoment(s.memory, experiences, p);
  s.memory = m.state;
  const d = channelDropMoment(s.previous, experiences, p);
  s.previous = d.state;
  const r = deathSpiralMoment(s.run, experiences, p);
  s.run = r.state;
  return { state: s, out: { experiences, memory: m.out, transitions: d.out, spirals: r.out, journeys } };
}

/** One event, as a moment of its own. */
export function customerStep(state: CustomerState | undefined, e: Touch, p: MetricParams): { state: CustomerState; out: CustomerEffects } {
  const r = customerMoment(state, [e], p);
  const o = r.out;
  return { state: r.state, out: { touch: e, memory: o.memory[0] ?? null, transition: o.transitions[0] ?? null, spirals: o.spirals, journey: o.journeys[0] as JourneyState } };
}

/**
 * Whether this customer already had `e`'s event id within the dedup window; if not,
 * records it. The window keeps ids whose event time is at most `dedupWindowMs` behind
 * the partition's watermark (`pruneSeen` forgets older ones), and at most
 * `dedupMaxIds` of them: past that, the oldest quarter goes.
 */
export function seenBefore(s: CustomerState, e: Touch, p: MetricParams): boolean {
  const ids = s.seenIds;
  if (ids.includes(e.event_id)) return true;
  ids.push(e.event_id);
  s.seenAt.push(e.t);
  if (ids.length > p.dedupMaxIds) evictOldest(s, p);
  return false;
}

/** Past the bound: the newest three quarters stay (by event time, then id), and always the id just seen (the last). */
function evictOldest(s: CustomerState, p: MetricParams): void {
  const keep = Math.max(1, Math.floor((p.dedupMaxIds * 3) / 4));
  const last = s.seenIds.length - 1;
  const byAge = Array.from({ length: last }, (_, i) => i).sort(
    (a, b) => (s.seenAt[b] as number) - (s.seenAt[a] as number) || ((s.seenIds[a] as string) < (s.seenIds[b] as string) ? -1 : 1),
  );
  const stay = [last, ...byAge.slice(0, keep - 1)];
  s.seenIds = stay.map((i) => s.seenIds[i] as string);
  s.seenAt = stay.map((i) => s.seenAt[i] as number);
}

/** Forgets the ids older than the window at watermark `w`; returns whether any went. */
export function pruneSeen(s: CustomerState, w: number, p: MetricParams): boolean {
  const oldest = w - p.dedupWindowMs;
  const at = s.seenAt;
  let kept = 0;
  for (let i = 0; i < at.length; i++) {
    if ((at[i] as number) < oldest) continue;
    if (kept !== i) {
      at[kept] = at[i] as number;
      s.seenIds[kept] = s.seenIds[i] as string;
    }
    kept++;
  }
  if (kept === at.length) return false;
  at.length = kept;
  s.seenIds.length = kept;
  return true;
}

/**
 * At time `at`: closes a spiral silent for more than H, ends journeys silent for more
 * than H, and forgets a previous experience too old to start a transition.
 */
export function expireCustomer(s: CustomerState, at: number, p: MetricParams): { state: CustomerState; out: { spirals: SpiralEvent[] } } {
  const r = expireRun(s.run, at, p);
  s.run = r.state;
  if (s.previous && at - s.previous.t > p.horizonMs) s.previous = undefined;
  for (const [id, j] of s.journeys) if (journeyEnded(j.lastAt, at, p)) s.journeys.delete(id);
  return { state: s, out: { spirals: r.out } };
}
