/**
 * Journey score (docs/metrics.md, "Journeys", "Customer memory" and
 * "Per-leg consistency and the stool"): the memory formula over the journey's own experiences, evaluated
 * at the journey's last event; beside it the weakest link (min x) and peak-end
 * ((x_peak + x_end) / 2), and the stool over the journey with touchpoints as cells
 * (every touchpoint visited counts as a cell: a journey rarely has n_min
 * experiences at one touchpoint). A journey ends after H of silence; an event for
 * the same journey id after that starts a new one.
 */
import type { Leg } from '../../schemas/contracts.ts';
import type { MetricParams } from '../params.ts';
import type { Touch } from '../touch.ts';
import { accumulate, emptyAccumulators, memoryAt, type MemoryAccumulators } from './experienceMemory.ts';
import { measureStool, type Cell, type StoolMeasure } from './legConsistency.ts';

export interface JourneyState {
  journeyId: string;
  startedAt: number;
  lastAt: number;
  events: number;
  experiences: number;
  memory: MemoryAccumulators;
  weakest: { x: number; touchpoint: string; channel: string } | null;
  /** When the weakest link happened (absent in state saved before moments). */
  weakestAt?: number;
  peak: number | null;
  /** Mean x of the last moment with an experience. */
  end: number | null;
  /** That moment's time, experiences (0: none yet) and sum of x; absent in state saved before moments. */
  endAt?: number;
  endN?: number;
  endSum?: number;
  /** Per "leg\0touchpoint": [n, sum x, sum x^2, good, impressed]. */
  cells: Record<string, [number, number, number, number, number]>;
}

export interface JourneySummary {
  customerId: string;
  journeyId: string;
  startedAt: number;
  lastAt: number;
  events: number;
  experiences: number;
  /** Memory formula at the last event; null before any experience. */
  score: number | null;
  weakest: JourneyState['weakest'];
  peakEnd: number | null;
  stool: StoolMeasure;
}

export function journeyCells(s: JourneyState): Cell[] {
  return Object.entries(s.cells).map(([key, [n, sumX, sumX2, good, impressed]]) => {
    const [leg, touchpoint] = key.split('\u0000') as [Leg, string];
    return { leg, channel: '', touchpoint, events: n, n, sumX, sumX2, bad: 0, good, impressed };
  });
}

export function summarizeJourney(customerId: string, s: JourneyState, p: MetricParams): JourneySummary {
  return {
    customerId,
    journeyId: s.journeyId,
    startedAt: s.startedAt,
    lastAt: s.lastAt,
    events: s.events,
    experiences: s.experiences,
    score: s.experiences ? memoryAt(s.memory, s.lastAt, p) : null,
    weakest: s.weakest,
    peakEnd: s.peak !== null && s.end !== null ? (s.peak + s.end) / 2 : null,
    stool: measureStool(journeyCells(s), 1, p.stoolThreshold),
  };
}

/** Whether a journey last active at `lastAt` has ended by time `at`. */
export const journeyEnded = (lastAt: number, at: number, p: MetricParams) => at - lastAt > p.horizonMs;

export function journey(state: JourneyState | undefined, e: Touch, p: MetricParams): { state: JourneyState; out: JourneyState } {
  const s: JourneyState =
    state && !journeyEnded(state.lastAt, e.t, p)
      ? state
      : { journeyId: e.journey_id, startedAt: e.t, lastAt: e.t, events: 0, experiences: 0, memory: emptyAccumulators(e.t), weakest: null, weakestAt: 0, peak: null, end: null, endAt: 0, endN: 0, endSum: 0, cells: {} };
  s.lastAt = e.t;
  s.events++;
  if (e.x !== null && e.cls !== null) {
    const x = e.x;
    s.experiences++;
    accumulate(s.memory, e as Touch & { x: number; cls: NonNullable<Touch['cls']> }, p);
    // Among equal x the earliest stays; within its moment, the first by touchpoint, then channel.
    const w = s.weakest;
    const sameMoment = s.weakestAt === e.t;
    if (!w || x < w.x || (x === w.x && sameMoment && (e.touchpoint < w.touchpoint || (e.touchpoint === w.touchpoint && e.channel < w.channel)))) {
      s.weakest = { x, touchpoint: e.touchpoint, channel: e.channel };
      s.weakestAt = e.t;
    }
    s.peak = s.peak === null ? x : Math.max(s.peak, x);
    if (s.endN && s.endAt === e.t) {
      s.endN += 1;
      s.endSum = (s.endSum ?? 0) + x;
    } else {
      s.endAt = e.t;
      s.endN = 1;
      s.endSum = x;
    }
    s.end = s.endSum / s.endN;
    const key = `${e.leg}\u0000${e.touchpoint}`;
    const c = (s.cells[key] ??= [0, 0, 0, 0, 0]);
    c[0]++;
    c[1] += x;
    c[2] += x * x;
    if (e.cls === 'good' || e.cls === 'impressed') c[3]++;
    if (e.cls === 'impressed') c[4]++;
  }
  return { state: s, out: s };
}
