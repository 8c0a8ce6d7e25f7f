/**
 * A basic synthetic source of touchpoint traffic for `npm start`, the tests and the
 * benchmark: a deterministic stream (same seed, same events) of customers moving
 * through a small catalogue of touchpoints on all three legs. The full journey
 * simulator with incidents is producers/simulator (a later piece of work).
 */
import type { Channel, Leg, OutcomeEvent, RatingScale, Stage, TouchpointEvent } from '../schemas/contracts.ts';
import { RATING_SCALES } from '../schemas/ratingScale.ts';

interface CatalogueEntry {
  channel: Channel;
  touchpoint: string;
  leg: Leg;
  stage: Stage;
  department: string;
  momentOfTruth: boolean;
  scale: RatingScale | null;
  /** Chance that a rated answer is in the good half of the scale. */
  quality: number;
}

export const CATALOGUE: CatalogueEntry[] = [
  { channel: 'SOCIAL', touchpoint: 'brand_mention', leg: 'SALES_MARKETING', stage: 'CONSIDERATION', department: 'Brand', momentOfTruth: false, scale: 'SCORE_100', quality: 0.7 },
  { channel: 'WEB', touchpoint: 'product_page', leg: 'SALES_MARKETING', stage: 'CONSIDERATION', department: 'Marketing', momentOfTruth: false, scale: 'CSAT_5', quality: 0.8 },
  { channel: 'EMAIL', touchpoint: 'offer_email', leg: 'SALES_MARKETING', stage: 'CONSIDERATION', department: 'Marketing', momentOfTruth: false, scale: null, quality: 0.9 },
  { channel: 'APP', touchpoint: 'checkout', leg: 'OPERATIONS', stage: 'PURCHASE', department: 'Digital', momentOfTruth: true, scale: 'CES_7', quality: 0.85 },
  { channel: 'STORE', touchpoint: 'store_visit', leg: 'OPERATIONS', stage: 'PURCHASE', department: 'Retail', momentOfTruth: false, scale: 'CSAT_5', quality: 0.75 },
  { channel: 'DELIVERY', touchpoint: 'parcel_delivery', leg: 'OPERATIONS', stage: 'CONSUMPTION', department: 'Logistics', momentOfTruth: true, scale: 'STARS_5', quality: 0.7 },
  { channel: 'APP', touchpoint: 'product_use', leg: 'PRODUCT', stage: 'CONSUMPTION', department: 'Product', momentOfTruth: false, scale: 'NPS_11', quality: 0.65 },
  { channel: 'CALL_CENTRE', touchpoint: 'support_call', leg: 'OPERATIONS', stage: 'POST_PURCHASE', department: 'Customer Service', momentOfTruth: true, scale: 'CSAT_5', quality: 0.6 },
  { channel: 'CHAT', touchpoint: 'support_chat', leg: 'OPERATIONS', stage: 'POST_PURCHASE', department: 'Customer Service', momentOfTruth: false, scale: 'BINARY', quality: 0.7 },
];

/** mulberry32: a small, fast, seedable PRNG. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uuidFrom(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function ratingValue(scale: RatingScale, good: boolean, random: () => number): number {
  const { min, max, integral } = RATING_SCALES[scale];
  const mid = (min + max) / 2;
  const v = good ? mid + random() * (max - mid) : min + random() * (mid - min);
  return integral ? Math.min(max, Math.max(min, Math.round(v))) : Math.round(v * 10) / 10;
}

export interface EmitterOptions {
  seed: number;
  customers: number;
  /** Event time of the first event (ms). */
  startAt: number;
  /** Mean event-time gap between consecutive events (ms). */
  meanGapMs: number;
}

export type SyntheticEvent = { kind: 'touchpoint'; event: TouchpointEvent } | { kind: 'outcome'; event: OutcomeEvent };

/** An endless, deterministic stream of events. About 2% are customer outcomes. */
export function* syntheticEvents(o: EmitterOptions): Generator<SyntheticEvent> {
  const random = seededRandom(o.seed);
  let t = o.startAt;
  for (let n = 0; ; n++) {
    t += Math.round(random() * 2 * o.meanGapMs);
    const customer = Math.floor(random() * o.customers);
    const customer_id = `c-${customer}`;
    const journey_id = `j-${customer}-${Math.floor(t / 86_400_000)}`;
    if (random() < 0.02) {
      const r = random();
      yield {
        kind: 'outcome',
        event: {
          event_id: uuidFrom(random), occurred_at: t, customer_id, journey_id,
          kind: r < 0.5 ? 'REPURCHASED' : r < 0.8 ? 'COMPLAINED' : 'CHURNED',
          rating: null, attributes: { source: 'synthetic' },
        },
      };
      continue;
    }
    const tp = CATALOGUE[Math.floor(random() * CATALOGUE.length)] as CatalogueEntry;
    const good = random() < tp.quality;
    const rated = tp.scale !== null && random() < 0.7;
    yield {
      kind: 'touchpoint',
      event: {
        event_id: uuidFrom(random),
        occurred_at: t,
        customer_id,
        journey_id,
        channel: tp.channel,
        touchpoint: tp.touchpoint,
        leg: tp.leg,
        stage: tp.stage,
        department: tp.department,
        moment_of_truth: tp.momentOfTruth,
        rating: rated && tp.scale ? { scale: tp.scale, value: ratingValue(tp.scale, good, random) } : null,
        outcome: rated || good ? 'OK' : (['FAILED', 'ABANDONED', 'ESCALATED'] as const)[Math.floor(random() * 3)] as TouchpointEvent['outcome'],
        attributes: { source: 'synthetic' },
      },
    };
  }
}

/** The first `count` events of the stream. */
export function takeEvents(o: EmitterOptions, count: number): SyntheticEvent[] {
  const out: SyntheticEvent[] = [];
  for (const e of syntheticEvents(o)) {
    if (out.length >= count) break;
    out.push(e);
  }
  return out;
}
