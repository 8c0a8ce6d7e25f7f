/**
 * The journey simulator: a pure, deterministic generator of touchpoint and outcome
 * events in event-time order, for a scenario. Customers walk journeys through the
 * four stages; each touchpoint answers from its own quality profile; incidents
 * change a touchpoint's, a channel's or a leg's bad rate for a while; a bad
 * experience makes the next one likelier to be bad (contagion); and how a journey
 * went drives whether the customer churns, complains or buys again (the outcome
 * model, below `journeyOutcome`).
 */
import type { OutcomeEvent, Rating, RatingScale, TouchpointEvent } from '../../schemas/contracts.ts';
import { RATING_SCALES } from '../../schemas/ratingScale.ts';
import { pickWeighted, seededRandom, uuidOf } from '../random.ts';
import { CATALOGUE, STAGES, type Touchpoint } from './catalogue.ts';
import { validateScenario, type Incident, type Scenario } from './scenario.ts';

export type SimEvent = { kind: 'touchpoint'; event: TouchpointEvent } | { kind: 'outcome'; event: OutcomeEvent };

type Answer = 'bad' | 'neutral' | 'good' | 'impressed';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CONTAGION_WINDOW = 7 * DAY;
/** Share of customers met for the first time whose last experience was bad: about the steady state of the default catalogue and contagion. */
const STEADY_PAST_BAD = 0.2;

/** Traffic by hour of day: a floor at night and a broad peak in the early afternoon. Mean over a day is 1. */
const shape = (hour: number) => 0.15 + (hour >= 6 && hour < 23 ? Math.sin((Math.PI * (hour - 6)) / 17) : 0);
const RHYTHM_MEAN = Array.from({ length: 24 * 60 }, (_, minute) => shape(minute / 60)).reduce((a, b) => a + b) / (24 * 60);

export function rhythm(t: number): number {
  return shape((t % DAY) / HOUR) / RHYTHM_MEAN;
}
const RHYTHM_MAX = (0.15 + 1) / RHYTHM_MEAN;

/**
 * Bad rate of a touchpoint at time t under the scenario's incidents. Incidents only
 * make things worse: where several apply, the highest rate wins, whatever their order.
 */
export function badRateAt(tp: Touchpoint, incidents: readonly Incident[], start: number, t: number): { rate: number; outage: boolean } {
  let rate = tp.quality.bad;
  let outage = false;
  const rel = t - start;
  for (const i of incidents) {
    if (rel < i.start || rel >= i.end) continue;
    if (i.kind === 'outage') outage ||= i.channel === tp.channel;
    else if (i.kind === 'leg' && i.leg === tp.leg) rate = Math.max(rate, i.level);
    else if (i.kind === 'step' && i.touchpoint === tp.touchpoint) rate = Math.max(rate, i.level);
    else if (i.kind === 'drift' && i.touchpoint === tp.touchpoint) {
      rate = Math.max(rate, tp.quality.bad + ((i.level - tp.quality.bad) * (rel - i.start)) / (i.end - i.start));
    }
  }
  return { rate, outage };
}

/** Whether a touchpoint's events are lost at time t (a silence incident on it or its channel). */
export function silencedAt(tp: Touchpoint, incidents: readonly Incident[], start: number, t: number): boolean {
  const rel = t - start;
  return incidents.some((i) => i.kind === 'silence' && rel >= i.start && rel < i.end && (i.channel === tp.channel || i.touchpoint === tp.touchpoint));
}

function ratingFor(scale: RatingScale, answer: Answer, random: () => number): Rating {
  const s = RATING_SCALES[scale];
  const between = (lo: number, hi: number) => (s.integral ? lo + Math.floor(random() * (hi - lo + 1)) : Math.round((lo + random() * (hi - lo)) * 10) / 10);
  const step = s.integral ? 1 : 0.1;
  const value =
    answer === 'bad' ? between(s.min, s.badMax)
    : answer === 'impressed' ? between(s.topMin, s.max)
    : answer === 'good' ? between(s.goodMin, Math.max(s.goodMin, s.topMin - step))
    // BINARY has no neutral answer: a neutral customer still says yes.
    : s.goodMin - s.badMax <= step ? s.goodMin
    : between(s.badMax + step, s.goodMin - step);
  return { scale, value };
}

/**
 * The outcome model. At the end of a journey one draw u decides the outcome:
 *
 *   pChurn   = 0.02 + 0.35·badShare + 0.08·[a bad experience at a moment of truth]
 *   pOutcome = pChurn + (0.02 + 0.45·badShare) + 0.55·(1 - badShare)
 *   u < pChurn: CHURNED; else u < pOutcome: COMPLAINED or REPURCHASED; else no outcome.
 *
 * badShare is the journey's share of bad experiences. Which of COMPLAINED and
 * REPURCHASED a non-churn outcome is follows how the customer feels at the journey's
 * end, and there moments of truth are decisive. What they feel is their memory of
 * every experience so far, the journey just ended counting most:
 *
 *   v = Σ w_k x_k d_k / Σ w_k d_k,  w_k = MOT_OUTCOME_WEIGHT (4) at a moment of truth,
 *       1 elsewhere,  d_k = 2^(-(t - t_k) / FELT_HALF_LIFE (1 h)) for bad and non-bad
 *       experiences alike  (no experience yet: v = 0.7)
 *
 * and the outcome is a complaint with probability σ(12·(0.55 - v)), else a repurchase.
 * So one experience at a moment of truth moves the outcome as much as four elsewhere,
 * the touchpoints flagged moment_of_truth are the key drivers a calibration should find
 * (docs/metrics.md, "Outcome calibration and key drivers"), and a bad experience weighs
 * no more, and is remembered no longer, than any other in this part of the model.
 *
 * Churn and the chance of any outcome are as they were before the felt value came in,
 * and u is the same single draw, so every touchpoint event (and every id) is the same
 * as then: only the COMPLAINED / REPURCHASED split moved.
 */
export const MOT_OUTCOME_WEIGHT = 4;
export const FELT_HALF_LIFE_MS = HOUR;
const FELT_EMPTY = 0.7;
const COMPLAINT_MIDPOINT = 0.55;
const COMPLAINT_STEEPNESS = 12;

/** The outcome of a journey that just ended, from the one draw u in [0, 1). The ratio feltX / feltW needs no decay to the end: one half-life fades both alike. */
export function journeyOutcome(j: { experiences: number; bad: number; badAtMomentOfTruth: boolean; feltX: number; feltW: number }, u: number): OutcomeEvent['kind'] | null {
  const badShare = j.experiences ? j.bad / j.experiences : 0;
  const pChurn = 0.02 + 0.35 * badShare + (j.badAtMomentOfTruth ? 0.08 : 0);
  // Summed as before the felt value came in, term by term, so the same u gives an outcome or not as then.
  const pOutcome = pChurn + (0.02 + 0.45 * badShare) + 0.55 * (1 - badShare);
  if (u < pChurn) return 'CHURNED';
  if (u >= pOutcome) return null;
  const felt = j.feltW > 0 ? j.feltX / j.feltW : FELT_EMPTY;
  const pComplaint = 1 / (1 + Math.exp(-COMPLAINT_STEEPNESS * (COMPLAINT_MIDPOINT - felt)));
  // u is uniform on [pChurn, pOutcome) here: its place in that span is the second chance.
  return (u - pChurn) / (pOutcome - pChurn) < pComplaint ? 'COMPLAINED' : 'REPURCHASED';
}

/** x of an experience (docs/metrics.md, "Experience value and class"): of the rating, or 0 for an unrated bad one. */
function experienceValue(rating: Rating | null): number {
  if (!rating) return 0;
  const s = RATING_SCALES[rating.scale];
  return (rating.value - s.min) / (s.max - s.min);
}

interface CustomerState {
  journey: number;
  stage: number;
  stepsLeft: number;
  lastBadAt: number | null;
  lastWasBad: boolean;
  experiences: number;
  bad: number;
  badAtMomentOfTruth: boolean;
  /** What the customer feels: Σ w x d and Σ w d, decayed to feltAt (journeyOutcome). */
  feltX: number;
  feltW: number;
  feltAt: number;
}

export interface SimulateOptions {
  scenario: Scenario;
  catalogue?: Touchpoint[];
}

/** The scenario's events, in event-time order. Same scenario and seed, same events. */
export function* simulate({ scenario, catalogue = CATALOGUE }: SimulateOptions): Generator<SimEvent> {
  const random = seededRandom(scenario.seed);
  const end = scenario.start + scenario.duration;
  const byStage = STAGES.map((stage) => catalogue.filter((tp) => tp.stage === stage));
  const customers = new Map<number, CustomerState>();
  // A churned customer never comes back: the slot is taken by a new customer with a new id.
  const generation = new Map<number, number>();
  // Ids depend on the run (name, seed, start) and the event's place in it: two runs never share one.
  const run = `${scenario.name}:${scenario.seed}:${scenario.start}`;
  let index = 0;
  const nextId = () => uuidOf(`${run}:${index++}`);
  const lambdaMax = (scenario.rate * (scenario.dailyRhythm ? RHYTHM_MAX : 1)) / 1000; // per ms
  let t = scenario.start;

  for (;;) {
    // Poisson arrivals at rate * rhythm(t), by thinning.
    t += -Math.log(1 - random()) / lambdaMax;
    if (t >= end) return;
    if (scenario.dailyRhythm && random() * RHYTHM_MAX > rhythm(t)) continue;
    const at = Math.floor(t);

    const n = Math.floor(random() * scenario.customers);
    let c = customers.get(n);
    if (!c) {
      // Customers are met mid-journey, so every stage has traffic from the first minute.
      // And with a past: as many of them as in a steady state had a bad last experience,
      // so the bad rate does not creep up over the first hours while contagion builds.
      const pastBad = random() < STEADY_PAST_BAD;
      c = { journey: 0, stage: Math.floor(random() * STAGES.length), stepsLeft: 1 + Math.floor(random() * 2), lastBadAt: pastBad ? at : null, lastWasBad: pastBad, experiences: 0, bad: 0, badAtMomentOfTruth: false, feltX: 0, feltW: 0, feltAt: at };
      customers.set(n, c);
    }
    const gen = generation.get(n);
    const customer_id = gen ? `cust-${n}.${gen}` : `cust-${n}`;
    const journey_id = `${customer_id}-j${c.journey}`;

    const tp = pickWeighted(byStage[c.stage] as Touchpoint[], (x) => x.weight, random);
    const { rate, outage } = badRateAt(tp, scenario.incidents, scenario.start, at);
    const recentlyBad = c.lastWasBad && c.lastBadAt !== null && at - c.lastBadAt <= CONTAGION_WINDOW;
    const pBad = outage ? 1 : recentlyBad ? rate + (1 - rate) * scenario.contagion : rate;
    const q = tp.quality;
    const answer: Answer =
      random() < pBad ? 'bad' : pickWeighted(['neutral', 'good', 'impressed'] as const, (a) => q[a], random);
    const rated = !outage && tp.scale !== null && random() < tp.responseRate;
    const rating = rated ? ratingFor(tp.scale as RatingScale, answer, random) : null;
    const outcome: TouchpointEvent['outcome'] = outage ? 'FAILED' : !rated && answer === 'bad' ? tp.failure : 'OK';

    // A silence loses the event, not the visit: the customer's journey goes on as it would have,
    // and the id is drawn all the same, so every other event keeps its own.
    const event_id = nextId();
    if (!silencedAt(tp, scenario.incidents, scenario.start, at)) yield {
      kind: 'touchpoint',
      event: {
        event_id,
        occurred_at: at,
        customer_id,
        journey_id,
        channel: tp.channel,
        touchpoint: tp.touchpoint,
        leg: tp.leg,
        stage: tp.stage,
        department: tp.department,
        moment_of_truth: tp.momentOfTruth,
        rating,
        outcome,
        attributes: { simulation: scenario.name },
      },
    };

    // An unrated OK visit is traffic: it tells nothing of how the customer felt.
    const experienced = rated || answer === 'bad';
    if (experienced) {
      c.experiences++;
      const w = tp.momentOfTruth ? MOT_OUTCOME_WEIGHT : 1;
      const fade = 2 ** (-(at - c.feltAt) / FELT_HALF_LIFE_MS);
      c.feltX = c.feltX * fade + w * experienceValue(rating);
      c.feltW = c.feltW * fade + w;
      c.feltAt = at;
      c.lastWasBad = answer === 'bad';
      if (answer === 'bad') {
        c.bad++;
        c.lastBadAt = at;
        if (tp.momentOfTruth) c.badAtMomentOfTruth = true;
      }
    }

    if (--c.stepsLeft > 0) continue;
    c.stage++;
    c.stepsLeft = 1 + Math.floor(random() * 2);
    if (c.stage < STAGES.length) continue;

    // The journey is over: how it went decides what the customer does next.
    const badShare = c.experiences ? c.bad / c.experiences : 0;
    const kind = journeyOutcome(c, random());
    if (kind) {
      yield {
        kind: 'outcome',
        event: { event_id: nextId(), occurred_at: at, customer_id, journey_id, kind, rating: null, attributes: { simulation: scenario.name, bad_share: badShare.toFixed(2) } },
      };
    }
    if (kind === 'CHURNED') {
      customers.delete(n);
      generation.set(n, (gen ?? 0) + 1);
    }
    else Object.assign(c, { journey: c.journey + 1, stage: 0, experiences: 0, bad: 0, badAtMomentOfTruth: false });
  }
}

/** What was injected, for scoring detection later: absolute times, the touchpoints hit and their normal bad rate. */
export function groundTruth(scenario: Scenario, catalogue = CATALOGUE) {
  return {
    scenario: scenario.name,
    seed: scenario.seed,
    start: new Date(scenario.start).toISOString(),
    end: new Date(scenario.start + scenario.duration).toISOString(),
    // Only what actually ran: incidents past the end are left out, and one that runs over is cut at the end.
    incidents: scenario.incidents.flatMap((i, n) => {
      if (i.start >= scenario.duration) return [];
      const end = Math.min(i.end, scenario.duration);
      const hit = catalogue.filter((tp) =>
        i.kind === 'outage' ? tp.channel === i.channel
        : i.kind === 'leg' ? tp.leg === i.leg
        : i.kind === 'silence' ? tp.channel === i.channel || tp.touchpoint === i.touchpoint
        : tp.touchpoint === i.touchpoint,
      );
      return [{
        id: `${scenario.name}-${n + 1}`,
        kind: i.kind,
        start: new Date(scenario.start + i.start).toISOString(),
        end: new Date(scenario.start + end).toISOString(),
        ...(end < i.end ? { cut_at_scenario_end: true } : {}),
        magnitude: i.kind === 'outage' || i.kind === 'silence' ? 1 : i.level,
        touchpoints: hit.map((tp) => ({ channel: tp.channel, touchpoint: tp.touchpoint, leg: tp.leg, baseline_bad_rate: tp.quality.bad })),
        ...(i.kind === 'outage' ? { channel: i.channel }
          : i.kind === 'leg' ? { leg: i.leg }
          : i.kind === 'silence' ? (i.channel ? { channel: i.channel } : { touchpoint: i.touchpoint as string })
          : { touchpoint: i.touchpoint }),
      }];
    }),
  };
}

/**
 * The first `count` events of a plain scenario (no incidents, flat traffic), for
 * tests and benchmarks that need realistic valid events and nothing else.
 */
export function takeSimulated(o: Partial<Scenario>, count: number): SimEvent[] {
  const scenario: Scenario = { ...validateScenario({}), duration: 365 * DAY, dailyRhythm: false, ...o };
  const out: SimEvent[] = [];
  for (const e of simulate({ scenario })) {
    if (out.length >= count) break;
    out.push(e);
  }
  return out;
}
