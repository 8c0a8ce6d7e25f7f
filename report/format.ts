/**
 * How values read in the report, the way Grafana shows them: units, decimals, UTC
 * times, threshold and mapping colours. Pure.
 */
import type { FieldDisplay, ThresholdStep, ValueMapping } from './model.ts';

/** Escapes text for HTML and SVG, in element content and in quoted attributes alike. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `2024-05-01 12:30:00` (UTC). */
export function isoTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** `2024-05-01 12:30 UTC`. */
export function utcMinute(date: Date): string {
  return `${isoTime(date.getTime()).slice(0, 16)} UTC`;
}

/** Enough decimals to tell values of this size apart, when the panel says none. */
function autoDecimals(v: number): number {
  const a = Math.abs(v);
  if (a === 0 || Number.isInteger(v)) return 0;
  if (a >= 100) return 0;
  if (a >= 10) return 1;
  if (a >= 1) return 2;
  return Math.min(6, 2 - Math.floor(Math.log10(a)));
}

function fixed(v: number, decimals: number | undefined): string {
  const d = decimals ?? autoDecimals(v);
  const text = v.toFixed(Math.max(0, Math.min(20, d)));
  // Auto decimals drop trailing zeros; a panel's own decimals are kept as asked.
  const trimmed = decimals === undefined && text.includes('.') ? text.replace(/\.?0+$/, '') : text;
  return trimmed === '-0' ? '0' : trimmed;
}

/** Grafana's "short": K, Mil, Bil, Tri. */
function short(v: number, decimals: number | undefined): string {
  const a = Math.abs(v);
  for (const [size, suffix] of [[1e12, ' Tri'], [1e9, ' Bil'], [1e6, ' Mil'], [1e3, ' K']] as const) {
    if (a >= size) return `${fixed(v / size, decimals)}${suffix}`;
  }
  return fixed(v, decimals);
}

function duration(seconds: number, decimals: number | undefined): string {
  const a = Math.abs(seconds);
  if (a === 0) return '0 s';
  if (a < 1) return `${fixed(seconds * 1000, decimals)} ms`;
  if (a < 60) return `${fixed(seconds, decimals)} s`;
  if (a < 3600) return `${fixed(seconds / 60, decimals)} min`;
  if (a < 86_400) return `${fixed(seconds / 3600, decimals)} hour`;
  return `${fixed(seconds / 86_400, decimals)} day`;
}

/** A number in the panel's unit: `percentunit` 0.25 -> 25%, `short` 12300 -> 12.3 K, `s` 90 -> 1.5 min. */
export function formatNumber(v: number, unit: string | undefined, decimals?: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '∞' : '-∞';
  switch (unit) {
    case 'percentunit':
      return `${fixed(v * 100, decimals)}%`;
    case 'percent':
      return `${fixed(v, decimals)}%`;
    case 'short':
      return short(v, decimals);
    case 's':
      return duration(v, decimals);
    case 'ms':
      return Math.abs(v) < 1000 ? `${fixed(v, decimals)} ms` : duration(v / 1000, decimals);
    case 'reqps':
      return `${short(v, decimals)} req/s`;
    case 'dateTimeAsIso':
      return isoTime(v);
    default:
      return fixed(v, decimals);
  }
}

/** Any cell as text: numbers in the unit, times in UTC, null as an empty cell. */
export function formatCell(v: number | string | null, kind: 'number' | 'time' | 'string', field: Pick<FieldDisplay, 'unit' | 'decimals'>): string {
  if (v === null) return '';
  if (kind === 'time' && typeof v === 'number') return isoTime(v);
  if (typeof v === 'number') return formatNumber(v, field.unit, field.decimals);
  return v;
}

/** Grafana's named colours (its classic palette), so panels keep the colours their authors picked. */
const NAMED: Record<string, string> = {
  green: '#73BF69', 'dark-green': '#37872D', 'semi-dark-green': '#56A64B', 'light-green': '#96D98D', 'super-light-green': '#C8F2C2',
  yellow: '#FADE2A', 'dark-yellow': '#E0B400', 'semi-dark-yellow': '#F2CC0C', 'light-yellow': '#FFEE52', 'super-light-yellow': '#FFF899',
  red: '#F2495C', 'dark-red': '#C4162A', 'semi-dark-red': '#E02F44', 'light-red': '#FF7383', 'super-light-red': '#FFA6B0',
  blue: '#5794F2', 'dark-blue': '#1F60C4', 'semi-dark-blue': '#3274D9', 'light-blue': '#8AB8FF', 'super-light-blue': '#C0D8FF',
  orange: '#FF9830', 'dark-orange': '#FA6400', 'semi-dark-orange': '#FF780A', 'light-orange': '#FFB357', 'super-light-orange': '#FFCB7D',
  purple: '#B877D9', 'dark-purple': '#8F3BB8', 'semi-dark-purple': '#A352CC', 'light-purple': '#CA95E5', 'super-light-purple': '#DEB6F2',
  text: '#24292E', transparent: 'transparent',
};

const FALLBACK = '#8E8E8E';

/** A Grafana colour (a name like `green` or `dark-red`, or #hex, rgb()) as a CSS colour; anything else is grey. */
export function cssColor(color: string | undefined): string {
  if (!color) return FALLBACK;
  const c = color.trim();
  const named = NAMED[c.toLowerCase()];
  if (named) return named;
  if (/^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(c)) return c;
  if (/^rgba?\(\s*[\d.]+%?\s*,\s*[\d.]+%?\s*,\s*[\d.]+%?\s*(?:,\s*[\d.]+%?\s*)?\)$/i.test(c)) return c;
  return FALLBACK;
}

/**
 * The same colour, dark enough to read as text on white: Grafana's `dark-` shade of a
 * named colour (yellow text on white is unreadable), or the colour itself.
 */
export function textColor(color: string | undefined): string {
  const c = (color ?? '').trim().toLowerCase();
  const base = c.replace(/^(?:super-light|light|semi-dark|dark)-/, '');
  if (NAMED[`dark-${base}`]) return NAMED[`dark-${base}`] as string;
  return cssColor(color);
}

/** Black or white, whichever reads better on `background` (a CSS hex colour). */
export function contrastText(background: string): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(background);
  if (!m) return '#111';
  const [r, g, b] = m.slice(1).map((h) => {
    const s = parseInt(h, 16) / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.35 ? '#111' : '#fff';
}

/** The colour of the highest step at or below `v` (the base step counts from minus infinity), as Grafana picks it. */
export function thresholdColor(v: number, steps: readonly ThresholdStep[]): string | undefined {
  let color: string | undefined;
  for (const step of steps) if (step.value === null || v >= step.value) color = step.color;
  return color;
}

/** A value mapping's text and colour for `v`, if one applies (first match wins, as in Grafana). */
export function mapValue(v: number | string | null, mappings: readonly ValueMapping[]): { text?: string; color?: string } | undefined {
  for (const m of mappings) {
    if (m.type === 'null' && v === null) return m.result;
    if (v === null) continue;
    if (m.type === 'value' && Object.hasOwn(m.options, String(v))) return m.options[String(v)];
    if (m.type === 'range' && typeof v === 'number' && (m.from === null || v >= m.from) && (m.to === null || v <= m.to)) return m.result;
  }
  return undefined;
}

/** How a single number of a panel reads and is coloured: mapping first, then unit and thresholds. */
export function displayValue(v: number | string | null, kind: 'number' | 'time' | 'string', field: FieldDisplay): { text: string; color?: string } {
  const mapped = mapValue(v, field.mappings);
  const color = mapped?.color ?? (typeof v === 'number' && kind === 'number' ? thresholdColor(v, field.thresholds) : undefined);
  const text = mapped?.text ?? (v === null ? 'No value' : formatCell(v, kind, field));
  return color === undefined ? { text } : { text, color };
}
