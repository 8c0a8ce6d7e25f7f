// Generated from schemas/*.avsc by `npx cx schemas types`. Do not edit by hand.
// Newest versions: TouchpointEvent v1, OutcomeEvent v1.

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
