/**
 * Touchpoint alerts end to end, effectively once: a simulated step on checkout goes
 * through real Kafka and `cx process` into embedded ClickHouse and out to the alerts
 * topic. The worker is SIGKILLed after its first alert changes are stored and before
 * they are published (the worst moment); a second worker takes over. Every change
 * must be on the topic exactly once, in order, and match the `alerts` table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../platform/clickhouse/store.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer, type Connected } from '../../pipeline/compose.ts';
import { SimulationRun } from '../../producers/simulator/run.ts';
import { validateScenario } from '../../producers/simulator/scenario.ts';
import { simulate } from '../../producers/simulator/simulate.ts';
import type { AlertEvent } from '../../schemas/contracts.ts';
import { isolatedConfig, waitFor } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { env, config } = isolatedConfig({ LOG_LEVEL: 'info', CX_CONSUMER_SESSION_TIMEOUT_MS: '6000', CX_ALERT_RESOLVE_MINUTES: '5' });
const log = createLogger('error', 'test');
const MIN = 60_000;
let kafka: Connected;

function startWorker(extra: Record<string, string> = {}): { child: ChildProcess; output: string[]; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, ['bin/cx.js', 'process'], { cwd: ROOT, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, output, exit };
}

/** Every message on the alerts topic so far, decoded, in offset order. */
async function publishedAlerts(): Promise<AlertEvent[]> {
  const admin = kafka.kafka.admin();
  await admin.connect();
  const high = Number((await admin.fetchTopicOffsets(config.alertsTopic)).find((o) => o.partition === 0)?.high ?? 0);
  await admin.disconnect();
  if (high === 0) return [];
  const consumer = kafka.kafka.consumer({ groupId: `${config.consumerGroup}.reader-${Date.now()}`, maxWaitTimeInMs: 200 });
  const out: AlertEvent[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [config.alertsTopic], fromBeginning: true });
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        const d = kafka.registry.decode(message.value);
        if (d.ok) out.push(d.value as unknown as AlertEvent);
        if (Number(message.offset) + 1 >= high) resolve();
      },
    });
  });
  await done;
  await consumer.disconnect();
  return out;
}

beforeAll(async () => {
  kafka = await connectKafka(config, log);
});

describe('touchpoint alerts through the pipeline', () => {
  it('opens and resolves one alert for a step on checkout, publishing each change exactly once despite a kill before publishing', async () => {
    // 70 minutes at 12 visits/s: checkout gets about 12 * 60 / 4 stages * 4/9 of its stage = 80 visits a minute,
    // so its 100-visit history is learned within the first minutes, long before the step at 30 min.
    const start = Date.UTC(2026, 10, 9, 10, 0);
    const scenario = validateScenario({
      name: 'alerts-it', start: new Date(start).toISOString(), duration: '70m', rate: 12, customers: 5000, seed: 41, dailyRhythm: false,
      incidents: [{ kind: 'step', touchpoint: 'checkout', start: '30m', end: '45m', level: 0.5 }],
    });
    const producer = await connectProducer(config, kafka);
    const run = new SimulationRun(producer, simulate({ scenario }), { garbageTopic: config.touchpointsTopic });
    await run.start();
    await producer.disconnect();

    // Worker A dies right after storing its first alert changes, before publishing them.
    const a = startWorker({ CX_FAULT_KILL_AFTER_ALERT_CHANGES: '1' });
    const exitA = await Promise.race([a.exit, new Promise<null>((r) => setTimeout(() => r(null), 240_000))]);
    if (!exitA) a.child.kill('SIGKILL');
    expect(exitA?.signal, `worker A was not killed at its first alert changes:\n${a.output.join('').slice(-3000)}`).toBe('SIGKILL');
    expect(await publishedAlerts()).toEqual([]);

    // Worker B takes over: it must publish what A stored, then carry on to the resolution.
    const b = startWorker();
    const stepStart = start + 30 * MIN;
    const stepEnd = start + 45 * MIN;
    const isCheckout = (e: AlertEvent) => e.kind === 'TOUCHPOINT_DEGRADED' && e.touchpoint === 'checkout';
    let events: AlertEvent[] = [];
    try {
      events = await waitFor('the checkout alert to resolve on the topic', async () => {
        const all = await publishedAlerts();
        return all.some((e) => isCheckout(e) && e.status === 'RESOLVED') && all;
      }, 240_000, 2_000);
      // Let B finish its round, then stop it cleanly so the store can be opened here.
      await new Promise((r) => setTimeout(r, 3_000));
    } finally {
      b.child.kill('SIGTERM');
      await b.exit;
    }
    events = await publishedAlerts();

    // Exactly once: no (alert_id, version) twice, versions 1..n with no gap, in order of change.
    const keys = events.map((e) => `${e.alert_id}:${e.version}`);
    expect(new Set(keys).size).toBe(keys.length);
    const byAlert = new Map<string, AlertEvent[]>();
    for (const e of events) byAlert.set(e.alert_id, [...(byAlert.get(e.alert_id) ?? []), e]);
    for (const [, changes] of byAlert) {
      expect(changes.map((c) => c.version)).toEqual(changes.map((_, i) => i + 1));
      expect(changes[0]?.status).toBe('OPENED');
      expect(changes.slice(1, -1).every((c) => c.status === 'UPDATED')).toBe(true);
    }
    const changedAt = events.map((e) => e.changed_at);
    expect(changedAt).toEqual([...changedAt].sort((x, y) => x - y));

    // One checkout alert: opened within 3 event-time minutes of the step, started near it, resolved after it ended.
    const checkout = events.filter(isCheckout);
    expect(new Set(checkout.map((e) => e.alert_id)).size).toBe(1);
    const opened = checkout[0] as AlertEvent;
    const resolved = checkout[checkout.length - 1] as AlertEvent;
    expect(opened.status).toBe('OPENED');
    expect(opened.channel).toBe('WEB');
    expect(opened.detected_at - stepStart).toBeGreaterThan(0);
    expect(opened.detected_at - stepStart).toBeLessThanOrEqual(3 * MIN);
    expect(Math.abs(opened.started_at - stepStart)).toBeLessThanOrEqual(3 * MIN);
    // Checkout's own bad rate is about 8% plus contagion: the baseline must be well below the 50% step, the rate near it.
    expect(opened.baseline).toBeLessThan(0.2);
    expect(opened.current).toBeGreaterThan(0.3);
    expect(opened.evidence.bad).toBeGreaterThan(0);
    expect(resolved.status).toBe('RESOLVED');
    expect(resolved.resolved_at).toBeGreaterThanOrEqual(stepEnd);
    expect(resolved.resolved_at as number).toBeLessThanOrEqual(stepEnd + 15 * MIN);

    // The topic and the table hold the same changes; the view shows no checkout alert open.
    const store = await openStore(config);
    try {
      const db = config.clickhouseDatabase;
      const rows = await store.query<{ k: string }>(`SELECT concat(toString(alert_id), ':', toString(version)) AS k FROM ${db}.alerts FINAL ORDER BY k`);
      expect(rows.map((r) => r.k)).toEqual([...keys].sort());
      expect(await store.query(`SELECT alert_id FROM ${db}.open_alerts WHERE touchpoint = 'checkout'`)).toEqual([]);
      // Health: one row per touchpoint and minute, checkout degraded while its alert was open.
      const [h] = await store.query<{ rows: string; distinct: string; degraded: string }>(
        `SELECT count() AS rows, uniqExact(minute, channel, touchpoint) AS distinct, countIf(touchpoint = 'checkout' AND state = 'degraded') AS degraded FROM ${db}.touchpoint_health FINAL`,
      );
      expect(Number(h?.rows)).toBe(Number(h?.distinct));
      const openMinutes = ((resolved.resolved_at as number) - opened.detected_at) / MIN;
      expect(Number(h?.degraded)).toBe(openMinutes);
      // docs/alerts.md's queries run on this data; the health query finds checkout's last hour.
      const doc = readFileSync(new URL('../../docs/alerts.md', import.meta.url), 'utf8');
      const queries = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].flatMap((m) => (m[1] as string).split(/;\s*\n/)).map((q) => q.trim()).filter((q) => q.split('\n').some((l) => l && !l.startsWith('--')));
      expect(queries.length).toBeGreaterThanOrEqual(2);
      const results = [];
      for (const q of queries) results.push(await store.query(q.replaceAll('cx.', `${db}.`)));
      expect(results[1]?.length).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});

afterAll(async () => undefined);
