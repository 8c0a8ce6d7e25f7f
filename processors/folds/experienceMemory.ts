/**
 * Bad-experience-weighted customer memory (docs/metrics.md, "Customer memory"):
 *
 *   M(t) = sum w_k x_k d_k(t) / sum w_k d_k(t),   d_k(t) = 2^(-(t - t_k) / h_k)
 *
 * with h_k = h for non-bad experiences and r*h for bad ones, and w_k = m at a moment
 * of truth, else 1. Each class keeps two accumulators (sum w x d and sum w d) decayed
 * to the customer's latest experience, so an update is O(1) whatever the history.
 */
import type { MetricParams } from '../params.ts';
import { isBad, isGood, type ExperienceTouch } from '../touch.ts';

/** Accumulators of one customer (or one journey), decayed to time `t`. */
export interface MemoryAccumulators {
  t: number;
  /** Non-bad class: sum w x d and sum w d. */
  gx: number;
  gw: number;
  /** Bad class. */
  bx: number;
  bw: number;
  /** The sums are 2^-scale times their true value (set only after a decay of hundreds of half-lives). */
  scale?: number;
}

export interface MemoryState extends MemoryAccumulators {
  /** Experiences so far. */
  n: number;
  /** Time of the first bad experience not yet followed by a good one; null when none. */
  unansweredBadSince: number | null;
}

export interface MemoryUpdate {
  /** Memory just before this experience's moment (decayed to its time); null for a customer's first moment. */
  before: number | null;
  after: number;
  weight: number;
  /** This experience's share of after - before (the shares of a moment sum to it); null for a customer's first moment. */
  impact: number | null;
  atRisk: boolean;
  recoverable: boolean;
  /** The customer's experiences after this moment. */
  experiences: number;
}

/** decayFactors' results (module state, not an array per call: this runs for every experience). */
let decayGood = 1;
let decayBad = 1;
let decayShift = 0;

/**
 * The decay factors from the accumulators' time to `dt` later, for the non-bad and the
 * bad class, and the power of two `k` they carry on top: after hundreds of half-lives
 * (a short calibrated h, a long silence) the sums would underflow to 0 and lose the
 * memory, so the larger class is brought back near 1 by 2^k. M is a ratio of the sums
 * and does not change; `scale` remembers the shift. Sets decayGood, decayBad, decayShift.
 */
function decayFactors(a: MemoryAccumulators, dt: number, p: MetricParams): void {
  const eg = -dt / p.halfLifeMs;
  const eb = -dt / (p.badFactor * p.halfLifeMs);
  const top = Math.max(a.gw > 0 ? Math.log2(a.gw) + eg : -Infinity, a.bw > 0 ? Math.log2(a.bw) + eb : -Infinity);
  const k = top < -600 && Number.isFinite(top) ? Math.floor(-top) : 0;
  decayGood = 2 ** (eg + k);
  decayBad = 2 ** (eb + k);
  decayShift = k;
}

/** M at time t (t at or after the accumulators' time); null with no experience at all. */
export function memoryAt(a: MemoryAccumulators, t: number, p: MetricParams): number | null {
  const dt = t - a.t;
  let dg = 1;
  let db = 1;
  if (dt !== 0) {
    decayFactors(a, dt, p);
    dg = decayGood;
    db = decayBad;
  }
  const w = a.gw * dg + a.bw * db;
  return w > 0 ? (a.gx * dg + a.bx * db) / w : null;
}

/** Decays the accumulators (in place) to time t. */
function accumulateDecay(a: MemoryAccumulators, t: number, p: MetricParams): void {
  const dt = t - a.t;
  if (dt === 0) return;
  decayFactors(a, dt, p);
  const dg = decayGood;
  const db = decayBad;
  a.gx *= dg;
  a.gw *= dg;
  a.bx *= db;
  a.bw *= db;
  a.t = t;
  if (decayShift) a.scale = (a.scale ?? 0) - decayShift;
}

/** The sums' true weight (they are 2^-scale times it after a long decay). */
const trueWeight = (a: MemoryAccumulators) => (a.gw + a.bw) * 2 ** (a.scale ?? 0);

/**
 * Back to true units before new experiences are added: whatever was shifted is below
 * 2^-600 of a new experience's weight, so in double precision it is 0 beside it.
 */
function unscale(a: MemoryAccumulators): void {
  if (!a.scale) return;
  const f = 2 ** a.scale;
  a.gx *= f;
  a.gw *= f;
  a.bx *= f;
  a.bw *= f;
  a.scale = 0;
}

/**
 * w_k: with a calibration active, its weight of the touchpoint (1 when it has none)
 * times its weight of a bad experience when bad; else m at a moment of truth, 1 otherwise.
 */
export function experienceWeight(e: Pick<ExperienceTouch, 'touchpoint' | 'mot' | 'cls'>, p: MetricParams): number {
  const c = p.calibration;
  if (!c) return e.mot ? p.motWeight : 1;
  const w = Object.hasOwn(c.touchpointWeights, e.touchpoint) ? (c.touchpointWeights[e.touchpoint] as number) : 1;
  return w * (e.cls === 'bad' ? c.badWeight : 1);
}

/** Adds an experience at the accumulators' own time. */
function addExperience(a: MemoryAccumulators, e: ExperienceTouch, p: MetricParams): void {
  const w = experienceWeight(e, p);
  if (isBad(e)) {
    a.bx += w * e.x;
    a.bw += w;
  } else {
    a.gx += w * e.x;
    a.gw += w;
  }
}

/** Adds one experience to the accumulators (in place) and returns them. */
export function accumulate<A extends MemoryAccumulators>(a: A, e: ExperienceTouch, p: MetricParams): A {
  accumulateDecay(a, e.t, p);
  unscale(a);
  addExperience(a, e, p);
  return a;
}

export const emptyAccumulators = (t: number): MemoryAccumulators => ({ t, gx: 0, gw: 0, bx: 0, bw: 0 });

/**
 * The fold over one moment: a customer's experiences with the same event time
 * (docs/metrics.md, "Simultaneous experiences"), at least one. Owns `state` (may
 * update it in place). The accumulators take them all at once, so the memory after a
 * moment does not depend on their order, and every experience of the moment reports
 * the same memory before and after it; `impact` splits the change exactly among them:
 *
 *   M_after - M_before = sum_i w_i (x_i - M_before) / (W_before + sum_i w_i)
 *
 * At risk: memory below the threshold with a bad experience not yet followed by a
 * good one. A good experience answers the bad ones of earlier moments, not those of
 * its own moment. Recoverable: at risk, and that first unanswered bad experience is
 * less than H old (caught early).
 */
export function experienceMemoryMoment(state: MemoryState | undefined, moment: readonly ExperienceTouch[], p: MetricParams): { state: MemoryState; out: MemoryUpdate[] } {
  const t = (moment[0] as ExperienceTouch).t;
  const s: MemoryState = state ?? { t, gx: 0, gw: 0, bx: 0, bw: 0, n: 0, unansweredBadSince: null };
  // Decay the accumulators to this moment once; M before it is read off them.
  accumulateDecay(s, t, p);
  const stored = s.gw + s.bw;
  const before = s.n === 0 || stored === 0 ? null : (s.gx + s.bx) / stored;
  const w0 = trueWeight(s);
  unscale(s);
  let sumW = 0;
  let anyBad = false;
  let anyGood = false;
  const weights: number[] = new Array(moment.length);
  for (let i = 0; i < moment.length; i++) {
    const e = moment[i] as ExperienceTouch;
    const w = experienceWeight(e, p);
    sumW += w;
    if (isBad(e)) anyBad = true;
    else if (isGood(e)) anyGood = true;
    addExperience(s, e, p);
    weights[i] = w;
  }
  s.n += moment.length;
  if (anyGood) s.unansweredBadSince = null;
  if (anyBad) s.unansweredBadSince ??= t;
  const after = (s.gx + s.bx) / (s.gw + s.bw);
  const atRisk = after < p.atRisk && s.unansweredBadSince !== null;
  const recoverable = atRisk && t - (s.unansweredBadSince as number) < p.horizonMs;
  const total = w0 + sumW;
  const out: MemoryUpdate[] = new Array(moment.length);
  for (let i = 0; i < moment.length; i++) {
    const w = weights[i] as number;
    out[i] = { before, after, weight: w, impact: before === null ? null : (w * ((moment[i] as ExperienceTouch).x - before)) / total, atRisk, recoverable, experiences: s.n };
  }
  return { state: s, out };
}

/** The fold over one experience: a moment of one. */
export function experienceMemory(state: MemoryState | undefined, e: ExperienceTouch, p: MetricParams): { state: MemoryState; out: MemoryUpdate } {
  const r = experienceMemoryMoment(state, [e], p);
  return { state: r.state, out: r.out[0] as MemoryUpdate };
}
