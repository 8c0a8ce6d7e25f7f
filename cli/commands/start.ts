import type { Command } from 'commander';
import { recordEndpoint } from '../../platform/clickhouse/endpoint.ts';
import { PortInUseError, startStoreServer, type StoreServer } from '../../platform/clickhouse/storeServer.ts';
import { loadConfig, type Config } from '../../platform/config.ts';
import { consumerLag } from '../../platform/kafka/lag.ts';
import { stopLocalBroker } from '../../platform/kafka/localBroker.ts';
import { createLogger, type Logger } from '../../platform/log.ts';
import { connectKafka, connectProducer, foldStages, launchWorkers, notifyWorker, openMigratedStore, rawIngest, webhookNotifier } from '../../pipeline/compose.ts';
import { ConsoleNotifier } from '../../processors/alerting/console.ts';
import type { StoolWindow } from '../../processors/folds/legConsistency.ts';
import { completeToText } from '../completeness.ts';
import { exitWithError } from '../errors.ts';
import { onShutdown, stopOnUnexpectedError } from '../shutdown.ts';
import { Teardown } from '../teardown.ts';
import { numberOption } from '../options.ts';
import { emitOptions, startLiveTraffic, type EmitOptions } from './emit.ts';
import { portOption, sqlEndpointSettings, warnIfOpen } from './store.ts';

const fmt = (n: number) => n.toLocaleString('en-US');

const LEG_LETTER: Record<string, string> = { PRODUCT: 'P', OPERATIONS: 'O', SALES_MARKETING: 'S' };

/** The live stool in a few characters: each leg's score and whether it stands. */
function stoolText(w: StoolWindow | undefined): string {
  if (!w) return 'stool: waiting for the first window';
  const legs = w.stool.legs.map((l) => `${LEG_LETTER[l.leg]} ${l.score.toFixed(2)}`).join(' ');
  return `stool ${legs} ${w.stool.stands ? 'stands' : `wobbles (weakest ${w.stool.weakestLeg})`}`;
}

const SQL_WRITE_ADVICE = 'To write, stop `npx cx start` (then `npx cx sql` opens the data directory itself), or start it with --sql-writable.';

interface SqlOptions {
  sql: boolean;
  sqlPort?: number;
  sqlHost?: string;
  sqlWritable?: boolean;
}

/**
 * The live data over ClickHouse's HTTP interface, from this process: chdb lets one
 * process open the data directory, and its connections to it run side by side, so the
 * server's own connections query what the processors insert. A port in use is not a
 * reason to stop the pipeline: a free port is served instead, and `cx sql` finds it
 * through the endpoint record.
 */
async function serveLiveSql(config: Config, opts: SqlOptions, log: Logger, teardown: Teardown): Promise<string> {
  const readOnly = !opts.sqlWritable;
  const wanted = opts.sqlPort ?? config.sqlPort;
  const host = opts.sqlHost ?? '127.0.0.1';
  const serve = (port: number) =>
    startStoreServer({
      path: config.clickhousePath,
      host,
      port,
      readOnly,
      readOnlyRefusal: { servedBy: 'the live data of `npx cx start`', writeAdvice: SQL_WRITE_ADVICE },
      ...sqlEndpointSettings(config),
      log,
    });
  let server: StoreServer;
  let note = '';
  try {
    server = await serve(wanted).catch((err: unknown) => {
      if (!(err instanceof PortInUseError)) throw err;
      note = `; port ${wanted} is in use, so this is a free one (--sql-port or CX_SQL_PORT to choose)`;
      return serve(0);
    });
  } catch (err) {
    return `SQL: not served (${(err as Error).message}); the pipeline runs on, and \`npx cx sql\` opens the data after it stops`;
  }
  let forget: (() => void) | undefined;
  teardown.add('stop serving SQL', async () => {
    forget?.();
    await server.close();
  });
  forget = recordEndpoint(config.clickhousePath, { url: server.url, readOnly, servedBy: '`npx cx start`', writeAdvice: readOnly ? SQL_WRITE_ADVICE : undefined });
  warnIfOpen(host, server.url, readOnly, config, log);
  const parallel = readOnly ? `, ${server.maxConcurrent} ${server.maxConcurrent === 1 ? 'query' : 'queries'} at once` : '';
  return `SQL: ${server.url} (${readOnly ? 'read-only' : 'read-write'}${parallel}${note}) — npx cx sql, or CLICKHOUSE_URL=${server.url} for any ClickHouse HTTP tool`;
}

export function startCommand(program: Command): void {
  emitOptions(program.command('start'))
    .description('the main job: local Kafka (unless KAFKA_BROKERS), ClickHouse (embedded unless CLICKHOUSE_URL), live simulated traffic, the processors and touchpoint alerts (printed as they open and resolve), with a live status line; Ctrl-C stops cleanly')
    .option('--duration <seconds>', 'stop by itself after this long', numberOption(1))
    .option('--keep-kafka', 'leave the local broker running on exit (it is stopped if this command started it)')
    .option('--sql-port <port>', 'port serving the live data over ClickHouse\'s HTTP interface, for `npx cx sql` and ClickHouse tools (default CX_SQL_PORT, 8124; 0: any free port)', portOption)
    .option('--sql-host <host>', 'address the SQL endpoint listens on (default 127.0.0.1; any other wants CX_SQL_PASSWORD)')
    .option('--sql-writable', 'let that endpoint take inserts and DDL too (default: read-only)')
    .option('--no-sql', 'do not serve the live data')
    .action(async (opts: EmitOptions & SqlOptions & { duration?: number; keepKafka?: boolean }) => {
      const config = loadConfig();
      // The status line is the interface here; logs only for problems unless LOG_LEVEL says otherwise.
      const log = createLogger(process.env.LOG_LEVEL ? config.logLevel : 'warn', 'cx', config);
      const say = (s: string) => process.stdout.write(`${s}\n`);

      // Everything started is undone in reverse order, on Ctrl-C and on a failure half-way.
      const teardown = new Teardown();
      let stop: (() => Promise<void>) | undefined;
      onShutdown(async () => {
        await (stop ?? (() => teardown.run()))();
      });
      // Not the full stop: its wait for the lag to drain could outlast the grace period.
      stopOnUnexpectedError(() => teardown.run());
      const fail = async (err: unknown) => {
        await teardown.run();
        throw err;
      };

      // The store first: it fails fast (e.g. the embedded directory is in use) before a broker is started.
      const store = await openMigratedStore(config, log);
      teardown.add('close the store', () => store.close());
      say(`ClickHouse: ${store.where}, database ${store.database}`);
      // With CLICKHOUSE_URL the data is on a server every tool can reach already.
      if (store.embedded) say(opts.sql ? await serveLiveSql(config, opts, log, teardown) : 'SQL: not served (--no-sql); `npx cx sql` opens the data after this stops');
      say(config.kafkaBrokers ? `Kafka: ${config.kafkaBrokers.join(',')}` : 'Kafka: starting the local broker (the first run fetches it from Maven Central)...');
      const kafka = await connectKafka(config, log).catch(fail);
      if (kafka.startedBroker && !opts.keepKafka) {
        teardown.add('stop the local broker', async () => {
          await stopLocalBroker(config);
          say('Kafka: local broker stopped (use --keep-kafka to leave it running).');
        });
      }
      say(`Kafka: ${kafka.brokers.join(',')}${kafka.startedBroker ? ' (local broker, started now)' : ''}; topics ${config.touchpointsTopic}, ${config.outcomesTopic}, ${config.deadLetterTopic}`);

      const ingest = rawIngest(config, kafka, store, log);
      // The metric folds, the live stool and the alerts: in a thread of their own unless CX_STAGE_THREADS=0.
      const folds = foldStages(config, kafka, store, log);
      // Alert changes as they happen, above the status line (and to the webhook, when configured).
      const tty = process.stdout.isTTY;
      const above = { write: (s: string) => process.stdout.write(tty ? `\r\x1b[2K${s}` : s) } as unknown as NodeJS.WritableStream;
      const notify = notifyWorker(config, kafka, store, log, (record) => [new ConsoleNotifier({ out: above, target: 'stdout', onAttempt: record, log }), ...webhookNotifier(config, log, record)]);
      // Each worker is stopped on the way out, and one that stops for good takes the job down with it.
      await launchWorkers([['processor', ingest], ['metric processors and alerts', folds], ['alert notifiers', notify]], teardown, (what, err) => {
        process.stderr.write(`\ncx: the ${what} stopped for good (${err.message}); shutting down\n`);
        void teardown.run().finally(() => process.exit(1));
      });
      const calibration = folds.metrics.stats.calibrationId;
      say(calibration
        ? `Memory: weights of calibration ${calibration} (the active one; \`npx cx calibrate list\`).`
        : 'Memory: default weights (m at moments of truth); `npx cx calibrate` fits them to outcomes.');
      const producer = await connectProducer(config, kafka).catch(fail);
      teardown.add('disconnect the emitter', () => producer.disconnect());
      const admin = kafka.kafka.admin();
      teardown.add('disconnect the admin client', () => admin.disconnect());
      await admin.connect().catch(fail);

      const rate = opts.rate ?? config.emitRate;
      const emitter = startLiveTraffic(producer, config.touchpointsTopic, { ...opts, rate });
      say(`Emitting ${fmt(rate)} events/s. Ctrl-C to stop.`);

      const inputs = [config.touchpointsTopic, config.outcomesTopic];
      let lag = 0;
      const started = Date.now();
      let lastRows = 0;
      let lastAt = started;
      let lastPrinted = 0;
      const status = async () => {
        lag = await consumerLag(admin, config.consumerGroup, inputs).catch(() => lag);
        const s = ingest.stats;
        const now = Date.now();
        const perSecond = ((s.touchpointRows + s.outcomeRows - lastRows) * 1000) / Math.max(1, now - lastAt);
        lastRows = s.touchpointRows + s.outcomeRows;
        lastAt = now;
        const line = `produced ${fmt(emitter.sent)} · rows ${fmt(s.touchpointRows)} touchpoints + ${fmt(s.outcomeRows)} outcomes · dead letters ${fmt(s.deadLetters)} · duplicates ${fmt(folds.metrics.stats.duplicates)} · lag ${fmt(lag)} · ${fmt(Math.round(perSecond))} rows/s · ${completeToText(folds.metrics.stats.completeTo, now)} · ${stoolText(folds.metrics.latestWindow)}`;
        if (tty) process.stdout.write(`\r\x1b[2K${line}`);
        else if (now - lastPrinted >= 5000) {
          lastPrinted = now;
          say(line);
        }
      };
      const ticker = setInterval(() => void status(), 1000);

      let stopping: Promise<void> | undefined;
      stop = () =>
        (stopping ??= (async () => {
          clearInterval(ticker);
          if (tty) process.stdout.write('\n');
          say('Stopping: flushing the emitter, draining the processors, committing...');
          await emitter.stop();
          // Let the processors catch up on what was sent, so the summary is whole.
          const deadline = Date.now() + 30_000;
          let left = await consumerLag(admin, config.consumerGroup, inputs).catch(() => -1);
          while (left !== 0 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 250));
            left = await consumerLag(admin, config.consumerGroup, inputs).catch(() => -1);
          }
          await teardown.run();
          const s = ingest.stats;
          say(`Done in ${((Date.now() - started) / 1000).toFixed(0)} s: sent ${fmt(emitter.stats.touchpoints + emitter.stats.outcomes)} events${emitter.stats.garbage ? ` and ${fmt(emitter.stats.garbage)} bad messages` : ''}; stored ${fmt(s.touchpointRows)} touchpoint rows, ${fmt(s.outcomeRows)} outcome rows, ${fmt(s.deadLetters)} dead letters.`);
          if (left !== 0) say(`Note: ${left < 0 ? 'the consumer lag could not be read' : `${fmt(left)} messages were not processed yet`}; the next run picks them up.`);
          for (const f of teardown.failures) say(`Note: could not ${f}`);
          say(`Metrics: ${fmt(folds.metrics.stats.released)} events through the folds, ${fmt(folds.metrics.stats.windows)} stool windows, ${fmt(folds.metrics.stats.late)} late events, ${fmt(folds.metrics.stats.duplicates)} duplicates skipped; results ${completeToText(folds.metrics.stats.completeTo)}.`);
          say(`Alerts: ${fmt(folds.alerts.stats.minutes)} minutes of touchpoint health, ${fmt(folds.alerts.stats.published)} alert changes published to ${config.alertsTopic}.`);
          say('Query the data: npx cx sql "SELECT * FROM cx.stool_now"   (more in docs/metrics.md; alerts: cx.open_alerts, docs/alerts.md)');
        })());
      if (opts.duration) {
        setTimeout(() => {
          (stop as () => Promise<void>)().then(
            () => process.exit(0),
            (err: unknown) => exitWithError(err),
          );
        }, opts.duration * 1000);
      }
    });
}
