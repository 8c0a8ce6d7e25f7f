/**
 * No secret in any output: values planted in every secret setting (config.ts, exposure
 * `secret` or `url`) must not appear in what `cx config` prints, in a configuration
 * error, or in the debug logs and output of the commands a user runs — real processes,
 * the test broker, embedded chdb and a `cx store serve` reached through a URL with a
 * password in it.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS, exposureOf } from '../../platform/config.ts';
import { freePort, isolatedEnv, spawnCx, waitFor } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

// Random per run (logged), so no fixed string could be special-cased; long enough for every rule.
const RUN = randomBytes(6).toString('hex');
process.stderr.write(`secrets test: run id ${RUN}\n`);
const planted = {
  CLICKHOUSE_PASSWORD: `chpw-${RUN}-aaaaaaaa`,
  CLICKHOUSE_URL_PASSWORD: `urlpw-${RUN}-bbbbbbbb`,
  CX_COLLECTOR_TOKEN: `token-${RUN}-cccccccc`,
  CX_ALERT_WEBHOOK_SECRET: `hook-${RUN}-dddddddd`,
  CX_ALERT_WEBHOOK_URL_PASSWORD: `hookpw-${RUN}-eeeeeeee`,
  CX_SQL_PASSWORD: `sqlpw-${RUN}-ffffffff`,
};
const SECRETS = Object.values(planted);

function cx(args: string[], env: NodeJS.ProcessEnv, timeout = 120_000) {
  const r = spawnSync(process.execPath, ['bin/cx.js', ...args], { cwd: ROOT, env, encoding: 'utf8', timeout });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The planted secrets an output shows (should be none). */
const leaked = (out: string) => SECRETS.filter((s) => out.includes(s));

describe('secrets', () => {
  it('every secret setting is marked as one (a new secret must be marked to be hidden)', () => {
    const marked = Object.entries(SETTINGS).filter(([key]) => exposureOf(key)).map(([, [variable]]) => variable).sort();
    expect(marked).toEqual(['CLICKHOUSE_PASSWORD', 'CLICKHOUSE_URL', 'CX_ALERT_WEBHOOK_SECRET', 'CX_ALERT_WEBHOOK_URL', 'CX_COLLECTOR_TOKEN', 'CX_SQL_PASSWORD'].sort());
  });

  it('cx config shows each secret only as set, and a URL without its password', () => {
    const env = isolatedEnv({
      CLICKHOUSE_PASSWORD: planted.CLICKHOUSE_PASSWORD,
      CLICKHOUSE_URL: `http://analyst:${planted.CLICKHOUSE_URL_PASSWORD}@127.0.0.1:8123`,
      CX_COLLECTOR_TOKEN: planted.CX_COLLECTOR_TOKEN,
      CX_ALERT_WEBHOOK_SECRET: planted.CX_ALERT_WEBHOOK_SECRET,
      CX_ALERT_WEBHOOK_URL: `https://hooks:${planted.CX_ALERT_WEBHOOK_URL_PASSWORD}@hooks.example.com/cx`,
      CX_SQL_PASSWORD: planted.CX_SQL_PASSWORD,
      LOG_LEVEL: 'debug',
    });
    const r = cx(['config'], env);
    expect(r.status, r.out).toBe(0);
    expect(leaked(r.out)).toEqual([]);
    // What it does show: that each is set, and the rest of each URL.
    for (const variable of ['CLICKHOUSE_PASSWORD', 'CX_COLLECTOR_TOKEN', 'CX_ALERT_WEBHOOK_SECRET', 'CX_SQL_PASSWORD']) expect(r.out).toMatch(new RegExp(`^${variable} +\\*\\*\\* \\(set\\)$`, 'm'));
    expect(r.out).toMatch(/^CLICKHOUSE_URL +http:\/\/analyst:\*\*\*@127\.0\.0\.1:8123\/?$/m);
    expect(r.out).toMatch(/^CX_ALERT_WEBHOOK_URL +https:\/\/hooks:\*\*\*@hooks\.example\.com\/cx$/m);
    expect(r.out).toMatch(/^KAFKA_CLIENT_ID +cx-pipeline$/m);
  });

  it('a configuration error names the variable and the rule, never the secret', () => {
    // Each value breaks its rule: too short, or a URL of the wrong scheme; each still carries the secret's text.
    const env = isolatedEnv({
      CX_COLLECTOR_TOKEN: planted.CX_COLLECTOR_TOKEN.slice(0, 15),
      CX_ALERT_WEBHOOK_SECRET: planted.CX_ALERT_WEBHOOK_SECRET.slice(0, 15),
      CLICKHOUSE_URL: `ftp://analyst:${planted.CLICKHOUSE_URL_PASSWORD}@127.0.0.1:8123`,
      CX_ALERT_WEBHOOK_URL: `ftp://hooks:${planted.CX_ALERT_WEBHOOK_URL_PASSWORD}@hooks.example.com/cx`,
      CX_SQL_PASSWORD: '',
      LOG_LEVEL: 'debug',
    });
    const r = cx(['config'], env);
    expect(r.status).toBe(2);
    expect(SECRETS.filter((s) => r.out.includes(s.slice(0, 15)))).toEqual([]);
    expect(r.out).toContain('CX_COLLECTOR_TOKEN=(15 characters, hidden): expected at least 16 characters');
    expect(r.out).toContain('CX_ALERT_WEBHOOK_SECRET=(15 characters, hidden): expected at least 16 characters');
    expect(r.out).toContain('CLICKHOUSE_URL="ftp://analyst:***@127.0.0.1:8123');
    expect(r.out).toContain('CX_ALERT_WEBHOOK_URL="ftp://hooks:***@hooks.example.com/cx');
    // A blank secret whose absence would switch a guard off is refused, not taken as "unset".
    expect(r.out).toContain('CX_SQL_PASSWORD is set but empty');
    expect(cx(['config'], isolatedEnv({ CX_COLLECTOR_TOKEN: '' })).out).toContain('CX_COLLECTOR_TOKEN is set but empty');
  });

  describe('debug logs and output of the commands', () => {
    let store: ReturnType<typeof spawnCx> | undefined;
    let hook: Server | undefined;
    let env: NodeJS.ProcessEnv;
    let storeUrl = '';
    const work = mkdtempSync(join(tmpdir(), 'cx-secrets-'));

    beforeAll(async () => {
      // A webhook receiver, so the notifier has somewhere real to send.
      hook = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(204).end());
      });
      await new Promise<void>((r) => hook?.listen(0, '127.0.0.1', () => r()));
      const hookPort = (hook.address() as { port: number }).port;

      // The store is served with the password the clients send in their URL and in CLICKHOUSE_PASSWORD.
      const storeEnv = isolatedEnv({ LOG_LEVEL: 'debug', CX_SQL_PASSWORD: planted.CLICKHOUSE_URL_PASSWORD });
      store = spawnCx(['store', 'serve', '--port', '0'], storeEnv);
      storeUrl = await waitFor('cx store serve to print its URL', async () => /CLICKHOUSE_URL=(http:\/\/127\.0\.0\.1:\d+)/.exec(store?.output.join('') ?? '')?.[1], 60_000);
      const base = isolatedEnv();
      env = {
        ...base,
        LOG_LEVEL: 'debug',
        CLICKHOUSE_URL: storeUrl.replace('http://', `http://default:${planted.CLICKHOUSE_URL_PASSWORD}@`),
        CLICKHOUSE_PASSWORD: planted.CLICKHOUSE_URL_PASSWORD,
        CX_COLLECTOR_TOKEN: planted.CX_COLLECTOR_TOKEN,
        CX_ALERT_WEBHOOK_SECRET: planted.CX_ALERT_WEBHOOK_SECRET,
        CX_ALERT_WEBHOOK_URL: `http://hooks:${planted.CX_ALERT_WEBHOOK_URL_PASSWORD}@127.0.0.1:${hookPort}/cx`,
        CX_SQL_PASSWORD: planted.CX_SQL_PASSWORD,
      };
    });

    afterAll(async () => {
      store?.child.kill('SIGTERM');
      await store?.exit;
      hook?.close();
      // The server's own debug log is an output too.
      expect(leaked(store?.output.join('') ?? '')).toEqual([]);
    });

    it('migrate, process, simulate, replay, emit, sql, report, kafka status, schemas, dashboards', async () => {
      const outputs: Record<string, string> = {};
      const run = (name: string, args: string[]) => {
        const r = cx(args, env);
        outputs[name] = r.out;
        expect(r.status, `${name}: ${r.out.slice(-2000)}`).toBe(0);
      };
      run('migrate', ['migrate']);
      // A worker runs while events arrive, then stops on SIGTERM.
      const worker = spawnCx(['process'], env);
      await waitFor('cx process to start processing', async () => worker.output.join('').includes('"msg":"processing"'), 90_000);
      run('simulate', ['simulate', '--duration', '20m', '--rate', '5', '--seed', '3', '--truth', join(work, 'truth.json')]);
      run('replay', ['replay', 'examples/replay/touchpoints.jsonl', '--mapping', 'examples/replay/touchpoints-jsonl.mapping.json']);
      run('emit', ['emit', '--count', '40', '--rate', '200']);
      await waitFor('the worker to store the events', async () => {
        const r = cx(['sql', '--format', 'json', 'SELECT count() AS n FROM cx.touchpoint_events'], env);
        return r.status === 0 && Number((JSON.parse(r.out.split('\n')[0] ?? '{}') as { n?: string }).n) > 0;
      }, 90_000, 1000);
      worker.child.kill('SIGTERM');
      expect((await worker.exit).code).toBe(0);
      outputs.process = worker.output.join('');
      run('sql', ['sql', 'SELECT reason_code, count() FROM cx.dead_letters GROUP BY reason_code']);
      run('report', ['report', '--out', join(work, 'report.html'), '--from', '-1h']);
      run('kafka status', ['kafka', 'status']);
      run('schemas', ['schemas', 'list']);
      run('dashboards', ['dashboards', 'build', '--out', join(work, 'dashboards')]);

      for (const [name, out] of Object.entries(outputs)) expect(leaked(out), `${name} printed a secret:\n${out.slice(0, 3000)}`).toEqual([]);
      // They did talk about the store and were at debug level: the URL is there, without its password.
      expect(outputs.process).toContain(`"store":"${storeUrl.replace('http://', 'http://default:***@')}`);
      expect(outputs.process).toContain('"level":20');
      expect(readFileSync(join(work, 'report.html'), 'utf8').includes(planted.CLICKHOUSE_URL_PASSWORD)).toBe(false);
    });

    it('collect, with its token in use', async () => {
      // A port the OS says is free: a random one in the ephemeral range may be some client's local port (the collector then cannot listen).
      const port = await freePort();
      process.stderr.write(`secrets test: collector port ${port}\n`);
      const collector = spawnCx(['collect', '--port', String(port)], env);
      await waitFor('the collector to listen', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, 60_000);
      const refused = await fetch(`http://127.0.0.1:${port}/v1/touchpoints`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer wrong-token-wrong-token' }, body: '{}' });
      expect(refused.status).toBe(401);
      const body = await refused.text();
      collector.child.kill('SIGTERM');
      await collector.exit;
      expect(leaked(body + collector.output.join(''))).toEqual([]);
    });

    it('start (the main job), with every secret set', () => {
      const startEnv = { ...isolatedEnv(), LOG_LEVEL: 'debug', CLICKHOUSE_PASSWORD: planted.CLICKHOUSE_PASSWORD, CX_COLLECTOR_TOKEN: planted.CX_COLLECTOR_TOKEN, CX_ALERT_WEBHOOK_SECRET: planted.CX_ALERT_WEBHOOK_SECRET, CX_ALERT_WEBHOOK_URL: env.CX_ALERT_WEBHOOK_URL, CX_SQL_PASSWORD: planted.CX_SQL_PASSWORD };
      const r = cx(['start', '--duration', '5', '--rate', '100', '--sql-port', '0'], startEnv);
      expect(r.status, r.out.slice(-2000)).toBe(0);
      expect(leaked(r.out)).toEqual([]);
      expect(r.out).toContain('"level":20');
    });
  });
});
