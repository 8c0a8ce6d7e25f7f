-- Touchpoint degradation and leg alerts (docs/alerts.md).

-- Per (channel, touchpoint) and minute of event time: traffic, bad rate, the learned
-- baseline and the detector's statistic. One row per known touchpoint per minute.
CREATE TABLE IF NOT EXISTS {{database}}.touchpoint_health
(
    minute           DateTime('UTC'),
    channel          LowCardinality(String),
    touchpoint       LowCardinality(String),
    leg              LowCardinality(String),
    events           UInt32,
    experiences      UInt32,
    bad              UInt32,
    bad_rate         Nullable(Float64),
    baseline         Float64,
    reference        Float64,
    statistic        Float64,
    threshold        Float64,
    state            LowCardinality(String),
    alert_id         Nullable(UUID)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, channel, touchpoint)
SETTINGS non_replicated_deduplication_window = 10000;

-- One row per lifecycle change (the AlertEvent published to cx.alerts.v1). Not
-- partitioned, so one insert is atomic.
CREATE TABLE IF NOT EXISTS {{database}}.alerts
(
    alert_id         UUID,
    version          UInt32,
    status           LowCardinality(String),
    kind             LowCardinality(String),
    severity         LowCardinality(String),
    channel          LowCardinality(String),
    touchpoint       LowCardinality(String),
    leg              LowCardinality(String),
    baseline         Float64,
    current          Float64,
    threshold        Float64,
    statistic        Float64,
    started_at       DateTime64(3, 'UTC'),
    detected_at      DateTime64(3, 'UTC'),
    changed_at       DateTime64(3, 'UTC'),
    resolved_at      Nullable(DateTime64(3, 'UTC')),
    minutes          UInt32,
    events           UInt64,
    experiences      UInt64,
    bad              UInt64,
    summary          String
)
ENGINE = ReplacingMergeTree
ORDER BY (alert_id, version)
SETTINGS non_replicated_deduplication_window = 10000;

-- Every attempt to deliver an alert change to a notifier (webhook, console).
CREATE TABLE IF NOT EXISTS {{database}}.alert_deliveries
(
    alert_id         UUID,
    version          UInt32,
    notifier         LowCardinality(String),
    target           String,
    attempt          UInt16,
    attempted_at     DateTime64(3, 'UTC'),
    outcome          LowCardinality(String),
    http_status      Nullable(UInt16),
    error            String,
    latency_ms       UInt32
)
ENGINE = MergeTree
ORDER BY (alert_id, version, notifier, attempt, attempted_at);

-- The newest change of every alert that has not resolved, with the table's columns.
CREATE VIEW IF NOT EXISTS {{database}}.open_alerts AS
SELECT *
FROM {{database}}.alerts FINAL
WHERE (alert_id, version) IN (SELECT alert_id, max(version) FROM {{database}}.alerts FINAL GROUP BY alert_id)
  AND status != 'RESOLVED';
