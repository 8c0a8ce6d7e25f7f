/**
 * Cross-channel experience drops (DESIGN.md, "Cross-channel experience drop"): each
 * pair of consecutive experiences of a customer at most H apart is a transition;
 * a drop is a transition from a good experience to a bad one. It is cross-channel
 * when the channels differ; a within-channel drop is kept too, flagged.
 * Drop rate A -> B = drops A -> B / transitions A -> B that start good.
 */
import type { MetricParams } from '../params.ts';
import { isBad, isGood, type ExperienceTouch } from '../touch.ts';

/** What the fold remembers of a customer's previous experience. */
export interface PreviousExperience {
  event_id: string;
  t: number;
  channel: string;
  touchpoint: string;
  department: string;
  x: number;
  good: boolean;
}

export interface Transition {
  from: PreviousExperience;
  to: ExperienceTouch;
  gapMs: number;
  startsGood: boolean;
  /** Good to bad. */
  drop: boolean;
  crossChannel: boolean;
  /** x_prev - x_cur (meaningful for drops). */
  magnitude: number;
}

export function channelDrop(state: PreviousExperience | undefined, e: ExperienceTouch, p: MetricParams): { state: PreviousExperience; out: Transition | null } {
  let out: Transition | null = null;
  if (state && e.t - state.t <= p.horizonMs) {
    const drop = state.good && isBad(e);
    out = {
      from: state,
      to: e,
      gapMs: e.t - state.t,
      startsGood: state.good,
      drop,
      crossChannel: state.channel !== e.channel,
      magnitude: state.x - e.x,
    };
  }
  const next: PreviousExperience = {
    event_id: e.event_id, t: e.t, channel: e.channel, touchpoint: e.touchpoint, department: e.department, x: e.x, good: isGood(e),
  };
  return { state: next, out };
}

/** Per (from channel, to channel) and minute of the later experience: transitions, those starting good, drops. */
export interface TransitionAggregate {
  transitions: number;
  startsGood: number;
  drops: number;
}

export const transitionKey = (from: string, to: string) => `${from}\u0000${to}`;
