/**
 * `node --import tsx bench/decode.ts`: what decoding and validating a TouchpointEvent
 * costs on the hot path, against the bare limit, avsc's `Type#fromBuffer` of the same
 * bodies. One core, no I/O, the same messages for every variant; each run times every
 * variant in turn, and the figure is the median of the runs. Figures, not assertions.
 */
import { takeSimulated } from '../producers/simulator/simulate.ts';
import { classify, decodeTouchpoint } from '../processors/runtime/classify.ts';
import { TOUCHPOINT_EVENT, touchpointEventSchema, type TouchpointEvent } from '../schemas/contracts.ts';
import { SchemaRegistry } from '../schemas/registry.ts';
import { acceptTouchpoint } from '../schemas/validate.ts';
import { finish, fmt, median, out } from './figures.ts';

const EVENTS = Number(process.env.BENCH_DECODE_EVENTS ?? 200_000);
const RUNS = Number(process.env.BENCH_DECODE_RUNS ?? 5);
const HEADER_BYTES = 10;

async function main(): Promise<void> {
  const registry = SchemaRegistry.load();
  const events = takeSimulated({ seed: 11, customers: 100_000, start: Date.UTC(2026, 10, 1), rate: 0.35 }, EVENTS * 1.3)
    .filter((e) => e.kind === 'touchpoint')
    .slice(0, EVENTS)
    .map((e) => e.event as TouchpointEvent);
  const messages = events.map((e) => registry.encode(TOUCHPOINT_EVENT, e));
  const bodies = messages.map((m) => m.subarray(HEADER_BYTES));
  const type = registry.latest(TOUCHPOINT_EVENT).type;
  const families = { tp: TOUCHPOINT_EVENT } as const;

  // Each returns how many events it accepted, so no work can be optimised away and a variant that rejects shows.
  const variants: Array<[string, () => number]> = [
    ['bare avsc decode (type.fromBuffer of the body)', () => {
      let n = 0;
      for (const b of bodies) if (type.fromBuffer(b)) n++;
      return n;
    }],
    ['registry.decode (framing + fingerprint + avsc)', () => {
      let n = 0;
      for (const m of messages) if (registry.decode(m).ok) n++;
      return n;
    }],
    ['registry.decode + zod safeParse', () => {
      let n = 0;
      for (const m of messages) {
        const d = registry.decode(m);
        if (d.ok && touchpointEventSchema.safeParse(d.value).success) n++;
      }
      return n;
    }],
    ['registry.decode + hot-path validator', () => {
      let n = 0;
      for (const m of messages) {
        const d = registry.decode(m);
        if (d.ok && acceptTouchpoint(d.value)) n++;
      }
      return n;
    }],
    ['decodeTouchpoint (what the metric processors call)', () => {
      let n = 0;
      for (const m of messages) if (decodeTouchpoint(registry, m)) n++;
      return n;
    }],
    ['classify (what raw ingestion calls: + raw row)', () => {
      let n = 0;
      for (let i = 0; i < messages.length; i++) {
        const c = classify(registry, families, { cluster: 'bench', topic: 'tp', partition: 0, offset: '0', key: null, value: messages[i] as Buffer }, 0);
        if (c.table === 'touchpoint_events') n++;
      }
      return n;
    }],
  ];

  out(`decode: ${fmt(events.length)} simulated TouchpointEvents (${fmt(messages.reduce((s, m) => s + m.length, 0) / messages.length)} bytes each on average), ${RUNS} runs, node ${process.version}`);
  const rates = variants.map(() => [] as number[]);
  for (let run = 1; run <= RUNS; run++) {
    const line: string[] = [];
    variants.forEach(([, f], i) => {
      const t = performance.now();
      const accepted = f();
      const ms = performance.now() - t;
      if (accepted !== messages.length) throw new Error(`${(variants[i] as [string, unknown])[0]} accepted ${accepted} of ${messages.length}`);
      (rates[i] as number[]).push((messages.length * 1000) / ms);
      line.push(fmt((messages.length * 1000) / ms));
    });
    out(`run ${run}: ${line.join(' · ')} ev/s`);
  }
  out('');
  out('median events/s, and the median over runs of the ratio to bare avsc decode in the same run:');
  variants.forEach(([name], i) => {
    const ratios = (rates[i] as number[]).map((r, run) => r / ((rates[0] as number[])[run] as number));
    out(`  ${name.padEnd(52)} ${fmt(median(rates[i] as number[])).padStart(10)} ev/s  ${median(ratios).toFixed(3)}`);
  });
}

finish(main());
