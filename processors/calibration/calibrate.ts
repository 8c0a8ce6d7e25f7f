/**
 * Outcome calibration and key-driver analysis (docs/metrics.md, "Outcome calibration
 * and key drivers"): fits the memory's weights per touchpoint, the weight of a bad
 * experience and, where the data spans time, h and r, against labelled outcomes; and
 * reports on held-out customers how well the plain mean, the default memory and the
 * calibrated memory predict a good outcome, the key-driver table and "where do we
 * start". Pure and deterministic: the same data and options give the same figures.
 */
import { createHash } from 'node:crypto';
import type { HeldOut, KeyDriver, StartingPoint } from './stored.ts';
import { seededRandom } from '../../producers/random.ts';
import type { MetricParams } from '../params.ts';
import { experienceWeight } from '../folds/experienceMemory.ts';
import type { CalibrationData } from './calibrationData.ts';
import { minimizeLbfgs, type CurvaturePairs } from './lbfgs.ts';
import { DAY_MS, entryWeights, objective, sampleSums, samplesOf, scoresOf, type SampleSums, type Samples } from './memoryModel.ts';
import { auc, fitLogistic, logLoss, sigmoid } from './outcomeScoring.ts';

/** The (h, r) grid searched where the data spans time. */
export const HALF_LIFE_GRID_DAYS = [1 / 96, 1 / 24, 1 / 8, 0.5, 1, 3, 7, 30, 90, 365];
export const BAD_FACTOR_GRID = [1, 2, 4, 7, 14];
/** Fewer training samples of either label than this: no fit. */
export const MIN_SAMPLES_PER_LABEL = 50;
/**
 * (h, r) leave the defaults only when the grid's best improves the training objective
 * by more than this: half the 95% point of χ² with 2 degrees of freedom (a likelihood
 * ratio test of the two extra parameters).
 */
export const TIME_FIT_THRESHOLD = 5.991 / 2;

export interface CalibrateOptions {
  seed: number;
  /** Share of customers in training (the rest are held out). */
  trainShare: number;
  /** Bootstrap resamples for the intervals. */
  bootstrap: number;
  /** The uncalibrated memory to compare with, and the h and r kept when they are not fitted: the configured m, h and r (`cx calibrate` passes metricParams(config)). */
  reference: Pick<MetricParams, 'halfLifeMs' | 'badFactor' | 'motWeight'>;
  grid?: { halfLifeDays: readonly number[]; badFactors: readonly number[] };
  minSamplesPerLabel?: number;
  onProgress?: (p: { stage: string; done: number; total: number }) => void;
}

export interface GridPoint {
  halfLifeDays: number;
  badFactor: number;
  /** Training objective: summed log loss plus ridge. */
  objective: number;
}

export interface CalibrationFit {
  parameters: { touchpointWeights: Record<string, number>; badWeight: number; halfLifeDays: number; badFactor: number };
  /** 95% bootstrap interval of the bad weight. */
  badWeightLow: number;
  badWeightHigh: number;
  /** Whether h and r were fitted, and why (not). */
  timeScales: { fitted: boolean; note: string; grid: GridPoint[] };
  /** P(good) = σ(a + b · calibrated memory). */
  logistic: { a: number; b: number };
  training: { customers: number; samples: number; good: number; bad: number };
  heldout: HeldOut;
  keyDrivers: KeyDriver[];
  whereToStart: StartingPoint[];
  /** Labelled outcomes left out for having no experience at or before them. */
  withoutExperiences: number;
  /** Experiences in some sample's history, and the span of data used. */
  experiences: number;
  customers: number;
  windowFrom: number;
  windowTo: number;
}

export class CalibrationDataError extends Error {
  override name = 'CalibrationDataError';
}

/** The customer's place in [0, 1) for the split: a hash of seed and id, so it never depends on the data's order. */
export function splitShare(seed: number, customer: string): number {
  const h = createHash('sha256').update(`${seed}:${customer}`).digest();
  return h.readUIntBE(0, 6) / 2 ** 48;
}

/** The q-quantile (0..1) of values, interpolating between order statistics. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const v = [...values].sort((a, b) => a - b);
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (v[lo] as number) + ((v[hi] as number) - (v[lo] as number)) * (pos - lo);
}

/**
 * Weights scaled so that their mean over training experiences is 1 (the score is the
 * same under any common factor): a touchpoint weighing 2 counts twice an average one.
 */
export function normalizeWeights(raw: ArrayLike<number>, experiences: ArrayLike<number>): Float64Array {
  let num = 0;
  let den = 0;
  for (let t = 0; t < raw.length; t++) {
    num += (raw[t] as number) * (experiences[t] as number);
    den += experiences[t] as number;
  }
  const k = den > 0 && num > 0 ? num / den : 1;
  return Float64Array.from(raw, (w) => w / k);
}

/**
 * Plain mean (mean x of the experiences at or before the outcome) and the default
 * memory (the live fold's weights and decay without a calibration) of every sample.
 */
export function referenceScores(d: CalibrationData, s: Samples, ref: CalibrateOptions['reference']): { plain: Float64Array; memory: Float64Array } {
  const plain = new Float64Array(s.n);
  const memory = new Float64Array(s.n);
  const h = ref.halfLifeMs;
  const rh = ref.badFactor * ref.halfLifeMs;
  const p = { motWeight: ref.motWeight, calibration: null } as MetricParams;
  let customer = -1;
  let e = 0;
  let sumX = 0;
  let count = 0;
  // Accumulators decayed to time at: non-bad (gx, gw) and bad (bx, bw), as the live fold keeps them.
  let at = 0, gx = 0, gw = 0, bx = 0, bw = 0;
  for (let i = 0; i < s.n; i++) {
    const c = s.customer[i] as number;
    if (c !== customer) {
      customer = c;
      e = d.expStart[c] as number;
      sumX = count = gx = gw = bx = bw = 0;
      at = d.expT[e] as number;
    }
    for (; e < (s.expEnd[i] as number); e++) {
      const t = d.expT[e] as number;
      const x = d.expX[e] as number;
      const bad = d.expBad[e] === 1;
      if (t !== at) {
        const fg = 2 ** (-(t - at) / h);
        const fb = 2 ** (-(t - at) / rh);
        gx *= fg; gw *= fg; bx *= fb; bw *= fb;
        at = t;
      }
      const w = experienceWeight({ touchpoint: '', mot: d.expMot[e] === 1, cls: bad ? 'bad' : 'good' }, p);
      if (bad) { bx += w * x; bw += w; } else { gx += w * x; gw += w; }
      sumX += x;
      count++;
    }
    plain[i] = sumX / count;
    // Decayed to the outcome's time, scaled by the larger decay so an old history cannot underflow.
    const age = (s.t[i] as number) - at;
    const eg = -age / h;
    const eb = -age / rh;
    const top = Math.max(gw > 0 ? eg : -Infinity, bw > 0 ? eb : -Infinity);
    const fg = gw > 0 ? 2 ** (eg - top) : 0;
    const fb = bw > 0 ? 2 ** (eb - top) : 0;
    memory[i] = (gx * fg + bx * fb) / (gw * fg + bw * fb);
  }
  return { plain, memory };
}

interface Fitted {
  p: Float64Array;
  f: number;
  pairs: CurvaturePairs;
}

/**
 * Minimizes the training objective at these sums from a start vector, until an
 * iteration lowers it by at most `tolerance` of its value: 1e-7 on the grid (enough to
 * compare points whose objectives differ by more than TIME_FIT_THRESHOLD: a million
 * experiences' objective is about 1e5), 1e-12 for the fit at the chosen point, and 1e-8
 * for bootstrap refits (an optimization error of that order moves a weight far less
 * than the resampling does).
 */
function fitAt(sums: SampleSums, y: Uint8Array, c: Float64Array, T: number, start: Float64Array, tolerance: number, pairs?: CurvaturePairs): Fitted {
  const r = minimizeLbfgs(objective(sums, y, c, T), start, { maxIterations: 1000, valueTolerance: tolerance, pairs });
  return { p: r.x, f: r.f, pairs: r.pairs };
}

/** The calibrated model's pieces read off a parameter vector. */
function unpack(p: Float64Array, T: number) {
  return { W: Float64Array.from(p.subarray(0, T), Math.exp), B: Math.exp(p[T] as number), a: p[T + 1] as number, b: p[T + 2] as number };
}

export function calibrate(d: CalibrationData, o: CalibrateOptions): CalibrationFit {
  const T = d.touchpoints.length;
  const minPerLabel = o.minSamplesPerLabel ?? MIN_SAMPLES_PER_LABEL;
  if (!(o.trainShare > 0 && o.trainShare < 1)) throw new RangeError(`train share ${o.trainShare}: expected a number between 0 and 1 (exclusive)`);
  const samples = samplesOf(d);
  const inTrain = Uint8Array.from(d.customers, (id) => (splitShare(o.seed, id) < o.trainShare ? 1 : 0));
  const cTrain = Float64Array.from(samples.customer, (c) => inTrain[c] as number);
  const held = (i: number) => inTrain[samples.customer[i] as number] === 0;

  let trainGood = 0, trainBad = 0, heldGood = 0, heldBad = 0;
  for (let i = 0; i < samples.n; i++) {
    if (held(i)) samples.y[i] ? heldGood++ : heldBad++;
    else samples.y[i] ? trainGood++ : trainBad++;
  }
  if (trainGood < minPerLabel || trainBad < minPerLabel) {
    throw new CalibrationDataError(
      `too few outcomes to calibrate: training has ${trainGood} good and ${trainBad} bad samples (of ${samples.n} with experiences before them, ` +
        `${samples.withoutExperiences} more without); at least ${minPerLabel} of each are needed. Use more data (a longer --from/--to window), other --good/--bad rules, or a larger --train-share`,
    );
  }
  if (heldGood === 0 || heldBad === 0) {
    throw new CalibrationDataError(`the held-out customers have ${heldGood} good and ${heldBad} bad samples: the comparison needs both; use a smaller --train-share or more data`);
  }

  // Per touchpoint over all the data: experiences, bad ones, and the x of the others (the table, "where do we start").
  const experiences = new Float64Array(T);
  const badCount = new Float64Array(T);
  const nonBadX = new Float64Array(T);
  for (let e = 0; e < d.expT.length; e++) {
    const tp = d.expTp[e] as number;
    experiences[tp] = (experiences[tp] as number) + 1;
    if (d.expBad[e]) badCount[tp] = (badCount[tp] as number) + 1;
    else nonBadX[tp] = (nonBadX[tp] as number) + (d.expX[e] as number);
  }
  // The experiences some sample's history holds, and their span.
  const lastEnd = new Int32Array(d.customers.length).fill(-1);
  for (let i = 0; i < samples.n; i++) lastEnd[samples.customer[i] as number] = samples.expEnd[i] as number;
  let used = 0;
  let windowFrom = Infinity;
  let windowTo = -Infinity;
  for (let c = 0; c < d.customers.length; c++) {
    if ((lastEnd[c] as number) < 0) continue;
    used += (lastEnd[c] as number) - (d.expStart[c] as number);
    windowFrom = Math.min(windowFrom, d.expT[d.expStart[c] as number] as number);
  }
  for (let i = 0; i < samples.n; i++) windowTo = Math.max(windowTo, samples.t[i] as number);
  const trainExperiences = (mult: (c: number) => number) => {
    const n = new Float64Array(T);
    for (let c = 0; c < d.customers.length; c++) {
      const m = mult(c);
      if (m === 0) continue;
      for (let e = d.expStart[c] as number; e < (lastEnd[c] as number); e++) n[d.expTp[e] as number] = (n[d.expTp[e] as number] as number) + m;
    }
    return n;
  };
  const nTrain = trainExperiences((c) => inTrain[c] as number);

  const refScores = referenceScores(d, samples, o.reference);
  const refDays = o.reference.halfLifeMs / DAY_MS;
  const refR = o.reference.badFactor;

  // h and r mean something only if some training outcome has an experience before its own time.
  let spansTime = false;
  for (let i = 0; i < samples.n && !spansTime; i++) {
    if (cTrain[i] && (d.expT[d.expStart[samples.customer[i] as number] as number] as number) < (samples.t[i] as number)) spansTime = true;
  }
  const gridH = [...(o.grid?.halfLifeDays ?? HALF_LIFE_GRID_DAYS)];
  const gridR = [...(o.grid?.badFactors ?? BAD_FACTOR_GRID)];
  if (!gridH.includes(refDays)) gridH.push(refDays);
  if (!gridR.includes(refR)) gridR.push(refR);
  gridH.sort((a, b) => a - b);
  gridR.sort((a, b) => a - b);
  const points = spansTime ? gridH.flatMap((h) => gridR.map((r) => [h, r] as const)) : [[refDays, refR] as const];

  const bootstrap = Math.max(0, Math.floor(o.bootstrap));
  const total = points.length + bootstrap + 2 * T;
  let done = 0;
  const progress = (stage: string) => o.onProgress?.({ stage, done: ++done, total });

  // Start: equal weights, (a, b) of the equal-weight score.
  const start = new Float64Array(T + 3);
  {
    const sums0 = sampleSums(d, samples, points[0]?.[0] as number, points[0]?.[1] as number);
    const s0 = scoresOf(sums0, entryWeights(new Float64Array(T).fill(1), 1), 0.5);
    const ab = fitLogistic(s0, samples.y, cTrain);
    start[T + 1] = ab.a;
    start[T + 2] = ab.b;
  }
  const grid: GridPoint[] = [];
  const fits: Fitted[] = [];
  // Each grid point starts where the last ended, with its curvature.
  let warm: Float64Array = start;
  let pairs: CurvaturePairs | undefined;
  for (const [h, r] of points) {
    const fit = fitAt(sampleSums(d, samples, h, r), samples.y, cTrain, T, warm, 1e-7, pairs);
    grid.push({ halfLifeDays: h, badFactor: r, objective: fit.f });
    fits.push(fit);
    warm = fit.p;
    pairs = fit.pairs;
    progress(`fitting h = ${formatDays(h)}, r = ${r}`);
  }
  const refIndex = points.findIndex(([h, r]) => h === refDays && r === refR);
  let best = refIndex;
  grid.forEach((g, i) => {
    if (g.objective < (grid[best] as GridPoint).objective) best = i;
  });
  let chosen = refIndex;
  let note: string;
  if (!spansTime) {
    note = `all experiences are simultaneous with their outcomes: h and r are not identifiable, kept at the defaults (h = ${formatDays(refDays)}, r = ${refR})`;
  } else if ((grid[refIndex] as GridPoint).objective - (grid[best] as GridPoint).objective > TIME_FIT_THRESHOLD) {
    chosen = best;
    const g = grid[best] as GridPoint;
    const edges = [
      g.halfLifeDays === gridH[0] ? 'h is the shortest on the grid: the best may be shorter' : '',
      g.halfLifeDays === gridH[gridH.length - 1] ? 'h is the longest on the grid: the best may be longer' : '',
      g.badFactor === gridR[gridR.length - 1] ? 'r is the largest on the grid: the best may be larger' : '',
    ].filter(Boolean);
    note = `fitted on the grid: h = ${formatDays(g.halfLifeDays)}, r = ${g.badFactor} (its training log loss, ridge included, is ${((grid[refIndex] as GridPoint).objective - g.objective).toFixed(1)} below that at the defaults h = ${formatDays(refDays)}, r = ${refR})` +
      (edges.length ? `; ${edges.join('; ')}` : '');
  } else {
    note = `no (h, r) on the grid fits the training outcomes clearly better than the defaults (none has a training log loss, ridge included, more than ${TIME_FIT_THRESHOLD.toFixed(2)} below theirs): kept h = ${formatDays(refDays)}, r = ${refR}`;
  }
  const [hDays, rFactor] = points[chosen] as readonly [number, number];
  const sums = sampleSums(d, samples, hDays, rFactor);
  const fit = fitAt(sums, samples.y, cTrain, T, (fits[chosen] as Fitted).p, 1e-12, (fits[chosen] as Fitted).pairs);
  const model = unpack(fit.p, T);
  const W = normalizeWeights(model.W, nTrain);

  // Bootstrap: refit at the chosen (h, r) on resamples of the training customers.
  const trainCustomers: number[] = [];
  for (let c = 0; c < d.customers.length; c++) if (inTrain[c] && lastEnd[c] !== -1) trainCustomers.push(c);
  const random = seededRandom(derivedSeed(o.seed, 'bootstrap'));
  const bootW: number[][] = Array.from({ length: T }, () => []);
  const bootB: number[] = [];
  for (let k = 0; k < bootstrap; k++) {
    const mult = new Float64Array(d.customers.length);
    for (let j = 0; j < trainCustomers.length; j++) {
      const c = trainCustomers[Math.floor(random() * trainCustomers.length)] as number;
      mult[c] = (mult[c] as number) + 1;
    }
    const cb = Float64Array.from(samples.customer, (c) => mult[c] as number);
    // From the full fit and its curvature: a resample's optimum is near, and its Hessian alike.
    const refit = unpack(fitAt(sums, samples.y, cb, T, fit.p, 1e-8, fit.pairs).p, T);
    const Wb = normalizeWeights(refit.W, trainExperiences((c) => mult[c] as number));
    for (let t = 0; t < T; t++) (bootW[t] as number[]).push(Wb[t] as number);
    bootB.push(refit.B);
    progress('bootstrap');
  }

  // Held-out comparison.
  const w = entryWeights(W, model.B);
  let trainMean = 0;
  const calibrated = scoresOf(sums, w, Number.NaN);
  for (let i = 0; i < samples.n; i++) if (cTrain[i]) trainMean += calibrated[i] as number;
  trainMean /= trainGood + trainBad;
  const heldSamples: number[] = [];
  for (let i = 0; i < samples.n; i++) if (held(i)) heldSamples.push(i);
  const plainAb = fitLogistic(refScores.plain, samples.y, cTrain);
  const memAb = fitLogistic(refScores.memory, samples.y, cTrain);
  const fullAuc = auc(calibrated, samples.y, held);
  const heldCustomers = new Set(heldSamples.map((i) => samples.customer[i] as number)).size;
  const heldout: HeldOut = {
    customers: heldCustomers,
    samples: heldSamples.length,
    goodRate: heldGood / heldSamples.length,
    models: [
      { model: 'plain_mean', auc: auc(refScores.plain, samples.y, held), logLoss: logLoss(refScores.plain, samples.y, plainAb.a, plainAb.b, held) },
      { model: 'default_memory', auc: auc(refScores.memory, samples.y, held), logLoss: logLoss(refScores.memory, samples.y, memAb.a, memAb.b, held) },
      { model: 'calibrated_memory', auc: fullAuc, logLoss: logLoss(calibrated, samples.y, model.a, model.b, held) },
    ],
  };

  // Per touchpoint: visits, bad share per visit (as touchpoint health counts it), and what a non-bad visit is worth.
  const badShare = Float64Array.from({ length: T }, (_, t) => ((d.visits[t] as number) > 0 ? (badCount[t] as number) / (d.visits[t] as number) : 0));

  const keyDrivers: KeyDriver[] = d.touchpoints.map((tp, t) => {
    const without = Float64Array.from(W);
    without[t] = 0;
    const s = scoresOf(sums, entryWeights(without, model.B), trainMean);
    const aucWithout = auc(s, samples.y, held);
    progress(`leaving out ${tp.touchpoint}`);
    return {
      touchpoint: tp.touchpoint,
      leg: tp.leg,
      department: tp.department,
      weight: W[t] as number,
      low: bootstrap > 0 ? quantile(bootW[t] as number[], 0.025) : Number.NaN,
      high: bootstrap > 0 ? quantile(bootW[t] as number[], 0.975) : Number.NaN,
      aucWithout,
      aucFall: fullAuc - aucWithout,
      experiences: experiences[t] as number,
      badShare: badShare[t] as number,
    };
  });
  keyDrivers.sort((a, b) => b.weight - a.weight || (a.touchpoint < b.touchpoint ? -1 : 1));

  const whereToStart = startingPoints(d, samples, sums, heldSamples, { W, B: model.B, a: model.a, b: model.b }, { badShare, badCount, experiences, nonBadX, fallback: trainMean }, bootstrap, derivedSeed(o.seed, 'where-to-start'), progress);

  return {
    parameters: {
      touchpointWeights: Object.fromEntries(d.touchpoints.map((tp, t) => [tp.touchpoint, W[t] as number])),
      badWeight: model.B,
      halfLifeDays: hDays,
      badFactor: rFactor,
    },
    badWeightLow: bootstrap > 0 ? quantile(bootB, 0.025) : Number.NaN,
    badWeightHigh: bootstrap > 0 ? quantile(bootB, 0.975) : Number.NaN,
    timeScales: { fitted: chosen !== refIndex, note, grid },
    logistic: { a: model.a, b: model.b },
    training: { customers: trainCustomers.length, samples: trainGood + trainBad, good: trainGood, bad: trainBad },
    heldout,
    keyDrivers,
    whereToStart,
    withoutExperiences: samples.withoutExperiences,
    experiences: used,
    customers: new Set(Array.from(samples.customer)).size,
    windowFrom: Number.isFinite(windowFrom) ? windowFrom : 0,
    windowTo: Number.isFinite(windowTo) ? windowTo : 0,
  };
}

/**
 * "Where do we start": for each touchpoint whose bad share (per visit) is above the
 * median touchpoint's, the held-out mean rise of P(good) if the excess share of its bad
 * experiences had been ordinary visits of it instead: each such experience becomes, in
 * expectation, the touchpoint's average non-bad experience with the chance that a
 * non-bad visit there is an experience at all (rated), and traffic otherwise. The
 * interval resamples the held-out customers.
 */
function startingPoints(
  d: CalibrationData,
  samples: Samples,
  sums: SampleSums,
  heldSamples: number[],
  m: { W: Float64Array; B: number; a: number; b: number },
  stats: { badShare: Float64Array; badCount: Float64Array; experiences: Float64Array; nonBadX: Float64Array; fallback: number },
  bootstrap: number,
  seed: number,
  progress: (stage: string) => void,
): StartingPoint[] {
  const T = d.touchpoints.length;
  const present = Array.from({ length: T }, (_, t) => t).filter((t) => (d.visits[t] as number) > 0);
  const median = quantile(present.map((t) => stats.badShare[t] as number), 0.5);
  // Held-out customers, and each held-out sample's place among them.
  const customerIndex = new Map<number, number>();
  for (const i of heldSamples) {
    const c = samples.customer[i] as number;
    if (!customerIndex.has(c)) customerIndex.set(c, customerIndex.size);
  }
  const rows = d.touchpoints.map((tp, t) => {
    const share = stats.badShare[t] as number;
    let rise = 0;
    let low = 0;
    let high = 0;
    if ((d.visits[t] as number) > 0 && share > median) {
      const f = (share - median) / share;
      const nonBad = (stats.experiences[t] as number) - (stats.badCount[t] as number);
      const nonBadVisits = (d.visits[t] as number) - (stats.badCount[t] as number);
      const rated = nonBadVisits > 0 ? nonBad / nonBadVisits : 0;
      const meanX = nonBad > 0 ? (stats.nonBadX[t] as number) / nonBad : 0;
      const wt = m.W[t] as number;
      const perCustomer = new Float64Array(customerIndex.size);
      const count = new Float64Array(customerIndex.size);
      let sum = 0;
      for (const i of heldSamples) {
        let num = 0;
        let den = 0;
        let num2 = 0;
        let den2 = 0;
        for (let j = sums.start[i] as number; j < (sums.start[i + 1] as number); j++) {
          const tj = sums.tp[j] as number;
          const bad = sums.bad[j] === 1;
          const wj = (m.W[tj] as number) * (bad ? m.B : 1);
          const sx = sums.sx[j] as number;
          const sd = sums.sd[j] as number;
          num += wj * sx;
          den += wj * sd;
          if (bad && tj === t) {
            num2 += (1 - f) * wj * sx + f * rated * wt * meanX * (sums.sdAsGood[j] as number);
            den2 += (1 - f) * wj * sd + f * rated * wt * (sums.sdAsGood[j] as number);
          } else {
            num2 += wj * sx;
            den2 += wj * sd;
          }
        }
        const before = sigmoid(m.a + m.b * (den > 0 ? num / den : stats.fallback));
        const after = sigmoid(m.a + m.b * (den2 > 0 ? num2 / den2 : stats.fallback));
        const k = customerIndex.get(samples.customer[i] as number) as number;
        perCustomer[k] = (perCustomer[k] as number) + (after - before);
        count[k] = (count[k] as number) + 1;
        sum += after - before;
      }
      rise = sum / heldSamples.length;
      if (bootstrap > 0) {
        const random = seededRandom(seed + t);
        const means: number[] = [];
        for (let k = 0; k < bootstrap; k++) {
          let s = 0;
          let n = 0;
          for (let j = 0; j < perCustomer.length; j++) {
            const c = Math.floor(random() * perCustomer.length);
            s += perCustomer[c] as number;
            n += count[c] as number;
          }
          means.push(s / n);
        }
        low = quantile(means, 0.025);
        high = quantile(means, 0.975);
      } else {
        low = high = Number.NaN;
      }
    }
    progress(`where to start: ${tp.touchpoint}`);
    return { touchpoint: tp.touchpoint, leg: tp.leg, department: tp.department, badShare: share, medianBadShare: median, rise, low, high };
  });
  rows.sort((a, b) => b.rise - a.rise || (a.touchpoint < b.touchpoint ? -1 : 1));
  return rows.map((r, i) => ({ rank: i + 1, ...r }));
}

/** A 32-bit seed for one use of the run's seed (bootstrap, intervals), so the streams differ. */
function derivedSeed(seed: number, use: string): number {
  return createHash('sha256').update(`${seed}:${use}`).digest().readUInt32BE(0);
}

/** 15 min, 3 h, 30 d: half-lives as people read them. */
export function formatDays(days: number): string {
  if (days < 1 / 24) return `${+(days * 1440).toFixed(1)} min`;
  return days < 1 ? `${+(days * 24).toFixed(2)} h` : `${+days.toFixed(2)} d`;
}
