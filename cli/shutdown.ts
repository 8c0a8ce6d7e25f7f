/** Runs `stop` once on the first SIGINT/SIGTERM; a second signal exits at once. */
export function onShutdown(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) {
      process.stderr.write(`\n${signal} again: exiting without a clean stop\n`);
      process.exit(130);
    }
    stopping = true;
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`cx: error while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/**
 * A bug that escapes (an uncaught exception or rejection) still stops the workers the
 * clean way, so they leave their groups at once instead of holding their partitions
 * for a session timeout; then the process exits 1. Bounded: a stop that hangs is cut
 * short after `graceMs`.
 */
export function stopOnUnexpectedError(stop: () => Promise<void>, graceMs = 15_000): void {
  let crashing = false;
  const handler = (err: unknown) => {
    process.stderr.write(`cx: unexpected error: ${(err as Error)?.message ?? String(err)}; stopping the workers and exiting\n`);
    if (crashing) return;
    crashing = true;
    setTimeout(() => process.exit(1), graceMs).unref();
    stop().finally(() => process.exit(1));
  };
  process.on('uncaughtException', handler);
  process.on('unhandledRejection', handler);
}
