import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_TYPES } from '../../cli/commands/schemas.ts';
import { CONTRACT_FAMILIES, renderTypes } from '../../schemas/codegen.ts';
import { describeIssues, touchpointEventSchema, type TouchpointEvent } from '../../schemas/contracts.ts';
import { SchemaRegistry } from '../../schemas/registry.ts';

const valid: TouchpointEvent = {
  event_id: '7f1c2a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b',
  occurred_at: Date.UTC(2026, 10, 23),
  customer_id: 'c-1',
  journey_id: 'j-1',
  channel: 'WEB',
  touchpoint: 'checkout',
  leg: 'OPERATIONS',
  stage: 'PURCHASE',
  department: 'Digital',
  moment_of_truth: false,
  rating: { scale: 'NPS_11', value: 10 },
  outcome: 'OK',
  attributes: {},
};

function problems(e: unknown): string {
  const r = touchpointEventSchema.safeParse(e);
  return r.success ? '' : describeIssues(r.error);
}

describe('contracts', () => {
  it('keeps schemas/types.generated.ts in step with the .avsc files', () => {
    expect(readFileSync(GENERATED_TYPES, 'utf8')).toBe(renderTypes(SchemaRegistry.load(), CONTRACT_FAMILIES));
  });

  it('accepts a valid event', () => {
    expect(problems(valid)).toBe('');
  });

  it.each([
    [{ scale: 'CSAT_5', value: 9 }, 'rating.value: 9 is outside CSAT_5 (whole numbers 1..5)'],
    [{ scale: 'NPS_11', value: -1 }, 'rating.value: -1 is outside NPS_11 (whole numbers 0..10)'],
    [{ scale: 'CES_7', value: 3.5 }, 'rating.value: 3.5 is outside CES_7 (whole numbers 1..7)'],
    [{ scale: 'BINARY', value: 2 }, 'rating.value: 2 is outside BINARY (whole numbers 0..1)'],
    [{ scale: 'SCORE_100', value: 100.5 }, 'rating.value: 100.5 is outside SCORE_100 (0..100)'],
  ])('names an out-of-range rating %j', (rating, message) => {
    expect(problems({ ...valid, rating })).toBe(message);
  });

  it('accepts the edges of every scale', () => {
    for (const rating of [{ scale: 'CSAT_5', value: 1 }, { scale: 'STARS_5', value: 5 }, { scale: 'NPS_11', value: 0 }, { scale: 'BINARY', value: 1 }, { scale: 'SCORE_100', value: 72.5 }]) {
      expect(problems({ ...valid, rating })).toBe('');
    }
  });

  it('names an issue under a symbol key instead of throwing', () => {
    expect(problems({ ...valid, attributes: { [Symbol('tag')]: 'x' } })).toMatch(/^attributes\.Symbol\(tag\): /);
  });

  it('rejects a non-UUID id, an empty customer and a time in seconds', () => {
    expect(problems({ ...valid, event_id: 'abc' })).toMatch(/^event_id: /);
    expect(problems({ ...valid, customer_id: '' })).toMatch(/^customer_id: /);
    expect(problems({ ...valid, occurred_at: 1_795_000_000 })).toMatch(/^occurred_at: /);
  });
});
