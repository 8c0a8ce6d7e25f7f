import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { experienceOf } from '../../processors/experience.ts';
import { CATALOGUE } from '../../producers/simulator/catalogue.ts';
import { parseDuration, readScenario, validateScenario, type Scenario } from '../../producers/simulator/scenario.ts';
import { badRateAt, groundTruth, journeyOutcome, MOT_OUTCOME_WEIGHT, simulate, type SimEvent } from '../../producers/simulator/simulate.ts';
import type { TouchpointEvent } from '../../schemas/contracts.ts';
import { touchpointEventSchema, outcomeEventSchema } from '../../schemas/contracts.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/scenarios/', import.meta.url));
const H = 3_600_000;

function scenario(raw: object): Scenario {
  return validateScenario({ start: '2026-11-02T00:00:00Z', duration: '8h', rate: 12, customers: 20_000, contagion: 0, dailyRhythm: false, ...raw });
}

function touchpoints(s: Scenario): TouchpointEvent[] {
  return [...simulate({ scenario: s })].flatMap((e: SimEvent) => (e.kind === 'touchpoint' ? [e.event] : []));
}

/** Share of visits that were bad experiences, for the events `pick` selects. */
function badRate(events: TouchpointEvent[], pick: (e: TouchpointEvent) => boolean): { rate: number; n: number } {
  const chosen = events.filter(pick);
  const bad = chosen.filter((e) => experienceOf(e)?.cls === 'bad').length;
  return { rate: bad / chosen.length, n: chosen.length };
}

const within = (s: Scenario, from: number, to: number) => (e: TouchpointEvent) => e.occurred_at >= s.start + from && e.occurred_at < s.start + to;

describe('journey simulator', () => {
  it('is deterministic: same scenario and seed, same events; another seed, other events', () => {
    const s = scenario({ duration: '20m' });
    const a = [...simulate({ scenario: s })];
    // 12 visits/s for 20 min is 14,400 on average (Poisson, sd 120), plus outcomes.
    expect(Math.abs(a.filter((e) => e.kind === 'touchpoint').length - 14_400)).toBeLessThan(500);
    expect([...simulate({ scenario: s })]).toEqual(a);
    expect([...simulate({ scenario: { ...s, seed: 2 } })].slice(0, 100)).not.toEqual(a.slice(0, 100));
  });

  it('emits valid events, in event-time order, on every leg and stage, with journeys and outcomes', () => {
    const all = [...simulate({ scenario: scenario({ duration: '1h' }) })];
    for (const e of all) expect((e.kind === 'touchpoint' ? touchpointEventSchema : outcomeEventSchema).safeParse(e.event).success).toBe(true);
    all.slice(1).forEach((e, i) => expect(e.event.occurred_at).toBeGreaterThanOrEqual((all[i] as SimEvent).event.occurred_at));
    const tps = all.flatMap((e) => (e.kind === 'touchpoint' ? [e.event] : []));
    expect(new Set(tps.map((e) => e.leg)).size).toBe(3);
    expect(new Set(tps.map((e) => e.stage)).size).toBe(4);
    expect(new Set(tps.map((e) => e.rating?.scale).filter(Boolean))).toEqual(new Set(['CSAT_5', 'STARS_5', 'NPS_11', 'CES_7', 'BINARY', 'SCORE_100']));
    expect(new Set(tps.filter((e) => !e.rating).map((e) => e.outcome))).toEqual(new Set(['OK', 'FAILED', 'ABANDONED', 'ESCALATED']));
    const kinds = new Set(all.flatMap((e) => (e.kind === 'outcome' ? [e.event.kind] : [])));
    expect(kinds).toEqual(new Set(['CHURNED', 'COMPLAINED', 'REPURCHASED']));
  });

  it('makes a step visible: the touchpoint\'s bad rate sits at the scenario\'s level during the incident', () => {
    const s = scenario({ incidents: [{ kind: 'step', touchpoint: 'checkout', start: '3h', end: '5h', level: 0.3 }] });
    const events = touchpoints(s);
    const during = badRate(events, (e) => e.touchpoint === 'checkout' && within(s, 3 * H, 5 * H)(e));
    const before = badRate(events, (e) => e.touchpoint === 'checkout' && within(s, 0, 3 * H)(e));
    // Purchase is one visit in about four, checkout 4/9 of purchase weight: ~8,600 visits in 2 h at 12/s; binomial sd ~0.005.
    expect(during.n).toBeGreaterThan(5000);
    expect(during.rate).toBeCloseTo(0.3, 1);
    expect(Math.abs(during.rate - 0.3)).toBeLessThan(0.03);
    expect(Math.abs(before.rate - 0.08)).toBeLessThan(0.02); // its profile's bad share
  });

  it('makes a drift, an outage and a leg incident visible', () => {
    const s = scenario({
      incidents: [
        { kind: 'drift', touchpoint: 'parcel_delivery', start: '2h', end: '6h', level: 0.5 },
        { kind: 'outage', channel: 'CHAT', start: '1h', end: '1h30m' },
        { kind: 'leg', leg: 'PRODUCT', start: '6h', end: '8h', level: 0.4 },
      ],
    });
    const events = touchpoints(s);
    // Drift from 0.10 to 0.50 over 4 h: the first hour averages 0.15, the last 0.45.
    const early = badRate(events, (e) => e.touchpoint === 'parcel_delivery' && within(s, 2 * H, 3 * H)(e));
    const late = badRate(events, (e) => e.touchpoint === 'parcel_delivery' && within(s, 5 * H, 6 * H)(e));
    expect(Math.abs(early.rate - 0.15)).toBeLessThan(0.04);
    expect(Math.abs(late.rate - 0.45)).toBeLessThan(0.04);
    const outage = events.filter((e) => e.channel === 'CHAT' && within(s, H, 1.5 * H)(e));
    expect(outage.length).toBeGreaterThan(100);
    expect(outage.every((e) => e.outcome === 'FAILED' && e.rating === null)).toBe(true);
    // The rarest product touchpoint (price_check) gets ~2,000 visits in 2 h: sd of its rate ~0.011.
    for (const tp of CATALOGUE.filter((t) => t.leg === 'PRODUCT')) {
      const r = badRate(events, (e) => e.touchpoint === tp.touchpoint && within(s, 6 * H, 8 * H)(e));
      expect(Math.abs(r.rate - 0.4), tp.touchpoint).toBeLessThan(0.05);
    }
  });

  it('carries history: after a bad experience the next one is likelier to be bad', () => {
    const s = scenario({ duration: '8h', contagion: 0.3, customers: 2000 });
    const last = new Map<string, boolean>();
    let afterBad = 0, afterBadBad = 0, afterGood = 0, afterGoodBad = 0;
    for (const e of touchpoints(s)) {
      const x = experienceOf(e);
      if (!x) continue;
      const bad = x.cls === 'bad';
      const prev = last.get(e.customer_id);
      if (prev === true) { afterBad++; if (bad) afterBadBad++; }
      if (prev === false) { afterGood++; if (bad) afterGoodBad++; }
      last.set(e.customer_id, bad);
    }
    expect(afterBad).toBeGreaterThan(1000);
    expect(afterBadBad / afterBad).toBeGreaterThan(afterGoodBad / afterGood + 0.1);
  });

  it('lets the worst incident win where several apply, whatever their order', () => {
    const step = { kind: 'step', touchpoint: 'product_use', start: '0s', end: '1h', level: 0.2 };
    const leg = { kind: 'leg', leg: 'PRODUCT', start: '0s', end: '1h', level: 0.5 };
    const tp = CATALOGUE.find((t) => t.touchpoint === 'product_use') as (typeof CATALOGUE)[number];
    const at = (incidents: object[]) => badRateAt(tp, scenario({ incidents }).incidents, 0, 1000).rate;
    expect(at([step, leg])).toBe(0.5);
    expect(at([leg, step])).toBe(0.5);
  });

  it('never reuses an id: across runs, or for a customer who churned', () => {
    const a = [...simulate({ scenario: scenario({ duration: '30m' }) })].map((e) => e.event.event_id);
    const b = [...simulate({ scenario: scenario({ duration: '30m', start: '2026-11-03T00:00:00Z' }) })].map((e) => e.event.event_id);
    expect(new Set(a).size).toBe(a.length);
    const inB = new Set(b);
    expect(a.filter((id) => inB.has(id))).toEqual([]);

    const events = [...simulate({ scenario: scenario({ duration: '1d', rate: 3, customers: 300 }) })];
    const churnedAt = new Map(events.flatMap((e) => (e.kind === 'outcome' && e.event.kind === 'CHURNED' ? [[e.event.customer_id, e.event.occurred_at] as const] : [])));
    expect(churnedAt.size).toBeGreaterThan(50);
    const after = events.filter((e) => e.kind === 'touchpoint' && (churnedAt.get(e.event.customer_id) ?? Infinity) < e.event.occurred_at);
    expect(after).toEqual([]);
  });

  it('drives outcomes by experience: journeys with more bad experiences churn and complain more', () => {
    const outcomes = [...simulate({ scenario: scenario({ duration: '8h', customers: 3000 }) })].flatMap((e) => (e.kind === 'outcome' ? [e.event] : []));
    const share = (pick: (badShare: number) => boolean, kind: string) => {
      const group = outcomes.filter((o) => pick(Number(o.attributes.bad_share)));
      return group.filter((o) => o.kind === kind).length / group.length;
    };
    // Among journeys that ended with an outcome: churn odds rise by 0.35 per unit of bad share;
    // complaints follow the felt value, which bad experiences pull down (journeyOutcome).
    expect(share((b) => b >= 0.5, 'CHURNED')).toBeGreaterThan(share((b) => b === 0, 'CHURNED') + 0.15);
    expect(share((b) => b >= 0.5, 'COMPLAINED')).toBeGreaterThan(share((b) => b === 0, 'COMPLAINED') + 0.15);
    expect(share((b) => b === 0, 'REPURCHASED')).toBeGreaterThan(share((b) => b >= 0.5, 'REPURCHASED') + 0.3);
  });

  it('keeps churn and the chance of any outcome as they were, so the touchpoint events stay the same', () => {
    // The model before the felt value came in (the one draw u decided all of it):
    const before = (badShare: number, badAtMot: boolean, u: number) => {
      const pChurn = 0.02 + 0.35 * badShare + (badAtMot ? 0.08 : 0);
      const pComplain = 0.02 + 0.45 * badShare;
      const pRepurchase = 0.55 * (1 - badShare);
      return u < pChurn ? 'CHURNED' : u < pChurn + pComplain + pRepurchase ? 'some' : null;
    };
    for (const [experiences, bad] of [[0, 0], [3, 0], [3, 1], [4, 2], [2, 2], [7, 3]] as const) {
      for (const badAtMomentOfTruth of [false, true]) {
        for (const felt of [0, 0.3, 0.55, 1]) {
          for (let k = 0; k <= 1000; k++) {
            const u = k / 1000 - 1e-9 * (k % 2);
            const kind = journeyOutcome({ experiences, bad, badAtMomentOfTruth, feltX: felt, feltW: 1 }, u);
            const was = before(experiences ? bad / experiences : 0, badAtMomentOfTruth, u);
            expect(kind === 'CHURNED' ? 'CHURNED' : kind === null ? null : 'some', `${experiences}/${bad} ${badAtMomentOfTruth} ${felt} u=${u}`).toBe(was);
          }
        }
      }
    }
  });

  it('makes moments of truth decisive: a complaint or a repurchase follows the felt value, a moment of truth weighing 4', () => {
    expect(MOT_OUTCOME_WEIGHT).toBe(4);
    // Outside churn (no bad share here: pChurn 0.02, any outcome below 0.59), the share of the
    // span that is COMPLAINED is σ(12·(0.55 - v)).
    const complaintShare = (feltX: number, feltW: number) => {
      let complained = 0;
      const n = 100_000;
      for (let k = 0; k < n; k++) {
        const u = 0.02 + ((k + 0.5) / n) * 0.57;
        if (journeyOutcome({ experiences: 0, bad: 0, badAtMomentOfTruth: false, feltX, feltW }, u) === 'COMPLAINED') complained++;
      }
      return complained / n;
    };
    // A bad experience (x = 0) at a moment of truth and three good ones (x = 0.75) elsewhere:
    // v = (4·0 + 3·0.75) / (4 + 3) = 0.3214, σ(12·0.2286) = σ(2.743) = 0.9395.
    expect(complaintShare(3 * 0.75, 7)).toBeCloseTo(0.9395, 3);
    // The same four, the bad one elsewhere and one good one at the moment of truth:
    // v = (0 + 2·0.75 + 4·0.75) / (1 + 2 + 4) = 0.6429, σ(12·(-0.0929)) = σ(-1.114) = 0.2471.
    expect(complaintShare(4.5, 7)).toBeCloseTo(0.2471, 3);
    // No experience yet: v = 0.7, σ(-1.8) = 0.1419.
    expect(complaintShare(0, 0)).toBeCloseTo(0.1419, 3);
  });

  it('follows a daily rhythm: the afternoon is busier than the night', () => {
    const s = validateScenario({ start: '2026-11-02T00:00:00Z', duration: '1d', rate: 5, customers: 1000 });
    const hourOf = (e: SimEvent) => new Date(e.event.occurred_at).getUTCHours();
    const all = [...simulate({ scenario: s })];
    const night = all.filter((e) => hourOf(e) < 5).length / 5;
    const afternoon = all.filter((e) => hourOf(e) >= 13 && hourOf(e) < 16).length / 3;
    expect(afternoon).toBeGreaterThan(4 * night);
    // The rate is the mean over a day: 5/s for 86,400 s is 432,000 visits, give or take.
    const visits = all.filter((e) => e.kind === 'touchpoint').length;
    // Poisson sd is about 660 visits (0.15 %); 1 % is more than six of them.
    expect(Math.abs(visits / 432_000 - 1)).toBeLessThan(0.01);
  });

  it('loses the events of a silence and nothing else: every other event is the one the same run without it makes', () => {
    const plain = scenario({ duration: '2h', rate: 5 });
    const silent = { ...plain, incidents: [{ kind: 'silence' as const, channel: 'APP' as const, start: 30 * 60_000, end: 60 * 60_000 }, { kind: 'silence' as const, touchpoint: 'billing', start: 0, end: 2 * H }] };
    const all = [...simulate({ scenario: plain })].flatMap((e) => (e.kind === 'touchpoint' ? [e.event] : []));
    const kept = [...simulate({ scenario: silent })].flatMap((e) => (e.kind === 'touchpoint' ? [e.event] : []));
    const lost = (e: (typeof all)[number]) => e.touchpoint === 'billing' || (e.channel === 'APP' && e.occurred_at >= plain.start + 30 * 60_000 && e.occurred_at < plain.start + 60 * 60_000);
    expect(all.filter(lost).length).toBeGreaterThan(50);
    // Compared as digests: a diff of two arrays this long would not fit in a test worker's heap.
    const digest = (es: typeof all) => createHash('sha256').update(JSON.stringify(es)).digest('hex');
    expect(kept.length).toBe(all.filter((e) => !lost(e)).length);
    expect(digest(kept)).toBe(digest(all.filter((e) => !lost(e))));
    expect(groundTruth(silent).incidents.map((i) => [i.kind, 'channel' in i ? i.channel : 'touchpoint' in i ? i.touchpoint : null, i.touchpoints.length])).toEqual([['silence', 'APP', 2], ['silence', 'billing', 1]]);
    expect(() => validateScenario({ incidents: [{ kind: 'silence', channel: 'APP', touchpoint: 'billing', start: '1h', end: '2h' }] })).toThrow(/either a channel or a touchpoint/);
  });

  it('writes the ground truth of every incident with absolute times, and only of what ran', () => {
    const s = scenario({ incidents: [{ kind: 'step', touchpoint: 'support_call', start: '90m', end: '2h', level: 0.5 }] });
    expect(groundTruth({ ...s, duration: H }).incidents).toEqual([]);
    expect(groundTruth({ ...s, duration: 1.75 * H }).incidents[0]).toMatchObject({ end: '2026-11-02T01:45:00.000Z', cut_at_scenario_end: true });
    expect(groundTruth(s).incidents).toEqual([
      {
        id: 'baseline-1', kind: 'step', touchpoint: 'support_call', magnitude: 0.5,
        start: '2026-11-02T01:30:00.000Z', end: '2026-11-02T02:00:00.000Z',
        touchpoints: [{ channel: 'CALL_CENTRE', touchpoint: 'support_call', leg: 'OPERATIONS', baseline_bad_rate: 0.12 }],
      },
    ]);
  });
});

describe('scenario files', () => {
  it('reads durations in several forms', () => {
    expect([parseDuration('90s'), parseDuration('4h30m'), parseDuration('7d'), parseDuration(30), parseDuration('soon')]).toEqual([90_000, 16_200_000, 604_800_000, 30_000, Number.NaN]);
  });

  it('accepts every example scenario', () => {
    const files = readdirSync(EXAMPLES).filter((f) => /\.(ya?ml|json)$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) expect(() => readScenario(join(EXAMPLES, f)), f).not.toThrow();
  });

  it('names the file and the path of each bad field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cx-scenario-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, ['name: broken', 'rate: -3', 'incidents:', '  - kind: step', '    touchpoint: teleport', '    start: 1h', '    end: 30m', '    level: 1.5', '  - kind: flood', ''].join('\n'));
    expect(() => readScenario(file)).toThrow(
      [
        `${file} is not a valid scenario:`,
        '  rate: expected events per second, more than 0',
        `  incidents.0.touchpoint: expected one of the simulated touchpoints: ${[...new Set(CATALOGUE.map((t) => t.touchpoint))].join(', ')}`,
        '  incidents.0.level: expected a number from 0 to 1',
        '  incidents.0.end: end must come after start',
        '  incidents.1.kind: expected kind: step, drift, outage, leg or silence',
      ].join('\n'),
    );
    writeFileSync(file, ['duration: 2h', 'incidents:', '  - {kind: outage, channel: CHAT, start: 3h, end: 4h}', ''].join('\n'));
    expect(() => readScenario(file)).toThrow('incidents.0.start: starts after the scenario ends (see duration)');
    writeFileSync(file, 'name: broken\n');
    expect(() => readScenario(file)).not.toThrow();
    writeFileSync(file, 'name: [unclosed\n');
    expect(() => readScenario(file)).toThrow(new RegExp(`^${file}:\\d+:\\d+: not valid YAML or JSON`));
  });
});
