import type { Command } from 'commander';
import { loadConfig } from '../../platform/config.ts';
import { ensureTopics, kafkaClient, probeBroker } from '../../platform/kafka/client.ts';
import { cachedJars, KAFKA_VERSION, localBrokerStatus, startLocalBroker, stopLocalBroker } from '../../platform/kafka/localBroker.ts';
import { createLogger } from '../../platform/log.ts';

export function kafkaCommand(program: Command): void {
  const kafka = program.command('kafka').description(`the local single-node Apache Kafka ${KAFKA_VERSION} broker (used when KAFKA_BROKERS is unset)`);

  kafka
    .command('up')
    .description('fetch the broker (once), start it on 127.0.0.1, wait until it answers, and create the topics')
    .action(async () => {
      const config = loadConfig();
      const log = createLogger(config.logLevel, 'cx', config);
      const r = await startLocalBroker(config, probeBroker, log);
      await ensureTopics(kafkaClient([r.bootstrap], config.kafkaClientId, log), config, log);
      process.stdout.write(`Kafka ${r.started ? 'started' : 'already running'} at ${r.bootstrap} (pid ${r.pid}); data in ${config.localKafkaDir}\n`);
    });

  kafka
    .command('down')
    .description('stop the local broker (its data is kept)')
    .action(async () => {
      const stopped = await stopLocalBroker(loadConfig());
      process.stdout.write(stopped ? 'Kafka stopped\n' : 'Kafka was not running\n');
    });

  kafka
    .command('status')
    .description('say whether the local broker runs, where, and where its log is')
    .action(async () => {
      const config = loadConfig();
      const s = await localBrokerStatus(config);
      process.stdout.write(
        `${s.running ? `running at ${s.bootstrap} (pid ${s.pid})` : 'not running'}\n` +
          `data: ${s.dir}\nlog:  ${s.log}\njars: ${cachedJars(config)} cached in ${config.cacheDir}\n`,
      );
      if (config.kafkaBrokers) process.stdout.write(`note: KAFKA_BROKERS is set (${config.kafkaBrokers.join(',')}), so the pipeline uses that cluster instead\n`);
    });
}
