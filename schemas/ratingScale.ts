import type { RatingScale } from './types.generated.ts';

export interface ScaleFacts {
  min: number;
  max: number;
  integral: boolean;
  /** Values at or below this are a bad experience. */
  badMax: number;
  /** Values at or above this are a good experience. */
  goodMin: number;
  /** Values at or above this are top box: the customer was impressed, not merely satisfied. */
  topMin: number;
}

/** Each rating scale's range and classes (docs/metrics.md, "Experience value and class"). */
export const RATING_SCALES: Record<RatingScale, ScaleFacts> = {
  CSAT_5: { min: 1, max: 5, integral: true, badMax: 2, goodMin: 4, topMin: 5 },
  STARS_5: { min: 1, max: 5, integral: true, badMax: 2, goodMin: 4, topMin: 5 },
  NPS_11: { min: 0, max: 10, integral: true, badMax: 6, goodMin: 9, topMin: 10 },
  CES_7: { min: 1, max: 7, integral: true, badMax: 3, goodMin: 5, topMin: 7 },
  BINARY: { min: 0, max: 1, integral: true, badMax: 0, goodMin: 1, topMin: 1 },
  SCORE_100: { min: 0, max: 100, integral: false, badMax: 40, goodMin: 75, topMin: 95 },
};
