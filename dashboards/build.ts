/**
 * What Grafana is provisioned with, rendered from code into one output directory
 * (by default dashboards/build/, which is committed so `docker compose up` works from a
 * clone; a test fails when it is stale):
 *
 *   alerting/cx-alert-rules.json   the alert rules   -> /etc/grafana/provisioning/alerting
 *   alerting/cx-notifications.json the contact point and notification policy (same folder)
 *   dashboards/*.json              the dashboards    -> /var/lib/grafana/dashboards
 *
 * Alert rules and dashboards sit in separate folders because Grafana's dashboard
 * provider loads every .json below its path, subfolders included.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { notificationFile, type RoutingConfig } from './alerts/routing.ts';
import { alertRuleFile, type AlertRulesConfig } from './alerts/rules.ts';
import { journeysDashboard } from './journeys.ts';
import type { KeyDriverConfig } from './keyDrivers.ts';
import { liveDashboard, type DashboardConfig } from './live.ts';
import { pipelineDashboard } from './pipeline.ts';

export const BUILD_DIR = fileURLToPath(new URL('./build/', import.meta.url));

export type BuildConfig = AlertRulesConfig & DashboardConfig & KeyDriverConfig & RoutingConfig;

export interface DashboardModel {
  uid: string;
  title: string;
  /** The dashboard JSON model Grafana provisions (dashboards/<uid>.json). */
  model: Dashboard;
}

/** The dashboards, as Grafana JSON models: live operations, journeys for analysts, the pipeline. */
export function dashboardModels(config: BuildConfig): DashboardModel[] {
  return [liveDashboard(config), journeysDashboard(config), pipelineDashboard(config)].map((model) => {
    // Panel ids, stable by position: Grafana links, "view panel" and alert annotations address panels by id.
    (model.panels ?? []).forEach((p, i) => {
      if (!p.id) p.id = i + 1;
    });
    return { uid: model.uid as string, title: model.title as string, model };
  });
}

export interface BuiltFile {
  /** Relative to the output directory, with "/" separators. */
  path: string;
  text: string;
  /** What the file holds, for people. */
  what: string;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Every file of the build, in memory: pure, so tests can compare it with what is committed. */
export function renderBuild(config: BuildConfig): BuiltFile[] {
  const rules = alertRuleFile(config);
  const titles = rules.groups.flatMap((g) => g.rules.map((r) => r.title));
  const routing = notificationFile(config);
  const contactPoints = routing.contactPoints.map((c) => `${c.name} (${c.receivers.map((r) => r.type).join(', ')})`);
  const panels = (d: Dashboard) => (d.panels ?? []).filter((p) => p.type !== 'row').length;
  return [
    { path: 'alerting/cx-alert-rules.json', text: json(rules), what: `${titles.length} alert rules: ${titles.join(', ')}` },
    { path: 'alerting/cx-notifications.json', text: json(routing), what: `contact point ${contactPoints.join(', ')} and the notification policy routing the rules to it` },
    ...dashboardModels(config).map((d) => ({ path: `dashboards/${d.uid}.json`, text: json(d.model), what: `dashboard "${d.title}", ${panels(d.model)} panels` })),
  ];
}

export interface BuildResult {
  written: (BuiltFile & { file: string })[];
  /** Files left over from an earlier build in the folders the build owns (e.g. a renamed rule file). */
  removed: string[];
}

/**
 * Writes the build under `outDir`. In each folder it writes to, .json files it did not
 * write are removed: Grafana would otherwise keep provisioning them.
 */
export function buildAll(config: BuildConfig, outDir: string): BuildResult {
  const files = renderBuild(config);
  const removed: string[] = [];
  for (const folder of new Set(files.map((f) => dirname(f.path)))) {
    const dir = join(outDir, folder);
    mkdirSync(dir, { recursive: true });
    const keep = new Set(files.filter((f) => dirname(f.path) === folder).map((f) => f.path.slice(folder.length + 1)));
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.json') && !keep.has(name)) {
        rmSync(join(dir, name));
        removed.push(join(dir, name));
      }
    }
  }
  const written = files.map((f) => {
    const file = join(outDir, f.path);
    writeFileSync(file, f.text);
    return { ...f, file };
  });
  return { written, removed };
}
