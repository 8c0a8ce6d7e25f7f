/**
 * Per-minute cell aggregates (docs/metrics.md, "Per minute: `cell_minute`"): for each minute of
 * event time and (leg, channel, touchpoint), n, sum x, sum x^2, bad, good and
 * impressed, plus all events (traffic included). Sums merge across minutes and
 * partitions, so any window can be recomputed from them in SQL.
 */
import { minuteOf } from '../params.ts';
import type { Touch } from '../touch.ts';
import { cellKey, emptyAggregate, type Cell, type CellAggregate } from './legConsistency.ts';
import { bucket, closeMinutes, type MinuteBuckets } from './minuteBuckets.ts';

export function cellMinute(state: MinuteBuckets<CellAggregate>, e: Touch): { state: MinuteBuckets<CellAggregate>; out: null } {
  const a = bucket(state, minuteOf(e.t), cellKey(e), emptyAggregate);
  a.events++;
  if (e.x !== null) {
    a.n++;
    a.sumX += e.x;
    a.sumX2 += e.x * e.x;
    if (e.cls === 'bad') a.bad++;
    else if (e.cls === 'good') a.good++;
    else if (e.cls === 'impressed') {
      a.good++;
      a.impressed++;
    }
  }
  return { state, out: null };
}

/** The minutes the watermark has closed, as cells. */
export function closeCellMinutes(state: MinuteBuckets<CellAggregate>, watermark: number): { minute: number; cell: Cell }[] {
  return closeMinutes(state, watermark).map(({ minute, key, agg }) => {
    const [leg, channel, touchpoint] = key.split('\u0000') as [Cell['leg'], string, string];
    return { minute, cell: { leg, channel, touchpoint, ...agg } };
  });
}
