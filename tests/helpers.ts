import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Admin } from 'kafkajs';
import { loadConfig, type Config } from '../platform/config.ts';
import { createLogger } from '../platform/log.ts';
import { openStore, type Store } from '../platform/clickhouse/store.ts';
import { connectKafka, connectProducer, openMigratedStore, rawIngest } from '../pipeline/compose.ts';

/**
 * A configuration of its own for one test: fresh topics and consumer group on the
 * shared broker, and a fresh embedded ClickHouse directory (chdb allows one per process).
 */
export function isolatedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const id = randomUUID().slice(0, 8);
  return {
    ...process.env,
    CX_TOPIC_TOUCHPOINTS: `test-${id}.touchpoints`,
    CX_TOPIC_OUTCOMES: `test-${id}.outcomes`,
    CX_TOPIC_DEADLETTER: `test-${id}.deadletter`,
    CX_TOPIC_ALERTS: `test-${id}.alerts`,
    CX_CONSUMER_GROUP: `test-${id}`,
    CX_CLICKHOUSE_PATH: mkdtempSync(join(tmpdir(), 'cx-chdb-')),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...extra,
  };
}

export function isolatedConfig(extra: Record<string, string> = {}): { env: NodeJS.ProcessEnv; config: Config } {
  const env = isolatedEnv(extra);
  return { env, config: loadConfig(env) };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 90_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/**
 * A data file from the team's shared folder (Avro vectors, Grafana schemas), which
 * sits beside the checkout as ../shared; CX_SHARED_DIR overrides. Missing is an error.
 */
export function sharedFile(relative: string): string {
  const candidates = [process.env.CX_SHARED_DIR, join(fileURLToPath(new URL('../../shared/', import.meta.url))), '/work/shared'].filter(Boolean) as string[];
  for (const dir of candidates) {
    const file = join(dir, relative);
    if (existsSync(file)) return file;
  }
  throw new Error(`shared data file ${relative} not found in ${candidates.join(', ')}: set CX_SHARED_DIR to the shared folder`);
}

/**
 * The whole pipeline in this test process, on real Kafka and embedded ClickHouse:
 * topics, a migrated store, a connected producer and a running ingestion worker.
 */
export async function startPipeline(config: Config) {
  const log = createLogger('error', 'test');
  const kafka = await connectKafka(config, log);
  const store = await openMigratedStore(config, log);
  const producer = await connectProducer(config, kafka);
  const ingest = rawIngest(config, kafka, store, log);
  await ingest.start();
  return {
    kafka, store, producer, ingest, log,
    async stop() {
      await producer.disconnect();
      await ingest.stop();
      await store.close();
    },
  };
}

export type TestPipeline = Awaited<ReturnType<typeof startPipeline>>;

/** Opens the store of `config` for `f` and closes it after (the embedded one opens in one process at a time). */
export async function withStore<T>(config: Config, f: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(config);
  try {
    return await f(store);
  } finally {
    await store.close();
  }
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** A `cx` process of this checkout (or of `root`), its output kept, its exit awaited. */
export interface CxProcess {
  child: ChildProcess;
  output: string[];
  /** Wall-clock ms when it was spawned. */
  startedAt: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnCx(args: string[], env: NodeJS.ProcessEnv, root = ROOT): CxProcess {
  const startedAt = Date.now();
  const child = spawn(process.execPath, ['bin/cx.js', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, output, startedAt, exit };
}

/** The last `lines` lines of a process's output that are not info logs: for failure messages. */
export const said = (p: CxProcess, lines = 30) => p.output.join('').split('\n').filter((l) => !l.includes('"level":30')).slice(-lines).join('\n');

/** Offsets a consumer group has committed on a topic, summed over partitions (0 before any). */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
  return offsets.flatMap((t) => t.partitions).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

/** A TCP port nobody listens on right now (for a private broker). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}
