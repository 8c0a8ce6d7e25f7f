/**
 * docs/metrics.md's experience value and class, written as SQL over the raw
 * `touchpoint_events` columns, so tests can recompute the processors' results
 * independently of the TypeScript folds. The scale facts come from the one table of them.
 */
import { RATING_SCALES } from '../schemas/ratingScale.ts';

const scales = Object.entries(RATING_SCALES);
const perScale = (f: (s: (typeof RATING_SCALES)[keyof typeof RATING_SCALES]) => string, otherwise: string) =>
  `multiIf(${scales.map(([name, s]) => `rating_scale = '${name}', ${f(s)}`).join(', ')}, ${otherwise})`;

/** x in [0, 1]; 0 for an unrated visit that did not end OK; NULL for traffic. */
export const X_SQL = `if(rating_scale IS NULL, if(outcome = 'OK', NULL, 0.), ${perScale((s) => `(rating_value - ${s.min}) / ${s.max - s.min}`, 'NULL')})`;

/** 'bad' | 'neutral' | 'good' | 'impressed'; NULL for traffic. */
export const CLASS_SQL = `if(rating_scale IS NULL, if(outcome = 'OK', NULL, 'bad'),
  ${perScale((s) => `multiIf(rating_value <= ${s.badMax}, 'bad', rating_value >= ${s.topMin}, 'impressed', rating_value >= ${s.goodMin}, 'good', 'neutral')`, 'NULL')})`;
