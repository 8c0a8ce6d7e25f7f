/**
 * Per-leg consistency and the stool (docs/metrics.md, "Per-leg consistency and the stool").
 *
 * Over a set of experiences grouped into cells ((channel, touchpoint) live; touchpoint
 * within a journey):
 * - leg score S_L: mean x over all the leg's experiences;
 * - leg consistency C_L = clamp(1 - 2 sigma_w, 0, 1), sigma_w the n-weighted standard
 *   deviation of the means of the leg's cells that have at least n_min experiences;
 *   null with fewer than two such cells;
 * - stool score: the weakest leg's score; wobble: strongest minus weakest; it stands
 *   when all three legs have experiences and every S_L >= E.
 *
 * `stoolWindow` is the live fold: fed each closed minute's cell aggregates in order,
 * it emits the sliding window that ends with that minute.
 */
import { LEG_SYMBOLS, type Leg } from '../../schemas/contracts.ts';
import { MINUTE_MS } from '../params.ts';
import { satisfaction } from './satisfaction.ts';

/** Mergeable aggregate of one cell over some time: sums add up across minutes and partitions. */
export interface CellAggregate {
  /** Events, experiences or not (traffic included). */
  events: number;
  /** Experiences. */
  n: number;
  sumX: number;
  sumX2: number;
  bad: number;
  good: number;
  impressed: number;
}

export interface Cell extends CellAggregate {
  leg: Leg;
  /** '' within a journey, where cells are touchpoints. */
  channel: string;
  touchpoint: string;
}

export const emptyAggregate = (): CellAggregate => ({ events: 0, n: 0, sumX: 0, sumX2: 0, bad: 0, good: 0, impressed: 0 });

export function mergeInto(into: CellAggregate, a: CellAggregate): CellAggregate {
  into.events += a.events;
  into.n += a.n;
  into.sumX += a.sumX;
  into.sumX2 += a.sumX2;
  into.bad += a.bad;
  into.good += a.good;
  into.impressed += a.impressed;
  return into;
}

export interface LegMeasure {
  leg: Leg;
  experiences: number;
  score: number;
  /** Null with fewer than two cells of at least n_min experiences. */
  consistency: number | null;
  /** Cells that count for consistency (n >= n_min). */
  cells: number;
  satisfied: number;
  impressed: number;
  merelySatisfied: number;
}

export interface StoolMeasure {
  /** Legs with experiences, in the fixed order PRODUCT, OPERATIONS, SALES_MARKETING. */
  legs: LegMeasure[];
  /** The weakest leg's score; null with no experience. */
  score: number | null;
  weakestLeg: Leg | null;
  wobble: number | null;
  stands: boolean;
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

export function measureLeg(leg: Leg, cells: readonly CellAggregate[], nMin: number): LegMeasure | null {
  let n = 0;
  let sum = 0;
  let good = 0;
  let impressed = 0;
  for (const c of cells) {
    n += c.n;
    sum += c.sumX;
    good += c.good;
    impressed += c.impressed;
  }
  if (n === 0) return null;
  const counted = cells.filter((c) => c.n >= nMin && c.n > 0);
  let consistency: number | null = null;
  if (counted.length >= 2) {
    const w = counted.reduce((s, c) => s + c.n, 0);
    const mean = counted.reduce((s, c) => s + c.sumX, 0) / w;
    const variance = counted.reduce((s, c) => s + c.n * (c.sumX / c.n - mean) ** 2, 0) / w;
    consistency = clamp01(1 - 2 * Math.sqrt(variance));
  }
  const shares = satisfaction(n, good, impressed) as NonNullable<ReturnType<typeof satisfaction>>;
  return { leg, experiences: n, score: sum / n, consistency, cells: counted.length, ...shares };
}

export function measureStool(cells: Iterable<Cell>, nMin: number, threshold: number): StoolMeasure {
  const byLeg = new Map<Leg, CellAggregate[]>();
  for (const c of cells) {
    const list = byLeg.get(c.leg);
    if (list) list.push(c);
    else byLeg.set(c.leg, [c]);
  }
  const legs = LEG_SYMBOLS.map((leg) => measureLeg(leg, byLeg.get(leg) ?? [], nMin)).filter((l): l is LegMeasure => l !== null);
  if (legs.length === 0) return { legs, score: null, weakestLeg: null, wobble: null, stands: false };
  let weakest = legs[0] as LegMeasure;
  let strongest = weakest;
  for (const l of legs) {
    if (l.score < weakest.score) weakest = l;
    if (l.score > strongest.score) strongest = l;
  }
  return {
    legs,
    score: weakest.score,
    weakestLeg: weakest.leg,
    wobble: strongest.score - weakest.score,
    stands: legs.length === LEG_SYMBOLS.length && legs.every((l) => l.score >= threshold),
  };
}

export const cellKey = (c: { leg: string; channel: string; touchpoint: string }) => `${c.leg}\u0000${c.channel}\u0000${c.touchpoint}`;

/** One closed minute of event time: its cells, merged across partitions. */
export interface ClosedMinute {
  minute: number;
  cells: Cell[];
}

export interface StoolWindowState {
  /** The last `windowMinutes` closed minutes, oldest first. */
  minutes: ClosedMinute[];
}

export interface StoolWindow {
  /** The window is [end - windowMinutes, end). */
  end: number;
  windowMinutes: number;
  stool: StoolMeasure;
}

/**
 * The live fold. Minutes must come in increasing order; a minute without data may be
 * skipped (it adds nothing). Emits the window ending with this minute, when the
 * window holds any experience.
 */
export function stoolWindow(
  state: StoolWindowState | undefined,
  closed: ClosedMinute,
  p: { windowMinutes: number; nMin: number; stoolThreshold: number },
): { state: StoolWindowState; out: StoolWindow | null } {
  const s = state ?? { minutes: [] };
  const end = closed.minute + MINUTE_MS;
  const start = end - p.windowMinutes * MINUTE_MS;
  s.minutes = s.minutes.filter((m) => m.minute >= start && m.minute < closed.minute);
  s.minutes.push(closed);
  const merged = new Map<string, Cell>();
  for (const m of s.minutes) {
    for (const c of m.cells) {
      const key = cellKey(c);
      const into = merged.get(key);
      if (into) mergeInto(into, c);
      else merged.set(key, { ...c });
    }
  }
  const stool = measureStool(merged.values(), p.nMin, p.stoolThreshold);
  return { state: s, out: stool.legs.length ? { end, windowMinutes: p.windowMinutes, stool } : null };
}
