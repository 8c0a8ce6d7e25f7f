/**
 * The webhook notifier against a real HTTP server on 127.0.0.1: what a receiver gets
 * (body, headers, a signature it can verify), which answers are retried and how long
 * it waits, and that a slow, dead or flooded endpoint never holds up the caller.
 * Backoff sleeps are injected (recorded, not waited); request timeouts are real but short.
 * The `slack` format: the exact message, signed like the `cx` body, chosen by
 * CX_ALERT_WEBHOOK_FORMAT.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { webhookNotifier } from '../../pipeline/compose.ts';
import { ConfigError, loadConfig } from '../../platform/config.ts';
import { alertJson, alertPayload, type DeliveryAttempt } from '../../processors/alerting/notifier.ts';
import { slackJson, slackPayload } from '../../processors/alerting/slack.ts';
import { verifySignature, WebhookNotifier, type WebhookFormat, type WebhookOptions } from '../../processors/alerting/webhook.ts';
import type { AlertEvent } from '../../schemas/contracts.ts';

const SECRET = 'whsec-9f1c2a4e5b6d4e8f';
const OPENED_AT = Date.UTC(2026, 10, 23, 10, 9);

/** WEB checkout's bad rate went from its usual 8.1% to 31% at 10:02; the CUSUM crossed 7 in the minute ending 10:09. */
const opened: AlertEvent = {
  alert_id: '3f2a9c1d-6b7e-4c21-9a0f-5d8e2b4c7a10', version: 1, status: 'OPENED', kind: 'TOUCHPOINT_DEGRADED', severity: 'CRITICAL',
  channel: 'WEB', touchpoint: 'checkout', leg: 'OPERATIONS',
  baseline: 0.081, current: 0.31, threshold: 0.181, statistic: 7.42,
  started_at: Date.UTC(2026, 10, 23, 10, 2), detected_at: OPENED_AT, changed_at: OPENED_AT, resolved_at: null,
  evidence: { minutes: 7, events: 2480, experiences: 610, bad: 189 },
  summary: 'WEB checkout: bad rate 31.0% vs baseline 8.1% since 10:02 UTC',
};
const updated: AlertEvent = {
  ...opened, version: 2, status: 'UPDATED', current: 0.27, statistic: 19.8, changed_at: Date.UTC(2026, 10, 23, 10, 24),
  evidence: { minutes: 22, events: 7710, experiences: 1904, bad: 541 }, summary: 'WEB checkout: bad rate 27.0% vs baseline 8.1% since 10:02 UTC',
};
/** A second, unrelated alert. */
const otherAlert = (i: number): AlertEvent => ({
  ...opened, alert_id: `7c0d1e2f-3a4b-4c5d-8e6f-${String(i).padStart(12, '0')}`, channel: 'CALL_CENTRE', touchpoint: 'support_call',
});

interface Received { url: string; headers: IncomingHttpHeaders; body: string }
type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang' | 'destroy';

/** A receiver that answers request n with script(n) and remembers what it got. */
class Receiver {
  readonly requests: Received[] = [];
  private readonly hanging: ServerResponse[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];
  private readonly server: Server;
  private port = 0;

  constructor(private script: (n: number, req: Received) => Reply = () => ({ status: 200 })) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        this.requests.push(r);
        const reply = this.script(this.requests.length, r);
        if (reply === 'hang') this.hanging.push(res);
        else if (reply === 'destroy') req.socket.destroy();
        else res.writeHead(reply.status, reply.headers).end(reply.body ?? '');
        this.waiters = this.waiters.filter((w) => (this.requests.length >= w.n ? (w.resolve(), false) : true));
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path = '/hooks/cx'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  answer(script: (n: number, req: Received) => Reply): void {
    this.script = script;
  }

  /** Resolves once n requests have arrived. */
  received(n: number): Promise<void> {
    return this.requests.length >= n ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Answers every hanging request. */
  release(status = 200): void {
    for (const res of this.hanging.splice(0)) if (!res.destroyed) res.writeHead(status).end();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let receiver: Receiver;
let attempts: DeliveryAttempt[];
let delays: number[];
let notifiers: WebhookNotifier[];

beforeEach(async () => {
  receiver = await new Receiver().start();
  attempts = [];
  delays = [];
  notifiers = [];
});

afterEach(async () => {
  receiver.release();
  await Promise.all(notifiers.map((n) => n.close(0)));
  await receiver.stop();
});

function webhook(opts: Partial<WebhookOptions> = {}): WebhookNotifier {
  const n = new WebhookNotifier({
    url: receiver.url(), secret: SECRET, timeoutMs: 2_000, maxAttempts: 6,
    onAttempt: (a) => attempts.push(a),
    sleep: async (ms) => void delays.push(ms),
    random: () => 0.5,
    ...opts,
  });
  notifiers.push(n);
  return n;
}

const outcomes = () => attempts.map((a) => a.outcome);

describe('alertJson', () => {
  it('is the event with ISO-8601 times and a type, in a fixed key order', () => {
    const payload = JSON.parse(alertJson(opened)) as Record<string, unknown>;
    expect(payload).toEqual({
      ...opened, type: 'cx.alert.v1',
      started_at: '2026-11-23T10:02:00.000Z', detected_at: '2026-11-23T10:09:00.000Z', changed_at: '2026-11-23T10:09:00.000Z', resolved_at: null,
    });
    expect(Object.keys(payload)).toEqual([
      'type', 'alert_id', 'version', 'status', 'kind', 'severity', 'channel', 'touchpoint', 'leg', 'baseline', 'current',
      'threshold', 'statistic', 'started_at', 'detected_at', 'changed_at', 'resolved_at', 'evidence', 'summary',
    ]);
    const shuffled = Object.fromEntries(Object.entries(opened).reverse()) as unknown as AlertEvent;
    expect(alertJson(shuffled)).toBe(alertJson(opened));
    expect(alertPayload({ ...opened, resolved_at: Date.UTC(2026, 10, 23, 10, 49) }).resolved_at).toBe('2026-11-23T10:49:00.000Z');
  });
});

describe('WebhookNotifier', () => {
  it('POSTs the JSON body with headers, and a signature the receiver can verify', async () => {
    const now = () => Date.UTC(2026, 10, 23, 10, 9, 30, 400);
    await webhook({ now }).notify(opened);

    expect(receiver.requests).toHaveLength(1);
    const [req] = receiver.requests as [Received];
    expect(req.url).toBe('/hooks/cx');
    expect(req.body).toBe(alertJson(opened));
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['user-agent']).toBe('cx-pipeline');
    expect(req.headers['x-cx-delivery']).toBe('3f2a9c1d-6b7e-4c21-9a0f-5d8e2b4c7a10:1');
    expect(req.headers['x-cx-timestamp']).toBe(String(Date.UTC(2026, 10, 23, 10, 9, 30) / 1000));
    const ts = req.headers['x-cx-timestamp'] as string;
    const sig = req.headers['x-cx-signature'] as string;
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);

    const at = now() + 20_000;
    expect(verifySignature(SECRET, ts, req.body, sig, 300, at)).toBe(true);
    expect(verifySignature(SECRET, ts, Buffer.from(req.body), sig, 300, at)).toBe(true);
    expect(verifySignature('another-secret-entirely', ts, req.body, sig, 300, at)).toBe(false);
    expect(verifySignature(SECRET, ts, req.body.replace('0.31', '0.13'), sig, 300, at)).toBe(false);
    expect(verifySignature(SECRET, String(Number(ts) + 1), req.body, sig, 300, at)).toBe(false);
    expect(verifySignature(SECRET, ts, req.body, sig, 300, now() + 301_000)).toBe(false); // replayed too late
    expect(verifySignature(SECRET, ts, req.body, 'sha256=abc', 300, at)).toBe(false);
    expect(verifySignature(SECRET, ts, req.body, undefined, 300, at)).toBe(false);
    expect(verifySignature(SECRET, undefined, req.body, sig, 300, at)).toBe(false);

    expect(attempts).toEqual([{
      alert_id: opened.alert_id, version: 1, notifier: 'webhook', target: receiver.url(), attempt: 1, attempted_at: now(),
      outcome: 'delivered', http_status: 200, error: '', latency_ms: 0,
    }]);
  });

  it('sends no signature without a secret', async () => {
    await webhook({ secret: undefined }).notify(opened);
    expect(receiver.requests[0]?.headers['x-cx-signature']).toBeUndefined();
    expect(receiver.requests[0]?.headers['x-cx-delivery']).toBe(`${opened.alert_id}:1`);
  });

  it('retries a 500 with the same delivery key and body, and records every attempt', async () => {
    receiver.answer((n) => (n <= 2 ? { status: 500, body: 'upstream exploded' } : { status: 204 }));
    await webhook().notify(updated);

    expect(outcomes()).toEqual(['retrying', 'retrying', 'delivered']);
    expect(attempts.map((a) => [a.attempt, a.http_status])).toEqual([[1, 500], [2, 500], [3, 204]]);
    expect(attempts[0]?.error).toMatch(/^HTTP 500: upstream exploded; next attempt in \d+ ms$/);
    expect(new Set(receiver.requests.map((r) => r.headers['x-cx-delivery']))).toEqual(new Set([`${updated.alert_id}:2`]));
    expect(new Set(receiver.requests.map((r) => r.body)).size).toBe(1);
    expect(delays).toHaveLength(2);
  });

  it('does not retry a 400, nor follow a redirect', async () => {
    receiver.answer((n) => (n === 1 ? { status: 400, body: '{"error":"unknown field: kind"}' } : { status: 302, headers: { location: '/elsewhere' } }));
    await webhook().notify(opened);
    await webhook().notify(updated);

    expect(receiver.requests).toHaveLength(2);
    expect(attempts.map((a) => [a.version, a.attempt, a.outcome, a.http_status])).toEqual([[1, 1, 'failed', 400], [2, 1, 'failed', 302]]);
    expect(attempts[0]?.error).toBe('HTTP 400: {"error":"unknown field: kind"}');
    expect(attempts[1]?.error).toMatch(/redirects are not followed/);
    expect(delays).toEqual([]);
  });

  it('retries 408, 429, 5xx and a dropped connection', async () => {
    const statuses: Reply[] = [{ status: 408 }, { status: 429 }, { status: 502 }, 'destroy', { status: 200 }];
    receiver.answer((n) => statuses[n - 1] ?? { status: 200 });
    await webhook().notify(opened);
    expect(attempts.map((a) => [a.outcome, a.http_status])).toEqual([
      ['retrying', 408], ['retrying', 429], ['retrying', 502], ['retrying', null], ['delivered', 200],
    ]);
    expect(attempts[3]?.error).not.toBe('');
  });

  it('abandons a request that gets no answer, retries it, and fails after maxAttempts', async () => {
    receiver.answer(() => 'hang');
    await webhook({ timeoutMs: 150, maxAttempts: 3 }).notify(opened);

    expect(receiver.requests).toHaveLength(3);
    expect(outcomes()).toEqual(['retrying', 'retrying', 'failed']);
    expect(attempts.map((a) => a.http_status)).toEqual([null, null, null]);
    expect(attempts[0]?.error).toMatch(/^no response within 150 ms; next attempt in/);
    expect(attempts[2]?.error).toBe('gave up after 3 attempts: no response within 150 ms');
  });

  it('waits as long as Retry-After says on 429 and 503, in seconds or as a date', async () => {
    const now = () => Date.UTC(2026, 10, 23, 10, 9, 30);
    const replies: Reply[] = [
      { status: 429, headers: { 'retry-after': '7' } },
      { status: 503, headers: { 'retry-after': new Date(now() + 12_000).toUTCString() } },
      { status: 503, headers: { 'retry-after': '86400' } }, // a day: cut to maxRetryAfterMs
      { status: 500, headers: { 'retry-after': '9' } }, // only 429 and 503 carry it: backoff
      { status: 200 },
    ];
    receiver.answer((n) => replies[n - 1] ?? { status: 200 });
    await webhook({ now, random: () => 0.5, maxRetryAfterMs: 60_000 }).notify(opened);

    expect(outcomes()).toEqual(['retrying', 'retrying', 'retrying', 'retrying', 'delivered']);
    expect(delays).toEqual([7_000, 12_000, 60_000, 0.5 * 500 * 2 ** 3]);
    expect(attempts[0]?.error).toBe('HTTP 429; next attempt in 7000 ms (Retry-After)');
  });

  it('backs off exponentially with full jitter, up to the cap', async () => {
    receiver.answer(() => ({ status: 500 }));
    const draws = [0.5, 0.999, 0, 0.25, 0.999, 0.999, 0.999, 0.5, 0.999];
    let i = 0;
    await webhook({ maxAttempts: 10, baseDelayMs: 500, maxDelayMs: 30_000, random: () => draws[i++] ?? 0 }).notify(opened);

    expect(outcomes()).toEqual([...Array(9).fill('retrying'), 'failed']);
    // ceilings 500, 1000, 2000, ... capped at 30 000, times the draw
    expect(delays).toEqual([250, 999, 0, 1_000, 7_992, 15_984, 29_970, 15_000, 29_970]);
    const ceilings = delays.map((d, k) => d / (draws[k] || 1));
    expect(Math.max(...ceilings)).toBeLessThanOrEqual(30_000);
  });

  it('returns from notify() before a hanging endpoint has answered', async () => {
    receiver.answer(() => 'hang');
    const n = webhook();
    let settled = false;
    const delivery = n.notify(opened).then(() => void (settled = true));
    expect(receiver.requests).toHaveLength(0); // the call came back before the request was even sent

    await receiver.received(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false); // still waiting on the receiver, without holding anyone up
    expect(attempts).toEqual([]);

    receiver.release(200);
    await delivery;
    expect(outcomes()).toEqual(['delivered']);
  });

  it('drops a change at once when the queue is full', async () => {
    receiver.answer(() => 'hang');
    const n = webhook({ concurrency: 1, queueLimit: 2 });
    const first = n.notify(otherAlert(1));
    const second = n.notify(otherAlert(2));
    await receiver.received(1);

    const third = n.notify(otherAlert(3));
    expect(attempts).toEqual([expect.objectContaining({
      alert_id: otherAlert(3).alert_id, attempt: 1, outcome: 'dropped', http_status: null, latency_ms: 0,
      error: 'queue full: 2 changes held (limit 2); the endpoint is slow or down',
    })]);
    await third; // settled although the endpoint still hangs
    expect(receiver.requests).toHaveLength(1);

    receiver.answer(() => ({ status: 200 }));
    receiver.release(200);
    await Promise.all([first, second]);
    expect(attempts.map((a) => [a.alert_id.slice(-1), a.outcome])).toEqual([['3', 'dropped'], ['1', 'delivered'], ['2', 'delivered']]);
  });

  it('close() waits for queued changes to be delivered', async () => {
    const n = webhook({ concurrency: 1 });
    void n.notify(otherAlert(1));
    void n.notify(otherAlert(2));
    await n.close(10_000);
    expect(outcomes()).toEqual(['delivered', 'delivered']);
  });

  it('close() gives up after its timeout and records what was in flight, backing off or queued', async () => {
    // alert 1 hangs in flight; alert 2 got a 503 asking for an hour; alert 3 waits for a free slot.
    receiver.answer((n, req) => (String(req.headers['x-cx-delivery']).startsWith(otherAlert(1).alert_id) ? 'hang' : { status: 503, headers: { 'retry-after': '3600' } }));
    const n = webhook({ concurrency: 2, sleep: undefined }); // the real sleep, which close() must cut short
    const settled = [n.notify(otherAlert(1)), n.notify(otherAlert(2)), n.notify(otherAlert(3))];
    await receiver.received(2);
    while (attempts.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));

    await n.close(100);
    await Promise.all(settled);
    const rows = attempts.map((a) => [a.alert_id.slice(-1), a.attempt, a.outcome]);
    expect(rows).toHaveLength(4);
    expect(rows).toEqual(expect.arrayContaining([
      ['2', 1, 'retrying'],
      ['3', 1, 'dropped'], // never sent
      ['1', 1, 'dropped'], // abandoned in flight
      ['2', 2, 'dropped'], // its second attempt was never made
    ]));
    expect(attempts.find((a) => a.alert_id.endsWith('3'))?.error).toMatch(/notifier closed after 100 ms with the change still queued/);

    await n.notify(opened);
    expect(attempts.at(-1)).toMatchObject({ alert_id: opened.alert_id, outcome: 'dropped', error: 'notifier is closed' });
  });

  it('delivers the changes of one alert in order, even when the first needs a retry', async () => {
    let failedOnce = false;
    receiver.answer((_, req) => {
      if (req.headers['x-cx-delivery'] === `${opened.alert_id}:1` && !failedOnce) {
        failedOnce = true;
        return { status: 500 };
      }
      return { status: 200 };
    });
    const n = webhook({ concurrency: 2 });
    await Promise.all([n.notify(opened), n.notify(updated), n.notify(otherAlert(1))]);
    const order = receiver.requests.map((r) => r.headers['x-cx-delivery']).filter((k) => String(k).startsWith(opened.alert_id));
    expect(order).toEqual([`${opened.alert_id}:1`, `${opened.alert_id}:1`, `${opened.alert_id}:2`]);
  });

  it('keeps URL credentials and query out of target, rows and logs, and sends them to the receiver', async () => {
    receiver.answer(() => ({ status: 404, body: 'no hook at /hooks/cx?token=t0k3n-s3cr3t' }));
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
    const url = receiver.url('/hooks/cx?token=t0k3n-s3cr3t#frag').replace('http://', 'http://ops:p%40ss-w0rd@');
    const n = webhook({ url, log });
    await n.notify(opened);

    expect(n.target).toBe(receiver.url('/hooks/cx'));
    const req = receiver.requests[0];
    expect(req?.url).toBe('/hooks/cx?token=t0k3n-s3cr3t');
    expect(req?.headers.authorization).toBe(`Basic ${Buffer.from('ops:p@ss-w0rd').toString('base64')}`);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ outcome: 'failed', http_status: 404, target: receiver.url('/hooks/cx') });
    const everything = JSON.stringify(attempts) + lines.join('');
    expect(lines.some((l) => l.includes('alert delivery failed'))).toBe(true);
    for (const secret of ['t0k3n-s3cr3t', 'p%40ss', 'p@ss', 'ops:', 'frag']) expect(everything).not.toContain(secret);
  });

  it('rejects a URL it cannot use, without echoing credentials', () => {
    expect(() => new WebhookNotifier({ url: 'not a url' })).toThrow(/not valid/);
    expect(() => new WebhookNotifier({ url: 'ftp://ops:hunter2@files.example.com/x' })).toThrow(/expected an http\(s\) URL, got ftp: \(ftp:\/\/files.example.com\/x\)/);
  });
});

describe('the slack format', () => {
  const field = (name: string, value: string) => ({ type: 'mrkdwn', text: `*${name}*\n${value}` });
  /** The leg alert of the same morning: OPERATIONS scored 0.52 against E = 0.6, resolved at 10:49. */
  const legResolved: AlertEvent = {
    ...opened, alert_id: '9b1e04aa-2c3d-4e5f-8a6b-7c8d9e0f1a2b', version: 3, status: 'RESOLVED', kind: 'LEG_BELOW_THRESHOLD', severity: 'WARNING',
    channel: null, touchpoint: null, leg: 'OPERATIONS', baseline: 0.6, current: 0.52, threshold: 0.6, statistic: 0.08,
    changed_at: Date.UTC(2026, 10, 23, 10, 49), resolved_at: Date.UTC(2026, 10, 23, 10, 49),
    summary: 'leg OPERATIONS: score 0.61, back above E 0.60 after 47 min',
  };

  it('is a Slack incoming-webhook message: fallback text, a header, the figures as fields, the alert id', () => {
    expect(slackPayload(opened)).toEqual({
      text: '[CRITICAL] OPENED TOUCHPOINT_DEGRADED: WEB / checkout (leg OPERATIONS): WEB checkout: bad rate 31.0% vs baseline 8.1% since 10:02 UTC',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'CRITICAL · OPENED · WEB / checkout (leg OPERATIONS)' } },
        {
          type: 'section',
          text: { type: 'mrkdwn', text: 'WEB checkout: bad rate 31.0% vs baseline 8.1% since 10:02 UTC' },
          fields: [
            field('Severity', 'CRITICAL'),
            field('Status', 'OPENED'),
            field('Kind', 'TOUCHPOINT_DEGRADED'),
            field('Subject', 'WEB / checkout (leg OPERATIONS)'),
            field('Started', '2026-11-23 10:02 UTC'),
            field('Detected', '2026-11-23 10:09 UTC'),
            field('Current vs baseline', '0.31 vs 0.081'),
          ],
        },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'alert 3f2a9c1d-6b7e-4c21-9a0f-5d8e2b4c7a10 v1 · changed 2026-11-23 10:09 UTC' }] },
      ],
    });
    expect(JSON.parse(slackJson(opened))).toEqual(slackPayload(opened));
  });

  it('names a leg alert by its leg, adds when it resolved, and shows a kind it does not know as it is', () => {
    const leg = slackPayload(legResolved);
    expect(leg.blocks[0].text.text).toBe('WARNING · RESOLVED · leg OPERATIONS');
    expect(leg.blocks[1].fields).toEqual([
      field('Severity', 'WARNING'), field('Status', 'RESOLVED'), field('Kind', 'LEG_BELOW_THRESHOLD'), field('Subject', 'leg OPERATIONS'),
      field('Started', '2026-11-23 10:02 UTC'), field('Detected', '2026-11-23 10:09 UTC'), field('Current vs baseline', '0.52 vs 0.6'),
      field('Resolved', '2026-11-23 10:49 UTC'),
    ]);
    // A kind the contract may gain (silence on a channel): its name, and the subject from the fields it sets.
    const drop = slackPayload({ ...opened, kind: 'TRAFFIC_DROP' as AlertEvent['kind'], touchpoint: null, baseline: 1240, current: 12, summary: 'WEB: 12 events/min vs 1240 usual' });
    expect(drop.text).toBe('[CRITICAL] OPENED TRAFFIC_DROP: WEB (leg OPERATIONS): WEB: 12 events/min vs 1240 usual');
    expect(drop.blocks[1].fields).toContainEqual(field('Kind', 'TRAFFIC_DROP'));
    expect(drop.blocks[1].fields).toContainEqual(field('Subject', 'WEB (leg OPERATIONS)'));
    expect(drop.blocks[1].fields).toContainEqual(field('Current vs baseline', '12 vs 1240'));
  });

  it('escapes what Slack would read as markup, and keeps within Slack\'s length limits', () => {
    const odd = slackPayload({ ...opened, touchpoint: '<!channel> & co', summary: `${'x'.repeat(2995)} <b>&` });
    expect(odd.text).not.toContain('<!channel>');
    expect(odd.text).toContain('&lt;!channel&gt; &amp; co');
    expect(odd.blocks[1].fields).toContainEqual(field('Subject', 'WEB / &lt;!channel&gt; &amp; co (leg OPERATIONS)'));
    // The header is plain_text: not parsed, so not escaped.
    expect(odd.blocks[0].text.text).toBe('CRITICAL · OPENED · WEB / <!channel> & co (leg OPERATIONS)');
    // Escaped, the summary is 3010 characters: cut to Slack's 3000 for a section, not inside `&lt;`.
    expect(odd.blocks[1].text.text).toBe(`${'x'.repeat(2995)} …`);
    expect(slackPayload({ ...opened, summary: 'y'.repeat(3001) }).blocks[1].text.text).toBe(`${'y'.repeat(2999)}…`);
    const long = slackPayload({ ...opened, channel: 'C'.repeat(400) });
    expect(long.blocks[0].text.text.length).toBe(150);
    expect(long.blocks[0].text.text.endsWith('…')).toBe(true);
    expect(long.text.length).toBeLessThanOrEqual(3000);
    expect(slackPayload({ ...opened, summary: '' }).blocks[1].text.text).toBe('WEB / checkout (leg OPERATIONS)');
  });

  it('is what the notifier POSTs with format slack, signed over exactly that body', async () => {
    const now = () => Date.UTC(2026, 10, 23, 10, 9, 30);
    await webhook({ now, format: 'slack' }).notify(opened);

    const [req] = receiver.requests as [Received];
    expect(req.body).toBe(slackJson(opened));
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-cx-delivery']).toBe(`${opened.alert_id}:1`);
    const ts = req.headers['x-cx-timestamp'] as string;
    const sig = req.headers['x-cx-signature'] as string;
    expect(verifySignature(SECRET, ts, req.body, sig, 300, now())).toBe(true);
    expect(verifySignature(SECRET, ts, alertJson(opened), sig, 300, now())).toBe(false);
    expect(attempts.map((a) => a.outcome)).toEqual(['delivered']);
  });

  it('is chosen by CX_ALERT_WEBHOOK_FORMAT (default cx), and an unknown format is refused with what is expected', async () => {
    expect(loadConfig({}).alertWebhookFormat).toBe('cx');
    expect(loadConfig({ CX_ALERT_WEBHOOK_FORMAT: 'slack' }).alertWebhookFormat).toBe('slack');
    expect(() => loadConfig({ CX_ALERT_WEBHOOK_FORMAT: 'teams' })).toThrow(ConfigError);
    expect(() => loadConfig({ CX_ALERT_WEBHOOK_FORMAT: 'teams' })).toThrow('CX_ALERT_WEBHOOK_FORMAT="teams": expected cx (the alert as JSON) or slack (a Slack incoming-webhook message)');
    expect(() => loadConfig({ CX_ALERT_WEBHOOK_FORMAT: 'Slack' })).toThrow('CX_ALERT_WEBHOOK_FORMAT="Slack": expected cx');
    expect(() => new WebhookNotifier({ url: receiver.url(), format: 'teams' as WebhookFormat })).toThrow('webhook notifier: format must be one of cx, slack, got "teams"');

    // The composition root hands the setting to the notifier `cx process` and `npm start` run.
    const log = pino({ level: 'silent' });
    for (const [format, body] of [['slack', slackJson(opened)], ['cx', alertJson(opened)]] as const) {
      const config = loadConfig({ CX_ALERT_WEBHOOK_URL: receiver.url(), CX_ALERT_WEBHOOK_FORMAT: format });
      const [n] = webhookNotifier(config, log, (a) => attempts.push(a));
      await n?.notify(opened);
      await n?.close(0);
      expect(receiver.requests.at(-1)?.body, format).toBe(body);
    }
    expect(receiver.requests).toHaveLength(2);
  });
});
