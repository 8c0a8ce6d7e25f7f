/**
 * Touchpoint health (docs/alerts.md, "The touchpoint detector"): per (channel,
 * touchpoint) and minute of event time, the bad rate against a baseline learned from
 * the touchpoint's own history, watched by a Bernoulli CUSUM.
 *
 * - A visit is any event at the touchpoint; it is bad when it is a bad experience
 *   (rated bad, or unrated and FAILED, ABANDONED or ESCALATED). Counting per visit,
 *   not per rated experience, makes the rate comparable across touchpoints that are
 *   never rated, and a per-visit test does not care how busy the minute is, so the
 *   daily rhythm of traffic cannot trigger it.
 * - Baseline p0: exponentially decayed counts (half-life in event time) shrunk towards
 *   a prior, and per hour of day shrunk towards the overall rate, so a daily rhythm in
 *   the bad rate itself is learned once there is history for that hour.
 * - Only calm minutes are learned: minutes of a rise that ends in an alert, and every
 *   minute while an alert is open, never enter the baseline.
 * - CUSUM: S = max(0, S + bad*ln(p1/p0) + good*ln((1-p1)/(1-p0))) per minute, with
 *   p1 = max(2*p0, p0 + 0.1). An alert opens when S reaches h and the touchpoint has
 *   seen enough history; it is estimated to have started where S last left 0.
 * - An alert resolves when, over at least the last `resolveMinutes` minutes (and at
 *   least 20 visits) since it opened, the bad rate is back below the CUSUM's
 *   reference value (the rate at which S neither grows nor shrinks, between p0 and p1).
 */
import { HOUR_MS, MINUTE_MS } from '../params.ts';
import { alertId, type AlertChange, type OpenAlertBase, type Severity } from './alertLifecycle.ts';

export interface HealthParams {
  /** h: the CUSUM alarm threshold. */
  threshold: number;
  baselineHalfLifeMs: number;
  /** Visits learned before the touchpoint may alert. */
  minHistory: number;
  resolveMinutes: number;
  updateMinutes: number;
  /** The shifts watched beside p1 (default COMPANIONS); for measuring options. */
  companions?: readonly Companion[];
}

/** A CUSUM beside the main one, tuned to another shift: its p1 for a baseline p0. */
export interface Companion {
  name: string;
  alternative: (p0: number) => number;
}

/**
 * The companion kept (docs/alerts.md, "Faster on drift and thin traffic"): a CUSUM for
 * a big jump, p1 = max(3·p0, p0 + 0.25), which sees a broken touchpoint on thin
 * traffic sooner (billing's step: 28 -> 14 min). It shares h. A "creep" companion
 * (p1 = p0 + max(p0/2, 0.05)) was measured too: drift 63 -> 60 min, but it alarmed on
 * a 6% / 10% daily rhythm in the bad rate, so it is not kept (`CREEP`, for measuring).
 */
export const JUMP: Companion = { name: 'jump', alternative: (p0) => Math.min(0.99, Math.max(3 * p0, p0 + 0.25)) };
export const CREEP: Companion = { name: 'creep', alternative: (p0) => Math.min(0.99, p0 + Math.max(0.5 * p0, 0.05)) };
export const COMPANIONS: readonly Companion[] = [JUMP];

/** One touchpoint's traffic in one minute (summed over partitions and legs). */
export interface TouchpointMinute {
  channel: string;
  touchpoint: string;
  leg: string;
  events: number;
  experiences: number;
  bad: number;
}

export type HealthState = 'learning' | 'ok' | 'degraded';

export interface HealthRow {
  minute: number;
  channel: string;
  touchpoint: string;
  leg: string;
  events: number;
  experiences: number;
  bad: number;
  badRate: number | null;
  baseline: number;
  reference: number;
  statistic: number;
  threshold: number;
  state: HealthState;
  alertId: string | null;
}

/** Prior bad rate, worth PRIOR_VISITS visits, before a touchpoint has history. */
const PRIOR_RATE = 0.1;
const PRIOR_VISITS = 20;
/** Visits of same-hour history it takes to count as much as the overall rate. */
const HOUR_SHRINK_VISITS = 100;
/** Standard errors added to the baseline estimate while its history is short. */
const UNCERTAINTY_Z = 2;
/** Visits the resolve window needs at least. */
const RESOLVE_MIN_VISITS = 20;
/** A rise older than this that has neither alerted nor settled is learned from its oldest minute on. */
const MAX_PENDING_MINUTES = 360;
/** The current rate is pooled over at most this many minutes. */
const MAX_RECENT_MINUTES = 240;

type Counts = [minute: number, events: number, experiences: number, bad: number];

interface OpenAlert extends OpenAlertBase {
  /** Frozen when the alert opened. */
  p0: number;
  /** Minutes since the alert opened (newest last), for the current rate and resolving. */
  recent: Counts[];
}

export interface TouchpointDetector {
  channel: string;
  touchpoint: string;
  leg: string;
  /** The decayed sums are as of this time. */
  at: number;
  visits: number;
  bad: number;
  hourVisits: number[];
  hourBad: number[];
  /**
   * Per hour of day, the day (days since the epoch) it was last learned on, and what
   * that day added: an hour's baseline is its history from other days, so a drift
   * within the day is not learned as that hour's rhythm. (Absent in older state.)
   */
  hourDay?: number[];
  hourTodayVisits?: number[];
  hourTodayBad?: number[];
  /** Visits learned, undecayed. */
  learned: number;
  s: number;
  /** First minute of the current rise of S (null while S is 0). */
  onset: number | null;
  /** The companions' statistics and onsets, in COMPANIONS order (absent in state saved before them). */
  companions?: { s: number; onset: number | null }[];
  /** Minutes of the current rise, not yet learned. */
  pending: Counts[];
  alert: OpenAlert | null;
}

export interface TouchpointHealthState {
  detectors: Record<string, TouchpointDetector>;
}

export const emptyHealth = (): TouchpointHealthState => ({ detectors: {} });

const keyOf = (channel: string, touchpoint: string) => `${channel}\u0000${touchpoint}`;
const hourOf = (minute: number) => Math.floor((((minute % 86_400_000) + 86_400_000) % 86_400_000) / HOUR_MS);

function decayTo(d: TouchpointDetector, t: number, halfLifeMs: number): void {
  if (t <= d.at) return;
  const f = 2 ** (-(t - d.at) / halfLifeMs);
  d.visits *= f;
  d.bad *= f;
  for (let h = 0; h < 24; h++) {
    (d.hourVisits as number[])[h] = (d.hourVisits[h] as number) * f;
    (d.hourBad as number[])[h] = (d.hourBad[h] as number) * f;
  }
  if (d.hourTodayVisits && d.hourTodayBad) {
    for (let h = 0; h < 24; h++) {
      d.hourTodayVisits[h] = (d.hourTodayVisits[h] as number) * f;
      d.hourTodayBad[h] = (d.hourTodayBad[h] as number) * f;
    }
  }
  d.at = t;
}

const dayOf = (minute: number) => Math.floor(minute / 86_400_000);

/** What the hour of `minute` learned on the day of `minute` (its own occurrence, so far). */
function today(d: TouchpointDetector, minute: number): { visits: number; bad: number } {
  const h = hourOf(minute);
  if (!d.hourDay || d.hourDay[h] !== dayOf(minute)) return { visits: 0, bad: 0 };
  return { visits: (d.hourTodayVisits as number[])[h] as number, bad: (d.hourTodayBad as number[])[h] as number };
}

function learn(d: TouchpointDetector, [minute, events, , bad]: Counts, halfLifeMs: number): void {
  // Added at its own time: a minute learned late weighs what it would have weighed then.
  const f = minute < d.at ? 2 ** (-(d.at - minute) / halfLifeMs) : 1;
  if (minute > d.at) decayTo(d, minute, halfLifeMs);
  const h = hourOf(minute);
  d.visits += events * f;
  d.bad += bad * f;
  (d.hourVisits as number[])[h] = (d.hourVisits[h] as number) + events * f;
  (d.hourBad as number[])[h] = (d.hourBad[h] as number) + bad * f;
  const days = (d.hourDay ??= new Array<number>(24).fill(-1));
  const tv = (d.hourTodayVisits ??= new Array<number>(24).fill(0));
  const tb = (d.hourTodayBad ??= new Array<number>(24).fill(0));
  const day = dayOf(minute);
  if (day > (days[h] as number)) {
    days[h] = day;
    tv[h] = 0;
    tb[h] = 0;
  }
  if (day === days[h]) {
    tv[h] = (tv[h] as number) + events * f;
    tb[h] = (tb[h] as number) + bad * f;
  }
  d.learned += events;
}

/** The baseline bad rate p0 for a minute: same-hour history from other days shrunk towards the overall rate, shrunk towards the prior. */
export function baselineOf(d: TouchpointDetector, minute: number): number {
  const overall = (d.bad + PRIOR_RATE * PRIOR_VISITS) / (d.visits + PRIOR_VISITS);
  const h = hourOf(minute);
  const own = today(d, minute);
  const hv = Math.max(0, (d.hourVisits[h] as number) - own.visits);
  const hb = Math.max(0, (d.hourBad[h] as number) - own.bad);
  const p = (hb + HOUR_SHRINK_VISITS * overall) / (hv + HOUR_SHRINK_VISITS);
  // Little history, wide error: test against the rate it could still plausibly be (an
  // upper bound), not the estimate. The variance of the blend: the hour's own visits,
  // plus the overall rate's (from all visits) carried in by the shrinkage.
  const variance = (p * (1 - p) * (hv + HOUR_SHRINK_VISITS ** 2 / (d.visits + PRIOR_VISITS))) / (hv + HOUR_SHRINK_VISITS) ** 2;
  const upper = p + UNCERTAINTY_Z * Math.sqrt(variance);
  return Math.min(0.9, Math.max(0.001, upper));
}

/** p1 = max(2*p0, p0 + 0.1), kept below 1. */
export const alternativeOf = (p0: number): number => Math.min(0.99, Math.max(2 * p0, p0 + 0.1));

/** The log-likelihood ratios of one bad and one good visit, and the rate at which S has no drift. */
export function cusumWeights(p0: number, p1: number): { ifBad: number; ifGood: number; reference: number } {
  const ifBad = Math.log(p1 / p0);
  const ifGood = Math.log((1 - p1) / (1 - p0));
  return { ifBad, ifGood, reference: -ifGood / (ifBad - ifGood) };
}

/** CRITICAL when the rate is at least three times the baseline and 25 points above it (and, once critical, for the rest of the alert). */
export const severityOf = (rate: number, p0: number): Severity => (rate >= Math.max(3 * p0, p0 + 0.25) ? 'CRITICAL' : 'WARNING');

function newDetector(t: TouchpointMinute, minute: number): TouchpointDetector {
  return {
    channel: t.channel, touchpoint: t.touchpoint, leg: t.leg, at: minute, visits: 0, bad: 0,
    hourVisits: new Array<number>(24).fill(0), hourBad: new Array<number>(24).fill(0),
    learned: 0, s: 0, onset: null, pending: [], alert: null,
  };
}

/** The bad rate over the newest minutes since the alert opened: at least `minutes` of them and `visits` visits, if there are. */
function trailing(recent: Counts[], minutes: number, visits: number): { minutes: number; events: number; bad: number } {
  let events = 0;
  let bad = 0;
  let n = 0;
  for (let i = recent.length - 1; i >= 0 && (n < minutes || events < visits); i--) {
    const c = recent[i] as Counts;
    events += c[1];
    bad += c[3];
    n++;
  }
  return { minutes: n, events, bad };
}

function change(d: TouchpointDetector, a: OpenAlert, status: AlertChange['status'], minute: number, current: number, p1: number): AlertChange {
  const end = minute + MINUTE_MS;
  const rate = (x: number) => `${(x * 100).toFixed(1)}%`;
  const summary =
    status === 'RESOLVED'
      ? `${d.channel} ${d.touchpoint}: bad rate back to ${rate(current)} (baseline ${rate(a.p0)}) after ${Math.round((end - a.startedAt) / MINUTE_MS)} min`
      : `${d.channel} ${d.touchpoint}: bad rate ${rate(current)} against a baseline of ${rate(a.p0)} since ${new Date(a.startedAt).toISOString().slice(11, 16)} UTC`;
  return {
    alertId: a.id, version: a.version, status, kind: 'TOUCHPOINT_DEGRADED', severity: a.severity,
    channel: d.channel, touchpoint: d.touchpoint, leg: d.leg,
    baseline: a.p0, current, threshold: p1, statistic: d.s,
    startedAt: a.startedAt, detectedAt: a.detectedAt, changedAt: end, resolvedAt: status === 'RESOLVED' ? end : null,
    minutes: Math.round((end - a.startedAt) / MINUTE_MS), events: a.events, experiences: a.experiences, bad: a.bad,
    summary,
  };
}

/**
 * Folds one closed minute, in increasing minute order, with every touchpoint that had
 * traffic in it. Emits one health row per touchpoint known so far and the alert changes.
 */
export function touchpointHealth(
  state: TouchpointHealthState,
  input: { minute: number; touchpoints: TouchpointMinute[] },
  p: HealthParams,
): { state: TouchpointHealthState; out: { rows: HealthRow[]; changes: AlertChange[] } } {
  const { minute } = input;
  const seen = new Map(input.touchpoints.map((t) => [keyOf(t.channel, t.touchpoint), t]));
  for (const [key, t] of seen) state.detectors[key] ??= newDetector(t, minute);
  const rows: HealthRow[] = [];
  const changes: AlertChange[] = [];

  for (const key of Object.keys(state.detectors).sort()) {
    const d = state.detectors[key] as TouchpointDetector;
    const t = seen.get(key);
    const counts: Counts = [minute, t?.events ?? 0, t?.experiences ?? 0, t?.bad ?? 0];
    const [, events, experiences, bad] = counts;
    decayTo(d, minute, p.baselineHalfLifeMs);
    const a = d.alert;

    if (a) {
      // Alerting: nothing is learned; the rate since it opened decides when it is over.
      a.events += events;
      a.experiences += experiences;
      a.bad += bad;
      if (events > 0) a.recent.push(counts);
      if (a.recent.length > MAX_RECENT_MINUTES) a.recent.shift();
      const p1 = alternativeOf(a.p0);
      const { reference } = cusumWeights(a.p0, p1);
      const window = trailing(a.recent, p.resolveMinutes, RESOLVE_MIN_VISITS);
      const current = window.events ? window.bad / window.events : 0;
      const openFor = (minute + MINUTE_MS - a.detectedAt) / MINUTE_MS;
      if (openFor >= p.resolveMinutes && window.minutes >= Math.min(p.resolveMinutes, a.recent.length) && window.events >= RESOLVE_MIN_VISITS && current <= reference) {
        a.version++;
        changes.push(change(d, a, 'RESOLVED', minute, current, p1));
        d.alert = null;
        d.s = 0;
        d.onset = null;
        d.companions = undefined;
      } else if (window.events > 0) {
        // Severity only rises within an alert: a rate hovering at the boundary does not flap it.
        const severity = a.severity === 'CRITICAL' ? 'CRITICAL' : severityOf(current, a.p0);
        if (severity !== a.severity || minute + MINUTE_MS - a.lastChangeAt >= p.updateMinutes * MINUTE_MS) {
          a.severity = severity;
          a.version++;
          a.lastChangeAt = minute + MINUTE_MS;
          changes.push(change(d, a, 'UPDATED', minute, current, p1));
        }
      }
      rows.push({ minute, channel: d.channel, touchpoint: d.touchpoint, leg: d.leg, events, experiences, bad, badRate: events ? bad / events : null, baseline: a.p0, reference, statistic: d.s, threshold: p.threshold, state: d.alert ? 'degraded' : 'ok', alertId: a.id });
      continue;
    }

    const p0 = baselineOf(d, minute);
    const p1 = alternativeOf(p0);
    const w = cusumWeights(p0, p1);
    const learning = d.learned < p.minHistory;
    const companions = p.companions ?? COMPANIONS;
    const others = (d.companions ??= companions.map(() => ({ s: 0, onset: null })));
    if (events > 0) {
      const before = d.s;
      d.s = Math.max(0, d.s + bad * w.ifBad + (events - bad) * w.ifGood);
      if (before === 0 && d.s > 0) d.onset = minute;
      companions.forEach((c, i) => {
        const o = others[i] ?? (others[i] = { s: 0, onset: null });
        const cw = cusumWeights(p0, c.alternative(p0));
        const was = o.s;
        o.s = Math.max(0, o.s + bad * cw.ifBad + (events - bad) * cw.ifGood);
        if (was === 0 && o.s > 0) o.onset = minute;
        if (o.s === 0) o.onset = null;
      });
    }
    const firing = d.s >= p.threshold ? { onset: d.onset } : others.find((o) => o.s >= p.threshold);
    if (!learning && firing) {
      // The rise from `onset` is the degradation: its minutes are evidence, not history.
      const rise = [...d.pending, counts];
      const sum = (i: 1 | 2 | 3) => rise.reduce((s, c) => s + c[i], 0);
      const startedAt = firing.onset ?? d.onset ?? minute;
      const opened: OpenAlert = {
        id: alertId('TOUCHPOINT_DEGRADED', `${d.channel}/${d.touchpoint}`, startedAt), version: 1, startedAt, detectedAt: minute + MINUTE_MS,
        severity: 'WARNING', lastChangeAt: minute + MINUTE_MS, p0, events: sum(1), experiences: sum(2), bad: sum(3), recent: events > 0 ? [counts] : [],
      };
      const window = trailing(rise, p.resolveMinutes, RESOLVE_MIN_VISITS);
      const current = window.events ? window.bad / window.events : 0;
      opened.severity = severityOf(current, p0);
      d.alert = opened;
      d.pending = [];
      changes.push(change(d, opened, 'OPENED', minute, current, p1));
    } else if (d.s === 0 && others.every((o) => o.s === 0)) {
      // Calm: this minute and any rise that came to nothing are history.
      for (const c of d.pending) learn(d, c, p.baselineHalfLifeMs);
      d.pending = [];
      if (events > 0) learn(d, counts, p.baselineHalfLifeMs);
      d.onset = null;
    } else {
      if (events > 0) d.pending.push(counts);
      while (d.pending.length && (d.pending[0] as Counts)[0] <= minute - MAX_PENDING_MINUTES * MINUTE_MS) learn(d, d.pending.shift() as Counts, p.baselineHalfLifeMs);
    }
    rows.push({
      minute, channel: d.channel, touchpoint: d.touchpoint, leg: d.leg, events, experiences, bad, badRate: events ? bad / events : null,
      baseline: p0, reference: w.reference, statistic: d.s, threshold: p.threshold, state: d.alert ? 'degraded' : learning ? 'learning' : 'ok', alertId: d.alert?.id ?? null,
    });
  }
  return { state, out: { rows, changes } };
}
