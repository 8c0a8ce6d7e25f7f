/**
 * Which outcomes count as good and which as bad for calibration (docs/metrics.md,
 * "Outcome calibration and key drivers"). A rule is a comma-separated list of terms,
 * and an outcome matches the rule when it matches any of them:
 *
 *   CHURNED, COMPLAINED, REPURCHASED, RATED, OTHER   any outcome of that kind
 *   RATED>=0.8, RATED>0.5, RATED<=0.4, RATED<0.6     a RATED outcome whose rating's x compares so
 *   RATED:good, RATED:impressed, RATED:neutral, RATED:bad   a RATED outcome of that class
 *                                                    (its scale's thresholds; good includes impressed)
 */
import type { OutcomeKind, Rating } from '../../schemas/contracts.ts';
import { OUTCOME_KIND_SYMBOLS } from '../../schemas/contracts.ts';
import { experienceOf, type ExperienceClass } from '../experience.ts';

export interface OutcomeFacts {
  kind: OutcomeKind;
  rating: Rating | null;
}

type Term =
  | { kind: OutcomeKind }
  | { kind: 'RATED'; op: '>=' | '>' | '<=' | '<'; x: number }
  | { kind: 'RATED'; cls: 'good' | 'impressed' | 'neutral' | 'bad' };

export interface OutcomeRule {
  /** The rule as written, normalized (upper-case kinds, no spaces). */
  text: string;
  terms: Term[];
}

export class OutcomeRuleError extends Error {
  override name = 'OutcomeRuleError';
}

const CLASSES = ['good', 'impressed', 'neutral', 'bad'] as const;
const EXPECTED = `expected a comma-separated list of ${OUTCOME_KIND_SYMBOLS.join(', ')}, RATED>=x / RATED>x / RATED<=x / RATED<x (x of the rating, 0 to 1) or RATED:good / RATED:impressed / RATED:neutral / RATED:bad`;

function parseTerm(raw: string, option: string, rule: string): Term {
  const t = raw.trim();
  const where = `${option} "${rule}"`;
  if (t === '') throw new OutcomeRuleError(`${where}: an empty term; ${EXPECTED}`);
  const upper = t.toUpperCase();
  if ((OUTCOME_KIND_SYMBOLS as readonly string[]).includes(upper)) return { kind: upper as OutcomeKind };
  const cmp = /^RATED\s*(>=|>|<=|<)\s*(.*)$/i.exec(t);
  if (cmp) {
    const x = Number(cmp[2]);
    if (cmp[2]?.trim() === '' || !Number.isFinite(x) || x < 0 || x > 1) {
      throw new OutcomeRuleError(`${where}: "${t}" compares with ${JSON.stringify(cmp[2]?.trim())}; expected x of the rating, a number from 0 to 1 (e.g. RATED>=0.8)`);
    }
    return { kind: 'RATED', op: cmp[1] as '>=' | '>' | '<=' | '<', x };
  }
  const cls = /^RATED\s*:\s*(.*)$/i.exec(t);
  if (cls) {
    const c = (cls[1] ?? '').trim().toLowerCase();
    if (!(CLASSES as readonly string[]).includes(c)) throw new OutcomeRuleError(`${where}: "${t}": unknown class "${cls[1]}"; expected RATED:good, RATED:impressed, RATED:neutral or RATED:bad`);
    return { kind: 'RATED', cls: c as (typeof CLASSES)[number] };
  }
  throw new OutcomeRuleError(`${where}: unknown outcome "${t}"; ${EXPECTED}`);
}

const termText = (t: Term): string => ('op' in t ? `RATED${t.op}${t.x}` : 'cls' in t ? `RATED:${t.cls}` : t.kind);

/** Parses `--good` / `--bad` (option names the flag in errors). */
export function parseOutcomeRule(rule: string, option: string): OutcomeRule {
  if (rule.trim() === '') throw new OutcomeRuleError(`${option} "": an empty rule; ${EXPECTED}`);
  const terms = rule.split(',').map((t) => parseTerm(t, option, rule));
  return { text: terms.map(termText).join(','), terms };
}

function classOf(rating: Rating): ExperienceClass {
  return (experienceOf({ rating, outcome: 'OK' }) as { cls: ExperienceClass }).cls;
}

function termMatches(t: Term, o: OutcomeFacts): boolean {
  if (t.kind !== o.kind) return false;
  if ('op' in t) {
    if (!o.rating) return false;
    const x = (experienceOf({ rating: o.rating, outcome: 'OK' }) as { x: number }).x;
    return t.op === '>=' ? x >= t.x : t.op === '>' ? x > t.x : t.op === '<=' ? x <= t.x : x < t.x;
  }
  if ('cls' in t) {
    if (!o.rating) return false;
    const c = classOf(o.rating);
    return t.cls === 'good' ? c === 'good' || c === 'impressed' : c === t.cls;
  }
  return true;
}

export const ruleMatches = (r: OutcomeRule, o: OutcomeFacts): boolean => r.terms.some((t) => termMatches(t, o));

/** The label rules in force; a null side is "every outcome the other side does not match". */
export interface OutcomeLabels {
  good: OutcomeRule | null;
  bad: OutcomeRule | null;
  /** One line for people: e.g. "good = REPURCHASED, bad = CHURNED,COMPLAINED (the default when there are no RATED outcomes)". */
  describe: string;
  /** Stored in `calibrations.outcome`: "GOOD vs BAD". */
  stored: string;
}

const sideText = (r: OutcomeRule | null, other: OutcomeRule | null): string => r?.text ?? `not ${(other as OutcomeRule).text}`;

/**
 * The rules from the options. Neither given: with RATED outcomes in the data, good =
 * RATED:good and bad = RATED:bad,RATED:neutral; otherwise good = REPURCHASED and bad =
 * CHURNED,COMPLAINED. One given: the other is every outcome it does not match.
 */
export function outcomeLabels(opts: { good?: string; bad?: string }, hasRated: boolean): OutcomeLabels {
  let how = '';
  let good: OutcomeRule | null = opts.good === undefined ? null : parseOutcomeRule(opts.good, '--good');
  let bad: OutcomeRule | null = opts.bad === undefined ? null : parseOutcomeRule(opts.bad, '--bad');
  if (!good && !bad) {
    good = parseOutcomeRule(hasRated ? 'RATED:good' : 'REPURCHASED', '--good');
    bad = parseOutcomeRule(hasRated ? 'RATED:bad,RATED:neutral' : 'CHURNED,COMPLAINED', '--bad');
    how = ` (the default when there are ${hasRated ? '' : 'no '}RATED outcomes)`;
  }
  const g = sideText(good, bad);
  const b = sideText(bad, good);
  return { good, bad, describe: `good = ${g}, bad = ${b}${how}`, stored: `${g} vs ${b}` };
}

/** 1 good, 0 bad, null neither (ignored); throws when an outcome matches both rules. */
export function labelOf(l: OutcomeLabels, o: OutcomeFacts): 0 | 1 | null {
  const g = l.good ? ruleMatches(l.good, o) : !ruleMatches(l.bad as OutcomeRule, o);
  const b = l.bad ? ruleMatches(l.bad, o) : !g;
  if (g && b) {
    throw new OutcomeRuleError(
      `an outcome (${o.kind}${o.rating ? ` rated ${o.rating.value} on ${o.rating.scale}` : ''}) matches both --good ${l.good?.text} and --bad ${l.bad?.text}: make the rules exclusive`,
    );
  }
  return g ? 1 : b ? 0 : null;
}
