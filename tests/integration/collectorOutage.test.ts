/**
 * The collector's answers while its broker is down (a private broker, stopped and
 * started by this test): with a short request deadline, requests get 503 for what was
 * withdrawn from the queue and 504 for what was already in a request. After the broker
 * is back, the topic is read: 503's failed_ids are absent, every 200 and accepted_id is
 * there once, and the 504's unknown_ids were delivered once by the SDK's retries.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTopics, kafkaClient } from '../../platform/kafka/client.ts';
import { connectProducer } from '../../pipeline/compose.ts';
import { buildCollector } from '../../producers/collector.ts';
import { uuidOf } from '../../producers/random.ts';
import { SchemaRegistry } from '../../schemas/registry.ts';
import { privateBroker, type PrivateBroker } from '../processes.ts';
import { readTopic } from '../topicReader.ts';

let broker: PrivateBroker | undefined;

afterAll(async () => {
  await broker?.dispose();
});

let n = 0;
const event = () => {
  const i = n++;
  return { event_id: uuidOf(`collector-outage-${i}`), customer_id: `c-${i % 7}`, journey_id: 'j', channel: 'WEB', touchpoint: 'checkout', leg: 'OPERATIONS', stage: 'PURCHASE', department: 'Digital', occurred_at: Date.UTC(2026, 11, 1) + i };
};

/** Every phase is logged, and no wait is unbounded: a stuck phase fails with where it stuck, not with vitest's timeout. */
const phase = (what: string) => process.stderr.write(`collectorOutage: ${new Date().toISOString()} ${what}\n`);
async function within<T>(ms: number, what: string, p: Promise<T>, state: () => string = () => ''): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms ${state()}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe('collector while its broker is down (private broker)', () => {
  it('answers 503 only for events that are not on the topic, and 504 for those it cannot tell yet', { timeout: 300_000 }, async () => {
    broker = await privateBroker('collector-outage');
    const { config, bootstrap } = broker;
    const kafka = kafkaClient([bootstrap], 'collector-outage-test');
    await ensureTopics(kafka, config);
    const producer = await connectProducer(config, { kafka, brokers: [bootstrap], startedBroker: true, registry: SchemaRegistry.load() });
    const app = buildCollector({ producer, maxBodyBytes: 1_048_576, maxBatch: 100, requestTimeoutMs: 3000 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/touchpoints`;
    const accepted: string[] = [];
    const failed: string[] = [];
    const unknown: string[] = [];
    const statuses: number[] = [];
    const post = async (events: ReturnType<typeof event>[]) => {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
      const body = (await r.json()) as { accepted_ids?: string[]; failed_ids?: string[]; unknown_ids?: string[] };
      statuses.push(r.status);
      if (r.status === 200) accepted.push(...events.map((e) => e.event_id));
      else {
        accepted.push(...(body.accepted_ids ?? []));
        failed.push(...(body.failed_ids ?? []));
        unknown.push(...(body.unknown_ids ?? []));
      }
      return r.status;
    };
    const sdk = () => `(SDK: ${JSON.stringify(producer.status)})`;
    try {
      expect(await post([event(), event()])).toBe(200);
      await broker.stop();
      phase('broker stopped');
      // Requests while Kafka is away. The first one's events go into a produce request; the SDK
      // then resends that request alone until Kafka answers, so the events of the requests that
      // follow it stay queued (and are withdrawn at the deadline: 503). Left to timing alone, all
      // of them could share the first request (all 504) on an idle machine.
      const first = post(Array.from({ length: 6 }, event));
      await new Promise((r) => setTimeout(r, 500));
      await within(60_000, 'the requests while Kafka is away', Promise.all([first, ...Array.from({ length: 11 }, (_, i) => post(Array.from({ length: 1 + (i % 4) * 5 }, event)))]), sdk);
      const during = statuses.slice(1);
      phase(`answered while away: ${during.join(',')}`);
      expect(during.every((s) => s === 503 || s === 504), `answers while Kafka was away: ${during.join(',')}`).toBe(true);
      expect(failed.length).toBeGreaterThan(0);
      await broker.start();
      phase(`broker back ${sdk()}`);
      await within(120_000, 'the SDK delivering what it held', producer.flush(), sdk);
      phase('held events delivered');
      for (let i = 0; i < 5; i++) expect(await within(30_000, 'a request after the broker came back', post([event(), event(), event()]), sdk)).toBe(200);
    } finally {
      await app.close();
      // Bounded: if Kafka never came back, disconnect's flush would wait for it for ever.
      await within(30_000, 'the producer disconnecting', producer.disconnect(), sdk).catch((err: Error) => phase(err.message));
    }

    phase('reading the topic back');
    const copies = new Map<string, number>();
    for (const r of await readTopic(kafka, config.touchpointsTopic)) copies.set(r.eventId as string, (copies.get(r.eventId as string) ?? 0) + 1);
    expect(failed.filter((id) => copies.has(id)), 'answered failed (503) but on the topic').toEqual([]);
    expect(accepted.filter((id) => copies.get(id) !== 1), 'answered accepted but not on the topic once').toEqual([]);
    expect(unknown.filter((id) => copies.get(id) !== 1), 'unknown at the deadline, then delivered by the SDK once').toEqual([]);
    expect(copies.size).toBe(accepted.length + unknown.length);
    process.stderr.write(`collectorOutage: ${accepted.length} accepted, ${failed.length} failed, ${unknown.length} unknown; statuses ${statuses.join(',')}\n`);
  });
});
