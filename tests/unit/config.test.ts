import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, maskUrl, redactor, SETTINGS, shownValue } from '../../platform/config.ts';
import { metricParams } from '../../pipeline/compose.ts';
import { DEFAULT_PARAMS } from '../../processors/params.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({}, '/srv/cx');
    expect(c.kafkaBrokers).toBeUndefined();
    expect(c.partitions).toBe(6);
    expect(c.touchpointsTopic).toBe('cx.touchpoints.v1');
    expect(c.deadLetterTopic).toBe('cx.deadletter.v1');
    expect(c.clickhouseUrl).toBeUndefined();
    expect(c.clickhousePath).toBe('/srv/cx/data/clickhouse');
  });

  it('reads lists and numbers from the environment', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'k1:9092, k2:19092', CX_TOPIC_PARTITIONS: '12', CLICKHOUSE_URL: 'http://127.0.0.1:8123' });
    expect(c.kafkaBrokers).toEqual(['k1:9092', 'k2:19092']);
    expect(c.partitions).toBe(12);
  });

  it('names every bad variable, its value and what was expected', () => {
    let error: unknown;
    try {
      loadConfig({ KAFKA_BROKERS: 'not a host:port', CX_TOPIC_PARTITIONS: '0', CLICKHOUSE_URL: 'clickhouse' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('KAFKA_BROKERS="not a host:port": expected a comma-separated list of host:port');
    expect(message).toContain('CX_TOPIC_PARTITIONS="0": expected a whole number, at least 1');
    expect(message).toContain('CLICKHOUSE_URL="clickhouse": expected an http(s) URL');
    expect(() => loadConfig({ CLICKHOUSE_URL: 'ftp://127.0.0.1:8123' })).toThrow('CLICKHOUSE_URL="ftp://127.0.0.1:8123": expected an http(s) URL');
    expect(() => loadConfig({ CLICKHOUSE_DATABASE: 'cx-prod' })).toThrow('expected a database name');
  });

  it('makes the CLI exit 2 with that message, and no stack trace', () => {
    const r = spawnSync(process.execPath, ['bin/cx.js', 'config'], { cwd: ROOT, env: { ...process.env, KAFKA_BROKERS: 'not a host:port' }, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cx: Invalid configuration:\n  KAFKA_BROKERS="not a host:port"');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('is documented: README lists every variable', () => {
    const readme = readFileSync(new URL('README.md', `file://${ROOT}`), 'utf8');
    for (const [variable] of Object.values(SETTINGS)) expect(readme, variable).toContain(`| \`${variable}\``);
  });

  it('masks secrets: shown as set, URLs without their password, and scrubbed from any text, JSON-escaped too', () => {
    expect(shownValue('collectorToken', 'a-token-of-sixteen')).toBe('*** (set)');
    expect(shownValue('collectorToken', undefined)).toBe('(unset)');
    expect(shownValue('clickhouseUrl', 'http://bob:pw%40x@ch.internal:8123')).toBe('http://bob:***@ch.internal:8123');
    expect(shownValue('kafkaClientId', 'cx-pipeline')).toBe('cx-pipeline');
    expect(maskUrl('http://ch.internal:8123/')).toBe('http://ch.internal:8123/');
    const scrub = redactor({ clickhousePassword: 'pa"ss\\word-1', clickhouseUrl: 'http://bob:pw%40x@ch.internal:8123', collectorToken: 'abc' });
    // Raw, JSON-escaped (as in a log line), and a URL's password both as written and decoded.
    expect(scrub(`raw pa"ss\\word-1 ${JSON.stringify({ v: 'pa"ss\\word-1' })} pw%40x pw@x`)).toBe('raw *** {"v":"***"} *** ***');
    // A value too short to scrub safely (the schemas ask for 16+ characters where they can) is left: masking at the source covers it.
    expect(scrub('abc')).toBe('abc');
  });
});


describe('the folds\' default parameters', () => {
  it('are the configuration\'s defaults: processors/params.ts DEFAULT_PARAMS equals metricParams of an empty environment', () => {
    // The folds do not load the configuration (they import only their params); the literal
    // defaults they carry for tests and benches must not drift from the configuration's.
    expect(metricParams(loadConfig({}))).toEqual(DEFAULT_PARAMS);
    // And it can fail: one setting changed shows.
    expect(metricParams(loadConfig({ CX_AT_RISK_MEMORY: '0.4' }))).not.toEqual(DEFAULT_PARAMS);
  });
});
