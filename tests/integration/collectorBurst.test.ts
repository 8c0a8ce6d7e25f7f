/**
 * The hostile burst, through a spawned `cx collect` on a real broker: small events,
 * then at once two valid ~1 MB events for one customer among small ones, then more
 * small ones. Afterwards the topic is read back and every answer is checked against
 * it: each event answered 200 is there exactly once, each answered 503 (failed_ids) or
 * 413 is not. A second round lowers the topic's max.message.bytes under the running
 * collector, so Kafka itself refuses a batch, and the same accounting must hold.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { kafkaClient } from '../../platform/kafka/client.ts';
import { seededRandom, uuidOf } from '../../producers/random.ts';
import { isolatedConfig } from '../helpers.ts';
import { freePort, spawnCx, type Spawned } from '../processes.ts';
import { readTopic } from '../topicReader.ts';

const SEED = Number(process.env.CX_TEST_SEED ?? 20261201);
const { env, config } = isolatedConfig({ CX_COLLECTOR_MAX_BODY_BYTES: String(4 * 1024 * 1024), LOG_LEVEL: 'warn' });
const kafka = kafkaClient(config.kafkaBrokers as string[], 'burst-test');
let collector: Spawned;
let url: string;

beforeAll(async () => {
  const port = await freePort();
  collector = await spawnCx(['collect', '--port', String(port)], env, /Collector listening/);
  url = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  collector?.child.kill('SIGTERM');
  await collector?.exited;
});

type Answer = { status: number; ids: string[]; accepted: string[]; absent: string[]; unknown: string[] };

let n = 0;
function event(customer: string, blobChars = 0) {
  const event_id = uuidOf(`burst-${SEED}-${n++}`);
  return {
    event_id, customer_id: customer, journey_id: `j-${customer}`, channel: 'WEB', touchpoint: 'checkout', leg: 'OPERATIONS', stage: 'PURCHASE', department: 'Digital',
    occurred_at: Date.UTC(2026, 11, 1, 12) + n,
    attributes: blobChars ? { blob: 'x'.repeat(blobChars) } : {},
  };
}

async function post(events: ReturnType<typeof event>[]): Promise<Answer> {
  const r = await fetch(`${url}/v1/touchpoints`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events.length === 1 ? events[0] : events) });
  const body = (await r.json()) as { accepted_ids?: string[]; failed_ids?: string[]; unknown_ids?: string[] };
  const ids = events.map((e) => e.event_id);
  if (r.status === 200) return { status: 200, ids, accepted: ids, absent: [], unknown: [] };
  if (r.status === 503 || r.status === 504) return { status: r.status, ids, accepted: body.accepted_ids ?? [], absent: body.failed_ids ?? [], unknown: body.unknown_ids ?? [] };
  return { status: r.status, ids, accepted: [], absent: ids, unknown: [] };
}

/** The burst of the report, in a shuffled order (seeded) so the big events land among the small ones. */
async function burst(prefix: string, bigChars: number, random: () => number): Promise<{ answers: Answer[]; big: string[] }> {
  const answers: Answer[] = [];
  for (let i = 0; i < 10; i++) answers.push(await post([event(`${prefix}-small-${i}`)]));
  const big = [event(`${prefix}-big`, bigChars), event(`${prefix}-big`, bigChars)];
  // One request holding both (a 2 MB body, under this collector's 4 MiB limit): they meet in one partition's batch.
  const wave = [big, ...Array.from({ length: 40 }, (_, i) => [event(`${prefix}-wave-${i % 13}`)])];
  for (let i = wave.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [wave[i], wave[j]] = [wave[j] as (typeof wave)[number], wave[i] as (typeof wave)[number]];
  }
  answers.push(...(await Promise.all(wave.map((w) => post(w)))));
  const after = await Promise.all(Array.from({ length: 60 }, (_, i) => post([event(`${prefix}-after-${i % 17}`)])));
  expect(after.map((a) => a.status), 'small requests after the burst are all accepted').toEqual(after.map(() => 200));
  return { answers: [...answers, ...after], big: big.map((e) => e.event_id) };
}

async function account(answers: Answer[]) {
  const stored = await readTopic(kafka, config.touchpointsTopic);
  const copies = new Map<string, number>();
  for (const r of stored) copies.set(r.eventId as string, (copies.get(r.eventId as string) ?? 0) + 1);
  const accepted = answers.flatMap((a) => a.accepted);
  const absent = answers.flatMap((a) => a.absent);
  expect(answers.flatMap((a) => a.unknown), 'no answer is left unknown with a healthy broker').toEqual([]);
  expect(accepted.filter((id) => copies.get(id) !== 1), 'answered 200 but not on the topic exactly once').toEqual([]);
  expect(absent.filter((id) => copies.has(id)), 'answered 503/413 but on the topic').toEqual([]);
  expect([...copies.keys()].filter((id) => !accepted.includes(id)), 'on the topic without a 200').toEqual([]);
  return { stored: stored.length, accepted: accepted.length, absent: absent.length };
}

describe('collector under a burst of mixed sizes (spawned cx collect, real broker)', () => {
  it('answers 200 exactly for what is on the topic, and later requests are unharmed', async () => {
    const random = seededRandom(SEED);
    process.stderr.write(`collectorBurst: seed ${SEED} (CX_TEST_SEED)\n`);
    const { answers } = await burst('r1', 1_000_000, random);
    // Two ~1 MB events of one customer fit the topic one at a time: both are taken, like every small one.
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    // ...because no batch went over the limit: Kafka refused none (the SDK cuts batches to max.message.bytes).
    expect(collector.output()).not.toContain('Kafka refused a batch');
    // One event over the topic's max.message.bytes is refused up front, with the reason.
    const huge = event('r1-huge', 1_200_000);
    const r = await fetch(`${url}/v1/touchpoints`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(huge) });
    expect(r.status).toBe(413);
    expect(await r.json()).toMatchObject({ error: 'event_too_large', errors: [{ index: 0, event_id: huge.event_id, message: expect.stringContaining('max.message.bytes') }] });
    answers.push({ status: 413, ids: [huge.event_id], accepted: [], absent: [huge.event_id], unknown: [] });
    const totals = await account(answers);
    expect(totals).toEqual({ stored: 112, accepted: 112, absent: 1 });
  });

  it('keeps the accounting exact when Kafka itself refuses a batch (limit lowered under the collector)', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: config.touchpointsTopic, configEntries: [{ name: 'max.message.bytes', value: '600000' }] }] });
    await admin.disconnect();
    const before = await readTopic(kafka, config.touchpointsTopic);
    const { answers, big } = await burst('r2', 700_000, seededRandom(SEED + 1));
    expect(collector.output()).toContain('Kafka refused a batch (MESSAGE_TOO_LARGE)');
    // Only the two big events are refused (by Kafka, or up front once the new limit is read); every small one is taken.
    expect(answers.filter((a) => a.status !== 200).map((a) => [a.ids, a.absent, [503, 413].includes(a.status)])).toEqual([[big, big, true]]);
    const previous = before.map((r) => r.eventId as string);
    const totals = await account([...answers, { status: 200, ids: previous, accepted: previous, absent: [], unknown: [] }]);
    expect(totals.stored).toBe(before.length + 110);
  });
});
