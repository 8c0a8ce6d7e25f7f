/**
 * Experience value and class of one event (docs/metrics.md, "Experience value and class"):
 * x = (value - min) / (max - min); bad / neutral / good / impressed by the scale's
 * thresholds; an unrated FAILED, ABANDONED or ESCALATED event is an implicit bad
 * experience with x = 0; an unrated OK event is traffic, not an experience.
 */
import type { Outcome, Rating } from '../schemas/contracts.ts';
import { RATING_SCALES } from '../schemas/ratingScale.ts';

export type ExperienceClass = 'bad' | 'neutral' | 'good' | 'impressed';

export interface Experience {
  x: number;
  cls: ExperienceClass;
}

export function experienceOf(e: { rating: Rating | null; outcome: Outcome }): Experience | null {
  if (!e.rating) return e.outcome === 'OK' ? null : { x: 0, cls: 'bad' };
  const s = RATING_SCALES[e.rating.scale];
  const v = e.rating.value;
  const x = (v - s.min) / (s.max - s.min);
  const cls: ExperienceClass = v <= s.badMax ? 'bad' : v >= s.topMin ? 'impressed' : v >= s.goodMin ? 'good' : 'neutral';
  return { x, cls };
}
