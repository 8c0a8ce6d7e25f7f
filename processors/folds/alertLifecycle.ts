/**
 * What an alert's lifecycle looks like to the rest of the pipeline: one change per
 * open, update or resolve, with an id that is the same for the alert's whole life.
 * The id is derived from what the alert is about and when it started, so replaying
 * the same minutes yields the same ids and versions: a crash or a replay cannot make
 * a second alert out of one.
 */
import { createHash } from 'node:crypto';
import type { AlertEvent, AlertKind, AlertSeverity, AlertStatus } from '../../schemas/contracts.ts';

export type Severity = AlertSeverity;

export interface AlertChange {
  alertId: string;
  /** 1 when opened, then +1 per change. */
  version: number;
  status: AlertStatus;
  kind: AlertKind;
  severity: Severity;
  channel: string | null;
  touchpoint: string | null;
  leg: string;
  baseline: number;
  current: number;
  threshold: number;
  statistic: number;
  startedAt: number;
  detectedAt: number;
  changedAt: number;
  resolvedAt: number | null;
  minutes: number;
  events: number;
  experiences: number;
  bad: number;
  summary: string;
}

/** What every open alert carries between changes, whatever it is about. */
export interface OpenAlertBase {
  id: string;
  version: number;
  startedAt: number;
  detectedAt: number;
  severity: Severity;
  /** Event time of the last change published (for the periodic update). */
  lastChangeAt: number;
  /** Evidence since startedAt. */
  events: number;
  experiences: number;
  bad: number;
}

/** A name-based UUID (SHA-256, version 8 layout) of the alert's subject and start. */
export function alertId(kind: AlertKind, subject: string, startedAt: number): string {
  const h = createHash('sha256').update(`${kind}\u0000${subject}\u0000${startedAt}`).digest('hex');
  const variant = ((parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The order changes are published in: by time of change, then id, then version. */
export function changeOrder(a: Pick<AlertChange, 'changedAt' | 'alertId' | 'version'>, b: Pick<AlertChange, 'changedAt' | 'alertId' | 'version'>): number {
  return a.changedAt - b.changedAt || (a.alertId < b.alertId ? -1 : a.alertId > b.alertId ? 1 : 0) || a.version - b.version;
}

export function alertEventOf(c: AlertChange): AlertEvent {
  return {
    alert_id: c.alertId, version: c.version, status: c.status, kind: c.kind, severity: c.severity,
    channel: c.channel, touchpoint: c.touchpoint, leg: c.leg,
    baseline: c.baseline, current: c.current, threshold: c.threshold, statistic: c.statistic,
    started_at: c.startedAt, detected_at: c.detectedAt, changed_at: c.changedAt, resolved_at: c.resolvedAt,
    evidence: { minutes: c.minutes, events: c.events, experiences: c.experiences, bad: c.bad },
    summary: c.summary,
  };
}
