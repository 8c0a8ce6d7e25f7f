/**
 * The report's time range from the command line, and the interval a time series is
 * grouped by, picked the way Grafana picks it for a panel about 1000 px wide. Pure.
 */

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

const DAY_MS = 86_400_000;

const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/i;
const RELATIVE = /^(now)?-(\d+)([smhdw])$/i;

export class TimeRangeError extends Error {
  override name = 'TimeRangeError';
}

const FORMS = 'an ISO time (2024-05-01, 2024-05-01T12:00Z, 2024-05-01 12:00:00; UTC unless it has an offset), now, now-6h, or -6h / -7d (for --from: before --to; for --to: before now)';

/**
 * One time option. `-6h` counts back from `anchor` (--to, for --from), `now-6h` from now.
 * Units: s, m, h, d, w.
 */
export function parseTime(option: string, text: string, now: Date, anchor: Date = now): Date {
  const t = text.trim();
  if (t.toLowerCase() === 'now') return new Date(now);
  const rel = RELATIVE.exec(t);
  if (rel) {
    const back = Number(rel[2]) * (UNIT_MS[(rel[3] as string).toLowerCase()] as number);
    return new Date((rel[1] ? now : anchor).getTime() - back);
  }
  if (ISO.test(t)) {
    // No offset: UTC, like every time the report shows (Date.parse would take local time).
    const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(t) && t.length > 10;
    const normal = t.replace(' ', 'T');
    const ms = Date.parse(hasZone ? normal : t.length === 10 ? `${normal}T00:00:00Z` : `${normal}Z`);
    if (Number.isFinite(ms)) return new Date(ms);
  }
  throw new TimeRangeError(`${option} "${text}": expected ${FORMS}`);
}

export interface TimeRange {
  from: Date;
  to: Date;
}

/** --from and --to as given (either may be missing): --to defaults to now, --from to 24 hours before --to. */
export function resolveRange(opts: { from?: string; to?: string }, now: Date): TimeRange {
  const to = opts.to === undefined ? new Date(now) : parseTime('--to', opts.to, now);
  const from = opts.from === undefined ? new Date(to.getTime() - DAY_MS) : parseTime('--from', opts.from, now, to);
  if (from.getTime() >= to.getTime()) {
    throw new TimeRangeError(`--from ${from.toISOString()} is not before --to ${to.toISOString()}: the range is empty; give an earlier --from or a later --to`);
  }
  return { from, to };
}

/** Grafana's nice intervals: a raw interval up to `below` rounds to `to`. */
const NICE: [below: number, to: number][] = [
  [1_500, 1_000], [3_500, 2_000], [7_500, 5_000], [12_500, 10_000], [17_500, 15_000], [25_000, 20_000], [45_000, 30_000],
  [90_000, 60_000], [210_000, 120_000], [450_000, 300_000], [750_000, 600_000], [1_050_000, 900_000], [1_500_000, 1_200_000],
  [2_700_000, 1_800_000], [5_400_000, 3_600_000], [9_000_000, 7_200_000], [16_200_000, 10_800_000], [32_400_000, 21_600_000],
  [86_400_000, 43_200_000], [604_800_000, 86_400_000], [1_814_400_000, 604_800_000], [15_768_000_000, 2_592_000_000],
];

/** The interval ($__interval) for `maxDataPoints` points across the range, rounded to a nice one, at least `minMs`. */
export function intervalFor(range: TimeRange, maxDataPoints = 1000, minMs = 60_000): number {
  const raw = (range.to.getTime() - range.from.getTime()) / maxDataPoints;
  const nice = NICE.find(([below]) => raw < below)?.[1] ?? 31_536_000_000;
  return Math.max(minMs, nice);
}

/** `1m`, `10m`, `1h`, `1d`: an interval as Grafana writes it. */
export function intervalText(ms: number): string {
  for (const [unit, size] of [['w', UNIT_MS.w], ['d', UNIT_MS.d], ['h', UNIT_MS.h], ['m', UNIT_MS.m], ['s', UNIT_MS.s]] as [string, number][]) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
