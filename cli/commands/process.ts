import type { Command } from 'commander';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, openMigratedStore, rawIngest } from '../../platform/pipeline.ts';
import { onShutdown } from '../shutdown.ts';

export function processCommand(program: Command): void {
  program
    .command('process')
    .description('run a processor worker: consume the input topics, write rows to ClickHouse, dead-letter bad messages (Ctrl-C stops cleanly)')
    .action(async () => {
      const config = loadConfig();
      const log = createLogger(config.logLevel, 'cx-process');
      const store = await openMigratedStore(config, log);
      const kafka = await connectKafka(config, log).catch(async (err: unknown) => {
        await store.close();
        throw err;
      });
      if (kafka.startedBroker) log.info('started the local Kafka broker; it keeps running after this worker stops (`npx cx kafka down` stops it)');

      // Test hook for crash-safety tests: SIGKILL this process right after the Nth
      // chunk is stored and before its offsets are committed, the worst moment.
      const killAfter = Number(process.env.CX_FAULT_KILL_AFTER_STORED_CHUNKS ?? 0);
      let storedChunks = 0;
      const ingest = rawIngest(config, kafka, store, log, killAfter > 0 ? () => {
        if (++storedChunks === killAfter) process.kill(process.pid, 'SIGKILL');
      } : undefined);

      let last = 0;
      ingest.on('progress', (s) => {
        if (Date.now() - last < 1000) return;
        last = Date.now();
        log.info({ stats: s }, 'ingest progress');
      });
      await ingest.start();
      log.info({ brokers: kafka.brokers, store: store.where, group: config.consumerGroup }, 'processing');

      onShutdown(async (signal) => {
        log.info({ signal }, 'stopping: finishing the chunk in hand, committing, leaving the group');
        await ingest.stop();
        await store.close();
        log.info({ stats: ingest.stats }, 'stopped');
      });
    });
}
