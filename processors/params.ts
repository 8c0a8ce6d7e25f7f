/** The metric parameters, from the one configuration schema (platform/config.ts). */
import { loadConfig, type Config } from '../platform/config.ts';

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
}

export function metricParams(c: Pick<Config, 'horizonDays' | 'memoryHalfLifeDays' | 'badMemoryFactor' | 'momentOfTruthWeight' | 'stoolThreshold' | 'atRiskMemory' | 'minCellExperiences' | 'consistencyWindowMinutes' | 'allowedLatenessMs'>): MetricParams {
  return {
    horizonMs: c.horizonDays * DAY_MS,
    halfLifeMs: c.memoryHalfLifeDays * DAY_MS,
    badFactor: c.badMemoryFactor,
    motWeight: c.momentOfTruthWeight,
    stoolThreshold: c.stoolThreshold,
    atRisk: c.atRiskMemory,
    nMin: c.minCellExperiences,
    windowMinutes: c.consistencyWindowMinutes,
    latenessMs: c.allowedLatenessMs,
  };
}

/** DESIGN.md's defaults (H 7 d, h 30 d, r 7, m 2, E 0.6, n_min 5, 15 min, 30 s). */
export const DEFAULT_PARAMS: MetricParams = metricParams(loadConfig({}));

export const minuteOf = (t: number): number => t - (((t % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
