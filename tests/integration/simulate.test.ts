/** The simulator through real Kafka: the CLI's counts and ground truth, and an incident seen in ClickHouse. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer, openMigratedStore, rawIngest } from '../../pipeline/compose.ts';
import { validateScenario } from '../../producers/simulator/scenario.ts';
import { simulate } from '../../producers/simulator/simulate.ts';
import { SimulationRun } from '../../producers/simulator/run.ts';
import { CLASS_SQL } from '../experienceSql.ts';
import { isolatedConfig, isolatedEnv, waitFor } from '../helpers.ts';
import { loadConfig } from '../../platform/config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const log = createLogger('error', 'test');

/** Bad by docs/metrics.md's classes (tests/experienceSql.ts); traffic (an unrated OK visit) counts as not bad. */
const IS_BAD = `ifNull((${CLASS_SQL}) = 'bad', 0)`;

describe('cx simulate', () => {
  it('sends what it says it sent, and writes the ground truth', async () => {
    const env = isolatedEnv();
    const truth = join(mkdtempSync(join(tmpdir(), 'cx-truth-')), 'truth.json');
    const r = spawnSync(process.execPath, ['bin/cx.js', 'simulate', '--scenario', 'examples/scenarios/checkout-step.yaml', '--duration', '3h', '--rate', '1', '--truth', truth], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const m = /Sent ([\d,]+) touchpoint events and ([\d,]+) outcomes in [\d.]+ s: ([\d,]+) events\/s into Kafka/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const [touchpoints, outcomes] = [Number(m?.[1]?.replaceAll(',', '')), Number(m?.[2]?.replaceAll(',', ''))];
    // 1 visit/s for 3 hours from 08:00, on the rising morning side of the daily rhythm: several thousand.
    expect(touchpoints).toBeGreaterThan(3000);
    expect(r.stdout).toContain('Note: 1 incident(s) start after the simulated time ends');

    const config = loadConfig(env);
    const kafka = await connectKafka(config, log);
    const admin = kafka.kafka.admin();
    await admin.connect();
    const inTopic = async (topic: string) => (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
    expect(await inTopic(config.touchpointsTopic)).toBe(touchpoints);
    expect(await inTopic(config.outcomesTopic)).toBe(outcomes);
    await admin.disconnect();

    const written = JSON.parse(readFileSync(truth, 'utf8')) as { scenario: string; incidents: { kind: string; start: string; end: string }[] };
    expect(written.scenario).toBe('checkout-step');
    // The run covers 08:00-11:00: the step (10:00-11:00) ran, the chat outage (12:00) did not.
    expect(written.incidents.map((i) => [i.kind, i.start, i.end])).toEqual([['step', '2026-11-02T10:00:00.000Z', '2026-11-02T11:00:00.000Z']]);
  });

  it('makes a step incident visible in ClickHouse, measured in SQL', async () => {
    const { config } = isolatedConfig();
    const kafka = await connectKafka(config, log);
    const store = await openMigratedStore(config, log);
    const ingest = rawIngest(config, kafka, store, log);
    await ingest.start();
    const producer = await connectProducer(config, kafka);
    const scenario = validateScenario({
      name: 'sql-step', start: '2026-11-02T12:00:00Z', duration: '1h', rate: 20, customers: 20_000, contagion: 0, dailyRhythm: false,
      incidents: [{ kind: 'step', touchpoint: 'checkout', start: '20m', end: '40m', level: 0.4 }],
    });
    const run = new SimulationRun(producer, simulate({ scenario }), { garbageTopic: config.touchpointsTopic });
    await run.start();
    await waitFor('every simulated event stored', async () => ingest.stats.touchpointRows >= run.stats.touchpoints);
    const [r] = await store.query<{ during: number; before: number; n: string }>(
      `SELECT avgIf(${IS_BAD}, occurred_at >= '2026-11-02 12:20:00' AND occurred_at < '2026-11-02 12:40:00') AS during,
              avgIf(${IS_BAD}, occurred_at < '2026-11-02 12:20:00') AS before,
              countIf(occurred_at >= '2026-11-02 12:20:00' AND occurred_at < '2026-11-02 12:40:00') AS n
       FROM ${config.clickhouseDatabase}.touchpoint_events WHERE touchpoint = 'checkout'`,
    );
    await producer.disconnect();
    await ingest.stop();
    await store.close();
    // About 20/s x 1200 s x 1/4 (purchase) x 4/9 (checkout's weight) = 2,700 visits; sd of the rate ~0.01.
    expect(Number(r?.n)).toBeGreaterThan(1500);
    expect(Math.abs(Number(r?.during) - 0.4)).toBeLessThan(0.04);
    expect(Math.abs(Number(r?.before) - 0.08)).toBeLessThan(0.03);
  });
});
