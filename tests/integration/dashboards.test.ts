/**
 * The Grafana dashboards without Grafana: each built dashboard is valid against the
 * dashboard JSON schema (and each panel's options against its plugin's schema), each
 * target carries what the ClickHouse datasource needs, and each panel's SQL, with the
 * plugin's macros and the template variables expanded as Grafana would, runs on
 * ClickHouse over a simulated run and returns the columns the panel draws, with rows.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { CLICKHOUSE_DATASOURCE, ClickHouseFormat, isClickHouseQuery, type ClickHouseQuery } from '../../dashboards/clickhouseQuery.ts';
import { dashboardModels, type DashboardModel } from '../../dashboards/build.ts';
import { NO_CALIBRATION_ACTIVE, NO_CALIBRATION_YET } from '../../dashboards/keyDrivers.ts';
import { expandMacros, type MacroContext, type VariableValue } from '../../dashboards/macros.ts';
import { analystData, type AnalystData } from '../analystData.ts';
import { ACTIVE_ID, activeCalibration, NEWER_ID, newerCalibration } from '../fixtures/calibrations.ts';
import { sharedFile } from '../helpers.ts';

interface Panel {
  type: string;
  title: string;
  description?: string;
  targets?: unknown[];
  options?: unknown;
  fieldConfig?: { defaults?: { custom?: unknown; unit?: string } };
  panels?: Panel[];
}

interface Variable {
  type: string;
  name: string;
  query?: string;
  includeAll?: boolean;
  multi?: boolean;
}

const config = loadConfig({ ...process.env, CLICKHOUSE_URL: '' });
const built = dashboardModels(config);
const panelsOf = (d: DashboardModel): Panel[] => ((d.model.panels ?? []) as Panel[]).flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
const variablesOf = (d: DashboardModel): Variable[] => (d.model.templating?.list ?? []) as Variable[];
const targetsOf = (p: Panel): ClickHouseQuery[] => (p.targets ?? []) as ClickHouseQuery[];

/** The journeys dashboard's panels over the active calibration (dashboards/keyDrivers.ts), by title. */
const CALIBRATION_PANELS = ['Active calibration', 'Does memory predict outcomes? Held-out comparison', 'Key drivers: which touchpoints move outcomes', 'Where do we start?'];

/** Numeric ClickHouse types, as a panel can draw them (Nullable and LowCardinality unwrapped). */
const NUMERIC = /^(U?Int\d+|Float\d+|Decimal.*|Bool)$/;
const TEMPORAL = /^(DateTime|DateTime64.*|Date|Date32)(\(.*\))?$/;
const bare = (type: string) => type.replace(/^(Nullable|LowCardinality)\((.*)\)$/, '$2').replace(/^(Nullable|LowCardinality)\((.*)\)$/, '$2');

describe('dashboards as built', () => {
  it('are the three dashboards, each written by the build', () => {
    expect(built.map((d) => d.uid)).toEqual(['cx-live', 'cx-journeys', 'cx-pipeline']);
    for (const d of built) expect(d.model.title).toBe(d.title);
  });

  it('validate against the Grafana dashboard schema, and every panel\'s options against its plugin\'s schema', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(readFileSync(sharedFile('grafana-jsonschema/dashboard.jsonschema.json'), 'utf8')));
    const pluginSchemas = new Map<string, { options: ValidateFunction; fieldConfig?: ValidateFunction }>();
    for (const d of built) {
      // Validate the JSON as written to disk, not the builder's objects.
      const json: unknown = JSON.parse(JSON.stringify(d.model));
      expect(validate(json) ? [] : validate.errors, d.uid).toEqual([]);
      for (const p of panelsOf(d)) {
        if (!pluginSchemas.has(p.type)) {
          const schema = JSON.parse(readFileSync(sharedFile(`grafana-jsonschema/${p.type}.jsonschema.json`), 'utf8')) as { definitions: Record<string, unknown> };
          const ajvPanel = new Ajv({ strict: false, allErrors: true });
          ajvPanel.addSchema(schema, 'panel');
          pluginSchemas.set(p.type, {
            options: ajvPanel.compile({ $ref: 'panel#/definitions/Options' }),
            fieldConfig: schema.definitions.FieldConfig ? ajvPanel.compile({ $ref: 'panel#/definitions/FieldConfig' }) : undefined,
          });
        }
        const v = pluginSchemas.get(p.type) as { options: ValidateFunction; fieldConfig?: ValidateFunction };
        const panel = JSON.parse(JSON.stringify(p)) as Panel;
        expect(v.options(panel.options) ? [] : v.options.errors, `${d.uid} / ${p.title}: options`).toEqual([]);
        if (v.fieldConfig && panel.fieldConfig?.defaults?.custom) {
          expect(v.fieldConfig(panel.fieldConfig.defaults.custom) ? [] : v.fieldConfig.errors, `${d.uid} / ${p.title}: fieldConfig.custom`).toEqual([]);
        }
      }
    }
  });

  it('give every panel a title, a description that explains it, and ClickHouse targets with what the plugin needs', () => {
    for (const d of built) {
      const ids = ((d.model.panels ?? []) as { id?: number }[]).map((p) => p.id);
      expect(ids.every((id) => Number.isInteger(id)), `${d.uid}: panel ids`).toBe(true);
      expect(new Set(ids).size, `${d.uid}: panel ids are unique`).toBe(ids.length);
      const titles = panelsOf(d).map((p) => p.title);
      expect(new Set(titles).size, `${d.uid}: panel titles are unique`).toBe(titles.length);
      for (const p of panelsOf(d)) {
        const where = `${d.uid} / ${p.title}`;
        expect(p.description?.length ?? 0, `${where}: description`).toBeGreaterThan(40);
        expect((p as { datasource?: unknown }).datasource, `${where}: datasource`).toEqual(CLICKHOUSE_DATASOURCE);
        const targets = targetsOf(p);
        expect(targets.length, `${where}: targets`).toBeGreaterThan(0);
        for (const t of targets) {
          expect(isClickHouseQuery(t), where).toBe(true);
          expect(t.datasource).toEqual(CLICKHOUSE_DATASOURCE);
          expect(t.editorType).toBe('sql');
          expect(t.refId).toMatch(/^[A-Z]$/);
          expect(t.rawSql.trim().length).toBeGreaterThan(20);
          // Time series panels read the plugin's time-series frames; the others tables.
          expect(t.format, where).toBe(p.type === 'timeseries' ? ClickHouseFormat.TimeSeries : ClickHouseFormat.Table);
          expect(t.queryType, where).toBe(p.type === 'timeseries' ? 'timeSeries' : 'table');
          // Qualified tables: the datasource's default database is not ours to assume.
          expect(t.rawSql, where).not.toMatch(/\bFROM\s+(?!\(|system\.|cx\.)[a-z_]+\b/);
        }
        // A unit where the panel shows numbers people compare.
        if (['timeseries', 'stat', 'gauge', 'barchart'].includes(p.type)) expect(p.fieldConfig?.defaults?.unit, `${where}: unit`).toBeTruthy();
      }
    }
  });

  it('define every variable a query uses, and use every variable they define', () => {
    for (const d of built) {
      const defined = variablesOf(d).map((v) => v.name);
      const sql = [...panelsOf(d).flatMap((p) => targetsOf(p).map((t) => t.rawSql)), ...variablesOf(d).map((v) => v.query ?? '')].join('\n');
      const used = new Set([...sql.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(?!__)(\w+)|\[\[(\w+)\]\]/g)].map((m) => m[1] ?? m[2] ?? m[3]));
      expect([...used].filter((u) => !defined.includes(u as string)), d.uid).toEqual([]);
      expect(defined.filter((v) => !used.has(v)), d.uid).toEqual([]);
      for (const v of variablesOf(d)) {
        expect(v.includeAll && v.multi, `${d.uid}: $${v.name} is multi-select with All`).toBe(true);
      }
    }
    expect(variablesOf(built[0] as DashboardModel).map((v) => v.name)).toEqual(['channel', 'leg']);
    expect(variablesOf(built[1] as DashboardModel).map((v) => v.name)).toEqual(['channel', 'leg', 'department']);
  });
});

describe('every panel\'s SQL on a simulated run', () => {
  let d: AnalystData;
  let options: Record<string, string[]>;
  let range: { from: Date; to: Date };

  beforeAll(async () => {
    d = await analystData();
    // The dashboards as built for this dataset's database.
    expect(d.database).toBe(config.clickhouseDatabase);
    // The whole run and its storing, as a user would pick it in the time picker: "now" is when the build finished.
    range = { from: new Date(d.from), to: new Date(d.builtAt) };
    options = {};
    for (const dash of built) {
      for (const v of variablesOf(dash)) {
        if (options[v.name]) continue;
        if (v.type === 'custom') options[v.name] = (v.query ?? '').split(',');
        else {
          // A query variable: its options are what its query returns (itself with the plugin's macros).
          const sql = expandMacros(v.query ?? '', { ...range, intervalMs: 60_000, variables: {} });
          options[v.name] = (await d.store.query<Record<string, string>>(sql)).map((r) => Object.values(r)[0] as string);
        }
      }
    }
  });
  afterAll(async () => d?.close());

  const context = (selection: Record<string, VariableValue['selected']>): MacroContext => ({
    ...range,
    // Grafana's interval for a 3-hour range drawn about 1,000 pixels wide: 3 h / 1,000 = 10.8 s, rounded up to a minute (our finest grain).
    intervalMs: 60_000,
    variables: Object.fromEntries(Object.entries(options).map(([name, opts]) => [name, { options: opts, selected: selection[name] ?? 'All' }])),
  });

  async function describeColumns(sql: string): Promise<{ name: string; type: string }[]> {
    return d.store.query<{ name: string; type: string }>(`DESCRIBE TABLE (${sql})`);
  }

  it('has options for every variable: the contract\'s channels and legs, and the departments in the data', () => {
    expect(options.channel).toContain('WEB');
    expect(options.leg).toEqual(['PRODUCT', 'OPERATIONS', 'SALES_MARKETING']);
    expect(options.department?.length).toBeGreaterThan(2);
  });

  for (const dash of built) {
    for (const panel of panelsOf(dash)) {
      it(`${dash.uid} / ${panel.title} (${panel.type}): returns what the panel draws, with rows, for "All"`, async () => {
        for (const t of targetsOf(panel)) {
          const sql = expandMacros(t.rawSql, context({}));
          expect(sql).not.toMatch(/\$__|\$\{|\[\[/);
          const columns = await describeColumns(sql);
          const types = columns.map((c) => bare(c.type));
          const numeric = types.filter((ty) => NUMERIC.test(ty)).length;
          if (panel.type === 'timeseries') {
            // time first, then values (a string label column is pivoted into series by the plugin)
            expect(columns[0]?.name).toBe('time');
            expect(types[0]).toMatch(TEMPORAL);
            expect(numeric).toBeGreaterThan(0);
            expect(types.slice(1).every((ty) => NUMERIC.test(ty) || ty === 'String')).toBe(true);
          } else if (panel.type === 'stat' || panel.type === 'gauge') {
            expect(numeric).toBe(columns.length);
          } else if (panel.type === 'barchart') {
            expect(types[0]).toBe('String');
            expect(numeric).toBe(columns.length - 1);
          }
          const rows = await d.store.query<Record<string, unknown>>(sql);
          expect(rows.length, `no rows from:\n${sql}`).toBeGreaterThan(0);
          if (panel.type === 'stat' || panel.type === 'gauge') {
            // One row, every value a number (a NULL would show "No data").
            expect(rows.length).toBe(1);
            for (const v of Object.values(rows[0] as object)) expect(v, sql).not.toBeNull();
          }
        }
      });

      it(`${dash.uid} / ${panel.title}: runs with one value and with two values of each variable`, async () => {
        const variables = variablesOf(dash).map((v) => v.name);
        for (const t of targetsOf(panel)) {
          const all = (await d.store.query<Record<string, unknown>>(expandMacros(t.rawSql, context({})))).length;
          for (const pick of [(o: string[]) => o.slice(0, 1), (o: string[]) => o.slice(1, 3)]) {
            const selection = Object.fromEntries(variables.map((v) => [v, pick(options[v] as string[])]));
            const sql = expandMacros(t.rawSql, context(selection));
            const rows = await d.store.query<Record<string, unknown>>(sql);
            // A filter never adds rows to a list (stat panels always return their one row).
            expect(rows.length, sql).toBeLessThanOrEqual(Math.max(all, 1));
          }
        }
      });
    }
  }

  it('show the active calibration\'s stored figures: its id, the held-out comparison, the key drivers heaviest first, where to start', async () => {
    const journeys = built.find((b) => b.uid === 'cx-journeys') as DashboardModel;
    const run = async (title: string) => {
      const panel = panelsOf(journeys).find((p) => p.title === title) as Panel;
      return d.store.query<Record<string, unknown>>(expandMacros(targetsOf(panel)[0]?.rawSql as string, context({})));
    };
    // The fixture's figures (tests/fixtures/calibrations.ts): ACTIVE, not the newer fit activated before it.
    const fixture = activeCalibration({ createdAt: 0, windowFrom: 0, windowTo: 0 });
    const [active, ...more] = await run('Active calibration');
    expect(more).toEqual([]);
    expect({ ...active, customers_n: Number(active?.customers_n), experiences_n: Number(active?.experiences_n) }).toMatchObject({
      calibration: ACTIVE_ID, good_outcome: fixture.outcome, customers_n: fixture.customers, experiences_n: fixture.experiences, train_share: 0.5, bad_weight: 1.62, half_life_days: 24.5, bad_factor: 4.8,
    });
    expect(Date.parse(`${String(active?.window_from).replace(' ', 'T')}Z`)).toBe(Date.parse(d.from));

    // 64-bit integers may come as numbers or strings (a server quotes them): compared as numbers.
    const heldOut = (await run('Does memory predict outcomes? Held-out comparison')).map((r) => ({ ...r, held_out_customers: Number(r.held_out_customers) }));
    expect(heldOut).toEqual([
      { score: 'plain mean', held_out_auc: 0.7121, held_out_log_loss: 0.6408, held_out_customers: 1480, good_rate: 0.412 },
      { score: 'default memory', held_out_auc: 0.6984, held_out_log_loss: 0.6517, held_out_customers: 1480, good_rate: 0.412 },
      { score: 'calibrated memory', held_out_auc: 0.7468, held_out_log_loss: 0.6113, held_out_customers: 1480, good_rate: 0.412 },
    ]);

    // Every key driver of the fixture, the heaviest first (its figures have no more decimals than the panel shows).
    const drivers = (await run('Key drivers: which touchpoints move outcomes')).map((r): Record<string, unknown> => ({ ...r, experiences_n: Number(r.experiences_n) }));
    const heaviestFirst = [...fixture.keyDrivers].sort((a, b) => b.weight - a.weight || a.touchpoint.localeCompare(b.touchpoint));
    expect(drivers).toEqual(heaviestFirst.map((k) => ({
      touchpoint: k.touchpoint, leg: k.leg, department: k.department, weight: k.weight, weight_low: k.low, weight_high: k.high,
      auc_fall: k.aucFall, experiences_n: k.experiences, bad_share_pct: Math.round(k.badShare * 1000) / 10,
    })));
    expect(drivers[0]?.touchpoint).toBe('checkout');

    const starts = await run('Where do we start?');
    expect(starts.map((r) => [Number(r.rank_n), r.touchpoint, r.department, r.rise_pts, r.rise_low_pts, r.rise_high_pts])).toEqual(
      fixture.whereToStart.map((w) => [w.rank, w.touchpoint, w.department, Math.round(w.rise * 1e4) / 100, Math.round(w.low * 1e4) / 100, Math.round(w.high * 1e4) / 100]),
    );
  });

  it('say "no calibration yet: run npx cx calibrate" with no calibration, "no calibration active" after going back to the defaults, and follow the last activation', async () => {
    // A database of the same store with only the calibration tables, empty: the panels built for it.
    const nocal = `${d.database}_nocal`;
    await d.store.command(`CREATE DATABASE IF NOT EXISTS ${nocal}`);
    for (const t of ['calibrations', 'calibration_activations']) await d.store.command(`CREATE TABLE ${nocal}.${t} AS ${d.database}.${t}`);
    const journeys = dashboardModels({ ...config, clickhouseDatabase: nocal }).find((b) => b.uid === 'cx-journeys') as DashboardModel;
    const panels = panelsOf(journeys).filter((p) => CALIBRATION_PANELS.includes(p.title));
    expect(panels.map((p) => p.title)).toEqual(CALIBRATION_PANELS);
    const state = async () => {
      const out: string[] = [];
      for (const p of panels) {
        const sql = expandMacros(targetsOf(p)[0]?.rawSql as string, context({}));
        const rows = await d.store.query<Record<string, unknown>>(sql);
        // One row: a text saying so, every other column NULL (the table shows the sentence, not an error or "No data").
        expect(rows.length, `${p.title}:\n${sql}`).toBe(1);
        const texts = Object.values(rows[0] as object).filter((v) => v !== null);
        expect(texts.length, p.title).toBe(1);
        out.push(String(texts[0]));
      }
      return out;
    };
    expect(await state()).toEqual(panels.map(() => NO_CALIBRATION_YET));
    // Both fits stored, and the defaults chosen ('' is "back to the defaults").
    await d.store.command(`INSERT INTO ${nocal}.calibrations SELECT * FROM ${d.database}.calibrations`);
    await d.store.command(`INSERT INTO ${nocal}.calibration_activations VALUES (now64(3) - 2, '')`);
    expect(await state()).toEqual(panels.map(() => NO_CALIBRATION_ACTIVE));
    // The newer fit activated: the panels follow it.
    await d.store.command(`INSERT INTO ${nocal}.calibration_activations VALUES (now64(3) - 1, '${NEWER_ID}')`);
    const newer = newerCalibration({ createdAt: 0, windowFrom: 0, windowTo: 0 });
    const rows = await d.store.query<{ calibration: string; bad_weight: number }>(expandMacros(targetsOf(panels[0] as Panel)[0]?.rawSql as string, context({})));
    expect(rows).toMatchObject([{ calibration: NEWER_ID, bad_weight: newer.parameters.badWeight }]);
    const starts = await d.store.query<{ touchpoint: string }>(expandMacros(targetsOf(panels[3] as Panel)[0]?.rawSql as string, context({})));
    expect(starts.map((s) => s.touchpoint)).toEqual(newer.whereToStart.map((w) => w.touchpoint));
  });

  it('show the incidents: the checkout step among open or past alerts, CHAT bad during its outage', async () => {
    const live = built[0] as DashboardModel;
    const panel = (title: string) => panelsOf(live).find((p) => p.title === title) as Panel;
    // Bad rate by touchpoint over the step's 40 minutes: checkout's series is far above its normal rate (about 8%; the step is 50%).
    const step = { from: new Date(d.checkoutStep.from), to: new Date(d.checkoutStep.to) };
    const badRate = expandMacros(targetsOf(panel('Bad rate by touchpoint'))[0]?.rawSql as string, { ...context({}), ...step });
    const rows = await d.store.query<{ touchpoint_name: string; bad_share: number }>(`SELECT touchpoint_name, avg(bad_share) AS bad_share FROM (${badRate}) GROUP BY touchpoint_name`);
    const checkout = rows.find((r) => r.touchpoint_name === 'checkout (WEB)');
    expect(checkout?.bad_share).toBeGreaterThan(0.35);
    // The open-alerts table at the end of the step holds the checkout alert.
    const open = await d.store.query<{ touchpoint: string; kind: string }>(expandMacros(targetsOf(panel('Open alerts'))[0]?.rawSql as string, { ...context({}), ...step }));
    expect(open.some((a) => a.kind === 'TOUCHPOINT_DEGRADED' && a.touchpoint === 'checkout')).toBe(true);
    // The last 15 minutes of the step: checkout is degraded, and listed first.
    const recent = await d.store.query<{ touchpoint: string; state_now: string }>(
      expandMacros(targetsOf(panel('Touchpoints in the last 15 minutes'))[0]?.rawSql as string, { ...context({}), ...step }),
    );
    expect(recent[0]).toMatchObject({ touchpoint: 'checkout', state_now: 'degraded' });
  });
});
