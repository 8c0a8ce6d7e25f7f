/**
 * Recovery figures, with real processes on a private broker (its own ports and
 * directory) under live traffic (BENCH_RATE events/s, default 200):
 *
 * - after SIGKILL: a `cx process` worker is killed and restarted at once; the figure
 *   is restart -> both of its groups (raw ingest and metrics) commit offsets past what
 *   was committed when it died, i.e. new rows are stored;
 * - after a broker restart: the broker is stopped and started again under a running
 *   worker; the figure is broker ready again -> both groups commit new offsets.
 *
 * Medians of BENCH_RUNS runs (default 5). Figures, not assertions.
 *   node --import tsx bench/recovery.ts
 *   BENCH_CX_ROOT=/path/to/other/checkout node --import tsx bench/recovery.ts   (its workers: "before")
 * BENCH_ONLY=kill or BENCH_ONLY=broker runs one half.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import { loadConfig, type Config } from '../platform/config.ts';
import { probeBroker } from '../platform/kafka/client.ts';
import { startLocalBroker, stopLocalBroker } from '../platform/kafka/localBroker.ts';
import { connectKafka, connectProducer, type Connected } from '../pipeline/compose.ts';
import { takeSimulated } from '../producers/simulator/simulate.ts';
import type { TouchpointEvent } from '../schemas/contracts.ts';
import { committedOffsets, freePort, said, spawnCx, type CxProcess } from '../tests/helpers.ts';
import { finish, freshTopics, log, median, out } from './figures.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const ROOT = process.env.BENCH_CX_ROOT;
const ONLY = process.env.BENCH_ONLY;

/** Environment of the workers: the private broker, this run's topics and group, a store of their own. */
function workerEnv(config: Config, brokers: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KAFKA_BROKERS: brokers,
    CX_TOPIC_TOUCHPOINTS: config.touchpointsTopic,
    CX_TOPIC_OUTCOMES: config.outcomesTopic,
    CX_TOPIC_DEADLETTER: config.deadLetterTopic,
    CX_TOPIC_ALERTS: config.alertsTopic,
    CX_CONSUMER_GROUP: config.consumerGroup,
    CX_CLICKHOUSE_PATH: mkdtempSync(join(tmpdir(), 'cx-bench-recovery-')),
    LOG_LEVEL: 'info',
  };
}

/** Both groups' committed offsets on the touchpoint topic. */
async function positions(admin: Admin, config: Config): Promise<[number, number]> {
  return [await committedOffsets(admin, config.consumerGroup, config.touchpointsTopic), await committedOffsets(admin, `${config.consumerGroup}.metrics`, config.touchpointsTopic)];
}

/** Ms from `since` until both groups have committed past `from` (polling every 50 ms). */
async function untilBothPast(admin: Admin, config: Config, from: [number, number], since: number, worker: CxProcess, timeoutMs = 120_000): Promise<number> {
  const done = [false, false];
  while (Date.now() - since < timeoutMs) {
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) throw new Error(`the worker exited:\n${said(worker)}`);
    const now = await positions(admin, config).catch(() => undefined);
    if (now) {
      done[0] ||= now[0] > from[0];
      done[1] ||= now[1] > from[1];
      if (done[0] && done[1]) return Date.now() - since;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no new commits ${timeoutMs / 1000} s after ${new Date(since).toISOString()}:\n${said(worker)}`);
}

/** Live traffic into the run's topic, until stopped. */
function traffic(k: Connected, config: Config, events: TouchpointEvent[]) {
  let i = 0;
  let failed = 0;
  let producer: Awaited<ReturnType<typeof connectProducer>> | undefined;
  const ready = connectProducer(config, k).then((p) => (producer = p));
  const timer = setInterval(() => {
    if (!producer) return;
    for (let n = 0; n < RATE / 10; n++) producer.send(events[i++ % events.length] as TouchpointEvent).catch(() => failed++);
  }, 100);
  return { ready, failed: () => failed, stop: async () => { clearInterval(timer); await producer?.disconnect().catch(() => undefined); } };
}

/** When the worker logged its start-up steps, in s from its spawn: where a recovery's time goes. */
function timeline(w: CxProcess): string {
  const at = (msg: string) => {
    for (const line of w.output.join('').split('\n')) {
      if (!line.includes(`"msg":"${msg}"`)) continue;
      const t = Number(/"time":(\d+)/.exec(line)?.[1]);
      return `${msg} +${((t - w.startedAt) / 1000).toFixed(1)} s`;
    }
    return `${msg}: not yet`;
  };
  return ['joined consumer group', 'metrics: joined consumer group', 'processing'].map(at).join(', ');
}

/** Starts the stopped broker; a start that fails (its port briefly taken, say) is tried twice more. */
async function startAgain(config: Config): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await startLocalBroker(config, probeBroker, log);
      return;
    } catch (err) {
      if (attempt === 3) throw err;
      out(`  (the broker did not start: ${(err as Error).message.split('\n')[0]}; trying again)`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function stopWorker(w: CxProcess): Promise<void> {
  if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  await w.exit;
}

async function main(): Promise<void> {
  const kafkaDir = mkdtempSync(join(tmpdir(), 'cx-bench-kafka-'));
  const [port, controller] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env, CX_KAFKA_PORT: String(port), CX_KAFKA_CONTROLLER_PORT: String(controller), CX_KAFKA_DIR: kafkaDir };
  delete env.KAFKA_BROKERS;
  const brokerConfig = loadConfig(env);
  const broker = await startLocalBroker(brokerConfig, probeBroker, log);
  const base = loadConfig({ ...env, KAFKA_BROKERS: broker.bootstrap });
  const workersFrom = ROOT ?? 'this checkout';
  const events = takeSimulated({ seed: 11, customers: 5_000, start: Date.now() - 3_600_000, rate: 1 }, 60_000).flatMap((e) => (e.kind === 'touchpoint' ? [e.event as TouchpointEvent] : []));
  out(`cx recovery bench: workers of ${workersFrom}, private broker ${broker.bootstrap}, ${RATE} events/s, ${RUNS} runs; CX_CONSUMER_SESSION_TIMEOUT_MS=${process.env.CX_CONSUMER_SESSION_TIMEOUT_MS ?? '(the default)'}`);

  try {
    if (ONLY !== 'broker') {
      const figures: number[] = [];
      for (let run = 1; run <= RUNS; run++) {
        const config = freshTopics(base, `kill${run}`);
        const k = await connectKafka(config, log);
        const admin = k.kafka.admin();
        await admin.connect();
        const wenv = workerEnv(config, broker.bootstrap);
        const flow = traffic(k, config, events);
        await flow.ready;
        const a = spawnCx(['process'], wenv, ROOT);
        const fresh = await untilBothPast(admin, config, [0, 0], a.startedAt, a);
        out(`  run ${run}: a fresh worker, no dead member in its groups: start -> processing in ${(fresh / 1000).toFixed(1)} s (${timeline(a)})`);
        // Some seconds of steady work, then the kill.
        await new Promise((r) => setTimeout(r, 3000));
        a.child.kill('SIGKILL');
        await a.exit;
        const at = await positions(admin, config);
        const b = spawnCx(['process'], wenv, ROOT);
        const ms = await untilBothPast(admin, config, at, b.startedAt, b);
        out(`  SIGKILL run ${run}: restart -> processing again in ${(ms / 1000).toFixed(1)} s (${timeline(b)})`);
        figures.push(ms);
        await stopWorker(b);
        await flow.stop();
        await admin.disconnect();
        rmSync(wenv.CX_CLICKHOUSE_PATH as string, { recursive: true, force: true });
      }
      out(`after SIGKILL, restart -> processing again: median ${(median(figures) / 1000).toFixed(1)} s (runs: ${figures.map((f) => (f / 1000).toFixed(1)).join(', ')} s)`);
    }

    if (ONLY !== 'kill') {
      const figures: number[] = [];
      const config = freshTopics(base, 'broker');
      const k = await connectKafka(config, log);
      const wenv = workerEnv(config, broker.bootstrap);
      const flow = traffic(k, config, events);
      await flow.ready;
      const w = spawnCx(['process'], wenv, ROOT);
      let admin = k.kafka.admin();
      await admin.connect();
      await untilBothPast(admin, config, [0, 0], Date.now(), w);
      await admin.disconnect();
      for (let run = 1; run <= RUNS; run++) {
        await new Promise((r) => setTimeout(r, 3000));
        const down = Date.now();
        await stopLocalBroker(brokerConfig);
        await new Promise((r) => setTimeout(r, 2000));
        await startAgain(brokerConfig);
        const back = Date.now();
        admin = k.kafka.admin();
        await admin.connect();
        // Right after a start the broker may still be loading the group coordinator: ask until it answers.
        let at: [number, number] | undefined;
        while (!at) at = await positions(admin, config).catch(() => new Promise<undefined>((r) => setTimeout(() => r(undefined), 50)));
        const ms = await untilBothPast(admin, config, at, back, w);
        out(`  broker restart ${run}: down for ${((back - down) / 1000).toFixed(1)} s; broker back -> processing again in ${(ms / 1000).toFixed(1)} s`);
        figures.push(ms);
        await admin.disconnect();
      }
      out(`after a broker restart, broker back -> processing again: median ${(median(figures) / 1000).toFixed(1)} s (runs: ${figures.map((f) => (f / 1000).toFixed(1)).join(', ')} s); ${flow.failed()} sends failed while it was down`);
      await stopWorker(w);
      await flow.stop();
      rmSync(wenv.CX_CLICKHOUSE_PATH as string, { recursive: true, force: true });
    }
  } finally {
    await stopLocalBroker(brokerConfig);
    rmSync(kafkaDir, { recursive: true, force: true });
  }
}

finish(main());
