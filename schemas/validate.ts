/**
 * The processors' hot-path validator: for any value, accepts exactly what the zod
 * schemas in contracts.ts accept and returns the same output (a fresh plain object,
 * keys in the schema's order, unknown keys stripped), at a fraction of zod's cost.
 *
 * zod stays the contract. A value this file rejects is handed to zod, so a dead
 * letter's reason keeps zod's words (rejects are rare, so that costs nothing), and
 * tests/unit/validator.test.ts holds the two equal on generated valid and invalid
 * events. Change a rule in contracts.ts and that test fails until this file follows.
 *
 * On an accepted value the reads mirror zod 4's compiled object parser: each field is
 * read once, in schema order, then checked with `in` (which only a Proxy can answer
 * differently), so even getters and traps see the same sequence.
 */
import type { ZodSafeParseResult } from 'zod';
import {
  CHANNEL_SYMBOLS, EVENT_TIME_MAX, EVENT_TIME_MIN, ID_MAX_LENGTH, LEG_SYMBOLS, OUTCOME_KIND_SYMBOLS, OUTCOME_SYMBOLS,
  outcomeEventSchema, RATING_SCALE_SYMBOLS, STAGE_SYMBOLS, touchpointEventSchema,
  type OutcomeEvent, type Rating, type RatingScale, type TouchpointEvent,
} from './contracts.ts';
import { RATING_SCALES } from './ratingScale.ts';

type Fields = Record<PropertyKey, unknown>;

const CHANNELS: ReadonlySet<unknown> = new Set(CHANNEL_SYMBOLS);
const LEGS: ReadonlySet<unknown> = new Set(LEG_SYMBOLS);
const STAGES: ReadonlySet<unknown> = new Set(STAGE_SYMBOLS);
const OUTCOMES: ReadonlySet<unknown> = new Set(OUTCOME_SYMBOLS);
const OUTCOME_KINDS: ReadonlySet<unknown> = new Set(OUTCOME_KIND_SYMBOLS);
const SCALES: ReadonlySet<unknown> = new Set(RATING_SCALE_SYMBOLS);

/** zod's isObject: anything object-typed but null and arrays (class instances, avsc records, Maps...). */
const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);

/** zod's isPlainObject, which z.record() asks of its input: the same reads, in the same order. */
function isPlainObject(v: unknown): v is Fields {
  if (!isObject(v)) return false;
  const ctor = v.constructor;
  if (ctor === undefined || typeof ctor !== 'function') return true;
  const prot: unknown = ctor.prototype;
  return isObject(prot) && Object.prototype.hasOwnProperty.call(prot, 'isPrototypeOf');
}

/** 1 for each ASCII hex digit, indexed by char code. */
const HEX = new Uint8Array(128);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

/** z.guid(): 8-4-4-4-12 hex digits of either case, no version or variant rule. */
function isGuid(v: unknown): v is string {
  if (typeof v !== 'string' || v.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = v.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 0x2d) return false;
    } else if (c >= 128 || HEX[c] === 0) return false;
  }
  return true;
}

/** z.number().int().min().max() of contracts.ts: a whole number of ms in the plausible range (NaN and ±Infinity fail isInteger). */
const isEventTime = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= EVENT_TIME_MIN && v <= EVENT_TIME_MAX;

/** Code points as zod counts them: a high surrogate followed by a low one is one, any other unit is one. */
function codePoints(s: string): number {
  let count = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    if ((s.charCodeAt(i) & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}

/** ES2024's String#isWellFormed (Node 20 has it; TypeScript's ES2022 lib does not declare it). */
const wellFormed = (s: string) => (s as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * The `id` rules of contracts.ts: 1..ID_MAX_LENGTH code points, not blank, no lone
 * surrogate. `isWellFormed` is false exactly where `/\p{Cs}/u` finds a lone surrogate.
 */
function isId(v: unknown): v is string {
  if (typeof v !== 'string' || v.length === 0) return false;
  if (v.length > ID_MAX_LENGTH && codePoints(v) > ID_MAX_LENGTH) return false;
  // Printable ASCII first is never trimmed away, so most ids skip trim()'s copy.
  const first = v.charCodeAt(0);
  if (!(first > 0x20 && first < 0x7f) && v.trim().length === 0) return false;
  return wellFormed(v);
}

const REJECT = Symbol('reject');
type Parsed<T> = T | typeof REJECT;

/** `rating.nullable()`: null, or { scale, value } with the value inside its scale (the superRefine). */
function rating(v: unknown): Parsed<Rating | null> {
  if (v === null) return null;
  if (!isObject(v)) return REJECT;
  const scale = v.scale;
  if (!SCALES.has(scale) || !('scale' in v)) return REJECT;
  const value = v.value;
  if (typeof value !== 'number' || !Number.isFinite(value) || !('value' in v)) return REJECT;
  const s = RATING_SCALES[scale as RatingScale];
  if (value < s.min || value > s.max || (s.integral && !Number.isInteger(value))) return REJECT;
  return { scale: scale as RatingScale, value };
}

/**
 * `z.record(z.string(), z.string())`: a plain object whose own enumerable string keys
 * all hold strings, copied; an own `__proto__` key is dropped and an enumerable symbol
 * key rejects, as zod does.
 */
function attributes(v: unknown): Parsed<Record<string, string>> {
  if (!isPlainObject(v)) return REJECT;
  const out: Record<string, string> = {};
  for (const key of Reflect.ownKeys(v)) {
    if (key === '__proto__' || !Object.prototype.propertyIsEnumerable.call(v, key)) continue;
    if (typeof key !== 'string') return REJECT;
    const value = v[key];
    if (typeof value !== 'string') return REJECT;
    out[key] = value;
  }
  return out;
}

/** The TouchpointEvent that `touchpointEventSchema.parse(value)` would return, or undefined where it would fail. */
export function acceptTouchpoint(v: unknown): TouchpointEvent | undefined {
  if (!isObject(v)) return undefined;
  const event_id = v.event_id;
  if (!isGuid(event_id) || !('event_id' in v)) return undefined;
  const occurred_at = v.occurred_at;
  if (!isEventTime(occurred_at) || !('occurred_at' in v)) return undefined;
  const customer_id = v.customer_id;
  if (!isId(customer_id) || !('customer_id' in v)) return undefined;
  const journey_id = v.journey_id;
  if (!isId(journey_id) || !('journey_id' in v)) return undefined;
  const channel = v.channel;
  if (!CHANNELS.has(channel) || !('channel' in v)) return undefined;
  const touchpoint = v.touchpoint;
  if (!isId(touchpoint) || !('touchpoint' in v)) return undefined;
  const leg = v.leg;
  if (!LEGS.has(leg) || !('leg' in v)) return undefined;
  const stage = v.stage;
  if (!STAGES.has(stage) || !('stage' in v)) return undefined;
  const department = v.department;
  if (!isId(department) || !('department' in v)) return undefined;
  const moment_of_truth = v.moment_of_truth;
  if (typeof moment_of_truth !== 'boolean' || !('moment_of_truth' in v)) return undefined;
  const rated = rating(v.rating);
  if (rated === REJECT || !('rating' in v)) return undefined;
  const outcome = v.outcome;
  if (!OUTCOMES.has(outcome) || !('outcome' in v)) return undefined;
  const attrs = attributes(v.attributes);
  if (attrs === REJECT || !('attributes' in v)) return undefined;
  return {
    event_id, occurred_at, customer_id, journey_id,
    channel: channel as TouchpointEvent['channel'], touchpoint,
    leg: leg as TouchpointEvent['leg'], stage: stage as TouchpointEvent['stage'],
    department, moment_of_truth, rating: rated,
    outcome: outcome as TouchpointEvent['outcome'], attributes: attrs,
  };
}

/** The OutcomeEvent that `outcomeEventSchema.parse(value)` would return, or undefined where it would fail. */
export function acceptOutcome(v: unknown): OutcomeEvent | undefined {
  if (!isObject(v)) return undefined;
  const event_id = v.event_id;
  if (!isGuid(event_id) || !('event_id' in v)) return undefined;
  const occurred_at = v.occurred_at;
  if (!isEventTime(occurred_at) || !('occurred_at' in v)) return undefined;
  const customer_id = v.customer_id;
  if (!isId(customer_id) || !('customer_id' in v)) return undefined;
  const journey_id = v.journey_id;
  if ((journey_id !== null && !isId(journey_id)) || !('journey_id' in v)) return undefined;
  const kind = v.kind;
  if (!OUTCOME_KINDS.has(kind) || !('kind' in v)) return undefined;
  const rated = rating(v.rating);
  if (rated === REJECT || !('rating' in v)) return undefined;
  const attrs = attributes(v.attributes);
  if (attrs === REJECT || !('attributes' in v)) return undefined;
  return { event_id, occurred_at, customer_id, journey_id, kind: kind as OutcomeEvent['kind'], rating: rated, attributes: attrs };
}

/** `touchpointEventSchema.safeParse(value)`, answered here when the value is valid and by zod (with its issues) when not. */
export function validateTouchpoint(value: unknown): ZodSafeParseResult<TouchpointEvent> {
  const data = acceptTouchpoint(value);
  return data ? { success: true, data } : touchpointEventSchema.safeParse(value);
}

/** `outcomeEventSchema.safeParse(value)`, answered here when the value is valid and by zod (with its issues) when not. */
export function validateOutcome(value: unknown): ZodSafeParseResult<OutcomeEvent> {
  const data = acceptOutcome(value);
  return data ? { success: true, data } : outcomeEventSchema.safeParse(value);
}
