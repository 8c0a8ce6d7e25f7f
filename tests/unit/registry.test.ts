import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { OUTCOME_EVENT, TOUCHPOINT_EVENT, type TouchpointEvent } from '../../schemas/contracts.ts';
import { fingerprintBytes } from '../../schemas/fingerprint.ts';
import { SchemaRegistry } from '../../schemas/registry.ts';
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
