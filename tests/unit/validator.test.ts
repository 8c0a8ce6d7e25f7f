/**
 * The hot-path validator (schemas/validate.ts) equals the zod contracts: on valid
 * events generated from the contract's rules, and on events with one rule broken,
 * it accepts exactly what zod accepts and returns the same output, down to key order,
 * prototypes and -0; a reject answered through it carries zod's own reason.
 * fast-check prints the seed and the shrunk counterexample when a property fails.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ZodType } from 'zod';
import {
  CHANNEL_SYMBOLS, describeIssues, EVENT_TIME_MAX, EVENT_TIME_MIN, LEG_SYMBOLS, OUTCOME_EVENT, OUTCOME_KIND_SYMBOLS, OUTCOME_SYMBOLS,
  outcomeEventSchema, RATING_SCALE_SYMBOLS, STAGE_SYMBOLS, TOUCHPOINT_EVENT, touchpointEventSchema,
  type OutcomeEvent, type Rating, type TouchpointEvent,
} from '../../schemas/contracts.ts';
import { RATING_SCALES } from '../../schemas/ratingScale.ts';
import { SchemaRegistry } from '../../schemas/registry.ts';
import { acceptOutcome, acceptTouchpoint, validateOutcome, validateTouchpoint } from '../../schemas/validate.ts';

/** Everything String#trim removes (ECMAScript WhiteSpace and LineTerminator). */
const WHITESPACE = ['\t', '\n', '\v', '\f', '\r', ' ', '\u00a0', '\u1680', '\u2000', '\u2001', '\u2005', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff'];
/** Invisible or space-like, but not whitespace to trim: an id made of them is not blank. */
const LOOKALIKES = ['\u180e', '\u200b', '\u0085', '\u2060', '\u0000', '\u001f', '\u007f'];
const LONE = ['\ud800', '\udbff', '\udc00', '\udfff'];

/** One code point, as ids meet them: mostly ASCII, some of all Unicode (astral ones too), whitespace and look-alikes. */
const idChar = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom('😀', '𝔘', '\u{10ffff}', 'é', 'e\u0301') },
  { weight: 1, arbitrary: fc.constantFrom(...WHITESPACE) },
  { weight: 1, arbitrary: fc.constantFrom(...LOOKALIKES) },
);
const codePointsOf = (s: string) => [...s].length;
const isBlank = (s: string) => s.trim().length === 0;

/** A valid id: 1..256 code points, not blank, no lone surrogate; short ones mostly, some right at the limit. */
const validId = fc
  .oneof(
    { weight: 8, arbitrary: fc.array(idChar, { minLength: 1, maxLength: 24 }).map((cs) => cs.join('')) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 250, max: 256 }), fc.constantFrom('a', '😀', 'é')).map(([n, c]) => c.repeat(n)) },
    { weight: 1, arbitrary: fc.constantFrom('c-1', ' padded ', '\u00a0x', 'x\ufeff', '0', 'customer/42', '\u200b') },
  )
  .filter((s) => codePointsOf(s) <= 256 && !isBlank(s));

/** Ids with one rule broken (and a few near misses that are valid). */
const oddId = fc.oneof(
  fc.constantFrom('', ' ', '\t\n', '\u3000\ufeff\u00a0', WHITESPACE.join('')),
  fc.array(fc.constantFrom(...WHITESPACE), { minLength: 1, maxLength: 8 }).map((cs) => cs.join('')),
  fc.tuple(validId, fc.constantFrom(...LONE), fc.nat()).map(([s, lone, at]) => {
    const i = at % (s.length + 1);
    return s.slice(0, i) + lone + s.slice(i);
  }),
  fc.constantFrom('\udc00\ud800', 'a\ud83d', '\ude00b', '😀'.slice(0, 1)),
  fc.constantFrom('a'.repeat(257), '😀'.repeat(257), '😀'.repeat(256), 'a'.repeat(255) + '😀', 'a'.repeat(256) + '\ud800', '😀'.repeat(200) + 'a'.repeat(57)),
  fc.constant('x'.repeat(100_000)),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom(42, null, undefined, true, ['c-1'], { toString: () => 'c-1' }, new String('c-1'), Symbol('c-1')),
);

const HEX = '0123456789abcdefABCDEF';
const hex = (n: number) => fc.array(fc.constantFrom(...HEX), { minLength: n, maxLength: n }).map((cs) => cs.join(''));
/** z.guid(): 8-4-4-4-12 hex digits of either case, any version and variant. */
const validGuid = fc.oneof(
  fc.tuple(hex(8), hex(4), hex(4), hex(4), hex(12)).map((parts) => parts.join('-')),
  fc.uuid(),
  fc.constant('00000000-0000-0000-0000-000000000000'),
);
const oddGuid = fc.oneof(
  // One position replaced by something that is not a hex digit (or a dash where a digit belongs).
  fc.tuple(validGuid, fc.nat(35), fc.constantFrom('g', 'G', 'z', '-', ' ', '\u0660', '０', 'é', '\n', '😀')).map(([g, i, c]) => g.slice(0, i) + c + g.slice(i + 1)),
  fc.tuple(validGuid, fc.constantFrom('', '\n', ' ', '0', '}')).map(([g, tail]) => g + tail),
  validGuid.map((g) => `{${g}}`),
  validGuid.map((g) => g.replaceAll('-', '')),
  validGuid.map((g) => g.slice(1)),
  validGuid.map((g) => g.toUpperCase()),
  fc.constantFrom('abc', '', 'not-a-uuid', 42, null, undefined, new String('7f1c2a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b')),
);

/** Whole ms in [2000-01-01, 2100-01-01], the edges included. */
const validTime = fc.oneof(
  fc.bigInt({ min: BigInt(EVENT_TIME_MIN), max: BigInt(EVENT_TIME_MAX) }).map(Number),
  fc.constantFrom(EVENT_TIME_MIN, EVENT_TIME_MAX, Date.UTC(2026, 10, 23)),
);
const oddTime = fc.oneof(
  fc.constantFrom(EVENT_TIME_MIN - 1, EVENT_TIME_MAX + 1, EVENT_TIME_MIN + 0.5, EVENT_TIME_MAX - 0.001, 1_795_000_000, 0, -0, -1),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_SAFE_INTEGER + 2, Number.MAX_VALUE, Number.MIN_VALUE),
  fc.double({ noNaN: false }),
  validTime.map((t) => t + 0.25),
  validTime.map(String),
  validTime.map((t) => BigInt(t)),
  validTime.map((t) => new Number(t)),
  validTime.map((t) => new Date(t)),
  fc.constantFrom(null, undefined, '1795000000000', true),
);

/** A rating inside its scale: whole numbers on integral scales, any double in range on SCORE_100, -0 on scales that start at 0. */
const validRating: fc.Arbitrary<Rating> = fc.constantFrom(...RATING_SCALE_SYMBOLS).chain((scale) => {
  const s = RATING_SCALES[scale];
  const value = s.integral
    ? fc.oneof(fc.integer({ min: s.min, max: s.max }), fc.constant(s.min === 0 ? -0 : s.min))
    : fc.oneof(fc.double({ min: s.min, max: s.max, noNaN: true }), fc.constantFrom(-0, s.min, s.max, 72.5, 1e-300));
  return value.map((v) => ({ scale, value: v }));
});
const oddRating = fc.oneof(
  fc.constantFrom(...RATING_SCALE_SYMBOLS).chain((scale) => {
    const s = RATING_SCALES[scale];
    return fc
      .constantFrom(s.min - 1, s.max + 1, s.min - 1e-9, s.max + 1e-9, s.min + 0.5, Number.NaN, Number.POSITIVE_INFINITY, -Number.MAX_VALUE, `${s.max}`, null, undefined, new Number(s.min), BigInt(s.max))
      .map((value) => ({ scale, value }));
  }),
  fc.double({ noNaN: false }).map((value) => ({ scale: 'CSAT_5', value })),
  fc.tuple(validRating, fc.constantFrom('csat_5', 'NPS', '__proto__', 'toString', 'constructor', '', 0, null)).map(([r, scale]) => ({ ...r, scale })),
  validRating.map((r) => ({ value: r.value })),
  validRating.map((r) => ({ scale: r.scale })),
  validRating.map((r) => ({ ...r, extra: 'stripped' })),
  validRating.map((r) => [r.scale, r.value]),
  validRating.map((r) => Object.assign(Object.create(null), r)),
  validRating.map((r) => Object.assign(new (class Answer {})(), r)),
  validRating.map((r) => Object.create(r)),
  fc.constantFrom(undefined, 0, 'CSAT_5', {}, new Map()),
);

class Tags {
  constructor(readonly team: string) {}
}
/** A string map: own enumerable string keys with string values, "__proto__" and numeric-looking keys included. */
const validAttributes = fc.oneof(
  fc.constant({}),
  fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', '10', '2', '-1', 'toString')), fc.string({ unit: 'binary', maxLength: 40 }), { maxKeys: 6 }),
  fc.constant(JSON.parse('{"__proto__":"x","b":"1","1":"a"}') as Record<string, string>),
);
const oddAttributes = fc.oneof(
  fc.dictionary(fc.string(), fc.anything({ maxDepth: 1 }), { minKeys: 1, maxKeys: 3 }),
  fc.constantFrom({ a: 1 }, { a: null }, { a: undefined }, [], ['x'], new Map([['a', 'b']]), new Tags('B'), null, undefined, 'a=b', new Date(0)),
  fc.constant({ [Symbol('tag')]: 'x', a: 'b' }),
  fc.constant(Object.defineProperty({ a: 'b' }, Symbol('hidden'), { value: 'x', enumerable: false })),
  fc.constant(Object.defineProperty({ a: 'b' }, 'hidden', { value: 7, enumerable: false })),
  fc.constant(Object.assign(Object.create(null), { a: 'b' })),
  fc.constant({ a: 'b', constructor: 'not a function' }),
  fc.constant({ a: 'b', constructor: Tags }),
  fc.constant(Object.create({ inherited: 'x' })),
  fc.constant({ get lazy() { return 'computed'; } }),
  fc.constant({ huge: 'v'.repeat(100_000) }),
);

const enumWith = <T extends readonly string[]>(symbols: T) => fc.constantFrom(...symbols);
const oddEnum = (symbols: readonly string[]) =>
  fc.oneof(
    fc.constantFrom(...symbols).map((s) => s.toLowerCase()),
    fc.constantFrom(...symbols).map((s) => ` ${s}`),
    fc.constantFrom('OTHER', 'WEB', 'OK', 'RATED', 'PRODUCT', 'PURCHASE', '__proto__', 'constructor', 'toString', ''),
    fc.constantFrom(0, null, undefined, new String(symbols[0])),
  );

const touchpointFields = {
  event_id: validGuid,
  occurred_at: validTime,
  customer_id: validId,
  journey_id: validId,
  channel: enumWith(CHANNEL_SYMBOLS),
  touchpoint: validId,
  leg: enumWith(LEG_SYMBOLS),
  stage: enumWith(STAGE_SYMBOLS),
  department: validId,
  moment_of_truth: fc.boolean(),
  rating: fc.option(validRating, { nil: null }),
  outcome: enumWith(OUTCOME_SYMBOLS),
  attributes: validAttributes,
};
const validTouchpoint = fc.record(touchpointFields) as fc.Arbitrary<TouchpointEvent>;

const outcomeFields = {
  event_id: validGuid,
  occurred_at: validTime,
  customer_id: validId,
  journey_id: fc.option(validId, { nil: null }),
  kind: enumWith(OUTCOME_KIND_SYMBOLS),
  rating: fc.option(validRating, { nil: null }),
  attributes: validAttributes,
};
const validOutcome = fc.record(outcomeFields) as fc.Arbitrary<OutcomeEvent>;

/** For each field, values that break its rule (a few are near misses that still pass). */
const oddValues: Record<string, fc.Arbitrary<unknown>> = {
  event_id: oddGuid,
  occurred_at: oddTime,
  customer_id: oddId,
  journey_id: oddId,
  touchpoint: oddId,
  department: oddId,
  channel: oddEnum(CHANNEL_SYMBOLS),
  leg: oddEnum(LEG_SYMBOLS),
  stage: oddEnum(STAGE_SYMBOLS),
  outcome: oddEnum(OUTCOME_SYMBOLS),
  kind: oddEnum(OUTCOME_KIND_SYMBOLS),
  moment_of_truth: fc.constantFrom(0, 1, 'true', 'false', null, undefined, new Boolean(true), [true]),
  rating: oddRating,
  attributes: oddAttributes,
};

const anything = fc.anything({ maxDepth: 2, withBoxedValues: true, withNullPrototype: true, withMap: true, withSet: true, withBigInt: true, withDate: true, withTypedArray: true, withSparseArray: true });

/** A valid event with one thing wrong: a field given a bad value, or anything at all, or removed, or one more field. */
function broken<T extends object>(valid: fc.Arbitrary<T>, fields: string[]): fc.Arbitrary<unknown> {
  return fc.tuple(valid, fc.constantFrom(...fields)).chain(([event, field]) =>
    fc.oneof(
      { weight: 6, arbitrary: (oddValues[field] as fc.Arbitrary<unknown>).map((bad) => ({ ...event, [field]: bad })) },
      { weight: 2, arbitrary: anything.map((bad) => ({ ...event, [field]: bad })) },
      { weight: 1, arbitrary: fc.constant(Object.fromEntries(Object.entries(event).filter(([k]) => k !== field))) },
      { weight: 1, arbitrary: fc.tuple(fc.string(), anything).map(([k, v]) => ({ ...event, [k]: v })) },
      { weight: 1, arbitrary: fc.constant(Object.assign(Object.create(null), event)) },
      { weight: 1, arbitrary: fc.constant(Object.create(event)) },
    ),
  );
}

/** A value's whole layout: prototype, own keys in order with their flags, and leaves (toStrictEqual tells -0 from 0). */
function layout(x: unknown): unknown {
  if (typeof x !== 'object' || x === null) return x;
  const proto = Object.getPrototypeOf(x);
  return {
    proto: proto === Object.prototype ? 'Object.prototype' : proto === null ? 'null' : `other ${String(proto?.constructor?.name)}`,
    keys: Reflect.ownKeys(x).map((k) => {
      const d = Object.getOwnPropertyDescriptor(x, k) as PropertyDescriptor;
      return [String(k), d.enumerable, d.writable, d.configurable, 'get' in d, layout(d.value)];
    }),
  };
}

/** Every object reachable from a value, to show that an output shares none with its input. */
function objectsIn(x: unknown, into = new Set<object>()): Set<object> {
  if ((typeof x === 'object' || typeof x === 'function') && x !== null && !into.has(x)) {
    into.add(x);
    for (const k of Reflect.ownKeys(x)) {
      const d = Object.getOwnPropertyDescriptor(x, k);
      if (d && 'value' in d) objectsIn(d.value, into);
    }
  }
  return into;
}

/** What zod says of `input`, and whether the hot path says the same: accept/reject and the output's layout. */
function expectSame(schema: ZodType, accept: (v: unknown) => unknown, input: unknown, tally: { accepted: number; rejected: number }): void {
  const z = schema.safeParse(input);
  const fast = accept(input);
  expect(fast !== undefined, z.success ? 'zod accepts this; the hot path rejects it' : `zod rejects this (${describeIssues(z.error)}); the hot path accepts it`).toBe(z.success);
  if (z.success) {
    tally.accepted++;
    expect(layout(fast)).toStrictEqual(layout(z.data));
    const inInput = objectsIn(input);
    const shared = [...objectsIn(fast)].filter((o) => inInput.has(o));
    expect(shared, 'the output is a fresh object, as zod builds').toEqual([]);
  } else {
    tally.rejected++;
  }
}

const contracts = [
  { family: TOUCHPOINT_EVENT, schema: touchpointEventSchema, accept: acceptTouchpoint, validate: validateTouchpoint, valid: validTouchpoint as fc.Arbitrary<object>, fields: Object.keys(touchpointFields) },
  { family: OUTCOME_EVENT, schema: outcomeEventSchema, accept: acceptOutcome, validate: validateOutcome, valid: validOutcome as fc.Arbitrary<object>, fields: Object.keys(outcomeFields) },
];

describe.each(contracts)('the hot-path validator of $family', ({ family, schema, accept, validate, valid, fields }) => {
  it('accepts every valid event, as zod does, with the same output', () => {
    const tally = { accepted: 0, rejected: 0 };
    fc.assert(
      fc.property(valid, (event) => {
        expect(schema.safeParse(event).success, 'the generator makes only valid events').toBe(true);
        expectSame(schema, accept, event, tally);
      }),
      { numRuns: 1500 },
    );
    expect(tally.rejected).toBe(0);
  });

  it('rejects what zod rejects, and accepts what it accepts, with one rule broken', () => {
    const tally = { accepted: 0, rejected: 0 };
    fc.assert(
      fc.property(broken(valid, fields), (input) => expectSame(schema, accept, input, tally)),
      { numRuns: 4000 },
    );
    // Both sides were exercised: most breaks reject, some near misses (extra fields, padded ids...) pass.
    expect(tally.rejected).toBeGreaterThan(2000);
    expect(tally.accepted).toBeGreaterThan(100);
  });

  it('agrees with zod on values that are not events at all', () => {
    const tally = { accepted: 0, rejected: 0 };
    fc.assert(fc.property(anything, (input) => expectSame(schema, accept, input, tally)), { numRuns: 500 });
    for (const input of [null, undefined, 0, '', [], new Map(), new Date(), () => 1, Symbol('e'), Object.create(null)]) expectSame(schema, accept, input, tally);
  });

  it('answers a reject with zod\'s own result, so dead letters keep their reasons', () => {
    fc.assert(
      fc.property(broken(valid, fields), (input) => {
        const mine = validate(input);
        const zods = schema.safeParse(input);
        expect(mine.success).toBe(zods.success);
        if (!mine.success && !zods.success) expect(describeIssues(mine.error)).toBe(describeIssues(zods.error));
        else expect(layout(mine.data)).toStrictEqual(layout(zods.data));
      }),
      { numRuns: 500 },
    );
  });
});

describe('the hot-path validator on what avsc decodes', () => {
  const registry = SchemaRegistry.load();

  it('equals zod on decoded records (avsc class instances), valid or not', () => {
    const tally = { accepted: 0, rejected: 0 };
    // Values avsc can still encode but the contract forbids: they reach the validator only through the bytes.
    const encodable = fc.tuple(validTouchpoint, fc.constantFrom('event_id', 'occurred_at', 'customer_id', 'rating', 'none')).chain(([e, field]) => {
      const bad: Record<string, fc.Arbitrary<unknown>> = {
        event_id: oddGuid.filter((g) => typeof g === 'string'),
        occurred_at: fc.constantFrom(EVENT_TIME_MIN - 1, EVENT_TIME_MAX + 1, 1_795_000_000),
        customer_id: oddId.filter((s) => typeof s === 'string' && s.length < 1000),
        rating: fc.constantFrom(...RATING_SCALE_SYMBOLS).chain((scale) => fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1, 3.5, 101).map((value) => ({ scale, value }))),
        none: fc.constant(undefined),
      };
      return (bad[field] as fc.Arbitrary<unknown>).map((v) => (field === 'none' ? e : { ...e, [field]: v }));
    });
    fc.assert(
      fc.property(encodable, (event) => {
        const decoded = registry.decode(registry.encode(TOUCHPOINT_EVENT, event));
        if (!decoded.ok) throw new Error(decoded.reason);
        expectSame(touchpointEventSchema, acceptTouchpoint, decoded.value, tally);
      }),
      { numRuns: 1500 },
    );
    expect(tally.accepted).toBeGreaterThan(100);
    expect(tally.rejected).toBeGreaterThan(100);
  });
});

describe('the hot-path validator on unusual containers', () => {
  const event: TouchpointEvent = {
    event_id: '7f1c2a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b', occurred_at: Date.UTC(2026, 10, 23), customer_id: 'c-1', journey_id: 'j-1',
    channel: 'WEB', touchpoint: 'checkout', leg: 'OPERATIONS', stage: 'PURCHASE', department: 'Digital', moment_of_truth: false,
    rating: { scale: 'NPS_11', value: 10 }, outcome: 'OK', attributes: { team: 'B' },
  };

  it('reads fields through prototypes, getters and proxies the way zod does', () => {
    const tally = { accepted: 0, rejected: 0 };
    class Visit {
      constructor(fields: TouchpointEvent) {
        Object.assign(this, fields);
      }
    }
    const reads: string[] = [];
    const logged = (log: string[]) => new Proxy(event, {
      get: (t, k) => (log.push(`get ${String(k)}`), Reflect.get(t, k)),
      has: (t, k) => (log.push(`has ${String(k)}`), Reflect.has(t, k)),
    });
    const inputs: unknown[] = [
      new Visit(event),
      Object.create(event),
      Object.freeze({ ...event }),
      Object.defineProperty({ ...event }, 'customer_id', { get: () => 'c-9', enumerable: false }),
      new Proxy(event, { has: (t, k) => k !== 'leg' && Reflect.has(t, k) }),
      new Proxy(event, { get: (t, k) => (k === 'leg' ? 'SALES_MARKETING' : Reflect.get(t, k)) }),
      logged(reads),
      Object.assign(new Date(0), event),
      Object.assign([], event),
      Object.assign(() => 1, event),
      JSON.parse(JSON.stringify({ ...event, __proto__: null })),
      { ...event, rating: Object.assign(Object.create({ extra: 1 }), { scale: 'CSAT_5', value: 5 }) },
      { ...event, attributes: Object.assign(Object.create(Object.assign(Object.create(null), { isPrototypeOf: 1 })), { a: 'b' }) },
    ];
    for (const input of inputs) expectSame(touchpointEventSchema, acceptTouchpoint, input, tally);
    expect(tally).toEqual({ accepted: 10, rejected: 3 });
    // The same reads, in the same order, on an accepted value: a Proxy's traps cannot tell the two apart.
    const zodReads: string[] = [];
    touchpointEventSchema.parse(logged(zodReads));
    const fastReads: string[] = [];
    acceptTouchpoint(logged(fastReads));
    expect(fastReads).toEqual(zodReads);
  });
});
