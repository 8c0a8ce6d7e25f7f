import cliProgress from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { activeCalibration, calibrationById } from '../../processors/calibration/stored.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, metricParams, openMigratedStore } from '../../pipeline/compose.ts';
import { DAY_MS, MINUTE_MS, withCalibration, type Calibration, type MetricParams } from '../../processors/params.ts';
import { kafkaView, liveMembers, refusal } from '../../processors/rebuild/handOver.ts';
import { NOT_REBUILT, rebuild, type RebuildSummary } from '../../processors/rebuild/rebuild.ts';
import { completeToText } from '../completeness.ts';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const utc = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.000Z$/, ' UTC');

/** --from/--to: an ISO 8601 time on a whole minute (the per-minute tables and the stool windows are per minute). */
function minuteOption(value: string): number {
  const t = Date.parse(value);
  if (!Number.isFinite(t)) throw new InvalidArgumentError('expected an ISO 8601 time, e.g. 2026-11-02T10:00:00Z');
  if (t % MINUTE_MS !== 0) throw new InvalidArgumentError(`expected a whole minute (results are per minute), e.g. ${new Date(t - (t % MINUTE_MS)).toISOString().replace('.000Z', 'Z')}`);
  return t;
}

const describeParams = (p: MetricParams) =>
  `H ${p.horizonMs / DAY_MS} d, h ${p.halfLifeMs / DAY_MS} d, r ${p.badFactor}, m ${p.motWeight}, E ${p.stoolThreshold}, at risk below ${p.atRisk}, n_min ${p.nMin}, W ${p.windowMinutes} min, L ${p.latenessMs} ms`;

function printSummary(s: RebuildSummary, calibration: Calibration | null, p: MetricParams, messagesAfter: Map<number, bigint>): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const secs = s.ms.total / 1000;
  out(`Rebuilt from the raw log in ${secs.toFixed(1)} s: ${fmt(s.events)} events folded over ${s.partitions} partition(s), ${fmt(s.events / Math.max(secs, 1e-3))} events/s ` +
    `(copy ${fmt(s.ms.snapshot)} ms, read ${fmt(s.ms.read)} ms, folds ${fmt(s.ms.folds)} ms, inserts ${fmt(s.ms.insert)} ms, stool ${fmt(s.ms.stool)} ms, swap ${fmt(s.ms.swap)} ms, state ${fmt(s.ms.state)} ms).`);
  out(`Parameters: ${describeParams(p)}; calibration: ${calibration ? calibration.id : 'none (the defaults)'}.`);
  out(`Rows now: ${Object.entries(s.rows).map(([t, n]) => `${t} ${fmt(n)}`).join(', ')} (${fmt(s.windows)} stool windows written).`);
  if (s.handOver) {
    const after = [...messagesAfter.values()].reduce((a, b) => a + b, 0n);
    out(`Hand-over: the metrics state of ${s.handOver.partitions.length} partition(s) replaced (${fmt(s.handOver.customers)} customers); ` +
      `the live processors resume after ${s.handOver.partitions.map((c) => `${c.topic}[${c.partition}] offset ${c.cut}${c.end === 'live' ? ' (clock as the live worker had it)' : ''}`).join(', ')}. ` +
      `${after > 0n ? `${fmt(Number(after))} message(s) in Kafka after the cut are theirs: start \`npm start\` or \`npx cx process\`.` : 'Nothing in Kafka after the cut.'} ` +
      `Results ${completeToText(s.completeTo)}.`);
  } else {
    out('No hand-over: --to is before the newest stored event, so the live metrics state and every row from --to on stay as they were.');
  }
  out(`Not rebuilt: ${NOT_REBUILT.join(', ')} (alert history and notifications already sent stay as they were).`);
}

export function rebuildCommand(program: Command): void {
  program
    .command('rebuild')
    .description('recompute every result table from the raw events in ClickHouse with the current parameters and calibration (same folds as live, in event-time order), swap them in, and hand the state over to the live processors (stop `npm start`/`cx process` first)')
    .option('--from <time>', 'replace only rows from this event time on (ISO 8601, a whole minute); the folds still run over all earlier history', minuteOption)
    .option('--to <time>', 'fold only events before this time and replace only rows before it (ISO 8601, a whole minute); before the newest event: no hand-over', minuteOption)
    .option('--calibration <id>', 'memory weights: a calibration id, "active" (the active one, or the defaults when none is) or "none" (the defaults)', 'active')
    .action(async (opts: { from?: number; to?: number; calibration: string }) => {
      if (opts.from !== undefined && opts.to !== undefined && opts.from >= opts.to) throw new Error(`--from ${utc(opts.from)} is not before --to ${utc(opts.to)}`);
      const config = loadConfig();
      const log = createLogger(process.env.LOG_LEVEL ? config.logLevel : 'warn', 'cx-rebuild', config);
      // Opening the embedded store takes its lock: no `npm start` or `cx process` can start on it until this ends.
      const store = await openMigratedStore(config, log);
      const kafka = await connectKafka(config, log).catch(async (err) => {
        await store.close();
        throw err;
      });
      const admin = kafka.kafka.admin();
      const bar = new cliProgress.SingleBar(
        { format: 'rebuild {bar} {percentage}% | {done} of {all} events folded | {rate} events/s', noTTYOutput: true, notTTYSchedule: 5000, hideCursor: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      );
      let barOn = false;
      try {
        await admin.connect();
        const calibration = opts.calibration === 'none' ? null : opts.calibration === 'active' ? await activeCalibration(store) : await calibrationById(store, opts.calibration);
        const params = withCalibration(metricParams(config), calibration);
        const metricsGroup = `${config.consumerGroup}.metrics`;
        const view = await kafkaView(admin, config.touchpointsTopic, config.consumerGroup);
        const started = Date.now();
        const summary = await rebuild({
          store,
          params,
          kafka: view,
          range: { from: opts.from ?? null, to: opts.to ?? null },
          assertIdle: async (when) => {
            const members = await liveMembers(admin, metricsGroup);
            if (members.length) throw refusal(metricsGroup, config.consumerGroup, members, store.embedded, when);
          },
          onPhase: (what) => {
            if (!barOn) process.stderr.write(`rebuild: ${what}\n`);
          },
          onProgress: (done, total) => {
            const rate = fmt((done * 1000) / Math.max(1, Date.now() - started));
            if (!barOn) {
              bar.start(Math.max(total, 1), done, { done: fmt(done), all: fmt(total), rate });
              barOn = true;
            } else bar.update(done, { done: fmt(done), all: fmt(total), rate });
            if (done === total) {
              bar.stop();
              barOn = false;
            }
          },
        });
        const ends = new Map((await admin.fetchTopicOffsets(config.touchpointsTopic)).map((o) => [o.partition, BigInt(o.high)]));
        const after = new Map<number, bigint>();
        for (const c of summary.handOver?.partitions ?? []) {
          if (c.cluster !== view.cluster || c.topic !== view.topic) continue;
          const left = (ends.get(c.partition) ?? 0n) - BigInt(c.cut) - 1n;
          if (left > 0n) after.set(c.partition, left);
        }
        printSummary(summary, calibration, params, after);
        log.info({ summary }, 'rebuild finished');
      } finally {
        if (barOn) bar.stop();
        await admin.disconnect().catch(() => undefined);
        await store.close();
      }
    });
}
