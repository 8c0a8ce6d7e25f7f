/**
 * Per-minute aggregates that close when the watermark passes the minute's end. Plain
 * objects (not Maps), so the open minutes serialize into a checkpoint as they are.
 */
import { MINUTE_MS } from '../params.ts';

/** minute (ms, as a string) -> key -> aggregate. */
export type MinuteBuckets<A> = Record<string, Record<string, A>>;

export function bucket<A>(b: MinuteBuckets<A>, minute: number, key: string, make: () => A): A {
  const m = (b[minute] ??= {});
  return (m[key] ??= make());
}

/** Removes and returns the minutes that end at or before the watermark, oldest first. */
export function closeMinutes<A>(b: MinuteBuckets<A>, watermark: number): { minute: number; key: string; agg: A }[] {
  const out: { minute: number; key: string; agg: A }[] = [];
  const closing = Object.keys(b).map(Number).filter((m) => m + MINUTE_MS <= watermark).sort((x, y) => x - y);
  for (const minute of closing) {
    for (const [key, agg] of Object.entries(b[minute] as Record<string, A>)) out.push({ minute, key, agg });
    delete b[minute];
  }
  return out;
}
