/**
 * Cross-channel experience drops (docs/metrics.md, "Cross-channel drops"): each
 * pair of consecutive experiences of a customer at most H apart is a transition;
 * a drop is a transition from a good experience to a bad one. It is cross-channel
 * when the channels differ; a within-channel drop is kept too, flagged.
 * Drop rate A -> B = drops A -> B / transitions A -> B that start good.
 *
 * Experiences at the same instant are one moment (docs/metrics.md, "Simultaneous
 * experiences"): no transition joins two of them. Each experience of a moment is the
 * end of one transition from the previous moment, whose start is that moment's worst
 * experience (lowest class, then lowest x): it starts good only when every
 * experience of the previous moment was good.
 */
import type { MetricParams } from '../params.ts';
import { compareText as text, isBad, isGood, type ExperienceTouch } from '../touch.ts';
import { MinuteBuckets, type BucketKeys } from './minuteBuckets.ts';

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

const CLASS_RANK = { bad: 0, neutral: 1, good: 2, impressed: 3 } as const;

/**
 * Orders a moment's experiences worst first by content: class, x, then channel,
 * touchpoint and department. Only experiences equal in all of these are left in
 * event-id order, and those differ in nothing a result shows but their ids.
 */
export const worstFirst = (a: ExperienceTouch, b: ExperienceTouch): number =>
  CLASS_RANK[a.cls] - CLASS_RANK[b.cls] || a.x - b.x || text(a.channel, b.channel) || text(a.touchpoint, b.touchpoint) ||
  text(a.department, b.department) || text(a.event_id, b.event_id);

/** The transitions ending at each experience of a moment (null: none, after a gap over H), and what the next moment starts from. */
export function channelDropMoment(state: PreviousExperience | undefined, moment: readonly ExperienceTouch[], p: MetricParams): { state: PreviousExperience; out: (Transition | null)[] } {
  const t = (moment[0] as ExperienceTouch).t;
  const from = state && t - state.t <= p.horizonMs ? state : undefined;
  const out: (Transition | null)[] = new Array(moment.length);
  for (let i = 0; i < moment.length; i++) {
    const e = moment[i] as ExperienceTouch;
    out[i] = from ? { from, to: e, gapMs: e.t - from.t, startsGood: from.good, drop: from.good && isBad(e), crossChannel: from.channel !== e.channel, magnitude: from.x - e.x } : null;
  }
  const worst = moment.length === 1 ? (moment[0] as ExperienceTouch) : ([...moment].sort(worstFirst)[0] as ExperienceTouch);
  const next: PreviousExperience = {
    event_id: worst.event_id, t, channel: worst.channel, touchpoint: worst.touchpoint, department: worst.department, x: worst.x, good: isGood(worst),
  };
  return { state: next, out };
}

/** One experience: a moment of one. */
export function channelDrop(state: PreviousExperience | undefined, e: ExperienceTouch, p: MetricParams): { state: PreviousExperience; out: Transition | null } {
  const r = channelDropMoment(state, [e], p);
  return { state: r.state, out: r.out[0] ?? null };
}

/** Per (from channel, to channel) and minute of the later experience: transitions, those starting good, drops. */
export interface TransitionAggregate {
  transitions: number;
  startsGood: number;
  drops: number;
}

export const transitionKey = (from: string, to: string) => `${from}\u0000${to}`;

/** Found by the channels from and to; the checkpoint key is transitionKey's. */
export const TRANSITION_KEYS: BucketKeys = {
  join: (from, to) => transitionKey(from, to),
  split(key) {
    const cut = key.indexOf('\u0000');
    return [key.slice(0, cut), key.slice(cut + 1), ''];
  },
};

const emptyTransitions = (): TransitionAggregate => ({ transitions: 0, startsGood: 0, drops: 0 });

export const newTransitionMinutes = (): MinuteBuckets<TransitionAggregate> => new MinuteBuckets(TRANSITION_KEYS);

/** Counts one transition in the minute of its later experience. */
export function countTransition(state: MinuteBuckets<TransitionAggregate>, minute: number, t: Transition): void {
  const a = state.bucket(minute, t.from.channel, t.to.channel, '', emptyTransitions);
  a.transitions++;
  if (t.startsGood) a.startsGood++;
  if (t.drop) a.drops++;
}
