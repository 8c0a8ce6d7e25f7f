import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { consumerOptions, REBALANCE_TIMEOUT_MS, whileHeartbeating } from '../../platform/kafka/groupMember.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('group membership', () => {
  it('keeps the session short by default, heartbeats three times a session, and waits for a busy member longer than an insert may take', () => {
    const o = consumerOptions(loadConfig({}), 'g');
    // A worker killed without leaving holds its partitions this long: what its restart waits for.
    expect(o.sessionTimeout).toBe(6_000);
    expect(o.heartbeatInterval).toBe(2_000);
    expect(o.rebalanceTimeout).toBe(REBALANCE_TIMEOUT_MS);
    // The ClickHouse request timeout (platform/clickhouse/store.ts) is 25 s.
    expect(REBALANCE_TIMEOUT_MS).toBeGreaterThan(25_000);
    const long = consumerOptions(loadConfig({ CX_CONSUMER_SESSION_TIMEOUT_MS: '45000' }), 'g', 500);
    expect([long.sessionTimeout, long.heartbeatInterval, long.maxWaitTimeInMs]).toEqual([45_000, 3_000, 500]);
  });

  it('heartbeats while a batch is in hand, goes on after a refused heartbeat, and stops when the batch is done', async () => {
    let beats = 0;
    const heartbeat = async () => {
      beats++;
      // The group is rebalancing: refused, and the batch goes on to finish its chunk.
      if (beats === 2) throw new Error('The group is rebalancing, so a rejoin is needed');
    };
    const result = await whileHeartbeating(heartbeat, 50, async () => {
      await sleep(400);
      return 'stored';
    });
    expect(result).toBe('stored');
    expect(beats).toBeGreaterThanOrEqual(5);
    const after = beats;
    await sleep(200);
    expect(beats).toBe(after);
  });

  it('stops heartbeating when the batch fails too', async () => {
    let beats = 0;
    await expect(whileHeartbeating(async () => void beats++, 20, async () => {
      await sleep(100);
      throw new Error('insert failed');
    })).rejects.toThrow('insert failed');
    const after = beats;
    await sleep(100);
    expect(beats).toBe(after);
  });
});
