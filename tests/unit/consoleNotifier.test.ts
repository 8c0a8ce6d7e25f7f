/** The console notifier's lines for `npm start`, and the delivery rows it reports. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { alertLine, ConsoleNotifier, duration } from '../../processors/alerting/console.ts';
import type { DeliveryAttempt } from '../../processors/alerting/notifier.ts';
import type { AlertEvent } from '../../schemas/contracts.ts';

const at = (h: number, m: number, day = 23) => Date.UTC(2026, 10, day, h, m);

/** WEB checkout's bad rate went from its usual 8.1% to 31% at 10:02. */
const opened: AlertEvent = {
  alert_id: '3f2a9c1d-6b7e-4c21-9a0f-5d8e2b4c7a10', version: 1, status: 'OPENED', kind: 'TOUCHPOINT_DEGRADED', severity: 'CRITICAL',
  channel: 'WEB', touchpoint: 'checkout', leg: 'OPERATIONS',
  baseline: 0.081, current: 0.31, threshold: 0.181, statistic: 7.42,
  started_at: at(10, 2), detected_at: at(10, 9), changed_at: at(10, 9), resolved_at: null,
  evidence: { minutes: 7, events: 2480, experiences: 610, bad: 189 },
  summary: 'WEB checkout: bad rate 31.0% vs baseline 8.1% since 10:02 UTC',
};
const resolved: AlertEvent = {
  ...opened, version: 3, status: 'RESOLVED', current: 0.084, statistic: 0, changed_at: at(10, 49), resolved_at: at(10, 49),
  evidence: { minutes: 47, events: 16_420, experiences: 4_050, bad: 702 },
  summary: 'WEB checkout back to 8.4% (baseline 8.1%) after 47 min',
};
/** The operations leg's score fell to 0.52, below E = 0.6. */
const legOpened: AlertEvent = {
  alert_id: '9b1e04aa-2c3d-4e5f-8a6b-7c8d9e0f1a2b', version: 1, status: 'OPENED', kind: 'LEG_BELOW_THRESHOLD', severity: 'WARNING',
  channel: null, touchpoint: null, leg: 'OPERATIONS',
  baseline: 0.6, current: 0.52, threshold: 0.6, statistic: 0.08,
  started_at: at(23, 50, 22), detected_at: at(0, 5), changed_at: at(0, 5), resolved_at: null,
  evidence: { minutes: 15, events: 9_120, experiences: 2_236, bad: 611 },
  summary: 'OPERATIONS leg score 0.52 below E 0.60: the stool does not stand',
};

function sink() {
  const chunks: string[] = [];
  const out = new Writable({ write(chunk: Buffer, _enc, done) { chunks.push(chunk.toString()); done(); } });
  return { out, text: () => chunks.join('') };
}

describe('alertLine', () => {
  it('says what degraded, by how much, and since when', () => {
    expect(alertLine(opened)).toBe('ALERT OPENED   CRITICAL  WEB checkout  bad 31.0% vs baseline 8.1% since 10:02 UTC  (3f2a9c1d…, v1)');
    expect(alertLine({ ...opened, version: 2, status: 'UPDATED', severity: 'WARNING', current: 0.2 }))
      .toBe('ALERT UPDATED  WARNING   WEB checkout  bad 20.0% vs baseline 8.1% since 10:02 UTC  (3f2a9c1d…, v2)');
  });

  it('says how long a resolved alert lasted', () => {
    expect(alertLine(resolved)).toBe('ALERT RESOLVED CRITICAL  WEB checkout  after 47 min (10:02-10:49 UTC), bad 8.4% vs baseline 8.1%  (3f2a9c1d…, v3)');
  });

  it('names the leg and its score against E, with the date when it began another day', () => {
    expect(alertLine(legOpened)).toBe('ALERT OPENED   WARNING   leg OPERATIONS  score 0.52 vs E 0.60 since 2026-11-22 23:50 UTC  (9b1e04aa…, v1)');
  });

  it('says which channel or touchpoint went quiet, and its traffic against the expected', () => {
    const silence: AlertEvent = {
      ...opened, kind: 'TRAFFIC_DROP', touchpoint: null, leg: '', baseline: 41.25, current: 0, threshold: 10.3125, statistic: 61.9,
      summary: 'WEB (whole channel): 0 visits since 10:02 UTC where about 83 were expected (0.0/min against 41/min)',
    };
    expect(alertLine(silence)).toBe('ALERT OPENED   CRITICAL  WEB (whole channel)  traffic 0.0/min vs 41.3/min expected since 10:02 UTC  (3f2a9c1d…, v1)');
    expect(alertLine({ ...silence, touchpoint: 'checkout' })).toBe('ALERT OPENED   CRITICAL  WEB checkout  traffic 0.0/min vs 41.3/min expected since 10:02 UTC  (3f2a9c1d…, v1)');
  });

  it('falls back to the summary for other kinds', () => {
    expect(alertLine({ ...legOpened, kind: 'OTHER' })).toBe(`ALERT OPENED   WARNING   ${legOpened.summary}  since 2026-11-22 23:50 UTC  (9b1e04aa…, v1)`);
  });

  it('formats durations', () => {
    expect([0, 47, 60, 125, 24 * 60, 27 * 60 + 59].map((m) => duration(m * 60_000))).toEqual(['0 min', '47 min', '1 h 00 min', '2 h 05 min', '1 d 0 h', '1 d 3 h']);
  });
});

describe('ConsoleNotifier', () => {
  it('writes one line per change and reports each as delivered', async () => {
    const { out, text } = sink();
    const attempts: DeliveryAttempt[] = [];
    const n = new ConsoleNotifier({ out, onAttempt: (a) => attempts.push(a), now: () => at(10, 49) });
    await n.notify(opened);
    await n.notify(resolved);
    await n.close();

    expect(text().split('\n')).toEqual([alertLine(opened), alertLine(resolved), '']);
    expect(attempts).toEqual([
      { alert_id: opened.alert_id, version: 1, notifier: 'console', target: 'stream', attempt: 1, attempted_at: at(10, 49), outcome: 'delivered', http_status: null, error: '', latency_ms: 0 },
      { alert_id: opened.alert_id, version: 3, notifier: 'console', target: 'stream', attempt: 1, attempted_at: at(10, 49), outcome: 'delivered', http_status: null, error: '', latency_ms: 0 },
    ]);
    expect(new ConsoleNotifier().target).toBe('stdout');
  });

  it('never throws: a broken stream or a failing onAttempt is reported, not raised', async () => {
    const broken = { write: () => { throw new Error('EPIPE: broken pipe'); } } as unknown as NodeJS.WritableStream;
    const attempts: DeliveryAttempt[] = [];
    await new ConsoleNotifier({ out: broken, onAttempt: (a) => attempts.push(a) }).notify(opened);
    expect(attempts).toEqual([expect.objectContaining({ outcome: 'failed', error: 'EPIPE: broken pipe' })]);

    const { out } = sink();
    await expect(new ConsoleNotifier({ out, onAttempt: () => { throw new Error('insert failed'); } }).notify(opened)).resolves.toBeUndefined();
  });
});
