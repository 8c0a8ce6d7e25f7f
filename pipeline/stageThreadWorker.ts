/**
 * Inside a stage thread: the metric folds, the live stool and the alerts, on a Kafka
 * client and a store connection of the thread's own (the embedded engine is one per
 * process, and its connections in every thread share it). It reports its figures to
 * the main thread and answers its calls: finish the input, stop. See stageThread.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from '../platform/clickhouse/store.ts';
import { ensureTopics, kafkaClient } from '../platform/kafka/client.ts';
import { createLogger } from '../platform/log.ts';
import { SchemaRegistry } from '../schemas/registry.ts';
import { foldStagesHere } from './compose.ts';
import type { FromThread, ThreadData, ToThread } from './stageThread.ts';

const port = parentPort;
if (!port) throw new Error('stageThreadWorker.ts runs in a stage thread (pipeline/stageThread.ts)');
const data = workerData as ThreadData;
const post = (m: FromThread) => port.postMessage(m);

async function main(): Promise<void> {
  const config = data.config;
  const log = createLogger(data.logLevel ?? config.logLevel, data.logName, config);
  const store = await openStore(config);
  const kafka = { kafka: kafkaClient(data.brokers, config.kafkaClientId, log), brokers: data.brokers, startedBroker: false, registry: SchemaRegistry.load(), log };
  await ensureTopics(kafka.kafka, config, log);
  const folds = foldStagesHere(config, kafka, store, log, data.stages);
  let last = 0;
  const report = (force = false) => {
    if (!force && Date.now() - last < 200) return;
    last = Date.now();
    post({ type: 'progress', metrics: folds.metrics.stats, latestWindow: folds.metrics.latestWindow, alerts: folds.alerts.stats, timing: folds.metrics.timing });
  };
  folds.on('progress', () => report());
  folds.on('fatal', (err: Error) => post({ type: 'fatal', what: 'stage', message: err.message }));
  const timer = setInterval(() => report(true), 1000);
  port?.on('message', (m: ToThread) => {
    if (m.type === 'finish') {
      void (async () => {
        const finished = await folds.finishInput();
        report(true);
        post({ type: 'finished', partitions: finished.partitions, completeTo: finished.completeTo });
      })().catch((err: unknown) => post({ type: 'failed', message: (err as Error).message }));
    } else if (m.type === 'stop') {
      void (async () => {
        clearInterval(timer);
        const failures: string[] = [];
        await folds.stop().catch((err: unknown) => failures.push((err as Error).message));
        await store.close().catch(() => undefined);
        report(true);
        post({ type: 'stopped', failures });
        // The thread stays (idle, unreferenced) until the process exits: a thread that used the embedded engine
        // and ends takes the engine down with it for every other thread of the process (chdb 3.4; a test of ours showed it).
      })();
    }
  });
  try {
    await folds.start();
  } catch (err) {
    clearInterval(timer);
    await folds.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
  report(true);
  post({ type: 'started' });


}

main().catch((err: unknown) => post({ type: 'failed', message: (err as Error).message }));
