/**
 * Properties of the metric folds over whole partitions (PartitionMetrics): the results
 * depend only on each customer's events, not on how customers interleave, on
 * reordering within the allowed lateness, on how the messages are chunked, or on a
 * checkpoint and restore in between; and the measures stay within their ranges.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHANNEL_SYMBOLS, LEG_SYMBOLS, type Outcome, type Rating, type TouchpointEvent } from '../../schemas/contracts.ts';
import { DEFAULT_PARAMS, HOUR_MS, type MetricParams } from '../../processors/params.ts';
import { byEventTime, touchOf, type ExperienceTouch, type Touch } from '../../processors/touch.ts';
import { cellKey, measureLeg, measureStool, mergeInto, stoolWindow, type Cell, type CellAggregate, type StoolMeasure, type StoolWindowState } from '../../processors/folds/legConsistency.ts';
import { summarizeJourney } from '../../processors/folds/journey.ts';
import { MetricOutputs, PartitionMetrics } from '../../processors/partitionMetrics.ts';

const T0 = Date.UTC(2026, 0, 5);

/** Two parameter sets: the defaults (H 7 d: over a few days nothing expires), and a short horizon
 * (H 6 h, h 12 h) so that over a few days spirals close by silence, journeys restart and silent
 * customers are compacted. Both with a 60 s lateness. */
const PARAM_SETS: [string, MetricParams][] = [
  ['defaults', { ...DEFAULT_PARAMS, latenessMs: 60_000 }],
  ['short horizon', { ...DEFAULT_PARAMS, horizonMs: 6 * HOUR_MS, halfLifeMs: 12 * HOUR_MS, nMin: 2, latenessMs: 60_000 }],
];

const ratingArb: fc.Arbitrary<Rating | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 5 }).map((value): Rating => ({ scale: 'CSAT_5', value })), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 10 }).map((value): Rating => ({ scale: 'NPS_11', value })), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 7 }).map((value): Rating => ({ scale: 'CES_7', value })), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 1 }).map((value): Rating => ({ scale: 'BINARY', value })), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 1000 }).map((value): Rating => ({ scale: 'SCORE_100', value: value / 10 })), weight: 1 },
);

/**
 * An event without its id. Times fall in bursts: one of 24 slots 3 hours apart (3 days), then
 * 0 to 90 s into it in steps of 15 s, so that events often lie within the lateness of each
 * other and often share a timestamp.
 */
const eventArb = fc.record({
  customer: fc.constantFrom('c0', 'c1', 'c2'),
  journey: fc.constantFrom('j0', 'j1'),
  channel: fc.constantFrom<(typeof CHANNEL_SYMBOLS)[number]>('WEB', 'APP', 'CALL_CENTRE', 'DELIVERY'),
  touchpoint: fc.constantFrom('checkout', 'support_call', 'parcel_delivery', 'app_login'),
  leg: fc.constantFrom(...LEG_SYMBOLS),
  department: fc.constantFrom('Sales', 'Support', 'Logistics'),
  mot: fc.boolean(),
  rating: ratingArb,
  outcome: fc.constantFrom<Outcome>('OK', 'OK', 'FAILED', 'ABANDONED', 'ESCALATED'),
  slot: fc.integer({ min: 0, max: 23 }),
  second: fc.integer({ min: 0, max: 6 }).map((k) => 15 * k),
});

/** Events in event-time order (ties by id): the order a partition releases them in. Ids are random to the time order. */
const eventsArb = fc.array(eventArb, { minLength: 1, maxLength: 60, size: 'max' }).chain((raw) =>
  fc.shuffledSubarray([...raw.keys()], { minLength: raw.length, maxLength: raw.length }).map((idOrder) =>
    raw
      .map((r, i): Touch => {
        const e: TouchpointEvent = {
          event_id: `ev-${String(idOrder[i]).padStart(3, '0')}`, occurred_at: T0 + r.slot * 3 * HOUR_MS + r.second * 1000,
          customer_id: r.customer, journey_id: r.journey, channel: r.channel, touchpoint: r.touchpoint, leg: r.leg, stage: 'PURCHASE',
          department: r.department, moment_of_truth: r.mot, rating: r.rating, outcome: r.outcome, attributes: {},
        };
        return touchOf(e);
      })
      .sort(byEventTime),
  ),
);

/**
 * An arrival order: each event arrives at key = t + jitter, jitter in [0, lateness). Every earlier
 * arrival then has t <= key < t_e + lateness, so the watermark (max t - lateness) stays below
 * t_e: nothing is late. With `keepCustomerOrder`, a customer's keys never decrease, so each
 * customer's own events arrive in order and only customers interleave differently.
 */
function arrivalOrder(sorted: Touch[], jitter: number[], latenessMs: number, keepCustomerOrder: boolean): Touch[] {
  const last = new Map<string, number>();
  const keyed = sorted.map((e, i) => {
    let key = e.t + ((jitter[i] ?? 0) % latenessMs);
    if (keepCustomerOrder) {
      key = Math.max(key, last.get(e.customer_id) ?? -Infinity);
      last.set(e.customer_id, key);
    }
    return { e, key, i };
  });
  return keyed.sort((a, b) => a.key - b.key || a.i - b.i).map((k) => k.e);
}

const jitterArb = fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 60, maxLength: 60 });

/** Results as rows, taken as soon as a call returns (journeys are live objects), order-free. */
class Results {
  cellMinutes: string[] = [];
  transitionMinutes: string[] = [];
  departmentMinutes: string[] = [];
  drops: string[] = [];
  spirals: string[] = [];
  memory: string[] = [];
  late: string[] = [];
  released = 0;
  journeys = new Map<string, string>();

  take(out: MetricOutputs): this {
    this.cellMinutes.push(...out.cellMinutes.map((r) => JSON.stringify(r)));
    this.transitionMinutes.push(...out.transitionMinutes.map((r) => JSON.stringify(r)));
    this.departmentMinutes.push(...out.departmentMinutes.map((r) => JSON.stringify(r)));
    this.drops.push(...out.drops.map(({ customerId, transition: { to, ...rest } }) => JSON.stringify({ customerId, to: to.event_id, ...rest })));
    this.spirals.push(...out.spirals.map((s) => JSON.stringify(s)));
    this.memory.push(...out.memory.map(({ touch, update }) => JSON.stringify({ id: touch.event_id, update })));
    this.late.push(...out.late.map((l) => l.pending.touch.event_id));
    this.released += out.released;
    for (const [j, customerId] of out.journeys) this.journeys.set(`${customerId}\u0000${j.journeyId}\u0000${j.startedAt}`, JSON.stringify({ customerId, journey: j }));
    return this;
  }

  normal() {
    const sorted = (xs: string[]) => [...xs].sort();
    return {
      cellMinutes: sorted(this.cellMinutes), transitionMinutes: sorted(this.transitionMinutes), departmentMinutes: sorted(this.departmentMinutes),
      drops: sorted(this.drops), spirals: sorted(this.spirals), memory: sorted(this.memory), late: sorted(this.late), released: this.released,
      journeys: [...this.journeys.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    };
  }
}

/** One uninterrupted run: arrivals, one flush at the end. */
function runAll(p: MetricParams, arrivals: Touch[]): Results {
  const pm = new PartitionMetrics(p);
  const out = new MetricOutputs();
  arrivals.forEach((e, i) => pm.arrive(e, String(i), out));
  pm.flush(out);
  return new Results().take(out);
}

/**
 * Results with every event id taken out (ids of memory rows, drop ends, spiral ids), each
 * row's content sorted: what must not depend on which id a simultaneous experience has.
 */
function withoutIds(r: Results) {
  const strip = (json: string) => JSON.stringify(JSON.parse(json, (k, v) => (k === 'event_id' || k === 'id' || k === 'to' ? undefined : v)));
  const n = r.normal();
  const sorted = (xs: string[]) => xs.map(strip).sort();
  return { ...n, drops: sorted(n.drops), spirals: sorted(n.spirals), memory: sorted(n.memory), journeys: n.journeys.map(([k, v]) => [k, strip(v)]) };
}

const RUNS = { numRuns: 150 };
/** Slack for floating-point rounding in the memory's bounds (values are on a [0, 1] scale). */
const ROUNDING = 1e-12;

describe.each(PARAM_SETS)('PartitionMetrics properties (%s)', (_name, p) => {
  it('gives the same results however different customers\' events interleave', () => {
    fc.assert(
      fc.property(eventsArb, jitterArb, jitterArb, (events, j1, j2) => {
        const a = runAll(p, arrivalOrder(events, j1, p.latenessMs, true));
        const b = runAll(p, arrivalOrder(events, j2, p.latenessMs, true));
        expect(a.late).toEqual([]);
        expect(b.late).toEqual([]);
        expect(a.released).toBe(events.length);
        expect(b.normal()).toEqual(a.normal());
      }),
      RUNS,
    );
  });

  it('gives the same results for arrivals out of order within the lateness as in event-time order', () => {
    fc.assert(
      fc.property(eventsArb, jitterArb, (events, jitter) => {
        const inOrder = runAll(p, events);
        const shuffled = runAll(p, arrivalOrder(events, jitter, p.latenessMs, false));
        expect(shuffled.late).toEqual([]);
        expect(shuffled.normal()).toEqual(inOrder.normal());
      }),
      RUNS,
    );
  });

  it('gives the same results after a checkpoint and a restore as in one run', () => {
    fc.assert(
      fc.property(eventsArb, jitterArb, fc.nat(), fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }), (events, jitter, cut, checkpointAfter) => {
        const arrivals = arrivalOrder(events, jitter, p.latenessMs, false);
        const k = cut % (arrivals.length + 1);
        const whole = runAll(p, arrivals);

        const results = new Results();
        const first = new PartitionMetrics(p);
        // checkpoint() hands over only the customers changed since the previous one: keep the latest of each.
        const stored = new Map<string, string>();
        let meta = '';
        const persist = () => {
          const c = first.checkpoint();
          for (const [id, json] of c.customers) stored.set(id, json);
          meta = c.meta;
        };
        for (let i = 0; i < k; i++) {
          const out = new MetricOutputs();
          first.arrive(arrivals[i] as Touch, String(i), out);
          results.take(out);
          if (checkpointAfter[i]) persist();
        }
        persist();

        const second = new PartitionMetrics(p, { meta, customers: stored });
        expect(second.offset).toBe(BigInt(k - 1));
        const out = new MetricOutputs();
        for (let i = k; i < arrivals.length; i++) second.arrive(arrivals[i] as Touch, String(i), out);
        second.flush(out);
        results.take(out);
        expect(results.normal()).toEqual(whole.normal());
      }),
      RUNS,
    );
  });

  it('changes nothing when Kafka delivers a prefix again (a replay after a crash before the commit)', () => {
    fc.assert(
      fc.property(eventsArb, jitterArb, fc.nat(), fc.nat(), (events, jitter, cutSeed, fromSeed) => {
        const arrivals = arrivalOrder(events, jitter, p.latenessMs, false);
        const whole = runAll(p, arrivals);
        // Delivered up to k, then again from j <= k (the last committed offset) to the end.
        const k = cutSeed % (arrivals.length + 1);
        const j = fromSeed % (k + 1);
        const pm = new PartitionMetrics(p);
        const out = new MetricOutputs();
        let applied = 0;
        for (let i = 0; i < k; i++) if (pm.arrive(arrivals[i] as Touch, String(i), out)) applied++;
        for (let i = j; i < arrivals.length; i++) if (pm.arrive(arrivals[i] as Touch, String(i), out)) applied++;
        pm.flush(out);
        expect(applied).toBe(arrivals.length);
        expect(new Results().take(out).normal()).toEqual(whole.normal());
      }),
      RUNS,
    );
  });

  it('gives the same results however the calls are split into batches (flush only at the end)', () => {
    fc.assert(
      fc.property(eventsArb, jitterArb, fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }), (events, jitter, splitAfter) => {
        const arrivals = arrivalOrder(events, jitter, p.latenessMs, false);
        const whole = runAll(p, arrivals);
        const pm = new PartitionMetrics(p);
        const results = new Results();
        let out = new MetricOutputs();
        arrivals.forEach((e, i) => {
          pm.arrive(e, String(i), out);
          if (splitAfter[i]) {
            results.take(out);
            out = new MetricOutputs();
          }
        });
        pm.flush(out);
        results.take(out);
        expect(results.normal()).toEqual(whole.normal());
      }),
      RUNS,
    );
  });

  // Breakage tried: folding each touch of a moment on its own, in id order (the old way) -> fails.
  it('gives the same results whatever the order and the ids of a customer\'s simultaneous experiences', () => {
    fc.assert(
      fc.property(eventsArb, fc.array(fc.nat(), { minLength: 60, maxLength: 60 }), jitterArb, (events, keys, jitter) => {
        // Swap the ids among each customer's events of one instant (their order by id is arbitrary), then let
        // them arrive in another order within the lateness: no output may change but the ids it names.
        const groups = new Map<string, number[]>();
        events.forEach((e, i) => groups.set(`${e.customer_id}\u0000${e.t}`, [...(groups.get(`${e.customer_id}\u0000${e.t}`) ?? []), i]));
        const renamed = events.map((e) => ({ ...e }));
        for (const members of groups.values()) {
          const ids = members.map((i) => (events[i] as Touch).event_id);
          const shuffled = [...members].sort((a, b) => (keys[a] ?? 0) - (keys[b] ?? 0) || a - b);
          shuffled.forEach((i, k) => ((renamed[i] as Touch).event_id = ids[k] as string));
        }
        const base = withoutIds(runAll(p, events));
        const other = withoutIds(runAll(p, arrivalOrder([...renamed].sort(byEventTime), jitter, p.latenessMs, false)));
        expect(other).toEqual(base);
      }),
      RUNS,
    );
  });

  it('keeps leg scores in [0, 1] and leg consistency in [0, 1] or null, live and per journey', () => {
    const checkStool = (s: StoolMeasure) => {
      for (const l of s.legs) {
        expect(l.score).toBeGreaterThanOrEqual(0);
        expect(l.score).toBeLessThanOrEqual(1);
        if (l.consistency !== null) {
          expect(l.consistency).toBeGreaterThanOrEqual(0);
          expect(l.consistency).toBeLessThanOrEqual(1);
        }
        expect(l.impressed).toBeLessThanOrEqual(l.satisfied);
      }
      if (s.legs.length) {
        expect(s.score).toBe(Math.min(...s.legs.map((l) => l.score)));
        expect(s.wobble).toBe(Math.max(...s.legs.map((l) => l.score)) - Math.min(...s.legs.map((l) => l.score)));
      }
    };
    fc.assert(
      fc.property(eventsArb, (events) => {
        const pm = new PartitionMetrics(p);
        const out = new MetricOutputs();
        events.forEach((e, i) => pm.arrive(e, String(i), out));
        pm.flush(out);
        // The live window over the closed minutes, in order.
        const byMinute = new Map<number, Cell[]>();
        for (const r of out.cellMinutes) byMinute.set(r.minute, [...(byMinute.get(r.minute) ?? []), r.cell]);
        let s: StoolWindowState | undefined;
        for (const minute of [...byMinute.keys()].sort((a, b) => a - b)) {
          const w = stoolWindow(s, { minute, cells: byMinute.get(minute) ?? [] }, { windowMinutes: 15, nMin: 2, stoolThreshold: p.stoolThreshold });
          s = w.state;
          if (w.out) checkStool(w.out.stool);
        }
        // The whole run as one window, where cells reach n_min more often.
        const whole = new Map<string, Cell>();
        for (const { cell } of out.cellMinutes) {
          const into = whole.get(cellKey(cell));
          if (into) mergeInto(into, cell);
          else whole.set(cellKey(cell), { ...cell });
        }
        checkStool(measureStool(whole.values(), p.nMin, p.stoolThreshold));
        for (const [journey, customerId] of out.journeys) {
          const j = summarizeJourney(customerId, journey, p);
          checkStool(j.stool);
          if (j.score !== null) {
            expect(j.score).toBeGreaterThanOrEqual(0);
            expect(j.score).toBeLessThanOrEqual(1);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('keeps each customer\'s memory within [min x, max x] of their experiences so far, and equal to the formula', () => {
    fc.assert(
      fc.property(eventsArb, (events) => {
        const pm = new PartitionMetrics(p);
        const out = new MetricOutputs();
        events.forEach((e, i) => pm.arrive(e, String(i), out));
        pm.flush(out);
        const byCustomer = new Map<string, ExperienceTouch[]>();
        for (const { touch } of out.memory) byCustomer.set(touch.customer_id, [...(byCustomer.get(touch.customer_id) ?? []), touch]);
        for (const { touch, update } of out.memory) {
          // "So far" is up to and including this experience's moment: the customer's experiences at the same
          // instant are one moment, and each of them reports the memory before and after the whole moment.
          const all = byCustomer.get(touch.customer_id) ?? [];
          const so = all.filter((e) => e.t <= touch.t);
          const before = all.filter((e) => e.t < touch.t);
          // A weighted mean of the x's lies within [min x, max x]. In floating point the decayed sums
          // can round a hair outside: one experience of x 0.75 decayed by d gives 0.75d / d =
          // 0.7499999999999999. So the bounds allow ROUNDING (far below any meaningful difference).
          const xs = so.map((e) => e.x);
          expect(update.after).toBeGreaterThanOrEqual(Math.min(...xs) - ROUNDING);
          expect(update.after).toBeLessThanOrEqual(Math.max(...xs) + ROUNDING);
          expect(update.experiences).toBe(so.length);
          if (before.length === 0) expect(update.before).toBeNull();
          else {
            const bx = before.map((e) => e.x);
            expect(update.before).toBeGreaterThanOrEqual(Math.min(...bx) - ROUNDING);
            expect(update.before).toBeLessThanOrEqual(Math.max(...bx) + ROUNDING);
          }
          // docs/metrics.md's M(t) summed term by term at this experience's time.
          let num = 0;
          let den = 0;
          for (const e of so) {
            const d = 2 ** (-(touch.t - e.t) / (e.cls === 'bad' ? p.badFactor * p.halfLifeMs : p.halfLifeMs));
            const w = e.mot ? p.motWeight : 1;
            num += w * e.x * d;
            den += w * d;
          }
          expect(Math.abs(update.after - num / den)).toBeLessThan(ROUNDING);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('measureLeg on arbitrary cells', () => {
  it('keeps the score in [0, 1] and consistency in [0, 1] or null (null with fewer than two cells of n_min)', () => {
    const cellArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 });
    fc.assert(
      fc.property(fc.array(cellArb, { maxLength: 6 }), fc.integer({ min: 1, max: 4 }), (cells, nMin) => {
        const aggs: CellAggregate[] = cells.map((xs) => ({ events: xs.length, n: xs.length, sumX: xs.reduce((s, x) => s + x, 0), sumX2: xs.reduce((s, x) => s + x * x, 0), bad: 0, good: 0, impressed: 0 }));
        const m = measureLeg('PRODUCT', aggs, nMin);
        const n = cells.reduce((s, xs) => s + xs.length, 0);
        if (n === 0) {
          expect(m).toBeNull();
          return;
        }
        expect(m?.score).toBeGreaterThanOrEqual(0);
        expect(m?.score).toBeLessThanOrEqual(1);
        const counted = cells.filter((xs) => xs.length >= nMin).length;
        expect(m?.cells).toBe(counted);
        if (counted < 2) expect(m?.consistency).toBeNull();
        else {
          expect(m?.consistency).toBeGreaterThanOrEqual(0);
          expect(m?.consistency).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('closing a silent spiral (counterexample found by reading the sweep)', () => {
  // PartitionMetrics closes spirals silent for more than H in a sweep that runs when the
  // watermark enters a new hour, and it expires against the watermark of that moment. Which
  // arrival first moves the watermark into the hour depends on the arrival order, so two orders
  // within the lateness can sweep at different watermarks and emit different spirals.
  //
  // Lateness 30 s, H 7 d, K an hour boundary. Customer A: bad at a, b, a ending at
  // lastAt = K + 20 s - H: a spiral, then silence. B (K + 35 s) and C (K + 55 s), one experience each.
  //   In order, B then C: B moves the watermark to K + 5 s, into the hour: sweep at K + 5 s,
  //     where A has been silent H - 15 s: not closed. C (watermark K + 25 s) and the flush
  //     (K + 55 s + 1 ms) stay in that hour: no further sweep. A's spiral stays open.
  //   C then B (B is 20 s out of order, within 30 s, not late): C moves the watermark to K + 25 s:
  //     sweep there, A silent H + 5 s: closed by silence at lastAt + H = K + 20 s.
  // Both runs end at the same watermark (K + 55 s + 1 ms, past K + 20 s), with the same
  // messages and nothing late, yet only the second emits the close. docs/metrics.md: the spiral closes
  // after H of silence; eventTime.ts: out of order within the lateness gives the same results.
  // Fixed: the sweep runs at the hour boundary (hour * HOUR_MS), not at the watermark that crossed it.
  const p: MetricParams = { ...DEFAULT_PARAMS, latenessMs: 30_000 };
  const K = Date.UTC(2026, 0, 15, 12);
  const lastAt = K + 20_000 - p.horizonMs;
  const mk = (id: string, t: number, customer: string, touchpoint: string, value: number): Touch =>
    touchOf({
      event_id: id, occurred_at: t, customer_id: customer, journey_id: `j-${customer}`, channel: 'WEB', touchpoint, leg: 'PRODUCT', stage: 'PURCHASE',
      department: 'Support', moment_of_truth: false, rating: { scale: 'CSAT_5', value }, outcome: 'OK', attributes: {},
    });
  const a = [mk('a1', lastAt - 2000, 'A', 'a', 1), mk('a2', lastAt - 1000, 'A', 'b', 1), mk('a3', lastAt, 'A', 'a', 1)];
  const b = mk('b', K + 35_000, 'B', 'checkout', 4);
  const c = mk('c', K + 55_000, 'C', 'checkout', 4);

  it('the setup: both orders are on time, and the watermark ends past lastAt + H', () => {
    for (const order of [[...a, b, c], [...a, c, b]]) {
      const r = runAll(p, order);
      expect(r.late).toEqual([]);
      expect(r.released).toBe(5);
    }
  });

  it('emits the same spirals whichever of two unrelated customers arrives first within the lateness', () => {
    const inOrder = runAll(p, [...a, b, c]);
    const swapped = runAll(p, [...a, c, b]);
    expect(swapped.normal()).toEqual(inOrder.normal());
  });
});
