-- Raw events as they arrived, one row per event_id. Replays cannot duplicate:
-- inserts carry a dedup token, and ReplacingMergeTree keeps one row per event_id
-- (the newest ingested_at) across merges for anything that slips past the window.

CREATE TABLE IF NOT EXISTS {{database}}.touchpoint_events
(
    event_id         UUID,
    occurred_at      DateTime64(3, 'UTC'),
    customer_id      String,
    journey_id       String,
    channel          LowCardinality(String),
    touchpoint       LowCardinality(String),
    leg              LowCardinality(String),
    stage            LowCardinality(String),
    department       LowCardinality(String),
    moment_of_truth  Bool,
    rating_scale     LowCardinality(Nullable(String)),
    rating_value     Nullable(Float64),
    outcome          LowCardinality(String),
    attributes       Map(String, String),
    schema_version   UInt16,
    source_cluster   LowCardinality(String),
    source_topic     LowCardinality(String),
    source_partition UInt32,
    source_offset    UInt64,
    ingested_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {{database}}.outcome_events
(
    event_id         UUID,
    occurred_at      DateTime64(3, 'UTC'),
    customer_id      String,
    journey_id       Nullable(String),
    kind             LowCardinality(String),
    rating_scale     LowCardinality(Nullable(String)),
    rating_value     Nullable(Float64),
    attributes       Map(String, String),
    schema_version   UInt16,
    source_cluster   LowCardinality(String),
    source_topic     LowCardinality(String),
    source_partition UInt32,
    source_offset    UInt64,
    ingested_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 10000;

-- Every message that could not be processed: its bytes, why, and where it came from.
-- One row per source position, so a replay cannot duplicate it either (not
-- partitioned by time, so a replay months later still collapses onto the first row).
CREATE TABLE IF NOT EXISTS {{database}}.dead_letters
(
    source_cluster   LowCardinality(String),
    source_topic     LowCardinality(String),
    source_partition UInt32,
    source_offset    UInt64,
    message_key      Nullable(String),
    raw_base64       String,
    raw_bytes        UInt32,
    reason_code      LowCardinality(String),
    reason           String,
    step             LowCardinality(String),
    received_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(received_at)
ORDER BY (source_cluster, source_topic, source_partition, source_offset)
SETTINGS non_replicated_deduplication_window = 10000;
