/**
 * One simulated run through the whole pipeline, shared by the tests that look at the
 * data the way its users do (dashboards, the SQL cookbook, the report): real Kafka,
 * raw ingestion, the metric processors, the alert stage and the notifier, into an
 * embedded ClickHouse directory. It holds something in every table: a step on
 * checkout, a chat outage and an email silence at the end (alerts, spirals, drops), garbage (dead letters), a
 * few stragglers sent after their minutes closed (late events), and two stored
 * calibrations, one of them active (tests/fixtures/calibrations.ts).
 *
 * Built once per `vitest run`, in a child process (chdb gives a data directory to one
 * process, and frees it only when that process exits), under a lock so the first test
 * file to ask builds it and the others wait. Each test file then opens a copy of its own.
 *
 *   node --import tsx tests/analystData.ts <dir>    builds a dataset into <dir>
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../platform/config.ts';
import { consumerLag } from '../platform/kafka/lag.ts';
import { createLogger } from '../platform/log.ts';
import { alertStage, connectKafka, connectProducer, metricsWorker, notifyWorker, openMigratedStore, rawIngest } from '../pipeline/compose.ts';
import { activateCalibration, saveCalibration } from '../processors/calibration/stored.ts';
import type { Store } from '../platform/clickhouse/store.ts';
import { ConsoleNotifier } from '../processors/alerting/console.ts';
import { validateScenario } from '../producers/simulator/scenario.ts';
import { simulate } from '../producers/simulator/simulate.ts';
import { SimulationRun } from '../producers/simulator/run.ts';
import { ACTIVE_ID, activeCalibration, NEWER_ID, newerCalibration } from './fixtures/calibrations.ts';
import { isolatedEnv, waitFor } from './helpers.ts';

const MIN = 60_000;

/** What a built dataset holds, beside its data directory. */
export interface AnalystDataset {
  /** The ClickHouse database the tables are in. */
  database: string;
  /** Event time of the simulated run: [from, to). The run ends two minutes before it was built. */
  from: string;
  to: string;
  /** When the incidents were, as ISO times. */
  checkoutStep: { from: string; to: string };
  chatOutage: { from: string; to: string };
  sent: { touchpoints: number; outcomes: number; garbage: number; late: number };
  /** Rows per table when the build finished. */
  rows: Record<string, number>;
  /** When the build finished: everything was stored before it (ingested_at, received_at), so it is "now" for dashboards. */
  builtAt: string;
  buildMs: number;
}

export interface AnalystData extends AnalystDataset {
  config: Config;
  store: Store;
  close(): Promise<void>;
}

const TABLES = [
  'touchpoint_events', 'outcome_events', 'dead_letters', 'cell_minute', 'leg_consistency', 'journeys', 'channel_drops',
  'channel_transition_minute', 'death_spirals', 'customer_memory', 'department_impact', 'late_events', 'touchpoint_health', 'alerts', 'alert_deliveries',
];

/** Builds the dataset into `dir` (data in dir/chdb, facts in dir/dataset.json). Needs KAFKA_BROKERS or a local broker. */
async function build(dir: string): Promise<void> {
  const t0 = Date.now();
  const log = createLogger('error', 'analyst-data');
  const env = isolatedEnv({ CX_CLICKHOUSE_PATH: join(dir, 'chdb'), CX_IDLE_FLUSH_MS: '2000', CX_TOPIC_PARTITIONS: '3', CX_ALERT_RESOLVE_MINUTES: '5' });
  const config = loadConfig(env);
  const kafka = await connectKafka(config, log);
  const store = await openMigratedStore(config, log);
  const ingest = rawIngest(config, kafka, store, log);
  const metrics = metricsWorker(config, kafka, store, log);
  const alerts = alertStage(config, kafka, store, log);
  const sink = new Writable({ write: (_c, _e, done) => done() });
  const notify = notifyWorker(config, kafka, store, log, (record) => [new ConsoleNotifier({ out: sink, target: 'test', onAttempt: record })]);
  for (const w of [ingest, metrics, alerts, notify]) await w.start();
  const producer = await connectProducer(config, kafka);

  // Three hours at 8 visits/s among 3,000 customers (about 86k touchpoint events), ending two minutes ago,
  // so a dashboard's "last 6 hours" shows all of it and the partitions' watermarks follow the clock.
  const start = Math.floor(Date.now() / MIN) * MIN - 182 * MIN;
  const scenario = validateScenario({
    name: 'analyst-data', start: new Date(start).toISOString(), duration: '3h', rate: 8, customers: 3000, seed: 11, dailyRhythm: false,
    incidents: [
      { kind: 'step', touchpoint: 'checkout', start: '60m', end: '100m', level: 0.5 },
      { kind: 'outage', channel: 'CHAT', start: '130m', end: '150m' },
      // Still going at the end, so an alert is open when the data is read (the open-alerts panels need one).
      { kind: 'silence', channel: 'EMAIL', start: '165m', end: '180m' },
    ],
  });
  const run = new SimulationRun(producer, simulate({ scenario }), { garbageTopic: config.touchpointsTopic, badEvery: 2000 });
  await run.start();
  const sent = run.stats.touchpoints;

  const admin = kafka.kafka.admin();
  await admin.connect();
  await waitFor('ingestion and the metric processors to catch up', async () =>
    (await consumerLag(admin, config.consumerGroup, [config.touchpointsTopic])) === 0 &&
    (await consumerLag(admin, `${config.consumerGroup}.metrics`, [config.touchpointsTopic])) === 0, 180_000, 500);
  await waitFor('every event through the folds', async () => metrics.stats.released + metrics.stats.late >= sent, 120_000, 500);

  // Stragglers: events of the run's first half hour under other ids (another seed), sent now that those minutes have closed.
  const stragglers = [...simulate({ scenario: { ...scenario, seed: 12, duration: 30 * MIN } })].filter((e) => e.kind === 'touchpoint').slice(0, 40);
  for (const e of stragglers) if (e.kind === 'touchpoint') await producer.send(e.event);
  await waitFor('the stragglers counted late', async () => metrics.stats.late >= stragglers.length, 60_000, 500);

  // The alert stage follows the stool; let it reach the end of the run, and the notifier deliver what it published.
  const last = new Date(start + 175 * MIN).toISOString().slice(0, 19).replace('T', ' ');
  const db = config.clickhouseDatabase;
  await waitFor('touchpoint health up to the end of the run', async () => {
    const [r] = await store.query<{ last: string }>(`SELECT toString(max(minute)) AS last FROM ${db}.touchpoint_health`);
    return r && r.last >= last;
  }, 120_000, 500);
  await waitFor('alert deliveries for every published change', async () => {
    const [r] = await store.query<{ n: string }>(`SELECT count() AS n FROM ${db}.alert_deliveries`);
    return alerts.stats.published > 0 && Number(r?.n) >= alerts.stats.published;
  }, 60_000, 500);

  const rows: Record<string, number> = {};
  for (const t of TABLES) rows[t] = Number((await store.query<{ n: string }>(`SELECT count() AS n FROM ${db}.${t}`))[0]?.n);
  const iso = (offsetMin: number) => new Date(start + offsetMin * MIN).toISOString();
  const dataset: AnalystDataset = {
    database: db,
    from: iso(0),
    to: iso(180),
    checkoutStep: { from: iso(60), to: iso(100) },
    chatOutage: { from: iso(130), to: iso(150) },
    sent: { touchpoints: sent, outcomes: run.stats.outcomes, garbage: run.stats.garbage, late: stragglers.length },
    rows,
    builtAt: '',
    buildMs: 0,
  };
  await admin.disconnect();
  await producer.disconnect();
  for (const w of [notify, alerts, metrics, ingest]) await w.stop();
  // The calibrations come after the run (no fold used them: the run's results are the defaults'). The newer one
  // was activated, then the first one again: the active calibration is the last activation, not the newest fit.
  const now = Date.now();
  const window = { windowFrom: start, windowTo: start + 180 * MIN };
  await saveCalibration(store, activeCalibration({ createdAt: now - 3000, ...window }));
  await saveCalibration(store, newerCalibration({ createdAt: now - 2000, ...window }));
  await activateCalibration(store, NEWER_ID, now - 1500);
  await activateCalibration(store, ACTIVE_ID, now - 1000);
  await store.close();
  dataset.builtAt = new Date().toISOString();
  dataset.buildMs = Date.now() - t0;
  writeFileSync(join(dir, 'dataset.json'), `${JSON.stringify(dataset, null, 2)}\n`);
}

/** Where this `vitest run` keeps its dataset: set once by the global setup, so every test file finds the same one. */
function datasetDir(): string {
  const dir = process.env.CX_TEST_ANALYST_DIR ?? join(tmpdir(), `cx-analyst-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function runBuilder(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), dir], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    const output: string[] = [];
    child.stdout.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`building the analyst dataset failed (${signal ?? `exit ${code}`}):\n${output.join('').slice(-4000)}`));
    });
  });
}

/**
 * The shared dataset, opened on a private copy of its data directory. The first caller
 * in a run builds it (about a minute); the others wait for it.
 */
export async function analystData(): Promise<AnalystData> {
  const dir = datasetDir();
  const ready = join(dir, 'dataset.json');
  const failed = join(dir, 'failed.txt');
  let builder = false;
  try {
    mkdirSync(join(dir, 'lock'));
    builder = true;
  } catch {
    // Another test file is building it.
  }
  if (builder) {
    try {
      await runBuilder(dir);
    } catch (err) {
      writeFileSync(failed, (err as Error).message);
      throw err;
    }
  } else {
    await waitFor('the analyst dataset (built by another test file)', async () => {
      if (existsSync(failed)) throw new Error(readFileSync(failed, 'utf8'));
      return existsSync(ready);
    }, 600_000, 500);
  }
  const dataset = JSON.parse(readFileSync(ready, 'utf8')) as AnalystDataset;
  const copy = mkdtempSync(join(tmpdir(), 'cx-analyst-copy-'));
  cpSync(join(dir, 'chdb'), copy, { recursive: true });
  // The engine's status file names the builder's PID; a copy is nobody's yet.
  const config = loadConfig({ ...process.env, CX_CLICKHOUSE_PATH: copy, CLICKHOUSE_DATABASE: dataset.database, CLICKHOUSE_URL: '' });
  const { openStore } = await import('../platform/clickhouse/store.ts');
  const store = await openStore(config);
  return { ...dataset, config, store, close: () => store.close() };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node --import tsx tests/analystData.ts <dir>\n');
    process.exit(2);
  }
  build(dir).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
