/**
 * The rebuild's own copies of the result tables (docs/metrics.md, "Rebuild from the
 * raw log"). Rebuilt rows go to `<table>__rebuild`; readers keep seeing the live
 * `<table>` until each is swapped in with one EXCHANGE TABLES (atomic per table in
 * ClickHouse's Atomic database engine, the default, chdb's too). A run that stops
 * midway leaves only these copies behind, and the next run drops them first.
 *
 * With a time range, the table swapped in is `<table>__swap`: the live rows outside
 * the range and the rebuilt rows inside it.
 */
import type { Store } from '../../platform/clickhouse/store.ts';
import type { ResultTable } from '../runtime/resultRows.ts';

/** Every table the metric folds and the live stool write (migrations 0002), in the order they are swapped. */
export const REBUILT_TABLES: readonly ResultTable[] = [
  'cell_minute', 'channel_transition_minute', 'department_impact', 'channel_drops', 'death_spirals',
  'customer_memory', 'journeys', 'late_events', 'leg_consistency',
];

export const stagingOf = (table: string) => `${table}__rebuild`;
export const swapOf = (table: string) => `${table}__swap`;
/** The raw rows being folded, copied once in event-time order. */
export const INPUT_TABLE = 'touchpoint_events__rebuild_input';

/** Event time of a row, per table: which rows a `--from/--to` range replaces. */
export interface Range {
  /** ms, inclusive; null: from the beginning. */
  from: number | null;
  /** ms, exclusive; null: to the end. */
  to: number | null;
}

const FROM = `fromUnixTimestamp64Milli({from:Int64}, 'UTC')`;
const TO = `fromUnixTimestamp64Milli({to:Int64}, 'UTC')`;

/** Rows of `table` inside the range, as SQL over its own columns. */
function inRange(table: ResultTable, r: Range): string {
  const parts: string[] = [];
  const since = (col: string) => r.from !== null && parts.push(`${col} >= ${FROM}`);
  const before = (col: string) => r.to !== null && parts.push(`${col} < ${TO}`);
  switch (table) {
    case 'cell_minute':
    case 'channel_transition_minute':
    case 'department_impact':
      since('minute');
      before('minute');
      break;
    case 'leg_consistency':
      // A window belongs to the minute it ends with: (window_end - 1 minute) in [from, to).
      if (r.from !== null) parts.push(`window_end > ${FROM}`);
      if (r.to !== null) parts.push(`window_end <= ${TO}`);
      break;
    case 'channel_drops':
    case 'customer_memory':
    case 'late_events':
      since('occurred_at');
      before('occurred_at');
      break;
    case 'journeys':
      // A journey or spiral is replaced only when it lies inside the range: one still going at `to` keeps its live row.
      since('started_at');
      before('last_at');
      break;
    case 'death_spirals':
      since('started_at');
      before('greatest(last_at, ifNull(closed_at, last_at))');
      break;
  }
  return parts.length ? parts.join(' AND ') : '1';
}

/** The key of a row that spans time: a rebuilt one is not taken where the live one with its key stays. */
const SPANNING_KEY: Partial<Record<ResultTable, string>> = {
  journeys: '(customer_id, journey_id, started_at)',
  death_spirals: '(customer_id, spiral_id)',
};

export const isFullRange = (r: Range) => r.from === null && r.to === null;

export class ShadowTables {
  constructor(private readonly store: Store) {}

  private get db() {
    return this.store.database;
  }

  /** Drops whatever an earlier run left behind, then makes empty staging copies of the live tables. */
  async prepare(): Promise<void> {
    await this.dropAll();
    for (const t of REBUILT_TABLES) await this.store.command(`CREATE TABLE ${this.db}.${stagingOf(t)} AS ${this.db}.${t}`);
  }

  async dropAll(): Promise<void> {
    for (const t of REBUILT_TABLES) {
      await this.store.command(`DROP TABLE IF EXISTS ${this.db}.${stagingOf(t)} SYNC`);
      await this.store.command(`DROP TABLE IF EXISTS ${this.db}.${swapOf(t)} SYNC`);
    }
    await this.store.command(`DROP TABLE IF EXISTS ${this.db}.${INPUT_TABLE} SYNC`);
  }

  /**
   * The table that will replace `table`: the staging copy itself for a full rebuild;
   * with a range, a new table holding the live rows outside it and the rebuilt rows inside it.
   */
  async assemble(table: ResultTable, range: Range): Promise<string> {
    if (isFullRange(range)) return stagingOf(table);
    const db = this.db;
    const inside = inRange(table, range);
    const params = { from: range.from ?? 0, to: range.to ?? 0 };
    await this.store.command(`DROP TABLE IF EXISTS ${db}.${swapOf(table)} SYNC`);
    await this.store.command(`CREATE TABLE ${db}.${swapOf(table)} AS ${db}.${table}`);
    await this.store.command(`INSERT INTO ${db}.${swapOf(table)} SELECT * FROM ${db}.${table} FINAL WHERE NOT (${inside})`, params);
    const key = SPANNING_KEY[table];
    const kept = key ? ` AND ${key} NOT IN (SELECT ${key} FROM ${db}.${table} FINAL WHERE NOT (${inside}))` : '';
    await this.store.command(`INSERT INTO ${db}.${swapOf(table)} SELECT * FROM ${db}.${stagingOf(table)} FINAL WHERE (${inside})${kept}`, params);
    return swapOf(table);
  }

  /** Swaps the assembled tables in, one EXCHANGE each; the old rows end up in the copies, dropped afterwards. */
  async swapIn(incoming: ReadonlyMap<ResultTable, string>): Promise<void> {
    for (const [table, replacement] of incoming) await this.store.command(`EXCHANGE TABLES ${this.db}.${table} AND ${this.db}.${replacement}`);
  }
}
