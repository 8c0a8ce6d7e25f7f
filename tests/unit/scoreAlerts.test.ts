/**
 * The evaluation's scoring (eval/scoreAlerts.ts) on a hand-made ground truth: which
 * alerts detect which incidents, the delays, and false alarms per 100 subject-days by
 * subject (touchpoint, leg, channel).
 */
import { describe, expect, it } from 'vitest';
import { byKind, pooledFalseAlarms, scoreAlerts, type GroundTruth, type OpenedAlert } from '../../eval/scoreAlerts.ts';
import { validateScenario } from '../../producers/simulator/scenario.ts';
import { groundTruth } from '../../producers/simulator/simulate.ts';

const MIN = 60_000;
const START = Date.parse('2026-11-02T00:00:00Z');
const at = (minutes: number) => START + minutes * MIN;

const truth: GroundTruth = groundTruth(validateScenario({
  name: 'scored', start: '2026-11-02T00:00:00Z', duration: '2d', seed: 3,
  incidents: [
    { kind: 'step', touchpoint: 'checkout', start: '10h', end: '11h', level: 0.3 },
    { kind: 'silence', channel: 'APP', start: '12h', end: '12h30m' },
    { kind: 'leg', leg: 'PRODUCT', start: '14h', end: '15h', level: 0.4 },
    { kind: 'silence', touchpoint: 'billing', start: '16h', end: '17h' },
  ],
}));

const alert = (kind: string, detected: number, o: Partial<OpenedAlert> = {}): OpenedAlert =>
  ({ kind, channel: null, touchpoint: null, leg: '', detectedAt: at(detected), startedAt: at(detected - 1), ...o });

describe('scoreAlerts', () => {
  const opened: OpenedAlert[] = [
    alert('TOUCHPOINT_DEGRADED', 602, { channel: 'WEB', touchpoint: 'checkout', leg: 'OPERATIONS' }), // step: 2 min
    alert('LEG_BELOW_THRESHOLD', 605, { leg: 'OPERATIONS' }), // explained by the checkout step (an OPERATIONS touchpoint), detects nothing
    alert('TRAFFIC_DROP', 721, { channel: 'APP' }), // APP silence: 1 min
    alert('TRAFFIC_DROP', 722, { channel: 'APP', touchpoint: 'product_use', leg: 'PRODUCT' }), // explained by the channel's silence
    alert('TOUCHPOINT_DEGRADED', 725, { channel: 'APP', touchpoint: 'app_checkout', leg: 'OPERATIONS' }), // a silence explains no degradation: false
    alert('LEG_BELOW_THRESHOLD', 843, { leg: 'PRODUCT' }), // leg incident: 3 min
    alert('TRAFFIC_DROP', 960 + 75 + 16, { channel: 'EMAIL', touchpoint: 'billing', leg: 'OPERATIONS' }), // after the 15 min grace: false
    alert('TRAFFIC_DROP', 2000, { channel: 'WEB' }), // no incident: a channel false alarm
    alert('LEG_BELOW_THRESHOLD', 2500, { leg: 'SALES_MARKETING' }), // no incident: a leg false alarm
  ];
  const score = scoreAlerts(truth, opened, { touchpoints: 15, legs: 3, channels: 9 });

  it('matches each incident with the first alert of the kind that detects it, and dates the delay from its start', () => {
    expect(score.incidents.map((i) => [i.kind, i.subject, i.detected, i.delayMinutes, i.alerts])).toEqual([
      ['step', 'checkout', true, 2, 2],
      ['silence', 'APP', true, 1, 2],
      ['leg', 'PRODUCT', true, 3, 1],
      ['silence', 'billing', false, null, 0],
    ]);
  });

  it('counts what no incident explains as false alarms, per 100 days of touchpoints, legs and channels', () => {
    expect(score.falseAlarms.map((a) => a.kind)).toEqual(['TOUCHPOINT_DEGRADED', 'TRAFFIC_DROP', 'TRAFFIC_DROP', 'LEG_BELOW_THRESHOLD']);
    // 2 days: 30 touchpoint-days (2 false: app_checkout, billing), 6 leg-days (1), 18 channel-days (1).
    expect(score.days).toEqual({ touchpoint: 30, leg: 6, channel: 18 });
    expect(score.falseAlarmRate.touchpoint).toBeCloseTo((100 * 2) / 30, 10);
    expect(score.falseAlarmRate.leg).toBeCloseTo(100 / 6, 10);
    expect(score.falseAlarmRate.channel).toBeCloseTo(100 / 18, 10);
  });

  it('sums up by kind and pools false alarms over runs', () => {
    expect(byKind([score, score])).toEqual([
      { kind: 'leg', incidents: 2, detected: 2, missed: 0, medianDelay: 3, maxDelay: 3 },
      { kind: 'silence', incidents: 4, detected: 2, missed: 2, medianDelay: 1, maxDelay: 1 },
      { kind: 'step', incidents: 2, detected: 2, missed: 0, medianDelay: 2, maxDelay: 2 },
    ]);
    const pooled = pooledFalseAlarms([score, score]);
    expect(pooled.touchpoint).toEqual({ alarms: 4, days: 60, per100: (100 * 4) / 60 });
  });
});
