// Generated from schemas/*.avsc by `npx cx schemas types`. Do not edit by hand.
// Newest versions: TouchpointEvent v1, OutcomeEvent v1, AlertEvent v2.

export const CHANNEL_SYMBOLS = ['WEB', 'APP', 'STORE', 'CALL_CENTRE', 'CHAT', 'EMAIL', 'SOCIAL', 'DELIVERY', 'OTHER'] as const;
export type Channel = (typeof CHANNEL_SYMBOLS)[number];

export const LEG_SYMBOLS = ['PRODUCT', 'OPERATIONS', 'SALES_MARKETING'] as const;
export type Leg = (typeof LEG_SYMBOLS)[number];

export const STAGE_SYMBOLS = ['CONSIDERATION', 'PURCHASE', 'CONSUMPTION', 'POST_PURCHASE'] as const;
export type Stage = (typeof STAGE_SYMBOLS)[number];

export const RATING_SCALE_SYMBOLS = ['CSAT_5', 'STARS_5', 'NPS_11', 'CES_7', 'BINARY', 'SCORE_100'] as const;
export type RatingScale = (typeof RATING_SCALE_SYMBOLS)[number];

export interface Rating {
  scale: RatingScale;
  value: number;
}

export const OUTCOME_SYMBOLS = ['OK', 'FAILED', 'ABANDONED', 'ESCALATED'] as const;
export type Outcome = (typeof OUTCOME_SYMBOLS)[number];

/** One interaction of one customer at one touchpoint. Kafka key: customer_id. */
export interface TouchpointEvent {
  /** Set by the producer; the idempotency key end to end. */
  event_id: string;
  /** Event time. */
  occurred_at: number;
  customer_id: string;
  /** Order, case, trip... */
  journey_id: string;
  channel: Channel;
  /** e.g. checkout, support_call, parcel_delivery */
  touchpoint: string;
  leg: Leg;
  stage: Stage;
  /** The owning department. */
  department: string;
  moment_of_truth: boolean;
  rating: null | Rating;
  outcome: Outcome;
  attributes: Record<string, string>;
}

export const OUTCOME_KIND_SYMBOLS = ['CHURNED', 'COMPLAINED', 'REPURCHASED', 'RATED', 'OTHER'] as const;
export type OutcomeKind = (typeof OUTCOME_KIND_SYMBOLS)[number];

/** A customer-level outcome, for calibration and the switching view. Kafka key: customer_id. */
export interface OutcomeEvent {
  event_id: string;
  occurred_at: number;
  customer_id: string;
  journey_id: null | string;
  /** RATED carries an overall rating of the relationship or journey. */
  kind: OutcomeKind;
  rating: null | Rating;
  attributes: Record<string, string>;
}

export const ALERT_STATUS_SYMBOLS = ['OPENED', 'UPDATED', 'RESOLVED'] as const;
export type AlertStatus = (typeof ALERT_STATUS_SYMBOLS)[number];

export const ALERT_KIND_SYMBOLS = ['TOUCHPOINT_DEGRADED', 'LEG_BELOW_THRESHOLD', 'TRAFFIC_DROP', 'OTHER'] as const;
export type AlertKind = (typeof ALERT_KIND_SYMBOLS)[number];

export const ALERT_SEVERITY_SYMBOLS = ['WARNING', 'CRITICAL'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITY_SYMBOLS)[number];

export interface AlertEvidence {
  /** Minutes of event time since started_at. */
  minutes: number;
  /** Visits (touchpoint, traffic) since started_at; for a leg, its visits. */
  events: number;
  experiences: number;
  bad: number;
}

/** One change in an alert's lifecycle: opened, updated or resolved. Kafka key: alert_id. (alert_id, version) is unique and never published twice. */
export interface AlertEvent {
  /** Stable for the alert's whole lifecycle. */
  alert_id: string;
  /** 1 when opened, then +1 per change. */
  version: number;
  status: AlertStatus;
  /** TOUCHPOINT_DEGRADED: a (channel, touchpoint)'s bad rate rose above its learned baseline. LEG_BELOW_THRESHOLD: a leg's score is credibly below E, so the stool does not stand. TRAFFIC_DROP: a (channel, touchpoint), or a whole channel (touchpoint null), sends far fewer events than its learned daily rhythm expects, or none (v2). */
  kind: AlertKind;
  severity: AlertSeverity;
  /** Touchpoint and traffic alerts only. */
  channel: null | string;
  /** Touchpoint alerts, and traffic alerts on one touchpoint (null: the whole channel). */
  touchpoint: null | string;
  /** PRODUCT, OPERATIONS or SALES_MARKETING: the leg alerted on, or the touchpoint's leg; empty for a whole channel's traffic alert. */
  leg: string;
  /** Touchpoint: the learned bad rate p0. Leg: the threshold E. Traffic: the visits per minute expected. */
  baseline: number;
  /** Touchpoint: the recent bad rate. Leg: the leg score in the latest window. Traffic: the recent visits per minute. */
  current: number;
  /** Touchpoint: the rate the detector tests for, p1 = max(2*p0, p0 + 0.1). Leg: E. Traffic: the rate tested for, a quarter of the expected. */
  threshold: number;
  /** The detector's CUSUM statistic when this change was made (leg: from v2; v1 carried E minus the leg score). */
  statistic: number;
  /** Event time the degradation is estimated to have begun. */
  started_at: number;
  /** Event time the alert opened (the end of the minute whose data crossed the threshold). */
  detected_at: number;
  /** Event time of this change. */
  changed_at: number;
  resolved_at: null | number;
  evidence: AlertEvidence;
  /** One line for a person. */
  summary: string;
}
