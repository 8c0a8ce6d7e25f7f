import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer } from '../../pipeline/compose.ts';
import { parseDuration, readScenario, validateScenario, type Scenario } from '../../producers/simulator/scenario.ts';
import { groundTruth, simulate } from '../../producers/simulator/simulate.ts';
import { SimulationRun } from '../../producers/simulator/run.ts';
import type { TouchpointProducer } from '../../producers/touchpointProducer.ts';
import { onShutdown } from '../shutdown.ts';
import { numberOption } from '../options.ts';

interface SimulateOptions {
  scenario?: string;
  rate?: number;
  duration?: string;
  customers?: number;
  seed?: number;
  start?: string;
  speed: string;
  truth?: string;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** While Kafka is away the run waits (nothing is dropped): say so on the progress line. */
export function kafkaStatus(producer: TouchpointProducer): string {
  const s = producer.status;
  return s.kafkaAway ? ` | Kafka not answering: holding ${fmt(s.pending)} events (${(s.bufferedBytes / 1048576).toFixed(1)} MiB), retrying` : '';
}

/** The scenario file (or the baseline) with the command line's overrides. */
export function scenarioFrom(opts: SimulateOptions, now = Date.now()): Scenario {
  const base = opts.scenario ? readScenario(opts.scenario) : validateScenario({});
  const s: Scenario = { ...base };
  if (opts.rate !== undefined) s.rate = opts.rate;
  if (opts.customers !== undefined) s.customers = opts.customers;
  if (opts.seed !== undefined) s.seed = opts.seed;
  if (opts.duration !== undefined) {
    s.duration = parseDuration(opts.duration);
    if (!Number.isFinite(s.duration) || s.duration <= 0) throw new Error(`--duration ${opts.duration}: expected a duration such as 90s, 15m, 2h30m or 7d`);
  }
  if (opts.start !== undefined) {
    s.start = opts.start === 'now' ? now : Date.parse(opts.start);
    if (!Number.isFinite(s.start)) throw new Error(`--start ${opts.start}: expected "now" or an ISO 8601 time, e.g. 2026-11-02T00:00:00Z`);
  }
  return s;
}

export function simulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('simulate customer journeys (with the incidents of a scenario) into Kafka, and write the ground truth of what was injected')
    .option('--scenario <file>', 'scenario file, YAML or JSON (see docs/producers.md); default: a quiet baseline hour')
    .option('--rate <events/s>', 'mean events per second of event time, over a day', numberOption(0.001))
    .option('--duration <d>', 'event time to simulate, e.g. 90m, 6h, 7d')
    .option('--customers <n>', 'distinct customers', numberOption(1, true))
    .option('--seed <n>', 'seed (same seed, same events)', numberOption(0, true))
    .option('--start <time>', 'event time of the start: ISO 8601, or "now"')
    .option('--speed <x>', 'event time per wall time: 1 is real time, 10080 a week a minute, "max" as fast as Kafka takes it', 'max')
    .option('--truth <file>', 'where to write the ground truth (default: data/simulations/<name>-seed<seed>.truth.json)')
    .action(async (opts: SimulateOptions) => {
      const config = loadConfig();
      const scenario = scenarioFrom(opts);
      const speed = opts.speed === 'max' ? undefined : Number(opts.speed);
      if (speed !== undefined && !(speed > 0)) throw new Error(`--speed ${opts.speed}: expected a positive number or "max"`);
      const truthFile = resolve(opts.truth ?? `data/simulations/${scenario.name}-seed${scenario.seed}.truth.json`);
      mkdirSync(dirname(truthFile), { recursive: true });
      const truth = groundTruth(scenario);
      writeFileSync(truthFile, `${JSON.stringify(truth, null, 2)}\n`);

      const log = createLogger(process.env.LOG_LEVEL ? config.logLevel : 'warn', 'cx-simulate', config);
      const kafka = await connectKafka(config, log);
      const producer = await connectProducer(config, kafka);

      const say = (s: string) => process.stdout.write(`${s}\n`);
      say(`Simulating "${scenario.name}": ${new Date(scenario.start).toISOString()} + ${(scenario.duration / 3_600_000).toFixed(2)} h of event time, ` +
        `${scenario.rate} events/s, ${fmt(scenario.customers)} customers, seed ${scenario.seed}, ${scenario.incidents.length} incident(s), speed ${speed ?? 'max'}`);
      say(`Ground truth: ${truthFile}`);
      const left = scenario.incidents.length - truth.incidents.length;
      if (left) say(`Note: ${left} incident(s) start after the simulated time ends and are left out of the run and its ground truth.`);

      const run = new SimulationRun(producer, simulate({ scenario }), { speed, garbageTopic: config.touchpointsTopic });
      const bar = new cliProgress.SingleBar(
        { format: 'event time {bar} {percentage}% | {events} events | {rate} events/s into Kafka{kafka}', noTTYOutput: true, notTTYSchedule: 5000, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      const wallStart = Date.now();
      bar.start(100, 0, { events: 0, rate: 0, kafka: '' });
      /** Share of the event time covered so far, and the send rate. */
      const showProgress = () => {
        const done = run.stats.eventTime === undefined ? 0 : ((run.stats.eventTime - scenario.start) / scenario.duration) * 100;
        bar.update(Math.min(100, Math.floor(done)), { events: fmt(run.sent), rate: fmt((run.sent * 1000) / Math.max(1, Date.now() - wallStart)), kafka: kafkaStatus(producer) });
      };
      const ticker = setInterval(showProgress, 250);

      let finishing: Promise<void> | undefined;
      const finish = () =>
        (finishing ??= (async () => {
          await run.stop();
          clearInterval(ticker);
          const seconds = (Date.now() - wallStart) / 1000;
          showProgress();
          bar.stop();
          await producer.disconnect();
          const s = run.stats;
          say(`Sent ${fmt(s.touchpoints)} touchpoint events and ${fmt(s.outcomes)} outcomes in ${seconds.toFixed(1)} s: ${fmt((s.touchpoints + s.outcomes) / seconds)} events/s into Kafka` +
            `${s.failures ? `; ${fmt(s.failures)} failed (${s.lastError})` : ''}.`);
          if (s.failures) process.exitCode = 1;
        })());
      onShutdown(finish);
      await run.start();
      await finish();
    });
}
