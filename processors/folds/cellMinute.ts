/**
 * Per-minute cell aggregates (docs/metrics.md, "Per minute: `cell_minute`"): for each minute of
 * event time and (leg, channel, touchpoint), n, sum x, sum x^2, bad, good and
 * impressed, plus all events (traffic included). Sums merge across minutes and
 * partitions, so any window can be recomputed from them in SQL.
 */
import { minuteOf } from '../params.ts';
import type { Touch } from '../touch.ts';
import { cellKey, emptyAggregate, type Cell, type CellAggregate } from './legConsistency.ts';
import { MinuteBuckets, type BucketKeys } from './minuteBuckets.ts';

export function cellMinute(state: MinuteBuckets<CellAggregate>, e: Touch): { state: MinuteBuckets<CellAggregate>; out: null } {
  const a = state.bucket(minuteOf(e.t), e.touchpoint, e.channel, e.leg, emptyAggregate);
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

/** A cell's aggregate is found by touchpoint, channel and leg; its checkpoint key is cellKey's (leg, channel, touchpoint). */
export const CELL_KEYS: BucketKeys = {
  join: (touchpoint, channel, leg) => cellKey({ leg, channel, touchpoint }),
  split(key) {
    // Leg and channel are symbols without NUL; the touchpoint is the rest, whatever it holds.
    const a = key.indexOf('\u0000');
    const b = key.indexOf('\u0000', a + 1);
    return [key.slice(b + 1), key.slice(a + 1, b), key.slice(0, a)];
  },
};

export const newCellMinutes = (): MinuteBuckets<CellAggregate> => new MinuteBuckets(CELL_KEYS);

/** The minutes the watermark has closed, as cells. */
export function closeCellMinutes(state: MinuteBuckets<CellAggregate>, watermark: number): { minute: number; cell: Cell }[] {
  return state.close(watermark).map(({ minute, bucket: { k1, k2, k3, agg } }) => ({ minute, cell: { leg: k3 as Cell['leg'], channel: k2, touchpoint: k1, ...agg } }));
}
