/**
 * Integration tests run against a real broker: KAFKA_BROKERS when set, otherwise the
 * project's local Kafka, started here and stopped after the run if we started it.
 * A broker that cannot start fails the whole run; nothing is skipped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../platform/config.ts';
import { probeBroker } from '../../platform/kafka/client.ts';
import { startLocalBroker, stopLocalBroker } from '../../platform/kafka/localBroker.ts';

let startedHere = false;
let analystDir: string | undefined;

export async function setup(): Promise<void> {
  // The simulated run the analyst-facing tests share (tests/analystData.ts): one per test run.
  if (!process.env.CX_TEST_ANALYST_DIR) process.env.CX_TEST_ANALYST_DIR = analystDir = mkdtempSync(join(tmpdir(), 'cx-analyst-'));
  const config = loadConfig();
  if (config.kafkaBrokers) {
    await probeBroker(config.kafkaBrokers[0] as string);
    return;
  }
  const t = Date.now();
  const broker = await startLocalBroker(config, probeBroker);
  startedHere = broker.started;
  process.env.KAFKA_BROKERS = broker.bootstrap;
  process.stderr.write(`tests: local Kafka at ${broker.bootstrap} (${broker.started ? `started in ${Date.now() - t} ms` : 'already running'})\n`);
}

export async function teardown(): Promise<void> {
  if (analystDir) rmSync(analystDir, { recursive: true, force: true });
  if (startedHere) await stopLocalBroker(loadConfig());
}
