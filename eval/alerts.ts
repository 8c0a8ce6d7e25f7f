/**
 * `npm run eval:alerts`: scores touchpoint degradation alerts on simulated scenarios
 * with ground truth, through the real pipeline (eval/playScenario.ts): each scenario
 * is played into Kafka as fast as it takes it (compressed event time), the metrics
 * worker and the alert stage run as in `cx process --until-idle`, on a fresh embedded
 * ClickHouse per scenario, and the alerts they store are scored against the injected
 * incidents.
 *
 *   npm run eval:alerts                       # every scenario below
 *   npm run eval:alerts -- step-series quiet-week
 *   npm run eval:alerts -- --jobs 1           # one scenario at a time
 *
 * Scenarios run `--jobs` at a time (default: one per core, at most 2), each in a child process of
 * its own, since the embedded ClickHouse allows one store per process; the report
 * comes out in the order below whatever finished first.
 *
 * Kafka: KAFKA_BROKERS, or the project's local broker (started if needed).
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/log.ts';
import { connectKafka } from '../pipeline/compose.ts';
import { readScenario, type Scenario } from '../producers/simulator/scenario.ts';
import { DEFAULT_DRIVE, playScenario, type Drive, type ScenarioResult } from './playScenario.ts';
import { median } from './scoreAlerts.ts';

const SCENARIOS_DIR = fileURLToPath(new URL('../examples/scenarios/', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

/** What each scenario stands for in the issue's targets. */
const SCENARIOS: { name: string; file: string; role: string }[] = [
  { name: 'step-series', file: 'step-series.yaml', role: 'busy steps (30-50 experiences/min, bad rate doubled or more)' },
  { name: 'checkout-step', file: 'checkout-step.yaml', role: 'busy step and a channel outage' },
  { name: 'low-traffic-step', file: 'low-traffic-step.yaml', role: 'step on a low-traffic touchpoint (about a visit a minute)' },
  { name: 'delivery-drift', file: 'delivery-drift.yaml', role: 'gradual drift over hours, and a leg incident' },
  { name: 'quiet-week', file: 'quiet-week.json', role: 'no incident, daily rhythm: every alert is a false alarm' },
];

/** A child's result comes back on one stdout line after this marker. */
const RESULT_MARK = 'eval-result ';
/** Children still running: stopped if the evaluation fails, so none plays on alone. */
const running = new Set<ReturnType<typeof spawn>>();

const fmt = (n: number) => n.toLocaleString('en-US');
const say = (s = '') => process.stdout.write(`${s}\n`);

const scenarioOf = (name: string): Scenario => readScenario(join(SCENARIOS_DIR, (SCENARIOS.find((s) => s.name === name) as { file: string }).file));

/** Mean events a scenario sends: what the lanes are balanced by (longest first). */
const expectedEvents = (s: Scenario) => s.rate * (s.duration / 1000);

/** Runs one scenario in this process and hands its result to the parent. */
async function child(name: string, drive: Drive): Promise<void> {
  let ticks = 0;
  const r = await playScenario(loadConfig(), scenarioOf(name), drive, (line) => {
    if (++ticks % 15 === 0) process.stderr.write(`  ${line}\n`);
  });
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(r)}\n`);
}

/** Runs `name` in a child process; its progress goes to stderr as it comes. */
function inChild(name: string, drive: Drive): Promise<ScenarioResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, SELF, '--child', name, '--chunk', String(drive.chunk)], { stdio: ['ignore', 'pipe', 'inherit'] });
    running.add(p);
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      running.delete(p);
      const line = out.split('\n').find((l) => l.startsWith(RESULT_MARK));
      if (code === 0 && line) resolve(JSON.parse(line.slice(RESULT_MARK.length)) as ScenarioResult);
      else reject(new Error(`scenario ${name}: its process ended with ${signal ?? `code ${code}`} and no result${out ? `; it printed: ${out.trim().slice(-500)}` : ''}`));
    });
  });
}

/** Runs every scenario, `jobs` at a time, the biggest first so the lanes end together. */
async function runAll(names: string[], jobs: number, drive: Drive): Promise<Map<string, ScenarioResult>> {
  const results = new Map<string, ScenarioResult>();
  const queue = [...names].sort((a, b) => expectedEvents(scenarioOf(b)) - expectedEvents(scenarioOf(a)));
  const lane = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const r = await inChild(name, drive);
      results.set(name, r);
      process.stderr.write(`  ${name} done: ${fmt(r.events)} events in ${r.seconds.toFixed(0)} s (${r.phases.map(([p, s]) => `${p} ${s.toFixed(1)} s`).join(', ')}; metrics worker ms: ${Object.entries(r.metricsMs).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}, ${fmt(r.rounds)} rounds)\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, names.length) }, lane));
  return results;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()).join('\n');
}

const minutes = (x: number | null) => (x === null ? '-' : x.toFixed(0));

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      jobs: { type: 'string', default: String(Math.min(2, availableParallelism())) },
      chunk: { type: 'string', default: String(DEFAULT_DRIVE.chunk) },
      child: { type: 'string' },
    },
  });
  const jobs = Number(values.jobs);
  const drive: Drive = { chunk: Number(values.chunk) };
  if (!(Number.isInteger(jobs) && jobs >= 1)) throw new Error(`--jobs ${values.jobs}: expected a whole number, at least 1`);
  if (!(Number.isInteger(drive.chunk) && drive.chunk >= 1)) throw new Error(`--chunk ${values.chunk}: expected a whole number of messages, at least 1`);
  const unknown = [...positionals, ...(values.child ? [values.child] : [])].filter((w) => !SCENARIOS.some((s) => s.name === w));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}: expected some of ${SCENARIOS.map((s) => s.name).join(', ')}`);
  if (values.child) return child(values.child, drive);

  const chosen = positionals.length ? SCENARIOS.filter((s) => positionals.includes(s.name)) : SCENARIOS;
  const config = loadConfig();
  // Start the local broker (if it is the one) once, here, rather than racing to from each child.
  await connectKafka(config, createLogger('warn', 'eval'));
  say(`Alert evaluation: CUSUM h = ${config.alertCusumThreshold}, baseline half-life ${config.alertBaselineHalfLifeHours} h, min history ${config.alertMinHistory} visits, resolve after ${config.alertResolveMinutes} min.`);
  say('Delays are event-time minutes from an incident\'s start to the end of the minute whose data opened the alert.');
  const t0 = Date.now();
  const byName = await runAll(chosen.map((s) => s.name), jobs, drive);
  const results = chosen.map((s) => ({ name: s.name, role: s.role, r: byName.get(s.name) as ScenarioResult }));
  for (const { name, role, r } of results) {
    const { score } = r;
    const end = scenarioOf(name).start + scenarioOf(name).duration;
    say();
    say(`== ${name}: ${role}`);
    if (r.evaluatedTo < end - 5 * 60_000) say(`  note: alerts were evaluated up to ${new Date(r.evaluatedTo).toISOString()}, not the scenario's end ${new Date(end).toISOString()}`);
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

  // Against the issue's targets, where the scenarios ran.
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
  say();
  say(`${results.length} scenario(s) in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${Math.min(jobs, results.length)} at a time.`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    for (const p of running) p.kill('SIGTERM');
    process.stderr.write(`eval:alerts: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
