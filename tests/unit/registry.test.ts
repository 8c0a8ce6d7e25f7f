import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OUTCOME_EVENT, TOUCHPOINT_EVENT, type TouchpointEvent } from '../../schemas/contracts.ts';
import { fingerprintBytes } from '../../schemas/fingerprint.ts';
import { SchemaRegistry, type Decoded } from '../../schemas/registry.ts';
import { takeSimulated } from '../../producers/simulator/simulate.ts';

// A test-only v2 of TouchpointEvent: the v1 fields plus an optional `locale`, and a new channel KIOSK.
const V2_DIR = fileURLToPath(new URL('../fixtures/schemas-v2/', import.meta.url));

const event: TouchpointEvent = {
  event_id: '7f1c2a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b',
  occurred_at: Date.UTC(2026, 10, 23, 9, 30),
  customer_id: 'c-42',
  journey_id: 'order-1001',
  channel: 'CALL_CENTRE',
  touchpoint: 'support_call',
  leg: 'OPERATIONS',
  stage: 'POST_PURCHASE',
  department: 'Customer Service',
  moment_of_truth: true,
  rating: { scale: 'CSAT_5', value: 2 },
  outcome: 'ESCALATED',
  attributes: { agent_team: 'B' },
};

describe('single-object encoding', () => {
  const registry = SchemaRegistry.load();

  it('frames a message as C3 01, the writer fingerprint, then the body', () => {
    const msg = registry.encode(TOUCHPOINT_EVENT, event);
    const v1 = registry.latest(TOUCHPOINT_EVENT);
    expect(msg.subarray(0, 2).toString('hex')).toBe('c301');
    expect(msg.subarray(2, 10).equals(fingerprintBytes(JSON.stringify(v1.schema)))).toBe(true);
    expect(msg.subarray(10).equals(v1.type.toBuffer(event))).toBe(true);
  });

  it('round-trips every contract', () => {
    expect(registry.decode(registry.encode(TOUCHPOINT_EVENT, event))).toEqual({ ok: true, family: TOUCHPOINT_EVENT, version: 1, value: event });
    for (const e of takeSimulated({ seed: 3, customers: 10, start: event.occurred_at, rate: 1 }, 200)) {
      const family = e.kind === 'touchpoint' ? TOUCHPOINT_EVENT : OUTCOME_EVENT;
      const back = registry.decode(registry.encode(family, e.event));
      expect(back).toEqual({ ok: true, family, version: 1, value: e.event });
    }
  });

  it('reads a v1 message through v2, filling the new field with its default', () => {
    const v1only = SchemaRegistry.load();
    const withV2 = SchemaRegistry.load([fileURLToPath(new URL('../../schemas/', import.meta.url)), V2_DIR]);
    expect(withV2.latest(TOUCHPOINT_EVENT).version).toBe(2);
    const decoded = withV2.decode(v1only.encode(TOUCHPOINT_EVENT, event));
    expect(decoded).toEqual({ ok: true, family: TOUCHPOINT_EVENT, version: 1, value: { ...event, locale: null } });
  });

  it('makes the newest version of each family able to read every older one (evolution check)', () => {
    const all = SchemaRegistry.load([fileURLToPath(new URL('../../schemas/', import.meta.url)), V2_DIR]);
    for (const v of all.versions) {
      const newest = all.latest(v.family);
      expect(() => newest.type.createResolver(v.type), `${v.file} -> ${newest.file}`).not.toThrow();
    }
  });

  it('turns bad bytes into a reason, never an exception, with one code per cause', () => {
    expect(registry.decode(Buffer.from('{"event_id":"x"}'))).toMatchObject({ ok: false, code: 'not_avro', reason: expect.stringContaining('expected marker c301') });
    expect(registry.decode(null)).toMatchObject({ ok: false, code: 'null', reason: expect.stringContaining('tombstone') });
    expect(registry.decode(Buffer.alloc(0))).toMatchObject({ ok: false, code: 'empty', reason: expect.stringContaining('0 bytes') });
    // The marker alone, or with part of the fingerprint: a cut-off header, not foreign bytes.
    expect(registry.decode(Buffer.from([0xc3]))).toMatchObject({ ok: false, code: 'truncated', reason: expect.stringContaining('got 1') });
    expect(registry.decode(Buffer.from([0xc3, 0x01, 0xaa, 0xbb]))).toMatchObject({ ok: false, code: 'truncated', reason: expect.stringContaining('needs 10 bytes') });
    expect(registry.decode(Buffer.from([0xc3, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).toMatchObject({ ok: false, code: 'not_avro' });

    const foreign = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.from('0123456789abcdef', 'hex'), Buffer.from([0x02])]);
    expect(registry.decode(foreign)).toEqual({
      ok: false,
      code: 'unknown_schema',
      reason: 'unknown schema fingerprint 0123456789abcdef: no version in schemas/ has it (add the writer\'s .avsc there)',
    });

    const good = registry.encode(TOUCHPOINT_EVENT, event);
    const truncated = good.subarray(0, good.length - 5);
    expect(registry.decode(truncated)).toMatchObject({ ok: false, code: 'truncated', reason: expect.stringContaining('TouchpointEvent v1: the body ends before the record does') });
    const trailing = Buffer.concat([good, Buffer.from([0x00])]);
    expect(registry.decode(trailing)).toMatchObject({ ok: false, code: 'trailing_bytes', reason: expect.stringContaining('bytes follow the end of the record') });
    // A whole-length body whose bytes are not the schema's: the channel enum's index (zig-zag 0x7e = 63) is past its symbols.
    const body = Buffer.from(good);
    const channelAt = channelOffset(good);
    body[channelAt] = 0x7e;
    expect(registry.decode(body)).toMatchObject({ ok: false, code: 'malformed_body', reason: expect.stringContaining('TouchpointEvent v1') });
  });

  it('refuses to encode a value the schema rejects', () => {
    expect(() => registry.encode(TOUCHPOINT_EVENT, { ...event, channel: 'PIGEON' })).toThrow();
  });
});

/**
 * The oracle for decode's body step: the body cut out as its own Buffer and read with
 * Type#fromBuffer, whose framing errors are told apart by their words, and the writer
 * found by the fingerprint's hex. decode reads in place instead; the two must agree.
 */
function decodeByFromBuffer(registry: SchemaRegistry, message: Buffer): Decoded {
  const fp = message.subarray(2, 10);
  const writer = registry.versions.find((v) => v.fingerprint.equals(fp));
  if (!writer) return { ok: false, code: 'unknown_schema', reason: `unknown schema fingerprint ${fp.toString('hex')}: no version in schemas/ has it (add the writer's .avsc there)` };
  const reader = registry.latest(writer.family);
  try {
    const resolver = reader === writer ? undefined : reader.type.createResolver(writer.type);
    const value = reader.type.fromBuffer(message.subarray(10), resolver) as Record<string, unknown>;
    return { ok: true, family: writer.family, version: writer.version, value };
  } catch (err) {
    const text = (err as Error).message;
    const code = /truncated buffer/.test(text) ? 'truncated' : /trailing data/.test(text) ? 'trailing_bytes' : 'malformed_body';
    const what = code === 'truncated' ? 'the body ends before the record does' : code === 'trailing_bytes' ? 'bytes follow the end of the record' : text;
    return { ok: false, code, reason: `body does not decode as ${writer.family} v${writer.version}: ${what} (${message.length - 10} body bytes)` };
  }
}

describe('decoding a body in place', () => {
  const v1 = SchemaRegistry.load();
  const withV2 = SchemaRegistry.load([fileURLToPath(new URL('../../schemas/', import.meta.url)), V2_DIR]);
  const stringMap = avro.Type.forSchema({ type: 'map', values: 'string' });
  /** Messages, each with where its attributes map begins (the tail its damage may touch, see below). */
  const pool = takeSimulated({ seed: 5, customers: 20, start: event.occurred_at, rate: 1 }, 60).map((e) => {
    const m = v1.encode(e.kind === 'touchpoint' ? TOUCHPOINT_EVENT : OUTCOME_EVENT, e.event);
    return { m, tail: m.length - stringMap.toBuffer(e.event.attributes).length };
  });
  const v2Message = withV2.encode(TOUCHPOINT_EVENT, { ...event, channel: 'KIOSK', locale: 'nl-BE' });
  const badChannel = Buffer.from(v1.encode(TOUCHPOINT_EVENT, event));
  badChannel[channelOffset(badChannel)] = 0x7e;
  pool.push({ m: v2Message, tail: v2Message.length }, { m: badChannel, tail: badChannel.length });

  /**
   * A message cut short, lengthened, with a fingerprint byte flipped, a body of random
   * bytes, or bytes overwritten or inserted in its attributes map. New bytes are 7-bit
   * and touch only the map (whose original bytes are ASCII) because avsc loops once per
   * entry a map's block count claims, bytes or not: a count of 10^7 takes a second, so
   * a random multi-byte count could stall the run (avsc's limit, noted at SchemaRegistry#decode).
   */
  const sevenBit = fc.uint8Array({ minLength: 1, maxLength: 12, max: 0x7f }).map((b) => Buffer.from(b));
  const damaged = fc.tuple(fc.constantFrom(...pool), fc.nat(), sevenBit, fc.uint8Array({ minLength: 1, maxLength: 12 })).chain(([{ m, tail }, at, bytes, anyBytes]) => {
    const inTail = tail + (at % Math.max(1, m.length - tail));
    const overwritten = Buffer.from(m);
    bytes.forEach((x, i) => { if (inTail + i < m.length) overwritten[inTail + i] = x; });
    const flipped = Buffer.from(m);
    flipped[2 + (at % 8)] = (flipped[2 + (at % 8)] as number) ^ ((bytes[0] as number) | 1);
    return fc.constantFrom(
      m,
      m.subarray(0, 10 + (at % (m.length - 9))),
      Buffer.concat([m, anyBytes]),
      flipped,
      Buffer.concat([m.subarray(0, 10), bytes]),
      overwritten,
      Buffer.concat([m.subarray(0, inTail), bytes, m.subarray(inTail)]),
    );
  });

  it('agrees with Type#fromBuffer of the cut-out body on every damaged message, through a resolver too', () => {
    const codes = new Set<string>();
    fc.assert(
      fc.property(damaged, (m) => {
        for (const registry of [v1, withV2]) {
          const mine = registry.decode(m);
          codes.add(mine.ok ? 'ok' : mine.code);
          expect(mine).toEqual(decodeByFromBuffer(registry, m));
        }
      }),
      { numRuns: 2000 },
    );
    // Every outcome of the body step was met, so none of them went untested.
    expect([...codes].sort()).toEqual(['malformed_body', 'ok', 'trailing_bytes', 'truncated', 'unknown_schema']);
  });
});

/** Where the channel enum sits in an encoded `event`: after the header and the four fields before it, as Avro writes them. */
function channelOffset(message: Buffer): number {
  const before = avro.Type.forSchema({
    type: 'record',
    name: 'Before',
    fields: [{ name: 'event_id', type: 'string' }, { name: 'occurred_at', type: 'long' }, { name: 'customer_id', type: 'string' }, { name: 'journey_id', type: 'string' }],
  });
  const at = 10 + before.toBuffer({ event_id: event.event_id, occurred_at: event.occurred_at, customer_id: event.customer_id, journey_id: event.journey_id }).length;
  // CALL_CENTRE is symbol 3: zig-zag 6.
  if (message[at] !== 0x06) throw new Error(`expected the channel's index byte 06 at ${at}, found ${message[at]?.toString(16)}`);
  return at;
}
