/**
 * The leg alert: the stool no longer stands because a leg's score, over the live
 * sliding window, fell below E (docs/alerts.md, "The leg alert"). It opens on the
 * first window below E with enough experiences to mean something, and resolves once
 * the leg has been at or above E for `resolveMinutes` windows in a row.
 */
import { MINUTE_MS } from '../params.ts';
import { alertId, type AlertChange, type OpenAlertBase, type Severity } from './alertLifecycle.ts';

/** Windows with fewer experiences in a leg neither open nor resolve its alert. */
export const LEG_MIN_EXPERIENCES = 30;

export interface LegAlertParams {
  stoolThreshold: number;
  resolveMinutes: number;
  updateMinutes: number;
}

export interface LegMinute {
  leg: string;
  /** The leg's score and experiences over the window ending with this minute (null: no experience in it). */
  score: number | null;
  windowExperiences: number;
  /** This minute's own counts, for the evidence. */
  events: number;
  experiences: number;
  bad: number;
}

interface OpenLegAlert extends OpenAlertBase {
  /** Windows in a row at or above E. */
  recovered: number;
}

export interface LegAlertState {
  open: Record<string, OpenLegAlert>;
}

export const emptyLegAlerts = (): LegAlertState => ({ open: {} });

/** CRITICAL when the leg is more than 0.1 below E. */
export const legSeverityOf = (score: number, e: number): Severity => (score < e - 0.1 ? 'CRITICAL' : 'WARNING');

function change(leg: string, a: OpenLegAlert, status: AlertChange['status'], minute: number, score: number, e: number): AlertChange {
  const end = minute + MINUTE_MS;
  const minutes = Math.round((end - a.startedAt) / MINUTE_MS);
  return {
    alertId: a.id, version: a.version, status, kind: 'LEG_BELOW_THRESHOLD', severity: a.severity,
    channel: null, touchpoint: null, leg, baseline: e, current: score, threshold: e, statistic: e - score,
    startedAt: a.startedAt, detectedAt: a.detectedAt, changedAt: end, resolvedAt: status === 'RESOLVED' ? end : null,
    minutes, events: a.events, experiences: a.experiences, bad: a.bad,
    summary: status === 'RESOLVED'
      ? `${leg} leg back to ${score.toFixed(2)} (E = ${e}) after ${minutes} min: the stool stands on it again`
      : `${leg} leg score ${score.toFixed(2)} is below E = ${e}: the stool does not stand`,
  };
}

/** Folds one closed minute (increasing order) with every leg's window score. */
export function legAlert(state: LegAlertState, input: { minute: number; legs: LegMinute[] }, p: LegAlertParams): { state: LegAlertState; out: AlertChange[] } {
  const out: AlertChange[] = [];
  const e = p.stoolThreshold;
  for (const l of [...input.legs].sort((a, b) => (a.leg < b.leg ? -1 : 1))) {
    const a = state.open[l.leg];
    const meaningful = l.score !== null && l.windowExperiences >= LEG_MIN_EXPERIENCES;
    if (a) {
      a.events += l.events;
      a.experiences += l.experiences;
      a.bad += l.bad;
    }
    if (!meaningful) continue;
    const score = l.score as number;
    if (!a) {
      if (score >= e) continue;
      const opened: OpenLegAlert = {
        id: alertId('LEG_BELOW_THRESHOLD', l.leg, input.minute), version: 1, startedAt: input.minute, detectedAt: input.minute + MINUTE_MS,
        severity: legSeverityOf(score, e), lastChangeAt: input.minute + MINUTE_MS, recovered: 0, events: l.events, experiences: l.experiences, bad: l.bad,
      };
      state.open[l.leg] = opened;
      out.push(change(l.leg, opened, 'OPENED', input.minute, score, e));
      continue;
    }
    a.recovered = score >= e ? a.recovered + 1 : 0;
    if (a.recovered >= p.resolveMinutes) {
      a.version++;
      out.push(change(l.leg, a, 'RESOLVED', input.minute, score, e));
      delete state.open[l.leg];
      continue;
    }
    // Severity only rises within an alert.
    const severity = a.severity === 'CRITICAL' || score >= e ? a.severity : legSeverityOf(score, e);
    if (severity !== a.severity || input.minute + MINUTE_MS - a.lastChangeAt >= p.updateMinutes * MINUTE_MS) {
      a.severity = severity;
      a.version++;
      a.lastChangeAt = input.minute + MINUTE_MS;
      out.push(change(l.leg, a, 'UPDATED', input.minute, score, e));
    }
  }
  return { state, out };
}
