/**
 * A query's rows read the way Grafana's ClickHouse plugin and panels read them: series
 * for a time series (wide, or long with a label column, pivoted), categories and bars
 * for a bar chart, one value per column for a stat or gauge. Pure.
 */
import { formatCell } from './format.ts';
import type { Cell, Column, QueryResult } from './model.ts';

export interface Series {
  name: string;
  /** [ms since the epoch, value], in time order. */
  points: [number, number | null][];
}

/**
 * Series from a time-series result: the first time column is the x; with string
 * columns, each distinct label (per numeric column) is a series, as the plugin pivots
 * long results; without, each numeric column is one. Null when there is no time column.
 */
export function timeSeries(result: QueryResult): Series[] | null {
  const t = result.columns.findIndex((c) => c.kind === 'time');
  if (t < 0) return null;
  const labels = result.columns.flatMap((c, i) => (c.kind === 'string' ? [i] : []));
  const values = result.columns.flatMap((c, i) => (c.kind === 'number' ? [i] : []));
  const series = new Map<string, Series>();
  for (const row of result.rows) {
    const time = row[t];
    if (typeof time !== 'number') continue;
    const label = labels.map((i) => (row[i] === null ? 'null' : String(row[i]))).join(' ');
    for (const v of values) {
      const column = (result.columns[v] as Column).name;
      const name = labels.length === 0 ? column : values.length > 1 ? `${column} ${label}` : label;
      let s = series.get(name);
      if (!s) series.set(name, (s = { name, points: [] }));
      const value = row[v];
      s.points.push([time, typeof value === 'number' && Number.isFinite(value) ? value : null]);
    }
  }
  for (const s of series.values()) s.points.sort((a, b) => a[0] - b[0]);
  return [...series.values()];
}

export interface Bars {
  categories: string[];
  series: { name: string; values: (number | null)[] }[];
}

const asNumber = (v: Cell | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * Bars from a table result: the first string (or time) column names the categories and
 * each numeric column is a bar. A single row without one (a bar gauge) makes each
 * numeric column a category. Null when nothing numeric is left to draw.
 */
export function bars(result: QueryResult): Bars | null {
  const numeric = result.columns.flatMap((c, i) => (c.kind === 'number' ? [i] : []));
  let x = result.columns.findIndex((c) => c.kind === 'string');
  if (x < 0) x = result.columns.findIndex((c) => c.kind === 'time');
  if (x < 0 && result.rows.length === 1 && numeric.length > 0) {
    const row = result.rows[0] as Cell[];
    return { categories: numeric.map((i) => (result.columns[i] as Column).name), series: [{ name: 'value', values: numeric.map((i) => asNumber(row[i])) }] };
  }
  // Without a label column, the first numeric column labels the rest (e.g. a length and its count).
  if (x < 0) x = numeric.shift() ?? -1;
  if (x < 0 || numeric.length === 0) return null;
  const xColumn = result.columns[x] as Column;
  return {
    categories: result.rows.map((r) => formatCell(r[x] ?? null, xColumn.kind, {}) || 'null'),
    series: numeric.map((i) => ({ name: (result.columns[i] as Column).name, values: result.rows.map((r) => asNumber(r[i])) })),
  };
}

export interface StatValue {
  name: string;
  value: Cell;
  kind: Column['kind'];
}

/**
 * One value per column, each column's last non-null value (Grafana's lastNotNull):
 * numbers and times, or, when the query returns neither, its text columns.
 */
export function statValues(result: QueryResult, numbersOnly = false): StatValue[] {
  const wanted = result.columns.flatMap((c, i) => (c.kind === 'number' || (!numbersOnly && c.kind === 'time') ? [i] : []));
  const picked = wanted.length > 0 || numbersOnly ? wanted : result.columns.map((_, i) => i);
  return picked.map((i) => {
    const column = result.columns[i] as Column;
    let value: Cell = null;
    for (const row of result.rows) if (row[i] !== null && row[i] !== undefined) value = row[i] as Cell;
    return { name: column.name, value, kind: column.kind };
  });
}
