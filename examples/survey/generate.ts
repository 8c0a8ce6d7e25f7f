/**
 * A synthetic airline passenger survey, wide (one row per respondent), with a
 * satisfied / dissatisfied label from a stated model, so that a calibration can be
 * checked against the truth. Seeded: the same seed writes the same files, byte for byte.
 *
 *   node --import tsx examples/survey/generate.ts [--seed N] [--respondents N] [--out-dir DIR]
 *
 * writes DIR/airline-survey.csv and DIR/airline-survey.mapping.json (the mapping for
 * `npx cx replay`, written from the same question list) and prints what it wrote.
 *
 * THE TRUE MODEL (examples/survey/README.md says the same, with the figures it gives)
 *
 * Respondents. Each has a trip: travel type (business 60 %, personal 40 %), travel class
 * (business travellers: Business 50 %, Economy Plus 15 %, Economy 35 %; personal: 8 %,
 * 12 %, 80 %), customer type (returning 80 %), an age band, a flight distance (short haul
 * 300–1,500 km 55 %, medium 1,500–3,500 km 30 %, long 3,500–9,000 km 15 %), a departure
 * delay (none 55 %, else 180·u³ minutes, u uniform), online check-in (business travel
 * 85 %, personal 65 %) and a checked bag (business travel 35 %, personal 65 %). One
 * `submitted` time per respondent, spread over six weeks from 2026-08-03, more in the
 * evening; the rows are in the order they were submitted.
 *
 * Answers (the halo). A general mood g ~ N(0, 1) per respondent shifts all their answers.
 * Question j gets a latent quality z = mu_j + shift_j(trip) + load_j * g + sigma_j * e,
 * e ~ N(0, 1) per answer, and the answer is 1 + the number of the cut points
 * -1.2, -0.4, 0.4, 1.2 that z exceeds (1..5). Normals are sums of 12 uniforms less 6.
 * Not applicable is written 0 (no online check-in, no desk visit, no bag, no food or
 * screens on short haul, wifi not used, booked through an agent), and about 1 % of the
 * other cells are left empty (skipped).
 *
 * The label. Over the questions a respondent answered, with x = (answer - 1) / 4:
 *
 *   S = sum_j w_j * b_j * x_j / sum_j w_j * b_j,    b_j = BAD_WEIGHT (0.5) when the
 *                                                      answer is bad (1 or 2), else 1
 *   P(satisfied) = 1 / (1 + exp(-LABEL_SLOPE * (S - LABEL_CENTRE)))   (slope 24, centre 0.63)
 *
 * The weights w_j are in QUESTIONS below. Three touchpoints are decisive: cabin_crew
 * (5), seat_comfort (4) and online_checkin (3); every other weight is 1 or less. A bad
 * answer weighs half of another (b = 0.5 < 1): beyond "bad" it hardly matters how bad.
 * The mood reaches the label only through the answers. This is the calibrated-memory
 * form (processors/folds/experienceMemory.ts, `experienceWeight`) with all answers at
 * one instant: touchpointWeights = w, badWeight = 0.5, so a fit can recover it.
 *
 * The mapping's moments of truth (on_time, checkin_desk, baggage_delivery) are the
 * airline's hypotheses, not the truth: their weights are small.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { seededRandom } from '../../producers/random.ts';
import type { Channel, Leg, RatingScale, Stage } from '../../schemas/contracts.ts';

export const SURVEY_SEED = 20_260_803;
export const SURVEY_RESPONDENTS = 4000;
export const CSV_FILE = 'airline-survey.csv';
export const MAPPING_FILE = 'airline-survey.mapping.json';

/** A bad answer (1 or 2) weighs this much relative to another in the label's weighted mean. */
export const BAD_WEIGHT = 0.5;
export const LABEL_SLOPE = 24;
export const LABEL_CENTRE = 0.63;
/** Cut points of the latent quality: 1 + how many it exceeds is the answer. */
const CUTS = [-1.2, -0.4, 0.4, 1.2];
/** The outcome column's values. */
export const SATISFIED = 'satisfied';
export const DISSATISFIED = 'neutral or dissatisfied';

export interface Trip {
  id: number;
  submitted: number;
  ageBand: string;
  customerType: 'Returning' | 'First-time';
  travelType: 'Business travel' | 'Personal travel';
  travelClass: 'Business' | 'Economy Plus' | 'Economy';
  distanceKm: number;
  delayMin: number;
  onlineCheckin: boolean;
  checkedBag: boolean;
  /** The halo: shifts every answer of this respondent. */
  mood: number;
}

export interface Question {
  column: string;
  /** How the questionnaire asks it. */
  text: string;
  touchpoint: string;
  channel: Channel;
  leg: Leg;
  stage: Stage;
  department: string;
  scale: Extract<RatingScale, 'CSAT_5' | 'STARS_5'>;
  /** The airline's hypothesis (the mapping's moment_of_truth), not part of the true model. */
  momentOfTruth: boolean;
  /** The true weight of the answer in the label's weighted mean. */
  weight: number;
  mu: number;
  load: number;
  sigma: number;
  /** Shift of the latent quality for this trip. */
  shift: (t: Trip) => number;
  /** Not applicable to this trip (written 0). `u` is a uniform draw of this cell. */
  notApplicable: (t: Trip, u: number) => boolean;
}

const never = () => false;
const cls = (t: Trip, business: number, plus: number) => (t.travelClass === 'Business' ? business : t.travelClass === 'Economy Plus' ? plus : 0);
const shortHaul = (t: Trip) => t.distanceKm < 1500;

export const QUESTIONS: readonly Question[] = [
  { column: 'q_booking', text: 'Ease of booking online', touchpoint: 'online_booking', channel: 'WEB', leg: 'SALES_MARKETING', stage: 'PURCHASE', department: 'Digital', scale: 'CSAT_5', momentOfTruth: false,
    weight: 0.8, mu: 0.3, load: 0.36, sigma: 0.8, shift: () => 0, notApplicable: (_t, u) => u < 0.08 },
  { column: 'q_value', text: 'Value for money of the fare', touchpoint: 'fare_value', channel: 'OTHER', leg: 'SALES_MARKETING', stage: 'PURCHASE', department: 'Revenue Management', scale: 'CSAT_5', momentOfTruth: false,
    weight: 1.0, mu: -0.1, load: 0.33, sigma: 0.85, shift: (t) => (t.travelClass === 'Business' ? -0.3 : 0) + (t.customerType === 'Returning' ? 0.15 : 0), notApplicable: never },
  { column: 'q_online_checkin', text: 'Online check-in', touchpoint: 'online_checkin', channel: 'APP', leg: 'OPERATIONS', stage: 'CONSUMPTION', department: 'Digital', scale: 'CSAT_5', momentOfTruth: false,
    weight: 3.0, mu: 0.2, load: 0.39, sigma: 0.8, shift: (t) => (t.customerType === 'First-time' ? -0.3 : 0), notApplicable: (t) => !t.onlineCheckin },
  { column: 'q_checkin_desk', text: 'Check-in and bag drop at the airport', touchpoint: 'checkin_desk', channel: 'STORE', leg: 'OPERATIONS', stage: 'CONSUMPTION', department: 'Airport Services', scale: 'CSAT_5', momentOfTruth: true,
    weight: 0.6, mu: 0.4, load: 0.3, sigma: 0.85, shift: (t) => cls(t, 0.4, 0.1), notApplicable: (t) => t.onlineCheckin && !t.checkedBag },
  { column: 'q_boarding', text: 'Boarding process', touchpoint: 'boarding', channel: 'STORE', leg: 'OPERATIONS', stage: 'CONSUMPTION', department: 'Airport Services', scale: 'CSAT_5', momentOfTruth: false,
    weight: 0.7, mu: 0.2, load: 0.33, sigma: 0.85, shift: (t) => cls(t, 0.3, 0.15), notApplicable: never },
  { column: 'q_on_time', text: 'Departure on time', touchpoint: 'on_time_departure', channel: 'OTHER', leg: 'OPERATIONS', stage: 'CONSUMPTION', department: 'Flight Operations', scale: 'CSAT_5', momentOfTruth: true,
    weight: 0.5, mu: 0.9, load: 0.18, sigma: 0.6, shift: (t) => -0.03 * t.delayMin, notApplicable: never },
  { column: 'q_seat', text: 'Seat comfort', touchpoint: 'seat_comfort', channel: 'OTHER', leg: 'PRODUCT', stage: 'CONSUMPTION', department: 'Cabin Product', scale: 'STARS_5', momentOfTruth: false,
    weight: 4.0, mu: -0.1, load: 0.39, sigma: 0.8, shift: (t) => cls(t, 0.9, 0.45) - (t.travelClass === 'Economy' && !shortHaul(t) ? 0.3 : 0), notApplicable: never },
  { column: 'q_legroom', text: 'Leg room', touchpoint: 'legroom', channel: 'OTHER', leg: 'PRODUCT', stage: 'CONSUMPTION', department: 'Cabin Product', scale: 'STARS_5', momentOfTruth: false,
    weight: 0.9, mu: -0.2, load: 0.33, sigma: 0.8, shift: (t) => cls(t, 1.0, 0.6), notApplicable: never },
  { column: 'q_cleanliness', text: 'Cabin cleanliness', touchpoint: 'cabin_cleanliness', channel: 'OTHER', leg: 'OPERATIONS', stage: 'CONSUMPTION', department: 'Cabin Services', scale: 'CSAT_5', momentOfTruth: false,
    weight: 0.8, mu: 0.45, load: 0.36, sigma: 0.75, shift: () => 0, notApplicable: never },
  { column: 'q_crew', text: 'Service from the cabin crew', touchpoint: 'cabin_crew', channel: 'OTHER', leg: 'OPERATIONS', stage: 'CONSUMPTION', department: 'Inflight Services', scale: 'CSAT_5', momentOfTruth: false,
    weight: 5.0, mu: 0.15, load: 0.42, sigma: 0.8, shift: (t) => cls(t, 0.4, 0.2), notApplicable: never },
  { column: 'q_food', text: 'Food and drink', touchpoint: 'food_and_drink', channel: 'OTHER', leg: 'PRODUCT', stage: 'CONSUMPTION', department: 'Catering', scale: 'STARS_5', momentOfTruth: false,
    weight: 0.4, mu: -0.15, load: 0.3, sigma: 0.9, shift: (t) => cls(t, 0.8, 0.3), notApplicable: (t) => shortHaul(t) && t.travelClass === 'Economy' },
  { column: 'q_entertainment', text: 'Inflight entertainment', touchpoint: 'inflight_entertainment', channel: 'OTHER', leg: 'PRODUCT', stage: 'CONSUMPTION', department: 'Inflight Product', scale: 'STARS_5', momentOfTruth: false,
    weight: 0.7, mu: 0.0, load: 0.36, sigma: 0.85, shift: (t) => cls(t, 0.3, 0.1), notApplicable: (t, u) => t.distanceKm < 1200 || u < 0.06 },
  { column: 'q_wifi', text: 'Inflight wifi', touchpoint: 'inflight_wifi', channel: 'APP', leg: 'PRODUCT', stage: 'CONSUMPTION', department: 'Inflight Product', scale: 'STARS_5', momentOfTruth: false,
    weight: 0.6, mu: -0.45, load: 0.3, sigma: 0.9, shift: () => 0, notApplicable: (t, u) => u < (t.travelType === 'Business travel' ? 0.25 : 0.45) },
  { column: 'q_baggage', text: 'Baggage delivery on arrival', touchpoint: 'baggage_delivery', channel: 'DELIVERY', leg: 'OPERATIONS', stage: 'POST_PURCHASE', department: 'Ground Handling', scale: 'CSAT_5', momentOfTruth: true,
    weight: 0.5, mu: 0.35, load: 0.21, sigma: 0.85, shift: () => 0, notApplicable: (t) => !t.checkedBag },
];

/** The touchpoints the label's model makes decisive, heaviest first. */
export const DECISIVE = QUESTIONS.filter((q) => q.weight > 1).sort((a, b) => b.weight - a.weight).map((q) => q.touchpoint);

const DAY_MS = 86_400_000;
const START = Date.UTC(2026, 7, 3);
const WEEKS = 6;
const AGE_BANDS = [['18-24', 10], ['25-34', 22], ['35-44', 24], ['45-54', 21], ['55-64', 15], ['65+', 8]] as const;
/** Relative submissions per hour of the day (UTC): few at night, most in the evening. */
const HOURLY = [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 3.5, 3.5, 4, 4, 4, 4, 4.5, 5, 6, 6.5, 6.5, 5.5, 4, 2];

/** A standard normal, as the sum of 12 uniforms less 6: additions only, so every machine draws the same. */
function normal(random: () => number): number {
  let s = -6;
  for (let i = 0; i < 12; i++) s += random();
  return s;
}

function pick<T>(items: readonly (readonly [T, number])[], random: () => number): T {
  const total = items.reduce((s, [, w]) => s + w, 0);
  let u = random() * total;
  for (const [item, w] of items) {
    u -= w;
    if (u < 0) return item;
  }
  return (items[items.length - 1] as readonly [T, number])[0];
}

function trip(random: () => number): Trip {
  const business = random() < 0.6;
  const u = random();
  const distanceKm = Math.round(u < 0.55 ? 300 + random() * 1200 : u < 0.85 ? 1500 + random() * 2000 : 3500 + random() * 5500);
  const delayMin = random() < 0.55 ? 0 : Math.round(180 * random() ** 3);
  const day = Math.floor(random() * WEEKS * 7);
  const hour = pick(HOURLY.map((w, h) => [h, w] as const), random);
  return {
    id: 0,
    submitted: START + day * DAY_MS + hour * 3_600_000 + Math.floor(random() * 3600) * 1000,
    ageBand: pick(AGE_BANDS, random),
    customerType: random() < 0.8 ? 'Returning' : 'First-time',
    travelType: business ? 'Business travel' : 'Personal travel',
    travelClass: pick(business ? [['Business', 50], ['Economy Plus', 15], ['Economy', 35]] as const : [['Business', 8], ['Economy Plus', 12], ['Economy', 80]] as const, random),
    distanceKm,
    delayMin,
    onlineCheckin: random() < (business ? 0.85 : 0.65),
    checkedBag: random() < (business ? 0.35 : 0.65),
    mood: normal(random),
  };
}

/** An answer 1..5, or null when not applicable. */
export type Answer = number | null;

export interface Respondent {
  trip: Trip;
  answers: Answer[];
  /** Cells left empty (skipped), by question index. */
  skipped: boolean[];
  /** The model's score S and probability of "satisfied". */
  score: number;
  pSatisfied: number;
  satisfied: boolean;
}

const x = (a: number) => (a - 1) / 4;

/** S: the label's weighted mean over the answered questions (the true model above). */
export function trueScore(answers: readonly Answer[]): number {
  let num = 0;
  let den = 0;
  answers.forEach((a, j) => {
    if (a === null) return;
    const w = (QUESTIONS[j] as Question).weight * (a <= 2 ? BAD_WEIGHT : 1);
    num += w * x(a);
    den += w;
  });
  return num / den;
}

export function respondents(seed: number, n: number): Respondent[] {
  const random = seededRandom(seed);
  const out: Respondent[] = [];
  for (let i = 0; i < n; i++) {
    const t = trip(random);
    const answers: Answer[] = [];
    const skipped: boolean[] = [];
    for (const q of QUESTIONS) {
      // Every draw is made whatever the branch, so a change to one question's rules leaves the others' answers alone.
      const uNa = random();
      const uSkip = random();
      const z = q.mu + q.shift(t) + q.load * t.mood + q.sigma * normal(random);
      const na = q.notApplicable(t, uNa);
      answers.push(na ? null : 1 + CUTS.filter((c) => z > c).length);
      skipped.push(!na && uSkip < 0.01);
    }
    // A skipped cell is not an answer: the label knows only what was answered.
    const given = answers.map((a, j) => (skipped[j] ? null : a));
    const score = given.some((a) => a !== null) ? trueScore(given) : LABEL_CENTRE;
    const pSatisfied = 1 / (1 + Math.exp(-LABEL_SLOPE * (score - LABEL_CENTRE)));
    out.push({ trip: t, answers: given, skipped, score, pSatisfied, satisfied: random() < pSatisfied });
  }
  // Rows in the order they were submitted, ids in that order (as a survey tool numbers them).
  out.sort((a, b) => a.trip.submitted - b.trip.submitted);
  out.forEach((r, i) => (r.trip.id = 100_001 + i));
  return out;
}

const HEADER = ['respondent_id', 'submitted', 'age_band', 'customer_type', 'travel_type', 'travel_class', 'flight_distance_km', 'departure_delay_min', ...QUESTIONS.map((q) => q.column), 'satisfaction'];

export function surveyCsv(rows: readonly Respondent[]): string {
  const lines = [HEADER.join(',')];
  for (const r of rows) {
    const t = r.trip;
    lines.push([
      t.id, new Date(t.submitted).toISOString().replace('.000Z', 'Z'), t.ageBand, t.customerType, t.travelType, t.travelClass, t.distanceKm, t.delayMin,
      ...r.answers.map((a, j) => (r.skipped[j] ? '' : a === null ? 0 : a)),
      r.satisfied ? SATISFIED : DISSATISFIED,
    ].join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** The replay mapping, from the same question list: one line per question, as a person would write it. */
export function surveyMapping(): string {
  const j = JSON.stringify;
  const touchpoints = QUESTIONS.map((q) => {
    const entry = { column: q.column, touchpoint: q.touchpoint, channel: q.channel, leg: q.leg, stage: q.stage, department: q.department, scale: q.scale, ...(q.momentOfTruth && { moment_of_truth: true }) };
    return `      ${j(entry).replace(/,"/g, ', "').replace(/":/g, '": ').replace(/^\{/, '{ ').replace(/\}$/, ' }')}`;
  });
  const outcome = (value: number) => j({ kind: 'RATED', rating: { scale: 'BINARY', value } }).replace(/,"/g, ', "').replace(/":/g, '": ').replace(/\{"/g, '{ "').replace(/\}/g, ' }');
  return [
    '{',
    '  "format": "csv",',
    '  "delimiter": ",",',
    '  "timeFormat": "iso",',
    '  "notApplicable": ["", "0"],',
    '  "attributes": { "survey": "airline-passenger-2026-q3" },',
    '  "layout": {',
    '    "type": "wide",',
    '    "customer_id": "respondent_id",',
    '    "occurred_at": "submitted",',
    '    "touchpoints": [',
    touchpoints.join(',\n'),
    '    ],',
    '    "outcome": {',
    '      "column": "satisfaction",',
    '      "values": {',
    `        ${j(SATISFIED)}: ${outcome(1)},`,
    `        ${j(DISSATISFIED)}: ${outcome(0)}`,
    '      }',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** AUC of `score` for telling `label` true from false: the share of (true, false) pairs it orders right, ties counting half. */
export function auc(score: readonly number[], label: readonly boolean[]): number {
  const idx = score.map((_, i) => i).sort((a, b) => (score[a] as number) - (score[b] as number));
  let rankSumTrue = 0;
  let nTrue = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j < idx.length && score[idx[j] as number] === score[idx[i] as number]) j++;
    const midRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (label[idx[k] as number]) {
      rankSumTrue += midRank;
      nTrue++;
    }
    i = j;
  }
  const nFalse = idx.length - nTrue;
  return (rankSumTrue - (nTrue * (nTrue + 1)) / 2) / (nTrue * nFalse);
}

/** A weighted mean of x over the answered questions. */
function weightedMean(answers: readonly Answer[], w: (q: Question, a: number) => number): number {
  let num = 0;
  let den = 0;
  answers.forEach((a, j) => {
    if (a === null) return;
    const wj = w(QUESTIONS[j] as Question, a);
    num += wj * x(a);
    den += wj;
  });
  return den > 0 ? num / den : 0.5;
}

export interface SurveyFacts {
  respondents: number;
  answers: number;
  notApplicable: number;
  skipped: number;
  satisfiedShare: number;
  /** AUC of predicting "satisfied", over all respondents: the plain mean, the default memory (m = 2 at a moment of truth, all answers at one instant) and the true S. */
  aucPlainMean: number;
  aucDefaultMemory: number;
  aucTrueModel: number;
}

export function surveyFacts(rows: readonly Respondent[], motWeight = 2): SurveyFacts {
  const labels = rows.map((r) => r.satisfied);
  const answered = rows.flatMap((r) => r.answers.filter((a) => a !== null));
  return {
    respondents: rows.length,
    answers: answered.length,
    notApplicable: rows.reduce((s, r) => s + r.answers.filter((a, j) => a === null && !r.skipped[j]).length, 0),
    skipped: rows.reduce((s, r) => s + r.skipped.filter(Boolean).length, 0),
    satisfiedShare: labels.filter(Boolean).length / rows.length,
    aucPlainMean: auc(rows.map((r) => weightedMean(r.answers, () => 1)), labels),
    aucDefaultMemory: auc(rows.map((r) => weightedMean(r.answers, (q) => (q.momentOfTruth ? motWeight : 1))), labels),
    aucTrueModel: auc(rows.map((r) => r.score), labels),
  };
}

export function writeSurvey(dir: string, seed = SURVEY_SEED, n = SURVEY_RESPONDENTS): { csv: string; mapping: string; facts: SurveyFacts } {
  const rows = respondents(seed, n);
  mkdirSync(dir, { recursive: true });
  const csv = join(dir, CSV_FILE);
  const mapping = join(dir, MAPPING_FILE);
  writeFileSync(csv, surveyCsv(rows));
  writeFileSync(mapping, surveyMapping());
  return { csv, mapping, facts: surveyFacts(rows) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { seed: { type: 'string' }, respondents: { type: 'string' }, 'out-dir': { type: 'string' } },
    strict: true,
  });
  const whole = (name: string, text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 1) {
      process.stderr.write(`--${name} ${JSON.stringify(text)}: expected a whole number of at least 1\n`);
      process.exit(2);
    }
    return n;
  };
  const seed = whole('seed', values.seed, SURVEY_SEED);
  const n = whole('respondents', values.respondents, SURVEY_RESPONDENTS);
  const dir = values['out-dir'] ?? fileURLToPath(new URL('.', import.meta.url));
  const { csv, mapping, facts } = writeSurvey(dir, seed, n);
  const f3 = (v: number) => v.toFixed(3);
  process.stdout.write(
    `wrote ${csv}: ${facts.respondents.toLocaleString('en-US')} respondents (seed ${seed}), ${facts.answers.toLocaleString('en-US')} answers, ` +
      `${facts.notApplicable.toLocaleString('en-US')} not applicable (0), ${facts.skipped.toLocaleString('en-US')} skipped (empty); ` +
      `${(facts.satisfiedShare * 100).toFixed(1)} % satisfied\n` +
      `wrote ${mapping}: ${QUESTIONS.length} questions, the label as a RATED BINARY outcome\n` +
      `AUC of predicting "satisfied" (all respondents): plain mean ${f3(facts.aucPlainMean)}, default memory (m = 2 at the moments of truth) ${f3(facts.aucDefaultMemory)}, ` +
      `the true model's S ${f3(facts.aucTrueModel)}; decisive: ${DECISIVE.join(', ')}\n`,
  );
}
