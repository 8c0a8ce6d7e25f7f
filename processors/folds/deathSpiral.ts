/**
 * Death spirals (docs/metrics.md, "Death spirals"): a run of consecutive bad experiences of
 * one customer, each within H of the last, touching at least two touchpoints. It
 * becomes a spiral at length 3 (and two touchpoints), grows while bad experiences
 * continue, and closes on the first non-bad experience or after H of silence.
 *
 * A moment (a customer's experiences at one instant; docs/metrics.md, "Simultaneous
 * experiences") is one step: a moment whose experiences are all bad adds one step and
 * all its touchpoints (in content order); any other moment ends the run. So a run
 * becomes a spiral at its third bad moment, never between answers given at once.
 */
import type { MetricParams } from '../params.ts';
import { compareText as text, isBad, type ExperienceTouch } from '../touch.ts';

/** The current run of consecutive bad experiences. */
export interface BadRun {
  /** Event id of the run's first bad experience: the spiral's id. */
  id: string;
  startedAt: number;
  lastAt: number;
  /** Touchpoints in order (the path), with their channels and departments. */
  path: string[];
  channels: string[];
  departments: string[];
  /** True once the run has qualified as a spiral (and so has been emitted). */
  spiral: boolean;
  /** Bad moments in the run (path has one entry per bad experience); absent in state saved before moments: path.length. */
  steps?: number;
}

export type SpiralChange = 'opened' | 'grew' | 'closed';

export interface SpiralEvent {
  change: SpiralChange;
  run: BadRun;
  /** For 'closed': when and why. */
  closedAt: number | null;
  closeReason: 'recovered' | 'silence' | null;
  /** Departments that joined the spiral with this change (all of them when it opens). */
  joined: string[];
}

const distinct = (xs: string[]) => new Set(xs).size;
/** Outputs carry a copy: the run itself keeps changing. */
const snapshot = (r: BadRun): BadRun => ({ ...r, path: [...r.path], channels: [...r.channels], departments: [...r.departments] });
const stepsOf = (r: BadRun) => r.steps ?? r.path.length;
const qualifies = (r: BadRun) => stepsOf(r) >= 3 && distinct(r.path) >= 2;

/** No spiral changed (shared: most moments change none). Frozen, so that no caller adds to it. */
export const NO_SPIRALS: SpiralEvent[] = Object.freeze([]) as unknown as SpiralEvent[];

/** Closes a run silent for more than H at time `at`. */
export function expireRun(run: BadRun | undefined, at: number, p: MetricParams): { state: BadRun | undefined; out: SpiralEvent[] } {
  if (!run || at - run.lastAt <= p.horizonMs) return { state: run, out: NO_SPIRALS };
  const out: SpiralEvent[] = run.spiral ? [{ change: 'closed', run, closedAt: run.lastAt + p.horizonMs, closeReason: 'silence', joined: [] }] : [];
  return { state: undefined, out };
}

/** Content order of a bad moment's experiences: touchpoint, channel, department, then x and event id. */
const pathOrder = (a: ExperienceTouch, b: ExperienceTouch): number =>
  text(a.touchpoint, b.touchpoint) || text(a.channel, b.channel) || text(a.department, b.department) || a.x - b.x || text(a.event_id, b.event_id);

export function deathSpiralMoment(state: BadRun | undefined, moment: readonly ExperienceTouch[], p: MetricParams): { state: BadRun | undefined; out: SpiralEvent[] } {
  const t = (moment[0] as ExperienceTouch).t;
  const expired = expireRun(state, t, p);
  // The expired run's close, if any, comes first. Changes are rare: their lists are built when there are some.
  let out = expired.out;
  let run = expired.state;
  if (!moment.every(isBad)) {
    if (run?.spiral) out = [...out, { change: 'closed', run: snapshot(run), closedAt: t, closeReason: 'recovered', joined: [] }];
    return { state: undefined, out };
  }
  const bad = moment.length === 1 ? moment : [...moment].sort(pathOrder);
  const first = bad[0] as ExperienceTouch;
  if (!run) {
    run = { id: first.event_id, startedAt: t, lastAt: t, path: [], channels: [], departments: [], spiral: false, steps: 0 };
  }
  run.steps = stepsOf(run);
  const had = run.departments;
  // Only a spiral that grows reports the departments joining it.
  const joined = run.spiral ? [...new Set(bad.map((e) => e.department))].filter((d) => !had.includes(d)).sort() : undefined;
  run.lastAt = t;
  run.steps++;
  for (const e of bad) {
    run.path.push(e.touchpoint);
    run.channels.push(e.channel);
    run.departments.push(e.department);
  }
  if (run.spiral) {
    out = [...out, { change: 'grew', run: snapshot(run), closedAt: null, closeReason: null, joined: joined as string[] }];
  } else if (qualifies(run)) {
    run.spiral = true;
    out = [...out, { change: 'opened', run: snapshot(run), closedAt: null, closeReason: null, joined: [...new Set(run.departments)] }];
  }
  return { state: run, out };
}

/** One experience: a moment of one. */
export function deathSpiral(state: BadRun | undefined, e: ExperienceTouch, p: MetricParams): { state: BadRun | undefined; out: SpiralEvent[] } {
  return deathSpiralMoment(state, [e], p);
}
