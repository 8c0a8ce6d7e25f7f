/** Real processes for tests: `cx` commands spawned as a user would run them, waited for until they say they are ready. */
import type { ChildProcess } from 'node:child_process';
import { spawnCx as spawnRaw } from './helpers.ts';

export { freePort } from './helpers.ts';

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
