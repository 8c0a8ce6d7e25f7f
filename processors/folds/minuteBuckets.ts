/**
 * Per-minute aggregates that close when the watermark passes the minute's end. In a
 * checkpoint they are plain objects, minute number -> key -> aggregate (`toJSON`),
 * the key joining the aggregate's parts as `BucketKeys` says.
 */
import { MINUTE_MS } from '../params.ts';

/** The checkpoint's form: minute number since the epoch (ms / 60,000) -> key -> aggregate. */
export type MinuteBucketsJson<A> = Record<number, Record<string, A>>;

/** How an aggregate's key parts (most selective first; '' when unused) make the checkpoint's key, and back. */
export interface BucketKeys {
  join(k1: string, k2: string, k3: string): string;
  split(key: string): [string, string, string];
}

export interface Bucket<A> {
  k1: string;
  k2: string;
  k3: string;
  agg: A;
}

interface Minute<A> {
  /** By first key part: the few aggregates sharing it, told apart by the other two. */
  byKey: Map<string, Bucket<A>[]>;
  /** Every aggregate, in the order it was made. */
  all: Bucket<A>[];
}

/**
 * Maps of the key parts, not objects keyed by one joined string: an event's parts are
 * fresh strings, and joining them for each lookup (and interning the result) cost more
 * than the rest of the minute's bookkeeping. Nearly every event falls in the newest
 * open minute, which is kept at hand.
 */
export class MinuteBuckets<A> {
  private readonly minutes = new Map<number, Minute<A>>();
  private lastMinute = Number.NaN;
  private last: Minute<A> | undefined;

  constructor(private readonly keys: BucketKeys) {}

  /** The aggregate of the key parts in the minute starting at `minute` (ms). */
  bucket(minute: number, k1: string, k2: string, k3: string, make: () => A): A {
    let m = minute === this.lastMinute ? this.last : this.minutes.get(minute);
    if (!m) {
      m = { byKey: new Map(), all: [] };
      this.minutes.set(minute, m);
    }
    this.lastMinute = minute;
    this.last = m;
    const list = m.byKey.get(k1);
    if (list) {
      for (let i = 0; i < list.length; i++) {
        const b = list[i] as Bucket<A>;
        if (b.k2 === k2 && b.k3 === k3) return b.agg;
      }
    }
    const b: Bucket<A> = { k1, k2, k3, agg: make() };
    if (list) list.push(b);
    else m.byKey.set(k1, [b]);
    m.all.push(b);
    return b.agg;
  }

  /** Removes and returns the minutes that end at or before the watermark, oldest first; each minute's aggregates in the order they were made. */
  close(watermark: number): { minute: number; bucket: Bucket<A> }[] {
    const closed: number[] = [];
    for (const minute of this.minutes.keys()) if (minute + MINUTE_MS <= watermark) closed.push(minute);
    if (closed.length === 0) return [];
    closed.sort((a, b) => a - b);
    const out: { minute: number; bucket: Bucket<A> }[] = [];
    for (const minute of closed) {
      for (const bucket of (this.minutes.get(minute) as Minute<A>).all) out.push({ minute, bucket });
      this.minutes.delete(minute);
    }
    this.lastMinute = Number.NaN;
    this.last = undefined;
    return out;
  }

  toJSON(): MinuteBucketsJson<A> {
    const json: MinuteBucketsJson<A> = {};
    for (const [minute, m] of this.minutes) {
      const aggregates: Record<string, A> = {};
      for (const b of m.all) aggregates[this.keys.join(b.k1, b.k2, b.k3)] = b.agg;
      json[minute / MINUTE_MS] = aggregates;
    }
    return json;
  }

  static from<A>(json: MinuteBucketsJson<A>, keys: BucketKeys): MinuteBuckets<A> {
    const b = new MinuteBuckets<A>(keys);
    // Integer keys enumerate in ascending order: the minutes are made oldest first, as they were.
    for (const k in json) {
      const aggregates = json[k] as Record<string, A>;
      for (const key in aggregates) {
        const [k1, k2, k3] = keys.split(key);
        b.bucket(Number(k) * MINUTE_MS, k1, k2, k3, () => aggregates[key] as A);
      }
    }
    return b;
  }
}
