/**
 * `npm run eval:alerts`: scores touchpoint degradation alerts on simulated scenarios
 * with ground truth, through the real pipeline: the simulator plays each scenario into
 * Kafka as fast as it takes it (compressed event time), the metrics worker and the
 * alert stage run as in `cx process`, on a fresh embedded ClickHouse per scenario, and
 * the alerts they store are scored against the injected incidents.
 *
 *   npm run eval:alerts                       # every scenario below
 *   npm run eval:alerts -- step-series quiet-week
 *
 * Kafka: KAFKA_BROKERS, or the project's local broker (started if needed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../platform/config.ts';
import { consumerLag } from '../platform/kafka/lag.ts';
import { createLogger } from '../platform/log.ts';
import { alertStage, connectKafka, connectProducer, metricsWorker, openMigratedStore } from '../pipeline/compose.ts';
import { SimulationRun } from '../producers/simulator/run.ts';
import { readScenario, type Scenario } from '../producers/simulator/scenario.ts';
import { groundTruth, simulate } from '../producers/simulator/simulate.ts';
import { median, scoreAlerts, type OpenedAlert, type ScenarioScore } from './scoreAlerts.ts';

const SCENARIOS_DIR = fileURLToPath(new URL('../examples/scenarios/', import.meta.url));

/** What each scenario stands for in the targets. */
const SCENARIOS: { name: string; file: string; role: string }[] = [
  { name: 'step-series', file: 'step-series.yaml', role: 'busy steps (30-50 experiences/min, bad rate doubled or more)' },
  { name: 'checkout-step', file: 'checkout-step.yaml', role: 'busy step and a channel outage' },
  { name: 'low-traffic-step', file: 'low-traffic-step.yaml', role: 'step on a low-traffic touchpoint (about a visit a minute)' },
  { name: 'delivery-drift', file: 'delivery-drift.yaml', role: 'gradual drift over hours, and a leg incident' },
  { name: 'quiet-week', file: 'quiet-week.json', role: 'no incident, daily rhythm: every alert is a false alarm' },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => n.toLocaleString('en-US');
const say = (s = '') => process.stdout.write(`${s}\n`);

async function runScenario(base: Config, scenario: Scenario): Promise<{ score: ScenarioScore; events: number; seconds: number; legAlerts: number }> {
  const id = randomUUID().slice(0, 8);
  const dir = mkdtempSync(join(tmpdir(), 'cx-eval-'));
  const config: Config = {
    ...base,
    touchpointsTopic: `eval-${id}.touchpoints`, outcomesTopic: `eval-${id}.outcomes`, deadLetterTopic: `eval-${id}.deadletter`, alertsTopic: `eval-${id}.alerts`,
    consumerGroup: `eval-${id}`, clickhousePath: dir,
  };
  const log = createLogger('warn', 'eval');
  const kafka = await connectKafka(config, log);
  const store = await openMigratedStore(config, log);
  const metrics = metricsWorker(config, kafka, store, log);
  const alerts = alertStage(config, kafka, store, log);
  const producer = await connectProducer(config, kafka);
  const admin = kafka.kafka.admin();
  await admin.connect();
  const t0 = Date.now();
  try {
    await metrics.start();
    await alerts.start();
    const run = new SimulationRun(producer, simulate({ scenario }), { garbageTopic: config.touchpointsTopic });
    const playing = run.start();
    const end = scenario.start + scenario.duration;
    const tty = process.stderr.isTTY;
    let ticks = 0;
    const progress = setInterval(() => {
      const at = run.stats.eventTime ? new Date(run.stats.eventTime).toISOString().slice(0, 16) : '-';
      const line = `  ${scenario.name}: sent ${fmt(run.stats.touchpoints)} (event time ${at}) · folded ${fmt(metrics.stats.released)} · alert minutes ${fmt(alerts.stats.minutes)} · ${Math.round((Date.now() - t0) / 1000)} s`;
      if (tty) process.stderr.write(`\r\x1b[2K${line}`);
      else if (++ticks % 30 === 0) process.stderr.write(`${line}\n`);
    }, 1000);
    try {
      await playing;
      const sent = run.stats.touchpoints;
      // Caught up: every event through the folds, then the alert stage at the stool's frontier and staying there.
      for (;;) {
        const lag = await consumerLag(admin, `${config.consumerGroup}.metrics`, [config.touchpointsTopic]).catch(() => -1);
        if (lag === 0 && metrics.stats.released + metrics.stats.late >= sent) break;
        await sleep(500);
      }
      let last = -1;
      for (;;) {
        await sleep(3000);
        const [r] = await store.query<{ n: number | string }>(`SELECT count() AS n FROM ${store.database}.touchpoint_health`);
        const n = Number(r?.n ?? 0);
        if (n === last && alerts.stats.minutes > 0) break;
        last = n;
      }
    } finally {
      clearInterval(progress);
      if (tty) process.stderr.write('\r\x1b[2K');
    }
    const db = store.database;
    const opened = await store.query<{ kind: string; channel: string; touchpoint: string; leg: string; detected: number | string; started: number | string }>(
      `SELECT kind, channel, touchpoint, leg, toUnixTimestamp64Milli(detected_at) AS detected, toUnixTimestamp64Milli(started_at) AS started
       FROM ${db}.alerts FINAL WHERE status = 'OPENED' ORDER BY detected_at`,
    );
    const [tp] = await store.query<{ n: number | string; last: number | string }>(`SELECT uniqExact(channel, touchpoint) AS n, toUnixTimestamp(max(minute)) * 1000 AS last FROM ${db}.touchpoint_health WHERE events > 0`);
    const lastMinute = Number(tp?.last ?? 0);
    if (lastMinute < end - 5 * 60_000) say(`  note: alerts were evaluated up to ${new Date(lastMinute).toISOString()}, not the scenario's end ${new Date(end).toISOString()}`);
    const all: OpenedAlert[] = opened.map((o) => ({ kind: o.kind, channel: o.channel || null, touchpoint: o.touchpoint || null, leg: o.leg, detectedAt: Number(o.detected), startedAt: Number(o.started) }));
    return {
      score: scoreAlerts(groundTruth(scenario), all, Number(tp?.n ?? 0)),
      events: run.stats.touchpoints,
      seconds: (Date.now() - t0) / 1000,
      legAlerts: all.filter((a) => a.kind === 'LEG_BELOW_THRESHOLD').length,
    };
  } finally {
    await producer.disconnect().catch(() => undefined);
    await alerts.stop().catch(() => undefined);
    await metrics.stop().catch(() => undefined);
    await admin.deleteTopics({ topics: [config.touchpointsTopic, config.outcomesTopic, config.deadLetterTopic, config.alertsTopic] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()).join('\n');
}

const minutes = (x: number | null) => (x === null ? '-' : x.toFixed(0));

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !SCENARIOS.some((s) => s.name === w));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}: expected some of ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const chosen = wanted.length ? SCENARIOS.filter((s) => wanted.includes(s.name)) : SCENARIOS;
  const config = loadConfig();
  say(`Alert evaluation: CUSUM h = ${config.alertCusumThreshold}, baseline half-life ${config.alertBaselineHalfLifeHours} h, min history ${config.alertMinHistory} visits, resolve after ${config.alertResolveMinutes} min.`);
  say('Delays are event-time minutes from an incident\'s start to the end of the minute whose data opened the alert.');
  const results: { name: string; role: string; r: Awaited<ReturnType<typeof runScenario>> }[] = [];
  for (const s of chosen) {
    const scenario = readScenario(join(SCENARIOS_DIR, s.file));
    say();
    say(`== ${s.name}: ${s.role}`);
    const r = await runScenario(config, scenario);
    results.push({ name: s.name, role: s.role, r });
    const { score } = r;
    const delays = score.incidents.flatMap((i) => (i.delayMinutes === null ? [] : [i.delayMinutes]));
    say(`${fmt(r.events)} events in ${r.seconds.toFixed(0)} s (${fmt(Math.round(r.events / r.seconds))}/s); ${score.touchpointDays.toFixed(1)} touchpoint-days`);
    if (score.incidents.length) {
      say(table([
        ['incident', 'kind', 'on', 'detected', 'delay (min)', 'alerts'],
        ...score.incidents.map((i) => [i.id, i.kind, i.subject, i.detected ? 'yes' : 'MISSED', minutes(i.delayMinutes), String(i.alerts)]),
      ]));
    }
    say(table([
      ['incidents', 'detected', 'median delay', 'max delay', 'missed', 'false alarms', 'per 100 tp-days', 'leg alerts'],
      [String(score.incidents.length), String(score.incidents.filter((i) => i.detected).length), minutes(median(delays)), minutes(delays.length ? Math.max(...delays) : null),
        String(score.incidents.filter((i) => !i.detected).length), String(score.falseAlarms.length), score.falseAlarmsPer100TouchpointDays.toFixed(2), String(r.legAlerts)],
    ]));
    for (const a of score.falseAlarms) say(`  false alarm: ${a.channel} ${a.touchpoint} opened ${new Date(a.detectedAt).toISOString().slice(0, 16)} (started ${new Date(a.startedAt).toISOString().slice(11, 16)})`);
  }

  // Against the targets, where the scenarios ran.
  const steps = results.filter((x) => x.name === 'step-series' || x.name === 'checkout-step').flatMap((x) => x.r.score.incidents.filter((i) => i.kind === 'step'));
  const outages = results.flatMap((x) => x.r.score.incidents.filter((i) => i.kind === 'outage'));
  const quiet = results.find((x) => x.name === 'quiet-week');
  const lines: string[][] = [['target', 'measured', 'met']];
  if (steps.length) {
    const d = steps.flatMap((i) => (i.delayMinutes === null ? [] : [i.delayMinutes]));
    const all = d.length === steps.length;
    const med = median(d);
    const max = d.length ? Math.max(...d) : null;
    lines.push(['busy steps: all detected, median <= 2 min, max <= 5', `${d.length}/${steps.length} detected, median ${minutes(med)}, max ${minutes(max)}`, all && med !== null && med <= 2 && max !== null && max <= 5 ? 'yes' : 'NO']);
  }
  for (const o of outages) lines.push([`channel outage (${o.subject}) within 2 min`, o.detected ? `${minutes(o.delayMinutes)} min` : 'missed', o.detected && (o.delayMinutes as number) <= 2 ? 'yes' : 'NO']);
  if (quiet) lines.push(['quiet week: <= 1 false alarm per 100 touchpoint-days', `${quiet.r.score.falseAlarms.length} in ${quiet.r.score.touchpointDays.toFixed(0)} touchpoint-days = ${quiet.r.score.falseAlarmsPer100TouchpointDays.toFixed(2)}`, quiet.r.score.falseAlarmsPer100TouchpointDays <= 1 ? 'yes' : 'NO']);
  for (const x of results.filter((y) => y.name === 'low-traffic-step' || y.name === 'delivery-drift')) {
    for (const i of x.r.score.incidents) lines.push([`${i.kind} on ${i.subject}: detected (delay reported)`, i.detected ? `${minutes(i.delayMinutes)} min` : 'missed', i.detected ? 'yes' : 'NO']);
  }
  say();
  say('== Targets');
  say(table(lines));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`eval:alerts: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
