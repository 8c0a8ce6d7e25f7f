/**
 * Event time for one partition (docs/metrics.md, "Event time and lateness"). The watermark trails the newest
 * event time seen by the allowed lateness. Events wait in a buffer until the
 * watermark passes them and are released in event-time order (ties by event id), so
 * events out of order by less than the lateness give the same results as in order.
 * An event older than the watermark when it arrives is late: it is not processed
 * (its raw row is stored and flagged), so windows already closed never change.
 */
import { byEventTime, type Touch } from '../touch.ts';

export interface Pending {
  touch: Touch;
  /** Kafka offset it came from. */
  offset: string;
}

export interface EventClock {
  /** Newest event time seen; 0 before any. */
  maxSeen: number;
  /** Every event before this has been released; an arrival before it is late. */
  watermark: number;
  /** Binary min-heap by event time, then event id. */
  buffer: Pending[];
}

export const newEventClock = (): EventClock => ({ maxSeen: 0, watermark: 0, buffer: [] });

const less = (a: Pending, b: Pending) => byEventTime(a.touch, b.touch) < 0;

function push(h: Pending[], item: Pending): void {
  h.push(item);
  let i = h.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const up = h[i] as Pending;
    const down = h[parent] as Pending;
    if (!less(up, down)) break;
    h[i] = down;
    h[parent] = up;
    i = parent;
  }
}

function pop(h: Pending[]): Pending {
  const top = h[0] as Pending;
  const last = h.pop() as Pending;
  if (h.length > 0) {
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && less(h[l] as Pending, h[m] as Pending)) m = l;
      if (r < h.length && less(h[r] as Pending, h[m] as Pending)) m = r;
      if (m === i) break;
      const down = h[i] as Pending;
      h[i] = h[m] as Pending;
      h[m] = down;
      i = m;
    }
  }
  return top;
}

/** Nothing released (shared, frozen: most arrivals release nothing or one). */
const NONE: Pending[] = Object.freeze([]) as unknown as Pending[];

function release(s: EventClock): Pending[] {
  if (s.buffer.length === 0 || (s.buffer[0] as Pending).touch.t >= s.watermark) return NONE;
  const out: Pending[] = [];
  while (s.buffer.length > 0 && (s.buffer[0] as Pending).touch.t < s.watermark) out.push(pop(s.buffer));
  return out;
}

export interface Released {
  /** Events now in order, ready for the folds. */
  released: Pending[];
  /** The arrival, when it was late. */
  late: Pending | null;
}

/** The fold: one arrival. Owns `state` (updates it in place). */
export function eventTime(state: EventClock, arrival: Pending, latenessMs: number): { state: EventClock; out: Released } {
  if (arrival.touch.t < state.watermark) return { state, out: { released: NONE, late: arrival } };
  push(state.buffer, arrival);
  if (arrival.touch.t > state.maxSeen) {
    state.maxSeen = arrival.touch.t;
    const w = state.maxSeen - latenessMs;
    if (w > state.watermark) state.watermark = w;
  }
  return { state, out: { released: release(state), late: null } };
}

/**
 * The partition has gone quiet: the watermark moves past its newest event (and up to
 * `upTo`, when later), and everything waiting is released. The caller chooses `upTo`
 * (the runtime passes the wall clock less the lateness, so quiet minutes still close).
 */
export function flushEventTime(state: EventClock, upTo = 0): { state: EventClock; out: Released } {
  const target = Math.max(state.maxSeen + 1, upTo);
  if (target > state.watermark) state.watermark = target;
  return { state, out: { released: release(state), late: null } };
}
