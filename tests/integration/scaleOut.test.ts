/**
 * Scale-out and restore, with real processes: two `cx process` workers in one consumer
 * group share the partitions, one is SIGKILLed mid-run (rows and state stored, offsets
 * not yet committed), the other takes its partitions over and restores their state;
 * every result table then equals a clean single-worker run's, row for row. So do the
 * stages split over two processes (`--stages raw` and `--stages metrics,alerts`) against
 * all of them in one.
 * The workers share one embedded engine through `cx store serve` (chdb opens a directory
 * in one process only).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../platform/clickhouse/store.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer } from '../../pipeline/compose.ts';
import { validateScenario } from '../../producers/simulator/scenario.ts';
import { simulate } from '../../producers/simulator/simulate.ts';
import { SimulationRun } from '../../producers/simulator/run.ts';
import { isolatedConfig, waitFor } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const log = createLogger('error', 'test');
// Idle flush later than the session timeout: a worker's partitions are often caught up, and not yet flushed,
// when the killed worker's partitions are handed over; after that rebalance they get no batch, and must still flush.
const { env, config } = isolatedConfig({ CX_BATCH_MAX_MESSAGES: '1000', CX_CONSUMER_SESSION_TIMEOUT_MS: '6000', CX_IDLE_FLUSH_MS: '8000', LOG_LEVEL: 'info' });

interface Proc {
  child: ChildProcess;
  output: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(args: string[], extra: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, ['bin/cx.js', ...args], { cwd: ROOT, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, output, exit };
}

/** Every result table, FINAL, in key order, floats rounded past float noise (sums over partitions may add in another order). */
const RESULTS: Record<string, string> = {
  cell_minute: 'minute, leg, channel, touchpoint, source_partition',
  channel_transition_minute: 'minute, from_channel, to_channel, source_partition',
  department_impact: 'minute, department, source_partition',
  channel_drops: 'event_id',
  death_spirals: 'customer_id, spiral_id',
  customer_memory: 'customer_id, occurred_at, event_id',
  journeys: 'customer_id, journey_id, started_at',
  late_events: 'event_id',
  leg_consistency: 'window_end, leg',
};

async function snapshot(store: Store, db: string, windowsUntil: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [table, key] of Object.entries(RESULTS)) {
    const where = table === 'leg_consistency' ? `WHERE window_end <= '${windowsUntil}'` : '';
    const cols = await store.query<{ name: string; type: string }>(`SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {table:String} ORDER BY position`, { db, table });
    const select = cols.map((c) => (/Float/.test(c.type) ? `round(${c.name}, 9) AS ${c.name}_r` : c.name)).join(', ');
    out[table] = await store.queryText(`SELECT ${select} FROM ${db}.${table} FINAL ${where} ORDER BY ${key}`, 'TabSeparatedWithNames');
  }
  return out;
}

describe('scale-out: two workers, one killed, equal a single worker', () => {
  let server: Proc;
  let store: Store;
  let sent = 0;
  let end = '';

  beforeAll(async () => {
    server = run(['store', 'serve', '--port', '0']);
    const url = await waitFor('the store server', async () => /http:\/\/127\.0\.0\.1:\d+/.exec(server.output.join(''))?.[0], 60_000);
    env.CLICKHOUSE_URL = url;
    store = await openStore({ ...config, clickhouseUrl: url });

    const kafka = await connectKafka(config, log);
    const producer = await connectProducer(config, kafka);
    // 40 minutes at 6 visits/s among 800 customers, ending 2 minutes ago (live: quiet partitions close their last minute).
    const start = Math.floor(Date.now() / 60_000) * 60_000 - 42 * 60_000;
    end = new Date(start + 40 * 60_000).toISOString().slice(0, 19).replace('T', ' ');
    const scenario = validateScenario({ name: 'scale-out', start: new Date(start).toISOString(), duration: '40m', rate: 6, customers: 800, dailyRhythm: false });
    const sim = new SimulationRun(producer, simulate({ scenario }), { garbageTopic: config.touchpointsTopic });
    await sim.start();
    sent = sim.stats.touchpoints;
    await producer.disconnect();
  });

  afterAll(async () => {
    await store?.close();
    server?.child.kill('SIGTERM');
    await server?.exit;
  });

  /** Until every event is in the cells and every minute of the run has its window. */
  async function finished(db: string, workers: Proc[]): Promise<void> {
    let seen = '';
    await waitFor(`every event through the metric processors into ${db}`, async () => {
      const [ready] = await store.query<{ n: string }>(`SELECT count() AS n FROM system.tables WHERE database = {db:String} AND name = 'leg_consistency'`, { db });
      if (Number(ready?.n) === 0) return undefined;
      const [r] = await store.query<{ events: string; windows: string }>(
        `SELECT (SELECT sum(events) FROM ${db}.cell_minute FINAL) AS events,
                (SELECT countIf(DISTINCT window_end, window_end <= {end:DateTime}) FROM ${db}.leg_consistency) AS windows`, { end });
      seen = `${r?.events} of ${sent} events in cells, ${r?.windows} of 40 windows`;
      return Number(r?.events) === sent && Number(r?.windows) === 40;
    }, 240_000, 1000).catch((err: Error) => {
      // Say what was seen, and what the workers said, not just that time ran out.
      const said = workers.map((w, i) => `--- worker ${i + 1}:\n${w.output.join('').split('\n').filter((l) => !l.includes('"level":30')).slice(-30).join('\n')}`);
      throw new Error(`${err.message} (${seen})\n${said.join('\n')}`);
    });
  }

  it('gives the same rows in every result table', { timeout: 600_000 }, async () => {
    // The reference: one worker alone.
    const single = run(['process'], { CLICKHOUSE_DATABASE: 'single', CX_CONSUMER_GROUP: `${config.consumerGroup}-single` });
    await finished('single', [single]);
    single.child.kill('SIGTERM');
    expect((await single.exit).code).toBe(0);

    // Two workers in another group. A starts first, so it holds every partition and surely reaches its
    // 6th chunk: it is killed right after that chunk's rows and state are stored, before the commit.
    // B joins (usually while A still runs, and they share the partitions), then takes A's over and restores their state.
    const group = { CLICKHOUSE_DATABASE: 'pair', CX_CONSUMER_GROUP: `${config.consumerGroup}-pair` };
    const a = run(['process'], { ...group, CX_FAULT_KILL_AFTER_METRIC_CHUNKS: '6' });
    await waitFor('worker A in the group', async () => a.output.join('').includes('metrics: joined consumer group'), 60_000);
    const b = run(['process'], group);
    let timer: NodeJS.Timeout | undefined;
    const aExit = await Promise.race([
      a.exit,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`worker A was not killed at its 6th chunk:\n${a.output.join('').slice(-3000)}`)), 180_000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(aExit.signal, a.output.join('')).toBe('SIGKILL');
    await finished('pair', [a, b]);
    b.child.kill('SIGTERM');
    expect((await b.exit).code).toBe(0);
    // B restored state that A had checkpointed: the takeover really went through the restore path.
    expect(b.output.join('')).toContain('metrics: restored partition state');

    // The stages in two processes: raw ingestion in one, the metric folds and the alerts in the other.
    const split = { CLICKHOUSE_DATABASE: 'split', CX_CONSUMER_GROUP: `${config.consumerGroup}-split` };
    const raw = run(['process', '--stages', 'raw'], split);
    const folds = run(['process', '--stages', 'metrics,alerts'], split);
    await finished('split', [raw, folds]);
    await waitFor('the raw rows of the split run', async () => {
      const [r] = await store.query<{ n: string }>('SELECT count() AS n FROM split.touchpoint_events');
      return Number(r?.n) === sent;
    }, 120_000, 500);
    for (const p of [raw, folds]) p.child.kill('SIGTERM');
    expect((await raw.exit).code).toBe(0);
    expect((await folds.exit).code).toBe(0);
    // Each ran only its own stages: no metric group member in the raw one, no raw ingestion in the other.
    expect(raw.output.join('')).not.toContain('metrics: joined consumer group');
    expect(folds.output.join('')).not.toContain('raw ingest: joined consumer group');

    const [one, two, three] = [await snapshot(store, 'single', end), await snapshot(store, 'pair', end), await snapshot(store, 'split', end)];
    for (const table of Object.keys(RESULTS)) {
      const rows = (one[table] as string).split('\n').length - 2;
      if (table !== 'late_events') expect(rows, `${table} has rows`).toBeGreaterThan(0);
      expect(two[table], `${table} differs`).toBe(one[table]);
      expect(three[table], `${table} differs with the stages in two processes`).toBe(one[table]);
    }
  });
});
