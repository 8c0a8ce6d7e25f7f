import type { Command } from 'commander';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer } from '../../pipeline/compose.ts';
import { validateScenario } from '../../producers/simulator/scenario.ts';
import { simulate } from '../../producers/simulator/simulate.ts';
import { SimulationRun } from '../../producers/simulator/run.ts';
import type { TouchpointProducer } from '../../producers/touchpointProducer.ts';
import { badEveryOption, numberOption } from '../options.ts';
import { onShutdown } from '../shutdown.ts';


export interface EmitOptions {
  /** Undefined: CX_EMIT_RATE. */
  rate?: number;
  customers: number;
  seed: number;
  badEvery: number;
  count?: number;
}

export function emitOptions(cmd: Command): Command {
  return cmd
    .option('--rate <events/s>', 'events per second (default: CX_EMIT_RATE, 200)', numberOption(0.001))
    .option('--customers <n>', 'distinct customers', numberOption(1, true), 5000)
    .option('--seed <n>', 'seed of the simulation (same seed, same events)', numberOption(0, true), 1)
    .option('--bad-every <n>', 'make every Nth message garbage, to see dead letters (0: never)', badEveryOption, 0);
}

/** Live traffic: the journey simulator in real time from now, with flat traffic at the given rate, until stopped. */
export function startLiveTraffic(producer: TouchpointProducer, garbageTopic: string, o: EmitOptions & { rate: number }): SimulationRun {
  const scenario = { ...validateScenario({ name: 'live' }), start: Date.now(), duration: 3650 * 86_400_000, rate: o.rate, customers: o.customers, seed: o.seed, dailyRhythm: false };
  const run = new SimulationRun(producer, simulate({ scenario }), { speed: 1, count: o.count, badEvery: o.badEvery, garbageTopic });
  void run.start();
  return run;
}

export function emitCommand(program: Command): void {
  emitOptions(program.command('emit'))
    .description('send live simulated traffic (event time = now) to Kafka at a steady rate; see `cx simulate` for scenarios and compressed time')
    .option('--count <n>', 'stop after this many messages', numberOption(1, true))
    .action(async (opts: EmitOptions) => {
      const config = loadConfig();
      const log = createLogger(config.logLevel, 'cx-emit', config);
      const kafka = await connectKafka(config, log);
      const producer = await connectProducer(config, kafka);
      const run = startLiveTraffic(producer, config.touchpointsTopic, { ...opts, rate: opts.rate ?? config.emitRate });
      let finishing: Promise<void> | undefined;
      const finish = () =>
        (finishing ??= (async () => {
          await run.stop();
          await producer.disconnect();
          const s = run.stats;
          process.stdout.write(`sent ${s.touchpoints} touchpoint events, ${s.outcomes} outcomes and ${s.garbage} bad messages (${s.failures} failed${s.lastError ? `: ${s.lastError}` : ''})\n`);
        })());
      onShutdown(finish);
      await run.start();
      await finish();
    });
}
