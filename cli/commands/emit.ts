import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka } from '../../platform/pipeline.ts';
import { LiveEmitter } from '../../producers/liveEmitter.ts';
import { syntheticEvents } from '../../producers/syntheticEmitter.ts';
import { TouchpointProducer } from '../../producers/touchpointProducer.ts';
import { onShutdown } from '../shutdown.ts';

export function numberOption(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number, at least ${min}`);
    return n;
  };
}

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
    .option('--rate <events/s>', 'events per second (default: CX_EMIT_RATE, 200)', numberOption(0))
    .option('--customers <n>', 'distinct customers', numberOption(1), 5000)
    .option('--seed <n>', 'seed of the synthetic stream (same seed, same events)', numberOption(0), 1)
    .option('--bad-every <n>', 'make every Nth message garbage, to see dead letters (0: never)', numberOption(0), 0);
}

export function startEmitter(producer: TouchpointProducer, garbageTopic: string, o: EmitOptions & { rate: number }): LiveEmitter {
  const source = syntheticEvents({ seed: o.seed, customers: o.customers, startAt: Date.now(), meanGapMs: 1000 / Math.max(o.rate, 1) });
  const emitter = new LiveEmitter(producer, source, { ratePerSecond: o.rate, count: o.count, badEvery: o.badEvery, garbageTopic });
  emitter.start();
  return emitter;
}

export function emitCommand(program: Command): void {
  emitOptions(program.command('emit'))
    .description('send synthetic touchpoint and outcome events to Kafka at a steady rate')
    .option('--count <n>', 'stop after this many messages', numberOption(1))
    .action(async (opts: EmitOptions) => {
      const config = loadConfig();
      const log = createLogger(config.logLevel, 'cx-emit');
      const kafka = await connectKafka(config, log);
      const producer = new TouchpointProducer(kafka.kafka, kafka.registry, { touchpointsTopic: config.touchpointsTopic, outcomesTopic: config.outcomesTopic });
      await producer.connect();
      const emitter = startEmitter(producer, config.touchpointsTopic, { ...opts, rate: opts.rate ?? config.emitRate });
      let finishing: Promise<void> | undefined;
      const finish = () =>
        (finishing ??= (async () => {
          await emitter.stop();
          await producer.disconnect();
          process.stdout.write(`sent ${emitter.produced} events and ${emitter.bad} bad messages (${emitter.failures} failed${emitter.lastError ? `: ${emitter.lastError}` : ''})\n`);
        })());
      onShutdown(finish);
      await emitter.done;
      await finish();
    });
}
