/**
 * The console notifier for `npm start`: one line per alert change, as it happens.
 *
 *   ALERT OPENED   CRITICAL  WEB checkout  bad 31.0% vs baseline 8.1% since 10:02 UTC  (3f2a9c1d…, v1)
 *   ALERT RESOLVED CRITICAL  WEB checkout  after 47 min (10:02-10:49 UTC), bad 8.4% vs baseline 8.1%  (3f2a9c1d…, v3)
 *   ALERT OPENED   WARNING   leg OPERATIONS  score 0.52 vs E 0.60 since 10:02 UTC  (9b1e04aa…, v1)
 *
 * Times are event time, in UTC.
 */
import type { Logger } from '../../platform/log.ts';
import type { AlertEvent } from '../../schemas/contracts.ts';
import { errorText, reportAttempt, type Notifier, type OnAttempt } from './notifier.ts';

export interface ConsoleNotifierOptions {
  /** Default process.stdout. */
  out?: NodeJS.WritableStream;
  /** Shown in delivery rows. Default `stdout`, or `stream` for another writable. */
  target?: string;
  onAttempt?: OnAttempt;
  log?: Logger;
  now?: () => number;
}

const pct = (rate: number): string => `${(rate * 100).toFixed(1)}%`;

function hhmm(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

/** `10:02`, with the date when it is not the day of `ref`. */
function clock(ms: number, ref: number): string {
  const day = new Date(ms).toISOString().slice(0, 10);
  return day === new Date(ref).toISOString().slice(0, 10) ? hhmm(ms) : `${day} ${hhmm(ms)}`;
}

/** `47 min`, `2 h 05 min`, `3 d 4 h`. */
export function duration(ms: number): string {
  const min = Math.max(0, Math.round(ms / 60_000));
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 24) return `${h} h ${String(min % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** The console line of one alert change (no newline). */
export function alertLine(a: AlertEvent): string {
  const end = a.resolved_at ?? a.changed_at;
  const resolved = a.status === 'RESOLVED';
  const when = resolved
    ? `after ${duration(end - a.started_at)} (${clock(a.started_at, end)}-${hhmm(end)} UTC)`
    : `since ${clock(a.started_at, a.changed_at)} UTC`;
  let subject: string;
  let figures: string;
  if (a.kind === 'LEG_BELOW_THRESHOLD') {
    subject = `leg ${a.leg}`;
    figures = `score ${a.current.toFixed(2)} vs E ${a.baseline.toFixed(2)}`;
  } else if (a.kind === 'TOUCHPOINT_DEGRADED') {
    subject = `${a.channel ?? '?'} ${a.touchpoint ?? '?'}`;
    figures = `bad ${pct(a.current)} vs baseline ${pct(a.baseline)}`;
  } else if (a.kind === 'TRAFFIC_DROP') {
    subject = `${a.channel ?? '?'} ${a.touchpoint ?? '(whole channel)'}`;
    figures = `traffic ${a.current.toFixed(1)}/min vs ${a.baseline.toFixed(1)}/min expected`;
  } else {
    subject = a.summary;
    figures = '';
  }
  const detail = resolved ? [when, figures].filter(Boolean).join(', ') : [figures, when].filter(Boolean).join(' ');
  const id = `${a.alert_id.slice(0, 8)}…, v${a.version}`;
  return `ALERT ${a.status.padEnd(9)}${a.severity.padEnd(10)}${subject}  ${detail}  (${id})`;
}

export class ConsoleNotifier implements Notifier {
  readonly name = 'console';
  readonly target: string;
  private readonly out: NodeJS.WritableStream;
  private readonly onAttempt: OnAttempt | undefined;
  private readonly log: Logger | undefined;
  private readonly now: () => number;

  constructor(opts: ConsoleNotifierOptions = {}) {
    this.out = opts.out ?? process.stdout;
    this.target = opts.target ?? (this.out === process.stdout ? 'stdout' : 'stream');
    this.onAttempt = opts.onAttempt;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  notify(alert: AlertEvent): Promise<void> {
    const at = this.now();
    let error = '';
    try {
      this.out.write(`${alertLine(alert)}\n`);
    } catch (err) {
      error = errorText(err);
    }
    reportAttempt(this.onAttempt, {
      alert_id: alert.alert_id, version: alert.version, notifier: this.name, target: this.target,
      attempt: 1, attempted_at: at, outcome: error ? 'failed' : 'delivered', http_status: null, error,
      latency_ms: Math.max(0, Math.round(this.now() - at)),
    }, (err) => this.log?.error({ err, alert_id: alert.alert_id }, 'onAttempt threw; the delivery row is lost'));
    if (error) this.log?.warn({ notifier: this.name, alert_id: alert.alert_id, version: alert.version, error }, 'alert line not written');
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
