/**
 * The report as one HTML page: inline CSS, inline SVG, no script, nothing fetched
 * (a Content-Security-Policy forbids it too). Panels keep the dashboard's grid: rows
 * become sections, a panel's width is its share of 24 columns. Pure.
 */
import { barChartSvg, gaugeSvg, noDataSvg, timeSeriesSvg } from './charts.ts';
import { contrastText, cssColor, displayValue, escapeXml, formatCell, textColor, utcMinute } from './format.ts';
import { bars, statValues, timeSeries } from './frames.ts';
import type { Cell, PanelReport, QueryResult, ReportModel } from './model.ts';
import { intervalText } from './range.ts';

/** Width of the page's content in px: a 24-column panel's SVG is drawn this wide, less padding. */
const PAGE_WIDTH = 1320;
/** Grafana's grid row: 30 px plus an 8 px margin. */
const GRID_ROW_PX = 38;
/** Rows a table shows; the rest are counted, not drawn. */
export const TABLE_ROWS = 100;

const STYLE = `
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1f2328;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
header.report{background:#fff;border-bottom:1px solid #dde1e6;padding:18px 28px 14px}
header.report h1{margin:0 0 4px;font-size:22px}
header.report p{margin:0 0 10px;color:#4a525e;max-width:1100px}
dl.facts{display:flex;flex-wrap:wrap;gap:6px 28px;margin:0;font-size:13px}
dl.facts div{display:flex;gap:6px}
dl.facts dt{color:#5a6270}
dl.facts dd{margin:0;font-weight:600}
main{max-width:${PAGE_WIDTH + 56}px;margin:0 auto;padding:8px 28px 28px}
section h2{font-size:17px;margin:22px 0 10px;padding-bottom:4px;border-bottom:1px solid #dde1e6}
.grid{display:grid;grid-template-columns:repeat(24,minmax(0,1fr));gap:12px}
.panel{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 12px;display:flex;flex-direction:column;min-width:0;break-inside:avoid}
.panel h3{margin:0 0 6px;font-size:14px}
.viz{flex:1;min-height:0}
.viz svg.chart{display:block;width:100%;height:auto}
.description{margin:8px 0 0;color:#4a525e;font-size:12.5px}
.meta{margin-top:6px;font-size:11.5px;color:#6a7280;display:flex;flex-wrap:wrap;gap:4px 10px;align-items:baseline}
.meta details{flex-basis:100%}
.meta summary{cursor:pointer}
.meta pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;border:1px solid #e3e6ea;border-radius:4px;padding:6px 8px;font-size:11px;margin:4px 0 0}
.stats{display:flex;flex-wrap:wrap;gap:8px;height:100%}
.stat{flex:1 1 0;min-width:90px;border-radius:4px;padding:8px 10px;display:flex;flex-direction:column;justify-content:center;align-items:center;text-align:center}
.stat .value{font-weight:650;line-height:1.1;white-space:nowrap}
.stat .name{font-size:12.5px;margin-top:4px;opacity:.85}
.table-wrap{overflow:auto}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{padding:3px 8px;border-bottom:1px solid #eceef1;text-align:left;white-space:nowrap}
th{position:sticky;top:0;background:#f6f8fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{font-size:12px;color:#6a7280;margin:4px 0 0}
.state{margin:4px 0;padding:8px 10px;background:#f6f8fa;border:1px solid #e3e6ea;border-radius:4px;color:#4a525e}
.error{background:#fff1f0;border:1px solid #f2b8b5;color:#8a1c14;border-radius:4px;padding:6px 8px;font-size:12.5px;margin-bottom:6px;white-space:pre-wrap}
footer.report{max-width:${PAGE_WIDTH + 56}px;margin:0 auto;padding:0 28px 28px;color:#6a7280;font-size:12px}
@media (max-width:900px){.grid{grid-template-columns:1fr}.panel{grid-column:auto!important}}
@media print{body{background:#fff}.panel{border-color:#ccc}.table-wrap{max-height:none!important}}
`;

/** A ClickHouse URL may carry credentials; the report names the server, never a password. */
function withoutCredentials(where: string): string {
  return where.replace(/\/\/[^/@\s]*@/, '//');
}

function duration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = ms / 3_600_000;
  if (hours < 72) return `${Math.round(hours * 10) / 10} h`;
  return `${Math.round((hours / 24) * 10) / 10} days`;
}

function resultOf(p: PanelReport): QueryResult | undefined {
  return p.runs.find((r) => r.result && r.result.rows.length > 0)?.result ?? p.runs.find((r) => r.result)?.result;
}

/**
 * The sentence of a one-row table whose only value is one text, every other cell empty:
 * a panel's way of saying there is nothing to show yet and what to do (e.g. "no
 * calibration yet: run npx cx calibrate"). Shown as that line, not as a one-row table.
 */
export function stateMessage(result: QueryResult): string | undefined {
  if (result.rows.length !== 1 || result.columns.length < 2) return undefined;
  const filled = (result.rows[0] as Cell[]).flatMap((v, i) => (v === null || v === '' ? [] : [{ v, kind: result.columns[i]?.kind }]));
  return filled.length === 1 && filled[0]?.kind === 'string' ? String(filled[0].v) : undefined;
}

function tableHtml(p: PanelReport, result: QueryResult, height: number): string {
  const state = stateMessage(result);
  if (state !== undefined) return `<p class="state">${escapeXml(state)}</p>`;
  const head = result.columns.map((c) => `<th>${escapeXml(c.name)}</th>`).join('');
  const rows = result.rows.slice(0, TABLE_ROWS).map((row) => {
    const cells = result.columns.map((c, i) => {
      const v = row[i] ?? null;
      if (c.kind !== 'number') return `<td>${escapeXml(formatCell(v, c.kind, p.field))}</td>`;
      const shown = v === null ? { text: '' } : displayValue(v, c.kind, p.field);
      const style = p.colorCells && shown.color ? ` style="background:${cssColor(shown.color)};color:${contrastText(cssColor(shown.color))}"` : '';
      return `<td class="num"${style}>${escapeXml(shown.text)}</td>`;
    });
    return `<tr>${cells.join('')}</tr>`;
  });
  const more = result.rows.length > TABLE_ROWS ? `<p class="note">The first ${TABLE_ROWS} of ${result.rows.length} rows.</p>` : '';
  return `<div class="table-wrap" style="max-height:${height}px"><table><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div>${more}`;
}

function statHtml(p: PanelReport, result: QueryResult, width: number): string {
  const values = statValues(result);
  const named = values.length > 1;
  const shownAll = values.map((s) => displayValue(s.value, s.kind, p.field));
  // One size for all of the panel's numbers, as large as the longest fits its box.
  const longest = Math.max(1, ...shownAll.map((s) => s.text.length));
  const size = Math.round(Math.max(14, Math.min(40, (width / values.length - 32) / (longest * 0.62))));
  const items = values.map((s, i) => {
    const shown = shownAll[i] as { text: string; color?: string };
    const bg = cssColor(shown.color);
    const style = shown.color === undefined ? '' : p.colorBackground ? `background:${bg};color:${contrastText(bg)}` : `color:${textColor(shown.color)}`;
    return `<div class="stat"${style ? ` style="${style}"` : ''}><div class="value" style="font-size:${size}px">${escapeXml(shown.text)}</div>${named ? `<div class="name">${escapeXml(s.name)}</div>` : ''}</div>`;
  });
  return `<div class="stats">${items.join('')}</div>`;
}

function vizHtml(p: PanelReport, model: ReportModel, width: number, height: number): string {
  const result = resultOf(p);
  if (!result || result.rows.length === 0) return noDataSvg(width, height);
  const f = p.field;
  const limits = { ...(f.unit !== undefined && { unit: f.unit }), ...(f.decimals !== undefined && { decimals: f.decimals }), ...(f.min !== undefined && { min: f.min }), ...(f.max !== undefined && { max: f.max }) };
  switch (p.kind) {
    case 'timeseries': {
      const series = p.runs.flatMap((r) => (r.result ? (timeSeries(r.result) ?? []) : []));
      if (p.runs.every((r) => !r.result || timeSeries(r.result) === null)) {
        return `<p class="note">The query returned no time column, so its rows are shown as a table.</p>${tableHtml(p, result, height)}`;
      }
      return timeSeriesSvg({ series, from: model.from.getTime(), to: model.to.getTime(), width, height, ...limits, ...(p.thresholdLine && { thresholds: f.thresholds }), title: p.title });
    }
    case 'barchart': {
      const b = bars(result);
      if (!b) return `<p class="note">The query returned nothing to draw as bars, so its rows are shown as a table.</p>${tableHtml(p, result, height)}`;
      return barChartSvg({ ...b, width, height, horizontal: p.horizontal, ...limits, ...(p.colorBackground && { thresholds: f.thresholds }), title: p.title });
    }
    case 'gauge': {
      const values = statValues(result, true).map((s) => {
        const shown = displayValue(s.value, 'number', f);
        return { name: s.name, value: typeof s.value === 'number' ? s.value : null, text: shown.text, ...(shown.color !== undefined && { color: shown.color }) };
      });
      // Grafana's gauge defaults to 0..100, except for 0..1 units.
      const max = f.max ?? (f.unit === 'percentunit' ? 1 : 100);
      return gaugeSvg({ values, width, height, min: f.min ?? 0, max, thresholds: f.thresholds, title: p.title });
    }
    case 'stat':
      return statHtml(p, result, width);
    case 'table':
      return tableHtml(p, result, height);
  }
}

function panelHtml(p: PanelReport, model: ReportModel): string {
  const width = Math.round((p.width / 24) * PAGE_WIDTH) - 26;
  const height = Math.max(110, p.height * GRID_ROW_PX - 70);
  const errors = p.runs.filter((r) => r.error).map((r) => `<div class="error">Query ${escapeXml(r.refId)} failed: ${escapeXml(r.error as string)}</div>`);
  const rows = p.runs.reduce((sum, r) => sum + (r.result?.rows.length ?? 0), 0);
  const viz = p.runs.length === 0 ? noDataSvg(width, height, 'This panel has no SQL query') : vizHtml(p, model, width, height);
  // Panel types the report has no drawing for are shown as tables (layout.ts maps them).
  const drawnAs = p.kind !== p.grafanaType && p.grafanaType !== 'bargauge' ? `<span>Grafana draws this as "${escapeXml(p.grafanaType)}"; shown here as a table</span>` : '';
  const sql = p.runs.map((r) => `<details><summary>SQL${p.runs.length > 1 ? ` ${escapeXml(r.refId)}` : ''} (as run)</summary><pre>${escapeXml(r.sql)}</pre></details>`).join('');
  const ms = p.runs.reduce((sum, r) => sum + r.ms, 0);
  return (
    `<article class="panel" data-kind="${p.kind}" style="grid-column:span ${p.width}">` +
    `<h3>${escapeXml(p.title)}</h3>${errors.join('')}<div class="viz">${viz}</div>` +
    (p.description ? `<p class="description">${escapeXml(p.description)}</p>` : '') +
    `<div class="meta"><span class="rows">${rows.toLocaleString('en-US')} ${rows === 1 ? 'row' : 'rows'}</span><span>${ms} ms</span>${drawnAs}${sql}</div>` +
    '</article>'
  );
}

/** The whole report page. */
export function renderReport(model: ReportModel): string {
  const facts: [string, string][] = [
    ['Range', `${utcMinute(model.from)} → ${utcMinute(model.to)} (${duration(model.to.getTime() - model.from.getTime())})`],
    ['Interval', intervalText(model.intervalMs)],
    ['Generated', utcMinute(model.generatedAt)],
    ['Data', `${withoutCredentials(model.where)}, database ${model.database}`],
  ];
  if (model.variables.length > 0) facts.push(['Variables', model.variables.map((v) => `${v.label} = ${v.value}`).join(', ')]);
  const sections = model.sections.map(
    (s) => `<section>${s.title !== undefined ? `<h2>${escapeXml(s.title)}</h2>` : ''}<div class="grid">${s.panels.map((p) => panelHtml(p, model)).join('')}</div></section>`,
  );
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    // Nothing in the page may load anything: styles are inline, charts are inline SVG.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeXml(model.title)} · ${escapeXml(utcMinute(model.from))} to ${escapeXml(utcMinute(model.to))}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<header class="report"><h1>${escapeXml(model.title)}</h1>${model.description ? `<p>${escapeXml(model.description)}</p>` : ''}`,
    `<dl class="facts">${facts.map(([k, v]) => `<div><dt>${escapeXml(k)}</dt><dd>${escapeXml(v)}</dd></div>`).join('')}</dl></header>`,
    `<main>${sections.join('')}</main>`,
    `<footer class="report">Written by <code>cx report</code> from the dashboard "${escapeXml(model.title)}" (uid ${escapeXml(model.uid)}): the same queries, run over the range above. Times are UTC.</footer>`,
    '</body></html>',
    '',
  ].join('\n');
}
