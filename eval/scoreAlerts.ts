/**
 * Scores alerts against a scenario's ground truth (producers/simulator: groundTruth):
 * which incidents were detected, how long after they began (event-time minutes), and
 * which alerts matched no incident (false alarms).
 */
import type { groundTruth } from '../producers/simulator/simulate.ts';
import { MINUTE_MS } from '../processors/params.ts';

export type GroundTruth = ReturnType<typeof groundTruth>;

/** The opening of an alert, as scored. */
export interface OpenedAlert {
  kind: 'TOUCHPOINT_DEGRADED' | 'LEG_BELOW_THRESHOLD' | string;
  channel: string | null;
  touchpoint: string | null;
  leg: string;
  detectedAt: number;
  startedAt: number;
}

/** An alert opened this long after an incident ended still belongs to it. */
export const GRACE_MS = 15 * MINUTE_MS;

export interface IncidentScore {
  id: string;
  kind: string;
  subject: string;
  start: number;
  end: number;
  detected: boolean;
  /** Event-time minutes from the incident's start to the first alert's detection. */
  delayMinutes: number | null;
  alerts: number;
}

export interface ScenarioScore {
  scenario: string;
  incidents: IncidentScore[];
  falseAlarms: OpenedAlert[];
  /** Touchpoints with traffic times the scenario's days. */
  touchpointDays: number;
  falseAlarmsPer100TouchpointDays: number;
}

function matches(a: OpenedAlert, i: GroundTruth['incidents'][number], start: number, end: number): boolean {
  if (a.detectedAt < start || a.detectedAt > end + GRACE_MS) return false;
  if (a.kind === 'LEG_BELOW_THRESHOLD') return i.kind === 'leg' && i.leg === a.leg;
  return i.touchpoints.some((t) => t.channel === a.channel && t.touchpoint === a.touchpoint);
}

export function scoreAlerts(truth: GroundTruth, opened: OpenedAlert[], touchpointsWithTraffic: number): ScenarioScore {
  const used = new Set<OpenedAlert>();
  const incidents = truth.incidents.map((i) => {
    const start = Date.parse(i.start);
    const end = Date.parse(i.end);
    const hits = opened.filter((a) => matches(a, i, start, end)).sort((a, b) => a.detectedAt - b.detectedAt);
    for (const a of hits) used.add(a);
    const first = hits[0];
    return {
      id: i.id, kind: i.kind, subject: 'channel' in i ? String(i.channel) : 'leg' in i ? String(i.leg) : String(i.touchpoint), start, end,
      detected: first !== undefined, delayMinutes: first ? (first.detectedAt - start) / MINUTE_MS : null, alerts: hits.length,
    };
  });
  const falseAlarms = opened.filter((a) => !used.has(a) && a.kind === 'TOUCHPOINT_DEGRADED');
  const days = (Date.parse(truth.end) - Date.parse(truth.start)) / 86_400_000;
  const touchpointDays = touchpointsWithTraffic * days;
  return { scenario: truth.scenario, incidents, falseAlarms, touchpointDays, falseAlarmsPer100TouchpointDays: touchpointDays ? (100 * falseAlarms.length) / touchpointDays : 0 };
}

export const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
