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
  /** Per leg and touchpoint, in the order first met (a journey has a few: a scan beats a keyed lookup). */
  cells: JourneyCell[];
}

export interface JourneyCell {
  leg: Leg;
  touchpoint: string;
  n: number;
  sumX: number;
  sumX2: number;
  good: number;
  impressed: number;
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
  return s.cells.map(({ leg, touchpoint, n, sumX, sumX2, good, impressed }) => ({ leg, channel: '', touchpoint, events: n, n, sumX, sumX2, bad: 0, good, impressed }));
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
      : { journeyId: e.journey_id, startedAt: e.t, lastAt: e.t, events: 0, experiences: 0, memory: emptyAccumulators(e.t), weakest: null, weakestAt: 0, peak: null, end: null, endAt: 0, endN: 0, endSum: 0, cells: [] };
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
    let c: JourneyCell | undefined;
    for (const cell of s.cells) {
      if (cell.touchpoint === e.touchpoint && cell.leg === e.leg) {
        c = cell;
        break;
      }
    }
    if (!c) {
      c = { leg: e.leg, touchpoint: e.touchpoint, n: 0, sumX: 0, sumX2: 0, good: 0, impressed: 0 };
      s.cells.push(c);
    }
    c.n++;
    c.sumX += x;
    c.sumX2 += x * x;
    if (e.cls === 'good' || e.cls === 'impressed') c.good++;
    if (e.cls === 'impressed') c.impressed++;
  }
  return { state: s, out: s };
}
