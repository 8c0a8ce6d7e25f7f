/**
 * What a new user runs: `cx start` (the main job behind `npm start`) against the test
 * broker with its own embedded store, then `cx sql` over what it stored.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isolatedEnv } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function cx(args: string[], env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, ['bin/cx.js', ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
}

describe('the cx command', () => {
  it('runs the main job for a while, stops cleanly, and leaves rows an analyst can query', () => {
    const env = isolatedEnv();
    const run = cx(['start', '--duration', '6', '--rate', '300', '--bad-every', '100'], env);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('Emitting 300 events/s. Ctrl-C to stop.');
    expect(run.stdout).toMatch(/produced [\d,]+ · rows [\d,]+ touchpoints \+ [\d,]+ outcomes · dead letters [\d,]+ · duplicates [\d,]+ · lag [\d,]+/);
    // How far the results are final: a time once every partition has a checkpoint, until then "not yet".
    expect(run.stdout).toMatch(/ · complete to( \d\d:\d\d:\d\d UTC|: not yet \(a partition has no checkpoint\)) · /);
    expect(run.stdout).toMatch(/results complete to/);

    const done = /stored ([\d,]+) touchpoint rows, ([\d,]+) outcome rows, ([\d,]+) dead letters/.exec(run.stdout);
    expect(done, run.stdout).not.toBeNull();
    const [touchpoints, outcomes, dead] = (done as RegExpExecArray).slice(1).map((n) => Number(n.replaceAll(',', '')));
    const sent = /sent ([\d,]+) events and ([\d,]+) bad messages/.exec(run.stdout);
    expect(sent, run.stdout).not.toBeNull();
    // Everything sent was drained before the stop: every event is a row, every bad message a dead letter.
    expect((touchpoints as number) + (outcomes as number)).toBe(Number(sent?.[1]?.replaceAll(',', '')));
    expect(dead).toBe(Number(sent?.[2]?.replaceAll(',', '')));
    expect(dead).toBeGreaterThan(0);

    const sql = cx(['sql', '--format', 'json', 'SELECT (SELECT count() FROM cx.touchpoint_events) AS t, (SELECT count() FROM cx.dead_letters) AS d'], env);
    expect(sql.status, sql.stderr).toBe(0);
    const counts = JSON.parse(sql.stdout) as { t: string | number; d: string | number };
    // UInt64 comes back as a string from a server and as a number from chdb.
    expect({ t: Number(counts.t), d: Number(counts.d) }).toEqual({ t: touchpoints, d: dead });

    const table = cx(['sql', 'SELECT reason_code, count() AS n FROM cx.dead_letters GROUP BY reason_code'], env);
    expect(table.stdout).toContain('not_avro');
    expect(table.stdout).toContain('1 row');
  });

  it('says what is wrong with a bad statement, without a stack trace', () => {
    const env = isolatedEnv();
    const r = cx(['sql', 'SELECT no_such_column FROM system.one'], env);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cx: .*no_such_column/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
