/**
 * `npm run bench` (last script): the fit `cx calibrate` runs, on 1M experiences.
 * The samples are built in memory from the simulator (REPURCHASED good, CHURNED and
 * COMPLAINED bad, as `cx calibrate`'s default without RATED outcomes), so the store is
 * not timed. Printed: the median of several runs of the whole fit (the (h, r) grid, the
 * bootstrap, the leave-one-out AUCs and where to start) with the default options, and
 * beside it a bare pass over the same data in the same run (every sample's plain mean:
 * each experience read once), the least any fit must do.
 */
import { CalibrationDataBuilder, type CalibrationData, type ExperienceRow, type OutcomeRow } from '../processors/calibration/calibrationData.ts';
import { calibrate } from '../processors/calibration/calibrate.ts';
import { samplesOf } from '../processors/calibration/memoryModel.ts';
import { experienceOf } from '../processors/experience.ts';
import { DEFAULT_PARAMS } from '../processors/params.ts';
import { validateScenario } from '../producers/simulator/scenario.ts';
import { simulate } from '../producers/simulator/simulate.ts';
import { finish, fmt, median, out, RUNS } from './figures.ts';

const EXPERIENCES = Number(process.env.BENCH_CALIBRATE_EXPERIENCES ?? 1_000_000);
const CUSTOMERS = Number(process.env.BENCH_CALIBRATE_CUSTOMERS ?? 50_000);
const BOOTSTRAP = Number(process.env.BENCH_CALIBRATE_BOOTSTRAP ?? 50);

/**
 * Simulated customers (flat traffic, 20 visits/s of event time) until the customers with
 * an outcome hold EXPERIENCES experiences: those without one give no sample and are left out.
 */
function simulated(): CalibrationData {
  const scenario = validateScenario({ name: 'bench-calibrate', seed: 5, customers: CUSTOMERS, rate: 20, dailyRhythm: false, duration: '30d' });
  const exps = new Map<string, ExperienceRow[]>();
  const outs = new Map<string, OutcomeRow[]>();
  const traffic = new Map<string, { leg: string; department: string; n: number }>();
  // Experiences of customers who have had an outcome so far.
  let n = 0;
  for (const e of simulate({ scenario })) {
    if (n >= EXPERIENCES) break;
    if (e.kind === 'touchpoint') {
      const ev = e.event;
      const x = experienceOf(ev);
      if (!x) {
        const t = traffic.get(ev.touchpoint) ?? traffic.set(ev.touchpoint, { leg: ev.leg, department: ev.department, n: 0 }).get(ev.touchpoint);
        if (t) t.n++;
        continue;
      }
      if (outs.has(ev.customer_id)) n++;
      let list = exps.get(ev.customer_id);
      if (!list) exps.set(ev.customer_id, (list = []));
      list.push({ t: ev.occurred_at, touchpoint: ev.touchpoint, leg: ev.leg, department: ev.department, x: x.x, bad: x.cls === 'bad', mot: ev.moment_of_truth });
    } else if (e.event.kind !== 'RATED' && e.event.kind !== 'OTHER') {
      let list = outs.get(e.event.customer_id);
      if (!list) {
        outs.set(e.event.customer_id, (list = []));
        n += exps.get(e.event.customer_id)?.length ?? 0;
      }
      list.push({ t: e.event.occurred_at, good: e.event.kind === 'REPURCHASED' });
    }
  }
  const b = new CalibrationDataBuilder();
  for (const [tp, t] of traffic) b.addTraffic(tp, t.leg, t.department, t.n);
  for (const [id, o] of outs) b.addCustomer(id, exps.get(id) ?? [], o);
  return b.build();
}

/** Each sample's plain mean, reading every experience once: the bare pass. */
function barePass(d: CalibrationData): number {
  const s = samplesOf(d);
  let total = 0;
  for (let i = 0; i < s.n; i++) {
    let sum = 0;
    const c = s.customer[i] as number;
    for (let e = d.expStart[c] as number; e < (s.expEnd[i] as number); e++) sum += d.expX[e] as number;
    total += sum / ((s.expEnd[i] as number) - (d.expStart[c] as number));
  }
  return total;
}

async function main(): Promise<void> {
  let t = performance.now();
  const data = simulated();
  const built = performance.now() - t;
  const samples = samplesOf(data);
  let histories = 0;
  for (let i = 0; i < samples.n; i++) histories += (samples.expEnd[i] as number) - (data.expStart[samples.customer[i] as number] as number);
  let first = Infinity;
  let lastT = -Infinity;
  for (const t of data.expT) {
    first = Math.min(first, t);
    lastT = Math.max(lastT, t);
  }
  out(`calibrate: ${fmt(data.expT.length)} experiences of ${fmt(data.customers.length)} customers with outcomes over ${((lastT - first) / 3_600_000).toFixed(1)} h of event time, ${fmt(samples.n)} labelled outcomes ` +
    `(${fmt(histories)} experiences in their histories), ${data.touchpoints.length} touchpoints; built from the simulator in ${(built / 1000).toFixed(1)} s; ` +
    `bootstrap ${BOOTSTRAP}, ${RUNS} runs`);

  const fits: number[] = [];
  const bare: number[] = [];
  let last: ReturnType<typeof calibrate> | undefined;
  for (let run = 1; run <= RUNS; run++) {
    t = performance.now();
    barePass(data);
    bare.push(performance.now() - t);
    let steps = 0;
    t = performance.now();
    last = calibrate(data, { seed: 1, trainShare: 0.5, bootstrap: BOOTSTRAP, reference: DEFAULT_PARAMS, onProgress: (p) => void (steps = p.total) });
    fits.push(performance.now() - t);
    out(`  run ${run}: fit ${(fits[run - 1] as number / 1000).toFixed(1)} s (${steps} steps: ${last.timeScales.grid.length} grid points, ${BOOTSTRAP} bootstrap refits, ` +
      `${2 * data.touchpoints.length} leave-one-out and where-to-start passes); bare pass ${((bare[run - 1] as number)).toFixed(0)} ms`);
  }
  const fit = median(fits);
  const pass = median(bare);
  out(`calibrate fit, ${fmt(data.expT.length)} experiences: median ${(fit / 1000).toFixed(1)} s (${fmt((data.expT.length * 1000) / fit)} experiences/s); ` +
    `bare pass ${pass.toFixed(0)} ms; fit / bare pass ${(fit / pass).toFixed(0)}x`);
  if (last) {
    const m = Object.fromEntries(last.heldout.models.map((x) => [x.model, x.auc.toFixed(3)]));
    out(`  held-out AUC: plain mean ${m.plain_mean}, default memory ${m.default_memory}, calibrated memory ${m.calibrated_memory}; ${last.timeScales.note}`);
  }
}

finish(main());
