/**
 * The simulated company's touchpoints: where customers meet it, on which leg and
 * stage, owned by which department, and how good each one usually is.
 */
import type { Channel, Leg, RatingScale, Stage } from '../../schemas/contracts.ts';

export interface QualityProfile {
  /** Shares of answers, summing to 1: bad, neutral, good (but not top box), impressed (top box). */
  bad: number;
  neutral: number;
  good: number;
  impressed: number;
}

export interface Touchpoint {
  channel: Channel;
  touchpoint: string;
  leg: Leg;
  stage: Stage;
  department: string;
  momentOfTruth: boolean;
  /** Scale of the survey answer; null for an operational touchpoint that is never rated. */
  scale: RatingScale | null;
  /** Share of visits that leave a rating (the rest are unrated: OK, or FAILED/ABANDONED/ESCALATED when bad). */
  responseRate: number;
  /** Relative traffic among the touchpoints of its stage. */
  weight: number;
  quality: QualityProfile;
  /** How a bad unrated visit ends. */
  failure: 'FAILED' | 'ABANDONED' | 'ESCALATED';
}

const q = (bad: number, neutral: number, good: number, impressed: number): QualityProfile => ({ bad, neutral, good, impressed });

export const CATALOGUE: Touchpoint[] = [
  // Consideration: brand and marketing (sales & marketing leg).
  { channel: 'SOCIAL', touchpoint: 'brand_mention', leg: 'SALES_MARKETING', stage: 'CONSIDERATION', department: 'Brand', momentOfTruth: false, scale: 'SCORE_100', responseRate: 0.5, weight: 2, quality: q(0.12, 0.14, 0.46, 0.28), failure: 'ABANDONED' },
  { channel: 'WEB', touchpoint: 'product_page', leg: 'SALES_MARKETING', stage: 'CONSIDERATION', department: 'Marketing', momentOfTruth: false, scale: 'CSAT_5', responseRate: 0.4, weight: 4, quality: q(0.08, 0.11, 0.49, 0.32), failure: 'ABANDONED' },
  { channel: 'EMAIL', touchpoint: 'offer_email', leg: 'SALES_MARKETING', stage: 'CONSIDERATION', department: 'Marketing', momentOfTruth: false, scale: 'BINARY', responseRate: 0.3, weight: 2, quality: q(0.15, 0, 0.6, 0.25), failure: 'ABANDONED' },
  { channel: 'STORE', touchpoint: 'store_advice', leg: 'SALES_MARKETING', stage: 'CONSIDERATION', department: 'Retail', momentOfTruth: true, scale: 'NPS_11', responseRate: 0.5, weight: 1, quality: q(0.1, 0.15, 0.41, 0.34), failure: 'ESCALATED' },
  // Purchase: operations.
  { channel: 'WEB', touchpoint: 'checkout', leg: 'OPERATIONS', stage: 'PURCHASE', department: 'Digital', momentOfTruth: true, scale: 'CES_7', responseRate: 0.6, weight: 4, quality: q(0.08, 0.09, 0.53, 0.3), failure: 'ABANDONED' },
  { channel: 'APP', touchpoint: 'app_checkout', leg: 'OPERATIONS', stage: 'PURCHASE', department: 'Digital', momentOfTruth: true, scale: 'CES_7', responseRate: 0.6, weight: 3, quality: q(0.07, 0.09, 0.54, 0.3), failure: 'ABANDONED' },
  { channel: 'STORE', touchpoint: 'store_checkout', leg: 'OPERATIONS', stage: 'PURCHASE', department: 'Retail', momentOfTruth: false, scale: 'CSAT_5', responseRate: 0.3, weight: 2, quality: q(0.1, 0.12, 0.5, 0.28), failure: 'FAILED' },
  // Consumption: the product itself, and delivering it.
  { channel: 'DELIVERY', touchpoint: 'parcel_delivery', leg: 'OPERATIONS', stage: 'CONSUMPTION', department: 'Logistics', momentOfTruth: true, scale: 'STARS_5', responseRate: 0.5, weight: 4, quality: q(0.1, 0.1, 0.49, 0.31), failure: 'FAILED' },
  { channel: 'APP', touchpoint: 'product_use', leg: 'PRODUCT', stage: 'CONSUMPTION', department: 'Product', momentOfTruth: false, scale: 'NPS_11', responseRate: 0.4, weight: 4, quality: q(0.12, 0.15, 0.41, 0.32), failure: 'FAILED' },
  { channel: 'OTHER', touchpoint: 'unboxing', leg: 'PRODUCT', stage: 'CONSUMPTION', department: 'Packaging', momentOfTruth: false, scale: 'CSAT_5', responseRate: 0.3, weight: 2, quality: q(0.06, 0.12, 0.5, 0.32), failure: 'FAILED' },
  { channel: 'WEB', touchpoint: 'price_check', leg: 'PRODUCT', stage: 'CONSUMPTION', department: 'Pricing', momentOfTruth: false, scale: 'SCORE_100', responseRate: 0.3, weight: 1, quality: q(0.15, 0.17, 0.42, 0.26), failure: 'ABANDONED' },
  // Post-purchase: service.
  { channel: 'CALL_CENTRE', touchpoint: 'support_call', leg: 'OPERATIONS', stage: 'POST_PURCHASE', department: 'Customer Service', momentOfTruth: true, scale: 'CSAT_5', responseRate: 0.5, weight: 3, quality: q(0.12, 0.12, 0.46, 0.3), failure: 'ESCALATED' },
  { channel: 'CHAT', touchpoint: 'support_chat', leg: 'OPERATIONS', stage: 'POST_PURCHASE', department: 'Customer Service', momentOfTruth: false, scale: 'BINARY', responseRate: 0.5, weight: 3, quality: q(0.12, 0, 0.6, 0.28), failure: 'ESCALATED' },
  { channel: 'EMAIL', touchpoint: 'returns', leg: 'OPERATIONS', stage: 'POST_PURCHASE', department: 'Logistics', momentOfTruth: false, scale: null, responseRate: 0, weight: 1, quality: q(0.1, 0, 0.9, 0), failure: 'FAILED' },
  { channel: 'EMAIL', touchpoint: 'billing', leg: 'OPERATIONS', stage: 'POST_PURCHASE', department: 'Finance', momentOfTruth: false, scale: null, responseRate: 0, weight: 1, quality: q(0.05, 0, 0.95, 0), failure: 'FAILED' },
];

export const STAGES: Stage[] = ['CONSIDERATION', 'PURCHASE', 'CONSUMPTION', 'POST_PURCHASE'];
