-- Outcome calibration (docs/metrics.md, "Outcome calibration"): every fit `cx calibrate`
-- makes, versioned, and which one is active. Result rows that depend on memory weights
-- record the calibration that produced them ('' = the defaults).

CREATE TABLE IF NOT EXISTS {{database}}.calibrations
(
    id              String,
    created_at      DateTime64(3, 'UTC'),
    -- Which outcome counts as good, e.g. 'RATED>=0.6' or 'REPURCHASED'.
    outcome         String,
    seed            UInt64,
    train_share     Float64,
    -- Event time span of the experiences and outcomes it was fitted on.
    window_from     DateTime64(3, 'UTC'),
    window_to       DateTime64(3, 'UTC'),
    customers       UInt64,
    experiences     UInt64,
    -- JSON: {"touchpointWeights": {...}, "badWeight": b, "halfLifeDays": h, "badFactor": r} (processors/params.ts, Calibration).
    parameters      String,
    -- JSON: held-out AUC and log loss of the plain mean, the default memory and the calibrated memory.
    heldout         String,
    -- JSON arrays: the key-driver table and the "where do we start" ranking.
    key_drivers     String,
    where_to_start  String
)
ENGINE = ReplacingMergeTree
ORDER BY id;

-- Append-only: the active calibration is the one activated last ('' = back to the defaults).
CREATE TABLE IF NOT EXISTS {{database}}.calibration_activations
(
    activated_at   DateTime64(3, 'UTC'),
    calibration_id String
)
ENGINE = MergeTree
ORDER BY activated_at;

-- Bad moments of a spiral (docs/metrics.md, "Simultaneous experiences"); length counts its bad experiences.
ALTER TABLE {{database}}.death_spirals ADD COLUMN IF NOT EXISTS steps UInt32 DEFAULT length;

-- Each experience's share of its moment's change of memory (docs/metrics.md, "Simultaneous experiences"): what
-- department_impact sums; memory - memory_before is the whole moment's change, on every row of it.
ALTER TABLE {{database}}.customer_memory ADD COLUMN IF NOT EXISTS memory_impact Nullable(Float64);
ALTER TABLE {{database}}.customer_memory ADD COLUMN IF NOT EXISTS calibration_id LowCardinality(String) DEFAULT '';
ALTER TABLE {{database}}.journeys ADD COLUMN IF NOT EXISTS calibration_id LowCardinality(String) DEFAULT '';
ALTER TABLE {{database}}.department_impact ADD COLUMN IF NOT EXISTS calibration_id LowCardinality(String) DEFAULT '';

-- The fold's last memory of each customer. Experiences at the same instant are one
-- moment and every row of a moment carries the same memory (docs/metrics.md,
-- "Simultaneous experiences"), so the latest instant decides and no tie is broken on
-- event_id (whose ClickHouse order is not the fold's).
CREATE OR REPLACE VIEW {{database}}.customer_memory_latest AS
SELECT
    customer_id,
    argMax(memory, occurred_at) AS memory,
    argMax(at_risk, occurred_at) AS at_risk,
    argMax(recoverable, occurred_at) AS recoverable,
    max(experiences) AS experiences,
    max(occurred_at) AS last_experience_at,
    argMax(calibration_id, occurred_at) AS calibration_id
FROM {{database}}.customer_memory FINAL
GROUP BY customer_id;

CREATE OR REPLACE VIEW {{database}}.at_risk_customers AS
SELECT * FROM {{database}}.customer_memory_latest WHERE at_risk;
