/**
 * Everything one customer's events change, composed from the per-customer folds:
 * memory, the previous experience (drops), the current bad run (spirals) and open
 * journeys. After H of silence only the memory accumulators matter, so `expireCustomer`
 * compacts the state to them without changing any later result.
 */
import type { MetricParams } from '../params.ts';
import { isExperience, type Touch } from '../touch.ts';
import { channelDrop, type PreviousExperience, type Transition } from './channelDrop.ts';
import { deathSpiral, expireRun, type BadRun, type SpiralEvent } from './deathSpiral.ts';
import { experienceMemory, type MemoryState, type MemoryUpdate } from './experienceMemory.ts';
import { journey, journeyEnded, type JourneyState } from './journey.ts';

// Every field is always present (undefined when unset, which JSON leaves out): objects
// that keep one shape stay fast; deleting properties would turn them into slow dictionaries.
export interface CustomerState {
  lastAt: number;
  memory: MemoryState | undefined;
  previous: PreviousExperience | undefined;
  run: BadRun | undefined;
  /** Open journeys by journey id. */
  journeys: Record<string, JourneyState>;
}

export interface CustomerEffects {
  touch: Touch;
  memory: MemoryUpdate | null;
  transition: Transition | null;
  spirals: SpiralEvent[];
  /** The journey after this event (live object: read it before the next step). */
  journey: JourneyState;
}

export function customerStep(state: CustomerState | undefined, e: Touch, p: MetricParams): { state: CustomerState; out: CustomerEffects } {
  const s: CustomerState = state ?? { lastAt: e.t, memory: undefined, previous: undefined, run: undefined, journeys: {} };
  s.lastAt = e.t;
  const j = journey(s.journeys[e.journey_id], e, p);
  s.journeys[e.journey_id] = j.state;
  if (!isExperience(e)) return { state: s, out: { touch: e, memory: null, transition: null, spirals: [], journey: j.state } };

  const m = experienceMemory(s.memory, e, p);
  s.memory = m.state;
  const d = channelDrop(s.previous, e, p);
  s.previous = d.state;
  const r = deathSpiral(s.run, e, p);
  s.run = r.state;
  return { state: s, out: { touch: e, memory: m.out, transition: d.out, spirals: r.out, journey: j.state } };
}

/**
 * At time `at`: closes a spiral silent for more than H, ends journeys silent for more
 * than H, and forgets a previous experience too old to start a transition.
 */
export function expireCustomer(s: CustomerState, at: number, p: MetricParams): { state: CustomerState; out: { spirals: SpiralEvent[] } } {
  const r = expireRun(s.run, at, p);
  s.run = r.state;
  if (s.previous && at - s.previous.t > p.horizonMs) s.previous = undefined;
  for (const [id, j] of Object.entries(s.journeys)) if (journeyEnded(j.lastAt, at, p)) delete s.journeys[id];
  return { state: s, out: { spirals: r.out } };
}
