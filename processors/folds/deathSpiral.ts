/**
 * Death spirals (DESIGN.md, "Death spiral"): a run of consecutive bad experiences of
 * one customer, each within H of the last, touching at least two touchpoints. It
 * becomes a spiral at length 3 (and two touchpoints), grows while bad experiences
 * continue, and closes on the first non-bad experience or after H of silence.
 */
import type { MetricParams } from '../params.ts';
import { isBad, type ExperienceTouch } from '../touch.ts';

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
const qualifies = (r: BadRun) => r.path.length >= 3 && distinct(r.path) >= 2;

/** Closes a run silent for more than H at time `at`. */
export function expireRun(run: BadRun | undefined, at: number, p: MetricParams): { state: BadRun | undefined; out: SpiralEvent[] } {
  if (!run || at - run.lastAt <= p.horizonMs) return { state: run, out: [] };
  const out: SpiralEvent[] = run.spiral ? [{ change: 'closed', run, closedAt: run.lastAt + p.horizonMs, closeReason: 'silence', joined: [] }] : [];
  return { state: undefined, out };
}

export function deathSpiral(state: BadRun | undefined, e: ExperienceTouch, p: MetricParams): { state: BadRun | undefined; out: SpiralEvent[] } {
  const expired = expireRun(state, e.t, p);
  const out = expired.out;
  let run = expired.state;
  if (!isBad(e)) {
    if (run?.spiral) out.push({ change: 'closed', run: snapshot(run), closedAt: e.t, closeReason: 'recovered', joined: [] });
    return { state: undefined, out };
  }
  if (!run) {
    run = { id: e.event_id, startedAt: e.t, lastAt: e.t, path: [e.touchpoint], channels: [e.channel], departments: [e.department], spiral: false };
    return { state: run, out };
  }
  const newDepartment = !run.departments.includes(e.department);
  run.lastAt = e.t;
  run.path.push(e.touchpoint);
  run.channels.push(e.channel);
  run.departments.push(e.department);
  if (run.spiral) {
    out.push({ change: 'grew', run: snapshot(run), closedAt: null, closeReason: null, joined: newDepartment ? [e.department] : [] });
  } else if (qualifies(run)) {
    run.spiral = true;
    out.push({ change: 'opened', run: snapshot(run), closedAt: null, closeReason: null, joined: [...new Set(run.departments)] });
  }
  return { state: run, out };
}
