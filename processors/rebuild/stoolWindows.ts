/**
 * The stool windows of a rebuild (docs/metrics.md, "Live: leg_consistency"), from the
 * per-minute cells summed over partitions, as the live worker's stool does
 * (metricsWorker.ts, emitStool: the same cells and the same fold, stoolWindow), but
 * over a whole span at once instead of as watermarks move.
 *
 * One difference: the partitions' cells of a minute are added up here, in partition
 * order, not by ClickHouse's sum(), whose order follows its threads and parts. Float
 * addition depends on order, so a sum() over the same rows can differ in the last bit
 * from one query to the next; a rebuild must give the same windows every time.
 */
import type { Store } from '../../platform/clickhouse/store.ts';
import { cellKey, emptyAggregate, mergeInto, stoolWindow, type Cell, type StoolWindowState } from '../folds/legConsistency.ts';
import { DAY_MS, MINUTE_MS, type MetricParams } from '../params.ts';
import { chTime } from '../runtime/rawRows.ts';
import { legConsistencyRows } from '../runtime/resultRows.ts';

type CellRow = {
  minute_ms: number | string; leg: Cell['leg']; channel: string; touchpoint: string; events: number | string; n: number | string;
  sum_x: number; sum_x2: number; bad: number | string; good: number | string; impressed: number | string;
};

const chSeconds = (ms: number) => chTime(ms).slice(0, 19);

export interface StoolSpan {
  /** First minute whose window is written (ms, a whole minute); null: from the first cell. */
  fromMinute: number | null;
  /** Windows are written for minutes before this (ms, a whole minute): the lowest watermark's minute. */
  untilMinute: number;
}

/**
 * Writes into `target` the window ending with each minute m of the span (the window
 * [m + 1 min - W, m + 1 min)), from the cells of `cellTable`; returns the windows written.
 */
export async function writeStoolWindows(store: Store, cellTable: string, target: string, p: MetricParams, span: StoolSpan, token: string): Promise<number> {
  const db = store.database;
  const windowMs = p.windowMinutes * MINUTE_MS;
  const nextCellMinute = async (from: number): Promise<number | null> => {
    const [r] = await store.query<{ m: number | string; c: number | string }>(
      `SELECT toUnixTimestamp(min(minute)) * 1000 AS m, count() AS c FROM ${db}.${cellTable} WHERE minute >= {from:DateTime} AND minute < {until:DateTime}`,
      { from: chSeconds(Math.max(0, from)), until: chSeconds(span.untilMinute) },
    );
    return r && Number(r.c) > 0 ? Number(r.m) : null;
  };
  // The first window needs the W - 1 minutes before it.
  const first = await nextCellMinute(span.fromMinute === null ? 0 : span.fromMinute - windowMs + MINUTE_MS);
  if (first === null) return 0;
  const emitFrom = span.fromMinute ?? first;

  let state: StoolWindowState | undefined;
  let windows = 0;
  let batch = 0;
  let m = first;
  while (m < span.untilMinute) {
    const until = Math.min(span.untilMinute, m + DAY_MS);
    const parts = await store.query<CellRow>(
      `SELECT toUnixTimestamp(minute) * 1000 AS minute_ms, leg, channel, touchpoint, events, n, sum_x, sum_x2, bad, good, impressed
       FROM ${db}.${cellTable} FINAL
       WHERE minute >= {from:DateTime} AND minute < {until:DateTime}
       ORDER BY minute, leg, channel, touchpoint, source_partition`,
      { from: chSeconds(m), until: chSeconds(until) },
    );
    const byMinute = new Map<number, Map<string, Cell>>();
    for (const c of parts) {
      const minute = Number(c.minute_ms);
      const cells = byMinute.get(minute) ?? new Map<string, Cell>();
      byMinute.set(minute, cells);
      const key = cellKey(c);
      const cell = cells.get(key) ?? { leg: c.leg, channel: c.channel, touchpoint: c.touchpoint, ...emptyAggregate() };
      cells.set(key, cell);
      mergeInto(cell, { events: Number(c.events), n: Number(c.n), sumX: Number(c.sum_x), sumX2: Number(c.sum_x2), bad: Number(c.bad), good: Number(c.good), impressed: Number(c.impressed) });
    }
    const rows: object[] = [];
    for (; m < until; m += MINUTE_MS) {
      const r = stoolWindow(state, { minute: m, cells: [...(byMinute.get(m)?.values() ?? [])] }, p);
      state = r.state;
      if (m >= emitFrom && r.out) {
        rows.push(...legConsistencyRows(r.out));
        windows++;
      }
    }
    if (rows.length) await store.insert(`${db}.${target}`, rows, `${token}:leg_consistency:${batch++}`);
    // A stretch without cells has no windows once the last window holding experiences has passed: skip to the next cells.
    let lastWithCells = Number.NEGATIVE_INFINITY;
    for (const x of state?.minutes ?? []) if (x.cells.length > 0) lastWithCells = x.minute;
    if (m - lastWithCells >= windowMs) {
      const next = await nextCellMinute(m);
      if (next === null) break;
      m = next;
      state = undefined;
    }
  }
  return windows;
}
