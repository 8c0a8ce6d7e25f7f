/**
 * ClickHouse's columns and values, as the report keeps them: a kind per type (number,
 * time, text), and values of the JSON output format as numbers, ms since the epoch, or
 * text. 64-bit integers arrive as strings from a server; DateTime arrives as text in the
 * column's time zone, or the server's. Pure.
 */
import type { Cell, Column, ColumnKind } from './model.ts';

/** The column's kind from its ClickHouse type, through Nullable and LowCardinality. */
export function columnKind(type: string): ColumnKind {
  const inner = type.replace(/^(?:(?:Nullable|LowCardinality)\()+/, '');
  if (/^(?:U?Int\d+|Float\d+|Decimal|Bool)/.test(inner)) return 'number';
  if (/^(?:DateTime|Date)/.test(inner)) return 'time';
  return 'string';
}

/** The time zone a DateTime column's text is in: its own, or the server's. */
function columnZone(type: string, serverZone: string): string {
  return /DateTime(?:64)?\((?:\s*\d+\s*,)?\s*'([^']+)'/.exec(type)?.[1] ?? serverZone;
}

/** Offset of `zone` from UTC at an instant, in ms. */
function zoneOffsetMs(zone: string, instant: number): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
      .formatToParts(new Date(instant))
      .map((p) => [p.type, Number(p.value)]),
  ) as Record<string, number>;
  const asUtc = Date.UTC(parts.year as number, (parts.month as number) - 1, parts.day, parts.hour, parts.minute, parts.second);
  return asUtc - Math.floor(instant / 1000) * 1000;
}

const UTC_ZONES = new Set(['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT', 'Universal', 'Zulu']);

/** ClickHouse's text for a Date or DateTime ("2024-05-01 12:00:00.123") in `zone`, as ms since the epoch. */
export function parseClickHouseTime(text: string, zone: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?)?/.exec(text);
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = ''] = m;
  const naive = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) + Math.round(Number(`0${frac}`) * 1000);
  if (!m[4] || UTC_ZONES.has(zone)) return naive;
  // The offset at the local time's own instant: step once from a first guess, right across DST changes.
  const guess = naive - zoneOffsetMs(zone, naive);
  return naive - zoneOffsetMs(zone, guess);
}

/** A value of the JSON output format as the report keeps it: a number, ms since the epoch, or text. */
export function cellValue(value: unknown, column: Column, serverZone: string): Cell {
  if (value === null || value === undefined) return null;
  if (column.kind === 'number') {
    if (typeof value === 'boolean') return value ? 1 : 0;
    const v = Number(value);
    return Number.isFinite(v) ? v : null;
  }
  if (column.kind === 'time') {
    if (typeof value === 'number') return value < 1e11 ? value * 1000 : value;
    return parseClickHouseTime(String(value), columnZone(column.type, serverZone));
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}
