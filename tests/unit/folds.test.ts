/**
 * The pure metric folds, on small hand-worked examples. Every expected number is
 * derived in the comments from docs/metrics.md, not taken from a run of the
 * code. Where a float is checked to 10 places, the test recomputes it from the
 * definition itself (a direct, non-incremental sum: `memoryByDefinition`), and a
 * 4-place check pins the hand-worked value beside it.
 */
import { describe, expect, it } from 'vitest';
import type { Channel, Leg, Outcome, RatingScale, Stage } from '../../schemas/contracts.ts';
import { experienceOf } from '../../processors/experience.ts';
import { DAY_MS, DEFAULT_PARAMS, HOUR_MS, MINUTE_MS, withCalibration, type MetricParams } from '../../processors/params.ts';
import { isExperience, touchOf, type ExperienceTouch, type Touch } from '../../processors/touch.ts';
import { experienceMemory, memoryAt, type MemoryState } from '../../processors/folds/experienceMemory.ts';
import { channelDrop, type PreviousExperience } from '../../processors/folds/channelDrop.ts';
import { deathSpiral, expireRun, type BadRun } from '../../processors/folds/deathSpiral.ts';
import { measureLeg, measureStool, stoolWindow, type Cell, type CellAggregate, type StoolWindowState } from '../../processors/folds/legConsistency.ts';
import { satisfaction } from '../../processors/folds/satisfaction.ts';
import { journey, summarizeJourney, type JourneyState } from '../../processors/folds/journey.ts';
import { eventTime, flushEventTime, newEventClock, type Pending } from '../../processors/folds/eventTime.ts';
import { MetricOutputs, PartitionMetrics } from '../../processors/partitionMetrics.ts';

const p = DEFAULT_PARAMS;
/** A Monday, 09:00 UTC: minute- and hour-aligned. */
const T0 = Date.UTC(2026, 0, 5, 9);

interface Spec {
  t: number;
  rating?: [RatingScale, number] | null;
  outcome?: Outcome;
  id?: string;
  customer?: string;
  journey?: string;
  channel?: Channel;
  touchpoint?: string;
  leg?: Leg;
  stage?: Stage;
  department?: string;
  mot?: boolean;
}

let seq = 0;
/** A touch built the way the pipeline builds it: from a TouchpointEvent, through touchOf. */
function touch(s: Spec): Touch {
  seq++;
  return touchOf({
    event_id: s.id ?? `e${String(seq).padStart(5, '0')}`,
    occurred_at: s.t,
    customer_id: s.customer ?? 'c1',
    journey_id: s.journey ?? 'j1',
    channel: s.channel ?? 'WEB',
    touchpoint: s.touchpoint ?? 'checkout',
    leg: s.leg ?? 'PRODUCT',
    stage: s.stage ?? 'PURCHASE',
    department: s.department ?? 'Sales',
    moment_of_truth: s.mot ?? false,
    rating: s.rating ? { scale: s.rating[0], value: s.rating[1] } : null,
    outcome: s.outcome ?? 'OK',
    attributes: {},
  });
}

function experience(s: Spec): ExperienceTouch {
  const t = touch(s);
  if (!isExperience(t)) throw new Error(`test setup: ${JSON.stringify(s)} is traffic, not an experience`);
  return t;
}

const sumBy = <T>(rows: T[], key: (r: T) => string, add: (into: Record<string, number>, r: T) => void) => {
  const m = new Map<string, Record<string, number>>();
  for (const r of rows) {
    const k = key(r);
    const into = m.get(k) ?? {};
    add(into, r);
    m.set(k, into);
  }
  return Object.fromEntries(m);
};
const plus = (into: Record<string, number>, a: object) => {
  for (const [k, v] of Object.entries(a)) into[k] = (into[k] ?? 0) + (v as number);
};

const csat = (v: number): [RatingScale, number] => ['CSAT_5', v];

/**
 * docs/metrics.md's memory, term by term: M(t) = sum w_k x_k d_k(t) / sum w_k d_k(t),
 * d_k(t) = 2^(-(t - t_k)/h_k), h_k = h (non-bad) or r*h (bad), w_k = m at a moment of truth.
 */
function memoryByDefinition(exps: readonly ExperienceTouch[], t: number, q: MetricParams = p): number {
  let num = 0;
  let den = 0;
  for (const e of exps) {
    const h = e.cls === 'bad' ? q.badFactor * q.halfLifeMs : q.halfLifeMs;
    const d = 2 ** (-(t - e.t) / h);
    const w = e.mot ? q.motWeight : 1;
    num += w * e.x * d;
    den += w * d;
  }
  return num / den;
}

describe('defaults', () => {
  it('are docs/metrics.md\'s: H 7 d, h 30 d, r 7, m 2, E 0.6, at risk 0.5, n_min 5, 15 min, 30 s, a dedup window of H and 512 ids, no calibration', () => {
    expect(p).toEqual({
      horizonMs: 7 * DAY_MS, halfLifeMs: 30 * DAY_MS, badFactor: 7, motWeight: 2, stoolThreshold: 0.6, atRisk: 0.5, nMin: 5, windowMinutes: 15, latenessMs: 30_000,
      dedupWindowMs: 7 * DAY_MS, dedupMaxIds: 512, calibration: null,
    });
  });
});

describe('experienceOf', () => {
  // x = (value - min) / (max - min); classes from docs/metrics.md's table.
  const cases: [RatingScale, number, number, 'bad' | 'neutral' | 'good' | 'impressed'][] = [
    // CSAT_5 / STARS_5, 1..5: bad 1-2, good 4-5, top box 5. x = (v - 1)/4.
    ['CSAT_5', 1, 0, 'bad'],
    ['CSAT_5', 2, 0.25, 'bad'],
    ['CSAT_5', 3, 0.5, 'neutral'],
    ['CSAT_5', 4, 0.75, 'good'],
    ['CSAT_5', 5, 1, 'impressed'],
    ['STARS_5', 2, 0.25, 'bad'],
    ['STARS_5', 3, 0.5, 'neutral'],
    ['STARS_5', 4, 0.75, 'good'],
    ['STARS_5', 5, 1, 'impressed'],
    // NPS_11, 0..10: bad 0-6, good 9-10, top box 10. x = v/10.
    ['NPS_11', 0, 0, 'bad'],
    ['NPS_11', 6, 0.6, 'bad'],
    ['NPS_11', 7, 0.7, 'neutral'],
    ['NPS_11', 8, 0.8, 'neutral'],
    ['NPS_11', 9, 0.9, 'good'],
    ['NPS_11', 10, 1, 'impressed'],
    // CES_7, 1..7: bad 1-3, good 5-7, top box 7. x = (v - 1)/6.
    ['CES_7', 1, 0, 'bad'],
    ['CES_7', 3, 2 / 6, 'bad'],
    ['CES_7', 4, 3 / 6, 'neutral'],
    ['CES_7', 5, 4 / 6, 'good'],
    ['CES_7', 6, 5 / 6, 'good'],
    ['CES_7', 7, 1, 'impressed'],
    // BINARY, 0..1: bad 0; good 1 is also the top box.
    ['BINARY', 0, 0, 'bad'],
    ['BINARY', 1, 1, 'impressed'],
    // SCORE_100, 0..100: bad <= 40, good >= 75, top box >= 95. x = v/100.
    ['SCORE_100', 0, 0, 'bad'],
    ['SCORE_100', 40, 0.4, 'bad'],
    ['SCORE_100', 40.5, 0.405, 'neutral'],
    ['SCORE_100', 74.9, 0.749, 'neutral'],
    ['SCORE_100', 75, 0.75, 'good'],
    ['SCORE_100', 94.9, 0.949, 'good'],
    ['SCORE_100', 95, 0.95, 'impressed'],
    ['SCORE_100', 100, 1, 'impressed'],
  ];
  it.each(cases)('%s %d: x = %d, %s', (scale, value, x, cls) => {
    const e = experienceOf({ rating: { scale, value }, outcome: 'OK' });
    expect(e?.cls).toBe(cls);
    expect(e?.x).toBeCloseTo(x, 10);
  });

  it('makes an unrated FAILED, ABANDONED or ESCALATED event an implicit bad experience (x = 0), and an unrated OK one traffic', () => {
    for (const outcome of ['FAILED', 'ABANDONED', 'ESCALATED'] as const) expect(experienceOf({ rating: null, outcome })).toEqual({ x: 0, cls: 'bad' });
    expect(experienceOf({ rating: null, outcome: 'OK' })).toBeNull();
    // Only the unrated ones are implicit: a rating says what the customer felt.
    expect(experienceOf({ rating: { scale: 'CSAT_5', value: 4 }, outcome: 'ESCALATED' })).toEqual({ x: 0.75, cls: 'good' });
  });

  it('carries into the touch, where traffic has x and class null', () => {
    expect(touch({ t: T0 })).toMatchObject({ x: null, cls: null });
    expect(touch({ t: T0, outcome: 'ABANDONED', mot: true })).toMatchObject({ x: 0, cls: 'bad', mot: true, t: T0 });
  });
});

describe('experienceMemory', () => {
  it('remembers a bad experience r = 7 times longer than a good one', () => {
    const good = experience({ t: T0, rating: csat(5) }); // x = 1 (impressed, so good)
    const bad = experience({ t: T0 + 10 * DAY_MS, rating: csat(1) }); // x = 0

    const first = experienceMemory(undefined, good, p);
    // One experience: M = 1*1*1 / 1 = 1; nothing before it.
    expect(first.out).toEqual({ before: null, after: 1, weight: 1, impact: null, atRisk: false, recoverable: false, experiences: 1 });

    const second = experienceMemory(first.state, bad, p);
    // At the bad one, 10 d later, the good has decayed d = 2^(-10/30) = 0.7937; the bad not at all.
    // before = 1*1*0.7937 / 0.7937 = 1
    // after  = (1*1*0.7937 + 1*0*1) / (0.7937 + 1) = 0.4425
    const d = 2 ** (-10 / 30);
    expect(second.out.before).toBeCloseTo(1, 10);
    expect(second.out.after).toBeCloseTo(d / (d + 1), 10);
    expect(second.out.after).toBeCloseTo(0.4425, 4);
    expect(second.out.after).toBeCloseTo(memoryByDefinition([good, bad], bad.t), 10);
    // 0.4425 < 0.5 with the bad one unanswered: at risk; it is 0 d old (< H = 7 d): recoverable.
    expect(second.out).toMatchObject({ weight: 1, atRisk: true, recoverable: true, experiences: 2 });

    // 30 d after the bad one: the good has decayed 2^(-40/30) = 0.3969, the bad (half-life
    // 7*30 = 210 d) only 2^(-30/210) = 0.9057: M = 0.3969 / (0.3969 + 0.9057) = 0.3047.
    const later = memoryAt(second.state, T0 + 40 * DAY_MS, p) as number;
    expect(later).toBeCloseTo(2 ** (-40 / 30) / (2 ** (-40 / 30) + 2 ** (-30 / 210)), 10);
    expect(later).toBeCloseTo(0.3047, 4);
    // ... and further down at 100 d: 2^(-100/30) = 0.0992 vs 2^(-90/210) = 0.7430: M = 0.1178.
    const muchLater = memoryAt(second.state, T0 + 100 * DAY_MS, p) as number;
    expect(muchLater).toBeCloseTo(2 ** (-100 / 30) / (2 ** (-100 / 30) + 2 ** (-90 / 210)), 10);
    expect(muchLater).toBeCloseTo(0.1178, 4);
    expect(muchLater).toBeLessThan(later);
    expect(later).toBeLessThan(second.out.after);
  });

  it('does not drift when bad and good share a half-life (r = 1)', () => {
    const q = { ...p, badFactor: 1 };
    const s = experienceMemory(undefined, experience({ t: T0, rating: csat(5) }), q).state;
    experienceMemory(s, experience({ t: T0 + 10 * DAY_MS, rating: csat(1) }), q);
    // Both terms decay by the same factor k: M = 0.7937 k / (0.7937 k + k) = 0.4425 at any later time.
    const d = 2 ** (-10 / 30);
    expect(memoryAt(s, T0 + 100 * DAY_MS, q)).toBeCloseTo(d / (d + 1), 10);
  });

  it('weighs a moment of truth m = 2', () => {
    const good = experience({ t: T0, rating: csat(5), mot: true });
    const bad = experience({ t: T0 + 10 * DAY_MS, rating: csat(1) });
    const first = experienceMemory(undefined, good, p);
    expect(first.out.weight).toBe(2);
    const second = experienceMemory(first.state, bad, p);
    // M = (2*1*0.7937 + 1*0*1) / (2*0.7937 + 1) = 1.5874 / 2.5874 = 0.6135
    const d = 2 ** (-10 / 30);
    expect(second.out.after).toBeCloseTo((2 * d) / (2 * d + 1), 10);
    expect(second.out.after).toBeCloseTo(0.6135, 4);
    expect(second.out.weight).toBe(1);
    // The bad one is unanswered, but M >= 0.5: not at risk.
    expect(second.out).toMatchObject({ atRisk: false, recoverable: false });
    // 90 d after the bad one: (2*2^(-100/30)) / (2*2^(-100/30) + 2^(-90/210)) = 0.1984 / 0.9414 = 0.2108
    const t = T0 + 100 * DAY_MS;
    expect(memoryAt(second.state, t, p)).toBeCloseTo(memoryByDefinition([good, bad], t), 10);
    expect(memoryAt(second.state, t, p)).toBeCloseTo(0.2108, 4);
  });

  it('is recoverable only while the first unanswered bad experience is less than H old', () => {
    const run = (specs: Spec[]) => {
      let s: MemoryState | undefined;
      const outs = [];
      for (const spec of specs) {
        const r = experienceMemory(s, experience(spec), p);
        s = r.state;
        outs.push({ ...r.out });
      }
      return outs;
    };
    // bad (x 0) at 0 d, good (x 1) at 1 d, bad (x 0) at 8 d. At 8 d:
    // terms: bad 2^(-8/210) = 0.9739, good 2^(-7/30) = 0.8507, bad 1
    // M = 0.8507 / (0.9739 + 0.8507 + 1) = 0.3012 < 0.5; the good answered the first bad,
    // so the unanswered bad is the one at 8 d, 0 d old: at risk and recoverable.
    const answered = run([{ t: T0, rating: csat(1) }, { t: T0 + DAY_MS, rating: csat(5) }, { t: T0 + 8 * DAY_MS, rating: csat(1) }]);
    expect(answered[2]?.after).toBeCloseTo(0.3012, 4);
    expect(answered[2]).toMatchObject({ atRisk: true, recoverable: true });

    // Same, with a neutral (x 0.5) instead of the good: a neutral does not answer a bad.
    // M = 0.5*0.8507 / 2.8246 = 0.1506; first unanswered bad at 0 d, now 8 d old >= H: not recoverable.
    const unanswered = run([{ t: T0, rating: csat(1) }, { t: T0 + DAY_MS, rating: csat(3) }, { t: T0 + 8 * DAY_MS, rating: csat(1) }]);
    expect(unanswered[1]).toMatchObject({ atRisk: true, recoverable: true }); // at 1 d: M = 0.5*1 / (0.9967 + 1) = 0.2504
    expect(unanswered[2]?.after).toBeCloseTo(0.1506, 4);
    expect(unanswered[2]).toMatchObject({ atRisk: true, recoverable: false });

    // Exactly H old is not "less than H": bad at 0 d and at 7 d, M = 0.
    const boundary = run([{ t: T0, rating: csat(1) }, { t: T0 + 7 * DAY_MS - 1, rating: csat(1) }, { t: T0 + 7 * DAY_MS, rating: csat(1) }]);
    expect(boundary.map((o) => o.after)).toEqual([0, 0, 0]);
    expect(boundary.map((o) => o.recoverable)).toEqual([true, true, false]);

    // A merely good one (CSAT 4, not top box) answers a bad too: bad 0 d, good 1 d.
    // M = 0.75*1 / (0.9967 + 1) = 0.3756 < 0.5 but answered: not at risk.
    const merelyGood = run([{ t: T0, rating: csat(1) }, { t: T0 + DAY_MS, rating: csat(4) }]);
    expect(merelyGood[1]?.after).toBeCloseTo(0.75 / (2 ** (-1 / 210) + 1), 10);
    expect(merelyGood[1]).toMatchObject({ atRisk: false, recoverable: false });
  });
});

describe('channelDrop', () => {
  const step = (prev: PreviousExperience | undefined, spec: Spec) => channelDrop(prev, experience(spec), p);

  it('flags a good experience followed by a bad one on another channel, with its magnitude', () => {
    const a = step(undefined, { t: T0, channel: 'STORE', touchpoint: 'branch_visit', rating: csat(5) }); // x 1, good
    expect(a.out).toBeNull();
    const b = step(a.state, { t: T0 + DAY_MS, channel: 'CALL_CENTRE', touchpoint: 'support_call', department: 'Support', rating: csat(2) }); // x 0.25, bad
    // magnitude = x_prev - x_cur = 1 - 0.25 = 0.75
    expect(b.out).toMatchObject({ startsGood: true, drop: true, crossChannel: true, gapMs: DAY_MS, from: { channel: 'STORE', touchpoint: 'branch_visit', x: 1, good: true } });
    expect(b.out?.to.channel).toBe('CALL_CENTRE');
    expect(b.out?.magnitude).toBeCloseTo(0.75, 10);
  });

  it('keeps a good-to-bad change within one channel, flagged not cross-channel', () => {
    const a = step(undefined, { t: T0, channel: 'APP', rating: csat(4) }); // x 0.75, good
    const b = step(a.state, { t: T0 + HOUR_MS, channel: 'APP', rating: csat(1) }); // x 0
    expect(b.out).toMatchObject({ drop: true, crossChannel: false, startsGood: true });
    expect(b.out?.magnitude).toBeCloseTo(0.75, 10);
  });

  it('has no transition across a gap longer than H (exactly H still counts)', () => {
    const a = step(undefined, { t: T0, channel: 'WEB', rating: csat(5) });
    expect(step(a.state, { t: T0 + 7 * DAY_MS + 1, channel: 'APP', rating: csat(1) }).out).toBeNull();
    const c = step(a.state, { t: T0 + 7 * DAY_MS, channel: 'APP', rating: csat(1) });
    expect(c.out).toMatchObject({ drop: true, gapMs: 7 * DAY_MS });
  });

  it('counts transitions that start good; neutral and bad starts, and good-to-neutral, are not drops', () => {
    const good = step(undefined, { t: T0, rating: csat(4) });
    const toGood = step(good.state, { t: T0 + 1, channel: 'APP', rating: csat(5) });
    expect(toGood.out).toMatchObject({ startsGood: true, drop: false });
    const toNeutral = step(toGood.state, { t: T0 + 2, channel: 'WEB', rating: csat(3) });
    expect(toNeutral.out).toMatchObject({ startsGood: true, drop: false });
    const neutralToBad = step(toNeutral.state, { t: T0 + 3, channel: 'APP', rating: csat(1) });
    expect(neutralToBad.out).toMatchObject({ startsGood: false, drop: false, crossChannel: true });
    const badToBad = step(neutralToBad.state, { t: T0 + 4, channel: 'WEB', outcome: 'FAILED' });
    expect(badToBad.out).toMatchObject({ startsGood: false, drop: false });
  });
});

describe('deathSpiral', () => {
  const bad = (t: number, touchpoint: string, department = 'Support') => experience({ t, touchpoint, department, rating: csat(1) });
  const feed = (events: ExperienceTouch[], start?: BadRun) => {
    let s = start;
    const outs = [];
    for (const e of events) {
      const r = deathSpiral(s, e, p);
      s = r.state;
      outs.push(r.out);
    }
    return { state: s, outs };
  };

  it('is not a spiral with three bad experiences on one touchpoint; a second touchpoint opens it', () => {
    const r = feed([bad(T0, 'checkout'), bad(T0 + HOUR_MS, 'checkout'), bad(T0 + 2 * HOUR_MS, 'checkout')]);
    expect(r.outs.flat()).toEqual([]);
    expect(r.state).toMatchObject({ path: ['checkout', 'checkout', 'checkout'], spiral: false });
    const fourth = feed([bad(T0 + 3 * HOUR_MS, 'support_call')], r.state);
    expect(fourth.outs.flat()).toMatchObject([{ change: 'opened', run: { path: ['checkout', 'checkout', 'checkout', 'support_call'] } }]);
  });

  it('opens at length 3 on two touchpoints, grows, and closes on a non-bad experience', () => {
    const e1 = bad(T0, 'support_call', 'Support');
    const e2 = bad(T0 + DAY_MS, 'parcel_delivery', 'Logistics');
    const e3 = bad(T0 + 2 * DAY_MS, 'support_call', 'Support');
    const r = feed([e1, e2, e3]);
    expect(r.outs[0]).toEqual([]);
    expect(r.outs[1]).toEqual([]);
    expect(r.outs[2]).toEqual([
      {
        change: 'opened',
        run: {
          id: e1.event_id, startedAt: T0, lastAt: T0 + 2 * DAY_MS, path: ['support_call', 'parcel_delivery', 'support_call'],
          channels: ['WEB', 'WEB', 'WEB'], departments: ['Support', 'Logistics', 'Support'], spiral: true, steps: 3,
        },
        closedAt: null, closeReason: null,
        // every distinct department takes part when it opens
        joined: ['Support', 'Logistics'],
      },
    ]);
    // Grows with each further bad experience; a department joins once.
    const g = feed([bad(T0 + 3 * DAY_MS, 'refund', 'Finance'), bad(T0 + 4 * DAY_MS, 'support_call', 'Support')], r.state);
    expect(g.outs[0]).toMatchObject([{ change: 'grew', joined: ['Finance'], run: { path: ['support_call', 'parcel_delivery', 'support_call', 'refund'] } }]);
    expect(g.outs[1]).toMatchObject([{ change: 'grew', joined: [] }]);
    expect(g.outs[1]?.[0]?.run.path).toHaveLength(5);
    // The opened event kept its own copy of the path.
    expect(r.outs[2]?.[0]?.run.path).toHaveLength(3);

    // A neutral experience (CSAT 3, not bad) closes it: 'recovered', at that time.
    const closeAt = T0 + 5 * DAY_MS;
    const c = deathSpiral(g.state, experience({ t: closeAt, rating: csat(3) }), p);
    expect(c.state).toBeUndefined();
    expect(c.out).toMatchObject([{ change: 'closed', closedAt: closeAt, closeReason: 'recovered', joined: [], run: { id: e1.event_id } }]);
    expect(c.out[0]?.run.path).toHaveLength(5);
  });

  it('closes after H of silence, at lastAt + H, by expireRun or by the next experience after the gap', () => {
    const r = feed([bad(T0, 'a'), bad(T0 + 1, 'b'), bad(T0 + 2, 'a')]);
    const lastAt = T0 + 2;
    const run = r.state as BadRun;
    // Silence of exactly H: still open.
    expect(expireRun(run, lastAt + 7 * DAY_MS, p)).toEqual({ state: run, out: [] });
    const expired = expireRun(run, lastAt + 7 * DAY_MS + 1, p);
    expect(expired.state).toBeUndefined();
    expect(expired.out).toMatchObject([{ change: 'closed', closeReason: 'silence', closedAt: lastAt + 7 * DAY_MS }]);

    // The next experience, a bad one 8 d later: the old spiral closes at lastAt + H, and a new run starts.
    const next = bad(lastAt + 8 * DAY_MS, 'c');
    const r2 = feed([bad(T0, 'a'), bad(T0 + 1, 'b'), bad(T0 + 2, 'a'), next]);
    expect(r2.outs[3]).toMatchObject([{ change: 'closed', closeReason: 'silence', closedAt: lastAt + 7 * DAY_MS, run: { path: ['a', 'b', 'a'] } }]);
    expect(r2.state).toMatchObject({ id: next.event_id, path: ['c'], spiral: false });

    // A bad experience exactly H after the last still extends the run.
    const r3 = feed([bad(T0, 'a'), bad(T0 + 1, 'b'), bad(T0 + 2, 'a'), bad(lastAt + 7 * DAY_MS, 'c')]);
    expect(r3.outs[3]).toMatchObject([{ change: 'grew' }]);
  });

  it('drops a run that never became a spiral without emitting anything', () => {
    const r = feed([bad(T0, 'a'), bad(T0 + 1, 'b')]);
    expect(expireRun(r.state, T0 + 1 + 7 * DAY_MS + 1, p)).toEqual({ state: undefined, out: [] });
    expect(deathSpiral(r.state, experience({ t: T0 + 2, rating: csat(5) }), p)).toEqual({ state: undefined, out: [] });
  });
});

describe('legConsistency', () => {
  /** A cell from its ratings (CSAT_5): n, sum x, sum x^2 and the class counts, worked out here. */
  const agg = (n: number, sumX: number, sumX2: number, bad: number, good: number, impressed: number): CellAggregate => ({ events: n, n, sumX, sumX2, bad, good, impressed });
  // A: CSAT 5,5,5,4,4 -> x 1,1,1,0.75,0.75: n 5, sum 4.5, sum x^2 3 + 2*0.5625 = 4.125, good 5, top box 3; mean 0.9
  const A = agg(5, 4.5, 4.125, 0, 5, 3);
  // B: CSAT 3 x5 -> x 0.5: n 5, sum 2.5, sum x^2 1.25, neutral; mean 0.5
  const B = agg(5, 2.5, 1.25, 0, 0, 0);
  // C: CSAT 1 x2 -> x 0: n 2 (< n_min 5), bad 2
  const C = agg(2, 0, 0, 2, 0, 0);

  it('scores a leg over all its experiences and measures consistency over cells with n >= n_min', () => {
    const m = measureLeg('OPERATIONS', [A, B, C], 5);
    // S_L = (4.5 + 2.5 + 0) / (5 + 5 + 2) = 7/12 = 0.5833
    expect(m?.score).toBeCloseTo(7 / 12, 10);
    expect(m?.experiences).toBe(12);
    // Cells A and B count (C has 2 < 5): weighted mean (4.5 + 2.5)/10 = 0.7;
    // sigma_w^2 = (5*(0.9-0.7)^2 + 5*(0.5-0.7)^2)/10 = 0.04, sigma_w = 0.2; C_L = 1 - 2*0.2 = 0.6
    expect(m?.consistency).toBeCloseTo(0.6, 10);
    expect(m?.cells).toBe(2);
    // satisfied = good/n = 5/12; impressed = 3/12 = 0.25; merely satisfied = (5 - 3)/12 = 1/6
    expect(m?.satisfied).toBeCloseTo(5 / 12, 10);
    expect(m?.impressed).toBeCloseTo(0.25, 10);
    expect(m?.merelySatisfied).toBeCloseTo(1 / 6, 10);
  });

  it('weights the standard deviation by n', () => {
    // D: six CSAT 5, x = 1 (mean 1); F: four CSAT 5, four CSAT 3, two CSAT 1: x sum 4 + 2 + 0 = 6,
    // sum x^2 4 + 1 = 5 (mean 0.6). Weighted mean 12/16 = 0.75;
    // sigma_w^2 = (6*0.25^2 + 10*0.15^2)/16 = (0.375 + 0.225)/16 = 0.0375, sigma_w = 0.19365;
    // C_L = 1 - 0.38730 = 0.61270 (unweighted it would be 1 - 2*0.2 = 0.6).
    const m = measureLeg('PRODUCT', [agg(6, 6, 6, 0, 6, 6), agg(10, 6, 5, 2, 4, 4)], 5);
    expect(m?.consistency).toBeCloseTo(1 - 2 * Math.sqrt(0.0375), 10);
    expect(m?.consistency).toBeCloseTo(0.6127, 4);
    // S_L = 12/16 = 0.75
    expect(m?.score).toBeCloseTo(0.75, 10);
  });

  it('is null with fewer than two cells of n_min, reaches 0 at the widest spread, and a leg without experiences is absent', () => {
    // A counts, and B' with 4 experiences does not (n_min 5); n = n_min counts.
    expect(measureLeg('PRODUCT', [A, agg(4, 2, 1, 0, 0, 0)], 5)).toMatchObject({ consistency: null, cells: 1 });
    expect(measureLeg('PRODUCT', [A, agg(4, 2, 1, 0, 0, 0)], 4)?.consistency).not.toBeNull();
    expect(measureLeg('PRODUCT', [A], 5)?.consistency).toBeNull();
    // Means 1 and 0, n 5 each: mean 0.5, sigma_w = 0.5, 1 - 2*0.5 = 0 (with x in [0, 1] this is
    // the lowest possible value, so the clamp at 0 only guards rounding).
    expect(measureLeg('PRODUCT', [agg(5, 5, 5, 0, 5, 5), agg(5, 0, 0, 5, 0, 0)], 5)?.consistency).toBeCloseTo(0, 10);
    expect(measureLeg('PRODUCT', [agg(5, 5, 5, 0, 5, 5), agg(5, 0, 0, 5, 0, 0)], 5)?.consistency).toBeGreaterThanOrEqual(0);
    // The clamp itself, on an aggregate outside the domain (sum x of 10 over 5 experiences, mean 2):
    // means 2 and 0 around 1, sigma_w = 1, 1 - 2 = -1, clamped to 0.
    expect(measureLeg('PRODUCT', [agg(5, 10, 20, 0, 0, 0), agg(5, 0, 0, 5, 0, 0)], 5)?.consistency).toBe(0);
    // Identical cell means: sigma 0, C_L = 1.
    expect(measureLeg('PRODUCT', [B, B], 5)?.consistency).toBe(1);
    expect(measureLeg('PRODUCT', [], 5)).toBeNull();
    expect(measureLeg('PRODUCT', [{ ...agg(0, 0, 0, 0, 0, 0), events: 3 }], 5)).toBeNull(); // traffic only
  });

  it('makes the stool as strong as its weakest leg; it stands only with all three legs at E or above', () => {
    const cell = (leg: Leg, touchpoint: string, a: CellAggregate): Cell => ({ leg, channel: 'WEB', touchpoint, ...a });
    // PRODUCT: A alone, S = 0.9. OPERATIONS: A, B, C, S = 7/12 = 0.5833. SALES_MARKETING: CSAT 4 x5 -> S = 0.75.
    const M = agg(5, 3.75, 2.8125, 0, 5, 0);
    const cells = [cell('PRODUCT', 'p', A), cell('OPERATIONS', 'a', A), cell('OPERATIONS', 'b', B), cell('OPERATIONS', 'c', C), cell('SALES_MARKETING', 'm', M)];
    const s = measureStool(cells, 5, 0.6);
    expect(s.legs.map((l) => l.leg)).toEqual(['PRODUCT', 'OPERATIONS', 'SALES_MARKETING']);
    // score = min(0.9, 0.5833, 0.75) = 0.5833 (OPERATIONS); wobble = 0.9 - 0.5833 = 0.3167
    expect(s.score).toBeCloseTo(7 / 12, 10);
    expect(s.weakestLeg).toBe('OPERATIONS');
    expect(s.wobble).toBeCloseTo(0.9 - 7 / 12, 10);
    // 0.5833 < E = 0.6: it wobbles
    expect(s.stands).toBe(false);

    // Replace OPERATIONS with exactly E: CSAT 5, 5, 3, 3, 1 -> x sum 3 over 5 = 0.6 >= 0.6: stands;
    // weakest 0.6, wobble 0.9 - 0.6 = 0.3
    const atE = measureStool([cell('PRODUCT', 'p', A), cell('OPERATIONS', 'a', agg(5, 3, 2.5, 1, 2, 2)), cell('SALES_MARKETING', 'm', M)], 5, 0.6);
    expect(atE).toMatchObject({ stands: true, weakestLeg: 'OPERATIONS' });
    expect(atE.score).toBeCloseTo(0.6, 10);
    expect(atE.wobble).toBeCloseTo(0.3, 10);

    // Two strong legs, the third without experiences: it does not stand.
    const twoLegs = measureStool([cell('PRODUCT', 'p', A), cell('SALES_MARKETING', 'm', M)], 5, 0.6);
    expect(twoLegs).toMatchObject({ stands: false, weakestLeg: 'SALES_MARKETING' });
    expect(twoLegs.score).toBeCloseTo(0.75, 10);
    expect(measureStool([], 5, 0.6)).toEqual({ legs: [], score: null, weakestLeg: null, wobble: null, stands: false });
  });

  it('splits satisfied into impressed and merely satisfied', () => {
    // 10 experiences, 6 good of which 2 top box: 0.6, 0.2, 0.4
    const s = satisfaction(10, 6, 2);
    expect(s?.satisfied).toBeCloseTo(0.6, 10);
    expect(s?.impressed).toBeCloseTo(0.2, 10);
    expect(s?.merelySatisfied).toBeCloseTo(0.4, 10);
    expect(satisfaction(0, 0, 0)).toBeNull();
  });

  it('slides a 15-minute window one minute at a time, dropping a minute once it is 15 minutes old', () => {
    const q = { windowMinutes: 15, nMin: 1, stoolThreshold: 0.6 };
    const one = (x: number, leg: Leg = 'PRODUCT', touchpoint = 'checkout'): Cell => ({ leg, channel: 'WEB', touchpoint, events: 1, n: 1, sumX: x, sumX2: x * x, bad: x === 0 ? 1 : 0, good: x >= 0.75 ? 1 : 0, impressed: x === 1 ? 1 : 0 });
    let s: StoolWindowState | undefined;
    const scores: (number | null)[] = [];
    // Minute 0: one x = 0; minutes 1..15: one x = 1 each.
    for (let i = 0; i <= 15; i++) {
      const r = stoolWindow(s, { minute: T0 + i * MINUTE_MS, cells: [one(i === 0 ? 0 : 1)] }, q);
      s = r.state;
      scores.push(r.out?.stool.score ?? null);
      expect(r.out?.end).toBe(T0 + (i + 1) * MINUTE_MS);
    }
    // After minute i (i <= 14) the window [end - 15 min, end) holds minutes 0..i: S = i/(i + 1).
    for (let i = 0; i <= 14; i++) expect(scores[i]).toBeCloseTo(i / (i + 1), 10);
    // Minute 14 closes the window [0, 15): still minute 0, S = 14/15 = 0.9333.
    expect(scores[14]).toBeCloseTo(0.9333, 4);
    // Minute 15: minute 0 is 15 minutes old and out; minutes 1..15 are all x = 1: S = 1.
    expect(scores[15]).toBe(1);
    expect(s?.minutes.map((m) => (m.minute - T0) / MINUTE_MS)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);

    // Cells merge across the window's minutes before n_min applies: with n_min 2, cell
    // 'a' (x 1 at minutes 16 and 17) and cell 'b' (x 0 at 16 and 17) both reach n = 2 by 17.
    const q2 = { ...q, nMin: 2 };
    let w = stoolWindow(s, { minute: T0 + 16 * MINUTE_MS, cells: [one(1, 'OPERATIONS', 'a'), one(0, 'OPERATIONS', 'b')] }, q2);
    expect(w.out?.stool.legs.find((l) => l.leg === 'OPERATIONS')?.consistency).toBeNull();
    w = stoolWindow(w.state, { minute: T0 + 17 * MINUTE_MS, cells: [one(1, 'OPERATIONS', 'a'), one(0, 'OPERATIONS', 'b')] }, q2);
    // Means 1 and 0, n 2 each: sigma_w = 0.5, C = 0; S_OPERATIONS = 2/4 = 0.5; PRODUCT (minutes 3..15 of x 1) S = 1.
    const ops = w.out?.stool.legs.find((l) => l.leg === 'OPERATIONS');
    expect(ops?.consistency).toBeCloseTo(0, 10);
    expect(ops?.score).toBeCloseTo(0.5, 10);
    expect(w.out?.stool).toMatchObject({ weakestLeg: 'OPERATIONS', stands: false });
    expect(w.out?.stool.wobble).toBeCloseTo(0.5, 10);

    // A skipped stretch: 30 minutes later nothing is left but the new, empty minute: no window.
    const gap = stoolWindow(w.state, { minute: T0 + 47 * MINUTE_MS, cells: [] }, q);
    expect(gap.out).toBeNull();
    expect(gap.state.minutes).toHaveLength(1);
  });
});

describe('journey', () => {
  it('scores the journey with the memory formula at its last event, beside the weakest link and peak-end', () => {
    const events = [
      touch({ t: T0, touchpoint: 'checkout', leg: 'PRODUCT', rating: csat(5) }), // x 1
      touch({ t: T0 + 12 * HOUR_MS, touchpoint: 'browse' }), // traffic
      touch({ t: T0 + DAY_MS, touchpoint: 'parcel_delivery', channel: 'DELIVERY', leg: 'OPERATIONS', mot: true, outcome: 'FAILED' }), // x 0, bad, w 2
      touch({ t: T0 + 2 * DAY_MS, touchpoint: 'support_call', channel: 'CALL_CENTRE', leg: 'OPERATIONS', rating: csat(3) }), // x 0.5
    ];
    let s: JourneyState | undefined;
    for (const e of events) s = journey(s, e, p).state;
    const j = summarizeJourney('c1', s as JourneyState, p);
    expect(j).toMatchObject({ customerId: 'c1', journeyId: 'j1', startedAt: T0, lastAt: T0 + 2 * DAY_MS, events: 4, experiences: 3 });
    // At the last event (2 d): good decayed 2^(-2/30) = 0.9548; bad (mot, w 2) 2^(-1/210) = 0.9967; neutral 1.
    // M = (1*1*0.9548 + 2*0*0.9967 + 1*0.5*1) / (0.9548 + 2*0.9967 + 1) = 1.4548 / 3.9483 = 0.3685
    const g = 2 ** (-2 / 30);
    const b = 2 ** (-1 / 210);
    expect(j.score).toBeCloseTo((g + 0.5) / (g + 2 * b + 1), 10);
    expect(j.score).toBeCloseTo(0.3685, 4);
    // Weakest link: min x = 0 at parcel_delivery; peak-end = (x_peak + x_end)/2 = (1 + 0.5)/2 = 0.75
    expect(j.weakest).toEqual({ x: 0, touchpoint: 'parcel_delivery', channel: 'DELIVERY' });
    expect(j.peakEnd).toBeCloseTo(0.75, 10);
    // Stool over the journey, cells = touchpoints: PRODUCT S = 1; OPERATIONS S = (0 + 0.5)/2 = 0.25,
    // two one-experience cells with means 0 and 0.5: sigma = 0.25, C = 0.5. Score 0.25, wobble 0.75,
    // and no SALES_MARKETING leg: it does not stand.
    expect(j.stool).toMatchObject({ weakestLeg: 'OPERATIONS', stands: false });
    expect(j.stool.score).toBeCloseTo(0.25, 10);
    expect(j.stool.wobble).toBeCloseTo(0.75, 10);
    expect(j.stool.legs.find((l) => l.leg === 'OPERATIONS')?.consistency).toBeCloseTo(0.5, 10);
  });

  it('evaluates the score at the last event even when that is traffic', () => {
    // docs/metrics.md: "evaluated at the journey's last event". Good x 1 at 0 d, bad x 0 at 0 d, traffic at 6 d:
    // M = 2^(-6/30) / (2^(-6/30) + 2^(-6/210)) = 0.8706 / (0.8706 + 0.9804) = 0.4703
    let s = journey(undefined, touch({ t: T0, rating: csat(5) }), p).state;
    s = journey(s, touch({ t: T0, rating: csat(1) }), p).state;
    s = journey(s, touch({ t: T0 + 6 * DAY_MS }), p).state;
    const at6 = summarizeJourney('c1', s, p).score as number;
    expect(at6).toBeCloseTo(2 ** (-6 / 30) / (2 ** (-6 / 30) + 2 ** (-6 / 210)), 10);
    expect(at6).toBeCloseTo(0.4703, 4);
    expect(at6).toBeLessThan(0.5); // at the experiences' own time it would be exactly 0.5
  });

  it('starts a new journey after H of silence under the same id', () => {
    const first = journey(undefined, touch({ t: T0, rating: csat(1) }), p).state;
    const same = journey(first, touch({ t: T0 + 7 * DAY_MS, rating: csat(5) }), p).state;
    expect(same).toMatchObject({ startedAt: T0, events: 2, experiences: 2 });
    const next = journey(same, touch({ t: T0 + 14 * DAY_MS + 1, rating: csat(4) }), p).state;
    expect(next).toMatchObject({ journeyId: 'j1', startedAt: T0 + 14 * DAY_MS + 1, events: 1, experiences: 1, peak: 0.75, end: 0.75, weakest: { x: 0.75 } });
    expect(summarizeJourney('c1', next, p).score).toBe(0.75);
  });
});

describe('eventTime', () => {
  const at = (sec: number, id: string): Pending => ({ touch: touch({ t: T0 + sec * 1000, id }), offset: id });
  const ids = (ps: Pending[]) => ps.map((x) => x.touch.event_id);

  it('releases arrivals out of order within the lateness in event-time order (ties by event id), flags older ones late', () => {
    const L = 10_000;
    const s = newEventClock();
    // 100 s 'b': watermark = 100 - 10 = 90 s; nothing below it yet.
    expect(ids(eventTime(s, at(100, 'b'), L).out.released)).toEqual([]);
    expect(s.watermark).toBe(T0 + 90_000);
    // 95 s 'x' (5 s out of order, within 10 s) and 100 s 'a' (a tie with 'b') wait.
    expect(eventTime(s, at(95, 'x'), L).out).toEqual({ released: [], late: null });
    expect(eventTime(s, at(100, 'a'), L).out).toEqual({ released: [], late: null });
    // 120 s 'c': watermark 110 s releases everything before it: 95 'x', then 100 'a' before 100 'b'.
    expect(ids(eventTime(s, at(120, 'c'), L).out.released)).toEqual(['x', 'a', 'b']);
    expect(s.watermark).toBe(T0 + 110_000);
    // 105 s: older than the 110 s watermark: late, not buffered.
    const late = eventTime(s, at(105, 'late'), L).out;
    expect(late.released).toEqual([]);
    expect(late.late?.touch.event_id).toBe('late');
    // 110 s, at the watermark exactly, is not late; an older maximum does not move the watermark.
    expect(eventTime(s, at(110, 'd'), L).out).toEqual({ released: [], late: null });
    expect(s.watermark).toBe(T0 + 110_000);
    expect(s.buffer).toHaveLength(2);
    // Flush: the watermark passes the newest event (120 s) and the rest comes out in order.
    const f = flushEventTime(s).out;
    expect(ids(f.released)).toEqual(['d', 'c']);
    expect(s.watermark).toBe(T0 + 120_001);
    expect(s.buffer).toHaveLength(0);
    // After the flush, even the newest time is late.
    expect(eventTime(s, at(120, 'again'), L).out.late?.touch.event_id).toBe('again');
  });
});

describe('PartitionMetrics: department impact and the rows a partition emits', () => {
  const q: MetricParams = { ...DEFAULT_PARAMS, latenessMs: 1000 };
  const H1 = HOUR_MS;
  // Customer c1, journey j1; c2, journey j2. Legs: checkout SALES_MARKETING; support_call and
  // parcel_delivery OPERATIONS. Each event in a minute of its own.
  const web = { channel: 'WEB', touchpoint: 'checkout', leg: 'SALES_MARKETING', department: 'Sales' } as const;
  const call = { channel: 'CALL_CENTRE', touchpoint: 'support_call', leg: 'OPERATIONS', department: 'Support' } as const;
  const parcel = { channel: 'DELIVERY', touchpoint: 'parcel_delivery', leg: 'OPERATIONS', department: 'Logistics' } as const;
  const e1 = touch({ t: T0, ...web, rating: csat(5) }); // x 1, impressed; c1's first experience
  const visit = touch({ t: T0 + 5 * MINUTE_MS, ...web }); // traffic
  const e2 = touch({ t: T0 + 24 * H1, ...call, rating: csat(1) }); // x 0, bad: cross-channel drop WEB -> CALL_CENTRE
  const c2 = touch({ t: T0 + 24 * H1 + 30 * MINUTE_MS, ...web, customer: 'c2', journey: 'j2', rating: csat(4) }); // x 0.75, c2's first
  const e3 = touch({ t: T0 + 25 * H1, ...call, rating: csat(2) }); // x 0.25, bad
  const e4 = touch({ t: T0 + 26 * H1, ...parcel, mot: true, outcome: 'FAILED' }); // x 0, bad, w 2: spiral opens
  const e5 = touch({ t: T0 + 27 * H1, ...parcel, rating: csat(4) }); // x 0.75, good: spiral closes
  const e6 = touch({ t: T0 + 28 * H1, ...parcel, rating: csat(1) }); // x 0, bad: within-channel drop
  const lateOne = touch({ t: T0 + 2 * MINUTE_MS, ...web, customer: 'c3', journey: 'j3', rating: csat(1) });
  // Traffic an hour later: it moves the watermark past e6's minute. A flush only takes the
  // watermark just past the newest event, so the minute holding that event stays open.
  const tick = touch({ t: T0 + 29 * H1, channel: 'OTHER', touchpoint: 'heartbeat', customer: 'c9', journey: 'j9' });

  function run() {
    const pm = new PartitionMetrics(q);
    const out = new MetricOutputs();
    [e1, visit, e2, c2, e3, e4, e5, e6, lateOne, tick].forEach((e, i) => pm.arrive(e, String(i), out));
    pm.flush(out);
    return { pm, out };
  }

  it('sums M_after - M_before per department; first experiences count apart', () => {
    const { out } = run();
    const c1 = [e1, e2, e3, e4, e5, e6] as ExperienceTouch[];
    const delta = (i: number) => memoryByDefinition(c1.slice(0, i + 1), (c1[i] as Touch).t, q) - memoryByDefinition(c1.slice(0, i), (c1[i] as Touch).t, q);
    // Hours: e1 0, e2 24, e3 25, e4 26, e5 27, e6 28. Non-bad half-life 720 h, bad 5040 h.
    // e2: before 1; after 2^(-24/720) / (2^(-24/720) + 1) = 0.97716/1.97716 = 0.49422; delta -0.50578
    // e3: before 0.97622/(0.97622 + 0.99986) = 0.49402; after (0.97622 + 0.25)/(0.97622 + 0.99986 + 1) = 0.41202; delta -0.08199
    // e4 (w 2): before 0.41187; after 0.24629; delta -0.16558
    // e5: before 0.24617; after 0.33051; delta +0.08435
    // e6: before 0.33036; after 0.28297; delta -0.04739
    // Support = e2 + e3 = -0.58777; Logistics = e4 + e5 + e6 = -0.12862; Sales: first experiences only.
    expect(delta(1)).toBeCloseTo(-0.5058, 4);
    const depts = sumBy(out.departmentMinutes, (r) => r.department, (into, r) => plus(into, r.agg));
    expect(depts.Support?.memoryImpact).toBeCloseTo(delta(1) + delta(2), 10);
    expect(depts.Support?.memoryImpact).toBeCloseTo(-0.5878, 4);
    expect(depts.Logistics?.memoryImpact).toBeCloseTo(delta(3) + delta(4) + delta(5), 10);
    expect(depts.Logistics?.memoryImpact).toBeCloseTo(-0.1286, 4);
    expect(depts.Sales).toEqual({ experiences: 2, bad: 0, dropsLanded: 0, spiralsJoined: 0, memoryImpact: 0, firstExperiences: 2 });
    // Support: e2 and e3, both bad; the WEB -> CALL_CENTRE drop landed on it; it joined the spiral.
    expect(depts.Support).toMatchObject({ experiences: 2, bad: 2, dropsLanded: 1, spiralsJoined: 1, firstExperiences: 0 });
    // Logistics: e4, e5, e6 (e4 and e6 bad); e5 -> e6 is within DELIVERY: not landed; it joined the spiral.
    expect(depts.Logistics).toMatchObject({ experiences: 3, bad: 2, dropsLanded: 0, spiralsJoined: 1, firstExperiences: 0 });
    // Both departments joined in e4's minute.
    const e4Minute = out.departmentMinutes.filter((r) => r.minute === e4.t);
    expect(e4Minute.map((r) => [r.department, r.agg.spiralsJoined]).sort()).toEqual([['Logistics', 1], ['Support', 1]]);
  });

  it('emits memory, drops, spirals, transitions, cells and journeys, and keeps late arrivals out', () => {
    const { pm, out } = run();
    expect(out.released).toBe(9);
    // After the flush the watermark is just past the newest event (tick): its minute is still open.
    expect(pm.watermark).toBe(tick.t + 1);
    expect(out.cellMinutes.some((r) => r.minute === tick.t)).toBe(false);
    expect(out.late.map((l) => [l.pending.touch.event_id, l.watermark])).toEqual([[lateOne.event_id, e6.t - 1000]]);
    expect(pm.buffered).toBe(0);

    // Memory: one update per experience, c1's six and c2's one.
    expect(out.memory.map((m) => m.touch.event_id)).toEqual([e1, e2, c2, e3, e4, e5, e6].map((e) => e.event_id));
    const upd = Object.fromEntries(out.memory.map((m) => [m.touch.event_id, m.update]));
    expect(upd[e1.event_id]).toEqual({ before: null, after: 1, weight: 1, impact: null, atRisk: false, recoverable: false, experiences: 1 });
    expect(upd[c2.event_id]).toEqual({ before: null, after: 0.75, weight: 1, impact: null, atRisk: false, recoverable: false, experiences: 1 });
    // e2 0.49422 < 0.5 unanswered: at risk; e5 0.33051 but answered by a good one: not; e6 0.28297, unanswered since 28 h.
    expect(upd[e2.event_id]).toMatchObject({ atRisk: true, recoverable: true });
    expect(upd[e4.event_id]).toMatchObject({ weight: 2, atRisk: true, recoverable: true });
    expect(upd[e5.event_id]).toMatchObject({ atRisk: false });
    expect(upd[e6.event_id]).toMatchObject({ atRisk: true, recoverable: true, experiences: 6 });
    expect(upd[e6.event_id]?.after).toBeCloseTo(0.2830, 4);

    // Drops: WEB -> CALL_CENTRE (1 - 0 = 1), and DELIVERY -> DELIVERY (0.75 - 0 = 0.75) flagged not cross-channel.
    expect(out.drops.map((d) => [d.customerId, d.transition.from.event_id, d.transition.to.event_id, d.transition.crossChannel, d.transition.magnitude])).toEqual([
      ['c1', e1.event_id, e2.event_id, true, 1],
      ['c1', e5.event_id, e6.event_id, false, 0.75],
    ]);
    // Transitions by (from, to): WEB->CC 1 (starts good, drop); CC->CC 1; CC->DELIVERY 1; DELIVERY->DELIVERY 2 (e5->e6 starts good, drop).
    const trans = sumBy(out.transitionMinutes, (r) => `${r.from}>${r.to}`, (into, r) => plus(into, r.agg));
    expect(trans).toEqual({
      'WEB>CALL_CENTRE': { transitions: 1, startsGood: 1, drops: 1 },
      'CALL_CENTRE>CALL_CENTRE': { transitions: 1, startsGood: 0, drops: 0 },
      'CALL_CENTRE>DELIVERY': { transitions: 1, startsGood: 0, drops: 0 },
      'DELIVERY>DELIVERY': { transitions: 2, startsGood: 1, drops: 1 },
    });

    // Spiral: e2, e3, e4 on support_call, support_call, parcel_delivery opens at e4; e5 (good) closes it.
    expect(out.spirals.map((s) => [s.customerId, s.event.change, s.event.run.id, s.event.run.path, s.event.closedAt, s.event.closeReason])).toEqual([
      ['c1', 'opened', e2.event_id, ['support_call', 'support_call', 'parcel_delivery'], null, null],
      ['c1', 'closed', e2.event_id, ['support_call', 'support_call', 'parcel_delivery'], e5.t, 'recovered'],
    ]);

    // Cells summed over minutes. (SALES_MARKETING, WEB, checkout): events e1, visit, c2 = 3 (the late
    // c3 one is not counted); experiences 2, sum x 1 + 0.75 = 1.75, sum x^2 1 + 0.5625 = 1.5625,
    // good 2 (e1 top box, c2), impressed 1.
    const cells = sumBy(out.cellMinutes, (r) => `${r.cell.leg}/${r.cell.channel}/${r.cell.touchpoint}`, (into, r) => {
      const { leg: _l, channel: _c, touchpoint: _t, ...agg } = r.cell;
      plus(into, agg);
    });
    expect(cells).toEqual({
      'SALES_MARKETING/WEB/checkout': { events: 3, n: 2, sumX: 1.75, sumX2: 1.5625, bad: 0, good: 2, impressed: 1 },
      // e2 x 0, e3 x 0.25
      'OPERATIONS/CALL_CENTRE/support_call': { events: 2, n: 2, sumX: 0.25, sumX2: 0.0625, bad: 2, good: 0, impressed: 0 },
      // e4 x 0, e5 x 0.75, e6 x 0
      'OPERATIONS/DELIVERY/parcel_delivery': { events: 3, n: 3, sumX: 0.75, sumX2: 0.5625, bad: 2, good: 1, impressed: 0 },
    });
    // Those cells as one window with n_min 2: OPERATIONS S = (0.25 + 0.75)/5 = 0.2; cell means 0.125 (n 2)
    // and 0.25 (n 3) around 0.2: sigma^2 = (2*0.075^2 + 3*0.05^2)/5 = 0.00375, C = 1 - 2*0.061237 = 0.87753.
    const merged = Object.entries(cells).map(([key, agg]) => {
      const [leg, channel, touchpoint] = key.split('/') as [Leg, string, string];
      return { leg, channel, touchpoint, ...agg } as Cell;
    });
    const stool = measureStool(merged, 2, q.stoolThreshold);
    const ops = stool.legs.find((l) => l.leg === 'OPERATIONS');
    expect(ops?.score).toBeCloseTo(0.2, 10);
    expect(ops?.consistency).toBeCloseTo(1 - 2 * Math.sqrt(0.00375), 10);
    expect(stool.legs.find((l) => l.leg === 'SALES_MARKETING')?.score).toBeCloseTo(0.875, 10);

    // Journeys: j1 with 7 events (6 experiences and the visit), scored at e6 like c1's memory there;
    // weakest x 0 first at support_call; peak-end (1 + 0)/2 = 0.5.
    const journeys = [...out.journeys].map(([journey, customerId]) => ({ customerId, journey }));
    expect(journeys.map((j) => [j.customerId, j.journey.journeyId, j.journey.events, j.journey.experiences])).toEqual([
      ['c1', 'j1', 7, 6],
      ['c2', 'j2', 1, 1],
      ['c9', 'j9', 1, 0],
    ]);
    const j1 = summarizeJourney('c1', (journeys[0] as { journey: JourneyState }).journey, q);
    expect(j1.score).toBeCloseTo(memoryByDefinition([e1, e2, e3, e4, e5, e6] as ExperienceTouch[], e6.t, q), 10);
    expect(j1.weakest).toEqual({ x: 0, touchpoint: 'support_call', channel: 'CALL_CENTRE' });
    expect(j1.peakEnd).toBeCloseTo(0.5, 10);
  });
});

describe('simultaneous experiences: docs/metrics.md\'s worked example', () => {
  // h 30 d, r 7, m 2, H 7 d. 5 days ago: CSAT 4 (x 0.75, good, w 1). Now, one instant: checkout at a moment of
  // truth CSAT 1 (x 0, bad, w 2), delivery CSAT 5 (x 1, impressed, w 1), support CSAT 2 (x 0.25, bad, w 1).
  const now = T0 + 5 * DAY_MS;
  const old = experience({ t: T0, rating: csat(4), touchpoint: 'product_page', channel: 'WEB', department: 'Marketing' });
  const checkout = experience({ t: now, rating: csat(1), touchpoint: 'checkout', channel: 'WEB', department: 'Digital', mot: true });
  const delivery = experience({ t: now, rating: csat(5), touchpoint: 'parcel_delivery', channel: 'DELIVERY', department: 'Logistics' });
  const support = experience({ t: now, rating: csat(2), touchpoint: 'support_call', channel: 'CALL_CENTRE', department: 'Customer Service' });
  const run = (order: ExperienceTouch[]) => {
    const pm = new PartitionMetrics(p);
    const out = new MetricOutputs();
    [old, ...order].forEach((e, i) => pm.arrive(e, String(i), out));
    pm.flush(out, now + DAY_MS);
    return out;
  };

  it('gives every answer of the moment the memory before and after the whole moment, and splits the change exactly', () => {
    const out = run([checkout, delivery, support]);
    // d = 2^(-5/30) = 0.8909; W = 0.8909, M_before = 0.75.
    // M_after = (0.75 * 0.8909 + 2 * 0 + 1 * 1 + 1 * 0.25) / (0.8909 + 4) = 1.9182 / 4.8909 = 0.3922
    const d = 2 ** (-5 / 30);
    const after = (0.75 * d + 1.25) / (d + 4);
    expect(after).toBeCloseTo(0.3922, 4);
    const rows = out.memory.filter((m) => m.touch.t === now);
    expect(rows).toHaveLength(3);
    for (const { update } of rows) {
      expect(update.before).toBeCloseTo(0.75, 12);
      expect(update.after).toBeCloseTo(after, 12);
      expect(update.experiences).toBe(4);
      // A bad answer is not answered by the simultaneous impressed one; 0.3922 < 0.5: at risk, and 0 d old: recoverable.
      expect(update).toMatchObject({ atRisk: true, recoverable: true });
    }
    const byTouchpoint = Object.fromEntries(rows.map((r) => [r.touch.touchpoint, r.update]));
    expect(byTouchpoint.checkout?.weight).toBe(2);
    // Shares w_i (x_i - 0.75) / 4.8909: checkout -0.3067, delivery +0.0511, support -0.1022; their sum is the change.
    expect(byTouchpoint.checkout?.impact).toBeCloseTo(-0.3067, 4);
    expect(byTouchpoint.parcel_delivery?.impact).toBeCloseTo(0.0511, 4);
    expect(byTouchpoint.support_call?.impact).toBeCloseTo(-0.1022, 4);
    const impacts = rows.reduce((s, r) => s + (r.update.impact as number), 0);
    expect(impacts).toBeCloseTo(after - 0.75, 12);
    const dept = sumBy(out.departmentMinutes, (r) => r.department, (into, r) => plus(into, r.agg));
    expect(dept.Digital?.memoryImpact).toBeCloseTo(-0.3067, 4);
    expect(dept.Logistics?.memoryImpact).toBeCloseTo(0.0511, 4);
  });

  it('forms a transition from the previous moment to each answer and none between them; two drops, no spiral', () => {
    const out = run([checkout, delivery, support]);
    expect(out.drops.map((x) => [x.transition.from.event_id, x.transition.to.touchpoint]).sort()).toEqual([
      [old.event_id, 'checkout'], [old.event_id, 'support_call'],
    ]);
    const trans = sumBy(out.transitionMinutes, (r) => `${r.from}>${r.to}`, (into, r) => plus(into, r.agg));
    expect(trans).toEqual({
      'WEB>WEB': { transitions: 1, startsGood: 1, drops: 1 },
      'WEB>DELIVERY': { transitions: 1, startsGood: 1, drops: 0 },
      'WEB>CALL_CENTRE': { transitions: 1, startsGood: 1, drops: 1 },
    });
    expect(out.spirals).toEqual([]);
  });

  it('gives the same results in any order of the answers', () => {
    const strip = (out: MetricOutputs) => JSON.stringify({
      memory: out.memory.map((m) => [m.touch.touchpoint, m.update]).sort(),
      drops: out.drops.map((x) => [x.transition.to.touchpoint, x.transition.magnitude]).sort(),
      cells: out.cellMinutes.map((c) => JSON.stringify(c)).sort(),
      transitions: out.transitionMinutes.map((c) => JSON.stringify(c)).sort(),
      departments: out.departmentMinutes.map((c) => JSON.stringify(c)).sort(),
      journeys: [...out.journeys.keys()].map((j) => JSON.stringify(summarizeJourney('c1', j, p))).sort(),
    });
    const base = strip(run([checkout, delivery, support]));
    for (const order of [[support, delivery, checkout], [delivery, checkout, support], [delivery, support, checkout]]) expect(strip(run(order))).toBe(base);
  });

  it('makes three bad moments a spiral, not three bad answers of one moment', () => {
    const bads = (t: number) => ['checkout', 'support_call', 'parcel_delivery'].map((tp) => experience({ t, rating: csat(1), touchpoint: tp, customer: 'c9' }));
    const oneMoment = new PartitionMetrics(p);
    const out1 = new MetricOutputs();
    bads(T0).forEach((e, i) => oneMoment.arrive(e, String(i), out1));
    oneMoment.flush(out1, T0 + DAY_MS);
    expect(out1.spirals).toEqual([]);
    expect(out1.drops).toEqual([]);

    const three = new PartitionMetrics(p);
    const out3 = new MetricOutputs();
    [...bads(T0), ...bads(T0 + HOUR_MS), ...bads(T0 + 2 * HOUR_MS)].forEach((e, i) => three.arrive(e, String(i), out3));
    three.flush(out3, T0 + DAY_MS);
    expect(out3.spirals.map((s) => [s.event.change, s.event.run.steps, s.event.run.path.length])).toEqual([['opened', 3, 9]]);
    // Within a moment the path is in touchpoint order, whatever the arrival order.
    expect(out3.spirals[0]?.event.run.path.slice(0, 3)).toEqual(['checkout', 'parcel_delivery', 'support_call']);
  });
});

describe('memory after hundreds of half-lives (a short calibrated h and a long silence)', () => {
  // h = 1 h, r = 1: 60 days of silence are 1,440 half-lives, and 2^-1440 is below the smallest double: the sums
  // would underflow to 0 and the memory before the next experience would be lost (null, a "first" experience).
  const q: MetricParams = { ...p, halfLifeMs: HOUR_MS, badFactor: 1 };
  it('keeps the memory before the next experience, and the change of memory, as the formula has them', () => {
    const a = experience({ t: T0, rating: csat(4) }); // x 0.75
    const b = experience({ t: T0 + 60 * DAY_MS, rating: csat(2) }); // x 0.25
    const first = experienceMemory(undefined, a, q);
    expect(memoryAt(first.state, T0 + 60 * DAY_MS, q)).toBe(0.75); // r = 1: both fade alike, M stays 0.75
    const second = experienceMemory(first.state, b, q);
    // M_before = 0.75 (the ratio does not decay). W_before = 2^-1440 ~ 0 beside w = 1, so M_after = 0.25 and the
    // impact is 1 * (0.25 - 0.75) / (0 + 1) = -0.5.
    expect(second.out.before).toBe(0.75);
    expect(second.out.after).toBe(0.25);
    expect(second.out.impact).toBe(-0.5);
    expect(second.out.experiences).toBe(2);
  });
});

describe('a checkpoint remembers the calibration its memory was built with', () => {
  const calibrated = withCalibration(p, { id: 'cal-test', touchpointWeights: { checkout: 3 }, badWeight: 0.5, halfLifeDays: 30, badFactor: 7 });
  it('flags a restore under other weights, and not one under the same', () => {
    const pm = new PartitionMetrics(p);
    const out = new MetricOutputs();
    pm.arrive(experience({ t: T0, rating: csat(2) }), '0', out);
    pm.flush(out);
    const cp = pm.checkpoint();
    expect(JSON.parse(cp.meta).calibrationId).toBe('');
    const same = new PartitionMetrics(p, { meta: cp.meta, customers: cp.customers });
    expect(same.calibrationChangedFrom).toBeUndefined();
    const other = new PartitionMetrics(calibrated, { meta: cp.meta, customers: cp.customers });
    expect(other.calibrationChangedFrom).toBe('');
    // From then on the checkpoint says the new weights: the next restore under them is not flagged again.
    const again = new PartitionMetrics(calibrated, { meta: other.checkpoint().meta, customers: [] });
    expect(again.calibrationChangedFrom).toBeUndefined();
  });
});
