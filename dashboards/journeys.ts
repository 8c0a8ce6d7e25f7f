/**
 * "Journeys", for analysts: how journeys score and where they break, death spirals,
 * customers at risk and whether they can be won back, and each department's signed
 * share of what customers remember.
 */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { GREEN, ORANGE, RED, YELLOW, barChartPanel, row, statPanel, tablePanel, timeSeriesPanel, cxDashboard } from './panels.ts';
import { anyOf, channelVariable, departmentVariable, legVariable } from './variables.ts';
import type { DashboardConfig } from './live.ts';

/** A leg "failed" in a journey below E (it could not hold the stool up), and was "great" at or above this (docs/sql.md uses the same). */
export const GREAT_LEG = 0.8;

export function journeysDashboard(config: DashboardConfig): dashboard.Dashboard {
  const db = config.clickhouseDatabase;
  const E = config.stoolThreshold;
  // Each customer's memory as of the end of the range (the newest moment up to it: every row of a moment
  // carries the same memory, so no tie is broken on event_id; the last touchpoint is the moment's lowest x).
  const memoryAtEnd =
    `SELECT customer_id, argMax(memory, occurred_at) AS memory_now, argMax(at_risk, occurred_at) AS risk_now,\n` +
    `       argMax(recoverable, occurred_at) AS recoverable_now, max(occurred_at) AS last_experience_at,\n` +
    `       argMax(touchpoint, (occurred_at, -x, touchpoint, channel)) AS last_touchpoint, argMax(channel, (occurred_at, -x, touchpoint, channel)) AS last_channel\n` +
    `FROM ${db}.customer_memory FINAL\nWHERE occurred_at <= $__toTime\nGROUP BY customer_id`;
  const legScores = ['product_score', 'operations_score', 'sales_marketing_score'];
  // Spirals that started in the range, touching a selected channel and department.
  const spiralsInRange = `$__timeFilter(started_at) AND ${anyOf('channels', 'channel', { array: true })} AND ${anyOf('departments', 'department', { array: true })}`;

  return cxDashboard({
    uid: 'cx-journeys',
    title: 'CX journeys',
    description: 'Journeys for analysts: scores and weakest links, death spirals, at-risk and recoverable customers, department impact.',
    audience: 'analysts',
    from: 'now-7d',
    refresh: '5m',
  })
    .withVariable(channelVariable())
    .withVariable(legVariable())
    .withVariable(departmentVariable(db))

    .withRow(row('Journey scores and weakest links'))
    .withPanel(
      statPanel({
        title: 'Journeys',
        description: 'Journeys with an experience in the range (a journey\'s latest version).',
        sql: `SELECT count() AS journeys\nFROM ${db}.journeys FINAL\nWHERE $__timeFilter(last_at) AND ${anyOf('weakest_channel', 'channel')}`,
        span: 4, height: 5, unit: 'short',
      }),
    )
    .withPanel(
      statPanel({
        title: 'Mean journey score',
        description: 'The journey score is the customer\'s bad-experience-weighted memory at the journey\'s last event: bad experiences fade 7 times slower, moments of truth weigh double. 0 to 1.',
        sql: `SELECT avg(score) AS \`mean score\`\nFROM ${db}.journeys FINAL\nWHERE $__timeFilter(last_at) AND ${anyOf('weakest_channel', 'channel')}`,
        span: 5, height: 5, unit: 'none', decimals: 3, min: 0, max: 1, thresholds: { base: RED, steps: [[0.5, YELLOW], [E, GREEN]] },
      }),
    )
    .withPanel(
      statPanel({
        title: 'Journeys whose stool stands',
        description: `Share of journeys in which every leg present scored at least ${E} (the stool with the journey's touchpoints as cells).`,
        sql: `SELECT avg(toUInt8(stands)) AS \`stool stands\`\nFROM ${db}.journeys FINAL\nWHERE $__timeFilter(last_at) AND ${anyOf('weakest_channel', 'channel')}`,
        span: 5, height: 5, unit: 'percentunit', decimals: 1, min: 0, max: 1, thresholds: { base: RED, steps: [[0.5, YELLOW], [0.8, GREEN]] },
      }),
    )
    .withPanel(
      timeSeriesPanel({
        title: 'Journey score',
        description: 'Mean and 10th percentile of journey scores, by the time of the journey\'s last experience. The 10th percentile is the experience of the unluckiest tenth.',
        sql:
          `SELECT $__timeInterval(last_at) AS time, avg(score) AS \`mean\`, quantile(0.1)(score) AS \`10th percentile\`\nFROM ${db}.journeys FINAL\n` +
          `WHERE $__timeFilter(last_at) AND score IS NOT NULL AND ${anyOf('weakest_channel', 'channel')}\nGROUP BY time\nORDER BY time`,
        span: 10, height: 5, unit: 'none', decimals: 2, min: 0, max: 1,
      }),
    )
    .withPanel(
      barChartPanel({
        title: 'Weakest links',
        description: 'Touchpoints that were most often the weakest link (the lowest experience) of a journey in the range.',
        sql:
          `SELECT concat(weakest_touchpoint, ' (', weakest_channel, ')') AS weakest_link, count() AS journeys\nFROM ${db}.journeys FINAL\n` +
          `WHERE $__timeFilter(last_at) AND weakest_touchpoint IS NOT NULL AND ${anyOf('weakest_channel', 'channel')}\n` +
          `GROUP BY weakest_link\nORDER BY journeys DESC, weakest_link\nLIMIT 10`,
        span: 10, height: 9, unit: 'short', horizontal: true,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Journeys where one leg failed while the others were great',
        description: `Journeys with all three legs scored, exactly one below ${E} and the other two at ${GREAT_LEG} or above: a broken promise in one part of the business that the rest could not make up for.`,
        sql:
          `SELECT customer_id, journey_id, last_at, round(score, 3) AS journey_score, weakest_leg AS failed_leg,\n` +
          `       round(product_score, 2) AS product, round(operations_score, 2) AS operations, round(sales_marketing_score, 2) AS sales_marketing, weakest_touchpoint\n` +
          `FROM ${db}.journeys FINAL\n` +
          `WHERE $__timeFilter(last_at) AND ${legScores.map((c) => `${c} IS NOT NULL`).join(' AND ')}\n` +
          `  AND arrayCount(s -> s < ${E}, [${legScores.join(', ')}]) = 1 AND arrayCount(s -> s >= ${GREAT_LEG}, [${legScores.join(', ')}]) = 2\n` +
          `  AND ${anyOf('weakest_leg', 'leg')} AND ${anyOf('weakest_channel', 'channel')}\n` +
          `ORDER BY last_at DESC\nLIMIT 100`,
        span: 14, height: 9,
      }),
    )

    .withRow(row('Death spirals'))
    .withPanel(
      statPanel({
        title: 'Death spirals',
        description: 'Spirals that started in the range (3 or more bad experiences in a row, each within 7 days of the last, on at least two touchpoints), and how many are still open: the customer has had nothing but bad since.',
        sql:
          `SELECT count() AS started, countIf(status = 'open') AS \`still open\`\nFROM ${db}.death_spirals FINAL\n` +
          `WHERE ${spiralsInRange}`,
        span: 6, height: 8, unit: 'short', thresholds: { base: ORANGE },
      }),
    )
    .withPanel(
      barChartPanel({
        title: 'Spirals by length',
        description: 'How many bad experiences in a row the spirals that started in the range reached (8 and more together).',
        sql:
          `SELECT if(length >= 8, '8+', toString(length)) AS bad_in_a_row, count() AS spirals\nFROM ${db}.death_spirals FINAL\n` +
          `WHERE ${spiralsInRange}\n` +
          `GROUP BY bad_in_a_row\nORDER BY min(length)`,
        span: 6, height: 8, unit: 'short',
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Most common spiral paths',
        description: 'The touchpoint sequences of the spirals that started in the range, most frequent first, with their mean length.',
        sql:
          `SELECT arrayStringConcat(path, ' → ') AS spiral_path, count() AS spirals, round(avg(length), 1) AS mean_length\nFROM ${db}.death_spirals FINAL\n` +
          `WHERE ${spiralsInRange}\n` +
          `GROUP BY spiral_path\nORDER BY spirals DESC, spiral_path\nLIMIT 15`,
        span: 12, height: 8,
      }),
    )

    .withRow(row('Customers at risk'))
    .withPanel(
      statPanel({
        title: 'At risk, and recoverable',
        description:
          'Customers at risk at the end of the range: memory below 0.5 with a bad experience not yet followed by a good one. ' +
          'Recoverable: at risk, but a good experience now would still lift their memory back to 0.5.',
        sql: `SELECT countIf(risk_now) AS \`at risk\`, countIf(risk_now AND recoverable_now) AS recoverable\nFROM (${memoryAtEnd})\nWHERE ${anyOf('last_channel', 'channel')}`,
        span: 6, height: 9, unit: 'short', thresholds: { base: ORANGE },
      }),
    )
    .withPanel(
      tablePanel({
        title: 'At-risk customers, recoverable first',
        description: 'Who to call first: at-risk customers who can still be won back, lowest memory first, with their last touchpoint.',
        sql:
          `SELECT customer_id, round(memory_now, 3) AS memory, recoverable_now AS recoverable, last_experience_at, last_touchpoint, last_channel\nFROM (${memoryAtEnd})\n` +
          `WHERE risk_now AND ${anyOf('last_channel', 'channel')}\nORDER BY recoverable_now DESC, memory_now\nLIMIT 100`,
        span: 18, height: 9,
      }),
    )

    .withRow(row('Department impact'))
    .withPanel(
      barChartPanel({
        title: 'Memory impact by department',
        description:
          'The sum over a department\'s experiences of how much each moved the customer\'s memory (M after − M before). Signed: below zero the department leaves customers remembering worse. ' +
          'Every department is measured the same way, so the bars are comparable.',
        sql:
          `SELECT department, sum(memory_impact) AS memory_impact_sum\nFROM ${db}.department_impact FINAL\n` +
          `WHERE $__timeFilter(minute) AND ${anyOf('department', 'department')}\nGROUP BY department\nORDER BY memory_impact_sum`,
        span: 10, height: 9, unit: 'none', decimals: 2, thresholds: { base: RED, steps: [[0, GREEN]] },
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Department balance',
        description:
          'Per department over the range: experiences, share bad, cross-channel drops that landed on it, death spirals it took part in, and the memory impact per experience (first experiences excluded: they have no memory before).',
        sql:
          `SELECT department, sum(experiences) AS experiences_n, round(sum(bad) / sum(experiences), 3) AS bad_share, sum(drops_landed) AS drops_landed_n,\n` +
          `       sum(spirals_joined) AS spirals_joined_n, round(sum(memory_impact) / nullIf(sum(experiences) - sum(first_experiences), 0), 4) AS memory_impact_per_experience\n` +
          `FROM ${db}.department_impact FINAL\nWHERE $__timeFilter(minute) AND ${anyOf('department', 'department')}\nGROUP BY department\nHAVING experiences_n > 0\nORDER BY memory_impact_per_experience`,
        span: 14, height: 9,
      }),
    )
    .build();
}
