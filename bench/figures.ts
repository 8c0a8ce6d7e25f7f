/** Shared by the benchmark scripts: run settings, fresh topics per run, and printing. */
import { randomUUID } from 'node:crypto';
import type { Config } from '../platform/config.ts';
import { createLogger } from '../platform/log.ts';

export const RUNS = Number(process.env.BENCH_RUNS ?? 3);
export const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
export const log = createLogger(process.env.LOG_LEVEL ?? 'error', 'bench');

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
export const out = (s: string) => process.stdout.write(`${s}\n`);

/** The configuration with topics and a consumer group of its own, so runs never see each other's messages. */
export function freshTopics(base: Config, label: string): Config {
  const id = `${label}-${randomUUID().slice(0, 6)}`;
  return {
    ...base,
    touchpointsTopic: `bench-${id}.touchpoints`,
    outcomesTopic: `bench-${id}.outcomes`,
    deadLetterTopic: `bench-${id}.deadletter`,
    alertsTopic: `bench-${id}.alerts`,
    consumerGroup: `bench-${id}`,
  };
}

/** Ends a benchmark script: exit 0, or print the failure and exit 1. */
export function finish(main: Promise<void>): void {
  main.then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
