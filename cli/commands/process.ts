import { InvalidArgumentError, type Command } from 'commander';
import type { Admin } from 'kafkajs';
import { loadConfig } from '../../platform/config.ts';
import { endOffsets, lagBefore, type TopicEnds } from '../../platform/kafka/lag.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, foldStages, launchWorkers, notifyWorker, openMigratedStore, rawIngest, webhookNotifier, type Launchable } from '../../pipeline/compose.ts';
import { killAfterRounds } from '../../pipeline/faults.ts';
import { completeToIso, completeToText } from '../completeness.ts';
import { onShutdown, stopOnUnexpectedError } from '../shutdown.ts';
import { Teardown } from '../teardown.ts';

const fmt = (n: number) => n.toLocaleString('en-US');

/** The stages a worker can run (each its own consumer group: `<CX_CONSUMER_GROUP>`, `.metrics`, `.alerts`, `.notify`). */
const STAGES = ['raw', 'metrics', 'alerts', 'notify'] as const;
type StageName = (typeof STAGES)[number];

function stagesOption(value: string): Set<StageName> {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(STAGES as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length) {
    throw new InvalidArgumentError(`${unknown.length ? `unknown stage ${unknown.map((n) => `"${n}"`).join(', ')}` : 'no stage named'}: choose from ${STAGES.join(', ')}`);
  }
  return new Set(names as StageName[]);
}

/** Waits until both groups have committed everything that was in their topics at `ends` (or a stop began). */
async function caughtUp(admin: Admin, groups: [string, TopicEnds][], stopping: () => boolean, onWait: (left: number) => void): Promise<boolean> {
  let lastSaid = 0;
  while (!stopping()) {
    let left = 0;
    try {
      for (const [group, ends] of groups) left += await lagBefore(admin, group, ends);
    } catch {
      left = -1; // Kafka away for a moment: ask again.
    }
    if (left === 0) return true;
    if (Date.now() - lastSaid > 5000) {
      lastSaid = Date.now();
      onWait(left);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

export function processCommand(program: Command): void {
  program
    .command('process')
    .description('run a processor worker: raw events and dead letters, the metric folds (stool, drops, spirals, memory, journeys, departments) and touchpoint health and alerts into ClickHouse and the alerts topic; workers in one group share the partitions (Ctrl-C stops cleanly)')
    .option('--until-idle', 'finish a backfill: process what the input topics hold at the start, then release everything the watermark holds back (close every open minute, write the stool windows), store it, print a summary and exit 0')
    .option('--stages <list>', `the stages this worker runs, comma-separated, of ${STAGES.join(', ')} (default: all of them; notify only with CX_ALERT_WEBHOOK_URL). Stages in other processes share one store through CLICKHOUSE_URL`, stagesOption)
    .action(async (opts: { untilIdle?: boolean; stages?: Set<StageName> }) => {
      const config = loadConfig();
      const runs = opts.stages ?? new Set<StageName>(STAGES);
      if (opts.untilIdle && runs.has('alerts') && !runs.has('metrics')) {
        throw new Error('--until-idle with the alerts stage needs the metrics stage in the same process: the alerts finish after the metric folds have closed every minute');
      }
      const log = createLogger(config.logLevel, 'cx-process', config);
      // A stop asked for while starting up still stops cleanly: undo whatever has started.
      const teardown = new Teardown();
      let stopping = false;
      onShutdown(async (signal) => {
        stopping = true;
        log.info({ signal }, 'stopping: finishing and committing the chunk in hand, leaving the group');
        await teardown.run();
        for (const f of teardown.failures) log.warn(`could not ${f}`);
      });
      stopOnUnexpectedError(() => teardown.run());
      const fail = async (err: unknown) => {
        await teardown.run();
        throw err;
      };

      const store = await openMigratedStore(config, log);
      teardown.add('close the store', () => store.close());
      const kafka = await connectKafka(config, log).catch(fail);
      if (kafka.startedBroker) log.info('started the local Kafka broker; it keeps running after this worker stops (`npx cx kafka down` stops it)');
      // --until-idle: the input is what the topics hold now; what comes later is not waited for.
      const admin = kafka.kafka.admin();
      let ends: { raw: TopicEnds; metrics: TopicEnds } | undefined;
      if (opts.untilIdle) {
        await admin.connect().catch(fail);
        teardown.add('disconnect the admin client', () => admin.disconnect());
        const raw = await endOffsets(admin, [config.touchpointsTopic, config.outcomesTopic, config.deadLetterTopic]).catch(fail);
        ends = { raw, metrics: new Map([[config.touchpointsTopic, raw.get(config.touchpointsTopic) as Map<number, number>]]) };
      }

      const ingest = runs.has('raw') ? rawIngest(config, kafka, store, log, killAfterRounds('CX_FAULT_KILL_AFTER_STORED_CHUNKS')) : undefined;
      // The metric folds, the live stool and the alerts: in a thread of their own unless CX_STAGE_THREADS=0.
      const foldNames = (['metrics', 'alerts'] as const).filter((s) => runs.has(s));
      const folds = foldNames.length ? foldStages(config, kafka, store, log, [...foldNames]) : undefined;
      const metrics = runs.has('metrics') ? folds?.metrics : undefined;
      const alerts = runs.has('alerts') ? folds?.alerts : undefined;
      // Webhook delivery, when configured: any worker may deliver (one per change, through its consumer group).
      const notify = runs.has('notify') && config.alertWebhookUrl ? notifyWorker(config, kafka, store, log, (record) => webhookNotifier(config, log, record)) : undefined;
      if (opts.stages?.has('notify') && !config.alertWebhookUrl) log.warn('the notify stage delivers to CX_ALERT_WEBHOOK_URL, which is not set: not running it');

      let last = 0;
      ingest?.on('progress', (s: NonNullable<typeof ingest>['stats']) => {
        if (Date.now() - last < 1000) return;
        last = Date.now();
        log.info({ stats: s }, 'ingest progress');
      });
      let lastMetrics = 0;
      if (metrics) folds?.on('progress', (s: NonNullable<typeof metrics>['stats']) => {
        if (Date.now() - lastMetrics < 1000) return;
        lastMetrics = Date.now();
        log.info({ stats: s, completeTo: completeToIso(s.completeTo) }, 'metrics progress');
      });
      // What each stopped with, in the log (after they have all stopped).
      teardown.add('log the final figures', async () => {
        if (ingest) log.info({ stats: ingest.stats }, 'stopped');
        if (metrics) log.info({ stats: metrics.stats, completeTo: completeToIso(metrics.stats.completeTo) }, 'metrics stopped');
        if (alerts) log.info({ stats: alerts.stats }, 'alert stage stopped');
      });
      const workers: [string, Launchable | undefined][] = [['processor', ingest], [foldNames.length === 2 ? 'metric processors and alerts' : foldNames[0] === 'metrics' ? 'metric processors' : 'alert stage', folds], ['alert notifier', notify]];
      await launchWorkers(workers.filter((w): w is [string, Launchable] => w[1] !== undefined), teardown, (what, err) => {
        log.fatal({ err: err.message, worker: what }, 'a consumer stopped for good; exiting so a supervisor can restart this worker');
        void teardown.run().finally(() => process.exit(1));
      });
      log.info({ brokers: kafka.brokers, store: store.where, group: config.consumerGroup, untilIdle: Boolean(opts.untilIdle) }, 'processing');
      if (!ends) return;

      const t0 = Date.now();
      const groups: [string, TopicEnds][] = [];
      if (ingest) groups.push([config.consumerGroup, ends.raw]);
      if (metrics) groups.push([`${config.consumerGroup}.metrics`, ends.metrics]);
      const done = await caughtUp(admin, groups, () => stopping, (left) => log.info({ left }, 'until idle: messages left before the end of the input'));
      if (!done) return; // a signal is stopping the worker
      // A failure here still stops the workers the clean way (leaving their groups) before the error is shown.
      const finished = await folds?.finishInput().catch(fail);
      const said: string[] = [];
      if (ingest) {
        const s = ingest.stats;
        said.push(`${fmt(s.touchpointRows)} touchpoint rows, ${fmt(s.outcomeRows)} outcome rows, ${fmt(s.deadLetters)} dead letters stored`);
      }
      const m = metrics?.stats;
      if (m && finished && runs.has('metrics')) {
        const resultRows = Object.values(m.rows).reduce((a, b) => a + b, 0);
        said.push(`${fmt(m.released)} events through the metric folds (${fmt(m.late)} late, ${fmt(m.duplicates)} duplicates skipped${m.calibrationId ? `, calibration ${m.calibrationId}` : ''}), ${fmt(resultRows)} result rows, ${fmt(m.windows)} stool windows over ${finished.partitions} partition(s); ` +
          `results ${completeToText(finished.completeTo)}`);
      }
      if (alerts) said.push(`${fmt(alerts.stats.minutes)} minutes of touchpoint health, ${fmt(alerts.stats.published)} alert changes published`);
      process.stdout.write(`Input finished in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${said.join('; ')}.\n`);
      log.info({ stats: m, completeTo: finished ? completeToIso(finished.completeTo) : undefined }, 'until idle: input finished');
      stopping = true;
      await teardown.run();
      for (const f of teardown.failures) log.warn(`could not ${f}`);
      process.exit(0);
    });
}
