/**
 * File replay end to end: the shipped example files through their mappings into
 * real Kafka, then through the processor into ClickHouse. Rejected rows come back
 * with line numbers and land on the dead-letter topic.
 */
import { fileURLToPath } from 'node:url';
import type { KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMapping } from '../../producers/replay/mapping.ts';
import { replayFile } from '../../producers/replay/replay.ts';
import { isolatedConfig, startPipeline, waitFor, type TestPipeline } from '../helpers.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/replay/', import.meta.url));
const { config } = isolatedConfig();
let p: TestPipeline;

beforeAll(async () => {
  p = await startPipeline(config);
});

afterAll(async () => {
  await p?.stop();
});

const replay = (data: string, mapping: string) => replayFile(`${EXAMPLES}${data}`, readMapping(`${EXAMPLES}${mapping}`), { producer: p.producer, deadLetterTopic: config.deadLetterTopic });
const db = config.clickhouseDatabase;

describe('file replay', () => {
  it('replays the long and the wide example into ClickHouse, reporting bad rows by line', async () => {
    const long = await replay('touchpoints-long.csv', 'touchpoints-long.mapping.json');
    // 8 data rows (file lines 2..9); line 7 rates NPS 12, line 8 has "not a time".
    expect(long).toMatchObject({ rowsRead: 8, touchpointEvents: 6, outcomeEvents: 0, failures: 0 });
    expect(long.rejections).toEqual([
      { line: 7, reason: 'rating.value: 12 is outside NPS_11 (whole numbers 0..10)', key: 'C-1002' },
      { line: 8, reason: 'occurred_at: "not a time" is not an ISO 8601 time', key: 'C-1003' },
    ]);

    const wide = await replay('survey-wide.csv', 'survey-wide.mapping.json');
    // 6 respondents x 4 questions = 24 cells, 5 of them N/A (R-001 support; R-003 website; R-005 three);
    // R-004's delivery 9 is off the 5-star scale; R-006 has no time, so the whole row is rejected (its text goes to the dead-letter topic).
    // Touchpoint events: 24 - 5 - 1 - 4 = 14. Outcomes: R-001..R-004 (4); R-005's "meh" is not a mapped value.
    expect(wide).toMatchObject({ rowsRead: 6, touchpointEvents: 14, outcomeEvents: 4, failures: 0 });
    expect(wide.rejections.map((r) => [r.line, r.column, r.reason])).toEqual([
      [5, 'q_delivery', 'rating.value: 9 is outside STARS_5 (whole numbers 1..5)'],
      [6, 'overall', '"meh" is not one of satisfied, dissatisfied'],
      [7, undefined, 'occurred_at is empty'],
    ]);

    const jsonl = await replay('touchpoints.jsonl', 'touchpoints-jsonl.mapping.json');
    expect(jsonl).toMatchObject({ rowsRead: 5, touchpointEvents: 3, failures: 0 });
    expect(jsonl.rejections.map((r) => r.line)).toEqual([4, 5]);

    await waitFor('the replayed events in ClickHouse', async () => p.ingest.stats.touchpointRows >= 6 + 14 + 3 && p.ingest.stats.outcomeRows >= 4);
    const rows = await p.store.query<{ customer_id: string; touchpoint: string; rating_value: number | null; outcome: string; occurred_at: string; src: string }>(
      `SELECT customer_id, touchpoint, rating_value, outcome, toString(occurred_at) AS occurred_at, attributes['source_line'] AS src FROM ${db}.touchpoint_events ORDER BY customer_id, occurred_at, touchpoint`,
    );
    expect(rows).toHaveLength(23);
    expect(rows.find((r) => r.customer_id === 'C-1001' && r.touchpoint === 'support_call')).toMatchObject({ rating_value: null, outcome: 'ESCALATED', occurred_at: '2026-10-08 10:45:00.000', src: '5' });
    expect(rows.filter((r) => r.customer_id === 'R-002').map((r) => [r.touchpoint, r.rating_value])).toEqual([
      ['checkout', 2], ['parcel_delivery', 1], ['product_page', 4], ['support_call', 1],
    ]);
    const outcomes = await p.store.query<{ customer_id: string; kind: string; rating_value: number }>(`SELECT customer_id, kind, rating_value FROM ${db}.outcome_events ORDER BY customer_id`);
    expect(outcomes.map((o) => [o.customer_id, o.rating_value])).toEqual([['R-001', 1], ['R-002', 0], ['R-003', 1], ['R-004', 0]]);

    // Every rejection is on the dead-letter topic, with the row's text and where it came from.
    const seen: KafkaMessage[] = [];
    const consumer = p.kafka.kafka.consumer({ groupId: `${config.consumerGroup}-dlq` });
    await consumer.connect();
    await consumer.subscribe({ topic: config.deadLetterTopic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message) });
    await waitFor('7 dead letters', async () => seen.length >= 7);
    await consumer.disconnect();
    const where = seen.map((m) => `${m.headers?.['cx-source-file']}:${m.headers?.['cx-source-line']}${m.headers?.['cx-source-column'] ? `:${m.headers['cx-source-column']}` : ''}`).sort();
    expect(where).toEqual(['survey-wide.csv:5:q_delivery', 'survey-wide.csv:6:overall', 'survey-wide.csv:7', 'touchpoints-long.csv:7', 'touchpoints-long.csv:8', 'touchpoints.jsonl:4', 'touchpoints.jsonl:5']);
    const line8 = seen.find((m) => m.headers?.['cx-source-line']?.toString() === '8');
    expect(line8?.value?.toString()).toBe(',not a time,C-1003,O-5003,store,store_visit,OPERATIONS,PURCHASE,Retail,no,CSAT_5,3,OK');

    // ...and the processor stores them in dead_letters, so an analyst finds every reject in SQL.
    await waitFor('7 rows in dead_letters', async () => p.ingest.stats.deadLetters >= 7);
    const dead = await p.store.query<{ reason: string; step: string; reason_code: string; raw: string }>(
      `SELECT reason, step, reason_code, base64Decode(raw_base64) AS raw FROM ${db}.dead_letters ORDER BY reason`,
    );
    expect(dead.map((d) => d.reason)).toEqual([
      'survey-wide.csv line 5, column q_delivery: rating.value: 9 is outside STARS_5 (whole numbers 1..5)',
      'survey-wide.csv line 6, column overall: "meh" is not one of satisfied, dissatisfied',
      'survey-wide.csv line 7: occurred_at is empty',
      'touchpoints-long.csv line 7: rating.value: 12 is outside NPS_11 (whole numbers 0..10)',
      'touchpoints-long.csv line 8: occurred_at: "not a time" is not an ISO 8601 time',
      'touchpoints.jsonl line 4: channel: "PIGEON" is not one of WEB, APP, STORE, CALL_CENTRE, CHAT, EMAIL, SOCIAL, DELIVERY, OTHER',
      expect.stringMatching(/^touchpoints\.jsonl line 5: not JSON: /),
    ]);
    expect(new Set(dead.map((d) => d.step))).toEqual(new Set(['replay']));
    expect(dead.find((d) => d.reason.includes('line 8'))?.raw).toBe(line8?.value?.toString());
  });

  it('replays a file twice without duplicating a row: ids come from file, line and column', async () => {
    const before = p.ingest.stats.touchpointRows;
    await replay('survey-wide.csv', 'survey-wide.mapping.json');
    await waitFor('the second replay to be ingested', async () => p.ingest.stats.touchpointRows >= before + 14);
    const [r] = await p.store.query<{ n: string; ids: string }>(`SELECT count() AS n, uniqExact(event_id) AS ids FROM ${db}.touchpoint_events FINAL WHERE startsWith(customer_id, 'R-')`);
    expect(Number(r?.n)).toBe(14);
    expect(Number(r?.ids)).toBe(14);
  });
});
