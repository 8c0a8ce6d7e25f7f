/**
 * The persisted state of a customer (processors/customerRecord.ts): a record comes back as
 * the state it was made from, bit for bit; a checkpoint in the JSON of older versions
 * restores into the same state and the same results; and the dedup window keeps exactly
 * the ids docs/metrics.md, "Duplicates", says.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCustomer, encodeCustomer } from '../../processors/customerRecord.ts';
import { pruneSeen, seenBefore, type CustomerState } from '../../processors/folds/customer.ts';
import type { JourneyState } from '../../processors/folds/journey.ts';
import { DEFAULT_PARAMS, HOUR_MS, type MetricParams } from '../../processors/params.ts';
import { MetricOutputs, PartitionMetrics } from '../../processors/partitionMetrics.ts';
import { resultRows } from '../../processors/runtime/resultRows.ts';
import { touchOf, type Touch } from '../../processors/touch.ts';
import type { TouchpointEvent } from '../../schemas/contracts.ts';

// Any double, -0, NaN and the infinities included; and the short ones the record packs in a byte or two.
const numberArb = fc.oneof(fc.double(), fc.constantFrom(0, -0, 0.75, 1.5, 2, 1 / 3, 0.1, 2 ** 36, -(2 ** -1074)), fc.integer({ min: 0, max: 1000 }).map((k) => k / 16));
const timeArb = fc.oneof(
  fc.integer({ min: 946_684_800_000, max: 4_102_444_800_000 }),
  fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
  fc.double({ noNaN: true }),
);
const countArb = fc.nat({ max: 5000 });
// Lower-case UUIDs go in 16 bytes; upper case, lone surrogates, NUL and the empty string as they are.
// So do UUID look-alikes with one character whose low byte is a hex digit or the dash (U+0130 is '0'
// to a latin1 copy, U+0161 'a', U+012D '-'): the packer copies 36 characters as bytes, and must not take them.
const stringArb = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.tuple(fc.uuid(), fc.nat({ max: 35 }), fc.constantFrom('\u0130', '\u0161', '\u012d', '\u0100')).map(([u, i, c]) => u.slice(0, i) + c + u.slice(i + 1)),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('a', 'b', '\u0000', '\ud800', 'é'), maxLength: 6 }),
  fc.constantFrom('', 'checkout', 'APP', 'constructor', '__proto__'),
);
const legArb = fc.constantFrom('PRODUCT', 'OPERATIONS', 'SALES_MARKETING') as fc.Arbitrary<JourneyState['cells'][number]['leg']>;

const accumulatorsArb = fc.record({ t: timeArb, gx: numberArb, gw: numberArb, bx: numberArb, bw: numberArb, scale: fc.option(fc.integer({ min: -5000, max: -1 }), { nil: undefined }) })
  .map(({ scale, ...a }) => (scale === undefined ? a : { ...a, scale }));

/** A journey in the form the record gives back: what is never read takes the value journey() starts with. */
const journeyArb: fc.Arbitrary<JourneyState> = fc.record({
  journeyId: stringArb, startedAt: timeArb, lastAt: timeArb, events: countArb, experiences: countArb, memory: accumulatorsArb,
  weakest: fc.option(fc.record({ x: numberArb, touchpoint: stringArb, channel: stringArb }), { nil: null }),
  weakestAt: fc.option(timeArb, { nil: undefined }),
  peak: fc.option(numberArb, { nil: null }),
  end: fc.option(numberArb, { nil: null }),
  endAt: timeArb, endN: countArb, endSum: numberArb, deriveEnd: fc.boolean(),
  cells: fc.array(fc.record({ leg: legArb, touchpoint: stringArb, n: countArb, sumX: numberArb, sumX2: numberArb, good: countArb, impressed: countArb, square: fc.boolean() }), { maxLength: 4 }),
}).map(({ deriveEnd, cells, ...j }) => ({
  ...j,
  weakestAt: j.weakest ? j.weakestAt : 0,
  endAt: j.endN ? j.endAt : 0,
  endSum: j.endN ? j.endSum : 0,
  end: deriveEnd && j.endN && j.end !== null ? j.endSum / j.endN : j.end,
  cells: cells.map(({ square, ...c }) => (square ? { ...c, sumX2: c.sumX * c.sumX } : c)),
}));

const customerArb: fc.Arbitrary<CustomerState> = fc.record({
  lastAt: timeArb,
  memory: fc.option(fc.tuple(accumulatorsArb, countArb, fc.option(timeArb, { nil: null })).map(([a, n, unansweredBadSince]) => ({ ...a, n, unansweredBadSince })), { nil: undefined }),
  previous: fc.option(fc.record({ event_id: stringArb, t: timeArb, channel: stringArb, touchpoint: stringArb, department: stringArb, x: numberArb, good: fc.boolean() }), { nil: undefined }),
  run: fc.option(fc.record({ id: stringArb, startedAt: timeArb, lastAt: timeArb, path: fc.array(stringArb, { maxLength: 5 }), channels: fc.array(stringArb, { maxLength: 5 }),
    departments: fc.array(stringArb, { maxLength: 5 }), spiral: fc.boolean(), steps: countArb }), { nil: undefined }),
  journeys: fc.uniqueArray(journeyArb, { maxLength: 4, selector: (j) => j.journeyId }).map((js) => new Map(js.map((j) => [j.journeyId, j]))),
  seen: fc.uniqueArray(fc.tuple(stringArb, timeArb), { maxLength: 6, selector: ([id]) => id }),
}).map(({ seen, ...c }) => ({ ...c, seenIds: seen.map(([id]) => id), seenAt: seen.map(([, t]) => t) }));

/** The dedup window as a set: its order is not part of the state. */
const windowOf = (c: CustomerState) => c.seenIds.map((id, i) => [id, c.seenAt[i]] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

describe('a customer record', () => {
  it('gives back the state it was made from, every number bit for bit (-0 and NaN too)', () => {
    fc.assert(
      fc.property(customerArb, (c) => {
        const text = encodeCustomer(c);
        // JSON text: a string, which the processor_state column and JSON readers take as it is.
        expect(typeof JSON.parse(text)).toBe('string');
        const back = decodeCustomer(text);
        expect({ ...back, seenIds: [], seenAt: [] }).toEqual({ ...c, seenIds: [], seenAt: [] });
        expect(windowOf(back)).toEqual(windowOf(c));
        expect(encodeCustomer(back)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('does not depend on the order the dedup window holds its ids in', () => {
    fc.assert(
      fc.property(customerArb, (c) => {
        const reversed = { ...c, seenIds: [...c.seenIds].reverse(), seenAt: [...c.seenAt].reverse() };
        expect(encodeCustomer(reversed)).toBe(encodeCustomer(c));
      }),
    );
  });

  it('says what is wrong with a record it cannot read', () => {
    const text = encodeCustomer(decodeCustomer(encodeCustomer({ lastAt: 1, memory: undefined, previous: undefined, run: undefined, journeys: new Map(), seenIds: ['a'], seenAt: [1] })));
    expect(() => decodeCustomer(`${text.slice(0, -3)}"`)).toThrow(/customer record: (truncated|bytes left over)/);
    expect(() => decodeCustomer('"Ag"')).toThrow(/version 2 is newer/);
    expect(() => decodeCustomer('[1,2]')).toThrow(/neither a record nor JSON state/);
  });
});

interface Fixture {
  before: TouchpointEvent[];
  after: TouchpointEvent[];
  checkpoints: Record<string, { meta: string; customers: [string, string][] }>;
}
/** Written by the code before customer records (commit 4ee82a0, JSON state): see its `note`. */
const fixture = JSON.parse(readFileSync(new URL('../fixtures/legacyCheckpoint.json', import.meta.url), 'utf8')) as Fixture;
const FIXTURE_PARAMS: Record<string, MetricParams> = {
  defaults: { ...DEFAULT_PARAMS },
  short: { ...DEFAULT_PARAMS, horizonMs: 6 * HOUR_MS, halfLifeMs: HOUR_MS, dedupWindowMs: 12 * HOUR_MS, dedupMaxIds: 8 },
};

/** The rows of the events after the checkpoint, offsets continuing from the events before it. */
function rowsAfter(pm: PartitionMetrics, p: MetricParams): string {
  const out = new MetricOutputs();
  fixture.after.forEach((e, i) => pm.arrive(touchOf(e), String(fixture.before.length + i), out));
  pm.flush(out);
  return JSON.stringify({ rows: resultRows(out, 0, p), duplicates: pm.duplicates, late: out.late.length });
}

describe.each(Object.keys(FIXTURE_PARAMS))('a checkpoint written as JSON by an older version (%s)', (name) => {
  const p = FIXTURE_PARAMS[name] as MetricParams;
  const legacy = fixture.checkpoints[name] as Fixture['checkpoints'][string];

  /** The same events before the checkpoint, folded by this version. */
  function foldedNow(): PartitionMetrics {
    const pm = new PartitionMetrics(p);
    fixture.before.forEach((e, i) => pm.arrive(touchOf(e), String(i), new MetricOutputs()));
    return pm;
  }

  it('is the JSON of before, with journeys, bad runs and dedup windows in it', () => {
    expect(legacy.customers.length).toBeGreaterThan(5);
    for (const [, text] of legacy.customers) expect(text.startsWith('{"lastAt":')).toBe(true);
    const states = legacy.customers.map(([, text]) => JSON.parse(text) as { run?: unknown; journeys: object; seen: object });
    expect(states.some((s) => s.run)).toBe(true);
    expect(states.every((s) => Object.keys(s.journeys).length > 0 && Object.keys(s.seen).length > 0)).toBe(true);
  });

  it('restores into the state this version folds from the same events', () => {
    const now = foldedNow();
    const restored = new PartitionMetrics(p, legacy);
    expect(restored.customers.size).toBe(now.customers.size);
    for (const [id, c] of now.customers) expect(encodeCustomer(restored.customers.get(id) as CustomerState), id).toBe(encodeCustomer(c));
  });

  it('goes on to the same rows as a run without the restore, resends counted as duplicates', () => {
    const expected = rowsAfter(foldedNow(), p);
    expect(rowsAfter(new PartitionMetrics(p, legacy), p)).toBe(expected);
    // The resends in the events after it are caught by the restored dedup window.
    expect((JSON.parse(expected) as { duplicates: number }).duplicates).toBeGreaterThanOrEqual(2);
  });

  it('checkpoints again as records, which restore to the same rows', () => {
    const restored = new PartitionMetrics(p, legacy);
    const again = restored.checkpoint();
    // A restored partition has changed nothing yet: its next checkpoint holds only the meta.
    expect(again.customers).toEqual([]);
    const records: [string, string][] = [...restored.customers].map(([id, c]) => [id, encodeCustomer(c)]);
    expect(rowsAfter(new PartitionMetrics(p, { meta: again.meta, customers: records }), p)).toBe(rowsAfter(foldedNow(), p));
  });
});

describe('the dedup window', () => {
  /** docs/metrics.md, "Duplicates", as a plain map: ids within the window and at most maxIds, the newest kept. */
  class WindowModel {
    readonly ids = new Map<string, number>();
    constructor(private readonly maxIds: number, private readonly windowMs: number) {}
    arrive(id: string, t: number): boolean {
      if (this.ids.has(id)) return true;
      this.ids.set(id, t);
      if (this.ids.size > this.maxIds) {
        const keep = Math.max(1, Math.floor((this.maxIds * 3) / 4));
        const others = [...this.ids].filter(([x]) => x !== id).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
        this.ids.clear();
        this.ids.set(id, t);
        for (const [x, at] of others.slice(0, keep - 1)) this.ids.set(x, at);
      }
      return false;
    }
    prune(w: number): void {
      for (const [id, t] of this.ids) if (t < w - this.windowMs) this.ids.delete(id);
    }
  }

  it('keeps exactly the ids the rule says, through evictions past the bound and prunes', () => {
    const stepArb = fc.oneof(
      { arbitrary: fc.record({ id: fc.integer({ min: 0, max: 30 }).map((i) => `id-${i}`), t: fc.integer({ min: 0, max: 100 }) }), weight: 5 },
      { arbitrary: fc.record({ prune: fc.integer({ min: 0, max: 150 }) }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.array(stepArb, { maxLength: 80 }), (maxIds, steps) => {
        const p: MetricParams = { ...DEFAULT_PARAMS, dedupMaxIds: maxIds, dedupWindowMs: 40 };
        const model = new WindowModel(maxIds, 40);
        const c: CustomerState = { lastAt: 0, memory: undefined, previous: undefined, run: undefined, journeys: new Map(), seenIds: [], seenAt: [] };
        for (const s of steps) {
          if ('prune' in s) {
            const before = model.ids.size;
            model.prune(s.prune);
            expect(pruneSeen(c, s.prune, p)).toBe(model.ids.size < before);
          } else {
            expect(seenBefore(c, { event_id: s.id, t: s.t } as Touch, p)).toBe(model.arrive(s.id, s.t));
          }
          expect(windowOf(c)).toEqual([...model.ids].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
        }
      }),
    );
  });
});

describe('names that are also names of object properties', () => {
  // With objects as maps, a journey "constructor" or a department "__proto__" found what Object.prototype holds.
  const ODD: Record<string, string> = { 'j-1': 'constructor', Sales: '__proto__', checkout: 'toString', 'c-1': 'hasOwnProperty' };
  const rename = (s: string) => ODD[s] ?? s;
  const back = Object.fromEntries(Object.entries(ODD).map(([a, b]) => [b, a]));
  const T0 = Date.UTC(2026, 0, 5);
  const event = (i: number, customer: string, journey: string, department: string, touchpoint: string, value: number | null): TouchpointEvent => ({
    event_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, occurred_at: T0 + i * 60_000, customer_id: customer, journey_id: journey,
    channel: i % 2 ? 'WEB' : 'APP', touchpoint, leg: 'OPERATIONS', stage: 'PURCHASE', department, moment_of_truth: i % 3 === 0,
    rating: value === null ? null : { scale: 'CSAT_5', value }, outcome: value === null && i % 4 === 0 ? 'FAILED' : 'OK', attributes: {},
  });
  const events = [1, 2, 1, 1, 5, null, 1, 2, 4, 1].map((v, i) => event(i, i % 3 ? 'c-1' : 'c-2', i % 2 ? 'j-1' : 'j-2', i % 2 ? 'Sales' : 'Support', i % 4 ? 'checkout' : 'delivery', v));

  function rows(list: TouchpointEvent[], name: (s: string) => string): string {
    const pm = new PartitionMetrics(DEFAULT_PARAMS);
    const out = new MetricOutputs();
    list.forEach((e, i) => pm.arrive(touchOf(e), String(i), out));
    pm.flush(out);
    // Names mapped back: the results must be those of the ordinary names, row for row.
    return JSON.stringify(resultRows(out, 0, DEFAULT_PARAMS), (_k, v: unknown) => (typeof v === 'string' ? name(v) : v));
  }

  it('give the same results as any other names', () => {
    const odd = events.map((e) => ({ ...e, customer_id: rename(e.customer_id), journey_id: rename(e.journey_id), department: rename(e.department), touchpoint: rename(e.touchpoint) }));
    expect(rows(odd, (s) => back[s] ?? s)).toBe(rows(events, (s) => s));
    expect(rows(events, (s) => s)).toContain('"department":"Sales"');
  });
});
