/**
 * The wide survey example (examples/survey/), as a user runs it, on real Kafka and the
 * real chdb engine:
 *
 * 1. `node --import tsx examples/survey/generate.ts` with the committed seed writes the
 *    committed CSV and mapping again, byte for byte.
 * 2. `npx cx replay` of the CSV through its mapping rejects nothing, and
 *    `npx cx process --until-idle` stores every answer and every label: counted here
 *    from the CSV itself (csv-parse, not the replay's reader), cell by cell.
 * 3. What analysts read agrees with the answers: one memory row per answer with its
 *    value, class and weight; the per-minute cells and the departments add up; each
 *    respondent is one journey whose score is the weighted mean of the answers (all
 *    at one instant, so the memory formula's decay is 1 for every answer).
 * 4. docs/sql.md's key-driver questions from raw data find the generator's truth on
 *    it: its decisive touchpoints have the largest gaps, and a bad answer is best
 *    weighted 0.5 (BAD_WEIGHT), with the AUCs recomputed from the CSV.
 *
 * Nothing here is random: the survey is the committed file.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../platform/clickhouse/store.ts';
import { auc, BAD_WEIGHT, CSV_FILE, DECISIVE, DISSATISFIED, MAPPING_FILE, QUESTIONS, SATISFIED, SURVEY_RESPONDENTS, SURVEY_SEED } from '../../examples/survey/generate.ts';
import { isolatedConfig, said, spawnCx } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SURVEY = join(ROOT, 'examples/survey');
const CSV = join(SURVEY, CSV_FILE);
const MAPPING = join(SURVEY, MAPPING_FILE);
const { env, config } = isolatedConfig({ LOG_LEVEL: 'warn' });
const db = config.clickhouseDatabase;

/** The mapping's view of each question column, read from the committed JSON (what the replay reads). */
interface MappedQuestion { column: string; touchpoint: string; department: string; moment_of_truth?: boolean; scale: string }
const mapping = JSON.parse(readFileSync(MAPPING, 'utf8')) as { layout: { touchpoints: MappedQuestion[]; outcome: { column: string } } };

/** One answer as the CSV has it. */
interface Answer { respondent: string; line: number; q: MappedQuestion; value: number }

/**
 * Counted from the CSV with csv-parse, by the survey's own convention (examples/survey/README.md): 1..5 is an
 * answer, 0 is not applicable, empty is skipped; anything else in a question column fails here.
 */
function answersInCsv(): { answers: Answer[]; labels: Map<string, string>; rows: number } {
  const records = parse(readFileSync(CSV, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  const answers: Answer[] = [];
  const labels = new Map<string, string>();
  records.forEach((r, i) => {
    const respondent = r.respondent_id as string;
    for (const q of mapping.layout.touchpoints) {
      const cell = r[q.column];
      if (cell === '0' || cell === '') continue;
      if (!/^[1-5]$/.test(cell ?? '')) throw new Error(`${CSV_FILE} line ${i + 2}, column ${q.column}: ${JSON.stringify(cell)} is neither an answer 1..5, 0 (not applicable) nor empty`);
      answers.push({ respondent, line: i + 2, q, value: Number(cell) });
    }
    labels.set(respondent, r[mapping.layout.outcome.column] as string);
  });
  return { answers, labels, rows: records.length };
}

const x = (v: number) => (v - 1) / 4;
const classOf = (v: number) => (v <= 2 ? 'bad' : v === 3 ? 'neutral' : v === 4 ? 'good' : 'impressed');

let store: Store | undefined;
let csv: ReturnType<typeof answersInCsv>;

beforeAll(() => {
  csv = answersInCsv();
});

afterAll(async () => {
  await store?.close();
});

describe('the airline survey example', () => {
  it('regenerates byte for byte from the committed seed, CSV and mapping alike', () => {
    const out = mkdtempSync(join(tmpdir(), 'cx-survey-'));
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/survey/generate.ts', '--seed', String(SURVEY_SEED), '--respondents', String(SURVEY_RESPONDENTS), '--out-dir', out], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${join(out, CSV_FILE)}: ${SURVEY_RESPONDENTS.toLocaleString('en-US')} respondents (seed ${SURVEY_SEED})`);
    expect(readFileSync(join(out, CSV_FILE)).equals(readFileSync(CSV)), `${CSV_FILE} differs from a regeneration with seed ${SURVEY_SEED}`).toBe(true);
    expect(readFileSync(join(out, MAPPING_FILE)).equals(readFileSync(MAPPING)), `${MAPPING_FILE} differs from the generator's`).toBe(true);
    // The mapping is the generator's question list: same columns, in order.
    expect(mapping.layout.touchpoints.map((q) => q.column)).toEqual(QUESTIONS.map((q) => q.column));
  });

  it('replays with no rejection, and cx process --until-idle stores every answer and every label', { timeout: 300_000 }, async () => {
    expect(csv.rows).toBe(SURVEY_RESPONDENTS);
    const t0 = Date.now();
    const replay = spawnCx(['replay', CSV, '--mapping', MAPPING], env);
    expect((await replay.exit).code, said(replay)).toBe(0);
    const t1 = Date.now();
    const fmt = (n: number) => n.toLocaleString('en-US');
    expect(replay.output.join('')).toContain(`${CSV_FILE}: ${fmt(csv.rows)} rows read; ${fmt(csv.answers.length)} touchpoint events and ${fmt(csv.labels.size)} outcome events sent to Kafka`);
    expect(replay.output.join('')).toContain('; 0 rejected.');

    const processed = spawnCx(['process', '--until-idle'], env);
    expect((await processed.exit).code, said(processed)).toBe(0);
    const t2 = Date.now();
    expect(processed.output.join('')).toContain(`${fmt(csv.answers.length)} touchpoint rows, ${fmt(csv.labels.size)} outcome rows, 0 dead letters stored`);
    process.stderr.write(`surveyExample.test: ${fmt(csv.answers.length)} answers and ${fmt(csv.labels.size)} labels: replay ${((t1 - t0) / 1000).toFixed(1)} s, process --until-idle ${((t2 - t1) / 1000).toFixed(1)} s (wall clock, process start included)\n`);

    store = await openStore(config);
    // Every answer, cell by cell: the respondent, the touchpoint and the value the CSV has, nothing more.
    const stored = await store.query<{ customer_id: string; touchpoint: string; rating_scale: string; rating_value: number; department: string; moment_of_truth: boolean; line: string }>(
      `SELECT customer_id, touchpoint, rating_scale, rating_value, department, moment_of_truth, attributes['source_line'] AS line FROM ${db}.touchpoint_events FINAL`,
    );
    const key = (respondent: string, touchpoint: string) => `${respondent}/${touchpoint}`;
    const want = new Map(csv.answers.map((a) => [key(a.respondent, a.q.touchpoint), a]));
    expect(stored.length).toBe(csv.answers.length);
    const wrong: string[] = [];
    for (const s of stored) {
      const a = want.get(key(s.customer_id, s.touchpoint));
      if (!a) wrong.push(`${key(s.customer_id, s.touchpoint)}: not an answer in the CSV`);
      else if (Number(s.rating_value) !== a.value || s.rating_scale !== a.q.scale || s.department !== a.q.department || Boolean(s.moment_of_truth) !== (a.q.moment_of_truth ?? false) || Number(s.line) !== a.line) {
        wrong.push(`${key(s.customer_id, s.touchpoint)}: stored ${JSON.stringify(s)}, the CSV's line ${a.line} has ${a.value} (${a.q.scale})`);
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(new Set(stored.map((s) => key(s.customer_id, s.touchpoint))).size).toBe(csv.answers.length);

    // Every label: satisfied = BINARY 1, "neutral or dissatisfied" = BINARY 0.
    const outcomes = await store.query<{ customer_id: string; kind: string; rating_scale: string; rating_value: number }>(`SELECT customer_id, kind, rating_scale, rating_value FROM ${db}.outcome_events FINAL`);
    expect(outcomes.length).toBe(csv.labels.size);
    for (const o of outcomes) {
      const label = csv.labels.get(o.customer_id);
      expect([o.kind, o.rating_scale, Number(o.rating_value)], o.customer_id).toEqual(['RATED', 'BINARY', label === SATISFIED ? 1 : label === DISSATISFIED ? 0 : -1]);
    }
    const [dead] = await store.query<{ n: string }>(`SELECT count() AS n FROM ${db}.dead_letters`);
    expect(Number(dead?.n)).toBe(0);
  });

  it('gives analysts views that agree with the answers: memory rows, cells, departments and one journey per respondent', async () => {
    const s = store as Store;
    // customer_memory: one row per answer, x = (v - 1) / 4, the class from the 5-point scale's table, w = m (2) at a moment of truth.
    const memory = await s.query<{ customer_id: string; touchpoint: string; x: number; class: string; weight: number }>(
      `SELECT customer_id, touchpoint, x, class, weight FROM ${db}.customer_memory FINAL`,
    );
    const want = new Map(csv.answers.map((a) => [`${a.respondent}/${a.q.touchpoint}`, a]));
    expect(memory.length).toBe(csv.answers.length);
    const off = memory.filter((m) => {
      const a = want.get(`${m.customer_id}/${m.touchpoint}`);
      return !a || Math.abs(m.x - x(a.value)) > 1e-12 || m.class !== classOf(a.value) || Number(m.weight) !== (a.q.moment_of_truth ? config.momentOfTruthWeight : 1);
    });
    expect(off.slice(0, 5)).toEqual([]);

    // cell_minute, summed over minutes and partitions, per touchpoint: experiences, sum of x, bad, good (4 and 5) and top box (5).
    type Tally = { n: number; sum_x: number; bad: number; good: number; impressed: number };
    const tally = new Map<string, Tally>();
    for (const a of csv.answers) {
      const t = tally.get(a.q.touchpoint) ?? { n: 0, sum_x: 0, bad: 0, good: 0, impressed: 0 };
      t.n++;
      t.sum_x += x(a.value);
      t.bad += a.value <= 2 ? 1 : 0;
      t.good += a.value >= 4 ? 1 : 0;
      t.impressed += a.value === 5 ? 1 : 0;
      tally.set(a.q.touchpoint, t);
    }
    const cells = await s.query<{ touchpoint: string; n: string; sum_x: number; bad: string; good: string; impressed: string; events: string }>(
      `SELECT touchpoint, sum(n) AS n, sum(sum_x) AS sum_x, sum(bad) AS bad, sum(good) AS good, sum(impressed) AS impressed, sum(events) AS events FROM ${db}.cell_minute FINAL GROUP BY touchpoint`,
    );
    expect(cells.map((c) => c.touchpoint).sort()).toEqual([...tally.keys()].sort());
    for (const c of cells) {
      const t = tally.get(c.touchpoint) as Tally;
      expect({ n: Number(c.n), bad: Number(c.bad), good: Number(c.good), impressed: Number(c.impressed), events: Number(c.events) }, c.touchpoint).toEqual({ n: t.n, bad: t.bad, good: t.good, impressed: t.impressed, events: t.n });
      expect(Math.abs(c.sum_x - t.sum_x), c.touchpoint).toBeLessThan(1e-6);
    }

    // department_impact: each department's experiences and bad ones (the order-free columns; memory_impact and
    // first_experiences depend on which answer of a moment counts as first, which the simultaneity rule settles).
    const departments = new Map<string, { experiences: number; bad: number }>();
    for (const a of csv.answers) {
      const d = departments.get(a.q.department) ?? { experiences: 0, bad: 0 };
      d.experiences++;
      d.bad += a.value <= 2 ? 1 : 0;
      departments.set(a.q.department, d);
    }
    const impact = await s.query<{ department: string; experiences: string; bad: string }>(
      `SELECT department, sum(experiences) AS experiences, sum(bad) AS bad FROM ${db}.department_impact FINAL GROUP BY department`,
    );
    expect(Object.fromEntries(impact.map((d) => [d.department, { experiences: Number(d.experiences), bad: Number(d.bad) }]))).toEqual(Object.fromEntries(departments));

    // journeys: one per respondent (the mapping gives each row its own journey), with every answer in it. All answers
    // share one instant, so every decay factor is 2^0 = 1 and the score is the weighted mean sum(w x) / sum(w), w = 2 at
    // a moment of truth (checkin_desk, on_time_departure, baggage_delivery) and 1 elsewhere. E.g. a respondent answering
    // only seat 5 (x 1, w 1) and on-time 1 (x 0, w 2) scores (1 + 0) / (1 + 2) = 0.333. The weakest link is the lowest x.
    const byRespondent = new Map<string, Answer[]>();
    for (const a of csv.answers) byRespondent.set(a.respondent, [...(byRespondent.get(a.respondent) ?? []), a]);
    const journeys = await s.query<{ customer_id: string; experiences: string; events: string; score: number; weakest_x: number }>(
      `SELECT customer_id, experiences, events, score, weakest_x FROM ${db}.journeys FINAL`,
    );
    expect(journeys.length).toBe(byRespondent.size);
    const badJourneys: string[] = [];
    for (const j of journeys) {
      const mine = byRespondent.get(j.customer_id) ?? [];
      const w = (a: Answer) => (a.q.moment_of_truth ? config.momentOfTruthWeight : 1);
      const score = mine.reduce((sum, a) => sum + w(a) * x(a.value), 0) / mine.reduce((sum, a) => sum + w(a), 0);
      const weakest = Math.min(...mine.map((a) => x(a.value)));
      if (Number(j.experiences) !== mine.length || Number(j.events) !== mine.length || Math.abs(j.score - score) > 1e-9 || j.weakest_x !== weakest) {
        badJourneys.push(`${j.customer_id}: stored ${JSON.stringify(j)}, from the CSV ${mine.length} answers, score ${score}, weakest ${weakest}`);
      }
    }
    expect(badJourneys.slice(0, 5)).toEqual([]);

    // Every answer of a respondent shares `submitted`: one moment (docs/metrics.md, "Simultaneous experiences").
    // No transition joins two answers of it, so no drop and no spiral; each respondent's latest memory is the fold's
    // final memory, which at one instant is the journey score above; every answer is in the respondent's first
    // moment, so it counts in first_experiences and adds nothing to memory_impact.
    const [sequence] = await s.query<{ drops: string; spirals: string; transitions: string }>(
      `SELECT (SELECT count() FROM ${db}.channel_drops FINAL) AS drops, (SELECT count() FROM ${db}.death_spirals FINAL) AS spirals,
              (SELECT sum(transitions) FROM ${db}.channel_transition_minute FINAL) AS transitions`,
    );
    expect(sequence).toEqual({ drops: 0, spirals: 0, transitions: 0 });
    const latest = await s.query<{ customer_id: string; memory: number; experiences: string }>(`SELECT customer_id, memory, experiences FROM ${db}.customer_memory_latest`);
    const scoreOf = new Map(journeys.map((j) => [j.customer_id, j.score]));
    const offLatest = latest.filter((r) => Math.abs(r.memory - (scoreOf.get(r.customer_id) as number)) > 1e-9 || Number(r.experiences) !== byRespondent.get(r.customer_id)?.length);
    expect(latest.length).toBe(byRespondent.size);
    expect(offLatest.slice(0, 5)).toEqual([]);
    const [firsts] = await s.query<{ first: string; experiences: string; impact: number }>(
      `SELECT sum(first_experiences) AS first, sum(experiences) AS experiences, sum(abs(memory_impact)) AS impact FROM ${db}.department_impact FINAL`,
    );
    expect({ first: Number(firsts?.first), impact: firsts?.impact }).toEqual({ first: csv.answers.length, impact: 0 });
    expect(Number(firsts?.experiences)).toBe(csv.answers.length);
  });

  it('answers docs/sql.md\'s key-driver questions from raw data as the generator\'s model says: the decisive touchpoints first, a bad answer best weighted 0.5', async () => {
    const s = store as Store;
    const doc = readFileSync(join(ROOT, 'docs/sql.md'), 'utf8');
    const question = (heading: string) => {
      const at = doc.indexOf(`### ${heading}`);
      const sql = /```sql\n([\s\S]*?)```/.exec(doc.slice(at))?.[1];
      if (at < 0 || !sql) throw new Error(`docs/sql.md has no question "${heading}" with a sql block`);
      return s.query<Record<string, unknown>>(sql.replaceAll(/\bcx\./g, `${db}.`));
    };
    // The gap of the good-outcome rate between respondents with a bad answer at a touchpoint and without: the three
    // touchpoints the label weighs most (cabin_crew 5, seat_comfort 4, online_checkin 3; every other weight is 1 or less) lead.
    const gaps = await question('Which touchpoints move outcomes most, from the raw data alone?');
    expect(gaps.length).toBe(QUESTIONS.length);
    expect(gaps.slice(0, 3).map((r) => r.touchpoint).sort()).toEqual([...DECISIVE].sort());

    // The weighted mean with bad answers at weight b: the label's own b (0.5) predicts it best. Each AUC recomputed
    // here from the CSV's answers (x = (v - 1) / 4, bad = 1 or 2, scores rounded to 9 decimals as the doc does).
    const weights = await question('Does bad weigh more than good for us, from the raw data?');
    const best = weights.filter((r) => Number(r.best));
    expect(best.map((r) => Number(r.bad_weight))).toEqual([BAD_WEIGHT]);
    const byRespondent = new Map<string, number[]>();
    for (const a of csv.answers) byRespondent.set(a.respondent, [...(byRespondent.get(a.respondent) ?? []), a.value]);
    const respondents = [...byRespondent.keys()];
    const labels = respondents.map((r) => csv.labels.get(r) === SATISFIED);
    for (const r of weights) {
      const b = Number(r.bad_weight);
      const scores = respondents.map((id) => {
        const v = byRespondent.get(id) as number[];
        const w = v.map((a) => (a <= 2 ? b : 1));
        return Math.round((v.reduce((sum, a, i) => sum + (w[i] as number) * x(a), 0) / w.reduce((sum, y) => sum + y, 0)) * 1e9) / 1e9;
      });
      const mine = auc(scores, labels);
      expect(Math.abs(Number(r.auc) - mine), `bad weight ${b}: ${r.auc} vs ${mine}`).toBeLessThanOrEqual(0.00005 + 1e-9);
      expect(Number(r.journeys)).toBe(respondents.length);
    }
  });

  it('calibrates against its labels: the key drivers are the generator\'s decisive touchpoints, a bad answer weighs less, and the active calibration reaches memory live and through a rebuild', { timeout: 300_000 }, async () => {
    // The embedded store opens in one process at a time: the commands below open it themselves.
    await store?.close();
    store = undefined;
    const calibrate = spawnCx(['calibrate', '--json', '--seed', '1', '--bootstrap', '20', '--activate'], env);
    expect((await calibrate.exit).code, said(calibrate)).toBe(0);
    const out = calibrate.output.join('');
    const fit = JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1)) as {
      id: string;
      parameters: { touchpointWeights: Record<string, number>; badWeight: number; halfLifeDays: number; badFactor: number };
      badWeight: { weight: number; low: number; high: number };
      heldout: { samples: number; models: { model: string; auc: number; logLoss: number }[] };
      keyDrivers: { touchpoint: string; weight: number; aucFall: number }[];
      whereToStart: { touchpoint: string; rise: number }[];
    };
    const auc = Object.fromEntries(fit.heldout.models.map((m) => [m.model, m.auc]));
    process.stderr.write(`surveyExample.test: ${fit.id} on ${fit.heldout.samples} held-out respondents: AUC plain mean ${auc.plain_mean?.toFixed(3)}, default memory ${auc.default_memory?.toFixed(3)}, calibrated ${auc.calibrated_memory?.toFixed(3)}; bad weight ${fit.badWeight.weight.toFixed(2)} [${fit.badWeight.low?.toFixed(2)}, ${fit.badWeight.high?.toFixed(2)}]; top drivers ${fit.keyDrivers.slice(0, 4).map((k) => `${k.touchpoint} ${k.weight.toFixed(2)}`).join(', ')}\n`);
    // The label is a weighted mean of the answers with three decisive weights and a bad weight of 0.5 (examples/survey/README.md):
    // the fitted model is that model's form, so it must beat both the plain mean and the default memory (m = 2 at the wrong
    // touchpoints, bad = 1) on respondents it never saw.
    expect(auc.calibrated_memory).toBeGreaterThan(auc.plain_mean as number);
    expect(auc.calibrated_memory).toBeGreaterThan(auc.default_memory as number);
    // The three largest weights are the decisive touchpoints, and a bad answer weighs less than 1, interval included.
    const byWeight = [...fit.keyDrivers].sort((a, b) => b.weight - a.weight);
    expect(byWeight.slice(0, 3).map((k) => k.touchpoint).sort()).toEqual([...DECISIVE].sort());
    expect(fit.badWeight.weight).toBeLessThan(1);
    expect(fit.badWeight.high).toBeLessThan(1);
    // All answers at one instant: h and r cannot be told apart from the data, and stay the defaults.
    expect([fit.parameters.halfLifeDays, fit.parameters.badFactor]).toEqual([config.memoryHalfLifeDays, config.badMemoryFactor]);

    // Active: a rebuild puts the calibrated weights into history. A respondent's journey score is then the weighted mean
    // with w = W[touchpoint] * (B if bad), all answers at one instant (every decay 1), and every row names the calibration.
    const rebuild = spawnCx(['rebuild'], env);
    expect((await rebuild.exit).code, said(rebuild)).toBe(0);
    const W = fit.parameters.touchpointWeights;
    const B = fit.parameters.badWeight;
    const s = await openStore(config);
    try {
      const byRespondent = new Map<string, Answer[]>();
      for (const a of csv.answers) byRespondent.set(a.respondent, [...(byRespondent.get(a.respondent) ?? []), a]);
      const weighted = (mine: Answer[]) => {
        const w = (a: Answer) => (W[a.q.touchpoint] ?? 1) * (a.value <= 2 ? B : 1);
        return mine.reduce((sum, a) => sum + w(a) * x(a.value), 0) / mine.reduce((sum, a) => sum + w(a), 0);
      };
      const journeys = await s.query<{ customer_id: string; score: number; calibration_id: string }>(`SELECT customer_id, score, calibration_id FROM ${db}.journeys FINAL`);
      expect(journeys.length).toBe(byRespondent.size);
      const off = journeys.filter((j) => j.calibration_id !== fit.id || Math.abs(j.score - weighted(byRespondent.get(j.customer_id) ?? [])) > 1e-9);
      expect(off.slice(0, 5)).toEqual([]);
      const [ids] = await s.query<{ ids: string[] }>(`SELECT groupUniqArray(calibration_id) AS ids FROM ${db}.customer_memory FINAL`);
      expect(ids?.ids).toEqual([fit.id]);
    } finally {
      await s.close();
    }

    // Live: a late respondent, replayed now, is folded by cx process with the active calibration's weights.
    const late = join(mkdtempSync(join(tmpdir(), 'cx-survey-late-')), 'late.csv');
    const [header, first] = readFileSync(CSV, 'utf8').split('\n');
    const cells = (first as string).split(',');
    const columns = (header as string).split(',');
    cells[columns.indexOf('respondent_id')] = 'R-LATE-1';
    cells[columns.indexOf('submitted')] = '2027-01-15T10:00:00Z';
    writeFileSync(late, `${header}\n${cells.join(',')}\n`);
    const replay = spawnCx(['replay', late, '--mapping', MAPPING], env);
    expect((await replay.exit).code, said(replay)).toBe(0);
    const processed = spawnCx(['process', '--until-idle'], env);
    expect((await processed.exit).code, said(processed)).toBe(0);
    expect(processed.output.join('')).toContain(`calibration ${fit.id}`);
    const s2 = await openStore(config);
    try {
      const rows = await s2.query<{ calibration_id: string; weight: number; touchpoint: string; class: string }>(
        `SELECT calibration_id, weight, touchpoint, class FROM ${db}.customer_memory FINAL WHERE customer_id = 'R-LATE-1'`,
      );
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        expect(r.calibration_id).toBe(fit.id);
        expect(r.weight).toBeCloseTo((W[r.touchpoint] ?? 1) * (r.class === 'bad' ? B : 1), 12);
      }
    } finally {
      await s2.close();
    }
  });
});
