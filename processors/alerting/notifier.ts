/**
 * What delivers alert changes (AlertEvent, from cx.alerts.v1) to people: the webhook
 * and the console. A notifier never throws at and never blocks its caller (the alert
 * consumer); it reports every attempt through `onAttempt`, which the consumer stores
 * in `alert_deliveries` (platform/clickhouse/migrations/0003_alerts.sql).
 */
import type { AlertEvent } from '../../schemas/contracts.ts';

/**
 * - `delivered`: the receiver took it (webhook: a 2xx).
 * - `retrying`: this attempt failed and another will be made.
 * - `failed`: given up: the receiver refused it (4xx other than 408/429) or every
 *   attempt failed.
 * - `dropped`: given up by the notifier itself, before the receiver could answer: the
 *   queue was full, or the notifier closed with the change still waiting or in flight.
 */
export type DeliveryOutcome = 'delivered' | 'retrying' | 'failed' | 'dropped';

/** One row of `alert_deliveries`. */
export interface DeliveryAttempt {
  alert_id: string;
  version: number;
  /** `webhook`, `console`. */
  notifier: string;
  /** Where it went, without credentials or query string. */
  target: string;
  /**
   * 1-based. A `dropped` row carries the number of the attempt it stands in for, so
   * (alert_id, version, notifier, attempt) names one row: a change dropped from a
   * full queue is attempt 1; one dropped at close after two failed attempts is 3
   * (or 2, when the second was in flight and abandoned).
   */
  attempt: number;
  /** Epoch ms, when the attempt started (or the change was dropped). */
  attempted_at: number;
  outcome: DeliveryOutcome;
  /** The receiver's status; null when there was no response (network error, timeout, not sent). */
  http_status: number | null;
  /** Empty when delivered. */
  error: string;
  latency_ms: number;
}

export type OnAttempt = (attempt: DeliveryAttempt) => void;

export interface Notifier {
  readonly name: string;
  readonly target: string;
  /**
   * Never throws and returns at once (enqueueing at most); the promise resolves, never
   * rejects, when this change is settled: delivered, failed or dropped. The alert
   * consumer need not await it.
   */
  notify(alert: AlertEvent): Promise<void>;
  /**
   * Takes no new changes, waits up to timeoutMs for those queued or in flight, then
   * gives up on the rest, recording each as `dropped`.
   */
  close(timeoutMs?: number): Promise<void>;
}

/** `type` of the JSON body, so receivers can route and version it. */
export const ALERT_JSON_TYPE = 'cx.alert.v1';

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The alert as a JSON object: the event's fields in schema order after `type`, times
 * as ISO-8601 UTC strings. Built field by field, so the key order does not depend on
 * the object it was given. Throws RangeError on a time that is not a number.
 */
export function alertPayload(alert: AlertEvent) {
  return {
    type: ALERT_JSON_TYPE,
    alert_id: alert.alert_id,
    version: alert.version,
    status: alert.status,
    kind: alert.kind,
    severity: alert.severity,
    channel: alert.channel,
    touchpoint: alert.touchpoint,
    leg: alert.leg,
    baseline: alert.baseline,
    current: alert.current,
    threshold: alert.threshold,
    statistic: alert.statistic,
    started_at: iso(alert.started_at),
    detected_at: iso(alert.detected_at),
    changed_at: iso(alert.changed_at),
    resolved_at: alert.resolved_at === null ? null : iso(alert.resolved_at),
    evidence: {
      minutes: alert.evidence.minutes,
      events: alert.evidence.events,
      experiences: alert.evidence.experiences,
      bad: alert.evidence.bad,
    },
    summary: alert.summary,
  };
}

export type AlertPayload = ReturnType<typeof alertPayload>;

/** The body the webhook POSTs: `alertPayload` as compact JSON. */
export function alertJson(alert: AlertEvent): string {
  return JSON.stringify(alertPayload(alert));
}

/** Calls onAttempt without letting its failure reach the delivery loop. */
export function reportAttempt(onAttempt: OnAttempt | undefined, a: DeliveryAttempt, onError: (err: unknown) => void): void {
  if (!onAttempt) return;
  try {
    onAttempt(a);
  } catch (err) {
    onError(err);
  }
}

export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  // fetch reports "fetch failed" with the useful part (ECONNREFUSED...) in cause.
  return cause instanceof Error && cause.message ? `${err.message}: ${cause.message}` : err.message;
}
