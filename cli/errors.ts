import { ConfigError } from '../platform/config.ts';

/** Prints an error for a person (what, where, what to do) and exits; stacks only with LOG_LEVEL=debug. */
export function exitWithError(err: unknown): never {
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`cx: ${e.message}\n`);
  if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') process.stderr.write(`${e.stack}\n`);
  process.exit(e instanceof ConfigError ? 2 : 1);
}
