/**
 * "Complete up to" and the end-of-input flush, with real processes on a backfill:
 *
 * 1. A plain `cx process` that has consumed everything (lag 0) still holds the last
 *    allowed lateness of event time (the idle flush is set far off here): its
 *    per-partition watermarks are each partition's newest event time less the
 *    lateness, computed from the raw table, and "complete to" is their minimum.
 * 2. `cx process --until-idle` then exits by itself, and the results are complete: one
 *    customer_memory row per experience, every event in the per-minute cells, the
 *    last minute's rows and its stool window written; "complete to" is the end of the
 *    newest event's minute.
 * 3. Flushed state stays consistent: a later event inside the flushed minute is late,
 *    one after it is processed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../platform/clickhouse/store.ts';
import { consumerLag } from '../../platform/kafka/lag.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer, type Connected } from '../../pipeline/compose.ts';
import { seededRandom } from '../../producers/random.ts';
import { takeSimulated } from '../../producers/simulator/simulate.ts';
import type { TouchpointProducer } from '../../producers/touchpointProducer.ts';
import type { TouchpointEvent } from '../../schemas/contracts.ts';
import { isolatedConfig, said, spawnCx, waitFor, withStore as withStoreOf, type CxProcess } from '../helpers.ts';

const seed = Number(process.env.CX_TEST_SEED ?? Date.now() % 1_000_000);
const random = seededRandom(seed);
const LATENESS_MS = 30_000;
// No idle flush within the test: what is held back stays held back until --until-idle.
const { env, config } = isolatedConfig({ LOG_LEVEL: 'info', CX_IDLE_FLUSH_MS: '600000', CX_ALLOWED_LATENESS_MS: String(LATENESS_MS) });
const withStore = <T>(f: (s: Store) => Promise<T>) => withStoreOf(config, f);
const log = createLogger('error', 'test');
const db = config.clickhouseDatabase;
let kafka: Connected;
let producer: TouchpointProducer;

beforeAll(async () => {
  process.stderr.write(`untilIdle.test: seed ${seed} (CX_TEST_SEED=${seed} repeats this run)\n`);
  kafka = await connectKafka(config, log);
  producer = await connectProducer(config, kafka);
});

afterAll(async () => {
  await producer?.disconnect();
});

/** The JSON log line of a process with this message (the last one). */
function logLine(p: CxProcess, msg: string): Record<string, unknown> {
  const lines = p.output.join('').split('\n').filter((l) => l.includes(`"msg":"${msg}"`));
  const last = lines[lines.length - 1];
  if (!last) throw new Error(`no "${msg}" line in the output:\n${said(p)}`);
  return JSON.parse(last) as Record<string, unknown>;
}


type Completeness = Record<'raw' | 'late' | 'experiences' | 'memory_rows' | 'in_cells' | 'newest_minute' | 'last_cell_minute' | 'last_minute_cells' | 'last_window_end', number>;

/** Counted independently of the folds, in SQL over the raw table. */
async function completeness(store: Store): Promise<Completeness> {
  const [r] = await store.query<Record<string, string>>(
    `SELECT (SELECT count() FROM ${db}.touchpoint_events FINAL) AS raw,
            (SELECT count() FROM ${db}.late_events FINAL) AS late,
            (SELECT countIf(rating_scale IS NOT NULL OR outcome != 'OK') FROM ${db}.touchpoint_events FINAL
              WHERE event_id NOT IN (SELECT event_id FROM ${db}.late_events FINAL)) AS experiences,
            (SELECT count() FROM ${db}.customer_memory FINAL) AS memory_rows,
            (SELECT sum(events) FROM ${db}.cell_minute FINAL) AS in_cells,
            (SELECT toUnixTimestamp(toStartOfMinute(max(occurred_at))) * 1000 FROM ${db}.touchpoint_events FINAL) AS newest_minute,
            (SELECT toUnixTimestamp(max(minute)) * 1000 FROM ${db}.cell_minute FINAL) AS last_cell_minute,
            (SELECT count() FROM ${db}.cell_minute FINAL WHERE minute = (SELECT toStartOfMinute(max(occurred_at)) FROM ${db}.touchpoint_events FINAL)) AS last_minute_cells,
            (SELECT toUnixTimestamp(max(window_end)) * 1000 FROM ${db}.leg_consistency FINAL) AS last_window_end`,
  );
  return Object.fromEntries(Object.entries(r ?? {}).map(([k, v]) => [k, Number(v)])) as Completeness;
}

describe('results complete up to, and the end-of-input flush', () => {
  it('reports the watermark, then finishes a backfill completely and stays consistent after it', { timeout: 300_000 }, async () => {
    // A backfill: a day long ago, about 20 minutes of it.
    const events = takeSimulated({ seed, customers: 800, start: Date.UTC(2026, 9, 5, 8) + Math.floor(random() * 3_600_000), rate: 8 }, 12_000)
      .flatMap((e) => (e.kind === 'touchpoint' ? [e.event as TouchpointEvent] : []));
    await Promise.all(events.map((e) => producer.send(e)));

    // 1. Everything consumed, the last lateness held back: the watermarks say so.
    const first = spawnCx(['process'], env);
    const admin = kafka.kafka.admin();
    await admin.connect();
    try {
      await waitFor('both groups to consume everything', async () =>
        (await consumerLag(admin, config.consumerGroup, [config.touchpointsTopic])) === 0 && (await consumerLag(admin, `${config.consumerGroup}.metrics`, [config.touchpointsTopic])) === 0, 120_000, 250);
    } finally {
      await admin.disconnect();
    }
    // "Complete to" is read from the checkpoints once a second.
    await new Promise((r) => setTimeout(r, 2500));
    first.child.kill('SIGTERM');
    expect((await first.exit).code, said(first)).toBe(0);
    const stopped = logLine(first, 'metrics stopped') as { stats: { watermarks: Record<string, number>; completeTo: number | null }; completeTo: string | null };

    const newest = await withStore((s) => s.query<{ p: number | string; newest: number | string }>(
      `SELECT source_partition AS p, toUnixTimestamp64Milli(max(occurred_at)) AS newest FROM ${db}.touchpoint_events FINAL GROUP BY p ORDER BY p`,
    ));
    const expected = Object.fromEntries(newest.map((r) => [String(r.p), Number(r.newest) - LATENESS_MS]));
    expect(stopped.stats.watermarks).toEqual(expected);
    const lowest = Math.min(...Object.values(expected));
    expect(stopped.stats.completeTo).toBe(lowest);
    expect(stopped.completeTo).toBe(new Date(lowest).toISOString());
    // Held back: the results are not complete yet (the tester's finding).
    const held = await withStore(completeness);
    expect(held.memory_rows).toBeLessThan(held.experiences);
    expect(held.in_cells).toBeLessThan(held.raw - held.late);

    // 2. The end-of-input flush: exits by itself, results complete.
    const finish = spawnCx(['process', '--until-idle'], env);
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      finish.exit,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`cx process --until-idle did not exit by itself:\n${said(finish)}`)), 120_000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(exit.code, said(finish)).toBe(0);
    const done = await withStore(completeness);
    process.stderr.write(`untilIdle.test: held back before the flush: ${done.experiences - held.memory_rows} of ${done.experiences} experiences; after it: ${JSON.stringify(done)}\n`);
    expect(done.raw).toBe(events.length);
    expect(done.memory_rows).toBe(done.experiences);
    expect(done.in_cells).toBe(done.raw - done.late);
    expect(done.last_cell_minute).toBe(done.newest_minute);
    expect(done.last_minute_cells).toBeGreaterThan(0);
    expect(done.last_window_end).toBe(done.newest_minute + 60_000);
    const end = new Date(done.newest_minute + 60_000).toISOString().replace('T', ' ').replace('.000Z', ' UTC');
    expect(finish.output.join('')).toContain(`results complete to ${end}`);
    const marks = await withStore((s) => s.query<{ w: number | string }>(`SELECT watermark AS w FROM ${db}.processor_state FINAL WHERE stage = 'metrics' AND key = ''`));
    expect(marks.map((m) => Number(m.w))).toEqual(marks.map(() => done.newest_minute + 60_000));

    // 3. After the flush: an event inside the flushed minute is late; one after it is processed.
    const template = events[events.length - 1] as TouchpointEvent;
    const tooLate = { ...template, event_id: 'aaaaaaaa-0000-4000-8000-000000000001', occurred_at: done.newest_minute + 30_000 };
    const onTime = { ...template, event_id: 'aaaaaaaa-0000-4000-8000-000000000002', occurred_at: done.newest_minute + 90_000 };
    await producer.send(tooLate);
    await producer.send(onTime);
    const again = spawnCx(['process', '--until-idle'], env);
    expect((await again.exit).code, said(again)).toBe(0);
    const after = await withStore(async (s) => {
      const [r] = await s.query<Record<string, string>>(
        `SELECT (SELECT groupArray(event_id) FROM ${db}.late_events FINAL) AS late_ids,
                (SELECT sum(events) FROM ${db}.cell_minute FINAL) AS in_cells,
                (SELECT sum(events) FROM ${db}.cell_minute FINAL WHERE minute = fromUnixTimestamp({m:Int64})) AS flushed_minute`,
        { m: done.newest_minute / 1000 },
      );
      return r as unknown as { late_ids: string[]; in_cells: string; flushed_minute: string };
    });
    expect(after.late_ids).toContain(tooLate.event_id);
    expect(after.late_ids).not.toContain(onTime.event_id);
    expect(Number(after.in_cells)).toBe(done.in_cells + 1);
  });
});
