/**
 * Every Grafana alert rule's SQL, run on the real ClickHouse engine (embedded chdb) over
 * rows that should make it fire and rows that should not. The rule's threshold and
 * no-data state are then applied the way Grafana does to a table of string columns
 * (labels) and one number column (one alert instance per row).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AlertRuleFile, ProvisionedAlertRule } from '../../dashboards/alerts/ruleFile.ts';
import { renderBuild } from '../../dashboards/build.ts';
import { isClickHouseQuery } from '../../dashboards/clickhouseQuery.ts';
import { migrate } from '../../platform/clickhouse/migrate.ts';
import { openStore, type Store } from '../../platform/clickhouse/store.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DB = 'cx';
const E = 0.6;
const dataDir = mkdtempSync(join(tmpdir(), 'cx-alert-rules-'));

// The rules exactly as written to the provisioning file.
const built = renderBuild({ clickhouseDatabase: DB, stoolThreshold: E }).find((f) => f.path === 'alerting/cx-alert-rules.json');
const rules = (JSON.parse(built?.text ?? '{}') as AlertRuleFile).groups.flatMap((g) => g.rules);
const ruleNamed = (uid: string): ProvisionedAlertRule => {
  const r = rules.find((x) => x.uid === uid);
  if (!r) throw new Error(`no alert rule ${uid}`);
  return r;
};

let store: Store;

beforeAll(async () => {
  store = await openStore({ clickhousePath: dataDir, clickhouseDatabase: DB, clickhouseUrl: undefined, clickhouseUser: 'default', clickhousePassword: '' });
  await migrate(store);
});

afterAll(async () => {
  await store?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(async () => {
  for (const table of ['touchpoint_events', 'outcome_events', 'dead_letters', 'leg_consistency', 'alerts']) await store.command(`TRUNCATE TABLE ${DB}.${table}`);
});

interface Instance {
  labels: Record<string, string>;
  value: number;
  firing: boolean;
}

interface Evaluation {
  columns: string[];
  instances: Instance[];
  /** What Grafana makes of the rule now (before `for`): firing instances, or the no-data state. */
  state: 'firing' | 'normal' | 'nodata-alerting' | 'nodata';
}

const STRING = /^(LowCardinality\()?(Nullable\()?String\)?\)?$/;
// Not Nullable: a NULL value would reach Grafana as no value at all.
const NUMBER = /^(U?Int(8|16|32|64)|Float(32|64))$/;

/** Runs query A of a rule and applies its threshold B, as Grafana's expression engine would. */
async function evaluate(rule: ProvisionedAlertRule): Promise<Evaluation> {
  const [query, condition] = rule.data;
  const model = query?.model;
  if (!isClickHouseQuery(model)) throw new Error(`${rule.uid}: query A is not a ClickHouse query`);
  const threshold = condition?.model as unknown as { type: string; expression: string; conditions: { evaluator: { type: string; params: number[] } }[] };
  expect(threshold).toMatchObject({ type: 'threshold', expression: 'A' });
  expect(rule.condition).toBe(condition?.refId);

  // Grafana turns a table into numbers only if every column is a string but exactly one number.
  const types = await store.query<{ name: string; type: string }>(`DESCRIBE TABLE (${model.rawSql})`);
  const numbers = types.filter((t) => NUMBER.test(t.type));
  expect(numbers, `${rule.uid}: one number column`).toHaveLength(1);
  for (const t of types) expect(STRING.test(t.type) || NUMBER.test(t.type), `${rule.uid}: column ${t.name} is ${t.type}`).toBe(true);
  const labelColumns = types.filter((t) => STRING.test(t.type)).map((t) => t.name);
  const valueColumn = numbers[0]?.name as string;

  const { columns, rows } = await store.queryWithColumns(model.rawSql);
  const { type, params } = threshold.conditions[0]?.evaluator ?? { type: '', params: [] };
  const holds = (v: number) => (type === 'gt' ? v > (params[0] as number) : type === 'lt' ? v < (params[0] as number) : Number.NaN);
  const instances = rows.map((row) => {
    const value = Number(row[valueColumn]);
    return { labels: Object.fromEntries(labelColumns.map((c) => [c, String(row[c])])), value, firing: holds(value) === true };
  });
  const keys = instances.map((i) => JSON.stringify(i.labels));
  expect(new Set(keys).size, `${rule.uid}: one row per label set`).toBe(keys.length);
  for (const text of Object.values(rule.annotations)) {
    for (const [, label] of text.matchAll(/\$labels\.(\w+)/g)) expect(labelColumns, `${rule.uid} annotation reads $labels.${label}`).toContain(label);
  }

  let state: Evaluation['state'];
  if (instances.length === 0) state = rule.noDataState === 'OK' ? 'normal' : rule.noDataState === 'Alerting' ? 'nodata-alerting' : 'nodata';
  else state = instances.some((i) => i.firing) ? 'firing' : 'normal';
  return { columns, instances, state };
}

const firing = (e: Evaluation) => e.instances.filter((i) => i.firing).map((i) => ({ labels: i.labels, value: i.value }));

describe('Touchpoint degraded (open TOUCHPOINT_DEGRADED alerts)', () => {
  const rule = ruleNamed('cx-touchpoint-degraded');

  /** One lifecycle change of an alert, as the pipeline stores it. */
  async function change(id: string, version: number, status: string, kind: string, channel: string, touchpoint: string, leg = 'OPERATIONS') {
    await store.command(
      `INSERT INTO ${DB}.alerts (alert_id, version, status, kind, severity, channel, touchpoint, leg, baseline, current, started_at, detected_at, changed_at)
       VALUES ({id:UUID}, {version:UInt32}, {status:String}, {kind:String}, 'WARNING', {channel:String}, {touchpoint:String}, {leg:String}, 0.1, 0.3, now64(3), now64(3), now64(3))`,
      { id, version, status, kind, channel, touchpoint, leg },
    );
  }

  it('fires once per touchpoint with an open alert, and not for a resolved one or a leg alert', async () => {
    const web = randomUUID();
    const app = randomUUID();
    const store_ = randomUUID();
    await change(web, 1, 'OPENED', 'TOUCHPOINT_DEGRADED', 'WEB', 'checkout');
    await change(app, 1, 'OPENED', 'TOUCHPOINT_DEGRADED', 'APP', 'login');
    await change(app, 2, 'RESOLVED', 'TOUCHPOINT_DEGRADED', 'APP', 'login');
    // Opened then updated: still one open alert (the newest version counts), value 1, not 2.
    await change(store_, 1, 'OPENED', 'TOUCHPOINT_DEGRADED', 'STORE', 'till');
    await change(store_, 2, 'UPDATED', 'TOUCHPOINT_DEGRADED', 'STORE', 'till');
    // A leg alert is another rule's business.
    await change(randomUUID(), 1, 'OPENED', 'LEG_BELOW_THRESHOLD', '', '', 'PRODUCT');

    const e = await evaluate(rule);
    expect(e.columns).toEqual(['channel', 'touchpoint', 'open_alerts']);
    expect(e.state).toBe('firing');
    expect(e.instances).toEqual([
      { labels: { channel: 'STORE', touchpoint: 'till' }, value: 1, firing: true },
      { labels: { channel: 'WEB', touchpoint: 'checkout' }, value: 1, firing: true },
    ]);

    // Both resolve: no rows, which the rule reads as OK.
    await change(web, 2, 'RESOLVED', 'TOUCHPOINT_DEGRADED', 'WEB', 'checkout');
    await change(store_, 3, 'RESOLVED', 'TOUCHPOINT_DEGRADED', 'STORE', 'till');
    const after = await evaluate(rule);
    expect(after.instances).toEqual([]);
    expect(after.state).toBe('normal');
  });
});

describe('Stool not standing (newest leg_consistency window)', () => {
  const rule = ruleNamed('cx-stool-not-standing');

  async function window(windowEnd: string, scores: Record<string, number>) {
    const rows = Object.entries(scores).map(([leg, score]) => `(toDateTime('${windowEnd}', 'UTC'), 15, '${leg}', 100, ${score})`);
    await store.command(`INSERT INTO ${DB}.leg_consistency (window_end, window_minutes, leg, experiences, score) VALUES ${rows.join(', ')}`);
  }

  it('is quiet before any window exists', async () => {
    const e = await evaluate(rule);
    expect(e.columns).toEqual(['leg', 'leg_score']);
    expect(e.state).toBe('normal');
  });

  it('fires for the leg below E in the newest window only, and stops when every leg is back', async () => {
    // An older window where every leg is low: not the newest, so it must not count.
    await window('2026-11-23 10:00:00', { PRODUCT: 0.4, OPERATIONS: 0.4, SALES_MARKETING: 0.4 });
    // Newest window: OPERATIONS at 0.55 < E = 0.6; 0.7 and 0.72 stand.
    await window('2026-11-23 10:01:00', { PRODUCT: 0.7, OPERATIONS: 0.55, SALES_MARKETING: 0.72 });
    const e = await evaluate(rule);
    expect(e.state).toBe('firing');
    expect(e.instances).toEqual([
      { labels: { leg: 'OPERATIONS' }, value: 0.55, firing: true },
      { labels: { leg: 'PRODUCT' }, value: 0.7, firing: false },
      { labels: { leg: 'SALES_MARKETING' }, value: 0.72, firing: false },
    ]);

    // The next window: every leg at 0.7 (OPERATIONS first written at 0.5, then rewritten at
    // 0.7 as a replay would; the newest version of the row counts).
    await window('2026-11-23 10:02:00', { PRODUCT: 0.7, OPERATIONS: 0.5, SALES_MARKETING: 0.7 });
    await window('2026-11-23 10:02:00', { OPERATIONS: 0.7 });
    const back = await evaluate(rule);
    expect(back.state).toBe('normal');
    expect(back.instances.map((i) => [i.labels.leg, i.value])).toEqual([['OPERATIONS', 0.7], ['PRODUCT', 0.7], ['SALES_MARKETING', 0.7]]);
  });

  it('uses E exactly: a leg at E stands', async () => {
    await window('2026-11-23 11:00:00', { PRODUCT: E, OPERATIONS: 0.9, SALES_MARKETING: 0.9 });
    expect((await evaluate(rule)).state).toBe('normal');
  });
});

describe('Pipeline stalled (freshness of touchpoint_events)', () => {
  const rule = ruleNamed('cx-pipeline-stalled');

  const ingest = (n: number, agoSeconds: number) =>
    store.command(`INSERT INTO ${DB}.touchpoint_events (event_id, occurred_at, ingested_at) SELECT generateUUIDv4(), now64(3), now64(3) - INTERVAL ${agoSeconds} SECOND FROM numbers(${n})`);

  it('fires on an empty table', async () => {
    const e = await evaluate(rule);
    expect(e.columns).toEqual(['seconds_since_last_event']);
    // Empty: the query says 1e9 s rather than nothing, so the rule fires without relying on no-data handling.
    expect(e.instances).toEqual([{ labels: {}, value: 1_000_000_000, firing: true }]);
    expect(e.state).toBe('firing');
  });

  it('fires when the newest event is 20 minutes old, not when one came in seconds ago', async () => {
    await ingest(3, 20 * 60);
    const stale = await evaluate(rule);
    // 20 min = 1200 s > 300 s (a second or two more if the clock ticks during the test).
    expect(stale.instances[0]?.value).toBeGreaterThanOrEqual(1200);
    expect(stale.instances[0]?.value).toBeLessThan(1260);
    expect(stale.state).toBe('firing');

    await ingest(1, 5);
    const fresh = await evaluate(rule);
    // The newest row counts: about 5 s < 300 s.
    expect(fresh.instances[0]?.value).toBeGreaterThanOrEqual(5);
    expect(fresh.instances[0]?.value).toBeLessThan(65);
    expect(fresh.state).toBe('normal');
  });
});

describe('Dead-letter rate too high (last 5 minutes)', () => {
  const rule = ruleNamed('cx-dead-letter-rate');

  const touchpoints = (n: number, agoSeconds: number) =>
    store.command(`INSERT INTO ${DB}.touchpoint_events (event_id, occurred_at, ingested_at) SELECT generateUUIDv4(), now64(3), now64(3) - INTERVAL ${agoSeconds} SECOND FROM numbers(${n})`);
  const outcomes = (n: number, agoSeconds: number) =>
    store.command(`INSERT INTO ${DB}.outcome_events (event_id, occurred_at, ingested_at) SELECT generateUUIDv4(), now64(3), now64(3) - INTERVAL ${agoSeconds} SECOND FROM numbers(${n})`);
  // Distinct source offsets: the table keeps one row per source position.
  let offset = 0;
  const deadLetters = async (n: number, agoSeconds: number) => {
    await store.command(
      `INSERT INTO ${DB}.dead_letters (source_cluster, source_topic, source_partition, source_offset, raw_base64, raw_bytes, reason_code, reason, step, received_at)
       SELECT 'test', 'cx.touchpoints.v1', 0, ${offset} + number, '', 0, 'not_avro', 'test', 'decode', now64(3) - INTERVAL ${agoSeconds} SECOND FROM numbers(${n})`,
    );
    offset += n;
  };

  it('is 0 and quiet with no traffic at all', async () => {
    const e = await evaluate(rule);
    expect(e.columns).toEqual(['dead_letter_ratio']);
    expect(e.instances).toEqual([{ labels: {}, value: 0, firing: false }]);
  });

  it('fires at 5 dead letters among 100 messages, counting the last 5 minutes only', async () => {
    // In the window (1 min ago): 90 touchpoint + 5 outcome events and 5 dead letters.
    await touchpoints(90, 60);
    await outcomes(5, 60);
    await deadLetters(5, 60);
    // Outside it (10 min ago): 200 events and 40 dead letters, which would give 45/340 if counted.
    await touchpoints(200, 600);
    await deadLetters(40, 600);
    const e = await evaluate(rule);
    // 5 / (5 + 90 + 5) = 0.05 > 0.01.
    expect(e.instances).toHaveLength(1);
    expect(e.instances[0]?.value).toBeCloseTo(0.05, 12);
    expect(e.state).toBe('firing');
  });

  it('stays quiet at exactly 1% (the threshold is "above") and with none in the window', async () => {
    // 1 / (1 + 99) = 0.01, not above 0.01.
    await touchpoints(99, 30);
    await deadLetters(1, 30);
    const edge = await evaluate(rule);
    expect(edge.instances[0]?.value).toBeCloseTo(0.01, 12);
    expect(edge.state).toBe('normal');

    await store.command(`TRUNCATE TABLE ${DB}.dead_letters`);
    const none = await evaluate(rule);
    // 0 / 99.
    expect(none.instances).toEqual([{ labels: {}, value: 0, firing: false }]);
  });
});

describe('`cx dashboards build`', () => {
  it('writes the same rule file to --out and says what it wrote', () => {
    const out = mkdtempSync(join(tmpdir(), 'cx-dashboards-build-'));
    try {
      const env = { ...process.env, CLICKHOUSE_DATABASE: DB, CX_STOOL_THRESHOLD: String(E) };
      const r = spawnSync(process.execPath, ['bin/cx.js', 'dashboards', 'build', '--out', out], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/wrote .*alerting\/cx-alert-rules\.json: 4 alert rules: Touchpoint degraded, Stool not standing, Pipeline stalled, Dead-letter rate too high/);
      expect(readFileSync(join(out, 'alerting/cx-alert-rules.json'), 'utf8')).toBe(built?.text);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
