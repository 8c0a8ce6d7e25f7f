/**
 * The journey simulator: a pure, deterministic generator of touchpoint and outcome
 * events in event-time order, for a scenario. Customers walk journeys through the
 * four stages; each touchpoint answers from its own quality profile; incidents
 * change a touchpoint's, a channel's or a leg's bad rate for a while; a bad
 * experience makes the next one likelier to be bad (contagion); and how a journey
 * went drives whether the customer churns, complains or buys again.
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
const shape = (hour: number) => 0.15 + (hour >= 6 && hour <= 23 ? Math.sin((Math.PI * (hour - 6)) / 17) : 0);
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

interface CustomerState {
  journey: number;
  stage: number;
  stepsLeft: number;
  lastBadAt: number | null;
  lastWasBad: boolean;
  experiences: number;
  bad: number;
  badAtMomentOfTruth: boolean;
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
      c = { journey: 0, stage: Math.floor(random() * STAGES.length), stepsLeft: 1 + Math.floor(random() * 2), lastBadAt: pastBad ? at : null, lastWasBad: pastBad, experiences: 0, bad: 0, badAtMomentOfTruth: false };
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

    yield {
      kind: 'touchpoint',
      event: {
        event_id: nextId(),
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
    const pChurn = 0.02 + 0.35 * badShare + (c.badAtMomentOfTruth ? 0.08 : 0);
    const pComplain = 0.02 + 0.45 * badShare;
    const pRepurchase = 0.55 * (1 - badShare);
    const u = random();
    const kind: OutcomeEvent['kind'] | null =
      u < pChurn ? 'CHURNED' : u < pChurn + pComplain ? 'COMPLAINED' : u < pChurn + pComplain + pRepurchase ? 'REPURCHASED' : null;
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
        i.kind === 'outage' ? tp.channel === i.channel : i.kind === 'leg' ? tp.leg === i.leg : tp.touchpoint === i.touchpoint,
      );
      return [{
        id: `${scenario.name}-${n + 1}`,
        kind: i.kind,
        start: new Date(scenario.start + i.start).toISOString(),
        end: new Date(scenario.start + end).toISOString(),
        ...(end < i.end ? { cut_at_scenario_end: true } : {}),
        magnitude: i.kind === 'outage' ? 1 : i.level,
        touchpoints: hit.map((tp) => ({ channel: tp.channel, touchpoint: tp.touchpoint, leg: tp.leg, baseline_bad_rate: tp.quality.bad })),
        ...(i.kind === 'outage' ? { channel: i.channel } : i.kind === 'leg' ? { leg: i.leg } : { touchpoint: i.touchpoint }),
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
