/**
 * Fault injection for the crash-safety tests, read from the environment by the
 * processes (and stage threads) they start:
 * - CX_FAULT_KILL_AFTER_STORED_CHUNKS / _METRIC_CHUNKS / _ALERT_CHANGES = N: SIGKILL the
 *   whole process right after the Nth round (raw, metric) or alert round with changes is
 *   stored and before its offsets are committed (or its alerts published), the worst moment;
 * - CX_FAULT_STALL_AFTER_METRIC_CHUNKS = "N:MS": wait MS ms (the event loop free, as during
 *   a slow insert) after the Nth metric round is stored and before its commit.
 */
export function killAfterRounds(variable: string, env: NodeJS.ProcessEnv = process.env): (() => void) | undefined {
  const n = Number(env[variable] ?? 0);
  if (!(n > 0)) return undefined;
  let rounds = 0;
  return () => {
    if (++rounds === n) process.kill(process.pid, 'SIGKILL');
  };
}

export function stallAfterRounds(variable: string, log: { warn: (msg: string) => void }, env: NodeJS.ProcessEnv = process.env): (() => Promise<void>) | undefined {
  const [n, ms] = (env[variable] ?? '').split(':').map(Number);
  if (!(Number(n) > 0 && Number(ms) > 0)) return undefined;
  let rounds = 0;
  return async () => {
    if (++rounds !== n) return;
    log.warn(`fault injection: stalling ${ms} ms after metric round ${n}, before its commit`);
    await new Promise((r) => setTimeout(r, ms));
  };
}

/** The metric stage's hook from both variables, or none. */
export function metricFaults(log: { warn: (msg: string) => void }, env: NodeJS.ProcessEnv = process.env): (() => Promise<void>) | undefined {
  const kill = killAfterRounds('CX_FAULT_KILL_AFTER_METRIC_CHUNKS', env);
  const stall = stallAfterRounds('CX_FAULT_STALL_AFTER_METRIC_CHUNKS', log, env);
  if (!kill && !stall) return undefined;
  return async () => {
    kill?.();
    await stall?.();
  };
}
