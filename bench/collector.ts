/**
 * The HTTP collector's throughput and p99 latency under autocannon, single events and
 * batches of 100, against two bare baselines measured in the same run: fastify
 * answering without Kafka (the collector with a sink that acknowledges at once), and
 * the SDK's produce rate without HTTP. Then how long the SDK takes to deliver what it
 * held once a (private) broker comes back from a restart. Medians of BENCH_RUNS runs.
 *
 *   node --import tsx bench/collector.ts
 *
 * BENCH_SECONDS (per autocannon run, default 10), BENCH_CONNECTIONS (default 32),
 * BENCH_RUNS (default 3), BENCH_OUTAGE_MS (default 10000). Figures, not assertions.
 * It runs unchanged on older commits of the collector (it uses only the SDK's send()).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../platform/config.ts';
import { ensureTopics, kafkaClient, probeBroker } from '../platform/kafka/client.ts';
import { startLocalBroker, stopLocalBroker } from '../platform/kafka/localBroker.ts';
import { connectKafka, connectProducer, type Connected } from '../pipeline/compose.ts';
import { buildCollector } from '../producers/collector.ts';
import { SchemaRegistry } from '../schemas/registry.ts';
import type { TouchpointEvent } from '../schemas/contracts.ts';
import { finish, fmt, freshTopics, log, median, out, RUNS } from './figures.ts';

interface CannonResult {
  requests: { average: number };
  latency: { p99: number; p50: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Cannon = (o: object) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const OUTAGE_MS = Number(process.env.BENCH_OUTAGE_MS ?? 10_000);
const SDK_EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);

const touchpoint = (customer: string) => ({
  customer_id: customer, journey_id: `j-${customer}`, channel: 'WEB', touchpoint: 'checkout', leg: 'OPERATIONS',
  stage: 'PURCHASE', department: 'Digital', rating: { scale: 'CES_7', value: 6 }, attributes: { campaign: 'bench' },
});
// The load runs in a worker thread (workers: 1), so it does not share the collector's event loop.
// autocannon puts one fresh id per request where the body says [<id>]; "-i" spreads a batch over customers.
const bodies = {
  single: JSON.stringify(touchpoint('c-[<id>]')),
  batch100: JSON.stringify(Array.from({ length: 100 }, (_, i) => touchpoint(`c-[<id>]-${i}`))),
};

/** Acknowledges at once: the cost of HTTP, JSON and validation alone. Offers both SDK shapes the collector has had. */
const nullSink = {
  send: async () => undefined,
  sendOutcome: async () => undefined,
  prepare: (e: TouchpointEvent) => ({ ok: true as const, event: { topic: 't', key: e.customer_id, value: Buffer.from(e.event_id), bytes: 100 } }),
  prepareOutcome: (e: TouchpointEvent) => ({ ok: true as const, event: { topic: 'o', key: e.customer_id, value: Buffer.from(e.event_id), bytes: 100 } }),
  sendPrepared: async () => undefined,
};

async function cannon(url: string, body: string): Promise<CannonResult> {
  return autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, idReplacement: true, connections: CONNECTIONS, duration: SECONDS, workers: 1 });
}

interface Figure {
  rps: number[];
  p99: number[];
  bad: number;
}
const figure = (): Figure => ({ rps: [], p99: [], bad: 0 });

async function measure(producer: unknown, f: Record<'single' | 'batch100', Figure>): Promise<void> {
  const app = buildCollector({ producer: producer as never, maxBodyBytes: 4 * 1_048_576, maxBatch: 1000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/touchpoints`;
  for (const mode of ['single', 'batch100'] as const) {
    const r = await cannon(url, bodies[mode]);
    f[mode].rps.push(r.requests.average);
    f[mode].p99.push(r.latency.p99);
    f[mode].bad += r.non2xx + r.errors + r.timeouts;
  }
  await app.close();
}

/** Events per second through the SDK alone: send() without awaiting each, then flush. */
async function sdkRate(config: Config, c: Connected): Promise<number> {
  const producer = await connectProducer(config, c);
  const events = Array.from({ length: SDK_EVENTS }, (_, i) => ({
    ...touchpoint(`c-${i % 5000}`), event_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, occurred_at: Date.UTC(2026, 11, 1) + i,
    moment_of_truth: false, outcome: 'OK', rating: { scale: 'CES_7', value: 6 },
  })) as TouchpointEvent[];
  const t = performance.now();
  const sends: Promise<void>[] = [];
  for (const e of events) sends.push(producer.send(e));
  await Promise.all(sends);
  const rate = (SDK_EVENTS * 1000) / (performance.now() - t);
  await producer.disconnect();
  return rate;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A private broker, the SDK sending 500 events/s, the broker stopped for OUTAGE_MS and
 * started again: from the broker answering again, how long until the first held event
 * is acknowledged, and until all are; and how many sends were rejected.
 */
async function recovery(): Promise<{ firstMs: number; allMs: number; rejected: number; sent: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'cx-bench-kafka-'));
  const env: NodeJS.ProcessEnv = { ...process.env, CX_KAFKA_DIR: dir, CX_KAFKA_PORT: String(await freePort()), CX_KAFKA_CONTROLLER_PORT: String(await freePort()) };
  delete env.KAFKA_BROKERS;
  const config = loadConfig(env);
  try {
    const { bootstrap } = await startLocalBroker(config, probeBroker);
    const kafka = kafkaClient([bootstrap], 'bench-recovery'); // its reconnect errors during the outage are expected
    await ensureTopics(kafka, config);
    const producer = await connectProducer(config, { kafka, brokers: [bootstrap], startedBroker: true, registry: SchemaRegistry.load() });
    let seq = 0;
    let rejected = 0;
    let firstAckAfterBack: number | undefined;
    let back: number | undefined;
    const sends: Promise<void>[] = [];
    const ticker = setInterval(() => {
      for (let i = 0; i < 50; i++) {
        const n = seq++;
        const e = { ...touchpoint(`c-${n % 500}`), event_id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, occurred_at: Date.UTC(2026, 11, 1) + n, moment_of_truth: false, outcome: 'OK' } as TouchpointEvent;
        sends.push(producer.send(e).then(() => void (back !== undefined && (firstAckAfterBack ??= Date.now())), () => void rejected++));
      }
    }, 100);
    await new Promise((r) => setTimeout(r, 2000));
    await stopLocalBroker(config);
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    clearInterval(ticker);
    await startLocalBroker(config, probeBroker);
    back = Date.now();
    await Promise.allSettled(sends);
    const all = Date.now();
    await producer.disconnect().catch(() => undefined);
    return { firstMs: (firstAckAfterBack ?? all) - back, allMs: all - back, rejected, sent: seq };
  } finally {
    await stopLocalBroker(config);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const base = loadConfig();
  out(`cx bench (collector): autocannon ${CONNECTIONS} connections x ${SECONDS} s per figure, ${RUNS} runs; medians`);
  const collector = { single: figure(), batch100: figure() };
  const bare = { single: figure(), batch100: figure() };
  const sdk: number[] = [];
  let startedBroker = false;
  for (let run = 1; run <= RUNS; run++) {
    const config = freshTopics(base, `c${run}`);
    const c = await connectKafka(config, log);
    startedBroker ||= c.startedBroker;
    await measure(nullSink, bare);
    const producer = await connectProducer(config, c);
    await measure(producer, collector);
    await producer.disconnect();
    const sdkConfig = freshTopics(base, `s${run}`);
    sdk.push(await sdkRate(sdkConfig, await connectKafka(sdkConfig, log)));
    out(`run ${run}: collector single ${fmt(collector.single.rps.at(-1) as number)} req/s (p99 ${collector.single.p99.at(-1)} ms), batch100 ${fmt(collector.batch100.rps.at(-1) as number)} req/s (p99 ${collector.batch100.p99.at(-1)} ms); ` +
      `bare single ${fmt(bare.single.rps.at(-1) as number)} req/s, batch100 ${fmt(bare.batch100.rps.at(-1) as number)} req/s; SDK ${fmt(sdk.at(-1) as number)} events/s`);
  }
  out('');
  for (const mode of ['single', 'batch100'] as const) {
    const perReq = mode === 'single' ? 1 : 100;
    const c = collector[mode];
    const b = bare[mode];
    out(`${mode.padEnd(8)} collector: ${fmt(median(c.rps))} req/s = ${fmt(median(c.rps) * perReq)} events/s, p99 ${median(c.p99)} ms, non-2xx/errors ${c.bad}` +
      ` | bare fastify: ${fmt(median(b.rps))} req/s, p99 ${median(b.p99)} ms | collector/bare ${(median(c.rps) / median(b.rps)).toFixed(2)}` +
      ` | collector events/s / SDK events/s ${((median(c.rps) * perReq) / median(sdk)).toFixed(2)}`);
  }
  out(`SDK alone (no HTTP): ${fmt(median(sdk))} events/s`);
  if (startedBroker) await stopLocalBroker(base);

  const rec: Awaited<ReturnType<typeof recovery>>[] = [];
  for (let run = 1; run <= RUNS; run++) {
    rec.push(await recovery());
    const r = rec.at(-1) as (typeof rec)[number];
    out(`recovery run ${run}: broker away ${OUTAGE_MS / 1000} s; first held event acknowledged ${fmt(r.firstMs)} ms after the broker was back, all ${fmt(r.allMs)} ms; ${r.rejected} of ${r.sent} sends rejected`);
  }
  out(`recovery after a ${OUTAGE_MS / 1000} s broker restart: median ${fmt(median(rec.map((r) => r.firstMs)))} ms to the first acknowledgement, ${fmt(median(rec.map((r) => r.allMs)))} ms to all; rejected sends ${rec.map((r) => r.rejected).join(', ')}`);
}

finish(main());
