/**
 * Reads what `cx calibrate` fits on from the store (docs/metrics.md, "Outcome
 * calibration and key drivers"): the labelled OutcomeEvents in the window, and for each
 * customer with one, every experience and visit up to their last outcome in it (all of
 * the customer's history, not only the journey). Read in pages of customers, so a
 * large store does not have to fit in memory as rows.
 */
import type { Store } from '../../platform/clickhouse/store.ts';
import type { OutcomeKind, Rating, RatingScale } from '../../schemas/contracts.ts';
import { experienceOf } from '../experience.ts';
import { CalibrationDataBuilder, type CalibrationData, type ExperienceRow, type OutcomeRow } from './calibrationData.ts';
import { labelOf, outcomeLabels, type OutcomeLabels } from './outcomeRules.ts';

export interface ReadOptions {
  /** Outcomes at or after this (ms), and before `to`. */
  from?: number;
  to?: number;
  good?: string;
  bad?: string;
  /** Experience rows per page (default 250,000). */
  pageRows?: number;
  onPage?: (p: { page: number; pages: number; rows: number }) => void;
}

export interface OutcomeCounts {
  /** Outcome events in the window. */
  total: number;
  good: number;
  bad: number;
  /** Neither good nor bad by the rules, per kind: not used. */
  ignored: Partial<Record<OutcomeKind, number>>;
}

export interface StoredCalibrationData {
  data: CalibrationData;
  labels: OutcomeLabels;
  outcomes: OutcomeCounts;
}

export class NoOutcomesError extends Error {
  override name = 'NoOutcomesError';
}

const ratingOf = (scale: string | null, value: number | null): Rating | null => (scale === null || value === null ? null : { scale: scale as RatingScale, value: Number(value) });

export async function readCalibrationData(store: Store, o: ReadOptions): Promise<StoredCalibrationData> {
  const db = store.database;
  const where = [
    o.from === undefined ? '' : 'occurred_at >= fromUnixTimestamp64Milli({from:Int64})',
    o.to === undefined ? '' : 'occurred_at < fromUnixTimestamp64Milli({to:Int64})',
  ].filter(Boolean);
  const window = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const params = { from: o.from ?? 0, to: o.to ?? 0 };
  const span = o.from === undefined && o.to === undefined ? '' : ` from ${o.from === undefined ? 'the start' : new Date(o.from).toISOString()} to ${o.to === undefined ? 'the end' : new Date(o.to).toISOString()}`;

  const outcomes = await store.query<{ customer_id: string; t: string; kind: OutcomeKind; rating_scale: string | null; rating_value: number | null }>(
    `SELECT customer_id, toUnixTimestamp64Milli(occurred_at) AS t, kind, rating_scale, rating_value FROM ${db}.outcome_events FINAL ${window} ORDER BY customer_id, t`,
    params,
  );
  if (outcomes.length === 0) {
    throw new NoOutcomesError(`no outcome events in ${db}.outcome_events${span}: calibration needs OutcomeEvents (CHURNED, COMPLAINED, REPURCHASED or RATED), stored there by \`cx process\` or \`npm start\`${span ? '; or widen --from/--to' : ''}`);
  }
  const labels = outcomeLabels({ good: o.good, bad: o.bad }, outcomes.some((r) => r.kind === 'RATED'));
  const counts: OutcomeCounts = { total: outcomes.length, good: 0, bad: 0, ignored: {} };
  const labelled = new Map<string, OutcomeRow[]>();
  for (const r of outcomes) {
    const y = labelOf(labels, { kind: r.kind, rating: ratingOf(r.rating_scale, r.rating_value) });
    if (y === null) {
      counts.ignored[r.kind] = (counts.ignored[r.kind] ?? 0) + 1;
      continue;
    }
    if (y === 1) counts.good++;
    else counts.bad++;
    let list = labelled.get(r.customer_id);
    if (!list) labelled.set(r.customer_id, (list = []));
    list.push({ t: Number(r.t), good: y === 1 });
  }

  // Each customer's events up to their last outcome in the window.
  const join = `FROM ${db}.touchpoint_events AS e FINAL
    INNER JOIN (SELECT customer_id, max(occurred_at) AS last FROM ${db}.outcome_events FINAL ${window} GROUP BY customer_id) AS o ON e.customer_id = o.customer_id
    WHERE e.occurred_at <= o.last`;
  const experience = `(e.rating_scale IS NOT NULL OR e.outcome != 'OK')`;
  const [{ n } = { n: '0' }] = await store.query<{ n: string }>(`SELECT count() AS n ${join} AND ${experience}`, params);
  const pages = Math.max(1, Math.ceil(Number(n) / (o.pageRows ?? 250_000)));
  const builder = new CalibrationDataBuilder();
  const seen = new Set<string>();
  for (let page = 0; page < pages; page++) {
    const pageParams = { ...params, pages, page };
    const inPage = pages > 1 ? ' AND cityHash64(e.customer_id) % {pages:UInt64} = {page:UInt64}' : '';
    const rows = await store.query<{ customer_id: string; t: string; touchpoint: string; leg: string; department: string; mot: boolean; rating_scale: string | null; rating_value: number | null; outcome: string }>(
      `SELECT e.customer_id AS customer_id, toUnixTimestamp64Milli(e.occurred_at) AS t, e.touchpoint AS touchpoint, e.leg AS leg, e.department AS department,
              e.moment_of_truth AS mot, e.rating_scale AS rating_scale, e.rating_value AS rating_value, e.outcome AS outcome
       ${join} AND ${experience}${inPage} ORDER BY customer_id, t`,
      pageParams,
    );
    const traffic = await store.query<{ customer_id: string; touchpoint: string; leg: string; department: string; visits: string }>(
      `SELECT e.customer_id AS customer_id, e.touchpoint AS touchpoint, e.leg AS leg, e.department AS department, count() AS visits
       ${join} AND NOT ${experience}${inPage} GROUP BY customer_id, touchpoint, leg, department ORDER BY customer_id, touchpoint, leg, department`,
      pageParams,
    );
    for (const r of traffic) if (labelled.has(r.customer_id)) builder.addTraffic(r.touchpoint, r.leg, r.department, Number(r.visits));
    let current: string | null = null;
    let exps: ExperienceRow[] = [];
    const flush = () => {
      if (current === null) return;
      const outs = labelled.get(current);
      if (outs) {
        builder.addCustomer(current, exps, outs);
        seen.add(current);
      }
    };
    for (const r of rows) {
      if (r.customer_id !== current) {
        flush();
        current = r.customer_id;
        exps = [];
      }
      const x = experienceOf({ rating: ratingOf(r.rating_scale, r.rating_value), outcome: r.outcome as 'OK' }) as { x: number; cls: string };
      exps.push({ t: Number(r.t), touchpoint: r.touchpoint, leg: r.leg, department: r.department, x: x.x, bad: x.cls === 'bad', mot: Boolean(r.mot) });
    }
    flush();
    o.onPage?.({ page: page + 1, pages, rows: rows.length });
  }
  // Customers whose outcomes have no experience before them still count (as samples left out).
  for (const id of [...labelled.keys()].filter((id) => !seen.has(id)).sort()) builder.addCustomer(id, [], labelled.get(id) as OutcomeRow[]);
  return { data: builder.build(), labels, outcomes: counts };
}
