/**
 * Semantic rules on top of the Avro contracts: what a schema-valid event must also
 * satisfy to be processed (a UUID event_id, a rating inside its scale...). The same
 * zod schemas guard the producer SDK and, later, the HTTP collector and file replay.
 * They are the contract: the processors' hot path checks with schemas/validate.ts,
 * a hand-written equal that a property test holds to these.
 */
import { z } from 'zod';
import { RATING_SCALES } from './ratingScale.ts';
import {
  CHANNEL_SYMBOLS, LEG_SYMBOLS, OUTCOME_KIND_SYMBOLS, OUTCOME_SYMBOLS, RATING_SCALE_SYMBOLS, STAGE_SYMBOLS,
  type OutcomeEvent, type TouchpointEvent,
} from './types.generated.ts';

export * from './types.generated.ts';

export const TOUCHPOINT_EVENT = 'TouchpointEvent';
export const OUTCOME_EVENT = 'OutcomeEvent';

const rating = z
  .object({ scale: z.enum(RATING_SCALE_SYMBOLS), value: z.number().finite() })
  .superRefine((r, ctx) => {
    const s = RATING_SCALES[r.scale];
    if (r.value < s.min || r.value > s.max || (s.integral && !Number.isInteger(r.value))) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `${r.value} is outside ${r.scale} (${s.integral ? 'whole numbers ' : ''}${s.min}..${s.max})`,
      });
    }
  });

/** 2000-01-01 .. 2100-01-01 (ms): catches seconds-for-milliseconds and other unit mistakes. */
export const EVENT_TIME_MIN = 946_684_800_000;
export const EVENT_TIME_MAX = 4_102_444_800_000;
/** Longest identifier, in Unicode code points (zod counts a surrogate pair as one). */
export const ID_MAX_LENGTH = 256;

const eventTime = z.number().int().min(EVENT_TIME_MIN).max(EVENT_TIME_MAX);
/**
 * An identifier: 1..256 characters, not blank, and well-formed Unicode. A lone surrogate
 * becomes U+FFFD in UTF-8 (Avro, ClickHouse), and blank ids differ only in whitespace, so
 * either would let different ids collapse into one customer.
 */
const id = z
  .string()
  .min(1)
  .max(ID_MAX_LENGTH)
  .refine((s) => s.trim().length > 0, 'must not be blank (only whitespace)')
  .refine((s) => !/\p{Cs}/u.test(s), 'must be well-formed Unicode (it has a lone surrogate, which would be stored as U+FFFD)');

export const touchpointEventSchema = z.object({
  event_id: z.guid(),
  occurred_at: eventTime,
  customer_id: id,
  journey_id: id,
  channel: z.enum(CHANNEL_SYMBOLS),
  touchpoint: id,
  leg: z.enum(LEG_SYMBOLS),
  stage: z.enum(STAGE_SYMBOLS),
  department: id,
  moment_of_truth: z.boolean(),
  rating: rating.nullable(),
  outcome: z.enum(OUTCOME_SYMBOLS),
  attributes: z.record(z.string(), z.string()),
});

export const outcomeEventSchema = z.object({
  event_id: z.guid(),
  occurred_at: eventTime,
  customer_id: id,
  journey_id: id.nullable(),
  kind: z.enum(OUTCOME_KIND_SYMBOLS),
  rating: rating.nullable(),
  attributes: z.record(z.string(), z.string()),
});

// Compile-time proof that the zod rules describe exactly the generated Avro types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const touchpointMatches: Same<z.infer<typeof touchpointEventSchema>, TouchpointEvent> = true;
const outcomeMatches: Same<z.infer<typeof outcomeEventSchema>, OutcomeEvent> = true;
void touchpointMatches;
void outcomeMatches;

/** `rating.value: 9 is outside CSAT_5 (1..5); event_id: Invalid GUID` */
export function describeIssues(error: z.ZodError): string {
  // String() and not join's own conversion: a path can hold a symbol (a symbol key in attributes), which join throws on.
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(event)'}: ${i.message}`).join('; ');
}
