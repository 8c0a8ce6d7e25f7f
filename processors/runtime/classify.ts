/**
 * Decode + validate one Kafka message into a typed result: a raw row for its table,
 * or a dead letter with the reason. Pure: no I/O, no clock (the caller passes `now`).
 * Bad data is a value here, never an exception.
 */
import type { ZodSafeParseResult } from 'zod';
import { describeIssues, OUTCOME_EVENT, TOUCHPOINT_EVENT, type OutcomeEvent, type TouchpointEvent } from '../../schemas/contracts.ts';
import type { SchemaRegistry } from '../../schemas/registry.ts';
import { acceptTouchpoint, validateOutcome, validateTouchpoint } from '../../schemas/validate.ts';
import { deadLetterRow, outcomeRow, touchpointRow, type DeadLetter, type Source } from './rawRows.ts';

export type RawTable = 'touchpoint_events' | 'outcome_events' | 'dead_letters';

export type Classified =
  | { table: 'touchpoint_events'; event: TouchpointEvent; row: ReturnType<typeof touchpointRow> }
  | { table: 'outcome_events'; event: OutcomeEvent; row: ReturnType<typeof outcomeRow> }
  | { table: 'dead_letters'; deadLetter: DeadLetter; row: ReturnType<typeof deadLetterRow>; /** Also send it to the dead-letter topic. */ publish: boolean };

/** Which record family each input topic carries. */
export type TopicFamilies = Record<string, typeof TOUCHPOINT_EVENT | typeof OUTCOME_EVENT>;

/** A contract's hot-path validator: zod's verdict and output, with zod's issues on a reject (schemas/validate.ts). */
type Validator = (value: unknown) => ZodSafeParseResult<TouchpointEvent | OutcomeEvent>;

const VALIDATORS: Record<string, Validator> = {
  [TOUCHPOINT_EVENT]: validateTouchpoint,
  [OUTCOME_EVENT]: validateOutcome,
};

export function classify(registry: SchemaRegistry, families: TopicFamilies, src: Source, now: number): Classified {
  const dead = (code: DeadLetter['code'], step: string, reason: string): Classified => {
    const deadLetter: DeadLetter = { code, step, reason, source: src };
    return { table: 'dead_letters', deadLetter, row: deadLetterRow(deadLetter, now), publish: true };
  };
  const expected = families[src.topic];
  if (!expected) return dead('wrong_topic', 'route', `topic ${src.topic} is not an input topic of this pipeline`);

  const decoded = registry.decode(src.value);
  if (!decoded.ok) return dead(decoded.code, 'decode', decoded.reason);
  if (decoded.family !== expected) {
    return dead('wrong_topic', 'route', `${decoded.family} v${decoded.version} on ${src.topic}, which carries ${expected}`);
  }
  const checked = (VALIDATORS[expected] as Validator)(decoded.value);
  if (!checked.success) return dead('invalid', 'validate', `invalid ${expected}: ${describeIssues(checked.error)}`);

  if (expected === TOUCHPOINT_EVENT) {
    const event = checked.data as TouchpointEvent;
    return { table: 'touchpoint_events', event, row: touchpointRow(event, decoded.version, src, now) };
  }
  const event = checked.data as OutcomeEvent;
  return { table: 'outcome_events', event, row: outcomeRow(event, decoded.version, src, now) };
}

/** The steps at which the processor itself dead-letters a message (it stores those rows directly). */
export const PROCESSOR_STEPS = new Set(['route', 'decode', 'validate']);

/**
 * A message read back from the dead-letter topic. Those the processor published are
 * already in `dead_letters` (null: nothing to do). Those from elsewhere, such as rows
 * file replay rejected, are stored now, so every dead letter is in the table.
 */
export function classifyDeadLetterTopic(src: Source, headers: Record<string, string>, now: number): Classified | null {
  const step = headers['cx-step'] ?? 'unknown';
  if (PROCESSOR_STEPS.has(step)) return null;
  const file = headers['cx-source-file'];
  const where = file ? `${file} line ${headers['cx-source-line'] ?? '?'}${headers['cx-source-column'] ? `, column ${headers['cx-source-column']}` : ''}: ` : '';
  const deadLetter: DeadLetter = {
    code: (headers['cx-reason-code'] as DeadLetter['code'] | undefined) ?? 'invalid',
    step,
    reason: `${where}${headers['cx-reason'] ?? 'no reason given'}`,
    source: src,
  };
  return { table: 'dead_letters', deadLetter, row: deadLetterRow(deadLetter, now), publish: false };
}

/**
 * The metric processors' view of a touchpoint message: the validated event, or null
 * for anything else (the raw ingestion worker dead-letters those; here they are skipped).
 */
export function decodeTouchpoint(registry: SchemaRegistry, value: Buffer | null): TouchpointEvent | null {
  const decoded = registry.decode(value);
  if (!decoded.ok || decoded.family !== TOUCHPOINT_EVENT) return null;
  // No reason is wanted here, so a reject needs no zod: the validator's verdict is zod's.
  return acceptTouchpoint(decoded.value) ?? null;
}
