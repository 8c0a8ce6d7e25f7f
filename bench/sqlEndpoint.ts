/**
 * The read-only SQL endpoint: `SELECT 1` latency idle and while a long scan runs on the
 * same endpoint, as p50/p95/max over several rounds, and as ratios against the idle
 * p50 measured in the same run (so a loaded machine shifts both alike).
 *
 *   node --import tsx bench/sqlEndpoint.ts [--rounds 3] [--rows 2e9]
 *
 * Uses only startStoreServer's oldest options, so the same script measures an older
 * checkout of the project too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startStoreServer } from '../platform/clickhouse/storeServer.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, rows: { type: 'string', default: '2e9' }, idle: { type: 'string', default: '40' } } });
const rounds = Number(values.rounds);
const rows = values.rows as string;
const idleRuns = Number(values.idle);

async function ask(url: string, sql: string): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  const res = await fetch(`${url}/?default_format=TabSeparated`, { method: 'POST', body: sql });
  await res.text();
  return { ms: performance.now() - started, status: res.status };
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
};
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

const path = mkdtempSync(join(tmpdir(), 'cx-bench-sql-'));
const writable = await startStoreServer({ path, port: 0 });
await ask(writable.url, 'CREATE DATABASE IF NOT EXISTS cx');
const server = await startStoreServer({ path, port: 0, readOnly: true });
try {
  await ask(server.url, 'SELECT 1'); // warm-up
  const idle: number[] = [];
  const busy: number[] = [];
  const scans: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < idleRuns; i++) idle.push((await ask(server.url, 'SELECT 1')).ms);
    let done = false;
    const scan = ask(server.url, `SELECT sum(number) FROM numbers(${rows})`).finally(() => (done = true));
    await new Promise((r) => setTimeout(r, 100));
    while (!done) busy.push((await ask(server.url, 'SELECT 1')).ms);
    const s = await scan;
    if (s.status !== 200) throw new Error(`the long scan failed (HTTP ${s.status}): lower --rows`);
    scans.push(s.ms);
  }
  const base = quantile(idle, 0.5);
  const line = (what: string, xs: number[]) =>
    `${what.padEnd(22)} n=${String(xs.length).padStart(4)}  p50 ${fmt(quantile(xs, 0.5)).padStart(10)} (${(quantile(xs, 0.5) / base).toFixed(1)}x)  ` +
    `p95 ${fmt(quantile(xs, 0.95)).padStart(10)} (${(quantile(xs, 0.95) / base).toFixed(1)}x)  max ${fmt(Math.max(...xs)).padStart(10)} (${(Math.max(...xs) / base).toFixed(1)}x)`;
  process.stdout.write(`SQL endpoint (read-only), ${rounds} rounds, long scan SELECT sum(number) FROM numbers(${rows}): ${scans.map((s) => (s / 1000).toFixed(1)).join(', ')} s\n`);
  process.stdout.write(`${line('SELECT 1, idle', idle)}\n`);
  process.stdout.write(`${line('SELECT 1, during scan', busy)}\n`);
  process.stdout.write('(ratios against the idle p50 of this run)\n');
} finally {
  await server.close();
  await writable.close();
  rmSync(path, { recursive: true, force: true });
}
