/**
 * Fast, honest recovery, with real processes: a `cx process` worker SIGKILLed under
 * traffic and restarted at once is processing again (new offsets committed in its raw
 * and its metrics groups, so new rows stored) within 10 s of its restart, on the
 * default settings: the dead member holds its partitions only for the session
 * timeout. Across the kill nothing is lost or counted twice: after an `--until-idle`
 * run, every event is in touchpoint_events once, and once in the metric results.
 * A clean stop hands the partitions over at once (it leaves the group), and a chunk
 * slower than the session keeps its partitions (heartbeats while a batch is in hand).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../platform/clickhouse/migrate.ts';
import { openStore } from '../../platform/clickhouse/store.ts';
import { consumerLag } from '../../platform/kafka/lag.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer, type Connected } from '../../pipeline/compose.ts';
import { seededRandom } from '../../producers/random.ts';
import { takeSimulated } from '../../producers/simulator/simulate.ts';
import type { TouchpointProducer } from '../../producers/touchpointProducer.ts';
import type { TouchpointEvent } from '../../schemas/contracts.ts';
import { committedOffsets, isolatedConfig, said, spawnCx, waitFor } from '../helpers.ts';

/** The requirement: restart -> processing again. */
const RECOVERY_LIMIT_MS = 10_000;

const seed = Number(process.env.CX_TEST_SEED ?? Date.now() % 1_000_000);
const random = seededRandom(seed);
// The defaults under test: no session timeout set here.
const { env, config } = isolatedConfig({ LOG_LEVEL: 'info', CX_BATCH_MAX_MESSAGES: '500' });
const log = createLogger('error', 'test');
let kafka: Connected;
let producer: TouchpointProducer;

const metricsGroup = `${config.consumerGroup}.metrics`;

beforeAll(async () => {
  process.stderr.write(`recovery.test: seed ${seed} (CX_TEST_SEED=${seed} repeats this run)\n`);
  kafka = await connectKafka(config, log);
  producer = await connectProducer(config, kafka);
});

afterAll(async () => {
  await producer?.disconnect();
});

describe('recovery', () => {
  it('processes again within 10 s of a restart, and loses or doubles nothing', { timeout: 300_000 }, async () => {
    const all = takeSimulated({ seed, customers: 1500, start: Date.UTC(2026, 10, 2, 9), rate: 2 }, 16_000)
      .flatMap((e) => (e.kind === 'touchpoint' ? [e.event as TouchpointEvent] : []))
      .slice(0, 12_000);
    const [before, during] = [all.slice(0, 6000), all.slice(6000)];

    // Merges off, so count() sees every row ever inserted: a doubled row cannot merge away.
    const setup = await openStore(config);
    await migrate(setup);
    await setup.command(`ALTER TABLE ${config.clickhouseDatabase}.touchpoint_events MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1, max_bytes_to_merge_at_min_space_in_pool = 1`);
    await setup.close();
    await Promise.all(before.map((e) => producer.send(e)));

    const admin = kafka.kafka.admin();
    await admin.connect();
    try {
      const a = spawnCx(['process'], env);
      await waitFor('worker A to commit in both groups', async () =>
        (await committedOffsets(admin, config.consumerGroup, config.touchpointsTopic)) > 0 && (await committedOffsets(admin, metricsGroup, config.touchpointsTopic)) > 0, 90_000, 100);
      const killAfterMs = Math.round(random() * 2000);
      process.stderr.write(`recovery.test: killing worker A ${killAfterMs} ms after its first commits\n`);
      await new Promise((r) => setTimeout(r, killAfterMs));
      a.child.kill('SIGKILL');
      expect((await a.exit).signal).toBe('SIGKILL');
      const at = [await committedOffsets(admin, config.consumerGroup, config.touchpointsTopic), await committedOffsets(admin, metricsGroup, config.touchpointsTopic)];
      // Traffic goes on: there is something new for the restarted worker.
      const sending = Promise.all(during.map((e) => producer.send(e)));

      const b = spawnCx(['process'], env);
      const progressed = [false, false];
      const recoveredMs = await waitFor('worker B to commit past worker A in both groups', async () => {
        progressed[0] ||= (await committedOffsets(admin, config.consumerGroup, config.touchpointsTopic)) > (at[0] as number);
        progressed[1] ||= (await committedOffsets(admin, metricsGroup, config.touchpointsTopic)) > (at[1] as number);
        return progressed[0] && progressed[1] && Date.now() - b.startedAt;
      }, 120_000, 50);
      process.stderr.write(`recovery.test: restart -> processing again in ${(recoveredMs / 1000).toFixed(1)} s (limit ${RECOVERY_LIMIT_MS / 1000} s)\n`);
      expect(recoveredMs, said(b)).toBeLessThan(RECOVERY_LIMIT_MS);
      await sending;
      b.child.kill('SIGTERM');
      expect((await b.exit).code, said(b)).toBe(0);
    } finally {
      await admin.disconnect();
    }

    // Finish the input: everything through the folds, every minute closed.
    const c = spawnCx(['process', '--until-idle'], env);
    const cExit = await c.exit;
    expect(cExit.code, said(c)).toBe(0);

    const store = await openStore(config);
    try {
      const db = config.clickhouseDatabase;
      const [r] = await store.query<Record<string, string>>(
        `SELECT (SELECT count() FROM ${db}.touchpoint_events) AS rows, (SELECT uniqExact(event_id) FROM ${db}.touchpoint_events) AS ids,
                (SELECT count() FROM ${db}.late_events FINAL) AS late,
                (SELECT sum(events) FROM ${db}.cell_minute FINAL) AS in_cells,
                (SELECT count() FROM ${db}.customer_memory FINAL) AS memory_rows,
                (SELECT countIf(rating_scale IS NOT NULL OR outcome != 'OK') FROM ${db}.touchpoint_events FINAL
                  WHERE event_id NOT IN (SELECT event_id FROM ${db}.late_events FINAL)) AS experiences`,
      );
      expect(Number(r?.rows)).toBe(all.length);
      expect(Number(r?.ids)).toBe(all.length);
      // Every event that was not late is in the per-minute cells exactly once, and every experience in memory once.
      expect(Number(r?.in_cells)).toBe(all.length - Number(r?.late));
      expect(Number(r?.memory_rows)).toBe(Number(r?.experiences));
    } finally {
      await store.close();
    }
  });

  it('hands the partitions over at once after a clean stop, without waiting for the session timeout', { timeout: 180_000 }, async () => {
    // A long session: only leaving the group makes the handover fast.
    const long = isolatedConfig({ LOG_LEVEL: 'info', CX_CONSUMER_SESSION_TIMEOUT_MS: '30000' });
    const k = await connectKafka(long.config, log);
    const p = await connectProducer(long.config, k);
    const admin = k.kafka.admin();
    await admin.connect();
    const group = `${long.config.consumerGroup}.metrics`;
    const topic = long.config.touchpointsTopic;
    try {
      const events = takeSimulated({ seed: seed + 1, customers: 500, start: Date.UTC(2026, 10, 3, 9), rate: 2 }, 6000).flatMap((e) => (e.kind === 'touchpoint' ? [e.event as TouchpointEvent] : []));
      const half = Math.floor(events.length / 2);
      await Promise.all(events.slice(0, half).map((e) => p.send(e)));
      const a = spawnCx(['process'], long.env);
      await waitFor('worker A to commit in both groups', async () =>
        (await committedOffsets(admin, long.config.consumerGroup, topic)) > 0 && (await committedOffsets(admin, group, topic)) > 0, 90_000, 100);
      a.child.kill('SIGTERM');
      expect((await a.exit).code, said(a)).toBe(0);
      const at = [await committedOffsets(admin, long.config.consumerGroup, topic), await committedOffsets(admin, group, topic)];
      const sending = Promise.all(events.slice(half).map((e) => p.send(e)));
      const b = spawnCx(['process'], long.env);
      const progressed = [false, false];
      const ms = await waitFor('worker B to commit past worker A in both groups', async () => {
        progressed[0] ||= (await committedOffsets(admin, long.config.consumerGroup, topic)) > (at[0] as number);
        progressed[1] ||= (await committedOffsets(admin, group, topic)) > (at[1] as number);
        return progressed[0] && progressed[1] && Date.now() - b.startedAt;
      }, 120_000, 50);
      process.stderr.write(`recovery.test: after a clean stop (session timeout 30 s), restart -> processing again in ${(ms / 1000).toFixed(1)} s\n`);
      expect(ms, said(b)).toBeLessThan(RECOVERY_LIMIT_MS);
      await sending;
      b.child.kill('SIGTERM');
      expect((await b.exit).code, said(b)).toBe(0);
    } finally {
      await admin.disconnect();
      await p.disconnect();
    }
  });

  it('keeps its partitions through a chunk that takes longer than the session timeout', { timeout: 180_000 }, async () => {
    // The default 6 s session, and a chunk that waits 9 s before its commit (the event loop free, as during a slow insert).
    const slow = isolatedConfig({ LOG_LEVEL: 'info', CX_BATCH_MAX_MESSAGES: '500', CX_FAULT_STALL_AFTER_METRIC_CHUNKS: '2:9000' });
    const k = await connectKafka(slow.config, log);
    const p = await connectProducer(slow.config, k);
    const admin = k.kafka.admin();
    await admin.connect();
    try {
      const events = takeSimulated({ seed: seed + 2, customers: 500, start: Date.UTC(2026, 10, 4, 9), rate: 2 }, 4000).flatMap((e) => (e.kind === 'touchpoint' ? [e.event as TouchpointEvent] : []));
      await Promise.all(events.map((e) => p.send(e)));
      const w = spawnCx(['process'], slow.env);
      await waitFor('the worker to stall and then consume everything', async () =>
        w.output.join('').includes('fault injection: stalling') &&
        (await consumerLag(admin, `${slow.config.consumerGroup}.metrics`, [slow.config.touchpointsTopic])) === 0, 120_000, 250);
      w.child.kill('SIGTERM');
      expect((await w.exit).code, said(w)).toBe(0);
      const out = w.output.join('');
      // One generation all along: the group never dropped the busy member.
      expect(out.split('"msg":"metrics: joined consumer group"').length - 1, said(w)).toBe(1);
      expect(out, said(w)).not.toMatch(/not aware of this member|re-joining|rebalancing/i);
    } finally {
      await admin.disconnect();
      await p.disconnect();
    }
  });
});
