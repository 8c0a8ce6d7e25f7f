/**
 * Decode + validate one Kafka message into a typed result: a raw row for its table,
 * or a dead letter with the reason. Pure: no I/O, no clock (the caller passes `now`).
 * Bad data is a value here, never an exception.
 */
import type { ZodType } from 'zod';
import {
  describeIssues, OUTCOME_EVENT, outcomeEventSchema, TOUCHPOINT_EVENT, touchpointEventSchema,
  type OutcomeEvent, type TouchpointEvent,
} from '../../schemas/contracts.ts';
import type { SchemaRegistry } from '../../schemas/registry.ts';
import { deadLetterRow, outcomeRow, touchpointRow, type DeadLetter, type Source } from './rawRows.ts';

export type RawTable = 'touchpoint_events' | 'outcome_events' | 'dead_letters';

export type Classified =
  | { table: 'touchpoint_events'; event: TouchpointEvent; row: ReturnType<typeof touchpointRow> }
  | { table: 'outcome_events'; event: OutcomeEvent; row: ReturnType<typeof outcomeRow> }
  | { table: 'dead_letters'; deadLetter: DeadLetter; row: ReturnType<typeof deadLetterRow> };

/** Which record family each input topic carries. */
export type TopicFamilies = Record<string, typeof TOUCHPOINT_EVENT | typeof OUTCOME_EVENT>;

const VALIDATORS: Record<string, ZodType> = {
  [TOUCHPOINT_EVENT]: touchpointEventSchema,
  [OUTCOME_EVENT]: outcomeEventSchema,
};

export function classify(registry: SchemaRegistry, families: TopicFamilies, src: Source, now: number): Classified {
  const dead = (code: DeadLetter['code'], step: string, reason: string): Classified => {
    const deadLetter: DeadLetter = { code, step, reason, source: src };
    return { table: 'dead_letters', deadLetter, row: deadLetterRow(deadLetter, now) };
  };
  const expected = families[src.topic];
  if (!expected) return dead('wrong_topic', 'route', `topic ${src.topic} is not an input topic of this pipeline`);

  const decoded = registry.decode(src.value);
  if (!decoded.ok) return dead(decoded.code, 'decode', decoded.reason);
  if (decoded.family !== expected) {
    return dead('wrong_topic', 'route', `${decoded.family} v${decoded.version} on ${src.topic}, which carries ${expected}`);
  }
  const checked = (VALIDATORS[expected] as ZodType).safeParse(decoded.value);
  if (!checked.success) return dead('invalid', 'validate', `invalid ${expected}: ${describeIssues(checked.error)}`);

  if (expected === TOUCHPOINT_EVENT) {
    const event = checked.data as TouchpointEvent;
    return { table: 'touchpoint_events', event, row: touchpointRow(event, decoded.version, src, now) };
  }
  const event = checked.data as OutcomeEvent;
  return { table: 'outcome_events', event, row: outcomeRow(event, decoded.version, src, now) };
}
