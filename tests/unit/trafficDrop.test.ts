/**
 * Silence and traffic drops (processors/folds/trafficDrop.ts) on seeded synthetic
 * visit counts: a stationary stream with and without a daily rhythm raises nothing;
 * a silence at a busy hour is found in its first minutes and dated; a silence at night
 * is not mistaken for one too soon; a channel's silence is one alert, not one per
 * touchpoint.
 */
import { describe, expect, it } from 'vitest';
import type { AlertChange } from '../../processors/folds/alertLifecycle.ts';
import { emptyTraffic, TRAFFIC_REFERENCE, trafficDrop, trafficStep, type TrafficMinute, type TrafficParams, type TrafficState } from '../../processors/folds/trafficDrop.ts';
import { seededRandom } from '../../producers/random.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 2, 0, 0);
const P: TrafficParams = { threshold: 14, halfLifeMs: 24 * 3_600_000, resolveMinutes: 10, updateMinutes: 15 };

/** Poisson(λ) by inversion, from a seeded stream. */
function poisson(random: () => number, lambda: number): number {
  let k = 0;
  let p = Math.exp(-lambda);
  let cdf = p;
  const u = random();
  while (u > cdf && k < 10_000) {
    k++;
    p *= lambda / k;
    cdf += p;
  }
  return k;
}

/** A day's rhythm: a floor at night, a peak at 14:00 (1 at the peak). */
const rhythm = (minute: number) => {
  const hour = ((minute - T0) / 3_600_000) % 24;
  return 0.1 + 0.9 * Math.max(0, Math.sin((Math.PI * (hour - 6)) / 16));
};

interface Run {
  days: number;
  /** Visits a minute at the peak, per touchpoint. */
  peak: number[];
  withRhythm?: boolean;
  /** [from, to) minutes from T0 when the given touchpoints (indexes) or the whole channel (-1) send nothing. */
  silences?: { from: number; to: number; which: number }[];
  /** Minutes from T0 to start at (the stream is the same whatever the start: one seeded stream per minute). */
  fromMinute?: number;
}

function run(r: Run, seed: number, state: TrafficState = emptyTraffic()): AlertChange[] {
  console.log(`traffic run seed ${seed}: ${JSON.stringify(r)}`);
  const out: AlertChange[] = [];
  for (let i = r.fromMinute ?? 0; i < r.days * 24 * 60; i++) {
    const minute = T0 + i * MIN;
    const random = seededRandom(seed * 1_000_003 + i);
    const touchpoints: TrafficMinute[] = r.peak.map((peak, k) => {
      const silent = (r.silences ?? []).some((s) => i >= s.from && i < s.to && (s.which === -1 || s.which === k));
      const events = poisson(random, peak * (r.withRhythm === false ? 1 : rhythm(minute)));
      return { channel: 'WEB', touchpoint: `tp${k}`, leg: 'OPERATIONS', events: silent ? 0 : events };
    }).filter((t) => t.events > 0);
    out.push(...trafficDrop(state, { minute, touchpoints }, P).out);
  }
  return out;
}

const opened = (out: AlertChange[]) => out.filter((c) => c.status === 'OPENED');

describe('traffic drop detector', () => {
  it('weighs a minute by its Poisson log-likelihood ratio, a quarter of λ0 against λ0', () => {
    // λ0 = 20, x = 0: 20·(1 - 0.25) = 15. x = 10: 15 + 10·ln 0.25 = 15 - 13.863 = 1.137.
    expect(trafficStep(20, 0)).toBeCloseTo(15, 10);
    expect(trafficStep(20, 10)).toBeCloseTo(1.137, 3);
    // No drift at (1 - 0.25) / ln 4 = 54.1% of λ0.
    expect(TRAFFIC_REFERENCE).toBeCloseTo(0.541, 3);
    expect(trafficStep(20, 20 * TRAFFIC_REFERENCE)).toBeCloseTo(0, 10);
  });

  it('raises nothing on five days with a daily rhythm (busy, middling and quiet touchpoints), nor on five flat days', () => {
    expect(run({ days: 5, peak: [40, 5, 0.5] }, 11)).toEqual([]);
    expect(run({ days: 5, peak: [40, 5, 0.5], withRhythm: false }, 12)).toEqual([]);
  });

  it('finds a whole channel falling silent at a busy hour within 2 minutes, dated from its first silent minute, as one channel alert', () => {
    // Day 3, 13:00 to 13:40: nothing from any touchpoint.
    const from = 2 * 1440 + 13 * 60;
    const out = run({ days: 3, peak: [40, 5, 0.5], silences: [{ from, to: from + 40, which: -1 }] }, 13);
    const o = opened(out);
    expect(o).toHaveLength(1);
    expect(o[0]?.touchpoint).toBeNull();
    expect(o[0]?.kind).toBe('TRAFFIC_DROP');
    expect(o[0]?.startedAt).toBe(T0 + from * MIN);
    expect((o[0]?.detectedAt as number) - (T0 + from * MIN)).toBeLessThanOrEqual(2 * MIN);
    expect(o[0]?.severity).toBe('CRITICAL');
    // Traffic back at 13:40. It resolves when the last 10 minutes together carry 54% of the visits expected:
    // 6 minutes of traffic and 4 silent ones at the earliest, so at the end of minute from + 45, or a little later.
    const resolved = out.find((c) => c.status === 'RESOLVED');
    expect(resolved?.resolvedAt).toBeGreaterThanOrEqual(T0 + (from + 46) * MIN);
    expect(resolved?.resolvedAt).toBeLessThanOrEqual(T0 + (from + 50) * MIN);
  });

  it('finds one touchpoint silent while the rest of its channel sends, on day one (no learned rhythm yet) and day two', () => {
    const day1 = 11 * 60;
    const day2 = 1440 + 15 * 60;
    const o = opened(run({ days: 2, peak: [40, 5, 0.5], silences: [{ from: day1, to: day1 + 30, which: 1 }, { from: day2, to: day2 + 60, which: 1 }] }, 14));
    expect(o.map((c) => c.touchpoint)).toEqual(['tp1', 'tp1']);
    // tp1 expects about 4.5 a minute then; h / (0.75·λ0) is about 4 silent minutes, more with the lower bound.
    expect((o[0]?.detectedAt as number) - (T0 + day1 * MIN)).toBeLessThanOrEqual(8 * MIN);
    expect((o[1]?.detectedAt as number) - (T0 + day2 * MIN)).toBeLessThanOrEqual(8 * MIN);
    expect(o[1]?.startedAt).toBe(T0 + day2 * MIN);
  });

  it('says a silence of the touchpoint that carries most of its channel once, as the channel\'s', () => {
    const day1 = 11 * 60;
    const o = opened(run({ days: 1, peak: [40, 5, 0.5], silences: [{ from: day1, to: day1 + 30, which: 0 }] }, 17));
    expect(o.map((c) => [c.channel, c.touchpoint])).toEqual([['WEB', null]]);
  });

  it('does not take a quiet night touchpoint\'s 40 silent minutes for an outage, but does a whole night', () => {
    // tp2 at night expects 0.05 a minute: 40 minutes without a visit happen (e^-2 = 14%).
    const night = 1440 + 1 * 60;
    expect(opened(run({ days: 2, peak: [40, 5, 0.5], silences: [{ from: night, to: night + 40, which: 2 }] }, 15))).toEqual([]);
    // tp1 at night expects about 0.5 a minute: five hours of nothing is found (and it is the only alert).
    const o = opened(run({ days: 2, peak: [40, 5, 0.5], silences: [{ from: night, to: night + 300, which: 1 }] }, 15));
    expect(o.map((c) => c.touchpoint)).toEqual(['tp1']);
  });

  it('gives the same changes from a state saved mid-silence and restored', () => {
    const from = 2 * 1440 + 13 * 60;
    const r: Run = { days: 3, peak: [40, 5], silences: [{ from, to: from + 40, which: -1 }] };
    const whole = run(r, 16);
    expect(opened(whole)).toHaveLength(1);
    const state = emptyTraffic();
    const first = run({ ...r, days: (from + 20) / 1440 }, 16, state);
    const restored = JSON.parse(JSON.stringify(state)) as TrafficState;
    const second = run({ ...r, fromMinute: from + 20 }, 16, restored);
    expect([...first, ...second]).toEqual(whole);
  });
});
