/**
 * The metric parameters: what the folds are given. The folds import only these and the
 * contracts; the composition root (pipeline/compose.ts, metricParams) builds them from
 * the configuration.
 */

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export interface MetricParams {
  /** H: transitions span at most this; this much silence ends a spiral or a journey. */
  horizonMs: number;
  /** h: half-life of a non-bad experience in memory. */
  halfLifeMs: number;
  /** r: a bad experience's half-life is r*h. */
  badFactor: number;
  /** m: weight of a moment of truth. */
  motWeight: number;
  /** E: every leg score at least this and the stool stands. */
  stoolThreshold: number;
  /** Memory below this (with an unanswered bad experience): at risk. */
  atRisk: number;
  /** n_min: experiences a cell needs in a window. */
  nMin: number;
  windowMinutes: number;
  latenessMs: number;
  /** A customer's event ids are kept while at most this much event time behind the partition's watermark: an arrival with one of them is a duplicate (docs/metrics.md, "Duplicates"). */
  dedupWindowMs: number;
  /** Most event ids a customer's dedup window holds (its memory bound); the oldest go first. */
  dedupMaxIds: number;
  /** The calibration whose weights memory uses (docs/metrics.md, "Outcome calibration"); null: the defaults (m at a moment of truth). */
  calibration: Calibration | null;
}

/**
 * Weights fitted against outcomes by `cx calibrate` (docs/metrics.md, "Outcome
 * calibration"), stored in `calibrations`. While one is active, an experience at
 * touchpoint T weighs `touchpointWeights[T]` (1 for a touchpoint not in it) times
 * `badWeight` when bad, instead of m at a moment of truth; and h and r are its own.
 */
export interface Calibration {
  id: string;
  touchpointWeights: Record<string, number>;
  badWeight: number;
  halfLifeDays: number;
  badFactor: number;
}

/** The parameters with a calibration's weights, h and r in force (null: as they are, uncalibrated). */
export function withCalibration(p: MetricParams, c: Calibration | null): MetricParams {
  if (!c) return { ...p, calibration: null };
  return { ...p, calibration: c, halfLifeMs: c.halfLifeDays * DAY_MS, badFactor: c.badFactor };
}

/** Which calibration produced a row: its id, or '' for the defaults. */
export const calibrationIdOf = (p: MetricParams): string => p.calibration?.id ?? '';

/**
 * The defaults of docs/metrics.md, "Settings" (H 7 d, h 30 d, r 7, m 2, E 0.6, n_min 5,
 * 15 min, 30 s), for tests and benches; the configuration's defaults are the same (a unit
 * test holds them equal: tests/unit/config.test.ts).
 */
export const DEFAULT_PARAMS: MetricParams = {
  horizonMs: 7 * DAY_MS,
  halfLifeMs: 30 * DAY_MS,
  badFactor: 7,
  motWeight: 2,
  stoolThreshold: 0.6,
  atRisk: 0.5,
  nMin: 5,
  windowMinutes: 15,
  latenessMs: 30_000,
  dedupWindowMs: 7 * DAY_MS,
  dedupMaxIds: 512,
  calibration: null,
};

export const minuteOf = (t: number): number => t - (((t % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
