/**
 * Silence and traffic drops (docs/alerts.md, "Silence and traffic drops"): per
 * (channel, touchpoint) and per channel, the visits expected in a minute from the
 * subject's learned daily rhythm, against the visits that arrived, watched by a
 * Poisson CUSUM for a drop to a quarter or less.
 *
 * - Expected visits λ0 for a minute: decayed visits per minute learned per hour of
 *   day, read between the two nearest hours' centres (so a ramp within an hour is
 *   followed), as a lower bound (two standard errors below the estimate: the detector
 *   is slow, not wrong, while history is short). An hour needs TRAFFIC_MIN_MINUTES of
 *   (decayed) history; until both hours have it, the subject's recent level (an
 *   exponentially weighted rate, half-life 10 min) stands in; until that has RECENT_MIN_MINUTES,
 *   the subject is learning and cannot alert.
 * - CUSUM of "the rate is ρ·λ0" (ρ = 0.25) against "it is λ0", for x visits:
 *   S = max(0, S + λ0·(1 - ρ) + x·ln ρ). A silent minute adds 0.75·λ0; a minute at
 *   54% of λ0 or more subtracts. An alert opens when S reaches h
 *   (`CX_ALERT_TRAFFIC_THRESHOLD`), so it takes h / 0.75 expected visits missing: a
 *   busy channel is caught in its first silent minute, a quiet night touchpoint only
 *   after a long silence that its night rate makes implausible.
 * - Only calm minutes are learned, as for the touchpoint detector: the minutes of a
 *   rise that ends in an alert, and every minute of an open alert, are not history.
 * - A touchpoint whose channel has an open traffic alert does not alert itself (the
 *   channel's alert says it), and its rise is dropped.
 * - It resolves when, over the last `resolveMinutes` minutes (at least), the visits
 *   are back to the CUSUM's reference share of those expected, (1 - ρ) / -ln ρ = 54%.
 */
import { MINUTE_MS } from '../params.ts';
import { alertId, type AlertChange, type OpenAlertBase, type Severity } from './alertLifecycle.ts';

export interface TrafficParams {
  /** h: the Poisson CUSUM's alarm threshold. */
  threshold: number;
  halfLifeMs: number;
  resolveMinutes: number;
  updateMinutes: number;
}

/** One (channel, touchpoint)'s visits in one minute. */
export interface TrafficMinute {
  channel: string;
  touchpoint: string;
  leg: string;
  events: number;
}

/** The drop the CUSUM is tuned for: to this share of the expected rate. */
export const TRAFFIC_DROP_RATIO = 0.25;
const LN_RATIO = Math.log(TRAFFIC_DROP_RATIO);
/** The share of the expected visits at which S neither grows nor shrinks (about 54%). */
export const TRAFFIC_REFERENCE = (1 - TRAFFIC_DROP_RATIO) / -LN_RATIO;
/** Decayed minutes of history an hour of day (or the recent level) needs to be trusted. */
export const TRAFFIC_MIN_MINUTES = 20;
const RECENT_HALF_LIFE_MINUTES = 10;
/** Decayed minutes the recent level needs (it holds about 15 at most). */
const RECENT_MIN_MINUTES = 10;
const UNCERTAINTY_Z = 2;
const MAX_PENDING_MINUTES = 360;
const MAX_RECENT_MINUTES = 240;
/** Visits expected over the resolve window, at least, before it can resolve. */
const RESOLVE_MIN_EXPECTED = 5;
/** CRITICAL when the visits since the onset are at most this share of those expected. */
const CRITICAL_SHARE = 0.1;

type Counts = [minute: number, events: number];

interface OpenTraffic extends OpenAlertBase {
  /** The expected rate when it opened: stands in for minutes with no learned rhythm. */
  lambda0: number;
  expected: number;
  /** Minutes since the onset: visits and expected visits (newest last). */
  recent: [minute: number, events: number, expected: number][];
}

export interface TrafficDetector {
  channel: string;
  /** null: the whole channel. */
  touchpoint: string | null;
  leg: string;
  at: number;
  hourEvents: number[];
  hourMinutes: number[];
  recentEvents: number;
  recentMinutes: number;
  s: number;
  onset: number | null;
  pending: Counts[];
  alert: OpenTraffic | null;
}

export interface TrafficState {
  detectors: Record<string, TrafficDetector>;
}

export const emptyTraffic = (): TrafficState => ({ detectors: {} });

const minuteOfDay = (m: number) => (((m % 86_400_000) + 86_400_000) % 86_400_000) / MINUTE_MS;

function learn(d: TrafficDetector, [minute, events]: Counts, halfLifeMs: number): void {
  const gap = Math.max(0, minute - d.at);
  const f = 2 ** (-gap / halfLifeMs);
  for (let h = 0; h < 24; h++) {
    d.hourEvents[h] = (d.hourEvents[h] as number) * f;
    d.hourMinutes[h] = (d.hourMinutes[h] as number) * f;
  }
  const h = Math.floor(minuteOfDay(minute) / 60);
  d.hourEvents[h] = (d.hourEvents[h] as number) + events;
  d.hourMinutes[h] = (d.hourMinutes[h] as number) + 1;
  const g = 2 ** (-gap / MINUTE_MS / RECENT_HALF_LIFE_MINUTES);
  d.recentEvents = d.recentEvents * g + events;
  d.recentMinutes = d.recentMinutes * g + 1;
  d.at = minute;
}

/**
 * The visits expected in `minute`, as a lower bound, and whether there is enough
 * history to say (null: learning).
 */
export function expectedVisits(d: TrafficDetector, minute: number, halfLifeMs: number): number | null {
  const fade = 2 ** (-Math.max(0, minute - d.at) / halfLifeMs);
  const pos = minuteOfDay(minute) / 60 - 0.5;
  const b0 = (Math.floor(pos) + 24) % 24;
  const b1 = (b0 + 1) % 24;
  const w = pos - Math.floor(pos);
  const m0 = (d.hourMinutes[b0] as number) * fade;
  const m1 = (d.hourMinutes[b1] as number) * fade;
  let rate: number;
  let weight: number;
  if (m0 >= TRAFFIC_MIN_MINUTES && m1 >= TRAFFIC_MIN_MINUTES) {
    rate = (1 - w) * ((d.hourEvents[b0] as number) / (d.hourMinutes[b0] as number)) + w * ((d.hourEvents[b1] as number) / (d.hourMinutes[b1] as number));
    weight = Math.min(m0, m1);
  } else {
    // The level as last learned: a rise's minutes are not learned, so it is the level before the drop.
    weight = d.recentMinutes;
    if (weight < RECENT_MIN_MINUTES) return null;
    rate = d.recentEvents / d.recentMinutes;
  }
  return Math.max(0, rate - UNCERTAINTY_Z * Math.sqrt(rate / weight));
}

/** The CUSUM's step for a minute with x visits where λ0 were expected. */
export const trafficStep = (lambda0: number, x: number): number => lambda0 * (1 - TRAFFIC_DROP_RATIO) + x * LN_RATIO;

const subjectOf = (d: Pick<TrafficDetector, 'channel' | 'touchpoint'>) => (d.touchpoint === null ? d.channel : `${d.channel}/${d.touchpoint}`);

function change(d: TrafficDetector, a: OpenTraffic, status: AlertChange['status'], minute: number, current: number, lambda0: number): AlertChange {
  const end = minute + MINUTE_MS;
  const minutes = Math.round((end - a.startedAt) / MINUTE_MS);
  const who = d.touchpoint === null ? `${d.channel} (whole channel)` : `${d.channel} ${d.touchpoint}`;
  const perMin = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)}/min`;
  return {
    alertId: a.id, version: a.version, status, kind: 'TRAFFIC_DROP', severity: a.severity,
    channel: d.channel, touchpoint: d.touchpoint, leg: d.leg,
    baseline: lambda0, current, threshold: TRAFFIC_DROP_RATIO * lambda0, statistic: d.s,
    startedAt: a.startedAt, detectedAt: a.detectedAt, changedAt: end, resolvedAt: status === 'RESOLVED' ? end : null,
    minutes, events: a.events, experiences: 0, bad: 0,
    summary: status === 'RESOLVED'
      ? `${who}: traffic back to ${perMin(current)} (about ${perMin(lambda0)} expected) after ${minutes} min`
      : `${who}: ${a.events} visits since ${new Date(a.startedAt).toISOString().slice(11, 16)} UTC where about ${Math.round(a.expected)} were expected (${perMin(current)} against ${perMin(lambda0)})`,
  };
}

function newDetector(channel: string, touchpoint: string | null, leg: string, minute: number): TrafficDetector {
  return {
    channel, touchpoint, leg, at: minute, hourEvents: new Array<number>(24).fill(0), hourMinutes: new Array<number>(24).fill(0),
    recentEvents: 0, recentMinutes: 0, s: 0, onset: null, pending: [], alert: null,
  };
}

/** The visits and expected visits over the newest `minutes` minutes at least. */
function trailing(recent: OpenTraffic['recent'], minutes: number): { minutes: number; events: number; expected: number } {
  let events = 0;
  let expected = 0;
  let n = 0;
  for (let i = recent.length - 1; i >= 0 && n < minutes; i--) {
    const c = recent[i] as OpenTraffic['recent'][number];
    events += c[1];
    expected += c[2];
    n++;
  }
  return { minutes: n, events, expected };
}

const severityOf = (events: number, expected: number): Severity => (events <= CRITICAL_SHARE * expected ? 'CRITICAL' : 'WARNING');

/** One subject's minute; `suppressed`: its channel has an open traffic alert. */
function step(d: TrafficDetector, minute: number, events: number, suppressed: boolean, p: TrafficParams): AlertChange[] {
  const counts: Counts = [minute, events];
  const a = d.alert;
  if (a) {
    const lambda0 = expectedVisits(d, minute, p.halfLifeMs) ?? a.lambda0;
    a.events += events;
    a.expected += lambda0;
    a.recent.push([minute, events, lambda0]);
    if (a.recent.length > MAX_RECENT_MINUTES) a.recent.shift();
    const w = trailing(a.recent, p.resolveMinutes);
    const current = w.events / Math.max(1, w.minutes);
    const openFor = (minute + MINUTE_MS - a.detectedAt) / MINUTE_MS;
    if (openFor >= p.resolveMinutes && w.minutes >= p.resolveMinutes && w.expected >= RESOLVE_MIN_EXPECTED && w.events >= TRAFFIC_REFERENCE * w.expected) {
      a.version++;
      const out = change(d, a, 'RESOLVED', minute, current, lambda0);
      d.alert = null;
      d.s = 0;
      d.onset = null;
      return [out];
    }
    const severity = a.severity === 'CRITICAL' ? 'CRITICAL' : severityOf(a.events, a.expected);
    if (severity !== a.severity || minute + MINUTE_MS - a.lastChangeAt >= p.updateMinutes * MINUTE_MS) {
      a.severity = severity;
      a.version++;
      a.lastChangeAt = minute + MINUTE_MS;
      return [change(d, a, 'UPDATED', minute, current, lambda0)];
    }
    return [];
  }
  if (suppressed) {
    // The channel's alert covers it: its silent minutes are neither evidence nor history.
    d.s = 0;
    d.onset = null;
    d.pending = [];
    return [];
  }
  const lambda0 = expectedVisits(d, minute, p.halfLifeMs);
  if (lambda0 !== null && lambda0 > 0) {
    const before = d.s;
    d.s = Math.max(0, d.s + trafficStep(lambda0, events));
    if (before === 0 && d.s > 0) d.onset = minute;
  }
  if (lambda0 !== null && d.s >= p.threshold) {
    const rise = [...d.pending, counts];
    const startedAt = d.onset ?? minute;
    // What was expected over the rise, at each of its minutes.
    const expected = rise.reduce((s, [m]) => s + (expectedVisits(d, m, p.halfLifeMs) ?? lambda0), 0);
    const visits = rise.reduce((s, c) => s + c[1], 0);
    const opened: OpenTraffic = {
      id: alertId('TRAFFIC_DROP', subjectOf(d), startedAt), version: 1, startedAt, detectedAt: minute + MINUTE_MS,
      severity: severityOf(visits, expected), lastChangeAt: minute + MINUTE_MS, events: visits, experiences: 0, bad: 0,
      lambda0, expected, recent: rise.map(([m, x]) => [m, x, expectedVisits(d, m, p.halfLifeMs) ?? lambda0]),
    };
    d.alert = opened;
    d.pending = [];
    const w = trailing(opened.recent, p.resolveMinutes);
    return [change(d, opened, 'OPENED', minute, w.events / Math.max(1, w.minutes), lambda0)];
  }
  if (d.s === 0) {
    for (const c of d.pending) learn(d, c, p.halfLifeMs);
    d.pending = [];
    learn(d, counts, p.halfLifeMs);
    d.onset = null;
  } else {
    d.pending.push(counts);
    while (d.pending.length && (d.pending[0] as Counts)[0] <= minute - MAX_PENDING_MINUTES * MINUTE_MS) learn(d, d.pending.shift() as Counts, p.halfLifeMs);
  }
  return [];
}

/**
 * Folds one closed minute, in increasing order, with every (channel, touchpoint) that
 * had visits in it. Every subject seen so far is stepped, with 0 visits if it had none.
 */
export function trafficDrop(state: TrafficState, input: { minute: number; touchpoints: TrafficMinute[] }, p: TrafficParams): { state: TrafficState; out: AlertChange[] } {
  const { minute } = input;
  const visits = new Map<string, number>();
  for (const t of input.touchpoints) {
    const tk = `${t.channel}\u0000${t.touchpoint}`;
    state.detectors[tk] ??= newDetector(t.channel, t.touchpoint, t.leg, minute);
    state.detectors[t.channel] ??= newDetector(t.channel, null, '', minute);
    visits.set(tk, (visits.get(tk) ?? 0) + t.events);
    visits.set(t.channel, (visits.get(t.channel) ?? 0) + t.events);
  }
  const out: AlertChange[] = [];
  const keys = Object.keys(state.detectors).sort();
  // Channels first, so their touchpoints know whether the channel's alert speaks for them.
  for (const key of keys.filter((k) => !k.includes('\u0000'))) out.push(...step(state.detectors[key] as TrafficDetector, minute, visits.get(key) ?? 0, false, p));
  for (const key of keys.filter((k) => k.includes('\u0000'))) {
    const d = state.detectors[key] as TrafficDetector;
    out.push(...step(d, minute, visits.get(key) ?? 0, state.detectors[d.channel]?.alert != null, p));
  }
  return { state, out };
}

