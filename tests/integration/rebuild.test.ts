/**
 * `cx rebuild` (docs/metrics.md, "Rebuild from the raw log"), with real processes on
 * real Kafka and the embedded ClickHouse engine, one simulated backfill:
 *
 * 1. After `cx process --until-idle`, a rebuild with the same parameters gives every
 *    result table row for row, and the metrics state customer for customer.
 * 2. With a live member in the metrics consumer group it refuses, says what to stop,
 *    and changes nothing (asked with r = 3, so a rebuild that went ahead would show).
 * 3. With r = 3 (CX_BAD_MEMORY_FACTOR) customer memory follows the formula with r = 3,
 *    worked out here from one customer's raw experiences; the tables that do not depend
 *    on r stay as they were. A --from/--to rebuild with r = 7 then replaces exactly
 *    the rows of its span.
 * 4. Hand-over: events produced to Kafka but not yet processed, a rebuild, then
 *    `cx process --until-idle`: the tables and state equal a rebuild of everything.
 *    No event lost or counted twice across the cut.
 *
 * h is 0.01 days (14.4 minutes) in every process here, so that memory decays visibly
 * within the simulated half hour and r makes a difference.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin, Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../platform/clickhouse/store.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, type Connected } from '../../pipeline/compose.ts';
import { seededRandom } from '../../producers/random.ts';
import { CLASS_SQL, X_SQL } from '../experienceSql.ts';
import { isolatedConfig, said, spawnCx, waitFor, withStore as withStoreOf, type CxProcess } from '../helpers.ts';

const seed = Number(process.env.CX_TEST_SEED ?? Date.now() % 1_000_000);
const random = seededRandom(seed);
const HALF_LIFE_DAYS = 0.01;
const { env, config } = isolatedConfig({ CX_TOPIC_PARTITIONS: '3', CX_MEMORY_HALF_LIFE_DAYS: String(HALF_LIFE_DAYS) });
const withStore = <T>(f: (s: Store) => Promise<T>) => withStoreOf(config, f);
const db = config.clickhouseDatabase;
const truthDir = mkdtempSync(join(tmpdir(), 'cx-rebuild-truth-'));
const log = createLogger('error', 'test');

// Two simulated half hours on a day long ago (a backfill), the second 15 minutes after the first; starts drawn from the seed.
const MINUTE = 60_000;
const firstStart = Date.UTC(2026, 9, 5, 8) + Math.floor(random() * 360) * MINUTE;
const secondStart = firstStart + 45 * MINUTE;
const simSeed = 1 + Math.floor(random() * 100_000);

const TABLES = ['cell_minute', 'channel_transition_minute', 'department_impact', 'channel_drops', 'death_spirals', 'customer_memory', 'journeys', 'late_events', 'leg_consistency'] as const;
type Table = (typeof TABLES)[number];
type Row = Record<string, unknown>;
interface Dump {
  tables: Record<Table, Row[]>;
  /** The metrics stage's customers' state, parsed (the same object may be written with its keys in another order). */
  customers: Row[];
  /** Each partition's checkpoint: offset, watermark and clock; `flushes` apart (it only orders checkpoints, compare with `clocks`). */
  partitions: Row[];
  /** Rows of the metrics stage in processor_state, every version (not FINAL). */
  stateRows: number;
}


/** Every result table, FINAL, all columns, sorted; and the metrics state. */
function dump(): Promise<Dump> {
  return withStore(async (s) => {
    const tables = {} as Record<Table, Row[]>;
    for (const t of TABLES) tables[t] = await s.query<Row>(`SELECT * FROM ${db}.${t} FINAL ORDER BY ALL`);
    const state = await s.query<{ p: number; key: string; offset: string; watermark: string; state: string }>(
      `SELECT source_partition AS p, key, toString(source_offset) AS offset, toString(watermark) AS watermark, state
       FROM ${db}.processor_state FINAL WHERE stage = 'metrics' ORDER BY p, key`,
    );
    const customers = state.filter((r) => r.key !== '').map((r) => ({ p: r.p, key: r.key, state: JSON.parse(r.state) as unknown }));
    const partitions = state.filter((r) => r.key === '').map((r) => {
      const { flushes, ...clock } = JSON.parse(r.state) as Row;
      return { p: r.p, offset: r.offset, watermark: r.watermark, clock, flushes };
    });
    const [stored] = await s.query<{ n: string }>(`SELECT count() AS n FROM ${db}.processor_state WHERE stage = 'metrics'`);
    return { tables, customers, partitions, stateRows: Number(stored?.n) };
  });
}

/**
 * The columns of a stool window that come from float sums of the partitions' cells. The live worker adds the partitions'
 * cells of a minute up with ClickHouse's sum(), in whatever order its threads and parts give them, so the same window
 * computed twice live can differ in the last bit (seen: score 0.6293409898824174 and 0.6293409898824173); the rebuild adds
 * them in partition order (processors/rebuild/stoolWindows.ts). Where one side's windows were computed live, these four
 * columns may differ by rounding only; every other column, and everything between two rebuilds, is compared exactly.
 */
const WINDOW_SUMS = ['score', 'consistency', 'stool_score', 'wobble'] as const;

function expectSameWindows(actual: Row[], expected: Row[], what: string): void {
  const rest = (rows: Row[]) => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !(WINDOW_SUMS as readonly string[]).includes(k))));
  expect(rest(actual), `${what}: leg_consistency`).toEqual(rest(expected));
  for (let i = 0; i < expected.length; i++) {
    for (const c of WINDOW_SUMS) {
      const [a, b] = [(actual[i] as Row)[c], (expected[i] as Row)[c]];
      if (b === null) expect(a, `${what}: leg_consistency row ${i} ${c}`).toBeNull();
      else expect(Math.abs(Number(a) - Number(b)), `${what}: leg_consistency row ${i} ${c}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(Number(b))));
    }
  }
}

/** Table for table, row for row; `windows: 'live'` when one side's stool windows were computed by a live worker (above). */
function expectSame(actual: Dump, expected: Dump, what: string, tables: readonly Table[] = TABLES, windows: 'exact' | 'live' = 'exact'): void {
  for (const t of tables) {
    expect(actual.tables[t].length, `${what}: ${t} rows`).toBe(expected.tables[t].length);
    if (t === 'leg_consistency' && windows === 'live') expectSameWindows(actual.tables[t], expected.tables[t], what);
    else expect(actual.tables[t], `${what}: ${t}`).toEqual(expected.tables[t]);
  }
}

/** The checkpoints without their flush counts: a rebuild flushes once where the live worker may have flushed more often. */
const clocks = (d: Dump) => d.partitions.map(({ flushes: _f, ...rest }) => rest);

async function run(args: string[], extra: Record<string, string> = {}): Promise<CxProcess> {
  const p = spawnCx(args, { ...env, ...extra });
  const { code } = await p.exit;
  expect(code, `cx ${args.join(' ')} exited ${code}:\n${said(p)}`).toBe(0);
  return p;
}

const simulate = (start: number, s: number) =>
  run(['simulate', '--start', new Date(start).toISOString(), '--duration', '30m', '--rate', '8', '--customers', '400', '--seed', String(s), '--truth', join(truthDir, `run-${s}.json`)]);

let kafka: Connected;
let admin: Admin;
let live: Dump;
let rebuiltOnce: Dump;
let withR3: Dump;

/** A hand-over replaces the metrics state: one stored row per partition and customer, no older version left beside it. */
const expectStateReplaced = (d: Dump, what: string) => expect(d.stateRows, `${what}: processor_state rows of the metrics stage`).toBe(d.customers.length + d.partitions.length);

beforeAll(async () => {
  process.stderr.write(`rebuild.test: seed ${seed} (CX_TEST_SEED=${seed} repeats this run): runs at ${new Date(firstStart).toISOString()} and ${new Date(secondStart).toISOString()}, simulator seed ${simSeed}\n`);
  kafka = await connectKafka(config, log);
  admin = kafka.kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await admin?.disconnect();
});

describe('cx rebuild', () => {
  it('gives the live run\'s tables and state row for row, with the same parameters', async () => {
    await simulate(firstStart, simSeed);
    // A short idle flush, so the live worker very likely flushes once when it has read everything and again at the end of
    // input: its checkpoints then outrank the rebuilt ones (seq counts flushes), and only deleting them hands the state over.
    await run(['process', '--until-idle'], { CX_IDLE_FLUSH_MS: '200' });
    live = await dump();
    process.stderr.write(`rebuild.test: the live checkpoints' flushes since their last message: ${live.partitions.map((p) => p.flushes).join(', ')}\n`);
    // A run with something in every table but late_events (the simulator sends in event-time order: nothing is late).
    for (const t of TABLES) if (t !== 'late_events') expect(live.tables[t].length, t).toBeGreaterThan(0);
    expect(live.tables.late_events).toEqual([]);

    const rebuilt = await run(['rebuild']);
    const out = rebuilt.output.join('');
    expect(out).toContain('Hand-over: the metrics state of 3 partition(s) replaced');
    expect(out).toContain('Not rebuilt: touchpoint_health, alerts, alert_deliveries');
    const after = await dump();
    expectSame(after, live, 'rebuild of a finished backfill', TABLES, 'live');
    expect(after.customers).toEqual(live.customers);
    expect(clocks(after)).toEqual(clocks(live));
    process.stderr.write(`rebuild.test: metrics state rows stored: live ${live.stateRows} (older versions not all merged away yet), after the rebuild ${after.stateRows} for ${after.customers.length} customers and ${after.partitions.length} partitions\n`);
    expectStateReplaced(after, 'after the rebuild');
    rebuiltOnce = after;
    // Nothing of the rebuild's own is left behind.
    const left = await withStore((s) => s.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = {db:String} AND (name LIKE '%\\_\\_rebuild%' OR name LIKE '%\\_\\_swap')`, { db }));
    expect(left).toEqual([]);
  });

  it('refuses while a metric worker is in the metrics group, says what to stop, and changes nothing', async () => {
    const group = `${config.consumerGroup}.metrics`;
    const member: Consumer = kafka.kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 1000 });
    await member.connect();
    try {
      await member.subscribe({ topics: [config.touchpointsTopic] });
      await member.run({ autoCommit: false, eachMessage: async () => undefined });
      await waitFor('the test consumer to be a member of the metrics group', async () =>
        ((await admin.describeGroups([group])).groups[0]?.members.length ?? 0) > 0, 30_000);
      // With r = 3 a rebuild that went ahead would change customer memory (test 3).
      const refused = spawnCx(['rebuild'], { ...env, CX_BAD_MEMORY_FACTOR: '3' });
      const { code } = await refused.exit;
      const out = refused.output.join('');
      expect(code, out).toBe(1);
      expect(out).toContain(`the metrics consumer group "${group}" has 1 live member(s)`);
      expect(out).toContain(`\`npm start\` or \`npx cx process\` with CX_CONSUMER_GROUP=${config.consumerGroup}`);
      expect(out).toContain('This store is the embedded one, which only one process can open');
      expect(out).toContain('Nothing was changed');
    } finally {
      await member.disconnect();
    }
    const after = await dump();
    expectSame(after, rebuiltOnce, 'after a refused rebuild');
    expect(after.customers).toEqual(rebuiltOnce.customers);
    expect(after.partitions).toEqual(rebuiltOnce.partitions);
    expect(after.stateRows).toBe(rebuiltOnce.stateRows);
  });

  it('with r = 3 gives the memory of the formula with r = 3, leaves what r does not touch, and a --from/--to rebuild replaces only its span', async () => {
    await run(['rebuild'], { CX_BAD_MEMORY_FACTOR: '3' });
    withR3 = await dump();
    // Nothing here depends on memory: the same rows as live.
    expectSame(withR3, live, 'r = 3', ['cell_minute', 'channel_transition_minute', 'channel_drops', 'death_spirals', 'late_events', 'leg_consistency'], 'live');
    // Memory, journey scores and department memory impact do; every other column of department_impact stays.
    expect(withR3.tables.customer_memory.length).toBe(live.tables.customer_memory.length);
    expect(withR3.tables.customer_memory).not.toEqual(live.tables.customer_memory);
    expect(withR3.tables.journeys).not.toEqual(live.tables.journeys);
    const withoutImpact = (rows: Row[]) => rows.map(({ memory_impact: _m, ...rest }) => rest);
    expect(withoutImpact(withR3.tables.department_impact)).toEqual(withoutImpact(live.tables.department_impact));
    expect(withR3.tables.department_impact).not.toEqual(live.tables.department_impact);
    // The handed-over state is the r = 3 one (memory accumulators decay with r), at the same offsets and clocks.
    for (const p of live.partitions.map((x) => x.p)) {
      const of = (d: Dump) => d.customers.filter((c) => c.p === p);
      expect(of(withR3).map((c) => c.key), `partition ${p}: customers`).toEqual(of(live).map((c) => c.key));
      expect(of(withR3), `partition ${p}: the state follows r`).not.toEqual(of(live));
    }
    expect(clocks(withR3)).toEqual(clocks(live));
    expectStateReplaced(withR3, 'after the r = 3 rebuild');

    // One customer by hand, from the raw events (x and class in SQL: tests/experienceSql.ts), at its last experience T:
    //   M(T) = sum w_k x_k d_k / sum w_k d_k,  d_k = 2^(-(T - t_k) / h_k),  h_k = h, or r*h for a bad experience,
    //   w_k = m = 2 at a moment of truth, else 1.
    // The customer: at least 4 experiences at distinct times, one of them bad before the last, drawn with the seed.
    const candidates = await withStore((s) => s.query<{ customer_id: string; exp: [string, number, string, boolean][] }>(
      `SELECT customer_id, arraySort(x -> x.1, groupArray((toString(toUnixTimestamp64Milli(occurred_at)), x, cls, moment_of_truth))) AS exp
       FROM (SELECT customer_id, occurred_at, moment_of_truth, ${X_SQL} AS x, ${CLASS_SQL} AS cls FROM ${db}.touchpoint_events FINAL WHERE x IS NOT NULL)
       GROUP BY customer_id
       HAVING count() >= 4 AND uniqExact(occurred_at) = count()
       ORDER BY customer_id`,
    ));
    const eligible = candidates.filter((c) => c.exp.slice(0, -1).some(([, , cls]) => cls === 'bad'));
    expect(eligible.length).toBeGreaterThan(0);
    const pick = eligible[Math.floor(random() * eligible.length)] as (typeof eligible)[number];
    const h = HALF_LIFE_DAYS * 86_400_000;
    const memory = (r: number) => {
      const T = Number((pick.exp[pick.exp.length - 1] as [string, number, string, boolean])[0]);
      let num = 0;
      let den = 0;
      for (const [t, x, cls, mot] of pick.exp) {
        const d = 2 ** (-(T - Number(t)) / (cls === 'bad' ? r * h : h));
        const w = mot ? 2 : 1;
        num += w * x * d;
        den += w * d;
      }
      return num / den;
    };
    const lastMemory = (d: Dump) => {
      // The row of its latest experience (the dump is sorted by all columns, event_id before occurred_at).
      const rows = d.tables.customer_memory.filter((m) => m.customer_id === pick.customer_id);
      expect(rows.length).toBe(pick.exp.length);
      const latest = rows.reduce((a, b) => (String(b.occurred_at) > String(a.occurred_at) ? b : a));
      return Number(latest.memory);
    };
    const [byHand3, byHand7] = [memory(3), memory(7)];
    process.stderr.write(`rebuild.test: ${pick.customer_id}: ${pick.exp.length} experiences ${JSON.stringify(pick.exp)}; M by hand r=7 ${byHand7}, r=3 ${byHand3}; stored r=7 ${lastMemory(live)}, r=3 ${lastMemory(withR3)}\n`);
    // The fold decays its accumulators step by step, the sum here in one go: equal up to rounding.
    expect(lastMemory(live)).toBeCloseTo(byHand7, 12);
    expect(lastMemory(withR3)).toBeCloseTo(byHand3, 12);
    // And far enough apart that this says something: with r smaller a bad experience fades faster.
    expect(Math.abs(byHand3 - byHand7)).toBeGreaterThan(1e-6);

    // --from/--to with r = 7 over the middle ten minutes of the first run: rows of that span as live (r = 7), the rest as with r = 3,
    // and no hand-over: the state stays the r = 3 one.
    const from = firstStart + 10 * MINUTE;
    const to = firstStart + 20 * MINUTE;
    const ranged = await run(['rebuild', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString()]);
    expect(ranged.output.join('')).toContain('No hand-over');
    const mixed = await dump();
    const ms = (v: unknown) => Date.parse(`${String(v).replace(' ', 'T')}Z`);
    const inSpan: Record<'customer_memory' | 'department_impact' | 'journeys', (r: Row) => boolean> = {
      customer_memory: (r) => ms(r.occurred_at) >= from && ms(r.occurred_at) < to,
      department_impact: (r) => ms(r.minute) >= from && ms(r.minute) < to,
      journeys: (r) => ms(r.started_at) >= from && ms(r.last_at) < to,
    };
    for (const [t, inside] of Object.entries(inSpan) as [keyof typeof inSpan, (r: Row) => boolean][]) {
      const expected = [...live.tables[t].filter(inside), ...withR3.tables[t].filter((r) => !inside(r))];
      const sorted = (rows: Row[]) => rows.map((r) => JSON.stringify(r)).sort();
      expect(sorted(mixed.tables[t]), `--from/--to: ${t}`).toEqual(sorted(expected));
      expect(live.tables[t].filter(inside).length, `${t} has rows in the span`).toBeGreaterThan(0);
    }
    expect(mixed.customers).toEqual(withR3.customers);
    expect(mixed.partitions).toEqual(withR3.partitions);
  });

  it('hands over to the live processors: events after the cut are processed once, as a rebuild of everything has them', async () => {
    // The second half hour goes to Kafka only; the rebuild (r = 3, as the live processors will run) cuts at the end of the first.
    await simulate(secondStart, simSeed + 1);
    const r3 = { CX_BAD_MEMORY_FACTOR: '3' };
    const handing = await run(['rebuild'], r3);
    expect(handing.output.join('')).toMatch(/[\d,]+ message\(s\) in Kafka after the cut are theirs/);
    const cut = await dump();
    expectStateReplaced(cut, 'after the rebuild before the hand-over');
    // Two rebuilds of the same log with the same parameters: exactly the same, stool windows included.
    expectSame(cut, withR3, 'the rebuild before the hand-over');
    await run(['process', '--until-idle'], r3);
    const continued = await dump();

    await run(['rebuild'], r3);
    const everything = await dump();
    expectSame(continued, everything, 'live after the hand-over vs a rebuild of everything', TABLES, 'live');
    expect(continued.customers).toEqual(everything.customers);
    expect(clocks(continued)).toEqual(clocks(everything));

    // Counted independently in SQL over the raw events: every event once in the cells, every experience once in memory.
    const [raw] = await withStore((s) => s.query<{ events: string; experiences: string }>(
      `SELECT count() AS events, countIf(${X_SQL} IS NOT NULL) AS experiences FROM ${db}.touchpoint_events FINAL`,
    ));
    const cells = continued.tables.cell_minute.reduce((a, r) => a + Number(r.events), 0);
    expect(cells).toBe(Number(raw?.events));
    expect(continued.tables.customer_memory.length).toBe(Number(raw?.experiences));
    expect(Number(raw?.events)).toBeGreaterThan(cut.tables.cell_minute.reduce((a, r) => a + Number(r.events), 0));
  });
});
