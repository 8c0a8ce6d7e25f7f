/**
 * The webhook notifier: POSTs each alert change as JSON to one URL, from a bounded
 * in-memory queue, so a slow or dead endpoint never slows the pipeline. The body is
 * `alertJson` (format `cx`, the default) or a Slack incoming-webhook message
 * (`slackJson`, format `slack`); the headers and the signature are the same for both.
 *
 * Request headers:
 * - `Content-Type: application/json`, `User-Agent: cx-pipeline`
 * - `X-CX-Delivery: <alert_id>:<version>`: the idempotency key; every retry of a change
 *   carries the same one, so a receiver that has seen it should answer 2xx and ignore it.
 * - `X-CX-Timestamp: <unix seconds>`: when this attempt was signed.
 * - `X-CX-Signature: sha256=<hex>`, with a secret: HMAC-SHA256 with the secret as key
 *   over `<X-CX-Timestamp>.<raw body>`.
 *
 * A receiver verifies a request by:
 * 1. taking the raw body bytes as received (before any JSON parsing);
 * 2. computing hex(HMAC-SHA256(secret, X-CX-Timestamp + "." + body)) and comparing it
 *    with the part after `sha256=` in constant time;
 * 3. rejecting a timestamp more than a few minutes from its own clock (replays);
 * 4. de-duplicating on X-CX-Delivery.
 * `verifySignature` below does 1–3.
 *
 * Delivery: 2xx is delivered. Network errors, timeouts, 408, 429 and 5xx are retried
 * with exponential backoff and full jitter (a delay drawn uniformly from
 * [0, min(maxDelayMs, baseDelayMs * 2^(attempt-1)))), or after Retry-After on 429 and
 * 503, up to maxAttempts; then the change has failed. Other statuses (4xx, and 3xx:
 * redirects are not followed, the signature is for this URL) fail at once. Changes of
 * one alert are delivered in order; different alerts go concurrently.
 *
 * Credentials in the URL are sent as basic authentication; they and the query string
 * are kept out of `target`, the delivery rows and the logs.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../../platform/log.ts';
import type { AlertEvent } from '../../schemas/contracts.ts';
import { alertJson, errorText, reportAttempt, type DeliveryAttempt, type DeliveryOutcome, type Notifier, type OnAttempt } from './notifier.ts';
import { slackJson } from './slack.ts';

/** What the body is: `cx`, the AlertEvent as JSON (`alertJson`); `slack`, a Slack incoming-webhook message (`slackJson`). */
export const WEBHOOK_FORMATS = ['cx', 'slack'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

const BODY_OF: Record<WebhookFormat, (alert: AlertEvent) => string> = { cx: alertJson, slack: slackJson };

export interface WebhookOptions {
  /** http(s) URL; `user:password@` becomes basic authentication. */
  url: string;
  /** Signs requests (X-CX-Signature) when set. */
  secret?: string;
  /** The body's format. Default `cx`. */
  format?: WebhookFormat;
  /** One request, response included; longer is abandoned and retried. Default 5000. */
  timeoutMs?: number;
  /** Attempts per change, the first included. Default 6. */
  maxAttempts?: number;
  /** Most changes held at once (waiting, in flight or backing off); more are dropped. Default 10 000. */
  queueLimit?: number;
  /** Requests in flight at once. Default 2. */
  concurrency?: number;
  /** Backoff: the first retry waits up to this, doubling per attempt. Default 500. */
  baseDelayMs?: number;
  /** Backoff cap. Default 30 000. */
  maxDelayMs?: number;
  /** A longer Retry-After is cut to this. Default 300 000. */
  maxRetryAfterMs?: number;
  onAttempt?: OnAttempt;
  log?: Logger;
  /** In [0, 1); the backoff jitter. Default Math.random. */
  random?: () => number;
  /** Waits between attempts; should end early when the signal aborts (close gave up). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Epoch ms: attempted_at, latency, X-CX-Timestamp, Retry-After dates. Default Date.now. */
  now?: () => number;
}

export const SIGNATURE_HEADER = 'x-cx-signature';
export const TIMESTAMP_HEADER = 'x-cx-timestamp';
export const DELIVERY_HEADER = 'x-cx-delivery';

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. */
export function signature(secret: string, timestamp: string | number, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

/**
 * For receivers: true when `header` (X-CX-Signature) is the signature of `body` (the
 * raw bytes received) at `timestamp` (X-CX-Timestamp) with `secret`, and the timestamp
 * is within toleranceSec of nowMs. Never throws on malformed input.
 */
export function verifySignature(
  secret: string, timestamp: string | number | undefined, body: string | Buffer, header: string | undefined,
  toleranceSec = 300, nowMs = Date.now(),
): boolean {
  const ts = String(timestamp ?? '');
  if (!/^\d{1,12}$/.test(ts) || Math.abs(nowMs / 1000 - Number(ts)) > toleranceSec) return false;
  const given = /^sha256=([0-9a-f]{64})$/i.exec(header?.trim() ?? '')?.[1];
  if (!given) return false;
  const expected = Buffer.from(signature(secret, ts, body).slice('sha256='.length), 'hex');
  return timingSafeEqual(Buffer.from(given, 'hex'), expected);
}

/** The URL as it may be shown and stored: no credentials, query or fragment. */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

interface Delivery {
  alert: AlertEvent;
  key: string;
  body: string;
  /** Attempts made so far. */
  attempts: number;
  settle: () => void;
}

/** What one POST came to. */
type Result =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; status: number | null; error: string; retryAfterMs: number | null }
  | { kind: 'refused'; status: number; error: string }
  | { kind: 'abandoned'; error: string };

const NOT_SENT = { http_status: null, latency_ms: 0 } as const;

async function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal }).catch(() => undefined);
}

/** The start of a response body; the rest is not waited for. */
async function readAtMost(res: Response, bytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < bytes) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).subarray(0, bytes).toString('utf8');
}

function wholeNumber(name: string, v: number, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new Error(`webhook notifier: ${name} must be a whole number >= ${min}, got ${v}`);
  return v;
}

export class WebhookNotifier implements Notifier {
  readonly name = 'webhook';
  readonly target: string;

  private readonly requestUrl: string;
  /** The query string, which must not reach rows or logs; '' when none. */
  private readonly query: string;
  private readonly authorization: string | null;
  private readonly secret: string | undefined;
  private readonly body: (alert: AlertEvent) => string;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly queueLimit: number;
  private readonly concurrency: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly onAttempt: OnAttempt | undefined;
  private readonly log: Logger | undefined;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly now: () => number;

  private readonly waiting: Delivery[] = [];
  /** Alerts with a change in progress: their next change waits, so each alert's changes arrive in order. */
  private readonly busy = new Set<string>();
  private inProgress = 0;
  private closing = false;
  /** Aborted when close() gives up: cuts requests in flight and backoff sleeps. */
  private readonly stop = new AbortController();
  private readonly stopped: Promise<void>;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: WebhookOptions) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new Error('webhook notifier: the URL is not valid (expected an http(s) URL, e.g. https://hooks.example.com/cx)');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`webhook notifier: expected an http(s) URL, got ${url.protocol} (${redactUrl(url)})`);
    }
    this.target = redactUrl(url);
    this.authorization = url.username || url.password
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      : null;
    // fetch refuses URLs with credentials; they travel in Authorization instead.
    url.username = '';
    url.password = '';
    url.hash = '';
    this.requestUrl = url.href;
    this.query = url.search.slice(1);

    this.secret = opts.secret || undefined;
    const format = opts.format ?? 'cx';
    if (!Object.hasOwn(BODY_OF, format)) {
      throw new Error(`webhook notifier: format must be one of ${WEBHOOK_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
    }
    this.body = BODY_OF[format];
    this.timeoutMs = wholeNumber('timeoutMs', opts.timeoutMs ?? 5_000);
    this.maxAttempts = wholeNumber('maxAttempts', opts.maxAttempts ?? 6);
    this.queueLimit = wholeNumber('queueLimit', opts.queueLimit ?? 10_000);
    this.concurrency = wholeNumber('concurrency', opts.concurrency ?? 2);
    this.baseDelayMs = wholeNumber('baseDelayMs', opts.baseDelayMs ?? 500, 0);
    this.maxDelayMs = wholeNumber('maxDelayMs', opts.maxDelayMs ?? 30_000, 0);
    this.maxRetryAfterMs = wholeNumber('maxRetryAfterMs', opts.maxRetryAfterMs ?? 300_000, 0);
    this.onAttempt = opts.onAttempt;
    this.log = opts.log?.child({ notifier: this.name, target: this.target });
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? sleepUnlessAborted;
    this.now = opts.now ?? Date.now;
    this.stopped = new Promise((resolve) => this.stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  /** Changes waiting or in progress. */
  get pending(): number {
    return this.waiting.length + this.inProgress;
  }

  notify(alert: AlertEvent): Promise<void> {
    let body: string;
    try {
      body = this.body(alert);
    } catch (err) {
      this.record(alert, 1, 'failed', { ...NOT_SENT, error: `cannot encode the alert as JSON: ${errorText(err)}` });
      return Promise.resolve();
    }
    if (this.closing) {
      this.record(alert, 1, 'dropped', { ...NOT_SENT, error: 'notifier is closed' });
      return Promise.resolve();
    }
    if (this.pending >= this.queueLimit) {
      this.record(alert, 1, 'dropped', { ...NOT_SENT, error: `queue full: ${this.pending} changes held (limit ${this.queueLimit}); the endpoint is slow or down` });
      return Promise.resolve();
    }
    return new Promise<void>((settle) => {
      this.waiting.push({ alert, key: `${alert.alert_id}:${alert.version}`, body, attempts: 0, settle });
      this.pump();
    });
  }

  async close(timeoutMs = 5_000): Promise<void> {
    this.closing = true;
    const drained = this.whenIdle();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      drained.then(() => 'drained' as const),
      new Promise<'timeout'>((resolve) => { timer = setTimeout(resolve, timeoutMs, 'timeout'); }),
    ]);
    clearTimeout(timer);
    if (outcome === 'drained') return;
    this.stop.abort();
    for (const d of this.waiting.splice(0)) {
      this.record(d.alert, d.attempts + 1, 'dropped', { ...NOT_SENT, error: `notifier closed after ${timeoutMs} ms with the change still queued` });
      d.settle();
    }
    this.wakeIfIdle();
    // Deliveries in flight or backing off see the abort, record themselves and settle.
    await drained;
  }

  private pump(): void {
    while (this.inProgress < this.concurrency) {
      const i = this.waiting.findIndex((d) => !this.busy.has(d.alert.alert_id));
      if (i < 0) return;
      const [d] = this.waiting.splice(i, 1) as [Delivery];
      this.inProgress++;
      this.busy.add(d.alert.alert_id);
      void this.deliver(d)
        .catch((err: unknown) => this.log?.error({ err, alert_id: d.alert.alert_id, version: d.alert.version }, 'alert delivery crashed (a bug)'))
        .finally(() => {
          this.inProgress--;
          this.busy.delete(d.alert.alert_id);
          d.settle();
          this.pump();
          this.wakeIfIdle();
        });
    }
  }

  private wakeIfIdle(): void {
    if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private whenIdle(): Promise<void> {
    return this.pending === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async deliver(d: Delivery): Promise<void> {
    for (;;) {
      if (this.stop.signal.aborted) {
        this.record(d.alert, d.attempts + 1, 'dropped', { ...NOT_SENT, error: `notifier closed before attempt ${d.attempts + 1}` });
        return;
      }
      const attempt = ++d.attempts;
      const startedAt = this.now();
      const r = await this.post(d);
      const done = { latency_ms: Math.max(0, Math.round(this.now() - startedAt)) };
      switch (r.kind) {
        case 'delivered':
          this.record(d.alert, attempt, 'delivered', { ...done, http_status: r.status, error: '' }, startedAt);
          return;
        case 'refused':
          this.record(d.alert, attempt, 'failed', { ...done, http_status: r.status, error: r.error }, startedAt);
          return;
        case 'abandoned':
          this.record(d.alert, attempt, 'dropped', { ...done, http_status: null, error: r.error }, startedAt);
          return;
        case 'retry': {
          if (attempt >= this.maxAttempts) {
            this.record(d.alert, attempt, 'failed', { ...done, http_status: r.status, error: `gave up after ${attempt} attempts: ${r.error}` }, startedAt);
            return;
          }
          const wait = r.retryAfterMs ?? this.backoff(attempt);
          const why = r.retryAfterMs === null ? '' : ' (Retry-After)';
          this.record(d.alert, attempt, 'retrying', { ...done, http_status: r.status, error: `${r.error}; next attempt in ${wait} ms${why}` }, startedAt);
          await Promise.race([this.sleep(wait, this.stop.signal), this.stopped]);
        }
      }
    }
  }

  /** Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))). */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.floor(this.random() * ceiling);
  }

  private async post(d: Delivery): Promise<Result> {
    const timestamp = String(Math.floor(this.now() / 1000));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'cx-pipeline',
      [DELIVERY_HEADER]: d.key,
      [TIMESTAMP_HEADER]: timestamp,
    };
    if (this.secret) headers[SIGNATURE_HEADER] = signature(this.secret, timestamp, d.body);
    if (this.authorization) headers.authorization = this.authorization;

    // One controller per request, aborted by its timeout or by close() giving up.
    // (Not AbortSignal.any: it keeps a reference per request on the long-lived stop signal.)
    const request = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; request.abort(); }, this.timeoutMs);
    const onStop = () => request.abort();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    try {
      const res = await fetch(this.requestUrl, { method: 'POST', headers, body: d.body, signal: request.signal, redirect: 'manual' });
      const status = res.status;
      if (status >= 200 && status < 300) {
        await res.body?.cancel().catch(() => undefined);
        return { kind: 'delivered', status };
      }
      const error = `HTTP ${status}${await this.snippet(res)}`;
      if (status === 408 || status === 429 || status >= 500) {
        const retryAfterMs = status === 429 || status === 503 ? this.retryAfter(res.headers.get('retry-after')) : null;
        return { kind: 'retry', status, error, retryAfterMs };
      }
      if (status >= 300 && status < 400) {
        return { kind: 'refused', status, error: `${error}: redirects are not followed; configure the final URL` };
      }
      return { kind: 'refused', status, error };
    } catch (err) {
      if (this.stop.signal.aborted) return { kind: 'abandoned', error: 'notifier closed with the request in flight; the receiver may or may not have it' };
      if (timedOut) return { kind: 'retry', status: null, error: `no response within ${this.timeoutMs} ms`, retryAfterMs: null };
      return { kind: 'retry', status: null, error: this.redact(errorText(err)), retryAfterMs: null };
    } finally {
      clearTimeout(timer);
      this.stop.signal.removeEventListener('abort', onStop);
    }
  }

  /** The start of an error response's body, for the delivery row. */
  private async snippet(res: Response): Promise<string> {
    try {
      const text = this.redact((await readAtMost(res, 2048)).replace(/\s+/g, ' ').trim());
      return text ? `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}` : '';
    } catch {
      return '';
    }
  }

  /** Retry-After as delay-seconds or an HTTP date; null when absent or unreadable. */
  private retryAfter(value: string | null): number | null {
    if (value === null) return null;
    const v = value.trim();
    let ms: number;
    if (/^\d+$/.test(v)) ms = Number(v) * 1000;
    else {
      const at = Date.parse(v);
      if (Number.isNaN(at)) return null;
      ms = at - this.now();
    }
    return Math.min(this.maxRetryAfterMs, Math.max(0, ms));
  }

  /** Errors and bodies may echo the URL; keep its query and credentials out. */
  private redact(text: string): string {
    const t = text.split(this.requestUrl).join(this.target);
    return this.query ? t.split(this.query).join('…') : t;
  }

  private record(
    alert: AlertEvent, attempt: number, outcome: DeliveryOutcome,
    r: { http_status: number | null; error: string; latency_ms: number }, attemptedAt = this.now(),
  ): void {
    const a: DeliveryAttempt = {
      alert_id: alert.alert_id, version: alert.version, notifier: this.name, target: this.target,
      attempt, attempted_at: attemptedAt, outcome, ...r,
    };
    const fields = { alert_id: a.alert_id, version: a.version, attempt, outcome, http_status: a.http_status, error: a.error };
    if (outcome === 'delivered') this.log?.debug(fields, 'alert delivered');
    else if (outcome === 'retrying') this.log?.info(fields, 'alert delivery failed; retrying');
    else this.log?.warn(fields, outcome === 'dropped' ? 'alert change dropped' : 'alert delivery failed');
    reportAttempt(this.onAttempt, a, (err) => this.log?.error({ err, alert_id: a.alert_id }, 'onAttempt threw; the delivery row is lost'));
  }
}
