/**
 * The HTML report's pure parts: reading a dashboard model, shaping query results as
 * Grafana does, drawing SVG charts on known axes, formatting, the time range, and a page
 * that loads nothing from anywhere. (The real dashboard, run over a simulated run and
 * rendered in Chromium, is tests/integration/report.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { dashboardModels } from '../../dashboards/build.ts';
import { loadConfig } from '../../platform/config.ts';
import { cellValue, columnKind, parseClickHouseTime } from '../../report/columns.ts';
import { barChartSvg, gaugeSvg, noDataSvg, PALETTE, timeSeriesSvg, valueDomain } from '../../report/charts.ts';
import { displayValue, escapeXml, formatNumber, thresholdColor } from '../../report/format.ts';
import { bars, statValues, timeSeries } from '../../report/frames.ts';
import { readDashboard } from '../../report/layout.ts';
import type { Column, PanelReport, QueryResult, ReportModel } from '../../report/model.ts';
import { intervalFor, parseTime, resolveRange, TimeRangeError } from '../../report/range.ts';
import { renderReport } from '../../report/render.ts';

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const MIN = 60_000;

const col = (name: string, kind: Column['kind'], type = kind === 'time' ? "DateTime('UTC')" : kind === 'number' ? 'Float64' : 'String'): Column => ({ name, type, kind });

/** Attributes of the first element `tag` with class `cls`. */
function element(svg: string, tag: string, cls?: string): Record<string, string> {
  const re = new RegExp(`<${tag}\\b([^>]*${cls ? `class="${cls}"` : ''}[^>]*)>`);
  const m = re.exec(svg);
  if (!m) throw new Error(`no <${tag}${cls ? ` class="${cls}"` : ''}> in ${svg.slice(0, 300)}`);
  return Object.fromEntries([...(m[1] as string).matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]]));
}

const polylines = (svg: string) => [...svg.matchAll(/<polyline points="([^"]*)"/g)].map((m) => m[1] as string);
const r1 = (v: number) => String(Math.round(v * 10) / 10);

/** A dashboard model of the shape @grafana/grafana-foundation-sdk builds (hand-written, trimmed to what the report reads). */
const fixture = {
  uid: 'fixture',
  title: 'Fixture <board>',
  description: 'A board for tests',
  templating: {
    list: [
      { type: 'custom', name: 'leg', label: 'Leg', includeAll: true, multi: true, query: 'PRODUCT,OPERATIONS,SALES_MARKETING', current: { text: 'All', value: '$__all' } },
      { type: 'query', name: 'department', includeAll: true, query: 'SELECT DISTINCT department FROM cx.department_impact WHERE $__timeFilter(minute)' },
      { type: 'query', name: 'team', includeAll: true, query: { rawSql: 'SELECT team FROM t' } },
    ],
  },
  panels: [
    { type: 'timeseries', title: 'Second row, right', gridPos: { x: 12, y: 9, w: 12, h: 8 }, targets: [{ refId: 'A', format: 0, rawSql: 'SELECT 2' }] },
    { type: 'row', title: 'Legs over time', collapsed: false, gridPos: { x: 0, y: 8, w: 24, h: 1 }, panels: [] },
    {
      type: 'timeseries',
      title: 'Leg scores',
      description: 'Each leg\'s score',
      gridPos: { x: 0, y: 9, w: 12, h: 8 },
      targets: [{ refId: 'A', format: 0, rawSql: 'SELECT $__timeInterval(window_end) AS time, leg, avg(score) AS score FROM cx.leg_consistency GROUP BY time, leg' }],
      fieldConfig: {
        defaults: {
          unit: 'none', decimals: 2, min: 0, max: 1,
          thresholds: { mode: 'absolute', steps: [{ value: null, color: 'red' }, { value: 0.6, color: 'green' }] },
          custom: { thresholdsStyle: { mode: 'dashed' } },
        },
        overrides: [],
      },
    },
    {
      type: 'stat',
      title: 'Does the stool stand?',
      gridPos: { x: 0, y: 1, w: 5, h: 7 },
      options: { colorMode: 'background' },
      targets: [{ refId: 'A', format: 1, rawSql: 'SELECT 1 AS stool' }],
      fieldConfig: { defaults: { thresholds: { steps: [{ value: null, color: 'red' }, { value: 1, color: 'green' }] }, mappings: [{ type: 'value', options: { '0': { text: 'Wobbles', color: 'red' }, '1': { text: 'Stands', color: 'green' } } }] } },
    },
    { type: 'row', title: 'The stool now', gridPos: { x: 0, y: 0, w: 24, h: 1 } },
    {
      type: 'row', title: 'Collapsed', collapsed: true, gridPos: { x: 0, y: 30, w: 24, h: 1 },
      panels: [
        { type: 'piechart', title: 'A pie', gridPos: { x: 0, y: 31, w: 8, h: 6 }, targets: [{ refId: 'A', format: 1, rawSql: 'SELECT 3' }] },
        { type: 'bargauge', title: 'Bars', gridPos: { x: 8, y: 31, w: 8, h: 6 }, targets: [{ refId: 'A', format: 1, rawSql: 'SELECT 4', hide: false }] },
      ],
    },
  ],
};

describe('reading a dashboard model', () => {
  const layout = readDashboard(fixture);

  it('makes a section per row, panels in reading order (y, then x), collapsed rows\' panels inside theirs', () => {
    expect(layout.sections.map((s) => [s.title, s.panels.map((p) => p.title)])).toEqual([
      ['The stool now', ['Does the stool stand?']],
      ['Legs over time', ['Leg scores', 'Second row, right']],
      ['Collapsed', ['A pie', 'Bars']],
    ]);
  });

  it('keeps what the panel says about its numbers: unit, limits, thresholds, mappings, the dashed threshold line', () => {
    const scores = layout.sections[1]?.panels[0];
    expect(scores).toMatchObject({
      kind: 'timeseries', width: 12, height: 8, thresholdLine: true, description: 'Each leg\'s score',
      field: { unit: 'none', decimals: 2, min: 0, max: 1, thresholds: [{ value: null, color: 'red' }, { value: 0.6, color: 'green' }] },
      targets: [{ refId: 'A', format: 0 }],
    });
    expect(layout.sections[1]?.panels[1]?.thresholdLine).toBe(false);
    const stat = layout.sections[0]?.panels[0];
    expect(stat?.colorBackground).toBe(true);
    expect(displayValue(0, 'number', stat!.field)).toEqual({ text: 'Wobbles', color: 'red' });
  });

  it('draws types it has no drawing for as tables, and a bar gauge as horizontal bars', () => {
    const [pie, gauge] = layout.sections[2]?.panels ?? [];
    expect([pie?.kind, pie?.grafanaType]).toEqual(['table', 'piechart']);
    expect([gauge?.kind, gauge?.horizontal]).toEqual(['barchart', true]);
  });

  it('reads variables: custom options from the list, a query variable\'s SQL as a string or an object', () => {
    expect(layout.variables).toEqual([
      { name: 'leg', label: 'Leg', type: 'custom', includeAll: true, options: ['PRODUCT', 'OPERATIONS', 'SALES_MARKETING'] },
      { name: 'department', label: 'department', type: 'query', includeAll: true, query: 'SELECT DISTINCT department FROM cx.department_impact WHERE $__timeFilter(minute)' },
      { name: 'team', label: 'team', type: 'query', includeAll: true, query: 'SELECT team FROM t' },
    ]);
  });

  it('says which field is off in a model it cannot read', () => {
    expect(() => readDashboard({ uid: 'x', panels: [{ type: 'stat', gridPos: { w: 'wide' } }] })).toThrow(/dashboard x, panels\[0\][\s\S]*gridPos/);
  });

  it('reads the live dashboard the project builds: every panel with its SQL', () => {
    const live = dashboardModels(loadConfig({})).find((d) => d.uid === 'cx-live');
    const l = readDashboard(live?.model);
    const panels = l.sections.flatMap((s) => s.panels);
    expect(l.title).toBe(live?.title);
    expect(panels.length).toBeGreaterThan(5);
    for (const p of panels) expect(p.targets.length, p.title).toBeGreaterThan(0);
    expect(new Set(panels.map((p) => p.kind))).toEqual(new Set(['gauge', 'stat', 'table', 'timeseries', 'barchart']));
  });
});

describe('query results, shaped as Grafana reads them', () => {
  it('pivots a long time series (time, label, value) into one series per label', () => {
    const r: QueryResult = {
      columns: [col('time', 'time'), col('leg', 'string'), col('score', 'number')],
      rows: [[T0 + MIN, 'PRODUCT', 0.5], [T0, 'PRODUCT', 0.4], [T0, 'SALES', 0.7], [T0 + MIN, 'SALES', null]],
    };
    expect(timeSeries(r)).toEqual([
      { name: 'PRODUCT', points: [[T0, 0.4], [T0 + MIN, 0.5]] },
      { name: 'SALES', points: [[T0, 0.7], [T0 + MIN, null]] },
    ]);
  });

  it('makes each numeric column of a wide time series a series, and says when there is no time column', () => {
    const r: QueryResult = { columns: [col('time', 'time'), col('stool score', 'number'), col('wobble', 'number')], rows: [[T0, 0.6, 0.1]] };
    expect(timeSeries(r)?.map((s) => s.name)).toEqual(['stool score', 'wobble']);
    expect(timeSeries({ columns: [col('x', 'number')], rows: [[1]] })).toBeNull();
  });

  it('takes bar categories from the first string column, bars from the numeric ones', () => {
    const r: QueryResult = { columns: [col('leg', 'string'), col('satisfied', 'number'), col('impressed', 'number')], rows: [['PRODUCT', 0.5, 0.2], ['SALES', 0.6, null]] };
    expect(bars(r)).toEqual({ categories: ['PRODUCT', 'SALES'], series: [{ name: 'satisfied', values: [0.5, 0.6] }, { name: 'impressed', values: [0.2, null] }] });
    expect(bars({ columns: [col('a', 'number'), col('b', 'number')], rows: [[1, 2]] })).toEqual({ categories: ['a', 'b'], series: [{ name: 'value', values: [1, 2] }] });
  });

  it('gives a stat each column\'s last non-null value', () => {
    const r: QueryResult = { columns: [col('leg', 'string'), col('a', 'number'), col('b', 'number')], rows: [['X', 1, 5], ['Y', 2, null]] };
    expect(statValues(r)).toEqual([{ name: 'a', value: 2, kind: 'number' }, { name: 'b', value: 5, kind: 'number' }]);
  });
});

describe('ClickHouse values', () => {
  it('tells numbers, times and text apart by type, through Nullable and LowCardinality', () => {
    const kinds = ['UInt64', 'Nullable(Float64)', 'Decimal(10, 2)', 'Bool', "DateTime('UTC')", 'Nullable(DateTime64(3, \'UTC\'))', 'Date', 'LowCardinality(String)', 'LowCardinality(Nullable(String))', 'Array(String)', "Enum8('a' = 1)"].map(columnKind);
    expect(kinds).toEqual(['number', 'number', 'number', 'number', 'time', 'time', 'time', 'string', 'string', 'string', 'string']);
  });

  it('reads DateTime text in the column\'s time zone, or the server\'s', () => {
    expect(parseClickHouseTime('2024-05-01 12:00:00', 'UTC')).toBe(T0);
    expect(parseClickHouseTime('2024-05-01 12:00:00.250', 'Etc/UTC')).toBe(T0 + 250);
    expect(parseClickHouseTime('2024-05-01', 'Europe/Berlin')).toBe(Date.UTC(2024, 4, 1));
    // Berlin is UTC+2 in May, UTC+1 in January.
    expect(parseClickHouseTime('2024-05-01 14:00:00', 'Europe/Berlin')).toBe(T0);
    expect(parseClickHouseTime('2024-01-01 13:00:00', 'Europe/Berlin')).toBe(Date.UTC(2024, 0, 1, 12));
    const time = col('t', 'time', "DateTime('America/New_York')");
    expect(cellValue('2024-05-01 08:00:00', time, 'UTC')).toBe(T0);
    expect(cellValue('2024-05-01 08:00:00', col('t', 'time', 'DateTime'), 'America/New_York')).toBe(T0);
  });

  it('keeps numbers as numbers, whether the JSON quotes 64-bit integers or not', () => {
    const n = col('n', 'number', 'UInt64');
    expect([cellValue('18446744073709551', n, 'UTC'), cellValue(3, n, 'UTC'), cellValue(true, col('b', 'number', 'Bool'), 'UTC'), cellValue(null, n, 'UTC')]).toEqual([18446744073709551, 3, 1, null]);
    expect(cellValue(['a', 'b'], col('a', 'string', 'Array(String)'), 'UTC')).toBe('["a","b"]');
  });
});

describe('time series chart', () => {
  const base = { from: T0, to: T0 + 60 * MIN, width: 600, height: 240, min: 0, max: 1 };

  it('puts three points where the axes say: left/bottom, middle, right/top', () => {
    const svg = timeSeriesSvg({ ...base, series: [{ name: 'score', points: [[T0, 0], [T0 + 30 * MIN, 0.5], [T0 + 60 * MIN, 1]] }] });
    const plot = element(svg, 'rect', 'plot-area');
    const [x, y, w, h] = ['x', 'y', 'width', 'height'].map((k) => Number(plot[k]));
    expect(w).toBeGreaterThan(400);
    expect(polylines(svg)).toEqual([`${r1(x!)},${r1(y! + h!)} ${r1(x! + w! / 2)},${r1(y! + h! / 2)} ${r1(x! + w!)},${r1(y!)}`]);
    expect(svg).toContain(`stroke="${PALETTE[0]}"`);
    // Value ticks 0..1, time ticks in UTC.
    for (const label of ['>0.0<', '>0.6<', '>1.0<', '>12:00<', '>12:30<', '>13:00<', '>UTC<']) expect(svg).toContain(label);
  });

  it('breaks a line at a null, and draws a point without neighbours as a dot', () => {
    const svg = timeSeriesSvg({ ...base, series: [{ name: 's', points: [[T0, 0.1], [T0 + MIN, 0.2], [T0 + 2 * MIN, null], [T0 + 3 * MIN, 0.3], [T0 + 4 * MIN, null], [T0 + 5 * MIN, 0.4], [T0 + 6 * MIN, 0.5]] }] });
    expect(polylines(svg)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(1);
  });

  it('gives each series its own colour and a legend entry', () => {
    const series = ['A', 'B', 'C'].map((name, i) => ({ name, points: [[T0, i / 4], [T0 + MIN, i / 4]] as [number, number][] }));
    const svg = timeSeriesSvg({ ...base, series });
    for (const [i, name] of ['A', 'B', 'C'].entries()) {
      expect(svg).toContain(`stroke="${PALETTE[i]}"`);
      expect(svg).toMatch(new RegExp(`<g class="legend-item">[^]*?>${name}</text>`));
    }
  });

  it('draws a dashed line at each threshold inside the axis, none for the base step', () => {
    const svg = timeSeriesSvg({ ...base, series: [{ name: 's', points: [[T0, 0.2], [T0 + MIN, 0.8]] }], thresholds: [{ value: null, color: 'red' }, { value: 0.6, color: 'green' }, { value: 5, color: 'blue' }] });
    const plot = element(svg, 'rect', 'plot-area');
    const line = element(svg, 'line', 'threshold');
    expect(svg.match(/class="threshold"/g)).toHaveLength(1);
    expect(line['stroke-dasharray']).toBeTruthy();
    expect(line.stroke).toBe('#73BF69');
    expect(Number(line.y1)).toBeCloseTo(Number(plot.y) + Number(plot.height) * 0.4, 0);
  });

  it('escapes series names and titles', () => {
    const svg = timeSeriesSvg({ ...base, title: 'a "title" <here>', series: [{ name: '<script>alert(1)</script> & co', points: [[T0, 0.5], [T0 + MIN, 0.5]] }] });
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; co');
    expect(svg).toContain('aria-label="a &quot;title&quot; &lt;here&gt;"');
  });

  it('draws an explicit "no data" box for no series, or only nulls', () => {
    for (const series of [[], [{ name: 's', points: [[T0, null]] as [number, null][] }]]) {
      const svg = timeSeriesSvg({ ...base, series });
      expect(svg).toContain('class="no-data-box"');
      expect(svg).toContain('No data in this range');
      expect(svg).not.toContain('<polyline');
    }
  });
});

describe('bars and gauges', () => {
  it('draws a bar per category and series from zero, with the value beside it, in the unit', () => {
    const svg = barChartSvg({ categories: ['WEB → APP', 'APP → CHAT'], series: [{ name: 'drops', values: [294, 147] }], width: 500, height: 240, horizontal: true, unit: 'short' });
    const rects = [...svg.matchAll(/<rect class="bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g)].map((m) => ({ x: Number(m[1]), width: Number(m[2]) }));
    const [web, app] = rects as [{ x: number; width: number }, { x: number; width: number }];
    expect(rects).toHaveLength(2);
    expect(web.x).toBe(app.x);
    expect(web.width / app.width).toBeCloseTo(2, 1);
    expect(svg).toContain('WEB → APP');
    expect(svg).toContain('>294<');
  });

  it('writes a negative bar\'s value beyond its end, below zero', () => {
    const svg = barChartSvg({ categories: ['Digital', 'Retail'], series: [{ name: 'impact', values: [-80, -10] }], width: 400, height: 240 });
    const bar = element(svg, 'rect', 'bar');
    const label = /<text x="[\d.]+" y="([\d.]+)"[^>]*font-size="10">-80</.exec(svg);
    expect(Number(label?.[1])).toBeGreaterThan(Number(bar.y) + Number(bar.height));
  });

  it('colours a bar gauge\'s bars by thresholds, and shows "no data" for nothing', () => {
    const svg = barChartSvg({ categories: ['a', 'b'], series: [{ name: 'v', values: [0.1, 0.9] }], width: 400, height: 200, thresholds: [{ value: null, color: 'red' }, { value: 0.5, color: 'green' }] });
    expect(svg).toMatch(/<rect class="bar"[^>]*fill="#F2495C"/);
    expect(svg).toMatch(/<rect class="bar"[^>]*fill="#73BF69"/);
    expect(barChartSvg({ categories: [], series: [], width: 400, height: 200 })).toContain('No data in this range');
  });

  it('fills a gauge\'s arc to its value\'s share, in its threshold colour', () => {
    const svg = gaugeSvg({ values: [{ name: 'Product', value: 0.5, text: '0.50', color: 'red' }], width: 300, height: 200, min: 0, max: 1, thresholds: [{ value: null, color: 'red' }, { value: 0.6, color: 'green' }] });
    const value = element(svg, 'path', 'gauge-value');
    expect(value.stroke).toBe('#F2495C');
    expect(svg.match(/class="threshold-band"/g)).toHaveLength(2);
    // Half of a 240° sweep from 150° ends at the top: 270°, straight above the centre.
    const end = /A [\d.]+ [\d.]+ 0 \d 1 ([\d.]+) ([\d.]+)$/.exec(value.d ?? '');
    const start = /M ([\d.]+) /.exec(value.d ?? '');
    expect(Number(end?.[1])).toBeCloseTo(150, 0);
    expect(Number(start?.[1])).toBeLessThan(150);
  });
});

describe('formatting', () => {
  it('reads numbers in Grafana\'s units', () => {
    expect(formatNumber(0.256, 'percentunit', 1)).toBe('25.6%');
    expect(formatNumber(12_300, 'short')).toBe('12.3 K');
    expect(formatNumber(90, 's')).toBe('1.5 min');
    expect(formatNumber(0.61234, 'none', 2)).toBe('0.61');
    expect(formatNumber(T0, 'dateTimeAsIso')).toBe('2024-05-01 12:00:00');
    expect(formatNumber(3, undefined)).toBe('3');
  });

  it('colours by the highest threshold step reached', () => {
    const steps = [{ value: null, color: 'red' }, { value: 0.6, color: 'green' }];
    expect([thresholdColor(0.59, steps), thresholdColor(0.6, steps), thresholdColor(0.9, steps)]).toEqual(['red', 'green', 'green']);
  });

  it('escapes text for HTML and SVG', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('rounds a value axis out to nice ticks, or keeps the panel\'s min and max', () => {
    expect(valueDomain([0.13, 0.87], { count: 4 })).toMatchObject({ lo: 0, hi: 1 });
    expect(valueDomain([0.13, 0.87], { min: 0, max: 1, count: 5 }).ticks).toEqual([0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
  });
});

describe('the time range', () => {
  const now = new Date('2024-05-01T12:00:00Z');

  it('defaults to the 24 hours before now', () => {
    expect(resolveRange({}, now)).toEqual({ from: new Date('2024-04-30T12:00:00Z'), to: now });
  });

  it('reads ISO times as UTC unless they carry an offset, and relative times', () => {
    expect(parseTime('--to', '2024-05-01 10:00', now)).toEqual(new Date('2024-05-01T10:00:00Z'));
    expect(parseTime('--to', '2024-05-01T10:00:00+02:00', now)).toEqual(new Date('2024-05-01T08:00:00Z'));
    expect(parseTime('--to', '2024-05-01', now)).toEqual(new Date('2024-05-01T00:00:00Z'));
    expect(parseTime('--to', 'now-1h', now)).toEqual(new Date('2024-05-01T11:00:00Z'));
    // -6h counts back from --to; now-6h from now.
    expect(resolveRange({ from: '-6h', to: '2024-04-01T00:00Z' }, now).from).toEqual(new Date('2024-03-31T18:00:00Z'));
    expect(resolveRange({ from: 'now-6h', to: '2024-05-01T12:00Z' }, now).from).toEqual(new Date('2024-05-01T06:00:00Z'));
    expect(resolveRange({ from: '-7d' }, now).from).toEqual(new Date('2024-04-24T12:00:00Z'));
  });

  it('says what is wrong with a bad time, or a range that is empty', () => {
    expect(() => resolveRange({ from: 'yesterday' }, now)).toThrow(/--from "yesterday": expected an ISO time/);
    expect(() => resolveRange({ to: '2024-13-45' }, now)).toThrow(TimeRangeError);
    expect(() => resolveRange({ from: '2024-05-02T00:00Z' }, now)).toThrow(/--from 2024-05-02T00:00:00.000Z is not before --to 2024-05-01T12:00:00.000Z/);
  });

  it('groups time series by a nice interval for about 1000 points, at least a minute', () => {
    const range = (hours: number) => ({ from: new Date(T0 - hours * 3_600_000), to: new Date(T0) });
    expect(intervalFor(range(3))).toBe(60_000);
    expect(intervalFor(range(24))).toBe(60_000);
    expect(intervalFor(range(24 * 7))).toBe(600_000);
    expect(intervalFor(range(24 * 30))).toBe(1_800_000);
  });
});

describe('the page', () => {
  const panel = (over: Partial<PanelReport>): PanelReport => ({
    kind: 'table', grafanaType: 'table', title: 'T', description: '', width: 12, height: 8,
    field: { thresholds: [], mappings: [] }, thresholdLine: false, horizontal: false, colorBackground: false, colorCells: false, targets: [], runs: [], ...over,
  });
  const run = (result: QueryResult) => ({ refId: 'A', format: 1, sql: 'SELECT <sql>', ms: 3, result });
  const model: ReportModel = {
    uid: 'cx-live', title: 'CX <live>', description: 'What it shows', from: new Date(T0 - 3 * 3_600_000), to: new Date(T0), intervalMs: 60_000,
    generatedAt: new Date(T0 + MIN), where: 'http://reader:s3cret@127.0.0.1:8123', database: 'cx', variables: [{ name: 'leg', label: 'Leg', value: 'All' }],
    sections: [
      {
        title: 'The stool now',
        panels: [
          panel({
            kind: 'stat', grafanaType: 'stat', title: 'Stands?', colorBackground: true,
            field: { thresholds: [{ value: null, color: 'red' }, { value: 1, color: 'green' }], mappings: [{ type: 'value', options: { '0': { text: 'Wobbles', color: 'red' } } }] },
            runs: [run({ columns: [col('stool', 'number', 'UInt8')], rows: [[0]] })],
          }),
          panel({
            kind: 'timeseries', grafanaType: 'timeseries', title: 'Leg scores', description: 'S_L < E means trouble',
            runs: [run({ columns: [col('time', 'time'), col('leg', 'string'), col('score', 'number')], rows: [[T0 - MIN, 'P', 0.5], [T0, 'P', 0.6]] })],
          }),
          panel({ title: 'Empty table', runs: [run({ columns: [col('a', 'string')], rows: [] })] }),
          panel({ title: 'Broken', runs: [{ refId: 'A', format: 1, sql: 'SELECT nope', ms: 1, error: 'Unknown identifier nope' }] }),
          panel({ kind: 'table', grafanaType: 'piechart', title: 'Pie', runs: [run({ columns: [col('a', 'string'), col('n', 'number')], rows: [['x', 1]] })] }),
          panel({
            title: 'Key drivers',
            runs: [run({ columns: [col('touchpoint', 'string'), col('leg', 'string'), col('weight', 'number')], rows: [['no calibration yet: run npx cx calibrate <now>', null, null]] })],
          }),
          panel({ title: 'One row, two values', runs: [run({ columns: [col('touchpoint', 'string'), col('leg', 'string'), col('weight', 'number')], rows: [['checkout', null, 2.5]] })] }),
          panel({ title: 'One text column', runs: [run({ columns: [col('touchpoint', 'string')], rows: [['checkout']] })] }),
        ],
      },
    ],
  };
  const html = renderReport(model);

  it('is one self-contained page: no scripts, no external links, images, styles or fonts', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\b(?:src|href|xlink:href|action)\s*=/i);
    expect(html).not.toMatch(/@import|url\(|<link|<iframe|<object|<embed/i);
    // The only URL is the store's, as text in the header (embedded stores have none).
    expect(html.replace('<dd>http://127.0.0.1:8123, database cx</dd>', '')).not.toMatch(/https?:\/\//i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
  });

  it('has a header with the title, the range in UTC, when it was made and where the data came from (without credentials)', () => {
    expect(html).toContain('<h1>CX &lt;live&gt;</h1>');
    expect(html).toContain('2024-05-01 09:00 UTC → 2024-05-01 12:00 UTC (3 h)');
    expect(html).toContain('2024-05-01 12:01 UTC');
    expect(html).toContain('<dd>http://127.0.0.1:8123, database cx</dd>');
    expect(html).not.toContain('s3cret');
    expect(html).toContain('Leg = All');
  });

  it('draws each panel with its description, row count and the SQL that ran', () => {
    expect(html).toContain('<p class="description">S_L &lt; E means trouble</p>');
    expect(html).toContain('<span class="rows">2 rows</span>');
    expect(html).toContain('SELECT &lt;sql&gt;');
    expect(polylines(html)).toHaveLength(1);
    // The mapped stat: its text and its colour as the background.
    expect(html).toMatch(/<div class="stat" style="background:#F2495C;[^"]*"><div class="value"[^>]*>Wobbles</);
  });

  it('says "no data" for an empty result, shows a failed query\'s error, and names a panel type it draws as a table', () => {
    const section = (title: string) => html.slice(html.indexOf(`<h3>${title}</h3>`), html.indexOf('</article>', html.indexOf(`<h3>${title}</h3>`)));
    expect(section('Empty table')).toContain('No data in this range');
    expect(section('Broken')).toContain('Query A failed: Unknown identifier nope');
    expect(section('Pie')).toContain('Grafana draws this as "piechart"; shown here as a table');
  });

  it('shows a one-row table whose only value is a sentence as that line, and any other one-row table as a table', () => {
    const section = (title: string) => html.slice(html.indexOf(`<h3>${title}</h3>`), html.indexOf('</article>', html.indexOf(`<h3>${title}</h3>`)));
    expect(section('Key drivers')).toContain('<p class="state">no calibration yet: run npx cx calibrate &lt;now&gt;</p>');
    expect(section('Key drivers')).not.toContain('<table');
    expect(section('One row, two values')).toContain('<td>checkout</td>');
    expect(section('One row, two values')).not.toContain('class="state"');
    expect(section('One text column')).toContain('<td>checkout</td>');
  });
});
