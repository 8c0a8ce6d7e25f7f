/**
 * A Grafana dashboard JSON model, as `dashboards/build.ts` builds it, read into what the
 * report needs: sections (rows) of panels in reading order, with their SQL, units,
 * thresholds and mappings, and the template variables. Pure; the dashboard is the one
 * source of the queries.
 */
import { z } from 'zod';
import type { DashboardLayout, PanelKind, PanelSpec, Section, ValueMapping, VariableSpec } from './model.ts';

const num = z.number().nullish();
const mappingResult = z.object({ text: z.string().nullish(), color: z.string().nullish() }).nullish();

const panelSchema = z.object({
  type: z.string(),
  title: z.string().nullish(),
  description: z.string().nullish(),
  collapsed: z.boolean().nullish(),
  gridPos: z.object({ x: num, y: num, w: num, h: num }).nullish(),
  targets: z.array(z.object({ refId: z.string().nullish(), rawSql: z.string().nullish(), format: num, hide: z.boolean().nullish() })).nullish(),
  fieldConfig: z
    .object({
      defaults: z
        .object({
          unit: z.string().nullish(),
          decimals: num,
          min: num,
          max: num,
          thresholds: z.object({ steps: z.array(z.object({ value: num, color: z.string() })).nullish() }).nullish(),
          mappings: z.array(z.object({ type: z.string(), options: z.record(z.string(), z.unknown()).nullish() })).nullish(),
          custom: z
            .object({
              thresholdsStyle: z.object({ mode: z.string().nullish() }).nullish(),
              cellOptions: z.object({ type: z.string().nullish() }).nullish(),
              displayMode: z.string().nullish(),
            })
            .nullish(),
        })
        .nullish(),
    })
    .nullish(),
  options: z.object({ orientation: z.string().nullish(), colorMode: z.string().nullish() }).nullish(),
  panels: z.array(z.unknown()).nullish(),
});

type RawPanel = z.infer<typeof panelSchema>;

const dashboardSchema = z.object({
  uid: z.string().nullish(),
  title: z.string().nullish(),
  description: z.string().nullish(),
  panels: z.array(z.unknown()).nullish(),
  templating: z
    .object({
      list: z
        .array(
          z.object({
            type: z.string(),
            name: z.string(),
            label: z.string().nullish(),
            includeAll: z.boolean().nullish(),
            allValue: z.string().nullish(),
            query: z.union([z.string(), z.object({ query: z.string().nullish(), rawSql: z.string().nullish() })]).nullish(),
            options: z.array(z.object({ value: z.union([z.string(), z.array(z.string())]).nullish() })).nullish(),
          }),
        )
        .nullish(),
    })
    .nullish(),
});

/** Panel types the report draws; every other type is drawn as a table of its query's rows. */
const KIND: Record<string, PanelKind> = { stat: 'stat', gauge: 'gauge', timeseries: 'timeseries', barchart: 'barchart', bargauge: 'barchart', table: 'table' };

export class DashboardShapeError extends Error {
  override name = 'DashboardShapeError';
}

function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new DashboardShapeError(`${where} is not a dashboard model the report can read:\n${z.prettifyError(r.error)}`);
  return r.data;
}

function mappings(raw: NonNullable<NonNullable<NonNullable<RawPanel['fieldConfig']>['defaults']>['mappings']>): ValueMapping[] {
  const result = (r: unknown) => {
    const m = mappingResult.safeParse(r);
    return m.success && m.data ? { ...(m.data.text != null && { text: m.data.text }), ...(m.data.color != null && { color: m.data.color }) } : {};
  };
  const out: ValueMapping[] = [];
  for (const m of raw) {
    const o = m.options ?? {};
    if (m.type === 'value') {
      out.push({ type: 'value', options: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, result(v)])) });
    } else if (m.type === 'range') {
      const from = typeof o.from === 'number' ? o.from : null;
      const to = typeof o.to === 'number' ? o.to : null;
      out.push({ type: 'range', from, to, result: result(o.result) });
    } else if (m.type === 'special' && (o.match === 'null' || o.match === 'null+nan')) {
      out.push({ type: 'null', result: result(o.result) });
    }
    // Regex and the other special matches do not occur in these dashboards' numbers.
  }
  return out;
}

function panelSpec(p: RawPanel): PanelSpec {
  const d = p.fieldConfig?.defaults;
  const cell = d?.custom?.cellOptions?.type ?? d?.custom?.displayMode ?? '';
  const thresholdsMode = d?.custom?.thresholdsStyle?.mode ?? 'off';
  return {
    kind: KIND[p.type] ?? 'table',
    grafanaType: p.type,
    title: p.title ?? '',
    description: p.description ?? '',
    width: Math.min(24, Math.max(1, p.gridPos?.w ?? 12)),
    height: Math.max(2, p.gridPos?.h ?? 8),
    field: {
      ...(d?.unit != null && { unit: d.unit }),
      ...(d?.decimals != null && { decimals: d.decimals }),
      ...(d?.min != null && { min: d.min }),
      ...(d?.max != null && { max: d.max }),
      thresholds: (d?.thresholds?.steps ?? []).map((s) => ({ value: s.value ?? null, color: s.color })),
      mappings: mappings(d?.mappings ?? []),
    },
    thresholdLine: thresholdsMode !== 'off' && thresholdsMode !== 'area',
    horizontal: p.type === 'bargauge' ? p.options?.orientation !== 'vertical' : p.options?.orientation === 'horizontal',
    colorBackground: p.type === 'bargauge' || /^background/.test(p.options?.colorMode ?? ''),
    colorCells: /^color-(?:background|text)/.test(cell),
    targets: (p.targets ?? [])
      .filter((t) => !t.hide && typeof t.rawSql === 'string' && t.rawSql.trim() !== '')
      .map((t, i) => ({ refId: t.refId ?? String.fromCharCode(65 + i), rawSql: t.rawSql as string, format: t.format ?? 1 })),
  };
}

const byPosition = (a: RawPanel, b: RawPanel) => (a.gridPos?.y ?? 0) - (b.gridPos?.y ?? 0) || (a.gridPos?.x ?? 0) - (b.gridPos?.x ?? 0);

function variableSpec(v: NonNullable<NonNullable<z.infer<typeof dashboardSchema>['templating']>['list']>[number]): VariableSpec {
  const query = typeof v.query === 'string' ? v.query : (v.query?.rawSql ?? v.query?.query ?? undefined);
  const spec: VariableSpec = { name: v.name, label: v.label ?? v.name, type: v.type, includeAll: v.includeAll ?? false };
  if (v.allValue != null && v.allValue !== '') spec.allValue = v.allValue;
  if (v.type === 'query') {
    if (query) spec.query = query;
    else spec.options = [];
  } else if (v.type === 'custom' && query !== undefined) {
    // Grafana's custom values: comma-separated, each `value` or `text : value`.
    spec.options = query.split(/(?<!\\),/).map((s) => (s.includes(' : ') ? s.slice(s.indexOf(' : ') + 3) : s).replace(/\\,/g, ',').trim()).filter(Boolean);
  } else if ((v.type === 'constant' || v.type === 'textbox') && query !== undefined) {
    spec.options = [query];
  } else {
    spec.options = (v.options ?? []).flatMap((o) => o.value ?? []).filter((o) => o !== '$__all');
  }
  return spec;
}

/** Reads a dashboard JSON model; throws DashboardShapeError saying which field is off. */
export function readDashboard(model: unknown): DashboardLayout {
  const d = parse(dashboardSchema, model, 'the dashboard');
  const where = `dashboard ${d.uid ?? d.title ?? '(untitled)'}`;
  const top = (d.panels ?? []).map((p, i) => parse(panelSchema, p, `${where}, panels[${i}]`)).sort(byPosition);
  const sections: Section[] = [];
  let current: Section = { panels: [] };
  for (const p of top) {
    if (p.type === 'row') {
      if (current.title !== undefined || current.panels.length > 0) sections.push(current);
      current = { title: p.title ?? '', panels: [] };
      // A collapsed row keeps its panels inside itself.
      const inner = (p.panels ?? []).map((q, i) => parse(panelSchema, q, `${where}, row "${p.title}", panels[${i}]`)).sort(byPosition);
      current.panels.push(...inner.map(panelSpec));
    } else {
      current.panels.push(panelSpec(p));
    }
  }
  if (current.title !== undefined || current.panels.length > 0) sections.push(current);
  return {
    uid: d.uid ?? '',
    title: d.title ?? 'Dashboard',
    description: d.description ?? '',
    variables: (d.templating?.list ?? []).map(variableSpec),
    sections,
  };
}
