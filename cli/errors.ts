import { ConfigError, loadConfig, redactor } from '../platform/config.ts';

/** The secrets of the environment's configuration, if it loads (a bad one has none worth hiding beyond what ConfigError hides). */
function scrubber(): (text: string) => string {
  try {
    return redactor(loadConfig());
  } catch {
    return (text) => text;
  }
}

/** Prints an error for a person (what, where, what to do) and exits; stacks only with LOG_LEVEL=debug. */
export function exitWithError(err: unknown): never {
  const e = err instanceof Error ? err : new Error(String(err));
  // An error may quote a URL or a value that carries a secret (a driver's message, say).
  const scrub = scrubber();
  process.stderr.write(`cx: ${scrub(e.message)}\n`);
  if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') process.stderr.write(`${scrub(e.stack ?? '')}\n`);
  process.exit(e instanceof ConfigError ? 2 : 1);
}
