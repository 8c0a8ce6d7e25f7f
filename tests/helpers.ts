import { existsSync, mkdtempSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../platform/config.ts';
import { createLogger } from '../platform/log.ts';
import { connectKafka, connectProducer, openMigratedStore, rawIngest } from '../platform/pipeline.ts';

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
