/**
 * "Pipeline", for whoever runs it: what came in, what was written, how fresh the rows
 * are, how far the processors are behind, and what was turned away (dead letters,
 * late events) or failed to reach people (alert deliveries).
 */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { GREEN, ORANGE, RED, YELLOW, row, statPanel, tablePanel, timeSeriesPanel, cxDashboard } from './panels.ts';
import type { DashboardConfig } from './live.ts';

export function pipelineDashboard(config: DashboardConfig): dashboard.Dashboard {
  const db = config.clickhouseDatabase;
  const received = (table: string, time: string, label: string, final = true) =>
    `SELECT $__timeInterval(${time}) AS time, '${label}' AS stream, count() AS n FROM ${db}.${table}${final ? ' FINAL' : ''} WHERE $__timeFilter(${time}) GROUP BY time`;

  return cxDashboard({
    uid: 'cx-pipeline',
    title: 'CX pipeline',
    description: 'The pipeline itself: events in, rows written, freshness, processor lag, dead letters, late events and alert deliveries.',
    audience: 'pipeline',
    from: 'now-6h',
    refresh: '30s',
  })

    .withRow(row('In and out'))
    .withPanel(
      statPanel({
        title: 'Events stored',
        description: 'Touchpoint and outcome events stored in the range (by the time they were stored), each counted once.',
        sql:
          `SELECT (SELECT count() FROM ${db}.touchpoint_events FINAL WHERE $__timeFilter(ingested_at)) AS touchpoints,\n` +
          `       (SELECT count() FROM ${db}.outcome_events FINAL WHERE $__timeFilter(ingested_at)) AS outcomes`,
        span: 6, height: 5, unit: 'short',
      }),
    )
    .withPanel(
      statPanel({
        title: 'Dead letters, late events and duplicates',
        description: 'Messages that could not be decoded or validated (in the dead-letter topic and table, with reason and source), events that came after their minute had closed (stored raw, flagged, not in any result), ' +
          'and duplicates: touchpoint events whose event_id the customer already had within the dedup window (a resend), skipped by the metric processors (all time, from their checkpoints; `npm start` shows it on its status line).',
        sql:
          `SELECT (SELECT count() FROM ${db}.dead_letters FINAL WHERE $__timeFilter(received_at)) AS \`dead letters\`,\n` +
          `       (SELECT count() FROM ${db}.late_events FINAL WHERE $__timeFilter(occurred_at)) AS \`late events\`,\n` +
          `       (SELECT sum(JSONExtractUInt(state, 'duplicates')) FROM ${db}.processor_state FINAL WHERE stage = 'metrics' AND key = '') AS duplicates`,
        span: 6, height: 5, unit: 'short', thresholds: { base: GREEN, steps: [[1, ORANGE]] },
      }),
    )
    .withPanel(
      statPanel({
        title: 'Newest row',
        description: 'Seconds from the newest stored touchpoint event to the end of the range (now, live). Above 5 minutes the "pipeline stalled" alert rule fires.',
        sql: `SELECT if(count() = 0, NULL, dateDiff('second', max(ingested_at), $__toTime)) AS \`seconds ago\`\nFROM ${db}.touchpoint_events\nWHERE ingested_at <= $__toTime`,
        span: 4, height: 5, unit: 's', thresholds: { base: GREEN, steps: [[60, YELLOW], [300, RED]] },
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Rows per table',
        description: 'Rows held by each table of the database (all time, before merges fold replaced rows), and the space it takes.',
        sql:
          `SELECT table, sum(rows) AS total_rows, formatReadableSize(sum(bytes_on_disk)) AS on_disk\nFROM system.parts\n` +
          `WHERE database = '${db}' AND active AND table != 'schema_migrations'\nGROUP BY table\nORDER BY table`,
        span: 8, height: 10,
      }),
    )
    .withPanel(
      timeSeriesPanel({
        title: 'Stored per second',
        description: 'Touchpoint events, outcome events and dead letters stored per second, by the time they were stored.',
        sql:
          `SELECT time, stream, n / $__interval_s AS per_second\nFROM (\n  ${received('touchpoint_events', 'ingested_at', 'touchpoints')}\n  UNION ALL ${received('outcome_events', 'ingested_at', 'outcomes')}\n` +
          `  UNION ALL ${received('dead_letters', 'received_at', 'dead letters')}\n)\nORDER BY time, stream`,
        span: 16, height: 5, unit: 'reqps', min: 0,
      }),
    )

    .withRow(row('Freshness and lag'))
    .withPanel(
      timeSeriesPanel({
        title: 'Freshness: event time to stored',
        description: 'How long after it happened an event was stored (ingested_at − occurred_at): median, 95th percentile and worst, per interval of storing. Replays and backfills show their age here.',
        sql:
          `SELECT $__timeInterval(ingested_at) AS time,\n       quantile(0.5)(age_ms) / 1000 AS p50, quantile(0.95)(age_ms) / 1000 AS p95, max(age_ms) / 1000 AS worst\n` +
          `FROM (SELECT ingested_at, dateDiff('millisecond', occurred_at, ingested_at) AS age_ms FROM ${db}.touchpoint_events WHERE $__timeFilter(ingested_at))\n` +
          `GROUP BY time\nORDER BY time`,
        span: 14, unit: 's', min: 0,
      }),
    )
    .withPanel(
      statPanel({
        title: 'Results complete up to',
        description:
          'The event time before which every result is final: the lowest watermark over the partitions of the metric processors (of the Kafka cluster and topic the newest stored event came from). ' +
          'Events before it that arrive later are late: flagged in late_events, never counted. Live it trails the newest event by the allowed lateness; after `npx cx process --until-idle` it is the end of the newest event\'s minute. ' +
          '`npm start` shows the same figure on its status line ("complete to").',
        sql:
          `SELECT min(watermark) AS \`complete up to\`\nFROM ${db}.processor_state FINAL\n` +
          `WHERE stage = 'metrics' AND key = ''\n` +
          `  AND (source_cluster, source_topic) = (SELECT argMax(source_cluster, ingested_at), argMax(source_topic, ingested_at) FROM ${db}.touchpoint_events)`,
        span: 10, height: 8, unit: 'dateTimeAsIso',
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Processors: position and event-time lag',
        description:
          'Per processing stage and source partition: the last offset checkpointed with the results, and the watermark (the event time up to which results are final) with how far it is behind the end of the range. ' +
          'Kafka consumer lag in messages is not stored in ClickHouse: `npm start` prints it on its status line.',
        sql:
          `SELECT stage, source_topic, source_partition, source_offset AS checkpointed_offset, fromUnixTimestamp64Milli(watermark, 'UTC') AS watermark_at,\n` +
          `       dateDiff('second', watermark_at, $__toTime) AS behind_s\nFROM ${db}.processor_state FINAL\nWHERE key = ''\nORDER BY stage, source_topic, source_partition`,
        span: 24, height: 8,
      }),
    )

    .withRow(row('Turned away'))
    .withPanel(
      timeSeriesPanel({
        title: 'Dead letters by reason',
        description: 'Messages sent to the dead-letter topic and table per interval, by reason code. Valid traffic keeps flowing past them.',
        sql: `SELECT $__timeInterval(received_at) AS time, reason_code, count() AS messages\nFROM ${db}.dead_letters FINAL\nWHERE $__timeFilter(received_at)\nGROUP BY time, reason_code\nORDER BY time, reason_code`,
        span: 12, unit: 'short', min: 0, bars: true, stacked: true,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Latest dead letters',
        description: 'The newest dead letters with their reason and where they came from (topic, partition, offset), to find the producer that sent them.',
        sql:
          `SELECT received_at, reason_code, reason, step, source_topic, source_partition, source_offset, message_key, raw_bytes\nFROM ${db}.dead_letters FINAL\n` +
          `WHERE $__timeFilter(received_at)\nORDER BY received_at DESC\nLIMIT 50`,
        span: 12, height: 8,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Late events by touchpoint',
        description: 'Events that arrived after the watermark had passed them by more than the allowed lateness (CX_ALLOWED_LATENESS_MS), by when they happened: stored raw, left out of the results.',
        sql:
          `SELECT channel, touchpoint, count() AS late, max(behind_ms) / 1000 AS worst_behind_s, min(occurred_at) AS first_occurred, max(occurred_at) AS last_occurred\n` +
          `FROM ${db}.late_events FINAL\nWHERE $__timeFilter(occurred_at)\nGROUP BY channel, touchpoint\nORDER BY late DESC`,
        span: 12, height: 8,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Alert deliveries',
        description: 'Attempts to deliver alert changes, per notifier and outcome: delivered, retried, failed or dropped, with the 95th percentile latency.',
        sql:
          `SELECT notifier, target, outcome, count() AS attempts, quantile(0.95)(latency_ms) AS p95_latency_ms, max(attempted_at) AS last_attempt\n` +
          `FROM ${db}.alert_deliveries\nWHERE $__timeFilter(attempted_at)\nGROUP BY notifier, target, outcome\nORDER BY notifier, target, outcome`,
        span: 12, height: 8,
      }),
    )
    .build();
}
