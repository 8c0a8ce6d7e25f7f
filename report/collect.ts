/**
 * Runs a dashboard's panels for a time range, as Grafana would: every variable set to
 * "All", macros expanded by dashboards/macros.ts, each target's SQL run on the store.
 * The dashboard is the one source of the queries; the report has none of its own.
 */
import { expandMacros, type MacroContext } from '../dashboards/macros.ts';
import type { Store } from '../platform/clickhouse/store.ts';
import { cellValue, columnKind } from './columns.ts';
import type { Column, DashboardLayout, PanelReport, QueryResult, ReportModel, TargetRun } from './model.ts';
import { intervalFor, type TimeRange } from './range.ts';

export type ReportStore = Pick<Store, 'where' | 'database' | 'query' | 'queryWithColumns'>;

export interface PanelProgress {
  index: number;
  total: number;
  title: string;
  rows: number;
  ms: number;
  errors: string[];
}

export interface CollectOptions {
  /** When the report is made (its "generated" time). */
  now?: Date;
  onPanel?: (p: PanelProgress) => void;
}

/** One query's rows, typed by ClickHouse's own description of its columns. */
export async function runQuery(store: ReportStore, sql: string, serverZone: () => Promise<string>): Promise<QueryResult> {
  const body = sql.trim().replace(/;+\s*$/, '');
  const { columns: names, rows } = await store.queryWithColumns(body);
  const described = await store.query<{ name: string; type: string }>(`DESCRIBE (${body}\n)`);
  const types = new Map(described.map((d) => [d.name, d.type]));
  const columns: Column[] = names.map((name, i) => {
    const type = types.get(name) ?? described[i]?.type ?? 'String';
    return { name, type, kind: columnKind(type) };
  });
  const zone = columns.some((c) => c.kind === 'time') ? await serverZone() : 'UTC';
  return { columns, rows: rows.map((r) => columns.map((c) => cellValue(r[c.name], c, zone))) };
}

const message = (err: unknown) => ((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '').trim().slice(0, 600);

/** The dashboard's variables, each set to "All", with its options (a query variable's from the store). */
async function variables(layout: DashboardLayout, store: ReportStore, base: Omit<MacroContext, 'variables'>): Promise<MacroContext['variables']> {
  const vars: MacroContext['variables'] = {};
  for (const v of layout.variables) {
    let options = v.options ?? [];
    if (v.query !== undefined) {
      const sql = expandMacros(v.query, { ...base, variables: vars });
      try {
        const { columns, rows } = await store.queryWithColumns(sql);
        const first = columns[0];
        options = first === undefined ? [] : [...new Set(rows.map((r) => r[first]).filter((x) => x !== null && x !== undefined).map(String))];
      } catch (err) {
        throw new Error(`dashboard ${layout.uid}, variable "${v.name}": its query failed: ${message(err)}\n${sql}`);
      }
    }
    vars[v.name] = { options, selected: 'All', ...(v.allValue !== undefined && { allValue: v.allValue }) };
  }
  return vars;
}

/** Every panel of the dashboard, run over `range`. A failing query is kept as that panel's error, not thrown. */
export async function collectReport(layout: DashboardLayout, store: ReportStore, range: TimeRange, o: CollectOptions = {}): Promise<ReportModel> {
  const intervalMs = intervalFor(range);
  const base = { from: range.from, to: range.to, intervalMs };
  const ctx: MacroContext = { ...base, variables: await variables(layout, store, base) };
  let zone: string | undefined;
  const serverZone = async () => (zone ??= (await store.query<{ tz: string }>('SELECT timezone() AS tz'))[0]?.tz ?? 'UTC');

  const total = layout.sections.reduce((sum, s) => sum + s.panels.length, 0);
  let index = 0;
  const sections: ReportModel['sections'] = [];
  for (const section of layout.sections) {
    const panels: PanelReport[] = [];
    for (const panel of section.panels) {
      const runs: TargetRun[] = [];
      for (const target of panel.targets) {
        const t0 = Date.now();
        let sql = target.rawSql;
        try {
          sql = expandMacros(target.rawSql, ctx);
          const result = await runQuery(store, sql, serverZone);
          runs.push({ refId: target.refId, format: target.format, sql, ms: Date.now() - t0, result });
        } catch (err) {
          runs.push({ refId: target.refId, format: target.format, sql, ms: Date.now() - t0, error: message(err) });
        }
      }
      panels.push({ ...panel, runs });
      index += 1;
      o.onPanel?.({
        index, total, title: panel.title,
        rows: runs.reduce((sum, r) => sum + (r.result?.rows.length ?? 0), 0),
        ms: runs.reduce((sum, r) => sum + r.ms, 0),
        errors: runs.flatMap((r) => (r.error ? [`${r.refId}: ${r.error}`] : [])),
      });
    }
    sections.push({ ...(section.title !== undefined && { title: section.title }), panels });
  }
  return {
    uid: layout.uid,
    title: layout.title,
    description: layout.description,
    from: range.from,
    to: range.to,
    intervalMs,
    generatedAt: o.now ?? new Date(),
    where: store.where,
    database: store.database,
    variables: layout.variables.map((v) => ({ name: v.name, label: v.label, value: 'All' })),
    sections,
  };
}
