/**
 * One customer's state as it is persisted in processor_state (docs/metrics.md, "Keyed
 * state and effectively-once"): a compact binary record, as base64url inside a JSON
 * string, so that the state column stays JSON text. A checkpoint holds one per customer
 * changed, and there are as many as there are active customers, so every byte counts:
 *
 * - fields by position, with flags for what is absent or can be derived;
 * - times as the difference to the time written before them (most are 0 or small);
 * - numbers that are multiples of 1/16 (counts, most x values and sums) in a byte or
 *   two, any other double as its 8 bytes, so every value comes back bit for bit;
 * - every string once per record, later uses by index; lower-case UUIDs in 16 bytes.
 *
 * `decodeCustomer` also reads the JSON object that checkpoints held before (legacy),
 * so a partition checkpointed by an older version restores as it was.
 */
import type { PreviousExperience } from './folds/channelDrop.ts';
import type { CustomerState } from './folds/customer.ts';
import type { BadRun } from './folds/deathSpiral.ts';
import type { MemoryAccumulators, MemoryState } from './folds/experienceMemory.ts';
import type { JourneyState } from './folds/journey.ts';
import type { Leg } from '../schemas/contracts.ts';

const VERSION = 1;

// Customer flags.
const HAS_MEMORY = 1;
const HAS_PREVIOUS = 2;
const PREVIOUS_GOOD = 4;
const HAS_RUN = 8;
const RUN_SPIRAL = 16;
const UNANSWERED_BAD = 32;
const MEMORY_SCALED = 64;
// Journey flags.
const HAS_WEAKEST = 1;
const WEAKEST_AT_UNSET = 2;
const HAS_PEAK = 4;
const END_NULL = 8;
const END_DERIVED = 16;
const JOURNEY_SCALED = 32;
// String kinds, in the low 2 bits of a string's tag.
const LITERAL = 0;
const BACK_REFERENCE = 1;
const UUID = 2;
const UTF16 = 3;

/*
 * UUIDs go through a 36-byte scratch buffer, copied and read natively: a string's
 * characters one by one (charCodeAt, string concatenation) cost several times more,
 * and a customer's dedup window holds dozens of ids.
 */
const uuidBytes = Buffer.alloc(36);
/** Hex digit value of a byte (-1: not a lower-case hex digit). */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE[i.toString(16).charCodeAt(0)] = i;
/** The two lower-case hex digits of a byte, as character codes. */
const HEX_CODES = Array.from({ length: 256 }, (_, i) => [i.toString(16).padStart(2, '0').charCodeAt(0), i.toString(16).padStart(2, '0').charCodeAt(1)] as const);
/** Where the dashes of 8-4-4-4-12 are. */
const isDash = (c: number): boolean => c === 8 || c === 13 || c === 18 || c === 23;

/**
 * A lower-case UUID (8-4-4-4-12 hex digits) packed into 16 bytes of `out` at `at`;
 * false (nothing written) when `s` is not one.
 */
function packLowerUuid(s: string, out: Buffer, at: number): boolean {
  // 36 characters in 36 UTF-8 bytes: all ASCII, so the latin1 copy below is exact.
  if (s.length !== 36 || Buffer.byteLength(s, 'utf8') !== 36) return false;
  const b = uuidBytes;
  b.write(s, 0, 36, 'latin1');
  if (b[8] !== 45 || b[13] !== 45 || b[18] !== 45 || b[23] !== 45) return false;
  let k = at;
  for (let c = 0; c < 36; c += 2) {
    if (isDash(c)) c++;
    const hi = HEX_VALUE[b[c] as number] as number;
    const lo = HEX_VALUE[b[c + 1] as number] as number;
    if ((hi | lo) < 0) return false;
    out[k++] = hi * 16 + lo;
  }
  return true;
}

/** The lower-case UUID text of 16 bytes. */
function unpackUuid(bytes: Buffer): string {
  const b = uuidBytes;
  let c = 0;
  for (let i = 0; i < 16; i++) {
    if (isDash(c)) b[c++] = 45;
    const [hi, lo] = HEX_CODES[bytes[i] as number] as readonly [number, number];
    b[c++] = hi;
    b[c++] = lo;
  }
  return b.toString('latin1', 0, 36);
}

const LONE_SURROGATE = /\p{Cs}/u;
/** Whether a lone surrogate is in `s` (a pair is one character, which UTF-8 keeps); the expression only when a surrogate is there at all. */
function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return LONE_SURROGATE.test(s);
  }
  return false;
}

/** Exactly n/32 for a number in the short form (see `num`). */
const SHORT_LIMIT = 2 ** 40;

class RecordWriter {
  private buf = Buffer.alloc(512);
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  private n = 0;
  private cursor = 0;
  /** Each string written so far in this record -> its index (a dedup window may hold up to dedupMaxIds ids: a scan of them for each would be quadratic). */
  private readonly strings = new Map<string, number>();

  reset(): void {
    this.n = 0;
    this.cursor = 0;
    this.strings.clear();
  }

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(bigger, 0, 0, this.n);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.n++] = b;
  }

  /** A non-negative integer, 7 bits a byte. */
  uint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`customer record: ${v} is not a count`);
    this.room(8);
    while (v >= 128) {
      this.buf[this.n++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    this.buf[this.n++] = v;
  }

  private double(v: number): void {
    this.room(8);
    this.view.setFloat64(this.n, v, true);
    this.n += 8;
  }

  /** Any double: a multiple of 1/16 in [0, 2^36) as an even count of 1/32, else 1 and its 8 bytes (-0 and NaN included). */
  num(v: number): void {
    const k = v * 32;
    if (Number.isInteger(k) && k >= 0 && k < SHORT_LIMIT && !Object.is(v, -0) && k % 2 === 0) this.uint(k);
    else {
      this.byte(1);
      this.double(v);
    }
  }

  /** A time, as the difference to the previous time written (even), or 1 and its 8 bytes when that is not a small integer (or is -0). */
  time(v: number): void {
    const d = v - this.cursor;
    if (Number.isSafeInteger(v) && !Object.is(v, -0) && Number.isSafeInteger(this.cursor) && Math.abs(d) < 2 ** 49) this.uint(d >= 0 ? d * 4 : -d * 4 - 2);
    else {
      this.byte(1);
      this.double(v);
    }
    this.cursor = v;
  }

  str(s: string): void {
    const i = this.strings.get(s);
    if (i !== undefined) return this.uint(i * 4 + BACK_REFERENCE);
    this.strings.set(s, this.strings.size);
    // The tag's one byte, then 16 for the UUID; a string that is no UUID takes the tag back.
    this.room(17);
    if (packLowerUuid(s, this.buf, this.n + 1)) {
      this.buf[this.n] = UUID;
      this.n += 17;
      return;
    }
    if (!hasLoneSurrogate(s)) {
      const bytes = Buffer.byteLength(s, 'utf8');
      this.uint(bytes * 4 + LITERAL);
      this.room(bytes);
      this.buf.write(s, this.n, 'utf8');
      this.n += bytes;
      return;
    }
    // A lone surrogate would not survive UTF-8: its code units as they are.
    this.uint(s.length * 4 + UTF16);
    this.room(s.length * 2);
    for (let c = 0; c < s.length; c++) {
      this.view.setUint16(this.n, s.charCodeAt(c), true);
      this.n += 2;
    }
  }

  text(): string {
    return `"${this.buf.toString('base64url', 0, this.n)}"`;
  }
}

class RecordReader {
  private n = 0;
  private cursor = 0;
  private readonly strings: string[] = [];
  private readonly view: DataView;

  constructor(private readonly buf: Buffer) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  }

  byte(): number {
    if (this.n >= this.buf.length) throw new Error('customer record: truncated');
    return this.buf[this.n++] as number;
  }

  uint(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      v += (b & 127) * scale;
      if (b < 128) return v;
      scale *= 128;
    }
  }

  private double(): number {
    if (this.n + 8 > this.buf.length) throw new Error('customer record: truncated');
    const v = this.view.getFloat64(this.n, true);
    this.n += 8;
    return v;
  }

  num(): number {
    const k = this.uint();
    return k === 1 ? this.double() : k / 32;
  }

  time(): number {
    const k = this.uint();
    const v = k === 1 ? this.double() : this.cursor + (k % 4 === 0 ? k / 4 : -(k + 2) / 4);
    this.cursor = v;
    return v;
  }

  str(): string {
    const tag = this.uint();
    const kind = tag % 4;
    const k = (tag - kind) / 4;
    if (kind === BACK_REFERENCE) {
      const s = this.strings[k];
      if (s === undefined) throw new Error(`customer record: string ${k} is not defined`);
      return s;
    }
    let s: string;
    if (kind === UUID) {
      s = unpackUuid(this.bytes(16));
    } else if (kind === LITERAL) s = this.bytes(k).toString('utf8');
    else {
      const b = this.bytes(k * 2);
      s = '';
      for (let i = 0; i < k; i++) s += String.fromCharCode(b.readUInt16LE(i * 2));
    }
    this.strings.push(s);
    return s;
  }

  private bytes(k: number): Buffer {
    if (this.n + k > this.buf.length) throw new Error('customer record: truncated');
    const b = this.buf.subarray(this.n, this.n + k);
    this.n += k;
    return b;
  }

  get done(): boolean {
    return this.n === this.buf.length;
  }
}

const writer = new RecordWriter();

function writeAccumulators(w: RecordWriter, a: MemoryAccumulators): void {
  w.time(a.t);
  w.num(a.gx);
  w.num(a.gw);
  w.num(a.bx);
  w.num(a.bw);
  if (a.scale) w.num(a.scale);
}

function writeJourney(w: RecordWriter, j: JourneyState): void {
  const derivedEnd = j.end !== null && !!j.endN && Object.is(j.end, (j.endSum ?? 0) / j.endN);
  w.uint(
    (j.weakest ? HAS_WEAKEST : 0) | (j.weakest && j.weakestAt === undefined ? WEAKEST_AT_UNSET : 0) | (j.peak !== null ? HAS_PEAK : 0) |
      (j.end === null ? END_NULL : 0) | (derivedEnd ? END_DERIVED : 0) | (j.memory.scale ? JOURNEY_SCALED : 0),
  );
  w.str(j.journeyId);
  w.time(j.lastAt);
  w.time(j.startedAt);
  w.uint(j.events);
  w.uint(j.experiences);
  // Without a last moment (endN 0 or absent: state from before moments), endAt and endSum are never read.
  w.uint(j.endN ?? 0);
  if (j.endN) {
    w.time(j.endAt ?? 0);
    w.num(j.endSum ?? 0);
  }
  if (j.end !== null && !derivedEnd) w.num(j.end);
  writeAccumulators(w, j.memory);
  if (j.weakest) {
    w.num(j.weakest.x);
    w.str(j.weakest.touchpoint);
    w.str(j.weakest.channel);
    if (j.weakestAt !== undefined) w.time(j.weakestAt);
  }
  if (j.peak !== null) w.num(j.peak);
  w.uint(j.cells.length);
  for (const { leg, touchpoint, n, sumX, sumX2, good, impressed } of j.cells) {
    w.str(leg);
    w.str(touchpoint);
    // One experience: the sum of squares is the square of the sum, exactly.
    const derived = Object.is(sumX2, sumX * sumX);
    w.uint(n * 2 + (derived ? 1 : 0));
    w.num(sumX);
    if (!derived) w.num(sumX2);
    w.uint(good);
    w.uint(impressed);
  }
}

/** The record of one customer's state (the text of its processor_state row). */
export function encodeCustomer(s: CustomerState): string {
  const w = writer;
  w.reset();
  const { memory: m, previous: prev, run } = s;
  w.byte(VERSION);
  w.uint(
    (m ? HAS_MEMORY : 0) | (prev ? HAS_PREVIOUS : 0) | (prev?.good ? PREVIOUS_GOOD : 0) | (run ? HAS_RUN : 0) | (run?.spiral ? RUN_SPIRAL : 0) |
      (m && m.unansweredBadSince !== null ? UNANSWERED_BAD : 0) | (m?.scale ? MEMORY_SCALED : 0),
  );
  w.time(s.lastAt);
  if (m) {
    writeAccumulators(w, m);
    w.uint(m.n);
    if (m.unansweredBadSince !== null) w.time(m.unansweredBadSince);
  }
  if (prev) {
    w.str(prev.event_id);
    w.time(prev.t);
    w.str(prev.channel);
    w.str(prev.touchpoint);
    w.str(prev.department);
    w.num(prev.x);
  }
  if (run) {
    w.str(run.id);
    w.time(run.startedAt);
    w.time(run.lastAt);
    w.uint(run.steps ?? run.path.length);
    for (const list of [run.path, run.channels, run.departments]) {
      w.uint(list.length);
      for (const x of list) w.str(x);
    }
  }
  w.uint(s.journeys.size);
  for (const [id, j] of s.journeys) {
    // Decoding keys each journey by its id.
    if (id !== j.journeyId) throw new Error(`customer record: journey ${JSON.stringify(j.journeyId)} is kept under ${JSON.stringify(id)}`);
    writeJourney(w, j);
  }
  // The window in event-time order (then id): the same record whatever order the ids arrived in.
  const ids = s.seenIds;
  const at = s.seenAt;
  const before = (a: number, b: number) => (at[a] as number) - (at[b] as number) || ((ids[a] as string) < (ids[b] as string) ? -1 : 1);
  // Ids arrive mostly in event-time order already: sort (a list of indices) only when they did not.
  let inOrder = true;
  for (let i = 1; i < ids.length && inOrder; i++) inOrder = before(i - 1, i) < 0;
  w.uint(ids.length);
  if (inOrder) {
    for (let i = 0; i < ids.length; i++) {
      w.time(at[i] as number);
      w.str(ids[i] as string);
    }
  } else {
    for (const i of ids.map((_, k) => k).sort(before)) {
      w.time(at[i] as number);
      w.str(ids[i] as string);
    }
  }
  return w.text();
}

function readAccumulators<A extends MemoryAccumulators>(r: RecordReader, a: A, scaled: boolean): A {
  a.t = r.time();
  a.gx = r.num();
  a.gw = r.num();
  a.bx = r.num();
  a.bw = r.num();
  if (scaled) a.scale = r.num();
  return a;
}

function readJourney(r: RecordReader): JourneyState {
  const flags = r.uint();
  const journeyId = r.str();
  const lastAt = r.time();
  const startedAt = r.time();
  const events = r.uint();
  const experiences = r.uint();
  const endN = r.uint();
  const endAt = endN ? r.time() : 0;
  const endSum = endN ? r.num() : 0;
  const end = flags & END_NULL ? null : flags & END_DERIVED ? endSum / endN : r.num();
  // The shape journey() gives a new journey, field for field.
  const j: JourneyState = {
    journeyId, startedAt, lastAt, events, experiences, memory: readAccumulators(r, { t: 0, gx: 0, gw: 0, bx: 0, bw: 0 }, (flags & JOURNEY_SCALED) !== 0),
    weakest: null, weakestAt: 0, peak: null, end, endAt, endN, endSum, cells: [],
  };
  if (flags & HAS_WEAKEST) {
    const x = r.num();
    j.weakest = { x, touchpoint: r.str(), channel: r.str() };
    j.weakestAt = flags & WEAKEST_AT_UNSET ? undefined : r.time();
  }
  if (flags & HAS_PEAK) j.peak = r.num();
  const cells = r.uint();
  for (let c = 0; c < cells; c++) {
    const leg = r.str() as Leg;
    const touchpoint = r.str();
    const nd = r.uint();
    const sumX = r.num();
    const sumX2 = nd % 2 ? sumX * sumX : r.num();
    j.cells.push({ leg, touchpoint, n: (nd - (nd % 2)) / 2, sumX, sumX2, good: r.uint(), impressed: r.uint() });
  }
  return j;
}

function readCustomer(r: RecordReader): CustomerState {
  const version = r.byte();
  if (version !== VERSION) throw new Error(`customer record: version ${version} is newer than this version of cx reads (${VERSION})`);
  const flags = r.uint();
  const s: CustomerState = { lastAt: r.time(), memory: undefined, previous: undefined, run: undefined, journeys: new Map(), seenIds: [], seenAt: [] };
  if (flags & HAS_MEMORY) {
    const m: MemoryState = readAccumulators(r, { t: 0, gx: 0, gw: 0, bx: 0, bw: 0, n: 0, unansweredBadSince: null }, (flags & MEMORY_SCALED) !== 0);
    m.n = r.uint();
    if (flags & UNANSWERED_BAD) m.unansweredBadSince = r.time();
    s.memory = m;
  }
  if (flags & HAS_PREVIOUS) {
    const event_id = r.str();
    const t = r.time();
    const channel = r.str();
    const touchpoint = r.str();
    const department = r.str();
    const prev: PreviousExperience = { event_id, t, channel, touchpoint, department, x: r.num(), good: (flags & PREVIOUS_GOOD) !== 0 };
    s.previous = prev;
  }
  if (flags & HAS_RUN) {
    const id = r.str();
    const startedAt = r.time();
    const lastAt = r.time();
    const steps = r.uint();
    const list = () => Array.from({ length: r.uint() }, () => r.str());
    const path = list();
    const channels = list();
    const run: BadRun = { id, startedAt, lastAt, path, channels, departments: list(), spiral: (flags & RUN_SPIRAL) !== 0, steps };
    s.run = run;
  }
  const journeys = r.uint();
  for (let i = 0; i < journeys; i++) {
    const j = readJourney(r);
    s.journeys.set(j.journeyId, j);
  }
  // Arrays of the window's size: grown by push, each would hold room for 16.
  const seen = r.uint();
  s.seenAt = new Array<number>(seen);
  s.seenIds = new Array<string>(seen);
  for (let i = 0; i < seen; i++) {
    s.seenAt[i] = r.time();
    s.seenIds[i] = r.str();
  }
  if (!r.done) throw new Error('customer record: bytes left over');
  return s;
}

/** A journey as JSON checkpoints held it: its cells keyed "leg\0touchpoint", each [n, sum x, sum x^2, good, impressed]. */
interface LegacyJourneyState extends Omit<JourneyState, 'cells'> {
  cells: Record<string, [number, number, number, number, number]>;
}

/** The state as JSON checkpoints held it before these records (fields added over time may be absent). */
interface LegacyCustomerState extends Omit<CustomerState, 'journeys' | 'seenIds' | 'seenAt'> {
  journeys: Record<string, LegacyJourneyState>;
  seen?: Record<string, number>;
}

function journeyFromLegacy(j: LegacyJourneyState): JourneyState {
  const cells = Object.entries(j.cells).map(([key, [n, sumX, sumX2, good, impressed]]) => {
    // The leg is a symbol without NUL: the touchpoint is the rest.
    const cut = key.indexOf('\u0000');
    return { leg: key.slice(0, cut) as Leg, touchpoint: key.slice(cut + 1), n, sumX, sumX2, good, impressed };
  });
  return { ...j, cells };
}

function fromLegacy(o: LegacyCustomerState): CustomerState {
  const seen = o.seen ?? {};
  return {
    lastAt: o.lastAt, memory: o.memory, previous: o.previous, run: o.run,
    journeys: new Map(Object.entries(o.journeys).map(([id, j]) => [id, journeyFromLegacy(j)])),
    seenIds: Object.keys(seen),
    seenAt: Object.values(seen),
  };
}

/** A customer's state from its record, or from the JSON object of a checkpoint written before records. */
export function decodeCustomer(text: string): CustomerState {
  if (text.startsWith('{')) return fromLegacy(JSON.parse(text) as LegacyCustomerState);
  if (!text.startsWith('"') || !text.endsWith('"')) throw new Error(`customer record: neither a record nor JSON state: ${text.slice(0, 40)}`);
  return readCustomer(new RecordReader(Buffer.from(text.slice(1, -1), 'base64url')));
}
