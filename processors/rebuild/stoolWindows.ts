/**
 * The stool windows of a rebuild (docs/metrics.md, "Live: leg_consistency"), from the
 * per-minute cells summed over partitions, exactly as the live worker's stool does
 * (metricsWorker.ts, emitStool: the same query shape and the same fold, stoolWindow),
 * but over a whole span at once instead of as watermarks move.
 */
import type { Store } from '../../platform/clickhouse/store.ts';
import { stoolWindow, type Cell, type StoolWindowState } from '../folds/legConsistency.ts';
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
    const cells = await store.query<CellRow>(
      `SELECT toUnixTimestamp(minute) * 1000 AS minute_ms, leg, channel, touchpoint, sum(events) AS events, sum(n) AS n, sum(sum_x) AS sum_x, sum(sum_x2) AS sum_x2,
              sum(bad) AS bad, sum(good) AS good, sum(impressed) AS impressed
       FROM ${db}.${cellTable} FINAL
       WHERE minute >= {from:DateTime} AND minute < {until:DateTime}
       GROUP BY minute_ms, leg, channel, touchpoint
       ORDER BY minute_ms, leg, channel, touchpoint`,
      { from: chSeconds(m), until: chSeconds(until) },
    );
    const byMinute = new Map<number, Cell[]>();
    for (const c of cells) {
      const minute = Number(c.minute_ms);
      const cell: Cell = { leg: c.leg, channel: c.channel, touchpoint: c.touchpoint, events: Number(c.events), n: Number(c.n), sumX: Number(c.sum_x), sumX2: Number(c.sum_x2), bad: Number(c.bad), good: Number(c.good), impressed: Number(c.impressed) };
      const list = byMinute.get(minute);
      if (list) list.push(cell);
      else byMinute.set(minute, [cell]);
    }
    const rows: object[] = [];
    for (; m < until; m += MINUTE_MS) {
      const r = stoolWindow(state, { minute: m, cells: byMinute.get(m) ?? [] }, p);
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
