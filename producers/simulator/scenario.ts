/**
 * Simulation scenarios: the traffic to simulate and the incidents to inject, read
 * from YAML or JSON and validated with zod. Errors name the file, the field path
 * (or line and column for a syntax error) and what was expected.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { CHANNEL_SYMBOLS, LEG_SYMBOLS } from '../../schemas/contracts.ts';
import { CATALOGUE } from './catalogue.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "15m", "2h", "4h30m", "7d", "250ms", or a number of seconds. */
export function parseDuration(v: string | number): number {
  if (typeof v === 'number') return Math.round(v * 1000);
  const text = v.trim();
  if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(text)) return Number.NaN;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(n) * (UNIT_MS[unit as string] as number);
  return Math.round(ms);
}

const duration = z
  .union([z.number().nonnegative(), z.string()])
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (!Number.isFinite(ms) || ms < 0) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 90s, 15m, 2h30m or 7d, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  });

const probability = z.number({ error: 'expected a number from 0 to 1' }).min(0, { error: 'expected a number from 0 to 1' }).max(1, { error: 'expected a number from 0 to 1' });
const touchpointNames = [...new Set(CATALOGUE.map((t) => t.touchpoint))];
const touchpointName = z.string().refine((t) => touchpointNames.includes(t), { error: `expected one of the simulated touchpoints: ${touchpointNames.join(', ')}` });
const window = { start: duration, end: duration };

export const incidentSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('step'), touchpoint: touchpointName, ...window, level: probability }).strict(),
    z.object({ kind: z.literal('drift'), touchpoint: touchpointName, ...window, level: probability }).strict(),
    z.object({ kind: z.literal('outage'), channel: z.enum(CHANNEL_SYMBOLS), ...window }).strict(),
    z.object({ kind: z.literal('leg'), leg: z.enum(LEG_SYMBOLS), ...window, level: probability }).strict(),
    // Events stop arriving (a dead collector, a removed tag): the visits still happen, their events are lost.
    z.object({ kind: z.literal('silence'), channel: z.enum(CHANNEL_SYMBOLS).optional(), touchpoint: touchpointName.optional(), ...window }).strict(),
  ], { error: 'expected kind: step, drift, outage, leg or silence' })
  .refine((i) => i.end > i.start, { error: 'end must come after start', path: ['end'] })
  .refine((i) => i.kind !== 'silence' || (i.channel === undefined) !== (i.touchpoint === undefined), { error: 'a silence names either a channel or a touchpoint' });

export const scenarioSchema = z
  .object({
    name: z.string().min(1).default('baseline'),
    description: z.string().optional(),
    /** Event time of the first event. */
    start: z.iso.datetime({ offset: true, error: 'expected an ISO 8601 time, e.g. 2026-11-02T00:00:00Z' }).default('2026-11-02T00:00:00Z').transform((s) => Date.parse(s)),
    duration: duration.default(3_600_000),
    /** Mean events per second of event time, over a day. */
    rate: z.number({ error: 'expected events per second, more than 0' }).positive({ error: 'expected events per second, more than 0' }).default(20),
    customers: z.number({ error: 'expected a whole number of customers, at least 1' }).int({ error: 'expected a whole number of customers, at least 1' }).positive({ error: 'expected a whole number of customers, at least 1' }).default(5_000),
    seed: z.number().int().nonnegative().default(1),
    /** After a bad experience, this share of the remaining chance of a good one turns bad (the death spiral's pull). */
    contagion: probability.default(0.2),
    /** Traffic follows a daily rhythm (quiet at night, peak early afternoon). */
    dailyRhythm: z.boolean().default(true),
    incidents: z.array(incidentSchema).default([]),
  })
  .strict()
  .superRefine((s, ctx) => {
    s.incidents.forEach((i, n) => {
      if (i.start >= s.duration) ctx.addIssue({ code: 'custom', path: ['incidents', n, 'start'], message: 'starts after the scenario ends (see duration)' });
    });
  });

export type Incident = z.output<typeof incidentSchema>;
export type Scenario = z.output<typeof scenarioSchema>;

export class ScenarioError extends Error {
  override name = 'ScenarioError';
}

/** Validates a parsed scenario; `where` names its source in errors. */
export function validateScenario(raw: unknown, where = 'scenario'): Scenario {
  const r = scenarioSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
  throw new ScenarioError(`${where} is not a valid scenario:\n${lines.join('\n')}`);
}

export function readScenario(file: string): Scenario {
  const doc = parseDocument(readFileSync(file, 'utf8'), { prettyErrors: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const pos = e?.linePos?.[0];
    throw new ScenarioError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML or JSON: ${e?.message.split('\n')[0]}`);
  }
  return validateScenario(doc.toJS(), file);
}
