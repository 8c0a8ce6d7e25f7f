/**
 * Effectively once, proved by killing real processes: `cx process` workers are
 * SIGKILLed mid-stream (one at the worst moment, rows stored but offsets not yet
 * committed), restarted, and the store still holds every event exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../platform/clickhouse/migrate.ts';
import { openStore } from '../../platform/clickhouse/store.ts';
import { consumerLag } from '../../platform/kafka/lag.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer, type Connected } from '../../pipeline/compose.ts';
import { takeSimulated } from '../../producers/simulator/simulate.ts';
import type { TouchpointProducer } from '../../producers/touchpointProducer.ts';
import { isolatedConfig, waitFor } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { env, config } = isolatedConfig({ CX_BATCH_MAX_MESSAGES: '250', LOG_LEVEL: 'info', CX_CONSUMER_SESSION_TIMEOUT_MS: '6000' });
const log = createLogger('error', 'test');
let kafka: Connected;
let producer: TouchpointProducer;

interface Worker {
  child: ChildProcess;
  output: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startWorker(extra: Record<string, string> = {}): Worker {
  const child = spawn(process.execPath, ['bin/cx.js', 'process'], { cwd: ROOT, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, output, exit };
}

async function storedCounts() {
  // The embedded directory is free only while no worker runs.
  const store = await openStore(config);
  try {
    const db = config.clickhouseDatabase;
    const [r] = await store.query<{ n: string; ids: string; dead: string }>(
      `SELECT (SELECT count() FROM ${db}.touchpoint_events) AS n, (SELECT uniqExact(event_id) FROM ${db}.touchpoint_events) AS ids, (SELECT count() FROM ${db}.dead_letters) AS dead`,
    );
    return { rows: Number(r?.n), distinct: Number(r?.ids), dead: Number(r?.dead) };
  } finally {
    await store.close();
  }
}

async function committed(): Promise<number> {
  const admin = kafka.kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchOffsets({ groupId: config.consumerGroup, topics: [config.touchpointsTopic] });
    return offsets.flatMap((t) => t.partitions).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  kafka = await connectKafka(config, log);
  producer = await connectProducer(config, kafka);
});

afterAll(async () => {
  await producer?.disconnect();
});

describe('crash safety', () => {
  it('loses nothing and duplicates nothing when workers are killed mid-stream', async () => {
    const all = takeSimulated({ seed: 99, customers: 2000, start: Date.UTC(2026, 10, 2), rate: 0.5 }, 16_000)
      .filter((e) => e.kind === 'touchpoint')
      .map((e) => e.event);
    const firstHalf = all.slice(0, 8000);
    const secondHalf = all.slice(8000);
    const garbage = Array.from({ length: 7 }, (_, i) => Buffer.from(`garbage ${i}`));

    await Promise.all([...firstHalf.map((e) => producer.send(e)), ...garbage.slice(0, 4).map((g, i) => producer.sendRaw(config.touchpointsTopic, `g-${i}`, g))]);

    // ReplacingMergeTree would merge duplicates away in the background and hide them:
    // switch merges off for these tables, so count() sees every row ever inserted.
    const setup = await openStore(config);
    await migrate(setup);
    for (const table of ['touchpoint_events', 'dead_letters']) {
      await setup.command(`ALTER TABLE ${config.clickhouseDatabase}.${table} MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1, max_bytes_to_merge_at_min_space_in_pool = 1`);
    }
    await setup.close();

    // 1. A worker dies by SIGKILL right after storing its 3rd chunk, before committing it.
    const a = startWorker({ CX_FAULT_KILL_AFTER_STORED_CHUNKS: '3' });
    const aExit = await a.exit;
    expect(aExit.signal, a.output.join('')).toBe('SIGKILL');
    const afterA = await storedCounts();
    const committedAfterA = await committed();
    // The worst moment really happened: more rows stored than offsets committed.
    expect(afterA.rows + afterA.dead).toBeGreaterThan(committedAfterA);
    expect(afterA.rows).toBeGreaterThan(0);

    // 2. A second worker is killed from outside while traffic keeps arriving. Its
    // chunks are cut differently, so insert dedup tokens cannot match the first
    // worker's: only the stored-offset marks keep the replayed chunk from doubling.
    const b = startWorker({ CX_BATCH_MAX_MESSAGES: '333' });
    const producing = Promise.all([...secondHalf.map((e) => producer.send(e)), ...garbage.slice(4).map((g, i) => producer.sendRaw(config.touchpointsTopic, `g-${i + 4}`, g))]);
    await waitFor('worker b to make progress', async () => /ingest progress/.test(b.output.join('')), 60_000, 50);
    // Then a random moment later: mid-insert, mid-commit or between chunks.
    await new Promise((r) => setTimeout(r, Math.random() * 1500));
    b.child.kill('SIGKILL');
    expect((await b.exit).signal).toBe('SIGKILL');
    await producing;

    // 3. A third worker finishes the stream and stops cleanly.
    const c = startWorker();
    await waitFor('worker c to start', async () => /"msg":"processing"/.test(c.output.join('')), 60_000, 50);
    const admin = kafka.kafka.admin();
    await admin.connect();
    await waitFor('the group to catch up', async () => (await consumerLag(admin, config.consumerGroup, [config.touchpointsTopic])) === 0, 120_000, 250);
    await admin.disconnect();
    c.child.kill('SIGTERM');
    expect((await c.exit).code, c.output.join('')).toBe(0);

    const final = await storedCounts();
    expect(final).toEqual({ rows: all.length, distinct: all.length, dead: garbage.length });
  });
});
