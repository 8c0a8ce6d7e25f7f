/**
 * Outcome calibration (docs/metrics.md, "Outcome calibration and key drivers"), in
 * process: the AUC and log loss on hand-worked cases, the model's sums against the live
 * memory fold, its analytic gradient against finite differences, the optimizer, the fit
 * recovering known weights from samples drawn from the model itself (seeded, logged),
 * normalization, determinism, and the outcome rules' errors.
 */
import { describe, expect, it } from 'vitest';
import { CalibrationDataBuilder, type CalibrationData, type ExperienceRow } from '../../processors/calibration/calibrationData.ts';
import { calibrate, CalibrationDataError, normalizeWeights, quantile, referenceScores, splitShare } from '../../processors/calibration/calibrate.ts';
import { minimizeLbfgs } from '../../processors/calibration/lbfgs.ts';
import { entryWeights, objective, sampleSums, samplesOf, scoresOf } from '../../processors/calibration/memoryModel.ts';
import { labelOf, outcomeLabels, OutcomeRuleError, parseOutcomeRule } from '../../processors/calibration/outcomeRules.ts';
import { auc, fitLogistic, logLoss, sigmoid } from '../../processors/calibration/outcomeScoring.ts';
import { experienceMemory, memoryAt, type MemoryState } from '../../processors/folds/experienceMemory.ts';
import { DAY_MS, DEFAULT_PARAMS, withCalibration } from '../../processors/params.ts';
import type { ExperienceTouch } from '../../processors/touch.ts';
import { seededRandom } from '../../producers/random.ts';

const seed = Number(process.env.CX_TEST_SEED ?? Date.now() % 1_000_000);
process.stderr.write(`calibration.test: seed ${seed} (CX_TEST_SEED=${seed} repeats this run)\n`);
const T0 = Date.UTC(2026, 0, 5, 9);

describe('AUC and log loss', () => {
  it('counts the good × bad pairs a score orders right, ties one half', () => {
    // Good: 0.35 and 0.8; bad: 0.1 and 0.4. Pairs: 0.35 > 0.1 (1), 0.35 < 0.4 (0), 0.8 > both (2): 3 of 4.
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
    // Good 0.5 and 0.9, bad 0.5 and 0.5: 0.5 ties both bad ones (1/2 + 1/2), 0.9 beats both (2): 3 of 4.
    expect(auc([0.5, 0.5, 0.5, 0.9], [1, 0, 0, 1])).toBe(0.75);
    // Everything tied: every pair counts one half.
    expect(auc([0.3, 0.3, 0.3], [1, 0, 1])).toBe(0.5);
    expect(auc([0.9, 0.1, 0.8, 0.2], [1, 0, 1, 0])).toBe(1);
    expect(auc([0.9, 0.1, 0.8, 0.2], [0, 1, 0, 1])).toBe(0);
    // Only the picked samples: without the last one, good 0.35 against bad 0.1 and 0.4: 1 of 2.
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], (i) => i < 3)).toBe(0.5);
    expect(auc([0.2, 0.4], [1, 1])).toBeNaN();
  });

  it('is the mean of -log P(label) with P(good) = σ(a + b·score)', () => {
    // a = b = 0: P = 1/2 for every sample, log loss ln 2 = 0.693147.
    expect(logLoss([0, 1], [0, 1], 0, 0)).toBeCloseTo(Math.log(2), 12);
    // a = -1, b = 2: z = -1 for the bad sample (-ln(1 - σ(-1)) = ln(1 + e^-1) = 0.313262),
    // z = +1 for the good one (-ln σ(1) = ln(1 + e^-1)): mean 0.313262.
    expect(logLoss([0, 1], [0, 1], -1, 2)).toBeCloseTo(Math.log1p(Math.exp(-1)), 12);
    expect(logLoss([0, 1], [0, 1], -1, 2)).toBeCloseTo(0.313262, 6);
  });

  it('fits (a, b) where the log loss is flat: Σ(p - y) = 0 and Σ(p - y)·score = 0', () => {
    const random = seededRandom(seed);
    const scores = Array.from({ length: 4000 }, () => random());
    const labels = scores.map((s) => (random() < sigmoid(-2 + 4 * s) ? 1 : 0));
    const { a, b } = fitLogistic(scores, labels);
    let g0 = 0;
    let g1 = 0;
    scores.forEach((s, i) => {
      const r = sigmoid(a + b * s) - (labels[i] as number);
      g0 += r;
      g1 += r * s;
    });
    expect(Math.abs(g0)).toBeLessThan(1e-6);
    expect(Math.abs(g1)).toBeLessThan(1e-6);
    // Drawn from a = -2, b = 4: with 4,000 samples the estimates' sd is about 0.1 and 0.2.
    expect(Math.abs(a + 2)).toBeLessThan(0.5);
    expect(Math.abs(b - 4)).toBeLessThan(1);
  });
});

describe('the optimizer', () => {
  it('finds the minimum of the Rosenbrock valley, (1, 1), the same way every time', () => {
    const f = (x: Float64Array, g: Float64Array) => {
      const [u = 0, v = 0] = x;
      g[0] = -2 * (1 - u) - 400 * u * (v - u * u);
      g[1] = 200 * (v - u * u);
      return (1 - u) ** 2 + 100 * (v - u * u) ** 2;
    };
    const r = minimizeLbfgs(f, [-1.2, 1]);
    expect(r.converged).toBe(true);
    expect(r.x[0]).toBeCloseTo(1, 5);
    expect(r.x[1]).toBeCloseTo(1, 5);
    expect(minimizeLbfgs(f, [-1.2, 1])).toEqual(r);
  });
});

/** A customer's experiences as the live fold sees them. */
function touches(rows: ExperienceRow[]): ExperienceTouch[] {
  return rows.map((r, i) => ({
    event_id: `e${i}`, t: r.t, customer_id: 'c', journey_id: 'j', channel: 'WEB', touchpoint: r.touchpoint, leg: r.leg as ExperienceTouch['leg'], stage: 'PURCHASE',
    department: r.department, mot: r.mot, x: r.x, cls: r.bad ? 'bad' : r.x >= 0.75 ? 'good' : 'neutral',
  }));
}

const row = (t: number, touchpoint: string, x: number, bad: boolean, mot = false): ExperienceRow => ({ t, touchpoint, leg: 'OPERATIONS', department: `${touchpoint} team`, x, bad, mot });

describe('the model is the live memory', () => {
  // Three touchpoints over 20 days; the outcome 2 days after the last experience.
  const history = [
    row(T0, 'checkout', 0.75, false, true),
    row(T0 + 3 * DAY_MS, 'support_call', 0, true),
    row(T0 + 3 * DAY_MS, 'delivery', 1, false),
    row(T0 + 11 * DAY_MS, 'checkout', 0.25, true, true),
    row(T0 + 20 * DAY_MS, 'delivery', 0.5, false),
  ];
  const T = T0 + 22 * DAY_MS;
  const data = () => {
    const b = new CalibrationDataBuilder();
    b.addCustomer('c', history, [{ t: T, good: true }]);
    return b.build();
  };

  it('scores a sample as the fold with the same calibration remembers it at the outcome', () => {
    const d = data();
    const weights = { checkout: 2.5, support_call: 0.7, delivery: 1.3 };
    const calibration = { id: 'cal-test', touchpointWeights: weights, badWeight: 1.8, halfLifeDays: 4, badFactor: 3 };
    const p = withCalibration(DEFAULT_PARAMS, calibration);
    let state: MemoryState | undefined;
    for (const e of touches(history)) state = experienceMemory(state, e, p).state;
    const live = memoryAt(state as MemoryState, T, p) as number;

    const sums = sampleSums(d, samplesOf(d), 4, 3);
    const W = d.touchpoints.map((tp) => weights[tp.touchpoint as keyof typeof weights]);
    const [score] = scoresOf(sums, entryWeights(W, 1.8), Number.NaN);
    expect(score).toBeCloseTo(live, 12);
    // And by the definition, term by term: w_k x_k d_k / w_k d_k with h_k = 4 d (non-bad), 12 d (bad).
    const terms = history.map((e) => {
      const w = weights[e.touchpoint as keyof typeof weights] * (e.bad ? 1.8 : 1);
      const d = 2 ** (-(T - e.t) / ((e.bad ? 12 : 4) * DAY_MS));
      return [w * e.x * d, w * d];
    });
    expect(score).toBeCloseTo(terms.reduce((s, [n]) => s + (n as number), 0) / terms.reduce((s, [, w]) => s + (w as number), 0), 12);
  });

  it('gives the default memory as the fold without a calibration does (m at a moment of truth, h 30 d, r 7)', () => {
    const d = data();
    let state: MemoryState | undefined;
    for (const e of touches(history)) state = experienceMemory(state, e, DEFAULT_PARAMS).state;
    const { memory, plain } = referenceScores(d, samplesOf(d), DEFAULT_PARAMS);
    expect(memory[0]).toBeCloseTo(memoryAt(state as MemoryState, T, DEFAULT_PARAMS) as number, 12);
    // Plain mean of the five x: (0.75 + 0 + 1 + 0.25 + 0.5) / 5 = 0.5.
    expect(plain[0]).toBeCloseTo(0.5, 12);
  });

  it('keeps a long history from underflowing: a year-old experience beside today\'s', () => {
    const b = new CalibrationDataBuilder();
    b.addCustomer('c', [row(T0, 'checkout', 1, false), row(T0 + 365 * DAY_MS, 'delivery', 0.5, false)], [{ t: T0 + 365 * DAY_MS, good: true }]);
    const d = b.build();
    // h = 15 min: the old one's decay 2^(-35,040) underflows to 0 on its own; the score is today's x.
    const [score] = scoresOf(sampleSums(d, samplesOf(d), 1 / 96, 1), entryWeights([1, 1], 1), Number.NaN);
    expect(score).toBe(0.5);
  });

  it('has the gradient its finite differences say', () => {
    const random = seededRandom(seed + 1);
    const b = new CalibrationDataBuilder();
    for (let c = 0; c < 40; c++) {
      const rows = Array.from({ length: 1 + Math.floor(random() * 6) }, () => {
        const bad = random() < 0.3;
        return row(T0 + random() * 10 * DAY_MS, ['a', 'b', 'c'][Math.floor(random() * 3)] as string, bad ? random() * 0.25 : 0.5 + random() * 0.5, bad);
      });
      b.addCustomer(`c${c}`, rows, [{ t: T0 + 11 * DAY_MS, good: random() < 0.5 }]);
    }
    const d = b.build();
    const s = samplesOf(d);
    const f = objective(sampleSums(d, s, 2, 3), s.y, new Float64Array(s.n).fill(1), d.touchpoints.length);
    const p = Float64Array.from([0.3, -0.2, 0.1, 0.4, -1, 3]);
    const g = new Float64Array(p.length);
    f(p, g);
    for (let k = 0; k < p.length; k++) {
      const eps = 1e-6;
      const up = Float64Array.from(p);
      const down = Float64Array.from(p);
      up[k] = (up[k] as number) + eps;
      down[k] = (down[k] as number) - eps;
      const numeric = (f(up, new Float64Array(p.length)) - f(down, new Float64Array(p.length))) / (2 * eps);
      expect(g[k]).toBeCloseTo(numeric, 5);
    }
  });
});

describe('normalization', () => {
  it('scales the weights so their mean over training experiences is 1, which leaves every score as it was', () => {
    // Raw weights 2 and 4 over 3 and 1 experiences: mean (2·3 + 4·1) / 4 = 2.5, so 0.8 and 1.6.
    const w = normalizeWeights([2, 4], [3, 1]);
    expect(Array.from(w)).toEqual([0.8, 1.6]);
    expect(((w[0] as number) * 3 + (w[1] as number) * 1) / 4).toBeCloseTo(1, 12);
    const b = new CalibrationDataBuilder();
    b.addCustomer('c', [row(T0, 'a', 0.2, true), row(T0 + DAY_MS, 'b', 0.9, false)], [{ t: T0 + 2 * DAY_MS, good: true }]);
    const d = b.build();
    const sums = sampleSums(d, samplesOf(d), 3, 2);
    expect(scoresOf(sums, entryWeights([2, 4], 1.5), 0)[0]).toBeCloseTo(scoresOf(sums, entryWeights(w, 1.5), 0)[0] as number, 12);
  });
});

/**
 * Customers drawn from the model itself: 5 touchpoints with weights 3, 1, 1, 0.5 and 2,
 * bad weight 2, h = 1 d, r = 4 (on the grid), P(good) = σ(-6 + 12·score). Each customer
 * has 3 to 10 experiences over 10 days at uniformly chosen touchpoints (bad with
 * chance 0.25, x in [0, 0.25]; else x in [0.4, 1]) and one outcome up to a day after.
 */
const TRUTH = { W: [3, 1, 1, 0.5, 2], B: 2, h: 1, r: 4, a: -6, b: 12 };
function drawnFromTheModel(s: number, customers: number): CalibrationData {
  const random = seededRandom(s);
  const b = new CalibrationDataBuilder();
  for (let c = 0; c < customers; c++) {
    const n = 3 + Math.floor(random() * 8);
    const rows = Array.from({ length: n }, () => {
      const tp = Math.floor(random() * 5);
      const bad = random() < 0.25;
      return { ...row(T0 + random() * 10 * DAY_MS, `tp${tp}`, bad ? random() * 0.25 : 0.4 + random() * 0.6, bad), leg: `leg${tp % 3}`, department: `dept${tp}` };
    }).sort((x, y) => x.t - y.t);
    const t = (rows[rows.length - 1] as ExperienceRow).t + random() * DAY_MS;
    let num = 0;
    let den = 0;
    for (const e of rows) {
      const w = (TRUTH.W[Number(e.touchpoint.slice(2))] as number) * (e.bad ? TRUTH.B : 1);
      const d = 2 ** (-(t - e.t) / ((e.bad ? TRUTH.r * TRUTH.h : TRUTH.h) * DAY_MS));
      num += w * e.x * d;
      den += w * d;
    }
    b.addCustomer(`cust-${c}`, rows, [{ t, good: random() < sigmoid(TRUTH.a + TRUTH.b * (num / den)) }]);
  }
  return b.build();
}

describe('the fit', () => {
  it('recovers the weights, the bad weight, h and r of samples drawn from the model', () => {
    const d = drawnFromTheModel(seed, 10_000);
    const fit = calibrate(d, { seed, trainShare: 0.5, bootstrap: 0, reference: DEFAULT_PARAMS });
    // On the grid: h = 1 d and r = 4 are the truth's own.
    expect(fit.parameters.halfLifeDays).toBe(TRUTH.h);
    expect(fit.parameters.badFactor).toBe(TRUTH.r);
    expect(fit.timeScales.fitted).toBe(true);
    // The weights are known up to a common factor: compare each with the weights' geometric mean.
    const names = ['tp0', 'tp1', 'tp2', 'tp3', 'tp4'];
    const est = names.map((n) => fit.parameters.touchpointWeights[n] as number);
    const gm = (w: number[]) => Math.exp(w.reduce((s, v) => s + Math.log(v), 0) / w.length);
    const relEst = est.map((w) => w / gm(est));
    const relTrue = TRUTH.W.map((w) => w / gm(TRUTH.W));
    process.stderr.write(`calibration.test: weights ${relEst.map((w) => w.toFixed(3)).join(' ')} (truth ${relTrue.map((w) => w.toFixed(3)).join(' ')}), B ${fit.parameters.badWeight.toFixed(3)} (truth 2)\n`);
    // About 5,000 training samples. Over 30 seeds at 3,000 training samples the sd of these
    // log errors was 0.05 to 0.11 (the rarest influence, tp3 at 0.5, the widest) and of log B
    // about 0.06; at 5,000 that is at most 0.086, so 0.35 (a factor of 1.42) is over 4 sd.
    relEst.forEach((w, i) => expect(Math.abs(Math.log(w / (relTrue[i] as number))), names[i]).toBeLessThan(0.35));
    expect(Math.abs(Math.log(fit.parameters.badWeight / TRUTH.B))).toBeLessThan(0.25);
    // The order the truth has: tp0 (3) > tp4 (2) > tp1, tp2 (1) > tp3 (0.5).
    expect(fit.keyDrivers.map((k) => k.touchpoint)[0]).toBe('tp0');
    expect(fit.keyDrivers.map((k) => k.touchpoint)[1]).toBe('tp4');
    expect(fit.keyDrivers.map((k) => k.touchpoint)[4]).toBe('tp3');
    // The calibrated memory is the model that drew the labels: it predicts best.
    const [plain, memory, calibrated] = fit.heldout.models.map((m) => m.auc) as [number, number, number];
    expect(calibrated).toBeGreaterThan(memory);
    expect(calibrated).toBeGreaterThan(plain);
  });

  it('gives the same calibration for the same data and seed, and another split for another seed', () => {
    const d = drawnFromTheModel(seed + 2, 1500);
    const o = { seed: 7, trainShare: 0.5, bootstrap: 5, reference: DEFAULT_PARAMS };
    const a = calibrate(d, o);
    expect(calibrate(d, o)).toEqual(a);
    // The interval is the bootstrap's 2.5 % and 97.5 % quantiles: finite and ordered. It need not hold the point
    // estimate (with 5 resamples it sometimes does not, e.g. CX_TEST_SEED=283614), so that is not asserted.
    expect(Number.isFinite(a.badWeightLow) && Number.isFinite(a.badWeightHigh) && a.badWeightLow <= a.badWeightHigh).toBe(true);
    const other = calibrate(d, { ...o, seed: 8 });
    expect(other.training.customers).not.toBe(a.training.customers);
    // The split hashes seed and customer: it does not depend on the data's order.
    expect(splitShare(7, 'cust-1')).toBe(splitShare(7, 'cust-1'));
    expect(splitShare(7, 'cust-1')).not.toBe(splitShare(8, 'cust-1'));
  });

  it('does not depend on the order customers were read in (the store reads them in pages)', () => {
    const d = drawnFromTheModel(seed + 6, 800);
    const customers = d.customers.map((id, c) => {
      const rows: ExperienceRow[] = [];
      for (let e = d.expStart[c] as number; e < (d.expStart[c + 1] as number); e++) {
        const tp = d.touchpoints[d.expTp[e] as number] as { touchpoint: string; leg: string; department: string };
        rows.push({ t: d.expT[e] as number, touchpoint: tp.touchpoint, leg: tp.leg, department: tp.department, x: d.expX[e] as number, bad: d.expBad[e] === 1, mot: false });
      }
      return { id, rows, outcomes: [{ t: d.outT[c] as number, good: d.outGood[c] === 1 }] };
    });
    const build = (list: typeof customers) => {
      const b = new CalibrationDataBuilder();
      for (const c of list) b.addCustomer(c.id, c.rows, c.outcomes);
      return b.build();
    };
    // Reversed: customers and the touchpoints' first appearance both come in another order.
    const forward = build(customers);
    const backward = build([...customers].reverse());
    expect(backward).toEqual(forward);
    const o = { seed, trainShare: 0.5, bootstrap: 3, reference: DEFAULT_PARAMS };
    expect(calibrate(backward, o)).toEqual(calibrate(forward, o));
  });

  it('keeps h and r at the defaults, and says why, when every experience is simultaneous with its outcome', () => {
    // A survey: each respondent's answers and their overall rating share one instant.
    const random = seededRandom(seed + 3);
    const b = new CalibrationDataBuilder();
    for (let c = 0; c < 600; c++) {
      const t = T0 + c * 60_000;
      const rows = ['a', 'b', 'c'].map((tp) => {
        const bad = random() < 0.3;
        return row(t, tp, bad ? 0 : 0.5 + random() * 0.5, bad);
      });
      const mean = rows.reduce((s, r) => s + r.x, 0) / 3;
      b.addCustomer(`r${c}`, rows, [{ t, good: random() < sigmoid(-4 + 8 * mean) }]);
    }
    const fit = calibrate(b.build(), { seed, trainShare: 0.5, bootstrap: 0, reference: DEFAULT_PARAMS });
    expect(fit.timeScales.fitted).toBe(false);
    expect(fit.timeScales.note).toMatch(/simultaneous with their outcomes: h and r are not identifiable, kept at the defaults \(h = 30 d, r = 7\)/);
    expect(fit.timeScales.grid).toHaveLength(1);
    expect([fit.parameters.halfLifeDays, fit.parameters.badFactor]).toEqual([30, 7]);
  });

  it('ranks where to start: rise 0 at or below the median bad share, a rise above it', () => {
    const d = drawnFromTheModel(seed + 4, 2000);
    // Per touchpoint the bad share (per visit, no traffic here) is about 0.25 for all; make tp3 much worse with traffic elsewhere.
    const b = new CalibrationDataBuilder();
    for (let c = 0; c < d.customers.length; c++) {
      const rows: ExperienceRow[] = [];
      for (let e = d.expStart[c] as number; e < (d.expStart[c + 1] as number); e++) {
        const tp = d.touchpoints[d.expTp[e] as number] as { touchpoint: string; leg: string; department: string };
        rows.push({ t: d.expT[e] as number, touchpoint: tp.touchpoint, leg: tp.leg, department: tp.department, x: d.expX[e] as number, bad: d.expBad[e] === 1, mot: false });
      }
      b.addCustomer(d.customers[c] as string, rows, [{ t: d.outT[c] as number, good: d.outGood[c] === 1 }]);
    }
    // Unrated OK visits: 3 per experience at tp0..tp2 and tp4, none at tp3, so tp3's bad share per visit is far above the rest.
    for (const tp of ['tp0', 'tp1', 'tp2', 'tp4']) b.addTraffic(tp, 'leg', 'dept', 3 * d.expTp.filter((i) => d.touchpoints[i]?.touchpoint === tp).length);
    const fit = calibrate(b.build(), { seed, trainShare: 0.5, bootstrap: 20, reference: DEFAULT_PARAMS });
    const first = fit.whereToStart[0];
    expect(first?.touchpoint).toBe('tp3');
    expect(first?.rise).toBeGreaterThan(0);
    expect((first?.low as number) <= (first?.rise as number) && (first?.rise as number) <= (first?.high as number)).toBe(true);
    const median = quantile(fit.keyDrivers.map((k) => k.badShare), 0.5);
    for (const s of fit.whereToStart) {
      expect(s.medianBadShare).toBeCloseTo(median, 12);
      if (s.badShare <= median) expect([s.rise, s.low, s.high]).toEqual([0, 0, 0]);
    }
    expect(fit.whereToStart.map((s) => s.rank)).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses too few outcomes, saying how many there are', () => {
    const d = drawnFromTheModel(seed + 5, 120);
    expect(() => calibrate(d, { seed, trainShare: 0.5, bootstrap: 0, reference: DEFAULT_PARAMS })).toThrow(CalibrationDataError);
    expect(() => calibrate(d, { seed, trainShare: 0.5, bootstrap: 0, reference: DEFAULT_PARAMS })).toThrow(/too few outcomes to calibrate: training has \d+ good and \d+ bad samples .*at least 50 of each are needed/);
  });
});

describe('outcome rules', () => {
  const rated = (scale: 'CSAT_5' | 'NPS_11', value: number) => ({ kind: 'RATED' as const, rating: { scale, value } });

  it('reads kinds, comparisons of x and classes', () => {
    expect(parseOutcomeRule(' repurchased , CHURNED', '--good').text).toBe('REPURCHASED,CHURNED');
    const top = parseOutcomeRule('RATED>=0.8', '--good');
    // CSAT 5: x = 1; CSAT 4: x = (4 - 1) / 4 = 0.75 < 0.8; NPS 9: x = 0.9.
    expect([rated('CSAT_5', 5), rated('CSAT_5', 4), rated('NPS_11', 9)].map((o) => labelOf({ good: top, bad: null, describe: '', stored: '' }, o))).toEqual([1, 0, 1]);
  });

  it('defaults to the ratings\' classes when there are RATED outcomes, else to repurchase against churn and complaints', () => {
    const withRated = outcomeLabels({}, true);
    expect(withRated.stored).toBe('RATED:good vs RATED:bad,RATED:neutral');
    // CSAT: 4 and 5 good, 3 neutral, 1 and 2 bad (the same thresholds as experience classes); a churn is neither.
    expect([5, 4, 3, 2].map((v) => labelOf(withRated, rated('CSAT_5', v)))).toEqual([1, 1, 0, 0]);
    expect(labelOf(withRated, { kind: 'CHURNED', rating: null })).toBeNull();
    const without = outcomeLabels({}, false);
    expect(without.stored).toBe('REPURCHASED vs CHURNED,COMPLAINED');
    expect(['REPURCHASED', 'CHURNED', 'COMPLAINED', 'OTHER'].map((kind) => labelOf(without, { kind: kind as 'OTHER', rating: null }))).toEqual([1, 0, 0, null]);
    // One side given: the other is every outcome it does not match.
    const onlyGood = outcomeLabels({ good: 'REPURCHASED' }, false);
    expect(onlyGood.stored).toBe('REPURCHASED vs not REPURCHASED');
    expect(labelOf(onlyGood, { kind: 'OTHER', rating: null })).toBe(0);
  });

  it('fails with a message naming the option, the rule and what is expected', () => {
    expect(() => parseOutcomeRule('RATD', '--good')).toThrow(OutcomeRuleError);
    expect(() => parseOutcomeRule('RATD', '--good')).toThrow(/^--good "RATD": unknown outcome "RATD"; expected a comma-separated list of CHURNED, COMPLAINED, REPURCHASED, RATED, OTHER, RATED>=x/);
    expect(() => parseOutcomeRule('RATED>=1.5', '--good')).toThrow('--good "RATED>=1.5": "RATED>=1.5" compares with "1.5"; expected x of the rating, a number from 0 to 1 (e.g. RATED>=0.8)');
    expect(() => parseOutcomeRule('RATED>=', '--bad')).toThrow('--bad "RATED>=": "RATED>=" compares with ""; expected x of the rating');
    expect(() => parseOutcomeRule('RATED:great', '--bad')).toThrow('--bad "RATED:great": "RATED:great": unknown class "great"; expected RATED:good, RATED:impressed, RATED:neutral or RATED:bad');
    expect(() => parseOutcomeRule('CHURNED,,COMPLAINED', '--bad')).toThrow('--bad "CHURNED,,COMPLAINED": an empty term');
    expect(() => parseOutcomeRule(' ', '--bad')).toThrow('--bad "": an empty rule');
    const overlap = outcomeLabels({ good: 'RATED>=0.5', bad: 'RATED:bad,RATED:neutral' }, true);
    // CSAT 3: x = 0.5 (good by the first rule) and neutral (bad by the second).
    expect(() => labelOf(overlap, rated('CSAT_5', 3))).toThrow('an outcome (RATED rated 3 on CSAT_5) matches both --good RATED>=0.5 and --bad RATED:bad,RATED:neutral: make the rules exclusive');
  });
});
