/**
 * Per-minute aggregates that close when the watermark passes the minute's end. Plain
 * objects (not Maps), so the open minutes serialize into a checkpoint as they are.
 */
import { MINUTE_MS } from '../params.ts';

/**
 * Minute number since the epoch (ms / 60,000: small enough to be an integer index,
 * which objects look up without turning it into a string) -> key -> aggregate.
 */
export type MinuteBuckets<A> = Record<number, Record<string, A>>;

/** The aggregate of `key` in the minute starting at `minute` (ms). */
export function bucket<A>(b: MinuteBuckets<A>, minute: number, key: string, make: () => A): A {
  const m = (b[minute / MINUTE_MS] ??= {});
  return (m[key] ??= make());
}

/** Removes and returns the minutes that end at or before the watermark, oldest first. */
export function closeMinutes<A>(b: MinuteBuckets<A>, watermark: number): { minute: number; key: string; agg: A }[] {
  const out: { minute: number; key: string; agg: A }[] = [];
  // Integer keys enumerate in ascending order: stop at the first minute still open.
  for (const k in b) {
    const n = Number(k);
    if ((n + 1) * MINUTE_MS > watermark) break;
    const aggregates = b[n] as Record<string, A>;
    for (const key in aggregates) out.push({ minute: n * MINUTE_MS, key, agg: aggregates[key] as A });
    delete b[n];
  }
  return out;
}
