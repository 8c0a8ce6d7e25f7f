/**
 * The metric processors over a simulated run landed through real Kafka into ClickHouse,
 * cross-checked by recomputing leg scores, drops and memory independently in SQL over
 * the raw `touchpoint_events` table.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../platform/config.ts';
import { consumerLag } from '../../platform/kafka/lag.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer, metricsWorker, openMigratedStore, rawIngest } from '../../pipeline/compose.ts';
import type { Store } from '../../platform/clickhouse/store.ts';
import { validateScenario } from '../../producers/simulator/scenario.ts';
import { simulate } from '../../producers/simulator/simulate.ts';
import { SimulationRun } from '../../producers/simulator/run.ts';
import { CLASS_SQL, X_SQL } from '../experienceSql.ts';
import { isolatedConfig, waitFor } from '../helpers.ts';

const log = createLogger('error', 'test');

describe('metric processors, cross-checked in SQL over the raw events', () => {
  let config: Config;
  let store: Store;
  let db: string;
  let stop: () => Promise<void>;
  let sent = 0;
  let start = 0;

  beforeAll(async () => {
    ({ config } = isolatedConfig({ CX_IDLE_FLUSH_MS: '2000', CX_TOPIC_PARTITIONS: '3' }));
    db = config.clickhouseDatabase;
    const kafka = await connectKafka(config, log);
    store = await openMigratedStore(config, log);
    const ingest = rawIngest(config, kafka, store, log);
    const metrics = metricsWorker(config, kafka, store, log);
    await ingest.start();
    await metrics.start();
    const producer = await connectProducer(config, kafka);
    // 2 hours at 8 visits/s among 1,500 customers: about 57,600 events, customers coming back often enough for drops, spirals and memory.
    // It ends 2 minutes ago: a live run, so once the partitions go quiet their watermarks follow the clock and close the last minute.
    start = Math.floor(Date.now() / 60_000) * 60_000 - 122 * 60_000;
    const scenario = validateScenario({ name: 'metrics-crosscheck', start: new Date(start).toISOString(), duration: '2h', rate: 8, customers: 1500, dailyRhythm: false });
    const run = new SimulationRun(producer, simulate({ scenario }), { garbageTopic: config.touchpointsTopic });
    await run.start();
    sent = run.stats.touchpoints;
    const admin = kafka.kafka.admin();
    await admin.connect();
    await waitFor('both consumer groups caught up', async () =>
      (await consumerLag(admin, config.consumerGroup, [config.touchpointsTopic])) === 0 &&
      (await consumerLag(admin, `${config.consumerGroup}.metrics`, [config.touchpointsTopic])) === 0, 120_000);
    // Then the idle flush releases the last events, and the stool reaches the last closed minute.
    await waitFor('every event through the folds', async () => metrics.stats.released + metrics.stats.late >= sent, 60_000);
    await admin.disconnect();
    stop = async () => {
      await producer.disconnect();
      await metrics.stop();
      await ingest.stop();
      await store.close();
    };
  });
  afterAll(async () => stop?.());

  it('processes every event, none late', async () => {
    const [raw] = await store.query<{ n: string }>(`SELECT count() AS n FROM ${db}.touchpoint_events FINAL`);
    expect(Number(raw?.n)).toBe(sent);
    const [late] = await store.query<{ n: string }>(`SELECT count() AS n FROM ${db}.late_events`);
    expect(Number(late?.n)).toBe(0);
    const [cells] = await store.query<{ events: string }>(`SELECT sum(events) AS events FROM ${db}.cell_minute FINAL`);
    expect(Number(cells?.events)).toBe(sent);
  });

  it('leg scores of every live window equal the mean x of that window\'s raw experiences', async () => {
    // Two hours are 120 minutes: a window ends with each of them once every partition's watermark has passed it
    // (and windows go on ending after the run while their 15 minutes still hold its last experiences).
    const end = new Date(start + 120 * 60_000).toISOString().slice(0, 19).replace('T', ' ');
    const windows = await waitFor('stool windows up to the end of the run', async () => {
      const rows = await store.query<{ windows: string; last: string }>(
        `SELECT countIf(DISTINCT window_end, window_end <= {end:DateTime}) AS windows, toString(max(window_end)) AS last FROM ${db}.leg_consistency`, { end });
      return rows[0] && rows[0].last >= end ? Number(rows[0].windows) : undefined;
    });
    expect(windows).toBe(120);
    const mismatches = await store.query<{ window_end: string; leg: string; score: number; sql_score: number; experiences: string; sql_n: string }>(
      `WITH exp AS (SELECT leg, occurred_at, ${X_SQL} AS x FROM ${db}.touchpoint_events FINAL WHERE x IS NOT NULL)
       SELECT toString(w.window_end) AS window_end, w.leg AS leg, w.score AS score, w.experiences AS experiences, avg(exp.x) AS sql_score, count() AS sql_n
       FROM (SELECT * FROM ${db}.leg_consistency FINAL) AS w
       INNER JOIN exp ON exp.leg = w.leg
       WHERE exp.occurred_at >= w.window_end - INTERVAL w.window_minutes MINUTE AND exp.occurred_at < w.window_end
       GROUP BY window_end, leg, score, experiences
       HAVING abs(score - sql_score) > 1e-9 OR experiences != sql_n`,
    );
    expect(mismatches).toEqual([]);
    const [rows] = await store.query<{ n: string; legs: string }>(`SELECT count() AS n, uniqExact(leg) AS legs FROM ${db}.leg_consistency FINAL`);
    expect(Number(rows?.legs)).toBe(3);
    // Three legs in (almost) every window: 120 windows x 3 legs, give or take the first minute.
    expect(Number(rows?.n)).toBeGreaterThan(350);
  });

  it('drops per channel pair equal those found in SQL over consecutive raw experiences', async () => {
    const H = config.horizonDays * 86_400;
    const sql = await store.query<{ from_channel: string; to_channel: string; cross: boolean; drops: string }>(
      `WITH exp AS (
         SELECT customer_id, toString(event_id) AS id, occurred_at, channel, ${CLASS_SQL} AS cls
         FROM ${db}.touchpoint_events FINAL WHERE cls IS NOT NULL
       ),
       pairs AS (
         SELECT *,
           lagInFrame(cls) OVER w AS prev_cls, lagInFrame(channel) OVER w AS prev_channel, lagInFrame(occurred_at) OVER w AS prev_at,
           row_number() OVER w AS k
         FROM exp
         WINDOW w AS (PARTITION BY customer_id ORDER BY occurred_at, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
       )
       SELECT prev_channel AS from_channel, channel AS to_channel, prev_channel != channel AS cross, count() AS drops
       FROM pairs
       WHERE k > 1 AND prev_cls IN ('good', 'impressed') AND cls = 'bad' AND dateDiff('millisecond', prev_at, occurred_at) <= ${H * 1000}
       GROUP BY from_channel, to_channel, cross ORDER BY from_channel, to_channel`,
    );
    const ours = await store.query<{ from_channel: string; to_channel: string; cross: boolean; drops: string }>(
      `SELECT from_channel, to_channel, cross_channel AS cross, count() AS drops FROM ${db}.channel_drops FINAL
       GROUP BY from_channel, to_channel, cross ORDER BY from_channel, to_channel`,
    );
    const norm = (rows: typeof sql) => rows.map((r) => ({ ...r, cross: Boolean(r.cross), drops: Number(r.drops) }));
    expect(norm(ours)).toEqual(norm(sql));
    const total = norm(sql).reduce((s, r) => s + r.drops, 0);
    expect(total).toBeGreaterThan(50);
    // The matrix's numerators are the same drops.
    const [m] = await store.query<{ drops: string }>(`SELECT sum(drops) AS drops FROM ${db}.drop_rate_matrix`);
    expect(Number(m?.drops)).toBe(total);
  });

  it('each customer\'s latest memory equals the formula evaluated in SQL over all their raw experiences', async () => {
    const h = config.memoryHalfLifeDays * 86_400_000;
    const mismatches = await store.query<{ customer_id: string; memory: number; sql_memory: number }>(
      `WITH exp AS (
         SELECT customer_id, toUnixTimestamp64Milli(occurred_at) AS t, ${X_SQL} AS x, ${CLASS_SQL} AS cls,
                if(moment_of_truth, ${config.momentOfTruthWeight}, 1) AS w,
                if(cls = 'bad', ${config.badMemoryFactor * h}, ${h}) AS half_life
         FROM ${db}.touchpoint_events FINAL WHERE x IS NOT NULL
       ),
       sql AS (
         SELECT customer_id, sum(w * x * pow(2, -(last - t) / half_life)) / sum(w * pow(2, -(last - t) / half_life)) AS sql_memory
         FROM (SELECT *, max(t) OVER (PARTITION BY customer_id) AS last FROM exp)
         GROUP BY customer_id
       )
       SELECT customer_id, m.memory AS memory, sql.sql_memory AS sql_memory
       FROM ${db}.customer_memory_latest AS m FULL OUTER JOIN sql USING customer_id
       WHERE NOT (abs(memory - sql_memory) < 1e-9)`,
    );
    expect(mismatches).toEqual([]);
    const [n] = await store.query<{ customers: string; atRisk: string }>(`SELECT count() AS customers, countIf(at_risk) AS atRisk FROM ${db}.customer_memory_latest`);
    expect(Number(n?.customers)).toBeGreaterThan(1000);
    expect(Number(n?.atRisk)).toBeGreaterThan(0);
  });

  it('runs every SQL example in docs/metrics.md', async () => {
    const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    const blocks = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => (m[1] as string).trim().replace(/;$/, ''));
    expect(blocks.length).toBeGreaterThanOrEqual(20);
    const failures: string[] = [];
    let withRows = 0;
    for (const sql of blocks) {
      // The docs query database cx; this run's database is its own.
      const rows = await store.query(sql.replaceAll(/\bcx\./g, `${db}.`)).catch((err: Error) => {
        failures.push(`${err.message}\n${sql}`);
        return [];
      });
      if (rows.length) withRows++;
    }
    expect(failures).toEqual([]);
    // All but the late-event examples find data in this run.
    expect(withRows).toBeGreaterThanOrEqual(blocks.length - 3);
  });

  it('fills the other result tables and views', async () => {
    const count = async (table: string) => Number((await store.query<{ n: string }>(`SELECT count() AS n FROM ${db}.${table}`))[0]?.n);
    expect(await count('journeys FINAL')).toBeGreaterThan(1000);
    expect(await count('death_spirals FINAL')).toBeGreaterThan(0);
    expect(await count('department_impact FINAL')).toBeGreaterThan(100);
    expect(await count('stool_hourly')).toBeGreaterThanOrEqual(6);
    expect(await count('department_balance')).toBeGreaterThan(3);
    // Memory impact per department is the sum of M_after - M_before over its experiences: the same from customer_memory.
    const mismatches = await store.query(
      `SELECT department, d.impact AS impact, m.impact AS from_memory
       FROM (SELECT department, sum(memory_impact) AS impact, sum(first_experiences) AS firsts FROM ${db}.department_impact FINAL GROUP BY department) AS d
       FULL OUTER JOIN (SELECT department, sum(memory - memory_before) AS impact, countIf(memory_before IS NULL) AS firsts FROM ${db}.customer_memory FINAL GROUP BY department) AS m
       USING department
       WHERE NOT (abs(d.impact - m.impact) < 1e-6) OR d.firsts != m.firsts`,
    );
    expect(mismatches).toEqual([]);
  });
});
