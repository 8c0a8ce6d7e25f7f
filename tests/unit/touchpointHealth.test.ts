/**
 * The alert detectors on synthetic Bernoulli streams (fixed seeds): the touchpoint
 * CUSUM (processors/folds/touchpointHealth.ts), the leg alert (legAlert.ts) and the
 * lifecycle they share.
 */
import { describe, expect, it } from 'vitest';
import type { AlertChange } from '../../processors/folds/alertLifecycle.ts';
import { legAlert, emptyLegAlerts, LEG_MIN_EXPERIENCES, type LegMinute } from '../../processors/folds/legAlert.ts';
import { alternativeOf, cusumWeights, emptyHealth, touchpointHealth, type HealthParams, type TouchpointHealthState } from '../../processors/folds/touchpointHealth.ts';
import { seededRandom } from '../../producers/random.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 2, 0, 0);
const P: HealthParams = { threshold: 10, baselineHalfLifeMs: 24 * 3_600_000, minHistory: 100, resolveMinutes: 10, updateMinutes: 15 };

/** Minute by minute: `visits(minute)` visits, each bad with probability `rate(minute)`. */
function stream(minutes: number, visits: (m: number) => number, rate: (m: number) => number, seed: number) {
  const random = seededRandom(seed);
  return Array.from({ length: minutes }, (_, i) => {
    const minute = T0 + i * MIN;
    let events = 0;
    let bad = 0;
    // A fractional rate of visits: the whole part, plus one more with the remaining chance.
    const v = visits(minute);
    const n = Math.floor(v) + (random() < v - Math.floor(v) ? 1 : 0);
    for (let k = 0; k < n; k++) {
      events++;
      if (random() < rate(minute)) bad++;
    }
    return { minute, touchpoints: events ? [{ channel: 'WEB', touchpoint: 'checkout', leg: 'OPERATIONS', events, experiences: events, bad }] : [] };
  });
}

function run(input: ReturnType<typeof stream>, p = P, state: TouchpointHealthState = emptyHealth()) {
  const changes: AlertChange[] = [];
  const rows = [];
  for (const m of input) {
    const r = touchpointHealth(state, m, p);
    changes.push(...r.out.changes);
    rows.push(...r.out.rows);
  }
  return { state, changes, rows };
}

const opened = (cs: AlertChange[]) => cs.filter((c) => c.status === 'OPENED');

describe('touchpoint health: the CUSUM', () => {
  it('weighs a visit by its log-likelihood ratio, against p1 = max(2*p0, p0 + 0.1)', () => {
    // p0 = 0.1: p1 = max(0.2, 0.2) = 0.2. Bad: ln(0.2/0.1) = ln 2 = 0.693147; good: ln(0.8/0.9) = -0.117783.
    // The reference rate (no drift): 0.117783 / (0.693147 + 0.117783) = 0.145244.
    const w = cusumWeights(0.1, alternativeOf(0.1));
    expect(w.ifBad).toBeCloseTo(0.693147, 6);
    expect(w.ifGood).toBeCloseTo(-0.117783, 6);
    expect(w.reference).toBeCloseTo(0.145244, 6);
    // p0 = 0.05: p1 = max(0.1, 0.15) = 0.15; p0 = 0.3: max(0.6, 0.4) = 0.6; p0 = 0.6: 1.2, kept at 0.99.
    expect(alternativeOf(0.05)).toBeCloseTo(0.15, 12);
    expect([alternativeOf(0.3), alternativeOf(0.6)]).toEqual([0.6, 0.99]);
  });

  it('raises no alarm on a stationary stream (a week at 60 visits a minute, 10% bad)', () => {
    const { changes, rows } = run(stream(7 * 1440, () => 60, () => 0.1, 7));
    expect(opened(changes)).toEqual([]);
    // It learned the rate: the last baseline is within 0.02 of 0.1 (plus its small uncertainty margin).
    const last = rows[rows.length - 1];
    expect(last?.state).toBe('ok');
    expect(Math.abs((last?.baseline ?? 0) - 0.1)).toBeLessThan(0.02);
  });

  it('alarms within minutes of a step from 10% to 30% at 30 visits a minute, and dates its start', () => {
    const stepAt = T0 + 2 * 1440 * MIN;
    const input = stream(2 * 1440 + 60, () => 30, (m) => (m >= stepAt ? 0.3 : 0.1), 11);
    const { changes } = run(input);
    const o = opened(changes);
    expect(o).toHaveLength(1);
    const a = o[0] as AlertChange;
    expect(a.touchpoint).toBe('checkout');
    // Expected drift at 30%: 0.3 * 0.693 - 0.7 * 0.118 = 0.125 per visit, 3.8 a minute: h = 10 takes about 3 minutes
    // of 30 visits; the margin on the baseline slows it a little (over 25 seeds: median 4, max 6 minutes; at 50
    // visits a minute median 2, max 4). Detected at the end of a minute, so the delay is at least 1.
    expect((a.detectedAt - stepAt) / MIN).toBeGreaterThanOrEqual(1);
    expect((a.detectedAt - stepAt) / MIN).toBeLessThanOrEqual(8);
    expect(Math.abs(a.startedAt - stepAt) / MIN).toBeLessThanOrEqual(3);
    expect(a.baseline).toBeLessThan(0.13);
  });

  it('alarms on a channel outage (every visit fails) in its first minute', () => {
    const outageAt = T0 + 1440 * MIN;
    const { changes } = run(stream(1440 + 10, () => 20, (m) => (m >= outageAt ? 1 : 0.12), 3));
    const a = opened(changes)[0] as AlertChange;
    expect((a.detectedAt - outageAt) / MIN).toBe(1);
    expect(a.severity).toBe('CRITICAL');
  });

  it('copes with low traffic: no alarm in a week at a visit a minute, and a 5% -> 35% step is still found', () => {
    const quiet = run(stream(7 * 1440, () => 1, () => 0.05, 5));
    expect(opened(quiet.changes)).toEqual([]);
    const stepAt = T0 + 2 * 1440 * MIN;
    const { changes } = run(stream(2 * 1440 + 240, () => 1, (m) => (m >= stepAt ? 0.35 : 0.05), 5));
    const a = opened(changes)[0] as AlertChange;
    expect(a).toBeDefined();
    // Each visit adds about 0.35 * ln 3 - 0.65 * 0.11 = 0.31 on average: some 30 visits, so about half an hour.
    expect((a.detectedAt - stepAt) / MIN).toBeLessThanOrEqual(120);
  });

  it('learns a daily rhythm in the bad rate (6% at night, 10% by day) from its calm minutes', () => {
    const hour = (m: number) => (m % 86_400_000) / 3_600_000;
    const rate = (m: number) => (hour(m) >= 8 && hour(m) < 20 ? 0.1 : 0.06);
    const { changes, rows } = run(stream(7 * 1440, () => 40, rate, 9));
    expect(opened(changes).filter((c) => c.detectedAt > T0 + 1440 * MIN)).toEqual([]);
    // On day 6 the baseline at noon sits above the one at 3 am: the hour of day was learned.
    const at = (h: number) => rows.find((r) => r.minute === T0 + (5 * 24 + h) * 3_600_000)?.baseline as number;
    expect(at(12) - at(3)).toBeGreaterThan(0.025);
  });

  it('does not learn from an alert: after a two-hour step and its resolution the baseline is where it was', () => {
    const stepAt = T0 + 2 * 1440 * MIN;
    const stepEnd = stepAt + 120 * MIN;
    const { rows, changes } = run(stream(2 * 1440 + 240, () => 40, (m) => (m >= stepAt && m < stepEnd ? 0.4 : 0.1), 13));
    const before = rows.find((r) => r.minute === stepAt - MIN)?.baseline as number;
    const after = rows.find((r) => r.minute === stepEnd + 60 * MIN)?.baseline as number;
    expect(Math.abs(after - before)).toBeLessThan(0.01);
    expect(changes.filter((c) => c.status === 'RESOLVED')).toHaveLength(1);
  });
});

describe('alert lifecycle', () => {
  const stepAt = T0 + 1440 * MIN;
  const stepEnd = stepAt + 40 * MIN;
  const input = stream(1440 + 90, () => 50, (m) => (m >= stepAt && m < stepEnd ? 0.35 : 0.1), 21);

  it('opens, updates while it lasts, and resolves once the rate is back for the resolve time, under one id', () => {
    const { changes, rows } = run(input);
    // A 40-minute step at 35% against about 10%: opened in the first minute (CRITICAL: 0.35 >= max(3 * 0.1, 0.1 + 0.25)),
    // re-published every 15 minutes of event time while open (16, 31, 46 min after the step), then resolved.
    expect(changes.map((c) => c.status)).toEqual(['OPENED', 'UPDATED', 'UPDATED', 'UPDATED', 'RESOLVED']);
    expect(new Set(changes.map((c) => c.alertId)).size).toBe(1);
    expect(changes.map((c) => c.version)).toEqual([1, 2, 3, 4, 5]);
    const o = changes[0] as AlertChange;
    const r = changes[changes.length - 1] as AlertChange;
    expect(changes.slice(1, -1).map((c, i) => (c.changedAt - (changes[i] as AlertChange).changedAt) / MIN)).toEqual([15, 15, 15]);
    // Resolved when the last 10 minutes pool back under the reference rate: within 5 to 20 minutes of the step's end.
    expect((r.resolvedAt as number) - stepEnd).toBeGreaterThanOrEqual(5 * MIN);
    expect((r.resolvedAt as number) - stepEnd).toBeLessThanOrEqual(20 * MIN);
    expect(r.current).toBeLessThan(cusumWeights(r.baseline, alternativeOf(r.baseline)).reference);
    // Health rows: degraded exactly while the alert was open, one row per minute.
    const degraded = rows.filter((x) => x.state === 'degraded');
    expect(degraded.length).toBe(((r.resolvedAt as number) - o.detectedAt) / MIN);
    expect(degraded.every((x) => x.alertId === o.alertId)).toBe(true);
  });

  it('is idempotent under replay and restore: same input, same ids and versions; a checkpoint mid-alert changes nothing', () => {
    const whole = run(input).changes;
    expect(run(input).changes).toEqual(whole);
    const cut = input.findIndex((m) => m.minute === stepAt + 20 * MIN);
    const first = run(input.slice(0, cut));
    const restored = JSON.parse(JSON.stringify(first.state)) as TouchpointHealthState;
    const second = run(input.slice(cut), P, restored);
    expect([...first.changes, ...second.changes]).toEqual(whole);
  });
});

describe('leg alert', () => {
  const p = { stoolThreshold: 0.6, threshold: 10, halfLifeMs: 24 * 60 * MIN, resolveMinutes: 3, updateMinutes: 15 };
  /** A minute of n experiences all of value x, and the live window's score. */
  const leg = (x: number, n: number, score: number | null = x, windowExperiences = 15 * n): LegMinute =>
    ({ leg: 'OPERATIONS', score, windowExperiences, events: n + 5, experiences: n, bad: 0, sumX: n * x, sumX2: n * x * x });

  it('opens when the CUSUM of the experiences reaches h, dated from where it left 0; resolves after resolveMinutes windows at or above E', () => {
    // Minute 0: 40 experiences at 0.7: the step is negative, S stays 0; σ² learns 40 values without spread.
    // Minute 1: 40 at 0.3. σ² = (0·40 + 0.16·200) / (40 + 200) = 0.1333 (prior 0.16 worth 200):
    //   step = (δ/σ²)(n(E - δ/2) - Σx) = (0.1/0.1333)(40·0.55 - 12) = 7.5.
    // Minute 2: 40 at 0.3. Learned: 80 values, mean 0.5, mean square 0.29, so v = 0.04;
    //   σ² = (0.04·80 + 32) / 280 = 0.1257, step = (0.1/0.1257)·10 = 7.955, S = 15.455 >= 10 (decay over
    //   a minute, 2^(-1/1440), moves the third decimal): opened at the end of minute 2, started at minute 1.
    // 0.3 < 0.6 - 0.1: CRITICAL. Then windows 0.7, 0.65, 0.61 (three at or above E): resolved at the third.
    const state = emptyLegAlerts();
    const minutes = [leg(0.7, 40), leg(0.3, 40), leg(0.3, 40), leg(0.5, 40, 0.7), leg(0.5, 40, 0.65), leg(0.5, 40, 0.61)];
    const out = minutes.flatMap((l, i) => legAlert(state, { minute: T0 + i * MIN, legs: [l] }, p).out);
    expect(out.map((c) => [c.status, c.severity, c.version])).toEqual([['OPENED', 'CRITICAL', 1], ['RESOLVED', 'CRITICAL', 2]]);
    expect(out[0]?.startedAt).toBe(T0 + MIN);
    expect(out[0]?.detectedAt).toBe(T0 + 3 * MIN);
    expect(out[0]?.statistic).toBeCloseTo(15.455, 2);
    expect(out[1]?.resolvedAt).toBe(T0 + 6 * MIN);
  });

  it(`needs ${LEG_MIN_EXPERIENCES} experiences of evidence: a thin night far below E opens it only once it has them`, () => {
    // h = 5 here. 3 experiences a minute at 0; σ²_k = 0.16·200 / (200 + 3k) after k such minutes (no spread), so
    // step_k = (0.1/σ²_k)·3·0.55 = 0.005156·(200 + 3k): after 9 minutes S = 0.005156·(1800 + 108) = 9.84 >= 5,
    // but with 27 experiences: no alert. The 10th minute brings the 30th experience: opened.
    const q = { ...p, threshold: 5 };
    const state = emptyLegAlerts();
    const out = Array.from({ length: 9 }, (_, i) => legAlert(state, { minute: T0 + i * MIN, legs: [leg(0, 3, null, 0)] }, q).out).flat();
    expect(out).toEqual([]);
    expect(state.detectors?.OPERATIONS?.s).toBeCloseTo(9.84, 2);
    expect(legAlert(state, { minute: T0 + 9 * MIN, legs: [leg(0, 3, null, 0)] }, q).out.map((c) => c.status)).toEqual(['OPENED']);
  });

  it('stays quiet for a week on a leg that stands (mean 0.65, a daily rhythm of 1 to 59 experiences a minute), and not on one at 0.5', () => {
    const seed = 4242;
    console.log(`leg alert quiet-week seed ${seed}`);
    const week = (shift: number): AlertChange[] => {
      const random = seededRandom(seed);
      const state = emptyLegAlerts();
      const out: AlertChange[] = [];
      for (let i = 0; i < 7 * 24 * 60; i++) {
        const hour = (i / 60) % 24;
        const n = Math.max(1, Math.round(30 + 29 * Math.sin((Math.PI * (hour - 8)) / 12)));
        let sx = 0;
        let sx2 = 0;
        for (let k = 0; k < n; k++) {
          // 15% bad (x = 0), else uniform on [0.515, 1.015] shifted: mean 0.85·(0.765 + shift/0.85).
          const x = Math.min(1, Math.max(0, random() < 0.15 ? 0 : 0.515 + random() / 2 + shift / 0.85));
          sx += x;
          sx2 += x * x;
        }
        out.push(...legAlert(state, { minute: T0 + i * MIN, legs: [{ leg: 'PRODUCT', score: sx / n, windowExperiences: 15 * n, events: n, experiences: n, bad: 0, sumX: sx, sumX2: sx2 }] }, p).out);
      }
      return out;
    };
    // Mean about 0.65 against the CUSUM's reference E - δ/2 = 0.55: no alert in a week.
    expect(week(0)).toEqual([]);
    // The same week 0.15 lower (about 0.5, below the reference): it does alert, so the quiet week above could fail.
    expect(week(-0.15).filter((c) => c.status === 'OPENED').length).toBeGreaterThan(0);
  });
});
