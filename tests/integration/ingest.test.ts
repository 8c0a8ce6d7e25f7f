/**
 * End to end on real components: the producer SDK into a real Kafka broker, the
 * raw ingestion worker into a real ClickHouse engine (embedded chdb here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import type { Store } from '../../platform/clickhouse/store.ts';
import { connectKafka, connectProducer, rawIngest } from '../../pipeline/compose.ts';
import { takeSimulated } from '../../producers/simulator/simulate.ts';
import { OUTCOME_EVENT, TOUCHPOINT_EVENT, type TouchpointEvent } from '../../schemas/contracts.ts';
import { isolatedConfig, startPipeline, waitFor, type TestPipeline } from '../helpers.ts';

const { config } = isolatedConfig({ CX_BATCH_MAX_MESSAGES: '300' });
let p: TestPipeline;

beforeAll(async () => {
  p = await startPipeline(config);
});

afterAll(async () => {
  await p?.stop();
});

describe('raw ingestion', () => {
  it('stores every valid event exactly once and dead-letters every bad message with its reason', async () => {
    const events = takeSimulated({ seed: 11, customers: 300, start: Date.UTC(2026, 10, 1), rate: 0.2 }, 3000);
    const touchpoints = events.filter((e) => e.kind === 'touchpoint').map((e) => e.event as TouchpointEvent);
    const outcomes = events.filter((e) => e.kind === 'outcome');
    const reg = p.kafka.registry;
    const base = touchpoints[0] as TouchpointEvent;

    // Bad messages, interleaved with the valid ones, each of a different kind.
    const foreignFingerprint = Buffer.concat([Buffer.from('c301', 'hex'), Buffer.from('00112233445566ff', 'hex'), reg.encode(TOUCHPOINT_EVENT, base).subarray(10)]);
    const bad: { key: string; value: Buffer; code: string; reason: string }[] = [
      { key: 'c-bad-1', value: Buffer.from('{"event_id": "not avro at all"}'), code: 'not_avro', reason: 'not Avro single-object encoding' },
      { key: 'c-bad-2', value: foreignFingerprint, code: 'unknown_schema', reason: 'unknown schema fingerprint 00112233445566ff' },
      // Schema-valid, semantically invalid: 11 on a 0..10 scale (encoded with the raw Avro writer, past the SDK's own check).
      { key: 'c-bad-3', value: reg.encode(TOUCHPOINT_EVENT, { ...base, event_id: '9a9a9a9a-0000-4000-8000-000000000001', rating: { scale: 'NPS_11', value: 11 } }), code: 'invalid', reason: 'rating.value: 11 is outside NPS_11' },
      { key: 'c-bad-4', value: reg.encode(OUTCOME_EVENT, outcomes[0]?.event), code: 'wrong_topic', reason: 'OutcomeEvent v1 on' },
      { key: 'c-bad-5', value: reg.encode(TOUCHPOINT_EVENT, base).subarray(0, 20), code: 'truncated', reason: 'does not decode as TouchpointEvent v1: the body ends before the record does' },
    ];

    const sends: Promise<void>[] = [];
    events.forEach((e, i) => {
      sends.push(e.kind === 'touchpoint' ? p.producer.send(e.event) : p.producer.sendOutcome(e.event));
      if (i % 600 === 300) {
        const b = bad[Math.floor(i / 600)];
        if (b) sends.push(p.producer.sendRaw(config.touchpointsTopic, b.key, b.value));
      }
    });
    await Promise.all(sends);
    expect(sends.length).toBe(events.length + bad.length);

    const total = events.length + bad.length;
    const landed = () => p.ingest.stats.touchpointRows + p.ingest.stats.outcomeRows + p.ingest.stats.deadLetters;
    await waitFor('every message to be stored', async () => landed() >= total);

    const db = config.clickhouseDatabase;
    const [counts] = await p.store.query<{ n: string; ids: string }>(`SELECT count() AS n, uniqExact(event_id) AS ids FROM ${db}.touchpoint_events`);
    expect(Number(counts?.n)).toBe(touchpoints.length);
    expect(Number(counts?.ids)).toBe(touchpoints.length);
    const stored = new Set((await p.store.query<{ event_id: string }>(`SELECT event_id FROM ${db}.touchpoint_events`)).map((r) => r.event_id));
    expect(touchpoints.every((e) => stored.has(e.event_id))).toBe(true);

    // Keyed by customer_id: each customer's events sit in one partition, in order.
    const split = await p.store.query(`SELECT customer_id FROM ${db}.touchpoint_events GROUP BY customer_id HAVING uniqExact(source_partition) > 1`);
    expect(split).toEqual([]);
    const [spread] = await p.store.query<{ p: number }>(`SELECT uniqExact(source_partition) AS p FROM ${db}.touchpoint_events`);
    expect(Number(spread?.p)).toBe(config.partitions);

    const [oc] = await p.store.query<{ n: string }>(`SELECT count() AS n FROM ${db}.outcome_events`);
    expect(Number(oc?.n)).toBe(outcomes.length);

    // One stored event, as an analyst sees it.
    const [row] = await p.store.query<Record<string, unknown>>(`SELECT * FROM ${db}.touchpoint_events WHERE event_id = {id:UUID}`, { id: base.event_id });
    expect(row).toMatchObject({ customer_id: base.customer_id, channel: base.channel, touchpoint: base.touchpoint, outcome: base.outcome, source_topic: config.touchpointsTopic });
    expect(row?.occurred_at).toBe(new Date(base.occurred_at).toISOString().slice(0, 23).replace('T', ' '));

    const dead = await p.store.query<{ message_key: string; reason_code: string; reason: string; raw_base64: string; source_topic: string }>(
      `SELECT message_key, reason_code, reason, raw_base64, source_topic FROM ${db}.dead_letters ORDER BY message_key`,
    );
    expect(dead.map((d) => d.message_key)).toEqual(bad.map((b) => b.key));
    dead.forEach((d, i) => {
      const b = bad[i] as (typeof bad)[number];
      expect(d.reason_code).toBe(b.code);
      expect(d.reason).toContain(b.reason);
      expect(Buffer.from(d.raw_base64, 'base64').equals(b.value)).toBe(true);
      expect(d.source_topic).toBe(config.touchpointsTopic);
    });

    // The dead-letter topic carries the same messages, original bytes and reason headers.
    const seen: KafkaMessage[] = [];
    const consumer = p.kafka.kafka.consumer({ groupId: `${config.consumerGroup}-dlq-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: config.deadLetterTopic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message) });
    await waitFor('the dead-letter topic', async () => seen.length >= bad.length);
    await consumer.disconnect();
    expect(seen.length).toBe(bad.length);
    const byKey = new Map(seen.map((m) => [m.key?.toString(), m]));
    for (const b of bad) {
      const m = byKey.get(b.key);
      expect(m?.value?.equals(b.value)).toBe(true);
      expect(m?.headers?.['cx-reason-code']?.toString()).toBe(b.code);
      expect(m?.headers?.['cx-source-topic']?.toString()).toBe(config.touchpointsTopic);
    }
  });

  it('writes nothing twice when a stream is replayed from older offsets with other chunk boundaries', async () => {
    // A crash after storing but before committing replays from the last commit; here
    // the whole group is rewound to the start, the worst case, and the replaying
    // worker cuts its chunks differently, so insert dedup tokens cannot match.
    const { config: replayConfig } = isolatedConfig({ CX_BATCH_MAX_MESSAGES: '250' });
    const replayKafka = await connectKafka(replayConfig, p.log);
    const db = replayConfig.clickhouseDatabase;
    // Same in-process engine as the other test, so separate tables via another database.
    const replayStore = { ...p.store, database: `${db}_replay` } as Store;
    const { migrate } = await import('../../platform/clickhouse/migrate.ts');
    await migrate(replayStore);
    // Merges would hide duplicates (ReplacingMergeTree); stop them so count() tells the truth.
    await p.store.command(`SYSTEM STOP MERGES ${db}_replay.touchpoint_events`);

    const sdk = await connectProducer(replayConfig, replayKafka);
    const events = takeSimulated({ seed: 5, customers: 100, start: Date.UTC(2026, 10, 3), rate: 1 }, 2000).filter((e) => e.kind === 'touchpoint');
    await Promise.all(events.map((e) => sdk.send(e.event as TouchpointEvent)));
    await sdk.disconnect();

    const first = rawIngest(replayConfig, replayKafka, replayStore, p.log);
    await first.start();
    await waitFor('the first pass', async () => first.stats.touchpointRows >= events.length);
    await first.stop();
    expect(first.stats.touchpointRows).toBe(events.length);

    const admin = replayKafka.kafka.admin();
    await admin.connect();
    await admin.resetOffsets({ groupId: replayConfig.consumerGroup, topic: replayConfig.touchpointsTopic, earliest: true });
    await admin.disconnect();

    const second = rawIngest({ ...replayConfig, batchMaxMessages: 333 }, replayKafka, replayStore, p.log);
    await second.start();
    await waitFor('the replay', async () => second.stats.consumed >= events.length);
    await second.stop();
    expect(second.stats.replayedSkipped).toBe(events.length);
    expect(second.stats.touchpointRows).toBe(0);
    const [n] = await p.store.query<{ n: string }>(`SELECT count() AS n FROM ${db}_replay.touchpoint_events`);
    expect(Number(n?.n)).toBe(events.length);
  });

  it('ingests a topic that was deleted and created again from its start, despite marks left by the old one', async () => {
    const { config: c1 } = isolatedConfig({ CX_TOPIC_PARTITIONS: '1' });
    const k = await connectKafka(c1, p.log);
    const s1 = { ...p.store, database: `${config.clickhouseDatabase}_recreated` } as Store;
    const { migrate } = await import('../../platform/clickhouse/migrate.ts');
    await migrate(s1);
    const batch = (seed: number, n: number) =>
      takeSimulated({ seed, customers: 50, start: Date.UTC(2026, 10, 4), rate: 1 }, n * 2).filter((e) => e.kind === 'touchpoint').slice(0, n).map((e) => e.event as TouchpointEvent);
    const sendAll = async (events: TouchpointEvent[]) => {
      const sdk = await connectProducer(c1, k);
      await Promise.all(events.map((e) => sdk.send(e)));
      await sdk.disconnect();
    };
    const runUntil = async (groupId: string, rows: number) => {
      const w = rawIngest({ ...c1, consumerGroup: groupId }, k, s1, p.log);
      await w.start();
      await waitFor(`${rows} rows`, async () => w.stats.touchpointRows >= rows);
      await w.stop();
      return w.stats;
    };

    const before = batch(21, 600);
    await sendAll(before);
    expect((await runUntil(`${c1.consumerGroup}-a`, 600)).touchpointRows).toBe(600);

    const admin = k.kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [c1.touchpointsTopic] });
    await waitFor('the topic to be gone', async () => !(await admin.listTopics()).includes(c1.touchpointsTopic));
    await admin.disconnect();
    const { ensureTopics } = await import('../../platform/kafka/client.ts');
    await ensureTopics(k.kafka, c1);

    // The new topic's offsets 0..199 lie below the old mark (599): without the check they would be skipped.
    const after = batch(22, 200);
    await sendAll(after);
    const second = await runUntil(`${c1.consumerGroup}-b`, 200);
    expect(second.touchpointRows).toBe(200);
    expect(second.replayedSkipped).toBe(0);
    const [n] = await p.store.query<{ n: string }>(`SELECT count() AS n FROM ${s1.database}.touchpoint_events`);
    expect(Number(n?.n)).toBe(800);
  });
});
