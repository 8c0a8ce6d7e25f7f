import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chTime } from '../../processors/runtime/rawRows.ts';
import { classify, classifyDeadLetterTopic, decodeTouchpoint } from '../../processors/runtime/classify.ts';
import { takeSimulated } from '../../producers/simulator/simulate.ts';
import {
  describeIssues, OUTCOME_EVENT, outcomeEventSchema, TOUCHPOINT_EVENT, touchpointEventSchema, type OutcomeEvent, type TouchpointEvent,
} from '../../schemas/contracts.ts';
import { SchemaRegistry } from '../../schemas/registry.ts';

const registry = SchemaRegistry.load();
const families = { tp: TOUCHPOINT_EVENT, oc: OUTCOME_EVENT } as const;
const now = Date.UTC(2026, 10, 23, 12);

const touchpoint: TouchpointEvent = {
  event_id: '0b8f3c1e-2d4a-4b6c-8e0f-1a2b3c4d5e6f', occurred_at: Date.UTC(2026, 10, 23, 11, 59, 30, 250), customer_id: 'c-7', journey_id: 'j-7',
  channel: 'DELIVERY', touchpoint: 'parcel_delivery', leg: 'OPERATIONS', stage: 'CONSUMPTION', department: 'Logistics',
  moment_of_truth: true, rating: null, outcome: 'FAILED', attributes: {},
};
const outcome: OutcomeEvent = {
  event_id: '1b8f3c1e-2d4a-4b6c-8e0f-1a2b3c4d5e6f', occurred_at: Date.UTC(2026, 10, 23), customer_id: 'c-7', journey_id: null,
  kind: 'CHURNED', rating: null, attributes: {},
};
const src = (topic: string, value: Buffer | null) => ({ cluster: 'k1', topic, partition: 3, offset: '41', key: Buffer.from('c-7'), value });

describe('classify', () => {
  it('turns a valid event into its raw row, with its source', () => {
    const c = classify(registry, families, src('tp', registry.encode(TOUCHPOINT_EVENT, touchpoint)), now);
    expect(c.table).toBe('touchpoint_events');
    expect(c.row).toMatchObject({
      event_id: touchpoint.event_id, occurred_at: '2026-11-23 11:59:30.250', rating_scale: null, rating_value: null,
      outcome: 'FAILED', schema_version: 1, source_topic: 'tp', source_partition: 3, source_offset: '41', ingested_at: '2026-11-23 12:00:00.000',
    });
  });

  it('dead-letters each kind of bad message with its reason, bytes and source', () => {
    const garbage = classify(registry, families, src('tp', Buffer.from('hello')), now);
    expect(garbage).toMatchObject({ table: 'dead_letters', row: { reason_code: 'not_avro', step: 'decode', raw_base64: Buffer.from('hello').toString('base64'), source_offset: '41', message_key: 'c-7' } });

    const wrongFamily = classify(registry, families, src('tp', registry.encode(OUTCOME_EVENT, outcome)), now);
    expect(wrongFamily.row).toMatchObject({ reason_code: 'wrong_topic', reason: 'OutcomeEvent v1 on tp, which carries TouchpointEvent' });

    const outOfRange = classify(registry, families, src('tp', registry.encode(TOUCHPOINT_EVENT, { ...touchpoint, rating: { scale: 'STARS_5', value: 6 } })), now);
    expect(outOfRange.row).toMatchObject({ reason_code: 'invalid', step: 'validate', reason: 'invalid TouchpointEvent: rating.value: 6 is outside STARS_5 (whole numbers 1..5)' });

    const unknownTopic = classify(registry, families, src('elsewhere', registry.encode(TOUCHPOINT_EVENT, touchpoint)), now);
    expect(unknownTopic.row).toMatchObject({ reason_code: 'wrong_topic' });
  });

  it('routes outcomes to their own table', () => {
    expect(classify(registry, families, src('oc', registry.encode(OUTCOME_EVENT, outcome)), now).table).toBe('outcome_events');
  });

  it('stores dead letters other producers sent to the dead-letter topic, and skips its own', () => {
    const fromReplay = classifyDeadLetterTopic(src('dlq', Buffer.from('a,b,c')), { 'cx-step': 'replay', 'cx-reason': 'occurred_at is empty', 'cx-source-file': 'f.csv', 'cx-source-line': '7' }, now);
    expect(fromReplay).toMatchObject({ table: 'dead_letters', publish: false, row: { reason: 'f.csv line 7: occurred_at is empty', step: 'replay', reason_code: 'invalid', source_topic: 'dlq', source_offset: '41' } });
    expect(classifyDeadLetterTopic(src('dlq', Buffer.from('x')), { 'cx-step': 'decode', 'cx-reason': 'garbage' }, now)).toBeNull();
  });

  // The hot-path validator decides here; these hold its wiring to zod's verdicts, outputs and words.
  const invalid: Array<Partial<Record<keyof TouchpointEvent, unknown>>> = [
    { event_id: 'not-a-uuid' }, { occurred_at: 1_795_000_000 }, { customer_id: ' ' }, { journey_id: '' },
    { rating: { scale: 'CES_7', value: 7.5 } }, { rating: { scale: 'SCORE_100', value: Number.NaN } }, { department: 'd'.repeat(257) },
  ];

  it('dead-letters an invalid event with exactly zod\'s issues as the reason', () => {
    for (const change of invalid) {
      const bad = { ...touchpoint, ...change };
      const message = registry.encode(TOUCHPOINT_EVENT, bad);
      const decoded = registry.decode(message);
      const c = classify(registry, families, src('tp', message), now);
      const zod = touchpointEventSchema.safeParse(decoded.ok ? decoded.value : null);
      expect(zod.success, JSON.stringify(change)).toBe(false);
      expect(c.row, JSON.stringify(change)).toMatchObject({ reason_code: 'invalid', step: 'validate', reason: `invalid TouchpointEvent: ${zod.success ? '' : describeIssues(zod.error)}` });
    }
    const badOutcome = { ...outcome, journey_id: '' };
    const zod = outcomeEventSchema.safeParse(badOutcome);
    expect(classify(registry, families, src('oc', registry.encode(OUTCOME_EVENT, badOutcome)), now).row).toMatchObject({
      reason_code: 'invalid', reason: `invalid OutcomeEvent: ${zod.success ? '' : describeIssues(zod.error)}`,
    });
  });

  it('hands the processors and the raw rows the event zod would return, and nothing for what zod rejects', () => {
    for (const e of takeSimulated({ seed: 9, customers: 50, start: now - 86_400_000, rate: 1 }, 300)) {
      const family = e.kind === 'touchpoint' ? TOUCHPOINT_EVENT : OUTCOME_EVENT;
      const message = registry.encode(family, e.event);
      const decoded = registry.decode(message);
      const zod = (family === TOUCHPOINT_EVENT ? touchpointEventSchema : outcomeEventSchema).parse(decoded.ok ? decoded.value : null);
      const c = classify(registry, families, src(family === TOUCHPOINT_EVENT ? 'tp' : 'oc', message), now);
      expect(c.table).toBe(family === TOUCHPOINT_EVENT ? 'touchpoint_events' : 'outcome_events');
      if (c.table === 'dead_letters') continue;
      // toStrictEqual: plain objects like zod's, not avsc's record instances.
      expect(c.event).toStrictEqual(zod);
      expect(Object.keys(c.event)).toEqual(Object.keys(zod));
      if (family === TOUCHPOINT_EVENT) expect(decodeTouchpoint(registry, message)).toStrictEqual(zod);
    }
    for (const change of invalid) expect(decodeTouchpoint(registry, registry.encode(TOUCHPOINT_EVENT, { ...touchpoint, ...change }))).toBeNull();
  });
});

describe('chTime', () => {
  it('is toISOString in ClickHouse DateTime64(3) form for any millisecond, day boundaries and before 1970 included', () => {
    // Seeded, logged: a failure names the value.
    const seed = Number(process.env.CX_TEST_SEED ?? Date.now() % 100_000);
    process.stdout.write(`classify.test chTime: seed ${seed}\n`);
    const ref = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
    fc.assert(
      fc.property(fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 }), (ms) => chTime(ms) === ref(ms)),
      { seed, numRuns: 20_000 },
    );
    for (const ms of [0, -1, 86_399_999, 86_400_000, Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), 1.5]) expect(chTime(ms)).toBe(ref(ms));
  });
});
