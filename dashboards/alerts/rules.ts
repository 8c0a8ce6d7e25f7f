/**
 * The pipeline's Grafana alert rules: one group, evaluated every minute.
 *
 * Every rule is the same shape: A, a ClickHouse query, then B, a threshold on A, which
 * is the condition. A returns a table of string columns (they become the alert's
 * labels, one alert instance per row) and exactly one number column (its value):
 * Grafana reads such a table as already-reduced numbers, so no reduce step is needed.
 * Alert queries run inside Grafana's server, where the plugin's dashboard macros
 * ($__timeFilter and friends) have no dashboard time range to draw on, so the SQL uses
 * plain now(). Tables are qualified with the configured database at build time.
 */
import { QueryBuilder, RuleBuilder } from '@grafana/grafana-foundation-sdk/alerting';
import { TypeThresholdBuilder } from '@grafana/grafana-foundation-sdk/expr';
import type { Config } from '../../platform/config.ts';
import { CLICKHOUSE_DATASOURCE, ClickHouseQueryBuilder } from '../clickhouseQuery.ts';
import { EXPRESSION_DATASOURCE, provisionedRule, type AlertRuleFile, type ProvisionedAlertRule } from './ruleFile.ts';

export type AlertRulesConfig = Pick<Config, 'clickhouseDatabase' | 'stoolThreshold'>;

export const RULE_GROUP = { orgId: 1, name: 'cx-pipeline', folder: 'CX', interval: '1m' } as const;

/** On every rule: the notification policy (routing.ts) routes alerts carrying it to the CX contact point. */
export const SERVICE_LABEL = { name: 'service', value: 'cx' } as const;

/** No touchpoint event stored for this long means the pipeline has stalled. */
export const STALLED_AFTER_SECONDS = 300;
/** What the freshness query says for an empty touchpoint_events: stalled since forever (~31 years). */
export const EMPTY_TABLE_SECONDS = 1_000_000_000;
export const DEAD_LETTER_WINDOW_MINUTES = 5;
/** Dead letters over all messages received in the window. */
export const DEAD_LETTER_MAX_RATIO = 0.01;

type Evaluator = 'gt' | 'lt';

interface RuleSpec {
  uid: string;
  title: string;
  /** Query A: string columns (labels) and one number column (the value). */
  sql: string;
  /** Condition B: A `evaluator` `threshold`. */
  evaluator: Evaluator;
  threshold: number;
  for: string;
  noDataState: ProvisionedAlertRule['noDataState'];
  execErrState: ProvisionedAlertRule['execErrState'];
  labels: Record<string, string>;
  summary: string;
  description: string;
}

function alertRule(spec: RuleSpec): ProvisionedAlertRule {
  const query = new QueryBuilder('A')
    .datasourceUid(CLICKHOUSE_DATASOURCE.uid)
    .relativeTimeRange({ from: 600, to: 0 })
    .model(new ClickHouseQueryBuilder(spec.sql).refId('A'));
  const condition = new QueryBuilder('B')
    .datasourceUid(EXPRESSION_DATASOURCE.uid)
    .relativeTimeRange({ from: 0, to: 0 })
    .model(
      new TypeThresholdBuilder()
        .refId('B')
        .datasource({ ...EXPRESSION_DATASOURCE })
        .expression('A')
        .conditions([{ evaluator: { type: spec.evaluator, params: [spec.threshold] } }]),
    );
  return provisionedRule(
    new RuleBuilder(spec.title)
      .uid(spec.uid)
      .queries([query, condition])
      .condition('B')
      .forDuration(spec.for)
      .noDataState(spec.noDataState)
      .execErrState(spec.execErrState)
      .labels({ [SERVICE_LABEL.name]: SERVICE_LABEL.value, ...spec.labels })
      .annotations({ summary: spec.summary, description: spec.description })
      .isPaused(false)
      .build(),
  );
}

const lines = (...sql: string[]) => sql.join('\n');

export function alertRules(config: AlertRulesConfig): ProvisionedAlertRule[] {
  const db = config.clickhouseDatabase;
  const e = config.stoolThreshold;
  const window = `now() - INTERVAL ${DEAD_LETTER_WINDOW_MINUTES} MINUTE`;
  return [
    alertRule({
      uid: 'cx-touchpoint-degraded',
      title: 'Touchpoint degraded',
      // One row per (channel, touchpoint) with an open alert, so each fires on its own.
      sql: lines(
        'SELECT channel, touchpoint, toFloat64(count()) AS open_alerts',
        `FROM ${db}.open_alerts`,
        "WHERE kind = 'TOUCHPOINT_DEGRADED'",
        'GROUP BY channel, touchpoint',
        'ORDER BY channel, touchpoint',
      ),
      evaluator: 'gt',
      threshold: 0,
      // The pipeline's detector already waited for evidence before opening the alert.
      for: '0s',
      // No rows: no open alert.
      noDataState: 'OK',
      execErrState: 'Error',
      labels: { team: 'cx-operations', severity: 'critical' },
      summary: 'Touchpoint {{ $labels.channel }} / {{ $labels.touchpoint }} is degraded',
      description:
        "The pipeline's degradation detector (a Bernoulli CUSUM of the bad-experience rate against the touchpoint's " +
        'own learned baseline) has an open TOUCHPOINT_DEGRADED alert for this touchpoint. Its baseline, current bad ' +
        `rate, severity and evidence: SELECT * FROM ${db}.open_alerts WHERE channel = '{{ $labels.channel }}' AND ` +
        "touchpoint = '{{ $labels.touchpoint }}'. This rule resolves when the pipeline resolves the alert.",
    }),
    alertRule({
      uid: 'cx-stool-not-standing',
      title: 'Stool not standing',
      // One row per leg of the newest window: the stool stands when no leg is below E,
      // i.e. the weakest leg is not. A leg per instance names the leg that fell short and
      // keeps its alert steady when the weakest leg changes.
      sql: lines('SELECT leg, score AS leg_score', `FROM ${db}.stool_now`, 'ORDER BY leg'),
      evaluator: 'lt',
      threshold: e,
      // The window slides over 15 minutes already; this keeps a leg hovering at E quiet.
      for: '5m',
      // No windows yet (a fresh store): nothing to judge; "Pipeline stalled" covers silence.
      noDataState: 'OK',
      execErrState: 'Error',
      labels: { team: 'cx-operations', severity: 'warning' },
      summary: `The stool does not stand: the {{ $labels.leg }} leg scores {{ printf "%.2f" $values.A.Value }}, below E = ${e}`,
      description:
        'Great CX rests on three legs (product, operational delivery, sales & marketing); if one falls short the stool ' +
        `wobbles. The newest live window's score of this leg (mean experience value, 0..1) is below E = ${e} ` +
        `(CX_STOOL_THRESHOLD at build time). Per-leg scores and consistency: SELECT * FROM ${db}.stool_now.`,
    }),
    alertRule({
      uid: 'cx-pipeline-stalled',
      title: 'Pipeline stalled',
      // Ingestion time, not event time: replays and late events must not look fresh or stale.
      sql: lines(
        `SELECT toFloat64(if(count() = 0, ${EMPTY_TABLE_SECONDS}, dateDiff('second', max(ingested_at), now()))) AS seconds_since_last_event`,
        `FROM ${db}.touchpoint_events`,
      ),
      evaluator: 'gt',
      threshold: STALLED_AFTER_SECONDS,
      for: '1m',
      // The query always returns one row; none, or no answer from ClickHouse, means nothing flows either.
      noDataState: 'Alerting',
      execErrState: 'Alerting',
      labels: { team: 'cx-platform', severity: 'critical' },
      summary: 'No touchpoint event stored for {{ humanizeDuration $values.A.Value }}',
      description:
        `The newest row of ${db}.touchpoint_events was ingested more than ${STALLED_AFTER_SECONDS} s ago ` +
        `(${EMPTY_TABLE_SECONDS} s means the table is empty). Producers, Kafka or the processor (\`cx process\`) ` +
        'have stopped: check the processor logs and consumer lag.',
    }),
    alertRule({
      uid: 'cx-dead-letter-rate',
      title: 'Dead-letter rate too high',
      // Plain counts, no FINAL: a rare replayed duplicate barely moves a ratio, FINAL over the raw tables would cost every minute.
      // Joined one-row counts rather than scalar subqueries, which ClickHouse types as Nullable.
      sql: lines(
        'SELECT toFloat64(if(dead.n = 0, 0, dead.n / (dead.n + touchpoints.n + outcomes.n))) AS dead_letter_ratio',
        `FROM (SELECT count() AS n FROM ${db}.dead_letters WHERE received_at >= ${window}) AS dead`,
        `CROSS JOIN (SELECT count() AS n FROM ${db}.touchpoint_events WHERE ingested_at >= ${window}) AS touchpoints`,
        `CROSS JOIN (SELECT count() AS n FROM ${db}.outcome_events WHERE ingested_at >= ${window}) AS outcomes`,
      ),
      evaluator: 'gt',
      threshold: DEAD_LETTER_MAX_RATIO,
      // As long as the window: one burst of bad messages leaves the window before it fires; a steady stream fires.
      for: `${DEAD_LETTER_WINDOW_MINUTES}m`,
      noDataState: 'NoData',
      execErrState: 'Error',
      labels: { team: 'cx-platform', severity: 'warning' },
      summary: `{{ humanizePercentage $values.A.Value }} of the messages of the last ${DEAD_LETTER_WINDOW_MINUTES} minutes were dead letters`,
      description:
        `More than ${DEAD_LETTER_MAX_RATIO * 100}% of the messages received in the last ${DEAD_LETTER_WINDOW_MINUTES} minutes ` +
        '(dead letters over dead letters + touchpoint and outcome events stored) could not be processed. Valid traffic ' +
        `still flows. Why: SELECT reason_code, source_topic, count() FROM ${db}.dead_letters WHERE received_at >= ${window} ` +
        'GROUP BY reason_code, source_topic.',
    }),
  ];
}

export function alertRuleFile(config: AlertRulesConfig): AlertRuleFile {
  return { apiVersion: 1, groups: [{ ...RULE_GROUP, rules: alertRules(config) }] };
}
