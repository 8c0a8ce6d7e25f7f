/**
 * "CX consistency — live", for operations: is the stool standing now, how did the legs
 * move, where do good experiences turn bad across channels, which touchpoints are
 * degraded, and are customers merely satisfied or impressed.
 *
 * "Now" is the end of the dashboard's time range (the newest window in it), so the same
 * panels answer for a past range too (the HTML report, `cx report`, runs them so).
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type { Config } from '../platform/config.ts';
import { CHANNEL_SYMBOLS, LEG_SYMBOLS } from '../schemas/types.generated.ts';
import { BLUE, GREEN, RED, YELLOW, barChartPanel, gaugePanel, row, statPanel, tablePanel, timeSeriesPanel, cxDashboard } from './panels.ts';
import { anyOf, channelVariable, legVariable } from './variables.ts';

export type DashboardConfig = Pick<Config, 'clickhouseDatabase' | 'stoolThreshold'>;

export const LEG_LABEL: Record<(typeof LEG_SYMBOLS)[number], string> = { PRODUCT: 'Product', OPERATIONS: 'Operations', SALES_MARKETING: 'Sales & marketing' };

/** Drop rate colours: a good experience turning bad on the next channel 1 time in 10 is worth a look, 1 in 5 is bad. */
const DROP_RATE_STEPS: [number, string][] = [[0.1, YELLOW], [0.2, RED]];

export function liveDashboard(config: DashboardConfig): dashboard.Dashboard {
  const db = config.clickhouseDatabase;
  const E = config.stoolThreshold;
  const scoreSteps = { base: RED, steps: [[E, GREEN]] as [number, string][] };
  // The newest stool window in the range: "now" on a live board.
  const newestWindow = `window_end = (SELECT max(window_end) FROM ${db}.leg_consistency WHERE $__timeFilter(window_end))`;

  return cxDashboard({
    uid: 'cx-live',
    title: 'CX consistency — live',
    description: 'The three-legged stool (product, operations, sales & marketing) live: leg scores and consistency, cross-channel drops, touchpoint health and alerts.',
    audience: 'operations',
    from: 'now-6h',
    refresh: '30s',
  })
    .withVariable(channelVariable())
    .withVariable(legVariable())

    .withRow(row('The stool now'))
    .withPanel(
      gaugePanel({
        title: 'Leg scores now',
        description:
          `Each leg's score S_L: the mean experience value x (0 = worst, 1 = best) over the newest 15-minute window in the range. ` +
          `A leg holds the stool up at ${E} or above (CX_STOOL_THRESHOLD); red below.`,
        sql: `SELECT\n${LEG_SYMBOLS.map((l) => `    anyIf(toNullable(score), leg = '${l}') AS \`${LEG_LABEL[l]}\``).join(',\n')}\nFROM ${db}.leg_consistency FINAL\nWHERE ${newestWindow}`,
        span: 10, height: 7, unit: 'none', decimals: 2, min: 0, max: 1, thresholds: scoreSteps,
      }),
    )
    .withPanel(
      statPanel({
        title: 'Does the stool stand?',
        description: `It stands when every leg's score is at least ${E}. The stool score is the weakest leg's score; a stool on one weak leg falls over however good the others are.`,
        sql: `SELECT toUInt8(any(stands)) AS \`stool\`, any(stool_score) AS \`stool score\`\nFROM ${db}.leg_consistency FINAL\nWHERE ${newestWindow}`,
        span: 5, height: 7, unit: 'none', decimals: 2, thresholds: { base: RED, steps: [[1, GREEN]] }, colorBackground: true,
        mappings: [{ type: dashboard.MappingType.ValueToText, options: { '0': { text: 'Wobbles', color: RED, index: 0 }, '1': { text: 'Stands', color: GREEN, index: 1 } } }],
      }),
    )
    .withPanel(
      statPanel({
        title: 'Wobble',
        description: 'Strongest leg minus weakest leg, in the newest window. 0 is perfectly level; above 0.2 one leg lags far behind the others.',
        sql: `SELECT any(wobble) AS wobble\nFROM ${db}.leg_consistency FINAL\nWHERE ${newestWindow}`,
        span: 4, height: 7, unit: 'none', decimals: 2, thresholds: { base: GREEN, steps: [[0.1, YELLOW], [0.2, RED]] },
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Weakest leg',
        description: 'The leg with the lowest score in the newest window, and how many experiences the window holds per leg (at least 30 are needed before a leg alert).',
        sql: `SELECT leg, round(score, 3) AS leg_score, experiences\nFROM ${db}.leg_consistency FINAL\nWHERE ${newestWindow}\nORDER BY score`,
        span: 5, height: 7,
      }),
    )

    .withRow(row('Legs over time'))
    .withPanel(
      timeSeriesPanel({
        title: 'Leg scores',
        description: `Each leg's score S_L over the sliding 15-minute window, averaged per interval. The dashed line is the threshold E = ${E}: a leg below it knocks the stool over.`,
        sql: `SELECT $__timeInterval(window_end) AS time, leg, avg(score) AS score\nFROM ${db}.leg_consistency FINAL\nWHERE $__timeFilter(window_end) AND ${anyOf('leg', 'leg')}\nGROUP BY time, leg\nORDER BY time, leg`,
        span: 12, unit: 'none', decimals: 2, min: 0, max: 1, thresholds: scoreSteps, thresholdLine: true,
      }),
    )
    .withPanel(
      timeSeriesPanel({
        title: 'Leg consistency',
        description:
          'C_L = clamp(1 − 2·σ_w, 0, 1), where σ_w is the experience-weighted standard deviation of the leg\'s cell means (cells: channel × touchpoint). ' +
          '1 means every channel and touchpoint of the leg delivers the same experience; gaps mean fewer than two cells had enough experiences.',
        sql: `SELECT $__timeInterval(window_end) AS time, leg, avg(consistency) AS consistency\nFROM ${db}.leg_consistency FINAL\nWHERE $__timeFilter(window_end) AND ${anyOf('leg', 'leg')}\nGROUP BY time, leg\nORDER BY time, leg`,
        span: 12, unit: 'none', decimals: 2, min: 0, max: 1,
      }),
    )
    .withPanel(
      timeSeriesPanel({
        title: 'Stool score and wobble',
        description: `The stool score (weakest leg) and the wobble (strongest minus weakest leg) per interval. The stool stands while its score is at or above ${E}.`,
        sql:
          `SELECT $__timeInterval(window_end) AS time, avg(stool) AS \`stool score\`, avg(spread) AS wobble\n` +
          `FROM (SELECT window_end, any(stool_score) AS stool, any(wobble) AS spread FROM ${db}.leg_consistency FINAL WHERE $__timeFilter(window_end) GROUP BY window_end)\n` +
          `GROUP BY time\nORDER BY time`,
        span: 16, unit: 'none', decimals: 2, min: 0, max: 1, thresholds: scoreSteps, thresholdLine: true,
      }),
    )
    .withPanel(
      statPanel({
        title: 'Minutes the stool stood',
        description: 'Share of the stool\'s minutes (window ends) in the range in which every leg was at or above the threshold.',
        sql: `SELECT avg(toUInt8(standing)) AS \`stood\`\nFROM (SELECT window_end, any(stands) AS standing FROM ${db}.leg_consistency FINAL WHERE $__timeFilter(window_end) GROUP BY window_end)`,
        span: 8, unit: 'percentunit', decimals: 1, min: 0, max: 1, thresholds: { base: RED, steps: [[0.9, YELLOW], [0.99, GREEN]] },
      }),
    )

    .withRow(row('Cross-channel experience drops'))
    .withPanel(
      tablePanel({
        title: 'Drop rate, from channel → to channel',
        description:
          'Of the customers whose experience on the row\'s channel was good, the share whose next experience (within 7 days) on the column\'s channel was bad. ' +
          'The diagonal is a drop within one channel. Empty: no good experience was followed by one on that channel in the range.',
        sql:
          `SELECT from_channel AS \`from \\ to\`,\n` +
          CHANNEL_SYMBOLS.map((c) => `    if(sumIf(starts_good, to_channel = '${c}') = 0, NULL, sumIf(drops, to_channel = '${c}') / sumIf(starts_good, to_channel = '${c}')) AS ${c}`).join(',\n') +
          `\nFROM ${db}.channel_transition_minute FINAL\nWHERE $__timeFilter(minute) AND ${anyOf('from_channel', 'channel')}\nGROUP BY from_channel\nORDER BY from_channel`,
        span: 14, height: 9, unit: 'percentunit', decimals: 1, thresholds: { base: GREEN, steps: DROP_RATE_STEPS }, colorCells: true,
      }),
    )
    .withPanel(
      barChartPanel({
        title: 'Good experiences lost, by channel pair',
        description: 'Cross-channel drops (a good experience followed by a bad one on another channel) per channel pair: the ten pairs that lose the most.',
        sql:
          `SELECT concat(from_channel, ' → ', to_channel) AS pair, count() AS drops\nFROM ${db}.channel_drops FINAL\n` +
          `WHERE $__timeFilter(occurred_at) AND cross_channel AND (${anyOf('from_channel', 'channel')} OR ${anyOf('to_channel', 'channel')})\n` +
          `GROUP BY pair\nORDER BY drops DESC, pair\nLIMIT 10`,
        span: 10, height: 9, unit: 'short', horizontal: true,
      }),
    )

    .withRow(row('Touchpoint health'))
    .withPanel(
      tablePanel({
        title: 'Open alerts',
        description:
          'Alerts open at the end of the range: touchpoints whose bad rate rose above their learned baseline (a Bernoulli CUSUM), and legs below the threshold. ' +
          'baseline_rate and current_rate are bad rates (bad visits / visits).',
        sql:
          `SELECT severity, kind, channel, touchpoint, leg, started_at, round(baseline, 3) AS baseline_rate, round(current, 3) AS current_rate, minutes, summary\n` +
          `FROM (SELECT * FROM ${db}.alerts FINAL WHERE changed_at <= $__toTime ORDER BY version DESC LIMIT 1 BY alert_id)\n` +
          `WHERE status != 'RESOLVED' AND ${anyOf('leg', 'leg')} AND (kind != 'TOUCHPOINT_DEGRADED' OR ${anyOf('channel', 'channel')})\n` +
          `ORDER BY severity = 'CRITICAL' DESC, started_at`,
        span: 24, height: 7,
      }),
    )
    .withPanel(
      timeSeriesPanel({
        title: 'Bad rate by touchpoint',
        description: 'Bad visits over all visits per touchpoint (a visit is bad when rated bad, or unrated and failed, abandoned or escalated). A step up here is what opens a degradation alert.',
        sql:
          `SELECT $__timeInterval(minute) AS time, concat(touchpoint, ' (', channel, ')') AS touchpoint_name, sum(bad) / sum(events) AS bad_share\n` +
          `FROM ${db}.touchpoint_health FINAL\nWHERE $__timeFilter(minute) AND events > 0 AND ${anyOf('channel', 'channel')} AND ${anyOf('leg', 'leg')}\n` +
          `GROUP BY time, touchpoint_name\nORDER BY time, touchpoint_name`,
        span: 14, height: 9, unit: 'percentunit', decimals: 1, min: 0,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Touchpoints in the last 15 minutes',
        description: 'Per touchpoint, over the last 15 minutes of the range: visits, bad rate, the learned baseline rate and the detector state (ok, learning or degraded). Degraded first, then by bad rate.',
        sql:
          `SELECT channel, touchpoint, sum(events) AS visits, if(visits = 0, NULL, round(sum(bad) / visits, 3)) AS bad_share,\n` +
          `       round(argMax(baseline, minute), 3) AS baseline_now, argMax(state, minute) AS state_now\n` +
          `FROM ${db}.touchpoint_health FINAL\nWHERE minute > $__toTime - INTERVAL 15 MINUTE AND minute <= $__toTime AND ${anyOf('channel', 'channel')} AND ${anyOf('leg', 'leg')}\n` +
          `GROUP BY channel, touchpoint\nORDER BY state_now = 'degraded' DESC, bad_share DESC`,
        span: 10, height: 9,
      }),
    )

    .withRow(row('Satisfied or impressed'))
    .withPanel(
      barChartPanel({
        title: 'Satisfied vs impressed, by leg',
        description:
          'Per leg over the range: satisfied = good / rated experiences, impressed = top-box / rated, merely satisfied = satisfied − impressed. ' +
          'Satisfied customers still leave; impressed ones come back.',
        sql:
          `SELECT leg, sum(good) / sum(n) AS \`satisfied\`, sum(impressed) / sum(n) AS \`impressed share\`, (sum(good) - sum(impressed)) / sum(n) AS \`merely satisfied\`\n` +
          `FROM ${db}.cell_minute FINAL\nWHERE $__timeFilter(minute) AND ${anyOf('leg', 'leg')} AND ${anyOf('channel', 'channel')}\nGROUP BY leg\nHAVING sum(n) > 0\nORDER BY leg`,
        span: 10, unit: 'percentunit', decimals: 1, min: 0, max: 1,
      }),
    )
    .withPanel(
      timeSeriesPanel({
        title: 'Impressed share by leg',
        description: 'Top-box experiences over rated experiences, per leg and interval.',
        sql:
          `SELECT $__timeInterval(minute) AS time, leg, sum(impressed) / sum(n) AS \`impressed share\`\nFROM ${db}.cell_minute FINAL\n` +
          `WHERE $__timeFilter(minute) AND n > 0 AND ${anyOf('leg', 'leg')} AND ${anyOf('channel', 'channel')}\nGROUP BY time, leg\nORDER BY time, leg`,
        span: 14, unit: 'percentunit', decimals: 1, min: 0, thresholds: { base: BLUE },
      }),
    )
    .build();
}

