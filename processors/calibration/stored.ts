/**
 * Stored calibrations (migrations/0004_calibration_dedup.sql): `cx calibrate` saves
 * each fit and may activate it; `cx process`, `npm start` and `cx rebuild` read the
 * active one (or the one named) as memory weights (processors/params.ts, Calibration).
 */
import { z } from 'zod';
import type { Calibration } from '../params.ts';
import { chTime } from '../runtime/rawRows.ts';
import type { Store } from '../../platform/clickhouse/store.ts';

const parametersSchema = z.object({
  touchpointWeights: z.record(z.string(), z.number().nonnegative().finite()),
  badWeight: z.number().positive().finite(),
  halfLifeDays: z.number().positive().finite(),
  badFactor: z.number().positive().finite(),
});

/** One row of the key-driver table: a touchpoint's fitted weight, its bootstrap interval, and what the held-out AUC loses without it. */
export interface KeyDriver {
  touchpoint: string;
  leg: string;
  department: string;
  weight: number;
  /** 95% bootstrap interval of the weight. */
  low: number;
  high: number;
  /** Held-out AUC of the calibrated memory with this touchpoint left out, and the fall from the full model's. */
  aucWithout: number;
  aucFall: number;
  experiences: number;
  badShare: number;
}

/** "Where do we start": the held-out rise of the good-outcome rate if this touchpoint's bad share fell to the median touchpoint's. */
export interface StartingPoint {
  rank: number;
  touchpoint: string;
  leg: string;
  department: string;
  badShare: number;
  medianBadShare: number;
  /** Rise of the good-outcome rate, as a share (0.012 = 1.2 points), with its 95% bootstrap interval. */
  rise: number;
  low: number;
  high: number;
}

export type ScoreModel = 'plain_mean' | 'default_memory' | 'calibrated_memory';

/** The held-out comparison: each score's AUC of predicting a good outcome, and its log loss. */
export interface HeldOut {
  customers: number;
  samples: number;
  goodRate: number;
  models: { model: ScoreModel; auc: number; logLoss: number }[];
}

/** A row of `calibrations`, as `cx calibrate` writes it (JSON columns as values). */
export interface CalibrationRecord {
  id: string;
  createdAt: number;
  outcome: string;
  seed: number;
  trainShare: number;
  windowFrom: number;
  windowTo: number;
  customers: number;
  experiences: number;
  /** The memory weights, plus the bad weight's 95% bootstrap interval (null without a bootstrap). */
  parameters: Omit<Calibration, 'id'> & { badWeightLow?: number | null; badWeightHigh?: number | null };
  heldout: HeldOut;
  keyDrivers: KeyDriver[];
  whereToStart: StartingPoint[];
}

export class CalibrationNotFoundError extends Error {
  override name = 'CalibrationNotFoundError';
}

export async function saveCalibration(store: Store, r: CalibrationRecord): Promise<void> {
  await store.insert(`${store.database}.calibrations`, [{
    id: r.id, created_at: chTime(r.createdAt), outcome: r.outcome, seed: r.seed, train_share: r.trainShare,
    window_from: chTime(r.windowFrom), window_to: chTime(r.windowTo), customers: r.customers, experiences: r.experiences,
    parameters: JSON.stringify(r.parameters), heldout: JSON.stringify(r.heldout),
    key_drivers: JSON.stringify(r.keyDrivers), where_to_start: JSON.stringify(r.whereToStart),
  }], `calibration:${r.id}`);
}

/** Makes `id` the active calibration ('' goes back to the defaults). */
export async function activateCalibration(store: Store, id: string, at = Date.now()): Promise<void> {
  if (id !== '') await calibrationById(store, id);
  await store.insert(`${store.database}.calibration_activations`, [{ activated_at: chTime(at), calibration_id: id }], `calibration-activation:${id}:${at}`);
}

/** The calibration stored under `id`, as memory weights; throws CalibrationNotFoundError naming it. */
export async function calibrationById(store: Store, id: string): Promise<Calibration> {
  const [row] = await store.query<{ parameters: string }>(
    `SELECT parameters FROM ${store.database}.calibrations FINAL WHERE id = {id:String} LIMIT 1`, { id },
  );
  if (!row) throw new CalibrationNotFoundError(`no calibration "${id}" in ${store.database}.calibrations (\`npx cx calibrate --list\` shows them)`);
  const p = parametersSchema.parse(JSON.parse(row.parameters));
  return { id, ...p };
}

/** The id of the active calibration, or '' when none is (the defaults). */
export async function activeCalibrationId(store: Store): Promise<string> {
  const [row] = await store.query<{ id: string }>(
    `SELECT argMax(calibration_id, activated_at) AS id, count() AS c FROM ${store.database}.calibration_activations HAVING c > 0`,
  );
  return row?.id ?? '';
}

/** The active calibration, or null for the defaults. */
export async function activeCalibration(store: Store): Promise<Calibration | null> {
  const id = await activeCalibrationId(store);
  return id === '' ? null : calibrationById(store, id);
}

/** A stored calibration as `cx calibrate list` shows it. */
export type CalibrationSummary = Pick<CalibrationRecord, 'id' | 'createdAt' | 'outcome' | 'seed' | 'trainShare' | 'windowFrom' | 'windowTo' | 'customers' | 'experiences' | 'heldout'> & {
  parameters: Omit<Calibration, 'id'>;
  active: boolean;
};

/** Every stored calibration, newest first, the active one marked. */
export async function listCalibrations(store: Store): Promise<CalibrationSummary[]> {
  const active = await activeCalibrationId(store);
  const rows = await store.query<Record<string, string | number>>(
    `SELECT id, toUnixTimestamp64Milli(created_at) AS created_at, outcome, seed, train_share,
            toUnixTimestamp64Milli(window_from) AS window_from, toUnixTimestamp64Milli(window_to) AS window_to,
            customers, experiences, parameters, heldout
     FROM ${store.database}.calibrations FINAL ORDER BY created_at DESC, id`,
  );
  return rows.map((r) => ({
    id: String(r.id),
    createdAt: Number(r.created_at),
    outcome: String(r.outcome),
    seed: Number(r.seed),
    trainShare: Number(r.train_share),
    windowFrom: Number(r.window_from),
    windowTo: Number(r.window_to),
    customers: Number(r.customers),
    experiences: Number(r.experiences),
    parameters: parametersSchema.parse(JSON.parse(String(r.parameters))),
    heldout: JSON.parse(String(r.heldout)) as HeldOut,
    active: String(r.id) === active,
  }));
}
