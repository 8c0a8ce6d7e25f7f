/**
 * Charts as SVG strings: time series, bars, gauges, and the "no data" box. Pure: data
 * in, markup out, every text escaped. Sizes are SVG user units (px at 100%); the page
 * scales the SVG to its panel's width.
 */
import { escapeXml, formatNumber, isoTime, thresholdColor, cssColor } from './format.ts';
import type { Series } from './frames.ts';
import type { ThresholdStep } from './model.ts';

/** Okabe & Ito's colour-blind-safe palette (its yellow left out: unreadable on white), then again with dashes. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#000000'] as const;
const DASHES = ['', '7 3', '2 2', '9 3 2 3'] as const;

export function seriesStyle(i: number): { color: string; dash: string } {
  return { color: PALETTE[i % PALETTE.length] as string, dash: DASHES[Math.floor(i / PALETTE.length) % DASHES.length] as string };
}

const FONT = 11;
const AXIS = '#5a6270';
const GRID = '#e3e6ea';

/** Width of a character in ems, roughly, in common sans-serif fonts: capitals are wide, i, l and punctuation narrow. */
function charEm(ch: string): number {
  if (/[MW%@]/.test(ch)) return 0.86;
  if (/[A-Z&]/.test(ch)) return 0.7;
  if (/[ijlt.,:;'|!() ]/.test(ch)) return 0.32;
  if (/[fr\-]/.test(ch)) return 0.4;
  if (/[mw]/.test(ch)) return 0.86;
  return 0.58;
}

/** Rough width of text in the chart font: enough to lay out labels without a browser. */
export const textWidth = (text: string, size = FONT) => [...text].reduce((sum, ch) => sum + charEm(ch), 0) * size;

/** Coordinates with one decimal, no trailing zeros. */
export const n = (v: number) => String(Math.round(v * 10) / 10);

function truncate(text: string, width: number, size = FONT): string {
  if (textWidth(text, size) <= width) return text;
  const chars = [...text];
  while (chars.length > 2 && textWidth(`${chars.join('')}…`, size) > width) chars.pop();
  return `${chars.join('')}…`;
}

function open(width: number, height: number, label: string, cls: string): string {
  return `<svg class="chart ${cls}" viewBox="0 0 ${n(width)} ${n(height)}" width="${n(width)}" height="${n(height)}" role="img" aria-label="${escapeXml(label)}" font-size="${FONT}">`;
}

/** The explicit empty state: a dashed box saying there is nothing to draw (never a blank space). */
export function noDataSvg(width: number, height: number, message = 'No data in this range'): string {
  const h = Math.max(60, height);
  return (
    `${open(width, h, message, 'no-data')}<rect class="no-data-box" x="1" y="1" width="${n(width - 2)}" height="${n(h - 2)}" rx="4" fill="#f6f7f9" stroke="#b9bec6" stroke-dasharray="5 4"/>` +
    `<text x="${n(width / 2)}" y="${n(h / 2 + 5)}" text-anchor="middle" font-size="14" fill="${AXIS}">${escapeXml(message)}</text></svg>`
  );
}

/** A nice step (1, 2 or 5 times a power of ten) for about `count` ticks across `span`. */
export function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

/** Decimals that tell ticks `step` apart. */
const stepDecimals = (step: number) => Math.max(0, -Math.floor(Math.log10(step) + 1e-9));

interface Domain {
  lo: number;
  hi: number;
  ticks: number[];
  decimals: number;
}

/** The value axis: the panel's min/max where set, else the data's extent rounded out to nice ticks. */
export function valueDomain(values: number[], o: { min?: number; max?: number; count: number; zero?: boolean; unit?: string }): Domain {
  let lo = o.min ?? Math.min(...values, ...(o.zero ? [0] : []));
  let hi = o.max ?? Math.max(...values, ...(o.zero ? [0] : []));
  if (!Number.isFinite(lo)) lo = o.max !== undefined ? Math.min(0, o.max - 1) : 0;
  if (!Number.isFinite(hi)) hi = lo + 1;
  if (hi <= lo) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    if (o.min === undefined) lo -= pad;
    if (o.max === undefined || hi <= lo) hi = lo + 2 * pad;
  }
  const step = niceStep(hi - lo, o.count);
  if (o.min === undefined) lo = Math.floor(lo / step + 1e-9) * step;
  if (o.max === undefined) hi = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  // percentunit shows values x100, so its ticks need two decimals fewer.
  const decimals = Math.max(0, stepDecimals(step) - (o.unit === 'percentunit' ? 2 : 0));
  return { lo, hi, ticks, decimals };
}

const MINUTE = 60_000;
const TIME_STEPS = [MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, 60 * MINUTE, 120 * MINUTE, 180 * MINUTE, 360 * MINUTE, 720 * MINUTE, 1440 * MINUTE, 2880 * MINUTE, 10_080 * MINUTE, 20_160 * MINUTE, 43_200 * MINUTE];

/** Time ticks in UTC at round multiples of a step that leaves room for the labels. */
export function timeTicks(from: number, to: number, plotWidth: number): { ticks: number[]; label: (t: number) => string } {
  const span = to - from;
  const format = (step: number) => (t: number) => {
    const iso = isoTime(t);
    // Dates at day steps and at midnight, so a range across days says which day is which.
    if (step >= 1440 * MINUTE || t % (1440 * MINUTE) === 0) return iso.slice(5, 10);
    return span > 1440 * MINUTE ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
  };
  let step = TIME_STEPS[TIME_STEPS.length - 1] as number;
  for (const s of TIME_STEPS) {
    const labelWidth = textWidth(format(s)(from)) + 28;
    if (span / s <= plotWidth / labelWidth) {
      step = s;
      break;
    }
  }
  const ticks: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) ticks.push(t);
  return { ticks, label: format(step) };
}

interface LegendItem {
  name: string;
  color: string;
  dash: string;
  /** A line sample (series) or a filled square (bars). */
  swatch: 'line' | 'box';
}

/** Legend items flowed left to right in rows under the plot; returns its markup and height. */
function legend(items: LegendItem[], x0: number, y0: number, width: number): { svg: string; height: number } {
  if (items.length === 0) return { svg: '', height: 0 };
  const rowHeight = 16;
  let x = x0;
  let y = y0 + 11;
  const parts: string[] = [];
  for (const item of items) {
    const label = truncate(item.name, width - 30);
    const w = 22 + textWidth(label) + 14;
    if (x > x0 && x + w > x0 + width) {
      x = x0;
      y += rowHeight;
    }
    const swatch =
      item.swatch === 'line'
        ? `<line x1="${n(x)}" y1="${n(y - 4)}" x2="${n(x + 16)}" y2="${n(y - 4)}" stroke="${item.color}" stroke-width="2.5"${item.dash ? ` stroke-dasharray="${item.dash}"` : ''}/>`
        : `<rect x="${n(x + 3)}" y="${n(y - 9)}" width="10" height="10" fill="${item.color}"/>`;
    parts.push(`<g class="legend-item">${swatch}<text x="${n(x + 21)}" y="${n(y)}" fill="#1f2328">${escapeXml(label)}</text></g>`);
    x += w;
  }
  return { svg: `<g class="legend">${parts.join('')}</g>`, height: y - y0 + 6 };
}

/** Legend height without drawing it, to size the plot above it. */
const legendHeight = (items: LegendItem[], width: number) => legend(items, 0, 0, width).height;

export interface TimeSeriesChart {
  series: Series[];
  /** The report's range: the x axis spans it, as Grafana's does. */
  from: number;
  to: number;
  width: number;
  height: number;
  unit?: string;
  decimals?: number;
  min?: number;
  max?: number;
  /** Threshold steps drawn as dashed lines (the base step, value null, has no line). */
  thresholds?: ThresholdStep[];
  title?: string;
}

/**
 * Lines over time. A null value breaks its line (Grafana's spanNulls off); a point with
 * no neighbour is a dot. Values beyond a fixed min/max are pinned to the plot's edge.
 */
export function timeSeriesSvg(c: TimeSeriesChart): string {
  const drawn = c.series.filter((s) => s.points.some(([, v]) => v !== null));
  if (drawn.length === 0) return noDataSvg(c.width, c.height);
  const values = drawn.flatMap((s) => s.points.flatMap(([, v]) => (v === null ? [] : [v])));
  const items: LegendItem[] = drawn.map((s, i) => ({ name: s.name, ...seriesStyle(i), swatch: 'line' }));
  const legendH = legendHeight(items, c.width - 20);
  const height = Math.max(c.height, legendH + 150);
  const top = 10;
  const bottom = height - legendH - 26;
  const y = valueDomain(values, { ...(c.min !== undefined && { min: c.min }), ...(c.max !== undefined && { max: c.max }), count: Math.max(2, Math.floor((bottom - top) / 34)), ...(c.unit && { unit: c.unit }) });
  const yLabel = (v: number) => formatNumber(v, c.unit, c.decimals !== undefined ? Math.min(c.decimals, y.decimals) : y.decimals);
  const left = Math.max(30, Math.ceil(Math.max(...y.ticks.map((t) => textWidth(yLabel(t))))) + 12);
  const right = c.width - 20;
  const sx = (t: number) => left + ((t - c.from) / (c.to - c.from)) * (right - left);
  const sy = (v: number) => {
    const clamped = Math.min(y.hi, Math.max(y.lo, v));
    return bottom - ((clamped - y.lo) / (y.hi - y.lo)) * (bottom - top);
  };

  const out: string[] = [open(c.width, height, c.title ?? 'time series', 'timeseries')];
  out.push(`<rect class="plot-area" x="${n(left)}" y="${n(top)}" width="${n(right - left)}" height="${n(bottom - top)}" fill="#fff" stroke="${GRID}"/>`);
  out.push('<g class="y-axis">');
  for (const t of y.ticks) {
    out.push(`<line x1="${n(left)}" x2="${n(right)}" y1="${n(sy(t))}" y2="${n(sy(t))}" stroke="${GRID}"/>`);
    out.push(`<text x="${n(left - 6)}" y="${n(sy(t) + 4)}" text-anchor="end" fill="${AXIS}">${escapeXml(yLabel(t))}</text>`);
  }
  out.push('</g><g class="x-axis">');
  const x = timeTicks(c.from, c.to, right - left);
  for (const t of x.ticks) {
    out.push(`<line x1="${n(sx(t))}" x2="${n(sx(t))}" y1="${n(top)}" y2="${n(bottom + 4)}" stroke="${GRID}"/>`);
    // Centred on its tick, unless that would push it past the plot's left edge (into "UTC") or the chart's right edge.
    const half = textWidth(x.label(t)) / 2;
    const anchor = sx(t) - half < left - 2 ? 'start' : sx(t) + half > c.width - 2 ? 'end' : 'middle';
    out.push(`<text x="${n(sx(t))}" y="${n(bottom + 16)}" text-anchor="${anchor}" fill="${AXIS}">${escapeXml(x.label(t))}</text>`);
  }
  // Under the value labels, where no time label can collide with it.
  out.push(`<text x="${n(left - 6)}" y="${n(bottom + 16)}" text-anchor="end" fill="${AXIS}" font-size="9">UTC</text></g>`);

  for (const step of c.thresholds ?? []) {
    if (step.value === null || step.value < y.lo || step.value > y.hi) continue;
    const color = cssColor(step.color);
    out.push(
      `<line class="threshold" x1="${n(left)}" x2="${n(right)}" y1="${n(sy(step.value))}" y2="${n(sy(step.value))}" stroke="${color}" stroke-width="1.5" stroke-dasharray="6 4">` +
        `<title>threshold ${escapeXml(formatNumber(step.value, c.unit, c.decimals))}</title></line>`,
    );
  }

  drawn.forEach((s, i) => {
    const { color, dash } = seriesStyle(i);
    const segments: [number, number][][] = [[]];
    for (const [t, v] of s.points) {
      if (v === null) segments.push([]);
      else (segments[segments.length - 1] as [number, number][]).push([sx(t), sy(v)]);
    }
    out.push(`<g class="series" data-series="${escapeXml(s.name)}"><title>${escapeXml(s.name)}</title>`);
    for (const seg of segments) {
      if (seg.length === 1) out.push(`<circle cx="${n((seg[0] as [number, number])[0])}" cy="${n((seg[0] as [number, number])[1])}" r="2.5" fill="${color}"/>`);
      if (seg.length > 1) {
        out.push(
          `<polyline points="${seg.map(([px, py]) => `${n(px)},${n(py)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
        );
      }
    }
    out.push('</g>');
  });
  out.push(legend(items, 10, bottom + 24, c.width - 20).svg, '</svg>');
  return out.join('');
}

export interface BarChart {
  categories: string[];
  series: { name: string; values: (number | null)[] }[];
  width: number;
  height: number;
  horizontal?: boolean;
  unit?: string;
  decimals?: number;
  min?: number;
  max?: number;
  /** Colour each bar by these thresholds (a bar gauge) instead of by series. */
  thresholds?: ThresholdStep[];
  title?: string;
}

/** Grouped bars per category, from zero, with their values written beside them where they fit. */
export function barChartSvg(c: BarChart): string {
  const values = c.series.flatMap((s) => s.values.flatMap((v) => (v === null ? [] : [v])));
  if (c.categories.length === 0 || values.length === 0) return noDataSvg(c.width, c.height);
  const byThreshold = (c.thresholds ?? []).length > 0;
  const items: LegendItem[] = c.series.length > 1 && !byThreshold ? c.series.map((s, i) => ({ name: s.name, color: seriesStyle(i).color, dash: '', swatch: 'box' })) : [];
  const legendH = legendHeight(items, c.width - 20);
  const m = c.series.length;
  const label = (v: number) => formatNumber(v, c.unit, c.decimals);
  const colorOf = (si: number, v: number) => (byThreshold ? cssColor(thresholdColor(v, c.thresholds ?? [])) : seriesStyle(si).color);
  const out: string[] = [];
  const bar = (x: number, y: number, w: number, h: number, color: string, tip: string) =>
    `<rect class="bar" x="${n(x)}" y="${n(y)}" width="${n(Math.max(0.5, w))}" height="${n(Math.max(0.5, h))}" fill="${color}"><title>${escapeXml(tip)}</title></rect>`;
  const tip = (ci: number, si: number, v: number) => `${c.categories[ci]}${m > 1 ? ` · ${c.series[si]?.name}` : ''}: ${label(v)}`;

  if (c.horizontal) {
    const rowH = 18 * m + 8;
    const height = Math.max(c.height, c.categories.length * rowH + legendH + 40);
    const top = 8;
    const bottom = height - legendH - 26;
    const left = Math.min(c.width * 0.4, Math.max(...c.categories.map((s) => textWidth(s))) + 14);
    const right = c.width - 14;
    const d = valueDomain(values, { ...(c.min !== undefined && { min: c.min }), ...(c.max !== undefined && { max: c.max }), count: Math.max(2, Math.floor((right - left) / 90)), zero: true, ...(c.unit && { unit: c.unit }) });
    const sx = (v: number) => left + ((Math.min(d.hi, Math.max(d.lo, v)) - d.lo) / (d.hi - d.lo)) * (right - left);
    const band = (bottom - top) / c.categories.length;
    out.push(open(c.width, height, c.title ?? 'bar chart', 'barchart horizontal'));
    out.push(`<rect class="plot-area" x="${n(left)}" y="${n(top)}" width="${n(right - left)}" height="${n(bottom - top)}" fill="#fff" stroke="${GRID}"/>`);
    out.push('<g class="x-axis">');
    for (const t of d.ticks) {
      out.push(`<line x1="${n(sx(t))}" x2="${n(sx(t))}" y1="${n(top)}" y2="${n(bottom + 4)}" stroke="${GRID}"/>`);
      out.push(`<text x="${n(sx(t))}" y="${n(bottom + 16)}" text-anchor="middle" fill="${AXIS}">${escapeXml(formatNumber(t, c.unit, d.decimals))}</text>`);
    }
    out.push('</g>');
    const barH = Math.min(22, (band * 0.8) / m);
    c.categories.forEach((cat, ci) => {
      const y0 = top + ci * band + (band - barH * m) / 2;
      out.push(`<text x="${n(left - 6)}" y="${n(top + ci * band + band / 2 + 4)}" text-anchor="end" fill="#1f2328">${escapeXml(truncate(cat, left - 10))}<title>${escapeXml(cat)}</title></text>`);
      c.series.forEach((s, si) => {
        const v = s.values[ci];
        if (v === null || v === undefined) return;
        const x0 = sx(0);
        const x1 = sx(v);
        out.push(bar(Math.min(x0, x1), y0 + si * barH, Math.abs(x1 - x0), barH - 1, colorOf(si, v), tip(ci, si, v)));
        // The value beyond the bar's end (right of a positive bar, left of a negative one), or inside it where there is no room.
        const text = label(v);
        const w = textWidth(text, 10) + 4;
        const outside = v >= 0 ? x1 + w <= right : x1 - w >= left;
        const lx = v >= 0 === outside ? x1 + 4 : x1 - 4;
        const anchor = v >= 0 === outside ? 'start' : 'end';
        if (barH >= 9) out.push(`<text x="${n(lx)}" y="${n(y0 + si * barH + barH / 2 + 3.5)}" text-anchor="${anchor}" fill="${outside ? '#1f2328' : '#fff'}" font-size="10">${escapeXml(text)}</text>`);
      });
    });
    out.push(`<line x1="${n(sx(0))}" x2="${n(sx(0))}" y1="${n(top)}" y2="${n(bottom)}" stroke="${AXIS}"/>`);
    out.push(legend(items, 10, bottom + 24, c.width - 20).svg, '</svg>');
    return out.join('');
  }

  const height = Math.max(c.height, legendH + 150);
  const top = 16;
  const bottom = height - legendH - 26;
  const d = valueDomain(values, { ...(c.min !== undefined && { min: c.min }), ...(c.max !== undefined && { max: c.max }), count: Math.max(2, Math.floor((bottom - top) / 34)), zero: true, ...(c.unit && { unit: c.unit }) });
  const left = Math.ceil(Math.max(...d.ticks.map((t) => textWidth(formatNumber(t, c.unit, d.decimals))))) + 12;
  const right = c.width - 14;
  const sy = (v: number) => bottom - ((Math.min(d.hi, Math.max(d.lo, v)) - d.lo) / (d.hi - d.lo)) * (bottom - top);
  const band = (right - left) / c.categories.length;
  const barW = Math.min(60, (band * 0.75) / m);
  out.push(open(c.width, height, c.title ?? 'bar chart', 'barchart'));
  out.push(`<rect class="plot-area" x="${n(left)}" y="${n(top)}" width="${n(right - left)}" height="${n(bottom - top)}" fill="#fff" stroke="${GRID}"/>`);
  out.push('<g class="y-axis">');
  for (const t of d.ticks) {
    out.push(`<line x1="${n(left)}" x2="${n(right)}" y1="${n(sy(t))}" y2="${n(sy(t))}" stroke="${GRID}"/>`);
    out.push(`<text x="${n(left - 6)}" y="${n(sy(t) + 4)}" text-anchor="end" fill="${AXIS}">${escapeXml(formatNumber(t, c.unit, d.decimals))}</text>`);
  }
  out.push('</g>');
  c.categories.forEach((cat, ci) => {
    const x0 = left + ci * band + (band - barW * m) / 2;
    out.push(`<text x="${n(left + ci * band + band / 2)}" y="${n(bottom + 16)}" text-anchor="middle" fill="#1f2328">${escapeXml(truncate(cat, band - 4))}<title>${escapeXml(cat)}</title></text>`);
    c.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === null || v === undefined) return;
      const y0 = sy(0);
      const y1 = sy(v);
      out.push(bar(x0 + si * barW, Math.min(y0, y1), barW - 1, Math.abs(y1 - y0), colorOf(si, v), tip(ci, si, v)));
      const text = label(v);
      // Above a positive bar, below a negative one.
      if (textWidth(text, 10) <= barW + 4) out.push(`<text x="${n(x0 + si * barW + barW / 2)}" y="${n(v >= 0 ? y1 - 3 : y1 + 11)}" text-anchor="middle" fill="#1f2328" font-size="10">${escapeXml(text)}</text>`);
    });
  });
  out.push(`<line x1="${n(left)}" x2="${n(right)}" y1="${n(sy(0))}" y2="${n(sy(0))}" stroke="${AXIS}"/>`);
  out.push(legend(items, 10, bottom + 24, c.width - 20).svg, '</svg>');
  return out.join('');
}

export interface GaugeChart {
  values: { name: string; value: number | null; text: string; color?: string }[];
  width: number;
  height: number;
  min: number;
  max: number;
  thresholds: ThresholdStep[];
  title?: string;
}

const SWEEP = 240;
const START = 150;

function polar(cx: number, cy: number, r: number, deg: number): [number, number] {
  const a = (deg * Math.PI) / 180;
  return [cx + r * Math.cos(a), cy + r * Math.sin(a)];
}

function arc(cx: number, cy: number, r: number, from: number, to: number): string {
  const [x0, y0] = polar(cx, cy, r, from);
  const [x1, y1] = polar(cx, cy, r, to);
  return `M ${n(x0)} ${n(y0)} A ${n(r)} ${n(r)} 0 ${to - from > 180 ? 1 : 0} 1 ${n(x1)} ${n(y1)}`;
}

/** One arc per value, side by side: the value's share of min..max in its threshold colour, the steps as an outer band. */
export function gaugeSvg(c: GaugeChart): string {
  if (c.values.length === 0) return noDataSvg(c.width, c.height);
  const cellW = c.width / c.values.length;
  const named = c.values.length > 1;
  const r = Math.max(20, Math.min(cellW / 2 - 16, (c.height - (named ? 34 : 16)) / 1.55));
  const thick = r * 0.2;
  const cy = 12 + r + 6;
  const span = c.max - c.min || 1;
  const angle = (v: number) => START + (Math.min(1, Math.max(0, (v - c.min) / span)) * SWEEP);
  const out: string[] = [open(c.width, c.height, c.title ?? 'gauge', 'gauge')];
  c.values.forEach((g, i) => {
    const cx = cellW * i + cellW / 2;
    out.push(`<g class="gauge-item"><title>${escapeXml(`${g.name}: ${g.text}`)}</title>`);
    out.push(`<path d="${arc(cx, cy, r, START, START + SWEEP)}" fill="none" stroke="#e6e8eb" stroke-width="${n(thick)}"/>`);
    const steps = c.thresholds;
    steps.forEach((s, si) => {
      const lo = s.value === null ? c.min : Math.max(c.min, s.value);
      const next = steps[si + 1]?.value;
      const hi = next === undefined || next === null ? c.max : Math.min(c.max, next);
      if (hi > lo) out.push(`<path class="threshold-band" d="${arc(cx, cy, r + thick / 2 + 4, angle(lo), angle(hi))}" fill="none" stroke="${cssColor(s.color)}" stroke-width="4"/>`);
    });
    if (g.value !== null && g.value > c.min) {
      out.push(`<path class="gauge-value" d="${arc(cx, cy, r, START, angle(g.value))}" fill="none" stroke="${cssColor(g.color)}" stroke-width="${n(thick)}"/>`);
    }
    out.push(`<text x="${n(cx)}" y="${n(cy + r * 0.16)}" text-anchor="middle" font-size="${n(Math.max(12, r * 0.42))}" font-weight="600" fill="#1f2328">${escapeXml(g.text)}</text>`);
    if (named) out.push(`<text x="${n(cx)}" y="${n(cy + r * 0.62 + 14)}" text-anchor="middle" font-size="12" fill="${AXIS}">${escapeXml(truncate(g.name, cellW - 8, 12))}</text>`);
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('');
}
