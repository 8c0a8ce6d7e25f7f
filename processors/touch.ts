/**
 * A touch: one TouchpointEvent as the folds see it, with its experience value and
 * class worked out once (null for traffic: an unrated OK visit).
 */
import type { Leg, TouchpointEvent } from '../schemas/contracts.ts';
import { experienceOf, type ExperienceClass } from './experience.ts';

export interface Touch {
  event_id: string;
  /** Event time (occurred_at), ms since the epoch. */
  t: number;
  customer_id: string;
  journey_id: string;
  channel: string;
  touchpoint: string;
  leg: Leg;
  stage: string;
  department: string;
  /** Moment of truth. */
  mot: boolean;
  /** Experience value in [0, 1]; null: traffic, not an experience. */
  x: number | null;
  cls: ExperienceClass | null;
}

/** A touch that is an experience. */
export type ExperienceTouch = Touch & { x: number; cls: ExperienceClass };

export const isExperience = (t: Touch): t is ExperienceTouch => t.x !== null;
export const isBad = (t: Touch): boolean => t.cls === 'bad';
/** Good includes impressed (top box is good too). */
export const isGood = (t: { cls: ExperienceClass | null }): boolean => t.cls === 'good' || t.cls === 'impressed';

export function touchOf(e: TouchpointEvent): Touch {
  const exp = experienceOf(e);
  return {
    // Lower case, as the UUID columns store it: an upper-case resend is the same event to the dedup window.
    event_id: e.event_id.toLowerCase(),
    t: e.occurred_at,
    customer_id: e.customer_id,
    journey_id: e.journey_id,
    channel: e.channel,
    touchpoint: e.touchpoint,
    leg: e.leg,
    stage: e.stage,
    department: e.department,
    mot: e.moment_of_truth,
    x: exp?.x ?? null,
    cls: exp?.cls ?? null,
  };
}

/** Release order within one partition: event time, then event id (ties broken the same way on every replay). */
export const byEventTime = (a: Touch, b: Touch): number => a.t - b.t || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0);

/** Code-unit order of two strings, as a comparator (the folds' content orders break ties with it). */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * A canonical order of one customer's simultaneous touches by their content (event id
 * last): the folds take a moment in this order, so that even floating-point sums come
 * out bit for bit the same whatever order the touches arrived in and whatever ids they
 * carry. Touches equal in content differ in nothing but their ids.
 */
export const byContent = (a: Touch, b: Touch): number =>
  compareText(a.touchpoint, b.touchpoint) || compareText(a.channel, b.channel) || compareText(a.leg, b.leg) || compareText(a.department, b.department) ||
  compareText(a.journey_id, b.journey_id) || compareText(a.stage, b.stage) || Number(a.mot) - Number(b.mot) ||
  (a.x ?? -1) - (b.x ?? -1) || compareText(a.cls ?? '', b.cls ?? '') || compareText(a.event_id, b.event_id);
