/**
 * The producer SDK through a broker restart, on a private broker this test starts and
 * stops itself (the shared one serves other test files in parallel). Sends go on
 * during the outage, which lasts longer than kafkajs's own reconnect budget (~23 s):
 * none may be rejected, and afterwards every event is on the topic exactly once, in
 * order per customer.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTopics, kafkaClient } from '../../platform/kafka/client.ts';
import { createLogger } from '../../platform/log.ts';
import { connectProducer } from '../../pipeline/compose.ts';
import { seededRandom, uuidOf } from '../../producers/random.ts';
import { SchemaRegistry } from '../../schemas/registry.ts';
import type { TouchpointEvent } from '../../schemas/contracts.ts';
import { privateBroker, type PrivateBroker } from '../processes.ts';
import { readTopic } from '../topicReader.ts';

const SEED = Number(process.env.CX_TEST_SEED ?? 7);
const OUTAGE_MS = Number(process.env.CX_TEST_OUTAGE_MS ?? 30_000);
let broker: PrivateBroker | undefined;

afterAll(async () => {
  await broker?.dispose();
});

describe('producer SDK through a broker restart (private broker)', () => {
  it('rejects no send, and delivers every event exactly once, in order per customer', async () => {
    broker = await privateBroker('outage-kafka');
    const { config, bootstrap } = broker;
    const lines: string[] = [];
    const log = createLogger('warn', 'outage-test');
    const logged = new Proxy(log, { get: (t, k) => (k === 'warn' ? (o: object, m: string) => (lines.push(m), t.warn(o, m)) : Reflect.get(t, k)) });
    const kafka = kafkaClient([bootstrap], 'outage-test', logged);
    await ensureTopics(kafka, config);
    const producer = await connectProducer(config, { kafka, brokers: [bootstrap], startedBroker: true, registry: SchemaRegistry.load(), log: logged });

    const random = seededRandom(SEED);
    process.stderr.write(`producerOutage: seed ${SEED}, outage ${OUTAGE_MS} ms\n`);
    const customers = Array.from({ length: 40 }, (_, i) => `outage-c${i}`);
    const sent: TouchpointEvent[] = [];
    const rejected: string[] = [];
    const sends: Promise<void>[] = [];
    let seq = 0;
    const sendSome = (n: number) => {
      for (let i = 0; i < n; i++) {
        const customer = customers[Math.floor(random() * customers.length)] as string;
        const e: TouchpointEvent = {
          event_id: uuidOf(`outage-${SEED}-${seq}`), occurred_at: Date.UTC(2026, 11, 1) + seq, customer_id: customer, journey_id: `j-${customer}`,
          channel: 'APP', touchpoint: 'app_home', leg: 'OPERATIONS', stage: 'CONSUMPTION', department: 'Digital', moment_of_truth: false,
          rating: null, outcome: 'OK', attributes: { seq: String(seq) },
        };
        seq++;
        sent.push(e);
        sends.push(producer.send(e).catch((err: Error) => void rejected.push(`${e.event_id}: ${err.message}`)));
      }
    };
    const ticker = setInterval(() => sendSome(25), 100);
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      await broker.stop();
      const stoppedAt = Date.now();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await broker.start();
      const backAt = Date.now();
      process.stderr.write(`producerOutage: broker away ${((backAt - stoppedAt) / 1000).toFixed(1)} s\n`);
      await new Promise((r) => setTimeout(r, 2_000));
      clearInterval(ticker);
      await Promise.all(sends);
      await producer.flush();
      process.stderr.write(`producerOutage: ${sent.length} sent, every send settled ${((Date.now() - backAt) / 1000).toFixed(1)} s after the broker was back\n`);
    } finally {
      clearInterval(ticker);
    }
    await producer.disconnect();

    expect(rejected).toEqual([]);
    expect(lines.some((l) => l.startsWith('Kafka is not answering'))).toBe(true);
    const stored = await readTopic(kafka, config.touchpointsTopic);
    const copies = new Map<string, number>();
    for (const r of stored) copies.set(r.eventId as string, (copies.get(r.eventId as string) ?? 0) + 1);
    expect(sent.filter((e) => copies.get(e.event_id) !== 1).map((e) => `${e.event_id} x${copies.get(e.event_id) ?? 0}`)).toEqual([]);
    expect(stored.length).toBe(sent.length);
    // In order per customer: within each partition, each customer's seq only grows.
    const registry = SchemaRegistry.load();
    const last = new Map<string, number>();
    const outOfOrder: string[] = [];
    for (const r of stored) {
      const d = registry.decode(r.value);
      const s = Number((d.ok ? (d.value.attributes as Record<string, string>) : {}).seq);
      const c = r.customerId as string;
      if ((last.get(c) ?? -1) > s) outOfOrder.push(`${c}: ${s} after ${last.get(c)}`);
      last.set(c, s);
    }
    expect(outOfOrder).toEqual([]);
  });
});
