/**
 * The SDK's delivery rules, on a scripted `produce` (the real broker runs in
 * tests/integration/collectorBurst.test.ts and producerOutage.test.ts): after a failed
 * request, each of its partition batches is resent alone and unchanged; a refused batch
 * is resent record by record; what may be on the topic is retried, never rejected.
 */
import type { TopicMessages } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { Delivery, type OutgoingRecord } from '../../producers/sdk/delivery.ts';
import { BufferFullError, KafkaRefusedError, SendWithdrawnError } from '../../producers/sdk/errors.ts';
import { classifyProduceError } from '../../producers/sdk/produceErrors.ts';
import { SendBuffer } from '../../producers/sdk/sendBuffer.ts';

type Call = { partition: number; values: string[] }[];
const shape = (tm: TopicMessages[]): Call =>
  tm.flatMap((t) => {
    const by = new Map<number, string[]>();
    for (const m of t.messages) by.set(m.partition as number, [...(by.get(m.partition as number) ?? []), String(m.value)]);
    return [...by].map(([partition, values]) => ({ partition, values }));
  });
const protocolError = (type: string) => Object.assign(new Error(type), { type, retriable: false });

function harness(answer: (call: Call, n: number) => unknown) {
  const calls: Call[] = [];
  const delivery = new Delivery({
    batchSize: 100, lingerMs: 1, initialRetryMs: 5, maxRetryMs: 20,
    maxBatchBytes: () => 1000,
    leaderOf: () => 1,
    produce: async (tm) => {
      const call = shape(tm);
      calls.push(call);
      const e = answer(call, calls.length);
      if (e) throw e;
    },
    resetProducer: async () => undefined,
  });
  const outcomes = new Map<string, string>();
  const add = (partition: number, value: string, bytes = 100, signal?: AbortSignal) => {
    const r: OutgoingRecord = {
      topic: 't', partition, key: value, value: Buffer.from(value), bytes,
      resolve: () => outcomes.set(value, 'ok'),
      reject: (e) => outcomes.set(value, e.name),
    };
    delivery.add(r, signal);
  };
  return { calls, delivery, outcomes, add };
}

describe('Delivery', () => {
  it('resends each batch of a refused multi-partition request alone and unchanged, then record by record where refused', async () => {
    // The broker refuses partition 1's batch (say it holds one event too large); kafkajs throws for the whole request.
    const h = harness((call) => (call.some((b) => b.values.includes('big')) ? protocolError('MESSAGE_TOO_LARGE') : undefined));
    for (const [p, v] of [[0, 'a'], [1, 'b'], [1, 'big'], [2, 'c']] as const) h.add(p, v);
    await h.delivery.flush();
    expect(h.calls).toEqual([
      [{ partition: 0, values: ['a'] }, { partition: 1, values: ['b', 'big'] }, { partition: 2, values: ['c'] }],
      // Same batches, each alone: partitions the broker wrote answer as duplicates (acknowledged).
      [{ partition: 0, values: ['a'] }],
      [{ partition: 1, values: ['b', 'big'] }],
      [{ partition: 2, values: ['c'] }],
      // Refused alone: none of it is on the topic, so each record goes on its own.
      [{ partition: 1, values: ['b'] }],
      [{ partition: 1, values: ['big'] }],
    ]);
    expect(Object.fromEntries(h.outcomes)).toEqual({ a: 'ok', b: 'ok', c: 'ok', big: 'KafkaRefusedError' });
  });

  it('retries what may be on the topic unchanged until Kafka answers, and sends nothing else to that partition meanwhile', async () => {
    const h = harness((_call, n) => (n <= 3 ? new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092') : undefined));
    h.add(0, 'a');
    h.add(0, 'b');
    await new Promise((r) => setTimeout(r, 15));
    h.add(0, 'later');
    await h.delivery.flush();
    expect(h.calls.slice(0, 4).map((c) => c[0]?.values)).toEqual([['a', 'b'], ['a', 'b'], ['a', 'b'], ['a', 'b']]);
    expect(h.calls[4]).toEqual([{ partition: 0, values: ['later'] }]);
    expect(Object.fromEntries(h.outcomes)).toEqual({ a: 'ok', b: 'ok', later: 'ok' });
  });

  it('cuts a partition\'s batch at the topic\'s record batch limit', async () => {
    const h = harness(() => undefined);
    for (let i = 0; i < 5; i++) h.add(0, `e${i}`, 400);
    await h.delivery.flush();
    // 1000 bytes per batch, 61 of them the batch header: two 400-byte records at most.
    expect(h.calls.map((c) => c[0]?.values)).toEqual([['e0', 'e1'], ['e2', 'e3'], ['e4']]);
  });

  it('withdraws a queued record when its signal fires, and only while it is queued', async () => {
    const h = harness(() => undefined);
    const c = new AbortController();
    h.add(0, 'kept');
    h.add(0, 'withdrawn', 100, c.signal);
    c.abort(new Error('deadline'));
    await h.delivery.flush();
    expect(h.calls).toEqual([[{ partition: 0, values: ['kept'] }]]);
    expect(Object.fromEntries(h.outcomes)).toEqual({ kept: 'ok', withdrawn: 'SendWithdrawnError' });
  });
});

describe('produce errors', () => {
  it('tells refusals from failures that may have written, through kafkajs wrappers', () => {
    expect(classifyProduceError({ name: 'KafkaJSNonRetriableError', cause: protocolError('MESSAGE_TOO_LARGE') })).toEqual({ kind: 'not_written', type: 'MESSAGE_TOO_LARGE', resetProducer: false });
    expect(classifyProduceError(protocolError('OUT_OF_ORDER_SEQUENCE_NUMBER'))).toMatchObject({ kind: 'not_written', resetProducer: true });
    expect(classifyProduceError({ name: 'KafkaJSNumberOfRetriesExceeded', cause: new Error('Connection error') })).toEqual({ kind: 'ambiguous' });
    expect(classifyProduceError(protocolError('REQUEST_TIMED_OUT'))).toEqual({ kind: 'ambiguous' });
    expect(classifyProduceError(protocolError('DUPLICATE_SEQUENCE_NUMBER'))).toEqual({ kind: 'already_written' });
  });
});

describe('SendBuffer', () => {
  it('admits in order, makes a full buffer wait, and fails a wait longer than maxBlockMs with BufferFullError', async () => {
    const b = new SendBuffer(100, 50);
    const order: string[] = [];
    const take = (name: string, bytes: number, signal?: AbortSignal) =>
      new Promise<string>((resolve) => b.acquire(bytes, () => (order.push(name), resolve('in')), (e) => resolve(e.name), signal));
    await take('first', 80);
    const second = take('second', 50);
    const third = take('third', 10); // fits, but waits its turn behind `second`
    expect(order).toEqual(['first']);
    b.release(80);
    expect(await second).toBe('in');
    expect(await third).toBe('in');
    expect(order).toEqual(['first', 'second', 'third']);
    expect(await take('stuck', 90)).toBe(new BufferFullError(100, 50).name);
    const c = new AbortController();
    const withdrawn = take('withdrawn', 90, c.signal);
    c.abort('the caller gave up');
    expect(await withdrawn).toBe(new SendWithdrawnError('x').name);
    expect(b.heldBytes).toBe(60);
  });

  it('says what happened and what to do', () => {
    expect(new BufferFullError(64, 60_000).message).toContain('CX_PRODUCER_BUFFER_BYTES');
    expect(new KafkaRefusedError('MESSAGE_TOO_LARGE', 't', 3, 'too big').message).toBe('Kafka refused the event for t/3: MESSAGE_TOO_LARGE (too big); it is not on the topic');
  });
});
