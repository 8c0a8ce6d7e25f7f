/**
 * The leg alert (docs/alerts.md, "The leg alert"): the stool no longer stands because
 * a leg's score is credibly below E, not merely below it in one thin window.
 *
 * The question is the stool's own: is the leg's mean experience value below E? (Not
 * "below its own usual level": a touchpoint that drops is the touchpoint detector's
 * job, and a leg that sits at 0.8 and falls to 0.7 still holds the stool up.)
 *
 * The evidence is a CUSUM over the leg's experiences, minute by minute, of the
 * log-likelihood ratio of "the leg's mean is E - δ" against "it is E" (normal
 * approximation, the leg's own learned variance σ²):
 *
 *   S = max(0, S + (δ/σ²)·(n·(E - δ/2) - Σx))     per minute, over its n experiences
 *
 * with δ = 0.1, the shortfall that makes the alert CRITICAL. A leg at E - δ/2 has no
 * drift; above it S sinks back to 0, below it S climbs at a pace set by how many
 * experiences there are. The alert opens when S reaches h (`CX_ALERT_LEG_THRESHOLD`,
 * 10) and the rise holds at least LEG_MIN_EXPERIENCES experiences. That is the whole
 * persistence rule: a thin night window below E adds little, a busy minute far below E
 * adds a lot, and with h = 10 a leg at its reference value (no drift) needs a run of
 * evidence that a stationary leg above E - δ/2 produces about once in e^10 excursions.
 * The alert is dated from the minute S last left 0.
 *
 * It resolves once the live window's score has been at or above E for
 * `resolveMinutes` windows in a row (each with at least LEG_MIN_EXPERIENCES
 * experiences). σ² is learned, with exponential decay, from minutes when no alert is
 * open, and starts from a prior of 0.16 (a standard deviation of 0.4) worth 200
 * experiences.
 */
import { MINUTE_MS } from '../params.ts';
import { alertId, type AlertChange, type OpenAlertBase, type Severity } from './alertLifecycle.ts';

/** A rise with fewer experiences does not open an alert, and windows with fewer neither resolve one. */
export const LEG_MIN_EXPERIENCES = 30;
/** δ: the shortfall below E the CUSUM tests for (and the one that makes an alert CRITICAL). */
export const LEG_SHORTFALL = 0.1;
const PRIOR_VARIANCE = 0.16;
const PRIOR_EXPERIENCES = 200;
const MIN_VARIANCE = 0.01;

export interface LegAlertParams {
  stoolThreshold: number;
  /** h: the leg CUSUM's alarm threshold (a log-likelihood ratio). */
  threshold: number;
  /** Half-life of the history the leg's variance is learned from. */
  halfLifeMs: number;
  resolveMinutes: number;
  updateMinutes: number;
}

export interface LegMinute {
  leg: string;
  /** The leg's score and experiences over the window ending with this minute (null: no experience in it). */
  score: number | null;
  windowExperiences: number;
  /** This minute's own counts: the evidence. */
  events: number;
  experiences: number;
  bad: number;
  /** Σx and Σx² over this minute's experiences. */
  sumX: number;
  sumX2: number;
}

interface OpenLegAlert extends OpenAlertBase {
  /** Windows in a row at or above E. */
  recovered: number;
}

interface LegDetector {
  s: number;
  /** First minute of the current rise of S (null while S is 0). */
  onset: number | null;
  /** Evidence of the current rise. */
  rise: { events: number; experiences: number; bad: number };
  /** Decayed sums the variance is learned from, as of `at`. */
  n: number;
  sx: number;
  sx2: number;
  at: number;
}

export interface LegAlertState {
  open: Record<string, OpenLegAlert>;
  detectors?: Record<string, LegDetector>;
}

export const emptyLegAlerts = (): LegAlertState => ({ open: {}, detectors: {} });

/** CRITICAL when the leg is more than δ below E. */
export const legSeverityOf = (score: number, e: number): Severity => (score < e - LEG_SHORTFALL ? 'CRITICAL' : 'WARNING');

/** σ² of one experience's x: the learned variance shrunk towards the prior. */
export function legVarianceOf(d: Pick<LegDetector, 'n' | 'sx' | 'sx2'>): number {
  const v = d.n > 0 ? Math.max(0, d.sx2 / d.n - (d.sx / d.n) ** 2) : 0;
  return Math.max(MIN_VARIANCE, (v * d.n + PRIOR_VARIANCE * PRIOR_EXPERIENCES) / (d.n + PRIOR_EXPERIENCES));
}

/** The CUSUM's step for one minute's n experiences with sum Σx. */
export const legStep = (n: number, sumX: number, e: number, variance: number): number => (LEG_SHORTFALL / variance) * (n * (e - LEG_SHORTFALL / 2) - sumX);

function change(leg: string, a: OpenLegAlert, status: AlertChange['status'], minute: number, score: number, e: number, s: number): AlertChange {
  const end = minute + MINUTE_MS;
  const minutes = Math.round((end - a.startedAt) / MINUTE_MS);
  return {
    alertId: a.id, version: a.version, status, kind: 'LEG_BELOW_THRESHOLD', severity: a.severity,
    channel: null, touchpoint: null, leg, baseline: e, current: score, threshold: e, statistic: s,
    startedAt: a.startedAt, detectedAt: a.detectedAt, changedAt: end, resolvedAt: status === 'RESOLVED' ? end : null,
    minutes, events: a.events, experiences: a.experiences, bad: a.bad,
    summary: status === 'RESOLVED'
      ? `${leg} leg back to ${score.toFixed(2)} (E = ${e}) after ${minutes} min: the stool stands on it again`
      : `${leg} leg score ${score.toFixed(2)} is credibly below E = ${e} since ${new Date(a.startedAt).toISOString().slice(11, 16)} UTC: the stool does not stand`,
  };
}

const newDetector = (minute: number): LegDetector => ({ s: 0, onset: null, rise: { events: 0, experiences: 0, bad: 0 }, n: 0, sx: 0, sx2: 0, at: minute });

/** Folds one closed minute (increasing order) with every leg's minute and window. */
export function legAlert(state: LegAlertState, input: { minute: number; legs: LegMinute[] }, p: LegAlertParams): { state: LegAlertState; out: AlertChange[] } {
  const out: AlertChange[] = [];
  const e = p.stoolThreshold;
  const detectors = (state.detectors ??= {});
  for (const l of [...input.legs].sort((a, b) => (a.leg < b.leg ? -1 : 1))) {
    const d = (detectors[l.leg] ??= newDetector(input.minute));
    const a = state.open[l.leg];
    const windowScore = l.score !== null && l.windowExperiences >= LEG_MIN_EXPERIENCES ? l.score : null;
    if (a) {
      a.events += l.events;
      a.experiences += l.experiences;
      a.bad += l.bad;
      if (windowScore === null) continue;
      a.recovered = windowScore >= e ? a.recovered + 1 : 0;
      if (a.recovered >= p.resolveMinutes) {
        a.version++;
        out.push(change(l.leg, a, 'RESOLVED', input.minute, windowScore, e, d.s));
        delete state.open[l.leg];
        d.s = 0;
        d.onset = null;
        d.rise = { events: 0, experiences: 0, bad: 0 };
        continue;
      }
      // Severity only rises within an alert.
      const severity = a.severity === 'CRITICAL' || windowScore >= e ? a.severity : legSeverityOf(windowScore, e);
      if (severity !== a.severity || input.minute + MINUTE_MS - a.lastChangeAt >= p.updateMinutes * MINUTE_MS) {
        a.severity = severity;
        a.version++;
        a.lastChangeAt = input.minute + MINUTE_MS;
        out.push(change(l.leg, a, 'UPDATED', input.minute, windowScore, e, d.s));
      }
      continue;
    }

    const variance = legVarianceOf(d);
    if (l.experiences > 0) {
      const f = 2 ** (-(input.minute - d.at) / p.halfLifeMs);
      d.n = d.n * f + l.experiences;
      d.sx = d.sx * f + l.sumX;
      d.sx2 = d.sx2 * f + l.sumX2;
      d.at = input.minute;
      const before = d.s;
      d.s = Math.max(0, d.s + legStep(l.experiences, l.sumX, e, variance));
      if (d.s === 0) {
        d.onset = null;
        d.rise = { events: 0, experiences: 0, bad: 0 };
      } else {
        if (before === 0) d.onset = input.minute;
        d.rise.events += l.events;
        d.rise.experiences += l.experiences;
        d.rise.bad += l.bad;
      }
    }
    if (d.s < p.threshold || d.rise.experiences < LEG_MIN_EXPERIENCES) continue;
    const startedAt = d.onset ?? input.minute;
    const current = windowScore ?? (l.experiences > 0 ? l.sumX / l.experiences : e);
    const opened: OpenLegAlert = {
      id: alertId('LEG_BELOW_THRESHOLD', l.leg, startedAt), version: 1, startedAt, detectedAt: input.minute + MINUTE_MS,
      severity: legSeverityOf(current, e), lastChangeAt: input.minute + MINUTE_MS, recovered: 0, ...d.rise,
    };
    state.open[l.leg] = opened;
    out.push(change(l.leg, opened, 'OPENED', input.minute, current, e, d.s));
  }
  return { state, out };
}
