/** Seeded randomness and stable ids for the synthetic producers: same seed, same events. */
import { hash } from 'node:crypto';

/** mulberry32: a small, fast, seedable PRNG returning [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A name-based UUID (version 5 layout, SHA-1): the same name always gives the same id. */
export function uuidOf(name: string): string {
  // The one-shot hash: a third of createHash's cost, and the simulator makes an id per event.
  const h = hash('sha1', name, 'hex');
  const variant = ((parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Picks an item with probability proportional to its weight. */
export function pickWeighted<T>(items: readonly T[], weight: (t: T) => number, random: () => number): T {
  const total = items.reduce((s, i) => s + weight(i), 0);
  let u = random() * total;
  for (const item of items) {
    u -= weight(item);
    if (u < 0) return item;
  }
  return items[items.length - 1] as T;
}
