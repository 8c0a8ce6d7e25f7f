/**
 * The contact point and notification policy as Grafana's provisioning will read them
 * (alerting/cx-notifications.json), and that the policy routes the rules' alerts where
 * it says.
 *
 * Two sources of truth about the format:
 * - alerting.jsonschema.json (the foundation SDK's schemas, generated from Grafana's API
 *   types) defines ContactPoint (one integration) and NotificationPolicy (a route, its
 *   subroutes recursively). The file's integrations and its policy tree are exactly those,
 *   so they are validated against them with ajv.
 * - The file's wrappers are not in that schema. They are checked against Grafana's
 *   documented file provisioning format ("Use configuration files to provision alerting
 *   resources"): `apiVersion: 1`; `contactPoints`, each `orgId`, a `name` and its
 *   integrations under `receivers`, each with a `uid` (required, at most 40 characters),
 *   a `type` and `settings`; `policies`, one tree per `orgId`, whose `receiver`s name
 *   contact points; environment variables written `$NAME`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { NotificationFile, ProvisionedPolicy } from '../../dashboards/alerts/notificationFile.ts';
import { CONTACT_POINT_NAME, CONTACT_POINTS, GROUP_BY, URL_VARIABLE, type ContactPointKind } from '../../dashboards/alerts/routing.ts';
import type { AlertRuleFile } from '../../dashboards/alerts/ruleFile.ts';
import { renderBuild } from '../../dashboards/build.ts';
import { loadConfig } from '../../platform/config.ts';
import { sharedFile } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FILE = 'alerting/cx-notifications.json';
const defaults = loadConfig({});

function built(contactPoint?: ContactPointKind): { text: string; file: NotificationFile; rules: AlertRuleFile } {
  const files = renderBuild({ ...defaults, contactPoint });
  const text = files.find((f) => f.path === FILE)?.text;
  const rules = files.find((f) => f.path === 'alerting/cx-alert-rules.json')?.text;
  if (!text || !rules) throw new Error(`the build has no ${FILE} or no rule file`);
  return { text, file: JSON.parse(text) as NotificationFile, rules: JSON.parse(rules) as AlertRuleFile };
}

const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema(JSON.parse(readFileSync(sharedFile('grafana-jsonschema/alerting.jsonschema.json'), 'utf8')), 'alerting');
const validIntegration: ValidateFunction = ajv.compile({ $ref: 'alerting#/definitions/ContactPoint' });
const validPolicy: ValidateFunction = ajv.compile({ $ref: 'alerting#/definitions/NotificationPolicy' });

/** Grafana parses the policy's durations with Prometheus' model.ParseDuration. */
function durationMs(text: string | undefined): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
  if (!text || !/^(?:\d+(?:ms|s|m|h|d|w|y))+$/.test(text)) throw new Error(`"${text}" is not a Prometheus duration (e.g. 30s, 5m, 4h)`);
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) ms += Number(n) * (units[unit as string] as number);
  return ms;
}

function routesOf(p: ProvisionedPolicy | NonNullable<ProvisionedPolicy['routes']>[number]): NonNullable<ProvisionedPolicy['routes']>[number][] {
  return [p, ...(p.routes ?? []).flatMap(routesOf)];
}

interface Routed { receiver?: string; group_by?: string[]; group_wait?: string; group_interval?: string; repeat_interval?: string; depth: number }

/**
 * Where an alert with these labels goes, as Alertmanager routes it: from the root, into
 * the first child whose matchers all hold (none of ours sets `continue`), as deep as
 * one matches; a child inherits what it does not set.
 */
function route(policy: ProvisionedPolicy, labels: Record<string, string>): Routed {
  const holds = ([name, op, value]: string[]): boolean => {
    const v = labels[name as string] ?? '';
    if (op === '=') return v === value;
    if (op === '!=') return v !== value;
    const re = new RegExp(`^(?:${value})$`);
    return op === '=~' ? re.test(v) : !re.test(v);
  };
  let node: NonNullable<ProvisionedPolicy['routes']>[number] = policy;
  let at: Routed = { receiver: policy.receiver, group_by: policy.group_by, group_wait: policy.group_wait, group_interval: policy.group_interval, repeat_interval: policy.repeat_interval, depth: 0 };
  for (;;) {
    const next = (node.routes ?? []).find((r) => (r.object_matchers ?? []).every(holds));
    if (!next) return at;
    expect(next.continue ?? false, 'no route continues to its siblings').toBe(false);
    at = {
      receiver: next.receiver ?? at.receiver, group_by: next.group_by ?? at.group_by, group_wait: next.group_wait ?? at.group_wait,
      group_interval: next.group_interval ?? at.group_interval, repeat_interval: next.repeat_interval ?? at.repeat_interval, depth: at.depth + 1,
    };
    node = next;
  }
}

describe.each(CONTACT_POINTS.map((k) => [k] as const))('the notification file, contact point %s', (kind) => {
  const { text, file, rules } = built(kind);
  const policy = file.policies[0] as ProvisionedPolicy;

  it('has the documented shape: apiVersion 1, contact points with their integrations, one policy tree per org', () => {
    expect(Object.keys(file).sort()).toEqual(['apiVersion', 'contactPoints', 'policies']);
    expect(file.apiVersion).toBe(1);
    expect(file.contactPoints.length).toBeGreaterThan(0);
    for (const c of file.contactPoints) {
      expect(Object.keys(c).sort(), c.name).toEqual(['name', 'orgId', 'receivers']);
      expect(Number.isInteger(c.orgId) && c.orgId >= 1, c.name).toBe(true);
      expect(c.name.trim().length, 'name').toBeGreaterThan(0);
      expect(c.receivers.length, c.name).toBeGreaterThan(0);
      for (const r of c.receivers) {
        expect(r.uid, c.name).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
        expect(Object.keys(r.settings as object).length, `${c.name}: settings`).toBeGreaterThan(0);
      }
    }
    const uids = file.contactPoints.flatMap((c) => c.receivers.map((r) => r.uid));
    expect(new Set(uids).size, 'integration uids are unique').toBe(uids.length);
    expect(new Set(file.contactPoints.map((c) => c.name)).size, 'contact point names are unique').toBe(file.contactPoints.length);
    expect(file.policies).toHaveLength(1);
    expect(policy.orgId).toBe(1);
    // The rules' org: a policy in another org would never see them.
    expect(rules.groups.every((g) => g.orgId === policy.orgId)).toBe(true);
  });

  it('has integrations and a policy tree valid against Grafana\'s ContactPoint and NotificationPolicy schemas', () => {
    for (const c of file.contactPoints) {
      for (const r of c.receivers) expect(validIntegration({ ...r, name: c.name }) ? [] : validIntegration.errors, `${c.name}/${r.uid}`).toEqual([]);
    }
    const { orgId: _orgId, ...tree } = policy;
    expect(validPolicy(tree) ? [] : validPolicy.errors).toEqual([]);
  });

  it(`sends to ${kind}, whose URL Grafana reads from $${URL_VARIABLE[kind]}`, () => {
    expect(file.contactPoints.map((c) => c.name)).toEqual([CONTACT_POINT_NAME[kind]]);
    const [integration] = file.contactPoints[0]?.receivers ?? [];
    expect(integration?.type).toBe(kind);
    expect(integration?.settings).toMatchObject({ url: `$${URL_VARIABLE[kind]}` });
    if (kind === 'webhook') expect(integration?.settings).toMatchObject({ httpMethod: 'POST' });
    // Provisioning expands every $NAME in the file: no other may be there.
    expect([...text.matchAll(/\$\{?(\w+)/g)].map((m) => m[1])).toEqual([URL_VARIABLE[kind]]);
  });

  it('names only contact points of the file as receivers, and the root has one', () => {
    expect(policy.receiver).toBe(CONTACT_POINT_NAME[kind]);
    const names = new Set(file.contactPoints.map((c) => c.name));
    for (const r of routesOf(policy)) if (r.receiver !== undefined) expect(names, r.receiver).toContain(r.receiver);
  });

  it('times notifications in Prometheus durations, each wait no longer than the next', () => {
    for (const r of routesOf(policy)) {
      for (const d of [r.group_wait, r.group_interval, r.repeat_interval]) if (d !== undefined) expect(durationMs(d)).toBeGreaterThan(0);
    }
    for (const labels of [{}, { service: 'cx', severity: 'warning' }, { service: 'cx', severity: 'critical' }] as Record<string, string>[]) {
      const r = route(policy, labels);
      expect(durationMs(r.group_wait), JSON.stringify(labels)).toBeLessThanOrEqual(durationMs(r.group_interval));
      expect(durationMs(r.group_interval), JSON.stringify(labels)).toBeLessThanOrEqual(durationMs(r.repeat_interval));
    }
  });

  it.each(rules.groups.flatMap((g) => g.rules.map((r) => [r.title, g.folder, r] as const)))('routes "%s" through the cx route to the contact point', (title, folder, rule) => {
    // What Grafana puts on the rule's alerts: its labels, the rule's name and folder, and the query's label columns.
    const labels = { ...rule.labels, alertname: title, grafana_folder: folder, channel: 'WEB', touchpoint: 'checkout', leg: 'OPERATIONS' };
    const r = route(policy, labels);
    expect(r.depth, 'matched the cx route, not left at the root').toBeGreaterThanOrEqual(1);
    expect(r.receiver).toBe(CONTACT_POINT_NAME[kind]);
    expect(r.group_by).toEqual(GROUP_BY);
    expect(r.group_wait).toBe('30s');
    expect(r.group_interval).toBe('5m');
    expect(r.repeat_interval, rule.labels.severity).toBe(rule.labels.severity === 'critical' ? '1h' : '4h');
  });

  it('groups by the rule and the labels the rules\' queries give their alerts', () => {
    // Label columns a rule's query returns are what its annotations read as $labels.X
    // (tests/integration/alertRules.test.ts checks the query returns them).
    const carried = new Set(['alertname', ...rules.groups.flatMap((g) => g.rules.flatMap((r) => [
      ...Object.keys(r.labels),
      ...Object.values(r.annotations).flatMap((a) => [...a.matchAll(/\$labels\.(\w+)/g)].map((m) => m[1] as string)),
    ]))]);
    for (const label of GROUP_BY) expect(carried, label).toContain(label);
    // Alerts from outside the cx rules stop at the root, with the same contact point.
    expect(route(policy, { alertname: 'Disk full', grafana_folder: 'Infra' })).toMatchObject({ depth: 0, receiver: CONTACT_POINT_NAME[kind] });
  });
});

describe('the notification file in the committed build and docker-compose', () => {
  const grafana = (parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: { grafana: { environment: Record<string, string>; volumes: string[] } } }).services.grafana;

  it('is mounted with the rules, where Grafana reads alerting provisioning files', () => {
    expect(grafana.volumes).toContain('./dashboards/build/alerting:/etc/grafana/provisioning/alerting:ro');
    expect(readFileSync(join(ROOT, 'dashboards/build', FILE), 'utf8')).toBe(built().text);
    expect(built().file.contactPoints.map((c) => c.name), 'the default build').toEqual([CONTACT_POINT_NAME.webhook]);
  });

  it('gets its URLs from Grafana\'s environment: the webhook\'s with a default http(s) URL, Slack\'s passed through', () => {
    // Grafana refuses a webhook integration without a URL at startup: the default keeps `docker compose up` working.
    const webhook = /^\$\{CX_GRAFANA_ALERT_WEBHOOK_URL:-(.+)\}$/.exec(grafana.environment[URL_VARIABLE.webhook] ?? '')?.[1];
    expect(webhook, `${URL_VARIABLE.webhook}: \${${URL_VARIABLE.webhook}:-<default URL>}`).toBeDefined();
    expect(new URL(webhook as string).protocol).toMatch(/^https?:$/);
    expect(grafana.environment[URL_VARIABLE.slack]).toBe(`\${${URL_VARIABLE.slack}:-}`);
  });
});
