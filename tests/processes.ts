/** Real processes for tests: `cx` commands spawned as a user would run them, waited for until they say they are ready. */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../platform/config.ts';
import { probeBroker } from '../platform/kafka/client.ts';
import { startLocalBroker, stopLocalBroker } from '../platform/kafka/localBroker.ts';
import { freePort, spawnCx as spawnRaw } from './helpers.ts';

export { freePort } from './helpers.ts';

export interface PrivateBroker {
  /** The environment of a process that uses this broker (its dir and ports; KAFKA_BROKERS unset). */
  env: NodeJS.ProcessEnv;
  config: Config;
  bootstrap: string;
  /** A scratch folder of the test's own, removed with the broker. */
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the broker and removes its folder (for afterAll). */
  dispose(): Promise<void>;
}

/**
 * A broker of the test's own (a temp folder, free ports), started: a test may stop and
 * start it without touching the shared one the other test files use.
 */
export async function privateBroker(name: string, extra: NodeJS.ProcessEnv = {}): Promise<PrivateBroker> {
  const dir = mkdtempSync(join(tmpdir(), `cx-${name}-`));
  const env: NodeJS.ProcessEnv = { ...process.env, CX_KAFKA_DIR: join(dir, 'kafka'), CX_KAFKA_PORT: String(await freePort()), CX_KAFKA_CONTROLLER_PORT: String(await freePort()), ...extra };
  delete env.KAFKA_BROKERS;
  const config = loadConfig(env);
  const { bootstrap } = await startLocalBroker(config, probeBroker);
  return {
    env, config, bootstrap, dir,
    stop: async () => void (await stopLocalBroker(config)),
    start: async () => void (await startLocalBroker(config, probeBroker)),
    async dispose() {
      await stopLocalBroker(config);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Spawned {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Spawns `cx <args>` and resolves once its output shows `ready`. */
export async function spawnCx(args: string[], env: NodeJS.ProcessEnv, ready: RegExp, timeoutMs = 90_000): Promise<Spawned> {
  const p = spawnRaw(args, env);
  const output = () => p.output.join('');
  const exited = p.exit.then(({ code, signal }) => ({ code, signal, at: Date.now() }));
  const deadline = Date.now() + timeoutMs;
  while (!ready.test(output())) {
    if (p.child.exitCode !== null) throw new Error(`cx ${args.join(' ')} exited ${p.child.exitCode} before it was ready:\n${output()}`);
    if (Date.now() > deadline) {
      p.child.kill('SIGKILL');
      throw new Error(`cx ${args.join(' ')} was not ready after ${timeoutMs} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child: p.child, output, exited };
}
