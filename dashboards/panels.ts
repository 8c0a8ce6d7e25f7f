/**
 * The few panel shapes the dashboards are made of, on top of the foundation SDK's
 * builders: every panel reads one ClickHouse query, says what its number means
 * (description) and carries its unit. Layout is the SDK's: panels flow left to right
 * in Grafana's 24-column grid by `span`, and wrap.
 */
import * as barchart from '@grafana/grafana-foundation-sdk/barchart';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as gauge from '@grafana/grafana-foundation-sdk/gauge';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { CLICKHOUSE_DATASOURCE, ClickHouseFormat, ClickHouseQueryBuilder } from './clickhouseQuery.ts';

/** Grafana unit ids used here: 0..1 as %, plain numbers, seconds, per-second rates, none (scores in [0, 1]). */
export type Unit = 'percentunit' | 'short' | 's' | 'ms' | 'reqps' | 'none' | 'dateTimeAsIso' | 'string';

export interface PanelSpec {
  title: string;
  /** What the number means, in the words of docs/metrics.md: shown on the panel's (i) and in the report. */
  description: string;
  sql: string;
  /** Width in grid columns (of 24) and height in grid rows. */
  span: number;
  height?: number;
  unit?: Unit;
  decimals?: number;
  min?: number;
  max?: number;
  /** Colour steps: the base colour, then [from value, colour] in ascending order. */
  thresholds?: { base: string; steps?: [number, string][] };
}

export const GREEN = 'green';
export const RED = 'red';
export const ORANGE = 'orange';
export const YELLOW = 'yellow';
export const BLUE = 'blue';

function thresholds(t: NonNullable<PanelSpec['thresholds']>) {
  return new dashboard.ThresholdsConfigBuilder()
    .mode(dashboard.ThresholdsMode.Absolute)
    .steps([{ value: null, color: t.base }, ...(t.steps ?? []).map(([value, color]) => ({ value, color }))]);
}

interface Common<B> {
  title(t: string): B;
  description(d: string): B;
  span(w: number): B;
  height(h: number): B;
  unit(u: string): B;
  decimals(d: number): B;
  min(m: number): B;
  max(m: number): B;
  thresholds(t: dashboard.ThresholdsConfigBuilder): B;
  withTarget(t: ClickHouseQueryBuilder): B;
  datasource(d: typeof CLICKHOUSE_DATASOURCE): B;
}

function apply<B extends Common<B>>(builder: B, spec: PanelSpec, format: ClickHouseFormat): B {
  let b = builder
    .title(spec.title)
    .description(spec.description)
    .span(spec.span)
    .height(spec.height ?? 8)
    .datasource({ ...CLICKHOUSE_DATASOURCE })
    .withTarget(new ClickHouseQueryBuilder(spec.sql).format(format));
  if (spec.unit) b = b.unit(spec.unit);
  if (spec.decimals !== undefined) b = b.decimals(spec.decimals);
  if (spec.min !== undefined) b = b.min(spec.min);
  if (spec.max !== undefined) b = b.max(spec.max);
  if (spec.thresholds) b = b.thresholds(thresholds(spec.thresholds));
  return b;
}

/** One big number per numeric column of the query's last row. */
export function statPanel(spec: PanelSpec & { mappings?: dashboard.ValueMapping[]; colorBackground?: boolean }) {
  const b = apply(new stat.PanelBuilder(), spec, ClickHouseFormat.Table)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .graphMode(common.BigValueGraphMode.None)
    .colorMode(spec.colorBackground ? common.BigValueColorMode.Background : common.BigValueColorMode.Value)
    .textMode(common.BigValueTextMode.ValueAndName);
  return spec.mappings ? b.mappings(spec.mappings) : b;
}

export function gaugePanel(spec: PanelSpec) {
  return apply(new gauge.PanelBuilder(), spec, ClickHouseFormat.Table)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .showThresholdMarkers(true);
}

/**
 * A time series: the query returns `time` first, then either one numeric column per
 * series or a string label column and one value (the plugin pivots those by label).
 */
export function timeSeriesPanel(spec: PanelSpec & { thresholdLine?: boolean; stacked?: boolean; bars?: boolean }) {
  let b = apply(new timeseries.PanelBuilder(), spec, ClickHouseFormat.TimeSeries)
    .lineWidth(2)
    .fillOpacity(spec.stacked || spec.bars ? 60 : 10)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false)
    .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom).calcs([]))
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
  if (spec.bars) b = b.drawStyle(common.GraphDrawStyle.Bars);
  if (spec.stacked) b = b.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  if (spec.thresholdLine) b = b.thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed));
  return b;
}

/** Bars per category: the first string column names them, each numeric column is a bar. */
export function barChartPanel(spec: PanelSpec & { horizontal?: boolean; stacked?: boolean }) {
  let b = apply(new barchart.PanelBuilder(), spec, ClickHouseFormat.Table)
    .orientation(spec.horizontal ? common.VizOrientation.Horizontal : common.VizOrientation.Auto)
    .showValue(common.VisibilityMode.Auto)
    .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom).calcs([]));
  if (spec.stacked) b = b.stacking(common.StackingMode.Normal);
  return b;
}

/** Rows as they come; `colorCells` colours numeric cells by the thresholds. */
export function tablePanel(spec: PanelSpec & { colorCells?: boolean }) {
  const b = apply(new table.PanelBuilder(), spec, ClickHouseFormat.Table).showHeader(true).filterable(false);
  // applyToRow stated, so the options can only be read as colour-background ones (the schema's oneOf has no discriminator).
  return spec.colorCells ? b.cellOptions({ type: common.TableCellDisplayMode.ColorBackground, applyToRow: false }) : b;
}

export const row = (title: string) => new dashboard.RowBuilder(title);

/** A CX dashboard: in UTC, editable, tagged `cx` and its audience, over the last `from` (e.g. 'now-6h'). */
export function cxDashboard(o: { uid: string; title: string; description: string; audience: string; from: string; refresh: string }) {
  return new dashboard.DashboardBuilder(o.title)
    .uid(o.uid)
    .description(o.description)
    .tags(['cx', o.audience])
    .editable()
    .timezone('utc')
    .time({ from: o.from, to: 'now' })
    .refresh(o.refresh);
}
