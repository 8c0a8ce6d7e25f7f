/**
 * What a report is made of, between reading a dashboard (layout.ts), running its
 * queries (collect.ts) and drawing it (render.ts, charts.ts). Plain data: no I/O.
 */

/** How the report draws a panel. Grafana types it has no drawing for are drawn as tables. */
export type PanelKind = 'stat' | 'gauge' | 'timeseries' | 'barchart' | 'table';

/** A threshold step: from `value` up (null: from minus infinity), in a Grafana colour. */
export interface ThresholdStep {
  value: number | null;
  color: string;
}

/** Grafana value mappings the report applies: exact values, ranges, and null. */
export type ValueMapping =
  | { type: 'value'; options: Record<string, { text?: string; color?: string }> }
  | { type: 'range'; from: number | null; to: number | null; result: { text?: string; color?: string } }
  | { type: 'null'; result: { text?: string; color?: string } };

/** The panel's field defaults: how its numbers read and are coloured. */
export interface FieldDisplay {
  unit?: string;
  decimals?: number;
  min?: number;
  max?: number;
  thresholds: ThresholdStep[];
  mappings: ValueMapping[];
}

export interface PanelTarget {
  refId: string;
  /** The panel's SQL as written in the dashboard, macros and variables not yet expanded. */
  rawSql: string;
  /** 0: time series, 1: table (the ClickHouse plugin's format). */
  format: number;
}

export interface PanelSpec {
  kind: PanelKind;
  /** Grafana's panel type, which differs from `kind` when the report has no drawing for it. */
  grafanaType: string;
  title: string;
  description: string;
  /** Width and height in Grafana's grid (24 columns; a row is 30 px). */
  width: number;
  height: number;
  field: FieldDisplay;
  /**
   * Time series: dashed threshold lines. Bar chart: horizontal bars. Stat: coloured background; bar gauge:
   * bars coloured by thresholds. Table: cells coloured by thresholds.
   */
  thresholdLine: boolean;
  horizontal: boolean;
  colorBackground: boolean;
  colorCells: boolean;
  targets: PanelTarget[];
}

export interface Section {
  /** The row's title; none for panels above the first row. */
  title?: string;
  panels: PanelSpec[];
}

export interface VariableSpec {
  name: string;
  label: string;
  type: string;
  includeAll: boolean;
  allValue?: string;
  /** Fixed options (custom variables), or undefined when they come from `query`. */
  options?: string[];
  /** SQL whose first column gives the options (query variables). */
  query?: string;
}

export interface DashboardLayout {
  uid: string;
  title: string;
  description: string;
  variables: VariableSpec[];
  sections: Section[];
}

export type ColumnKind = 'number' | 'time' | 'string';

export interface Column {
  name: string;
  /** ClickHouse type, e.g. DateTime('UTC'), Float64, LowCardinality(String). */
  type: string;
  kind: ColumnKind;
}

/** Numbers are numbers, times are ms since the epoch, anything else is text. */
export type Cell = number | string | null;

export interface QueryResult {
  columns: Column[];
  rows: Cell[][];
}

export interface TargetRun {
  refId: string;
  format: number;
  /** The SQL that ran: macros and variables expanded. */
  sql: string;
  ms: number;
  result?: QueryResult;
  error?: string;
}

export interface PanelReport extends PanelSpec {
  runs: TargetRun[];
}

export interface ReportModel {
  uid: string;
  title: string;
  description: string;
  from: Date;
  to: Date;
  intervalMs: number;
  generatedAt: Date;
  /** Where the data came from: the store's URL or data directory, and the database. */
  where: string;
  database: string;
  variables: { name: string; label: string; value: string }[];
  sections: { title?: string; panels: PanelReport[] }[];
}
