/**
 * The SQL endpoint's small parts on their own: query slots (bounded, first come first
 * served, a waiter that gives up leaves the queue) and the password check (the three
 * forms a ClickHouse server takes, nothing else).
 */
import { describe, expect, it } from 'vitest';
import { passwordCheck } from '../../platform/clickhouse/httpAuth.ts';
import { QuerySlots, threadPoolSize } from '../../platform/clickhouse/querySlots.ts';

describe('QuerySlots', () => {
  it('runs at most `size` at once and hands slots out in arrival order', async () => {
    const slots = new QuerySlots(2);
    const order: number[] = [];
    const a = await slots.acquire();
    const b = await slots.acquire();
    expect(slots.busy).toBe(2);
    const waiting = [3, 4, 5].map((n) => slots.acquire().then((release) => (order.push(n), release)));
    await Promise.resolve();
    expect(order).toEqual([]);
    a();
    a(); // a second release of the same slot changes nothing
    const c = await waiting[0];
    expect(order).toEqual([3]);
    expect(slots.busy).toBe(2);
    b();
    c?.();
    const [d, e] = [await waiting[1], await waiting[2]];
    expect(order).toEqual([3, 4, 5]);
    d?.();
    e?.();
    expect(slots.busy).toBe(0);
    await slots.drained();
  });

  it('drops a waiter whose signal aborts, without losing the slot it would have had', async () => {
    const slots = new QuerySlots(1);
    const held = await slots.acquire();
    const gaveUp = new AbortController();
    const first = slots.acquire(gaveUp.signal);
    const second = slots.acquire();
    gaveUp.abort(new Error('deadline'));
    await expect(first).rejects.toThrow('deadline');
    held();
    const release = await second;
    expect(slots.busy).toBe(1);
    release();
  });

  it('reads the pool size as libuv does', () => {
    expect(threadPoolSize({})).toBe(4);
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: '8' })).toBe(8);
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: 'x' })).toBe(4);
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: '5000' })).toBe(1024);
  });
});

describe('passwordCheck', () => {
  const check = passwordCheck('s3cret:with colon');
  const basic = (user: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });
  const none = new URLSearchParams();

  it('takes basic auth with any user, the X-ClickHouse headers, or user/password parameters', () => {
    expect(() => check(basic('default', 's3cret:with colon'), none)).not.toThrow();
    expect(() => check(basic('analyst', 's3cret:with colon'), none)).not.toThrow();
    expect(() => check({ 'x-clickhouse-user': 'default', 'x-clickhouse-key': 's3cret:with colon' }, none)).not.toThrow();
    expect(() => check({}, new URLSearchParams({ user: 'default', password: 's3cret:with colon' }))).not.toThrow();
  });

  it('refuses a missing, wrong or partial password with 516 AUTHENTICATION_FAILED, never echoing it', () => {
    for (const [headers, params] of [
      [{}, none],
      [basic('default', 's3cret'), none],
      [basic('default', ''), none],
      [{ authorization: 'Bearer s3cret:with colon' }, none],
      [{ 'x-clickhouse-key': 's3cret:with colo' }, none],
      [{}, new URLSearchParams({ password: '' })],
      // Basic auth wins over a right password elsewhere, as it would on a ClickHouse server.
      [basic('default', 'wrong'), new URLSearchParams({ password: 's3cret:with colon' })],
    ] as [Record<string, string>, URLSearchParams][]) {
      let thrown: unknown;
      try {
        check(headers, params);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toMatchObject({ code: 516, type: 'AUTHENTICATION_FAILED', status: 401 });
      expect((thrown as Error).message).not.toContain('s3cret');
    }
  });
});
