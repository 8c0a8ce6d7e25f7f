import { createHash } from 'node:crypto';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { InvalidArgumentError, type Command } from 'commander';
import {
  activateCalibration, activeCalibrationId, calibrationById, listCalibrations, saveCalibration,
  type CalibrationRecord, type CalibrationSummary, type ScoreModel,
} from '../../processors/calibration/stored.ts';
import type { Store } from '../../platform/clickhouse/store.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { metricParams, openMigratedStore } from '../../pipeline/compose.ts';
import { calibrate, formatDays, type CalibrationFit } from '../../processors/calibration/calibrate.ts';
import { parseOutcomeRule } from '../../processors/calibration/outcomeRules.ts';
import { readCalibrationData, type StoredCalibrationData } from '../../processors/calibration/readCalibrationData.ts';
import { numberOption } from '../options.ts';

interface CalibrateOptions {
  good?: string;
  bad?: string;
  from?: string;
  to?: string;
  seed: number;
  trainShare: number;
  bootstrap: number;
  activate?: boolean;
  json?: boolean;
  list?: boolean;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const f3 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? '-' : n.toFixed(3));
const f2 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? '-' : n.toFixed(2));
const pct = (n: number) => `${(100 * n).toFixed(1)}%`;
const points = (n: number) => (Number.isNaN(n) ? '-' : `${n >= 0 ? '+' : ''}${(100 * n).toFixed(2)}`);
const iso = (ms: number) => new Date(ms).toISOString();
const MODEL_NAMES: Record<ScoreModel, string> = { plain_mean: 'plain mean', default_memory: 'default memory', calibrated_memory: 'calibrated memory' };

function timeOption(name: string) {
  return (value: string): number => {
    const t = Date.parse(value);
    if (!/^\d{4}-\d{2}-\d{2}/.test(value) || !Number.isFinite(t)) throw new InvalidArgumentError(`expected an ISO 8601 time, e.g. 2026-11-02T00:00:00Z (${name})`);
    return t;
  };
}

function shareOption(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError('expected a share of customers between 0 and 1, e.g. 0.5');
  return n;
}

function table(head: string[], rows: (string | number)[][], align?: ('left' | 'right')[]): string {
  const t = new Table({ head, style: { head: [], border: [] }, ...(align ? { colAligns: align } : {}), chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } });
  for (const r of rows) t.push(r.map(String));
  return t.toString();
}

/**
 * While the fit runs: a bar on a terminal; otherwise (a log, CI) a line every 5 s.
 * The fit is synchronous, so the bar redraws from update() rather than its timer.
 */
function progressDisplay() {
  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        { stream: process.stderr, format: 'calibrating {bar} {percentage}% | {value}/{total} | {stage}', hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let started = false;
  let lastLine = Date.now();
  return {
    update(p: { stage: string; done: number; total: number }) {
      if (bar) {
        if (!started) bar.start(p.total, 0, { stage: p.stage });
        started = true;
        bar.update(p.done, { stage: p.stage });
      } else if (Date.now() - lastLine >= 5000 || p.done === p.total) {
        lastLine = Date.now();
        process.stderr.write(`calibrate: ${p.done}/${p.total} steps (${Math.floor((100 * p.done) / p.total)}%): ${p.stage}\n`);
      }
    },
    stop() {
      if (bar && started) bar.stop();
    },
  };
}

/** The id: a hash of what was asked and what came out, so the same data and options give the same id. */
function calibrationIdOf(inputs: object, fit: CalibrationFit): string {
  const text = JSON.stringify({ inputs, parameters: fit.parameters, heldout: fit.heldout, keyDrivers: fit.keyDrivers, whereToStart: fit.whereToStart, customers: fit.customers, experiences: fit.experiences });
  return `cal-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
}

/** "Does bad weigh more than good for us": the answer the bad weight's interval gives. */
function badWeightVerdict(b: number, low: number, high: number): string {
  if (Number.isNaN(low)) return b > 1 ? 'more than a non-bad one (no bootstrap: no interval)' : 'less than a non-bad one (no bootstrap: no interval)';
  if (low > 1) return 'more than a non-bad one at the same touchpoint: the interval is above 1';
  if (high < 1) return 'less than a non-bad one at the same touchpoint: the interval is below 1';
  return 'not clearly more or less than a non-bad one: the interval contains 1';
}

function printFit(id: string, read: StoredCalibrationData, fit: CalibrationFit, o: CalibrateOptions, activated: boolean, where: string): void {
  const out: string[] = [];
  const ignored = Object.entries(read.outcomes.ignored).map(([k, n]) => `${fmt(n as number)} ${k}`).join(', ');
  out.push(`Calibration ${id}, from ${where}`);
  out.push(`Outcomes: ${read.labels.describe}: ${fmt(read.outcomes.good)} good, ${fmt(read.outcomes.bad)} bad of ${fmt(read.outcomes.total)}` +
    `${ignored ? `; ignored (neither rule): ${ignored}` : '; none ignored'}` +
    `${fit.withoutExperiences ? `; ${fmt(fit.withoutExperiences)} left out with no experience before them` : ''}.`);
  out.push(`Data: ${fmt(fit.experiences)} experiences of ${fmt(fit.customers)} customers, ${iso(fit.windowFrom)} to ${iso(fit.windowTo)}.`);
  out.push(`Split by customer (seed ${o.seed}, train share ${o.trainShare}): training ${fmt(fit.training.customers)} customers, ${fmt(fit.training.samples)} outcomes; ` +
    `held out ${fmt(fit.heldout.customers)} customers, ${fmt(fit.heldout.samples)} outcomes (${pct(fit.heldout.goodRate)} good).`);
  out.push(`h and r: ${fit.timeScales.note}.`);
  out.push('');
  out.push('Held-out prediction of a good outcome (log loss: each score\'s own P(good) = σ(a + b·score), fitted on training):');
  out.push(table(['score', 'AUC', 'log loss'], fit.heldout.models.map((m) => [MODEL_NAMES[m.model], f3(m.auc), f3(m.logLoss)]), ['left', 'right', 'right']));
  out.push('');
  out.push(`Bad experience weight B = ${f2(fit.parameters.badWeight)} (95% interval ${f2(fit.badWeightLow)} to ${f2(fit.badWeightHigh)}, ${o.bootstrap} bootstrap resamples): ` +
    `a bad experience weighs ${badWeightVerdict(fit.parameters.badWeight, fit.badWeightLow, fit.badWeightHigh)}.`);
  out.push('');
  out.push('Key drivers (weights: mean over training experiences = 1; held-out AUC of the calibrated memory with the touchpoint left out):');
  out.push(table(
    ['touchpoint', 'leg', 'department', 'weight', '95% interval', 'AUC without', 'AUC fall', 'experiences', 'bad share'],
    fit.keyDrivers.map((k) => [k.touchpoint, k.leg, k.department, f2(k.weight), `${f2(k.low)} to ${f2(k.high)}`, f3(k.aucWithout), f3(k.aucFall), fmt(k.experiences), pct(k.badShare)]),
    ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
  ));
  out.push('');
  const median = fit.whereToStart[0]?.medianBadShare ?? Number.NaN;
  out.push(`Where do we start: the held-out rise of the good-outcome rate (points) if a touchpoint's bad share (per visit) fell to the median touchpoint's, ${pct(median)}:`);
  out.push(table(
    ['rank', 'touchpoint', 'department', 'bad share', 'rise', '95% interval'],
    fit.whereToStart.map((s) => [s.rank, s.touchpoint, s.department, pct(s.badShare), points(s.rise), s.badShare > s.medianBadShare ? `${points(s.low)} to ${points(s.high)}` : 'at or below the median']),
    ['right', 'left', 'left', 'right', 'right', 'right'],
  ));
  out.push('');
  out.push(`Stored as ${id} in the calibrations table.`);
  out.push(activated
    ? `Active now: \`cx process\` and \`npm start\` use its weights from their next start; \`npx cx rebuild\` recomputes history with them (\`npx cx calibrate activate none\` goes back to the defaults).`
    : `Activate it with \`npx cx calibrate activate ${id}\` (then \`cx process\` and \`npm start\` use its weights from their next start, and \`npx cx rebuild\` brings history to them), or rerun with --activate.`);
  process.stdout.write(`${out.join('\n')}\n`);
}

/** NaN (an interval without a bootstrap) as null, as JSON has it. */
const json = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2);

async function runFit(o: CalibrateOptions): Promise<void> {
  // Rules and the window are checked before anything is opened.
  if (o.good !== undefined) parseOutcomeRule(o.good, '--good');
  if (o.bad !== undefined) parseOutcomeRule(o.bad, '--bad');
  const from = o.from === undefined ? undefined : timeOption('--from')(o.from);
  const to = o.to === undefined ? undefined : timeOption('--to')(o.to);
  if (from !== undefined && to !== undefined && from >= to) throw new Error(`--from ${o.from} is not before --to ${o.to}`);

  const config = loadConfig();
  const log = createLogger(process.env.LOG_LEVEL ? config.logLevel : 'warn', 'cx-calibrate', config);
  const store = await openMigratedStore(config, log);
  try {
    process.stderr.write(`calibrate: reading outcomes and experiences from ${store.where}, database ${store.database}\n`);
    const read = await readCalibrationData(store, {
      from, to, good: o.good, bad: o.bad,
      onPage: (p) => { if (p.pages > 1) process.stderr.write(`calibrate: read page ${p.page}/${p.pages} (${fmt(p.rows)} experiences)\n`); },
    });
    const progress = progressDisplay();
    let fit: CalibrationFit;
    try {
      fit = calibrate(read.data, { seed: o.seed, trainShare: o.trainShare, bootstrap: o.bootstrap, reference: metricParams(config), onProgress: (p) => progress.update(p) });
    } finally {
      progress.stop();
    }
    const inputs = { outcome: read.labels.stored, from: from ?? null, to: to ?? null, seed: o.seed, trainShare: o.trainShare, bootstrap: o.bootstrap };
    const id = calibrationIdOf(inputs, fit);
    const record: CalibrationRecord = {
      id,
      createdAt: Date.now(),
      outcome: read.labels.stored,
      seed: o.seed,
      trainShare: o.trainShare,
      windowFrom: fit.windowFrom,
      windowTo: fit.windowTo,
      customers: fit.customers,
      experiences: fit.experiences,
      parameters: { ...fit.parameters, badWeightLow: Number.isNaN(fit.badWeightLow) ? null : fit.badWeightLow, badWeightHigh: Number.isNaN(fit.badWeightHigh) ? null : fit.badWeightHigh },
      heldout: fit.heldout,
      keyDrivers: fit.keyDrivers,
      whereToStart: fit.whereToStart,
    };
    await saveCalibration(store, record);
    if (o.activate) await activateCalibration(store, id);
    if (o.json) {
      process.stdout.write(`${json({
        id,
        createdAt: iso(record.createdAt),
        active: Boolean(o.activate),
        outcomes: { rules: read.labels.describe, stored: read.labels.stored, ...read.outcomes, withoutExperiences: fit.withoutExperiences },
        window: { from: from === undefined ? null : iso(from), to: to === undefined ? null : iso(to), dataFrom: iso(fit.windowFrom), dataTo: iso(fit.windowTo) },
        seed: o.seed,
        trainShare: o.trainShare,
        bootstrap: o.bootstrap,
        customers: fit.customers,
        experiences: fit.experiences,
        parameters: fit.parameters,
        badWeight: { weight: fit.parameters.badWeight, low: fit.badWeightLow, high: fit.badWeightHigh },
        timeScales: fit.timeScales,
        logistic: fit.logistic,
        training: fit.training,
        heldout: fit.heldout,
        keyDrivers: fit.keyDrivers,
        whereToStart: fit.whereToStart,
      })}\n`);
    } else {
      printFit(id, read, fit, o, Boolean(o.activate), store.where);
    }
  } finally {
    await store.close();
  }
}

function printList(list: CalibrationSummary[], asJson: boolean): void {
  if (asJson) {
    process.stdout.write(`${json(list.map((c) => ({ ...c, createdAt: iso(c.createdAt), windowFrom: iso(c.windowFrom), windowTo: iso(c.windowTo) })))}\n`);
    return;
  }
  if (list.length === 0) {
    process.stdout.write('No calibrations stored yet: `npx cx calibrate` fits one.\n');
    return;
  }
  const auc = (c: CalibrationSummary, m: ScoreModel) => f3(c.heldout.models.find((x) => x.model === m)?.auc);
  process.stdout.write(`${table(
    ['active', 'id', 'created', 'outcome', 'customers', 'experiences', 'h', 'r', 'bad weight', 'AUC default', 'AUC calibrated'],
    list.map((c) => [c.active ? '*' : '', c.id, iso(c.createdAt), c.outcome, fmt(c.customers), fmt(c.experiences), formatDays(c.parameters.halfLifeDays), c.parameters.badFactor, f2(c.parameters.badWeight), auc(c, 'default_memory'), auc(c, 'calibrated_memory')]),
  )}\n${list.some((c) => c.active) ? '* active: `cx process` and `npm start` use its weights.' : 'None is active: memory uses the defaults.'}\n`);
}

async function withStore<T>(f: (store: Store) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const store = await openMigratedStore(config, createLogger(process.env.LOG_LEVEL ? config.logLevel : 'warn', 'cx-calibrate', config));
  try {
    return await f(store);
  } finally {
    await store.close();
  }
}

export function calibrateCommand(program: Command): void {
  const command = program
    .command('calibrate')
    .description(
      'fit memory\'s weights (per touchpoint, of a bad experience, and h and r where the data spans time) against outcomes on a training share of customers; ' +
        'print the held-out AUC and log loss of the plain mean, the default memory and the calibrated memory, the key-driver table and where to start; ' +
        'store it in the calibrations table (docs/metrics.md, "Outcome calibration and key drivers")',
    )
    .option('--good <rule>', 'outcomes that count as good, e.g. REPURCHASED, RATED:good, \'RATED>=0.8\' (x of the rating); default: RATED:good if there are RATED outcomes, else REPURCHASED')
    .option('--bad <rule>', 'outcomes that count as bad, e.g. CHURNED,COMPLAINED or RATED:bad,RATED:neutral; default: as --good\'s default, or every outcome --good does not match')
    .option('--from <time>', 'use outcomes at or after this ISO time (their customers\' whole history before them counts)')
    .option('--to <time>', 'use outcomes before this ISO time')
    .option('--seed <n>', 'seed of the customer split and the bootstrap (same data and seed, same calibration)', numberOption(0, true), 1)
    .option('--train-share <share>', 'share of customers to fit on; the rest are held out for the comparison', shareOption, 0.5)
    .option('--bootstrap <n>', 'bootstrap resamples for the intervals (0: none)', numberOption(0, true), 50)
    .option('--activate', 'make the new calibration the active one at once')
    .option('--json', 'print one JSON document instead of tables')
    .option('--list', 'list the stored calibrations instead (as `cx calibrate list`)')
    .action(async (o: CalibrateOptions) => {
      if (o.list) return withStore(async (store) => printList(await listCalibrations(store), Boolean(o.json)));
      await runFit(o);
    });

  command
    .command('list')
    .description('the stored calibrations, newest first; * marks the active one')
    .option('--json', 'print JSON instead of a table')
    // `cx calibrate list --json`: commander hands --json to calibrate itself, so read it from either.
    .action((o: { json?: boolean }) => withStore(async (store) => printList(await listCalibrations(store), Boolean(o.json ?? command.opts<CalibrateOptions>().json))));

  command
    .command('activate')
    .description('make a stored calibration the active one (`none`: back to the defaults); `cx process` and `npm start` read it when they start')
    .argument('<id>', 'a calibration id from `cx calibrate list`, or none')
    .action((id: string) =>
      withStore(async (store) => {
        const target = id === 'none' ? '' : id;
        if (target !== '') await calibrationById(store, target);
        await activateCalibration(store, target);
        const now = await activeCalibrationId(store);
        process.stdout.write(now === '' ? 'No calibration is active: memory uses the defaults (m at a moment of truth, h and r from the configuration).\n' : `Active calibration: ${now}.\n`);
        process.stdout.write('Running `cx process` or `npm start` take it at their next start; until `npx cx rebuild`, memory already stored keeps the weights it was built with.\n');
      }),
    );
}
