/**
 * One event counts once, everywhere (docs/metrics.md, "Duplicates"): the same events
 * go through two pipelines, A once each and B with resends: through the collector
 * (a client resending after a 503), produced twice by the SDK right away and much
 * later, and resent after a worker restart (the dedup window comes back from the
 * checkpoint). Every result table of B equals A's row for row, and B counts exactly
 * the touchpoint resends as duplicates. Outcomes resent count once too.
 *
 * Breakage tried: duplicates counted but folded anyway -> "cell_minute: B (with
 * resends) differs from A"; no dedup at all -> the duplicates counts fail first.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer, type Connected } from '../../pipeline/compose.ts';
import { buildCollector } from '../../producers/collector.ts';
import { seededRandom } from '../../producers/random.ts';
import { takeSimulated } from '../../producers/simulator/simulate.ts';
import type { TouchpointProducer } from '../../producers/touchpointProducer.ts';
import type { OutcomeEvent, TouchpointEvent } from '../../schemas/contracts.ts';
import { isolatedConfig, said, spawnCx, withStore } from '../helpers.ts';

const SEED = Number(process.env.CX_TEST_SEED ?? Date.now() % 1_000_000);
const log = createLogger('error', 'test');
const MINUTE = 60_000;

const RESULT_TABLES = ['cell_minute', 'channel_transition_minute', 'department_impact', 'channel_drops', 'death_spirals', 'customer_memory', 'journeys', 'late_events', 'leg_consistency'];

interface Side {
  env: NodeJS.ProcessEnv;
  config: Config;
  kafka: Connected;
  producer: TouchpointProducer;
}

async function side(): Promise<Side> {
  const { env, config } = isolatedConfig({ LOG_LEVEL: 'info' });
  const kafka = await connectKafka(config, log);
  return { env, config, kafka, producer: await connectProducer(config, kafka) };
}

async function untilIdle(s: Side): Promise<string> {
  const p = spawnCx(['process', '--until-idle'], s.env);
  const exit = await p.exit;
  expect(exit.code, said(p)).toBe(0);
  return p.output.join('');
}

/** Every row of every result table, all columns, in a stable order. */
function dump(config: Config): Promise<Record<string, unknown[]>> {
  return withStore(config, async (store) => {
    const db = config.clickhouseDatabase;
    const out: Record<string, unknown[]> = {};
    for (const t of RESULT_TABLES) {
      // late_events carries the Kafka offset it came from, which resends shift: compared without it.
      const cols = t === 'late_events' ? '* EXCEPT source_offset' : '*';
      out[t] = await store.query(`SELECT ${cols} FROM ${db}.${t} FINAL ORDER BY ALL`);
    }
    out.raw = await store.query(`SELECT (SELECT count() FROM ${db}.touchpoint_events FINAL) AS touchpoints, (SELECT count() FROM ${db}.outcome_events FINAL) AS outcomes`);
    out.duplicates = await store.query(`SELECT sum(JSONExtractUInt(state, 'duplicates')) AS n FROM ${db}.processor_state FINAL WHERE stage = 'metrics' AND key = ''`);
    return out;
  });
}

let a: Side;
let b: Side;

beforeAll(async () => {
  a = await side();
  b = await side();
});

afterAll(async () => {
  await a?.producer.disconnect();
  await b?.producer.disconnect();
});

describe('duplicates', () => {
  it('resent events (collector, SDK, across a worker restart) change no result table', async () => {
    process.stderr.write(`duplicates.test: CX_TEST_SEED=${SEED}\n`);
    const random = seededRandom(SEED);
    const pick = <T>(xs: T[], share: number) => xs.filter(() => random() < share);
    const start = Date.UTC(2026, 10, 9);
    const sim = takeSimulated({ seed: SEED, customers: 300, start, rate: 0.2 }, 3000);
    const touch = sim.filter((e) => e.kind === 'touchpoint').map((e) => e.event as TouchpointEvent);
    const outcomes = sim.filter((e) => e.kind === 'outcome').map((e) => e.event as OutcomeEvent);
    // Two parts split at a minute boundary: the first run's end-of-input flush closes the minute of its
    // newest event, and no event of the second part is in it, so nothing is late in either pipeline.
    const cut = Math.floor((touch[Math.floor(touch.length / 2)] as TouchpointEvent).occurred_at / MINUTE) * MINUTE;
    const first = touch.filter((e) => e.occurred_at < cut);
    const second = touch.filter((e) => e.occurred_at >= cut);
    const viaCollector = second.slice(0, 40);
    const rest = second.slice(40);
    expect(first.length).toBeGreaterThan(1000);
    expect(rest.length).toBeGreaterThan(1000);

    // Resends, chosen by the seed.
    const soon = pick(first, 0.05); // produced twice by the SDK at once: both copies wait in the event-time buffer
    const later = pick(first, 0.05); // resent after the whole first part: older than the watermark by then
    const collectorResent = viaCollector.filter((_, i) => i % 2 === 0); // a client resending after a 503
    const acrossRestart = pick(first, 0.03); // resent after the first worker run has stopped
    const outcomeResent = outcomes.filter((_, i) => i % 3 === 0);
    const touchpointResends = soon.length + later.length + collectorResent.length + acrossRestart.length;
    process.stderr.write(`duplicates.test: ${touch.length} touchpoints, ${outcomes.length} outcomes; resent ${soon.length} at once, ${later.length} later, ${collectorResent.length} through the collector, ${acrossRestart.length} across a restart, ${outcomeResent.length} outcomes\n`);

    // A: every event once, in two runs with the same cut.
    // Sends within one Promise.all keep their order per partition (the SDK's delivery lanes).
    await Promise.all(first.map((e) => a.producer.send(e)));
    await Promise.all(outcomes.map((o) => a.producer.sendOutcome(o)));
    expect(await untilIdle(a)).toContain('0 duplicates skipped');
    await Promise.all(viaCollector.map((e) => a.producer.send(e)));
    await Promise.all(rest.map((e) => a.producer.send(e)));
    await untilIdle(a);

    // B: the same, with resends.
    const soonIds = new Set(soon.map((e) => e.event_id));
    await Promise.all(first.flatMap((e) => (soonIds.has(e.event_id) ? [b.producer.send(e), b.producer.send(e)] : [b.producer.send(e)])));
    await Promise.all(later.map((e) => b.producer.send(e)));
    await Promise.all([...outcomes, ...outcomeResent].map((o) => b.producer.sendOutcome(o)));
    const run1 = await untilIdle(b);
    expect(run1).toContain(`${soon.length + later.length} duplicates skipped`);

    // The worker has stopped; a client posts the start of the second part, then resends half of it
    // (same event ids, as a 503's failed_ids ask) along with events the stopped worker already counted.
    const app = buildCollector({ producer: b.producer, token: 'duplicates-test-token-01', maxBodyBytes: b.config.collectorMaxBodyBytes, maxBatch: b.config.collectorMaxBatch });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/touchpoints`;
      const post = async (events: TouchpointEvent[]) => {
        const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer duplicates-test-token-01' }, body: JSON.stringify(events) });
        expect(r.status, await r.clone().text()).toBe(200);
        return (await r.json()) as { accepted: number };
      };
      expect((await post(viaCollector)).accepted).toBe(viaCollector.length);
      expect((await post([...collectorResent, ...acrossRestart])).accepted).toBe(collectorResent.length + acrossRestart.length);
    } finally {
      await app.close();
    }
    await Promise.all(rest.map((e) => b.producer.send(e)));
    const run2 = await untilIdle(b);
    // The figure is the partitions' all-time count, kept in their checkpoints: the first run's too.
    expect(run2).toContain(`${touchpointResends} duplicates skipped`);

    const [da, db] = [await dump(a.config), await dump(b.config)];
    expect(da.raw).toEqual([{ touchpoints: touch.length, outcomes: outcomes.length }]);
    for (const t of RESULT_TABLES) {
      expect(db[t], `${t}: B (with resends) differs from A`).toEqual(da[t]);
    }
    // Not vacuous: the tables hold what the run made, and nothing came late in A.
    expect(da.customer_memory?.length).toBeGreaterThan(1000);
    expect(da.channel_drops?.length).toBeGreaterThan(10);
    expect(da.late_events).toEqual([]);
    expect(db.raw).toEqual(da.raw);
    expect(da.duplicates).toEqual([{ n: 0 }]);
    expect(db.duplicates).toEqual([{ n: touchpointResends }]);
  });
});
