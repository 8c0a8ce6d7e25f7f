-- Results of the metric processors (docs/metrics.md). Every row has a deterministic
-- key (and a version where a row is updated), so a replay after a crash rewrites
-- the same rows and ReplacingMergeTree keeps one: query with FINAL, or the views.

-- Per minute of event time, per cell (leg, channel, touchpoint) and source partition:
-- mergeable sums. Sum over source_partition (and minutes) to get any window.
CREATE TABLE IF NOT EXISTS {{database}}.cell_minute
(
    minute           DateTime('UTC'),
    leg              LowCardinality(String),
    channel          LowCardinality(String),
    touchpoint       LowCardinality(String),
    source_partition UInt32,
    events           UInt32,
    n                UInt32,
    sum_x            Float64,
    sum_x2           Float64,
    bad              UInt32,
    good             UInt32,
    impressed        UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, leg, channel, touchpoint, source_partition)
SETTINGS non_replicated_deduplication_window = 10000;

-- The live stool: one row per leg per sliding window [window_end - window_minutes, window_end).
CREATE TABLE IF NOT EXISTS {{database}}.leg_consistency
(
    window_end       DateTime('UTC'),
    window_minutes   UInt16,
    leg              LowCardinality(String),
    experiences      UInt32,
    score            Float64,
    consistency      Nullable(Float64),
    cells            UInt16,
    satisfied        Float64,
    impressed        Float64,
    merely_satisfied Float64,
    stool_score      Float64,
    weakest_leg      LowCardinality(String),
    wobble           Float64,
    stands           Bool,
    legs_present     UInt8
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(window_end)
ORDER BY (window_end, leg)
SETTINGS non_replicated_deduplication_window = 10000;

-- One row per journey (the latest version wins): score, weakest link, peak-end, and the stool with touchpoints as cells.
CREATE TABLE IF NOT EXISTS {{database}}.journeys
(
    customer_id                 String,
    journey_id                  String,
    started_at                  DateTime64(3, 'UTC'),
    last_at                     DateTime64(3, 'UTC'),
    events                      UInt32,
    experiences                 UInt32,
    score                       Nullable(Float64),
    weakest_x                   Nullable(Float64),
    weakest_touchpoint          Nullable(String),
    weakest_channel             Nullable(String),
    peak_end                    Nullable(Float64),
    product_score               Nullable(Float64),
    operations_score            Nullable(Float64),
    sales_marketing_score       Nullable(Float64),
    product_consistency         Nullable(Float64),
    operations_consistency      Nullable(Float64),
    sales_marketing_consistency Nullable(Float64),
    stool_score                 Nullable(Float64),
    weakest_leg                 Nullable(String),
    wobble                      Nullable(Float64),
    stands                      Bool,
    version                     UInt32
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (customer_id, journey_id, started_at)
SETTINGS non_replicated_deduplication_window = 10000;

-- Good-to-bad transitions (cross_channel = false: within one channel), one row per landing event.
CREATE TABLE IF NOT EXISTS {{database}}.channel_drops
(
    event_id          UUID,
    customer_id       String,
    occurred_at       DateTime64(3, 'UTC'),
    prev_event_id     UUID,
    prev_occurred_at  DateTime64(3, 'UTC'),
    from_channel      LowCardinality(String),
    from_touchpoint   LowCardinality(String),
    from_department   LowCardinality(String),
    to_channel        LowCardinality(String),
    to_touchpoint     LowCardinality(String),
    to_department     LowCardinality(String),
    x_prev            Float64,
    x_cur             Float64,
    magnitude         Float64,
    cross_channel     Bool,
    gap_seconds       Float64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 10000;

-- Transitions per channel pair and minute (of the later experience): the drop rate's denominator.
CREATE TABLE IF NOT EXISTS {{database}}.channel_transition_minute
(
    minute           DateTime('UTC'),
    from_channel     LowCardinality(String),
    to_channel       LowCardinality(String),
    source_partition UInt32,
    transitions      UInt32,
    starts_good      UInt32,
    drops            UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, from_channel, to_channel, source_partition)
SETTINGS non_replicated_deduplication_window = 10000;

-- Death spirals: one row per spiral, updated as it grows and when it closes (highest version wins).
CREATE TABLE IF NOT EXISTS {{database}}.death_spirals
(
    spiral_id    String,
    customer_id  String,
    started_at   DateTime64(3, 'UTC'),
    last_at      DateTime64(3, 'UTC'),
    length       UInt32,
    touchpoints  UInt16,
    path         Array(String),
    channels     Array(String),
    departments  Array(String),
    status       LowCardinality(String),
    closed_at    Nullable(DateTime64(3, 'UTC')),
    close_reason LowCardinality(Nullable(String)),
    version      UInt32
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (customer_id, spiral_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Customer memory after each experience.
CREATE TABLE IF NOT EXISTS {{database}}.customer_memory
(
    customer_id   String,
    event_id      UUID,
    occurred_at   DateTime64(3, 'UTC'),
    channel       LowCardinality(String),
    touchpoint    LowCardinality(String),
    department    LowCardinality(String),
    x             Float64,
    class         LowCardinality(String),
    weight        Float64,
    memory_before Nullable(Float64),
    memory        Float64,
    at_risk       Bool,
    recoverable   Bool,
    experiences   UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (customer_id, occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Per department, minute and source partition: mergeable sums (memory_impact is signed).
CREATE TABLE IF NOT EXISTS {{database}}.department_impact
(
    minute            DateTime('UTC'),
    department        LowCardinality(String),
    source_partition  UInt32,
    experiences       UInt32,
    bad               UInt32,
    drops_landed      UInt32,
    spirals_joined    UInt32,
    memory_impact     Float64,
    first_experiences UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, department, source_partition)
SETTINGS non_replicated_deduplication_window = 10000;

-- Events that came later than the allowed lateness: stored raw in touchpoint_events, flagged here, not in any result.
CREATE TABLE IF NOT EXISTS {{database}}.late_events
(
    event_id         UUID,
    occurred_at      DateTime64(3, 'UTC'),
    customer_id      String,
    channel          LowCardinality(String),
    touchpoint       LowCardinality(String),
    watermark        DateTime64(3, 'UTC'),
    behind_ms        Int64,
    source_partition UInt32,
    source_offset    UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 10000;

-- Keyed state of the processors: per source partition, a meta row (key '') with the
-- offset, watermark and open minutes, and one row per customer. One insert per
-- checkpoint, into a table without partitions, so a checkpoint lands whole or not at all.
CREATE TABLE IF NOT EXISTS {{database}}.processor_state
(
    stage            LowCardinality(String),
    source_cluster   LowCardinality(String),
    source_topic     LowCardinality(String),
    source_partition UInt32,
    key              String,
    seq              UInt64,
    source_offset    Int64,
    watermark        Int64,
    state            String
)
ENGINE = ReplacingMergeTree(seq)
ORDER BY (stage, source_cluster, source_topic, source_partition, key)
SETTINGS non_replicated_deduplication_window = 10000;

-- Views for analysts.

CREATE VIEW IF NOT EXISTS {{database}}.customer_memory_latest AS
SELECT
    customer_id,
    argMax(memory, (occurred_at, event_id)) AS memory,
    argMax(at_risk, (occurred_at, event_id)) AS at_risk,
    argMax(recoverable, (occurred_at, event_id)) AS recoverable,
    max(experiences) AS experiences,
    max(occurred_at) AS last_experience_at
FROM {{database}}.customer_memory FINAL
GROUP BY customer_id;

CREATE VIEW IF NOT EXISTS {{database}}.at_risk_customers AS
SELECT * FROM {{database}}.customer_memory_latest WHERE at_risk;

CREATE VIEW IF NOT EXISTS {{database}}.drop_rate_matrix AS
SELECT from_channel, to_channel, transitions, starts_good, drops, if(starts_good = 0, NULL, drops / starts_good) AS drop_rate
FROM
(
    SELECT from_channel, to_channel, sum(t.transitions) AS transitions, sum(t.starts_good) AS starts_good, sum(t.drops) AS drops
    FROM {{database}}.channel_transition_minute AS t FINAL
    GROUP BY from_channel, to_channel
);

CREATE VIEW IF NOT EXISTS {{database}}.stool_now AS
SELECT * FROM {{database}}.leg_consistency FINAL
WHERE window_end = (SELECT max(window_end) FROM {{database}}.leg_consistency);

-- The stool per hour, recomputed from the per-minute cells with docs/metrics.md's default
-- parameters (cells need 5 experiences in the hour; the stool stands at 0.6). The
-- n-weighted variance of cell means is sum(n*mean^2)/sum(n) - (sum(n*mean)/sum(n))^2.
CREATE VIEW IF NOT EXISTS {{database}}.stool_hourly AS
WITH cells AS (
    SELECT toStartOfHour(minute) AS hour, leg, channel, touchpoint,
           sum(c.n) AS cn, sum(c.sum_x) AS sx, sum(c.good) AS cgood, sum(c.impressed) AS cimpressed
    FROM {{database}}.cell_minute AS c FINAL
    GROUP BY hour, leg, channel, touchpoint
    HAVING cn > 0
),
legs AS (
    SELECT
        hour,
        leg,
        sum(cn) AS experiences,
        sum(sx) / sum(cn) AS score,
        countIf(cn >= 5) AS cells,
        if(cells < 2, NULL,
           greatest(0, least(1, 1 - 2 * sqrt(greatest(0,
               sumIf(sx * sx / cn, cn >= 5) / sumIf(cn, cn >= 5) - pow(sumIf(sx, cn >= 5) / sumIf(cn, cn >= 5), 2)))))) AS consistency,
        sum(cgood) / sum(cn) AS satisfied,
        sum(cimpressed) / sum(cn) AS impressed,
        (sum(cgood) - sum(cimpressed)) / sum(cn) AS merely_satisfied
    FROM cells
    GROUP BY hour, leg
),
stool AS (
    SELECT hour, min(score) AS stool_score, argMin(leg, score) AS weakest_leg, max(score) - min(score) AS wobble,
           count() = 3 AND min(score) >= 0.6 AS stands
    FROM legs
    GROUP BY hour
)
SELECT legs.*, stool.stool_score, stool.weakest_leg, stool.wobble, stool.stands
FROM legs INNER JOIN stool USING hour;

CREATE VIEW IF NOT EXISTS {{database}}.open_spirals AS
SELECT * FROM {{database}}.death_spirals FINAL WHERE status = 'open';

CREATE VIEW IF NOT EXISTS {{database}}.department_balance AS
SELECT
    day, department, experiences, bad / experiences AS bad_share, drops_landed, spirals_joined, memory_impact,
    if(experiences = first_experiences, NULL, memory_impact / (experiences - first_experiences)) AS memory_impact_per_experience
FROM
(
    SELECT toDate(minute) AS day, department,
           sum(d.experiences) AS experiences, sum(d.bad) AS bad, sum(d.drops_landed) AS drops_landed, sum(d.spirals_joined) AS spirals_joined,
           sum(d.memory_impact) AS memory_impact, sum(d.first_experiences) AS first_experiences
    FROM {{database}}.department_impact AS d FINAL
    GROUP BY day, department
);
