/**
 * Grafana's alert-rule provisioning file (apiVersion 1, read from
 * /etc/grafana/provisioning/alerting/), as types.
 *
 * Why not the SDK's types all the way: @grafana/grafana-foundation-sdk/alerting is
 * generated from Grafana's HTTP provisioning API, whose rule carries folderUID, orgID
 * and ruleGroup, and whose group has a numeric interval and a folder uid. The file
 * format puts orgId, the folder *title* and a duration-string interval on the group,
 * and spells some fields differently (keepFiringFor, missing_series_evals_to_resolve).
 * So rules and queries are built with the SDK's RuleBuilder and QueryBuilder (its
 * Query is exactly the file's query), and `provisionedRule` keeps the fields the file
 * shares with the API's rule; the group and the file are plain typed objects.
 */
import type { Query, Rule } from '@grafana/grafana-foundation-sdk/alerting';

/** A query or expression of a rule: the SDK's Query, with what the file needs made required. */
export type ProvisionedQuery = Required<Pick<Query, 'refId' | 'relativeTimeRange' | 'datasourceUid' | 'model'>>;

/** One rule (Grafana's AlertRuleV1). */
export interface ProvisionedAlertRule {
  uid: string;
  title: string;
  condition: string;
  data: ProvisionedQuery[];
  noDataState: Rule['noDataState'];
  execErrState: Rule['execErrState'];
  /** How long the condition must hold before the rule fires (a Prometheus duration). */
  for: string;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  isPaused: boolean;
}

/** One rule group (Grafana's AlertRuleGroupV1): evaluated together, every `interval`. */
export interface ProvisionedRuleGroup {
  orgId: number;
  name: string;
  /** Folder title; Grafana creates it if missing. */
  folder: string;
  interval: string;
  rules: ProvisionedAlertRule[];
}

export interface AlertRuleFile {
  apiVersion: 1;
  groups: ProvisionedRuleGroup[];
}

/** The expression datasource: reduce, math and threshold steps run inside Grafana. */
export const EXPRESSION_DATASOURCE = { type: '__expr__', uid: '__expr__' } as const;

/** The file's rule, from a rule built with the SDK's RuleBuilder. */
export function provisionedRule(rule: Rule): ProvisionedAlertRule {
  const where = `alert rule "${rule.title}"`;
  if (!rule.uid) throw new Error(`${where} has no uid: Grafana's provisioning needs one to keep the rule stable`);
  const data = rule.data.map((q, i): ProvisionedQuery => {
    if (!q.refId || !q.datasourceUid || !q.relativeTimeRange || !q.model) {
      throw new Error(`${where}: query #${i + 1} needs refId, datasourceUid, relativeTimeRange and model`);
    }
    return { refId: q.refId, relativeTimeRange: q.relativeTimeRange, datasourceUid: q.datasourceUid, model: q.model };
  });
  return {
    uid: rule.uid,
    title: rule.title,
    condition: rule.condition,
    data,
    noDataState: rule.noDataState,
    execErrState: rule.execErrState,
    for: rule.for,
    annotations: rule.annotations ?? {},
    labels: rule.labels ?? {},
    isPaused: rule.isPaused ?? false,
  };
}
