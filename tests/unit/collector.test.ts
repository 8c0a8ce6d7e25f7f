/**
 * The collector's refusals. Nothing invalid may reach Kafka, so the producer here
 * only records what it was given (the accepting path runs against real Kafka in
 * tests/integration/collector.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { bearerMatches, buildCollector } from '../../producers/collector.ts';
import { EventTooLargeError, SendWithdrawnError, type Prepared, type PreparedEvent, type SendOptions } from '../../producers/touchpointProducer.ts';
import type { OutcomeEvent, TouchpointEvent } from '../../schemas/contracts.ts';

const NOW = Date.UTC(2026, 10, 23, 10);
const sent: (TouchpointEvent | OutcomeEvent)[] = [];
/** How the fake Kafka answers an event: taken, refused, or never (still in a request). */
let kafka: (e: TouchpointEvent) => 'ok' | 'refused' | 'silent' = () => 'ok';
const ready = (e: TouchpointEvent | OutcomeEvent): Prepared =>
  e.attributes?.note && e.attributes.note.length > 1000
    ? { ok: false, error: new EventTooLargeError(1200, 1000, 't', `TouchpointEvent ${e.event_id}`) }
    : { ok: true, event: { topic: 't', key: e.customer_id, value: Buffer.from(JSON.stringify(e)), bytes: 100 } };
const producer = {
  prepare: ready,
  prepareOutcome: ready,
  sendPrepared: (p: PreparedEvent, opts?: SendOptions) => {
    const e = JSON.parse(p.value.toString()) as TouchpointEvent;
    const answer = kafka(e);
    if (answer === 'refused') return Promise.reject(new Error('broker down'));
    if (answer === 'silent') {
      // Events of customer "queued" are still queued (withdrawable); the others are in a request.
      return new Promise<void>((_, reject) => {
        if (e.customer_id.startsWith('queued')) opts?.signal?.addEventListener('abort', () => reject(new SendWithdrawnError('deadline')));
      });
    }
    sent.push(e);
    return Promise.resolve();
  },
};
const app = buildCollector({ producer, token: 'a-long-enough-secret', maxBodyBytes: 2048, maxBatch: 3, clock: () => NOW, newId: () => '00000000-0000-4000-8000-000000000001' });
const auth = { authorization: 'Bearer a-long-enough-secret' };
const valid = { customer_id: 'c-1', journey_id: 'order-9', channel: 'WEB', touchpoint: 'checkout', leg: 'OPERATIONS', stage: 'PURCHASE', department: 'Digital', rating: { scale: 'CES_7', value: 6 } };

async function post(path: string, body: unknown, headers: Record<string, string> = auth) {
  sent.length = 0;
  const r = await app.inject({ method: 'POST', url: path, payload: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  return { status: r.statusCode, body: r.json() as Record<string, unknown> };
}

describe('collector', () => {
  it('fills event_id and occurred_at when the caller leaves them out', async () => {
    const r = await post('/v1/touchpoints', valid);
    expect(r).toEqual({ status: 200, body: { accepted: 1, event_ids: ['00000000-0000-4000-8000-000000000001'] } });
    expect(sent).toEqual([{ ...valid, event_id: '00000000-0000-4000-8000-000000000001', occurred_at: NOW, moment_of_truth: false, outcome: 'OK', attributes: {} }]);
  });

  it('takes ISO times and keeps the caller\'s ids', async () => {
    const r = await post('/v1/touchpoints', [{ ...valid, event_id: '7f1c2a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b', occurred_at: '2026-11-23T09:00:00.250Z' }]);
    expect(r.body).toEqual({ accepted: 1, event_ids: ['7f1c2a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b'] });
    expect(sent[0]?.occurred_at).toBe(Date.UTC(2026, 10, 23, 9, 0, 0, 250));
  });

  it('refuses a whole batch when one event is invalid, naming each problem by index and field', async () => {
    const r = await post('/v1/touchpoints', [valid, { ...valid, rating: { scale: 'CSAT_5', value: 6 } }, { ...valid, channel: 'FAX', extra: 1 }]);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: 'invalid_events', accepted: 0, message: '2 of 3 events are invalid; none were accepted' });
    expect(r.body.errors).toEqual([
      { index: 1, issues: [{ path: 'rating.value', message: '6 is outside CSAT_5 (whole numbers 1..5)' }] },
      { index: 2, issues: [expect.objectContaining({ path: 'channel' }), expect.objectContaining({ path: '(event)', message: expect.stringContaining('extra') })] },
    ]);
    expect(sent).toEqual([]);
  });

  it('names missing fields and bad times', async () => {
    const { customer_id: _, ...noCustomer } = valid;
    const r = await post('/v1/touchpoints', [noCustomer, { ...valid, occurred_at: 'yesterday' }, { ...valid, occurred_at: 1_795_000_000 }]);
    expect((r.body.errors as { index: number; issues: { path: string }[] }[]).map((e) => [e.index, e.issues[0]?.path])).toEqual([[0, 'customer_id'], [1, 'occurred_at'], [2, 'occurred_at']]);
  });

  it('answers 400 to malformed JSON, 413 to oversized bodies and batches, 401 without the token', async () => {
    expect((await post('/v1/touchpoints', '{"customer_id": ')).status).toBe(400);
    const big = await post('/v1/touchpoints', { ...valid, attributes: { note: 'x'.repeat(4000) } });
    expect(big).toMatchObject({ status: 413, body: { error: 'too_large' } });
    const many = await post('/v1/touchpoints', [valid, valid, valid, valid]);
    expect(many).toMatchObject({ status: 413, body: { error: 'too_many', message: 'a batch holds at most 3 events; this one has 4' } });
    const anonymous = await post('/v1/touchpoints', valid, {});
    expect(anonymous).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    const wrong = await post('/v1/touchpoints', valid, { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect(sent).toEqual([]);
  });

  it('answers 503 saying exactly which events Kafka took when it does not acknowledge them all', async () => {
    kafka = (e) => (e.customer_id === 'c-2' ? 'refused' : 'ok');
    const ids = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];
    const r = await post('/v1/touchpoints', ids.map((event_id, i) => ({ ...valid, event_id, customer_id: `c-${i + 1}` })));
    kafka = () => 'ok';
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ error: 'kafka_unavailable', accepted: 2, accepted_ids: [ids[0], ids[2]], failed_ids: [ids[1]] });
    expect(sent.map((e) => e.event_id)).toEqual([ids[0], ids[2]]);
  });

  it('takes outcomes, and keeps /healthz open', async () => {
    const r = await post('/v1/outcomes', { customer_id: 'c-1', kind: 'COMPLAINED' });
    expect(r.body).toEqual({ accepted: 1, event_ids: ['00000000-0000-4000-8000-000000000001'] });
    expect(sent[0]).toMatchObject({ kind: 'COMPLAINED', journey_id: null, rating: null });
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/healthz?probe=1' })).statusCode).toBe(200);
  });

  it('takes the bearer scheme in any case, and compares the token whole', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) expect((await post('/v1/touchpoints', valid, { authorization: `${scheme} a-long-enough-secret` })).status).toBe(200);
    expect((await post('/v1/touchpoints', valid, { authorization: 'Basic a-long-enough-secret' })).status).toBe(401);
    expect((await post('/v1/touchpoints', valid, { authorization: 'Bearer a-long-enough-secre' })).status).toBe(401);
    expect((await post('/v1/touchpoints', valid, { authorization: 'Bearer a-long-enough-secrett' })).status).toBe(401);
    expect(bearerMatches('bearer  tok', 'tok')).toBe(true);
    expect(bearerMatches('Bearer tok extra', 'tok')).toBe(false);
    expect(bearerMatches(undefined, 'tok')).toBe(false);
  });

  it('answers 415 to a body that is not JSON, naming the type it takes', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const r = await app.inject({ method: 'POST', url: '/v1/touchpoints', payload: JSON.stringify(valid), headers: { ...auth, 'content-type': type } });
      expect(r.statusCode).toBe(415);
      expect(r.json()).toMatchObject({ error: 'unsupported_media_type', message: expect.stringContaining('Content-Type: application/json') });
    }
  });

  it('refuses a lone surrogate or a blank customer_id (ids that would collapse into others)', async () => {
    for (const customer_id of ['c-\uD800', '\uDC00x', '   ', '\t']) {
      const r = await post('/v1/touchpoints', { ...valid, customer_id });
      expect(r.status).toBe(400);
      expect((r.body.errors as { issues: { path: string }[] }[])[0]?.issues[0]?.path).toBe('customer_id');
    }
    expect((await post('/v1/touchpoints', { ...valid, customer_id: 'c-\uD83D\uDE00' })).status).toBe(200);
  });

  it('answers 413 naming each event too large for Kafka, and sends none of the batch', async () => {
    const r = await post('/v1/touchpoints', [valid, { ...valid, attributes: { note: 'x'.repeat(1500) } }]);
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ error: 'event_too_large', accepted: 0, errors: [{ index: 1, message: expect.stringContaining('max.message.bytes') }] });
    expect(sent).toEqual([]);
  });
});

describe('collector at its request deadline', () => {
  const slow = buildCollector({ producer, maxBodyBytes: 4096, maxBatch: 10, requestTimeoutMs: 1000, newId: () => '00000000-0000-4000-8000-000000000002' });
  const ids = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];

  it('withdraws what is still queued (failed: not on the topic) and reports what is in a request as unknown (504)', async () => {
    kafka = (e) => (e.customer_id === 'c-ok' ? 'ok' : 'silent');
    const batch = [{ ...valid, event_id: ids[0], customer_id: 'c-ok' }, { ...valid, event_id: ids[1], customer_id: 'queued-1' }, { ...valid, event_id: ids[2], customer_id: 'in-request' }];
    const r = await slow.inject({ method: 'POST', url: '/v1/touchpoints', payload: JSON.stringify(batch), headers: { 'content-type': 'application/json' } });
    kafka = () => 'ok';
    expect(r.statusCode).toBe(504);
    expect(r.json()).toMatchObject({ error: 'kafka_timeout', accepted: 1, accepted_ids: [ids[0]], failed_ids: [ids[1]], unknown_ids: [ids[2]] });
  });

  it('answers 503 when everything not taken was withdrawn', async () => {
    kafka = () => 'silent';
    const r = await slow.inject({ method: 'POST', url: '/v1/touchpoints', payload: JSON.stringify({ ...valid, event_id: ids[0], customer_id: 'queued-2' }), headers: { 'content-type': 'application/json' } });
    kafka = () => 'ok';
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.json()).toMatchObject({ error: 'kafka_unavailable', accepted: 0, failed_ids: [ids[0]], message: expect.stringContaining('withdrawn') });
  });
});
