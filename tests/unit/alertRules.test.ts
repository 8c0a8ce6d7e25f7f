/**
 * The Grafana alert rules as Grafana's provisioning will read them: the committed
 * build is current, every rule is well formed, and docker-compose mounts the file where
 * Grafana looks. (What the rules' SQL says is tested against ClickHouse in
 * tests/integration/alertRules.test.ts.)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { AlertRuleFile, ProvisionedAlertRule } from '../../dashboards/alerts/ruleFile.ts';
import { BUILD_DIR, renderBuild, type BuildConfig } from '../../dashboards/build.ts';
import { CLICKHOUSE_DATASOURCE, ClickHouseFormat, isClickHouseQuery } from '../../dashboards/clickhouseQuery.ts';
import { loadConfig } from '../../platform/config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RULES_FILE = 'alerting/cx-alert-rules.json';

function ruleFile(config: BuildConfig): AlertRuleFile {
  const file = renderBuild(config).find((f) => f.path === RULES_FILE);
  if (!file) throw new Error(`the build has no ${RULES_FILE}`);
  return JSON.parse(file.text) as AlertRuleFile;
}

const defaults = loadConfig({});
const built = ruleFile(defaults);
const rules: ProvisionedAlertRule[] = built.groups.flatMap((g) => g.rules);

function sqlOf(rule: ProvisionedAlertRule): string[] {
  return rule.data.map((q) => q.model).filter(isClickHouseQuery).map((m) => m.rawSql);
}

/** Grafana parses `for` and `interval` with Prometheus' model.ParseDuration. */
function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
  if (!/^(?:\d+(?:ms|s|m|h|d|w|y))+$/.test(text)) throw new Error(`"${text}" is not a Prometheus duration (e.g. 0s, 5m, 1h30m)`);
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) ms += Number(n) * (units[unit as string] as number);
  return ms;
}

describe('the committed build (alert rules and dashboards)', () => {
  it('is what `npx cx dashboards build` makes from the default configuration', () => {
    for (const f of renderBuild(defaults)) {
      const committed = join(BUILD_DIR, f.path);
      expect(existsSync(committed), `${committed} is missing: run \`npx cx dashboards build\``).toBe(true);
      expect(readFileSync(committed, 'utf8'), `${committed} is stale: run \`npx cx dashboards build\` (with CLICKHOUSE_DATABASE and CX_STOOL_THRESHOLD unset)`).toBe(f.text);
    }
  });

  it('has no leftover rule or dashboard files that Grafana would provision too', () => {
    for (const folder of ['alerting', 'dashboards']) {
      const expected = renderBuild(defaults).filter((f) => f.path.startsWith(`${folder}/`)).map((f) => f.path.slice(folder.length + 1));
      expect(expected.length, folder).toBeGreaterThan(0);
      expect(readdirSync(join(BUILD_DIR, folder)).sort(), folder).toEqual(expected.sort());
    }
  });
});

describe('the alert rules', () => {
  it('are one group of four, evaluated every minute in the CX folder', () => {
    expect(built.apiVersion).toBe(1);
    expect(built.groups).toHaveLength(1);
    const group = built.groups[0];
    expect(group).toMatchObject({ orgId: 1, name: 'cx-pipeline', folder: 'CX', interval: '1m' });
    expect(durationMs(group?.interval ?? '')).toBe(60_000);
    expect(rules.map((r) => r.title)).toEqual(['Touchpoint degraded', 'Stool not standing', 'Pipeline stalled', 'Dead-letter rate too high']);
  });

  it('have unique, valid uids and a title', () => {
    for (const r of rules) {
      expect(r.uid, r.title).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
      expect(r.title.trim().length, r.uid).toBeGreaterThan(0);
    }
    expect(new Set(rules.map((r) => r.uid)).size).toBe(rules.length);
  });

  it.each(rules.map((r) => [r.title, r] as const))('%s: its condition and every expression refer to queries it has', (_title, r) => {
    const refIds = r.data.map((q) => q.refId);
    expect(new Set(refIds).size, 'refIds are unique').toBe(refIds.length);
    expect(refIds).toContain(r.condition);
    r.data.forEach((q, i) => {
      expect(q.model).toMatchObject({ refId: q.refId });
      if (q.datasourceUid !== '__expr__') return;
      const model = q.model as unknown as { type: string; expression: string };
      expect(['threshold', 'reduce', 'math']).toContain(model.type);
      // A reduce or threshold names one earlier query; math refers to them as $A.
      const refs = model.type === 'math' ? [...model.expression.matchAll(/\$\{?([A-Za-z]\w*)/g)].map((m) => m[1]) : [model.expression];
      for (const ref of refs) expect(refIds.slice(0, i), `${q.refId} reads ${ref}`).toContain(ref);
    });
  });

  it.each(rules.map((r) => [r.title, r] as const))('%s: queries ClickHouse through the provisioned datasource, expressions through __expr__', (_title, r) => {
    const provisioned = (parse(readFileSync(join(ROOT, 'dashboards/provisioning/datasources/clickhouse.yaml'), 'utf8')) as { datasources: { uid: string; type: string }[] }).datasources;
    expect(provisioned).toContainEqual(expect.objectContaining(CLICKHOUSE_DATASOURCE));
    expect(r.data.map((q) => q.datasourceUid)).toEqual([CLICKHOUSE_DATASOURCE.uid, '__expr__']);
    for (const q of r.data) {
      expect((q.model as { datasource?: unknown }).datasource).toEqual(q.datasourceUid === '__expr__' ? { type: '__expr__', uid: '__expr__' } : CLICKHOUSE_DATASOURCE);
      expect(q.relativeTimeRange.from).toBeGreaterThanOrEqual(q.relativeTimeRange.to ?? 0);
    }
    const sqlQuery = r.data[0]?.model;
    expect(isClickHouseQuery(sqlQuery)).toBe(true);
    expect(sqlQuery).toMatchObject({ editorType: 'sql', queryType: 'table', format: ClickHouseFormat.Table });
  });

  it.each(rules.map((r) => [r.title, r] as const))('%s: SQL without macros or variables, every table in the configured database', (_title, r) => {
    const sql = sqlOf(r);
    expect(sql).toHaveLength(1);
    for (const text of sql) {
      expect(text.trim().length).toBeGreaterThan(0);
      expect(text, 'no $__ macro or $variable: alert queries have no dashboard to expand them').not.toContain('$');
      expect(text).not.toMatch(/;\s*$/);
      const tables = [...text.matchAll(/\b(?:FROM|JOIN)\s+([A-Za-z_][\w.]*)/gi)].map((m) => m[1]);
      expect(tables.length).toBeGreaterThan(0);
      for (const t of tables) expect(t).toMatch(/^cx\.\w+$/);
    }
  });

  it.each(rules.map((r) => [r.title, r] as const))('%s: states, durations, labels and annotations Grafana accepts', (_title, r) => {
    expect(['OK', 'Alerting', 'NoData', 'KeepLast']).toContain(r.noDataState);
    expect(['OK', 'Alerting', 'Error', 'KeepLast']).toContain(r.execErrState);
    expect(durationMs(r.for)).toBeLessThanOrEqual(15 * 60_000);
    expect(r.isPaused).toBe(false);
    // service=cx is what the notification policy routes on (dashboards/alerts/routing.ts).
    expect(r.labels).toMatchObject({ service: 'cx', team: expect.stringMatching(/^cx-/), severity: expect.stringMatching(/^(critical|warning)$/) });
    expect(r.annotations.summary?.length).toBeGreaterThan(10);
    expect(r.annotations.description?.length).toBeGreaterThan(40);
    // Provisioning expands environment variables: $NAME in titles and labels, ${NAME} in annotations.
    for (const text of [r.uid, r.title, r.condition, r.for, ...Object.keys(r.labels), ...Object.values(r.labels)]) expect(text).not.toContain('$');
    for (const text of Object.values(r.annotations)) {
      expect(text).not.toContain('${');
      // Templates balance, and read only this rule's refIds.
      expect(text.split('{{').length).toBe(text.split('}}').length);
      for (const [, ref] of text.matchAll(/\$values\.(\w+)/g)) expect(r.data.map((q) => q.refId)).toContain(ref);
    }
  });

  it('take the database and the stool threshold E from the configuration', () => {
    const custom = ruleFile({ clickhouseDatabase: 'cx_staging', stoolThreshold: 0.45 }).groups.flatMap((g) => g.rules);
    for (const r of custom) {
      for (const sql of sqlOf(r)) {
        expect(sql).toContain('cx_staging.');
        expect(sql).not.toMatch(/\bcx\./);
      }
    }
    const stool = custom.find((r) => r.uid === 'cx-stool-not-standing');
    expect(stool?.data[1]?.model).toMatchObject({ type: 'threshold', expression: 'A', conditions: [{ evaluator: { type: 'lt', params: [0.45] } }] });
    expect(stool?.annotations.summary).toContain('E = 0.45');
    const fromDefaults = rules.find((r) => r.uid === 'cx-stool-not-standing');
    expect(fromDefaults?.data[1]?.model).toMatchObject({ conditions: [{ evaluator: { type: 'lt', params: [0.6] } }] });
  });
});

describe('Grafana provisioning in docker-compose.yml', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: { grafana: { volumes: string[] } } };
  const mounts = compose.services.grafana.volumes.map((v) => {
    const [source, target, mode] = v.split(':');
    return { source: source as string, target: target as string, mode };
  });
  const mountOf = (target: string) => mounts.find((m) => m.target === target);

  it('mounts the built alert rules where Grafana reads alert provisioning files', () => {
    const alerting = mountOf('/etc/grafana/provisioning/alerting');
    expect(alerting).toEqual({ source: './dashboards/build/alerting', target: '/etc/grafana/provisioning/alerting', mode: 'ro' });
    expect(readdirSync(join(ROOT, alerting?.source ?? ''))).toContain('cx-alert-rules.json');
    // Inside the read-only provisioning mount, the mount point must already exist.
    expect(mountOf('/etc/grafana/provisioning')?.source).toBe('./dashboards/provisioning');
    expect(existsSync(join(ROOT, 'dashboards/provisioning/alerting'))).toBe(true);
    // Grafana takes .yaml, .yml and .json only; anything else here would be hidden by the mount anyway.
    expect(readdirSync(join(ROOT, 'dashboards/provisioning/alerting')).filter((f) => /\.(ya?ml|json)$/.test(f))).toEqual([]);
  });

  it('keeps alert rules out of the folder the dashboard provider loads (it reads subfolders too)', () => {
    const provider = (parse(readFileSync(join(ROOT, 'dashboards/provisioning/dashboards/cx.yaml'), 'utf8')) as { providers: { options: { path: string } }[] }).providers[0];
    const dashboards = mountOf(provider?.options.path ?? '');
    expect(dashboards?.source).toBe('./dashboards/build/dashboards');
    expect(existsSync(join(ROOT, dashboards?.source ?? ''))).toBe(true);
    expect(join(ROOT, dashboards?.source ?? '')).not.toBe(join(ROOT, mountOf('/etc/grafana/provisioning/alerting')?.source ?? ''));
  });
});
