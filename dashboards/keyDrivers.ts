/**
 * Key drivers: the panels over the active calibration (docs/metrics.md, "Outcome
 * calibration"), which `npx cx calibrate` stores in `calibrations` with its figures as
 * JSON (processors/calibration/stored.ts: KeyDriver, StartingPoint, HeldOut). The
 * active one is the last row of `calibration_activations` ('' = back to the defaults).
 *
 * A calibration is fitted over its own window and stays active until another is: these
 * panels show it whatever the dashboard's time range and variables. Without one, each
 * panel shows one row saying so and how to make one, rather than an error or nothing.
 */
import { loadConfig, type Config } from '../platform/config.ts';
import { tablePanel } from './panels.ts';

type MemoryDefaults = Pick<Config, 'momentOfTruthWeight' | 'memoryHalfLifeDays' | 'badMemoryFactor'>;

/** The database, and the memory defaults the descriptions name (the configuration's own defaults when not given). */
export type KeyDriverConfig = Pick<Config, 'clickhouseDatabase'> & Partial<MemoryDefaults>;

const memoryDefaults = (c: KeyDriverConfig): MemoryDefaults => {
  const d = loadConfig({});
  return { momentOfTruthWeight: c.momentOfTruthWeight ?? d.momentOfTruthWeight, memoryHalfLifeDays: c.memoryHalfLifeDays ?? d.memoryHalfLifeDays, badMemoryFactor: c.badMemoryFactor ?? d.badMemoryFactor };
};

export const NO_CALIBRATION_YET = 'no calibration yet: run npx cx calibrate';
export const NO_CALIBRATION_ACTIVE = 'no calibration active (memory uses the defaults): run npx cx calibrate';

/** The id of the active calibration, as `activeCalibrationId` reads it: '' when none is. */
const activeId = (db: string) => `(SELECT argMax(calibration_id, activated_at) FROM ${db}.calibration_activations)`;

/**
 * `rows` (the active calibration's figures), or, when there is no active calibration, one
 * row whose `message` column (a text one) says so and whose other columns are NULL.
 * `columns` names the columns the panel shows, in order; `rows` returns them and then
 * the `hidden` ones, which only sort. The result is sorted by `orderBy`.
 */
function orNoCalibration(db: string, rows: string, o: { columns: string[]; hidden?: string[]; message: string; orderBy: string }): string {
  const say = `if((SELECT count() FROM ${db}.calibrations) = 0, '${NO_CALIBRATION_YET}', '${NO_CALIBRATION_ACTIVE}')`;
  const state =
    `SELECT ${[...o.columns, ...(o.hidden ?? [])].map((c) => (c === o.message ? `${say} AS ${c}` : `NULL AS ${c}`)).join(', ')}` +
    `\nWHERE (SELECT count() FROM ${db}.calibrations FINAL WHERE id = ${activeId(db)}) = 0`;
  return `SELECT ${o.columns.join(', ')}\nFROM\n(\n${rows}\nUNION ALL\n${state}\n)\nORDER BY ${o.orderBy}`;
}

/** The active calibration's row of `calibrations`, with one row per element of a JSON array column when `arrayJoin` says `json AS name`. */
const activeRow = (db: string, arrayJoin?: string) => `FROM ${db}.calibrations FINAL\n${arrayJoin ? `ARRAY JOIN ${arrayJoin}\n` : ''}WHERE id = ${activeId(db)}`;

export function activeCalibrationPanel(config: KeyDriverConfig) {
  const db = config.clickhouseDatabase;
  const c = memoryDefaults(config);
  const columns = ['calibration', 'fitted_at', 'activated_at', 'good_outcome', 'customers_n', 'experiences_n', 'train_share', 'window_from', 'window_to', 'bad_weight', 'half_life_days', 'bad_factor'];
  const rows =
    `SELECT id AS calibration, created_at AS fitted_at,\n` +
    `       (SELECT max(activated_at) FROM ${db}.calibration_activations) AS activated_at,\n` +
    `       outcome AS good_outcome, customers AS customers_n, experiences AS experiences_n, train_share, window_from, window_to,\n` +
    `       round(JSONExtractFloat(parameters, 'badWeight'), 3) AS bad_weight, round(JSONExtractFloat(parameters, 'halfLifeDays'), 1) AS half_life_days,\n` +
    `       round(JSONExtractFloat(parameters, 'badFactor'), 2) AS bad_factor\n` +
    activeRow(db);
  return tablePanel({
    title: 'Active calibration',
    description:
      'The calibration cx process and npm start weigh memory with: its id, when it was fitted and activated, the outcome counted as good, ' +
      'the customers and experiences of its training window, and the fitted weights that are not per touchpoint: ' +
      `bad_weight (a bad experience's weight relative to another; above 1 bad weighs more, below 1 less), the half-life h and the bad-memory factor r ` +
      `(the defaults: m = ${c.momentOfTruthWeight} at a moment of truth, bad weight 1, h = ${c.memoryHalfLifeDays} days, r = ${c.badMemoryFactor}). ` +
      `With none active it says so: ${NO_CALIBRATION_YET}.`,
    sql: orNoCalibration(db, rows, { columns, message: 'calibration', orderBy: 'calibration' }),
    span: 24, height: 4,
  });
}

/** The scores compared on the held-out customers, in the order they are read. */
const MODELS = [['plain_mean', 'plain mean'], ['default_memory', 'default memory'], ['calibrated_memory', 'calibrated memory']] as const;

export function heldOutComparisonPanel(config: KeyDriverConfig) {
  const db = config.clickhouseDatabase;
  const c = memoryDefaults(config);
  const label = `transform(JSONExtractString(m, 'model'), [${MODELS.map(([k]) => `'${k}'`).join(', ')}], [${MODELS.map(([, v]) => `'${v}'`).join(', ')}], JSONExtractString(m, 'model'))`;
  const rows =
    `SELECT ${label} AS score,\n` +
    `       round(JSONExtractFloat(m, 'auc'), 4) AS held_out_auc, round(JSONExtractFloat(m, 'logLoss'), 4) AS held_out_log_loss,\n` +
    `       JSONExtractUInt(heldout, 'customers') AS held_out_customers, round(JSONExtractFloat(heldout, 'goodRate'), 3) AS good_rate,\n` +
    `       indexOf([${MODELS.map(([k]) => `'${k}'`).join(', ')}], JSONExtractString(m, 'model')) AS model_order\n` +
    activeRow(db, "JSONExtractArrayRaw(heldout, 'models') AS m");
  return tablePanel({
    title: 'Does memory predict outcomes? Held-out comparison',
    description:
      'How well each score tells customers with a good outcome from the others, on the customers the calibration was not fitted on: ' +
      'the AUC (0.5 is a coin toss, 1 is perfect; higher is better) and the log loss (lower is better). ' +
      `The plain mean weighs every experience alike; the default memory is the formula with the defaults (m = ${c.momentOfTruthWeight}, h = ${c.memoryHalfLifeDays} days, r = ${c.badMemoryFactor}); ` +
      'the calibrated memory uses the fitted weights. If the calibrated memory does not beat the plain mean, the weights add nothing for this data.',
    sql: orNoCalibration(db, rows, { columns: ['score', 'held_out_auc', 'held_out_log_loss', 'held_out_customers', 'good_rate'], hidden: ['model_order'], message: 'score', orderBy: 'model_order, score' }),
    span: 10, height: 8,
  });
}

export function keyDriverPanel(config: KeyDriverConfig) {
  const db = config.clickhouseDatabase;
  const c = memoryDefaults(config);
  const rows =
    `SELECT JSONExtractString(d, 'touchpoint') AS touchpoint, JSONExtractString(d, 'leg') AS leg, JSONExtractString(d, 'department') AS department,\n` +
    `       round(JSONExtractFloat(d, 'weight'), 2) AS weight, round(JSONExtractFloat(d, 'low'), 2) AS weight_low, round(JSONExtractFloat(d, 'high'), 2) AS weight_high,\n` +
    `       round(JSONExtractFloat(d, 'aucFall'), 4) AS auc_fall, JSONExtractUInt(d, 'experiences') AS experiences_n, round(100 * JSONExtractFloat(d, 'badShare'), 1) AS bad_share_pct\n` +
    activeRow(db, 'JSONExtractArrayRaw(key_drivers) AS d');
  return tablePanel({
    title: 'Key drivers: which touchpoints move outcomes',
    description:
      'Each touchpoint\'s fitted weight in memory (1 is an ordinary experience; the default gives a moment of truth ' +
      `${c.momentOfTruthWeight} and every other touchpoint 1), with its 95% bootstrap interval (weight_low to weight_high), and auc_fall: how much the held-out AUC ` +
      'falls when the touchpoint is left out. The heaviest first; a weight whose interval holds 1 is not shown to differ from an ordinary experience.',
    sql: orNoCalibration(db, rows, { columns: ['touchpoint', 'leg', 'department', 'weight', 'weight_low', 'weight_high', 'auc_fall', 'experiences_n', 'bad_share_pct'], message: 'touchpoint', orderBy: 'weight DESC, touchpoint' }),
    span: 14, height: 8,
  });
}

export function whereToStartPanel(config: KeyDriverConfig) {
  const db = config.clickhouseDatabase;
  const rows =
    `SELECT JSONExtractUInt(s, 'rank') AS rank_n, JSONExtractString(s, 'touchpoint') AS touchpoint, JSONExtractString(s, 'department') AS department,\n` +
    `       JSONExtractString(s, 'leg') AS leg, round(100 * JSONExtractFloat(s, 'badShare'), 1) AS bad_share_pct,\n` +
    `       round(100 * JSONExtractFloat(s, 'medianBadShare'), 1) AS median_bad_share_pct, round(100 * JSONExtractFloat(s, 'rise'), 2) AS rise_pts,\n` +
    `       round(100 * JSONExtractFloat(s, 'low'), 2) AS rise_low_pts, round(100 * JSONExtractFloat(s, 'high'), 2) AS rise_high_pts\n` +
    activeRow(db, 'JSONExtractArrayRaw(where_to_start) AS s');
  return tablePanel({
    title: 'Where do we start?',
    description:
      'Touchpoints ranked by how much the good-outcome rate would rise, estimated on the held-out customers, if the touchpoint\'s share of bad experiences fell to ' +
      'the median touchpoint\'s: rise_pts in percentage points, with its 95% bootstrap interval (rise_low_pts to rise_high_pts), and the department that owns it. ' +
      'An interval that holds 0 is not shown to help.',
    sql: orNoCalibration(db, rows, { columns: ['rank_n', 'touchpoint', 'department', 'leg', 'bad_share_pct', 'median_bad_share_pct', 'rise_pts', 'rise_low_pts', 'rise_high_pts'], message: 'touchpoint', orderBy: 'rank_n, touchpoint' }),
    span: 24, height: 8,
  });
}
