/**
 * The model `cx calibrate` fits (docs/metrics.md, "Outcome calibration and key
 * drivers"): the live memory's formula (processors/folds/experienceMemory.ts) with a
 * weight per touchpoint and a weight of bad experiences,
 *
 *   score = Σ w_k x_k d_k / Σ w_k d_k,   w_k = W[tp_k] · B^[bad_k],   d_k = 2^(-(T - t_k)/h_k)
 *   P(good) = σ(a + b · score)
 *
 * over a customer's experiences up to the outcome's time T. For fixed (h, r) each
 * sample keeps, per touchpoint and class, Σ x d and Σ d ("sums"), so the score under
 * any weights costs O(touchpoints) per sample and its gradient is analytic.
 */
import type { CalibrationData } from './calibrationData.ts';

export const DAY_MS = 86_400_000;

/** One sample per labelled outcome with at least one experience at or before it. */
export interface Samples {
  n: number;
  customer: Int32Array;
  t: Float64Array;
  y: Uint8Array;
  /** The sample's experiences are [expStart[customer], expEnd) of the data. */
  expEnd: Int32Array;
  /** Labelled outcomes with no experience at or before them: no score, left out (and counted). */
  withoutExperiences: number;
}

export function samplesOf(d: CalibrationData): Samples {
  const customer: number[] = [];
  const t: number[] = [];
  const y: number[] = [];
  const expEnd: number[] = [];
  let withoutExperiences = 0;
  for (let c = 0; c < d.customers.length; c++) {
    let e = d.expStart[c] as number;
    const eEnd = d.expStart[c + 1] as number;
    for (let o = d.outStart[c] as number; o < (d.outStart[c + 1] as number); o++) {
      const T = d.outT[o] as number;
      while (e < eEnd && (d.expT[e] as number) <= T) e++;
      if (e === (d.expStart[c] as number)) {
        withoutExperiences++;
        continue;
      }
      customer.push(c);
      t.push(T);
      y.push(d.outGood[o] as number);
      expEnd.push(e);
    }
  }
  return { n: customer.length, customer: Int32Array.from(customer), t: Float64Array.from(t), y: Uint8Array.from(y), expEnd: Int32Array.from(expEnd), withoutExperiences };
}

/**
 * Per sample, per (touchpoint, class) with experiences: Σ x d and Σ d decayed to the
 * sample's time, and for bad entries also Σ d at the non-bad half-life (what those
 * experiences would weigh had they not been bad: "where do we start"). Each sample's
 * entries are scaled by one common factor (its newest entry's decay), which leaves its
 * score unchanged and keeps long histories from underflowing.
 */
export interface SampleSums {
  halfLifeDays: number;
  badFactor: number;
  /** Sample i's entries are [start[i], start[i + 1]). */
  start: Int32Array;
  tp: Int32Array;
  bad: Uint8Array;
  /** 2·tp + bad: the entry's weight slot. */
  slot: Int32Array;
  sx: Float64Array;
  sd: Float64Array;
  sdAsGood: Float64Array;
}

export function sampleSums(d: CalibrationData, s: Samples, halfLifeDays: number, badFactor: number): SampleSums {
  const T = d.touchpoints.length;
  const hGood = halfLifeDays * DAY_MS;
  const hBad = badFactor * hGood;
  // Slot (tp, class): value decayed to slotT.
  const slotT = new Float64Array(2 * T);
  const slotX = new Float64Array(2 * T);
  const slotD = new Float64Array(2 * T);
  const slotDg = new Float64Array(2 * T);
  const used = new Int32Array(2 * T);
  const isUsed = new Uint8Array(2 * T);
  let nUsed = 0;
  let cap = Math.max(16, s.n * 4);
  let tp = new Int32Array(cap);
  let bad = new Uint8Array(cap);
  let sx = new Float64Array(cap);
  let sd = new Float64Array(cap);
  let sdg = new Float64Array(cap);
  const start = new Int32Array(s.n + 1);
  let k = 0;
  let customer = -1;
  let e = 0;
  const exps = new Float64Array(2 * T);
  const expsG = new Float64Array(2 * T);
  for (let i = 0; i < s.n; i++) {
    const c = s.customer[i] as number;
    if (c !== customer) {
      for (let j = 0; j < nUsed; j++) isUsed[used[j] as number] = 0;
      nUsed = 0;
      customer = c;
      e = d.expStart[c] as number;
    }
    const end = s.expEnd[i] as number;
    for (; e < end; e++) {
      const b = d.expBad[e] as number;
      const slot = 2 * (d.expTp[e] as number) + b;
      const t = d.expT[e] as number;
      if (!isUsed[slot]) {
        isUsed[slot] = 1;
        used[nUsed++] = slot;
        slotT[slot] = t;
        slotX[slot] = 0;
        slotD[slot] = 0;
        slotDg[slot] = 0;
      } else if (t !== slotT[slot]) {
        const dt = t - (slotT[slot] as number);
        const f = 2 ** (-dt / (b ? hBad : hGood));
        slotX[slot] = (slotX[slot] as number) * f;
        slotD[slot] = (slotD[slot] as number) * f;
        if (b) slotDg[slot] = (slotDg[slot] as number) * 2 ** (-dt / hGood);
        slotT[slot] = t;
      }
      slotX[slot] = (slotX[slot] as number) + (d.expX[e] as number);
      slotD[slot] = (slotD[slot] as number) + 1;
      if (b) slotDg[slot] = (slotDg[slot] as number) + 1;
    }
    const Ti = s.t[i] as number;
    let top = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < nUsed; j++) {
      const slot = used[j] as number;
      const age = Ti - (slotT[slot] as number);
      const ex = -age / (slot & 1 ? hBad : hGood);
      exps[slot] = ex;
      expsG[slot] = -age / hGood;
      if (ex > top) top = ex;
    }
    if (k + nUsed > cap) {
      cap = Math.max(cap * 2, k + nUsed);
      const grow = <A extends Float64Array | Int32Array | Uint8Array>(a: A, make: (n: number) => A): A => {
        const b = make(cap);
        b.set(a);
        return b;
      };
      tp = grow(tp, (n) => new Int32Array(n));
      bad = grow(bad, (n) => new Uint8Array(n));
      sx = grow(sx, (n) => new Float64Array(n));
      sd = grow(sd, (n) => new Float64Array(n));
      sdg = grow(sdg, (n) => new Float64Array(n));
    }
    start[i] = k;
    // Entries in slot order (touchpoint, then class), so every evaluation adds them up in the same order.
    for (let slot = 0; slot < 2 * T; slot++) {
      if (!isUsed[slot]) continue;
      const f = 2 ** ((exps[slot] as number) - top);
      tp[k] = slot >> 1;
      bad[k] = slot & 1;
      sx[k] = (slotX[slot] as number) * f;
      sd[k] = (slotD[slot] as number) * f;
      sdg[k] = slot & 1 ? (slotDg[slot] as number) * 2 ** ((expsG[slot] as number) - top) : 0;
      k++;
    }
  }
  start[s.n] = k;
  const slots = new Int32Array(k);
  for (let j = 0; j < k; j++) slots[j] = 2 * (tp[j] as number) + (bad[j] as number);
  return { halfLifeDays, badFactor, start, tp: tp.slice(0, k), bad: bad.slice(0, k), slot: slots, sx: sx.slice(0, k), sd: sd.slice(0, k), sdAsGood: sdg.slice(0, k) };
}

/** Weights of an entry per touchpoint and class: wGood[tp] = W[tp], wBad[tp] = W[tp]·B. */
export interface EntryWeights {
  good: Float64Array;
  bad: Float64Array;
}

export function entryWeights(weights: ArrayLike<number>, badWeight: number): EntryWeights {
  const good = Float64Array.from(weights);
  const bad = good.map((w) => w * badWeight);
  return { good, bad };
}

/** The scores of all samples under these weights; `empty` where no weight is left (every experience weighs 0). */
export function scoresOf(sums: SampleSums, w: EntryWeights, empty: number): Float64Array {
  const n = sums.start.length - 1;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let num = 0;
    let den = 0;
    for (let j = sums.start[i] as number; j < (sums.start[i + 1] as number); j++) {
      const tp = sums.tp[j] as number;
      const wj = sums.bad[j] ? (w.bad[tp] as number) : (w.good[tp] as number);
      num += wj * (sums.sx[j] as number);
      den += wj * (sums.sd[j] as number);
    }
    out[i] = den > 0 ? num / den : empty;
  }
  return out;
}

/**
 * Ridge on log W and log B, added to the summed log loss: ½ Σ (log W)² + ½ (log B)²,
 * a normal prior of sd 1 on each log weight. It pulls a touchpoint with little data
 * towards weight 1, and fades as data grows. The summed loss does not change when
 * every W is multiplied by one factor; the ridge makes the fit pick the scale whose
 * log weights sum to 0, and the weights are normalized after the fit.
 */
export const RIDGE = 1;

/**
 * The training objective of the parameter vector p = [log W (touchpoints), log B, a, b]:
 * Σ_i c_i · logloss_i + ridge, and its gradient into `grad`. c_i: how many times sample
 * i counts (0 for held-out samples; a bootstrap resample's multiplicity).
 */
export function objective(sums: SampleSums, y: Uint8Array, c: Float64Array, touchpoints: number) {
  const T = touchpoints;
  // Entry weights and gradients by slot 2·tp + bad, so the inner loops are one lookup each.
  const w = new Float64Array(2 * T);
  const g = new Float64Array(2 * T);
  const { start, slot, sx, sd } = sums;
  // Only the samples that count (training, or in the resample).
  let n = 0;
  for (let i = 0; i < start.length - 1; i++) if ((c[i] as number) !== 0) n++;
  const active = new Int32Array(n);
  n = 0;
  for (let i = 0; i < start.length - 1; i++) if ((c[i] as number) !== 0) active[n++] = i;
  return (p: Float64Array, grad: Float64Array): number => {
    const beta = p[T] as number;
    const a = p[T + 1] as number;
    const b = p[T + 2] as number;
    const eb = Math.exp(beta);
    for (let t = 0; t < T; t++) {
      const wt = Math.exp(p[t] as number);
      w[2 * t] = wt;
      w[2 * t + 1] = wt * eb;
    }
    g.fill(0);
    let f = 0;
    let ga = 0;
    let gb = 0;
    for (const i of active) {
      const ci = c[i] as number;
      const j0 = start[i] as number;
      const j1 = start[i + 1] as number;
      let num = 0;
      let den = 0;
      for (let j = j0; j < j1; j++) {
        const wj = w[slot[j] as number] as number;
        num += wj * (sx[j] as number);
        den += wj * (sd[j] as number);
      }
      const s = num / den;
      const z = a + b * s;
      // softplus(z) and σ(z) from one exponential.
      const e = Math.exp(-Math.abs(z));
      const yi = y[i] as number;
      f += ci * ((z > 0 ? z : 0) + Math.log1p(e) - yi * z);
      const r = ci * ((z >= 0 ? 1 / (1 + e) : e / (1 + e)) - yi);
      ga += r;
      gb += r * s;
      // ∂s/∂log W_tp = Σ_{j at tp} w_j (sx_j - s sd_j) / den; ∂s/∂log B = the same over bad entries.
      const k = (r * b) / den;
      for (let j = j0; j < j1; j++) {
        const q = slot[j] as number;
        g[q] = (g[q] as number) + k * (w[q] as number) * ((sx[j] as number) - s * (sd[j] as number));
      }
    }
    let gBeta = 0;
    for (let t = 0; t < T; t++) {
      const v = p[t] as number;
      f += 0.5 * RIDGE * v * v;
      grad[t] = (g[2 * t] as number) + (g[2 * t + 1] as number) + RIDGE * v;
      gBeta += g[2 * t + 1] as number;
    }
    f += 0.5 * RIDGE * beta * beta;
    grad[T] = gBeta + RIDGE * beta;
    grad[T + 1] = ga;
    grad[T + 2] = gb;
    return f;
  };
}
