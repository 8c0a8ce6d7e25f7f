/**
 * Scores alerts against a scenario's ground truth (producers/simulator: groundTruth):
 * which incidents were detected, how long after they began (event-time minutes), and
 * which alerts matched no incident (false alarms), counted by what they are about:
 * a touchpoint, a leg or a whole channel.
 */
import type { groundTruth } from '../producers/simulator/simulate.ts';
import { MINUTE_MS } from '../processors/params.ts';

export type GroundTruth = ReturnType<typeof groundTruth>;
type Incident = GroundTruth['incidents'][number];

/** The opening of an alert, as scored. */
export interface OpenedAlert {
  kind: 'TOUCHPOINT_DEGRADED' | 'LEG_BELOW_THRESHOLD' | 'TRAFFIC_DROP' | string;
  channel: string | null;
  touchpoint: string | null;
  leg: string;
  detectedAt: number;
  startedAt: number;
}

/** An alert opened this long after an incident ended still belongs to it. */
export const GRACE_MS = 15 * MINUTE_MS;

/** What an alert is about: a false alarm is counted per 100 days of its kind of subject. */
export type Subject = 'touchpoint' | 'leg' | 'channel';
export const subjectOf = (a: Pick<OpenedAlert, 'kind' | 'touchpoint'>): Subject =>
  a.kind === 'LEG_BELOW_THRESHOLD' ? 'leg' : a.kind === 'TRAFFIC_DROP' && a.touchpoint === null ? 'channel' : 'touchpoint';

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

/** How many of each subject had traffic: the denominators of the false-alarm rates. */
export interface Exposure {
  touchpoints: number;
  legs: number;
  channels: number;
}

export interface ScenarioScore {
  scenario: string;
  seed: number;
  incidents: IncidentScore[];
  falseAlarms: OpenedAlert[];
  /** Subjects with traffic times the scenario's days. */
  days: Record<Subject, number>;
  /** False alarms per 100 subject-days, by subject. */
  falseAlarmRate: Record<Subject, number>;
}

/** Whether alert `a` is one an incident `i` running from `start` to `end` explains. */
export function explains(a: OpenedAlert, i: Incident, start: number, end: number): boolean {
  if (a.detectedAt < start || a.detectedAt > end + GRACE_MS) return false;
  // A leg falls when a touchpoint of it does: any incident on the leg's touchpoints explains a leg alert (only a leg incident is detected by one).
  if (a.kind === 'LEG_BELOW_THRESHOLD') return i.kind !== 'silence' && i.touchpoints.some((t) => t.leg === a.leg);
  if (a.kind === 'TRAFFIC_DROP') {
    // A channel's silence explains its touchpoints' traffic alerts; a touchpoint's, only its own.
    if (i.kind !== 'silence') return false;
    if (a.touchpoint === null) return 'channel' in i && i.channel === a.channel;
    return i.touchpoints.some((t) => t.channel === a.channel && t.touchpoint === a.touchpoint);
  }
  // The events of a silence are lost, not bad: a degradation there is not explained by it.
  return i.kind !== 'silence' && i.touchpoints.some((t) => t.channel === a.channel && t.touchpoint === a.touchpoint);
}

/** Which alert kinds count as detecting an incident of this kind. */
const DETECTS: Record<string, string[]> = {
  step: ['TOUCHPOINT_DEGRADED'],
  drift: ['TOUCHPOINT_DEGRADED'],
  outage: ['TOUCHPOINT_DEGRADED'],
  silence: ['TRAFFIC_DROP'],
  leg: ['LEG_BELOW_THRESHOLD'],
};

export function scoreAlerts(truth: GroundTruth, opened: OpenedAlert[], exposure: Exposure): ScenarioScore {
  const used = new Set<OpenedAlert>();
  const incidents = truth.incidents.map((i): IncidentScore => {
    const start = Date.parse(i.start);
    const end = Date.parse(i.end);
    const hits = opened.filter((a) => explains(a, i, start, end)).sort((a, b) => a.detectedAt - b.detectedAt);
    for (const a of hits) used.add(a);
    const first = hits.find((a) => (DETECTS[i.kind] ?? []).includes(a.kind));
    return {
      id: i.id, kind: i.kind, subject: 'leg' in i ? String(i.leg) : 'channel' in i ? String(i.channel) : String(i.touchpoint), start, end,
      detected: first !== undefined, delayMinutes: first ? (first.detectedAt - start) / MINUTE_MS : null, alerts: hits.length,
    };
  });
  const falseAlarms = opened.filter((a) => !used.has(a));
  const span = (Date.parse(truth.end) - Date.parse(truth.start)) / 86_400_000;
  const days: Record<Subject, number> = { touchpoint: exposure.touchpoints * span, leg: exposure.legs * span, channel: exposure.channels * span };
  const rate = (s: Subject) => (days[s] ? (100 * falseAlarms.filter((a) => subjectOf(a) === s).length) / days[s] : 0);
  return { scenario: truth.scenario, seed: truth.seed, incidents, falseAlarms, days, falseAlarmRate: { touchpoint: rate('touchpoint'), leg: rate('leg'), channel: rate('channel') } };
}

export interface KindSummary {
  kind: string;
  incidents: number;
  detected: number;
  missed: number;
  medianDelay: number | null;
  maxDelay: number | null;
}

/** Per incident kind, over any number of scenario scores: detections, misses and delays. */
export function byKind(scores: ScenarioScore[]): KindSummary[] {
  const kinds = [...new Set(scores.flatMap((s) => s.incidents.map((i) => i.kind)))].sort();
  return kinds.map((kind) => {
    const all = scores.flatMap((s) => s.incidents.filter((i) => i.kind === kind));
    const delays = all.flatMap((i) => (i.delayMinutes === null ? [] : [i.delayMinutes]));
    return { kind, incidents: all.length, detected: delays.length, missed: all.length - delays.length, medianDelay: median(delays), maxDelay: delays.length ? Math.max(...delays) : null };
  });
}

/** False alarms per 100 subject-days, pooled over scenario scores (alarms summed over days summed). */
export function pooledFalseAlarms(scores: ScenarioScore[]): Record<Subject, { alarms: number; days: number; per100: number }> {
  const out = {} as Record<Subject, { alarms: number; days: number; per100: number }>;
  for (const s of ['touchpoint', 'leg', 'channel'] as Subject[]) {
    const alarms = scores.reduce((n, x) => n + x.falseAlarms.filter((a) => subjectOf(a) === s).length, 0);
    const days = scores.reduce((n, x) => n + x.days[s], 0);
    out[s] = { alarms, days, per100: days ? (100 * alarms) / days : 0 };
  }
  return out;
}

export const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
