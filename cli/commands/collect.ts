import type { Command } from 'commander';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer } from '../../pipeline/compose.ts';
import { buildCollector, stopCollector } from '../../producers/collector.ts';
import { onShutdown } from '../shutdown.ts';
import { numberOption } from '../options.ts';

export function collectCommand(program: Command): void {
  program
    .command('collect')
    .description('run the HTTP collector: POST /v1/touchpoints and /v1/outcomes (JSON, one event or an array), GET /healthz')
    .option('--port <port>', 'port (default: CX_COLLECTOR_PORT, 8080)', numberOption(1))
    .option('--host <host>', 'address (default: CX_COLLECTOR_HOST, 127.0.0.1)')
    .action(async (opts: { port?: number; host?: string }) => {
      const config = loadConfig();
      const log = createLogger(config.logLevel, 'cx-collect', config);
      const kafka = await connectKafka(config, log);
      const producer = await connectProducer(config, kafka);
      const app = buildCollector({
        producer,
        token: config.collectorToken,
        maxBodyBytes: config.collectorMaxBodyBytes,
        maxBatch: config.collectorMaxBatch,
        requestTimeoutMs: config.collectorRequestTimeoutMs,
        headersTimeoutMs: config.collectorHeadersTimeoutMs,
        idleTimeoutMs: config.collectorIdleTimeoutMs,
      });
      const host = opts.host ?? config.collectorHost;
      const port = opts.port ?? config.collectorPort;
      await app.listen({ host, port });
      log.info({ url: `http://${host}:${port}`, auth: config.collectorToken ? 'bearer' : 'none' }, 'collector listening');
      process.stdout.write(`Collector listening on http://${host}:${port} (POST /v1/touchpoints, /v1/outcomes; GET /healthz)${config.collectorToken ? ', bearer token required' : ''}\n`);
      onShutdown(async (signal) => {
        const t = Date.now();
        log.info({ signal, shutdownMs: config.collectorShutdownMs }, 'collector stopping: no new connections; requests in hand get their answers');
        await stopCollector(app, config.collectorShutdownMs);
        // Events of answered requests that are still in a produce request: give Kafka a last moment, bounded.
        const flushed = await Promise.race([producer.disconnect().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5_000).unref())]);
        if (!flushed) log.warn({ pending: producer.status.pending }, 'stopped without Kafka\'s last acknowledgements; those requests were answered 504 with their unknown_ids');
        log.info({ ms: Date.now() - t }, 'collector stopped');
      });
    });
}
