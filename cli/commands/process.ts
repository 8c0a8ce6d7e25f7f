import type { Command } from 'commander';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { alertStage, connectKafka, metricsWorker, notifyWorker, openMigratedStore, rawIngest, webhookNotifier } from '../../platform/pipeline.ts';
import { onShutdown } from '../shutdown.ts';
import { Teardown } from '../teardown.ts';

/**
 * Test hook for crash-safety tests: with `variable` = N, SIGKILL this process right after
 * the Nth chunk (or alert round) is stored and before its offsets are committed (or its
 * alerts published), the worst moment.
 */
function killAfterChunks(variable: string): (() => void) | undefined {
  const n = Number(process.env[variable] ?? 0);
  if (!(n > 0)) return undefined;
  let chunks = 0;
  return () => {
    if (++chunks === n) process.kill(process.pid, 'SIGKILL');
  };
}

export function processCommand(program: Command): void {
  program
    .command('process')
    .description('run a processor worker: raw events and dead letters, the metric folds (stool, drops, spirals, memory, journeys, departments) and touchpoint health and alerts into ClickHouse and the alerts topic; workers in one group share the partitions (Ctrl-C stops cleanly)')
    .action(async () => {
      const config = loadConfig();
      const log = createLogger(config.logLevel, 'cx-process', config);
      // A stop asked for while starting up still stops cleanly: undo whatever has started.
      const teardown = new Teardown();
      onShutdown(async (signal) => {
        log.info({ signal }, 'stopping: finishing and committing the chunk in hand, leaving the group');
        await teardown.run();
        for (const f of teardown.failures) log.warn(`could not ${f}`);
      });
      const fail = async (err: unknown) => {
        await teardown.run();
        throw err;
      };

      const store = await openMigratedStore(config, log);
      teardown.add('close the store', () => store.close());
      const kafka = await connectKafka(config, log).catch(fail);
      if (kafka.startedBroker) log.info('started the local Kafka broker; it keeps running after this worker stops (`npx cx kafka down` stops it)');

      const ingest = rawIngest(config, kafka, store, log, killAfterChunks('CX_FAULT_KILL_AFTER_STORED_CHUNKS'));
      teardown.add('stop the processor', async () => {
        await ingest.stop();
        log.info({ stats: ingest.stats }, 'stopped');
      });

      const metrics = metricsWorker(config, kafka, store, log, killAfterChunks('CX_FAULT_KILL_AFTER_METRIC_CHUNKS'));
      teardown.add('stop the metric processors', async () => {
        await metrics.stop();
        log.info({ stats: metrics.stats }, 'metrics stopped');
      });

      const alerts = alertStage(config, kafka, store, log, killAfterChunks('CX_FAULT_KILL_AFTER_ALERT_CHANGES'));
      teardown.add('stop the alert stage', async () => {
        await alerts.stop();
        log.info({ stats: alerts.stats }, 'alert stage stopped');
      });
      alerts.on('published', (changes: { summary: string; status: string }[]) => {
        for (const c of changes) log.info({ status: c.status }, `alert: ${c.summary}`);
      });

      // Webhook delivery, when configured: any worker may deliver (one per change, through its consumer group).
      const notify = config.alertWebhookUrl ? notifyWorker(config, kafka, store, log, (record) => webhookNotifier(config, log, record)) : undefined;
      if (notify) {
        teardown.add('stop the alert notifier', () => notify.stop());
        notify.on('fatal', (err: Error) => fatal(err));
      }

      let last = 0;
      ingest.on('progress', (s) => {
        if (Date.now() - last < 1000) return;
        last = Date.now();
        log.info({ stats: s }, 'ingest progress');
      });
      let lastMetrics = 0;
      metrics.on('progress', (s) => {
        if (Date.now() - lastMetrics < 1000) return;
        lastMetrics = Date.now();
        log.info({ stats: s }, 'metrics progress');
      });
      const fatal = (err: Error) => {
        log.fatal({ err: err.message }, 'a consumer stopped for good; exiting so a supervisor can restart this worker');
        void teardown.run().finally(() => process.exit(1));
      };
      ingest.on('fatal', fatal);
      metrics.on('fatal', fatal);
      alerts.on('fatal', fatal);
      await ingest.start().catch(fail);
      await metrics.start().catch(fail);
      await alerts.start().catch(fail);
      await notify?.start().catch(fail);
      log.info({ brokers: kafka.brokers, store: store.where, group: config.consumerGroup }, 'processing');
    });
}
