import type { RatingScale } from './types.generated.ts';

/** The value range of each rating scale (DESIGN.md, "Experience value"). */
export const RATING_SCALES: Record<RatingScale, { min: number; max: number; integral: boolean }> = {
  CSAT_5: { min: 1, max: 5, integral: true },
  STARS_5: { min: 1, max: 5, integral: true },
  NPS_11: { min: 0, max: 10, integral: true },
  CES_7: { min: 1, max: 7, integral: true },
  BINARY: { min: 0, max: 1, integral: true },
  SCORE_100: { min: 0, max: 100, integral: false },
};
