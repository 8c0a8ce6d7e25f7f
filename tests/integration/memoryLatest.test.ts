/**
 * `customer_memory_latest` equals the fold's last memory of every customer, also when
 * experiences share a millisecond (docs/metrics.md, "Simultaneous experiences"). The
 * rows come from the real folds and go into the real engine's `customer_memory`;
 * event ids are random UUIDs, whose ClickHouse order (second half first) is not the
 * folds' order, which is what broke the view before.
 *
 * Breakage tried: folding each touch of a moment on its own in id order (the old way)
 * -> the view's memory differs from the fold's final memory.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../platform/clickhouse/migrate.ts';
import { openStore, type Store } from '../../platform/clickhouse/store.ts';
import { memoryAt } from '../../processors/folds/experienceMemory.ts';
import { DEFAULT_PARAMS, HOUR_MS } from '../../processors/params.ts';
import { MetricOutputs, PartitionMetrics } from '../../processors/partitionMetrics.ts';
import { resultRows } from '../../processors/runtime/resultRows.ts';
import { byEventTime, touchOf, type Touch } from '../../processors/touch.ts';
import type { Rating } from '../../schemas/contracts.ts';
import { isolatedConfig } from '../helpers.ts';

const { config } = isolatedConfig();
const db = config.clickhouseDatabase;
const SEED = Number(process.env.CX_TEST_SEED ?? Date.now() % 1_000_000);
const T0 = Date.UTC(2026, 5, 1);
let store: Store;

beforeAll(async () => {
  store = await openStore(config);
  await migrate(store);
});

afterAll(async () => {
  await store?.close();
});

const answer = fc.record({
  id: fc.uuid({ version: 4 }),
  touchpoint: fc.constantFrom('checkout', 'parcel_delivery', 'support_call', 'seat_comfort'),
  mot: fc.boolean(),
  rating: fc.integer({ min: 1, max: 5 }).map((value): Rating => ({ scale: 'CSAT_5', value })),
});
/** A customer: 1 to 5 moments, hours or days apart, of 1 to 5 answers each (a survey is one moment). */
const customer = fc.array(fc.record({ gapHours: fc.integer({ min: 1, max: 400 }), answers: fc.array(answer, { minLength: 1, maxLength: 5 }) }), { minLength: 1, maxLength: 5 });

describe('customer_memory_latest', () => {
  it('equals the fold\'s last memory, at risk and count for customers whose experiences share a time', async () => {
    process.stderr.write(`memoryLatest.test: CX_TEST_SEED=${SEED}\n`);
    let run = 0;
    let tiedCustomers = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(customer, { minLength: 1, maxLength: 6 }), async (customers) => {
        run++;
        const touches: Touch[] = [];
        customers.forEach((moments, c) => {
          let t = T0;
          for (const m of moments) {
            t += m.gapHours * HOUR_MS;
            for (const a of m.answers) {
              touches.push(touchOf({
                event_id: a.id, occurred_at: t, customer_id: `run${run}-c${c}`, journey_id: `run${run}-c${c}-j`, channel: 'WEB', touchpoint: a.touchpoint,
                leg: 'OPERATIONS', stage: 'PURCHASE', department: 'Ops', moment_of_truth: a.mot, rating: a.rating, outcome: 'OK', attributes: {},
              }));
            }
            if (m.answers.length > 1) tiedCustomers++;
          }
        });
        const ids = new Set(touches.map((e) => e.event_id));
        fc.pre(ids.size === touches.length); // a UUID drawn twice is one event: not this test's subject
        const pm = new PartitionMetrics(DEFAULT_PARAMS);
        const out = new MetricOutputs();
        [...touches].sort(byEventTime).forEach((e, i) => pm.arrive(e, String(i), out));
        pm.flush(out);
        const rows = resultRows(out, 0, DEFAULT_PARAMS).customer_memory;
        await store.insert(`${db}.customer_memory`, rows, `memory-latest-${SEED}-${run}`);

        const view = await store.query<{ customer_id: string; memory: number; at_risk: boolean; recoverable: boolean; experiences: number }>(
          `SELECT customer_id, memory, at_risk, recoverable, experiences FROM ${db}.customer_memory_latest WHERE startsWith(customer_id, {prefix:String}) ORDER BY customer_id`,
          { prefix: `run${run}-` },
        );
        const expected = [...pm.customers.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, s]) => {
          const mem = s.memory as NonNullable<typeof s.memory>;
          // The fold's last memory: its accumulators at their own time (the customer's last moment).
          const last = out.memory.filter((m) => m.touch.customer_id === id).at(-1)?.update;
          return { customer_id: id, memory: memoryAt(mem, mem.t, DEFAULT_PARAMS) as number, at_risk: last?.atRisk, recoverable: last?.recoverable, experiences: mem.n };
        });
        expect(view.map((r) => r.customer_id)).toEqual(expected.map((r) => r.customer_id));
        view.forEach((r, i) => {
          const e = expected[i] as (typeof expected)[number];
          expect(r.memory, r.customer_id).toBeCloseTo(e.memory, 12);
          expect({ at_risk: Boolean(r.at_risk), recoverable: Boolean(r.recoverable), experiences: Number(r.experiences) }, r.customer_id)
            .toEqual({ at_risk: e.at_risk, recoverable: e.recoverable, experiences: e.experiences });
        });
      }),
      { numRuns: 40, seed: SEED },
    );
    // Not vacuous: many customers had answers at one instant.
    expect(tiedCustomers).toBeGreaterThan(20);
  });
});
