import { InvalidArgumentError, type Command } from 'commander';
import { recordEndpoint } from '../../platform/clickhouse/endpoint.ts';
import { startStoreServer } from '../../platform/clickhouse/storeServer.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { onShutdown } from '../shutdown.ts';

export function portOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port, a whole number from 0 (any free port) to 65535');
  return n;
}

export function storeCommand(program: Command): void {
  const store = program.command('store').description('the embedded ClickHouse store (chdb, CX_CLICKHOUSE_PATH)');

  store
    .command('serve')
    .description(
      'own the embedded data directory and serve it over ClickHouse\'s HTTP interface, so several processes ' +
        '(workers, `cx sql`, dashboards) can share it through CLICKHOUSE_URL; Ctrl-C stops it. No authentication: keep it on 127.0.0.1',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', portOption, 8123)
    .option('--read-only', 'refuse anything but SELECT, WITH, SHOW, DESCRIBE, EXPLAIN and EXISTS')
    .action(async (opts: { host: string; port: number; readOnly?: boolean }) => {
      const config = loadConfig();
      if (config.clickhouseUrl) {
        throw new Error(
          `CLICKHOUSE_URL is set (${config.clickhouseUrl}), so this setup already uses a ClickHouse server and there is no embedded store to serve. ` +
            `Unset CLICKHOUSE_URL to serve the embedded data directory ${config.clickhousePath}.`,
        );
      }
      const log = createLogger(config.logLevel, 'cx-store', config);
      const readOnly = opts.readOnly ?? false;
      const writeAdvice = 'To write, run `npx cx store serve` without --read-only (or stop it: `npx cx sql` then opens the data directory itself).';
      const server = await startStoreServer({
        path: config.clickhousePath,
        host: opts.host,
        port: opts.port,
        readOnly,
        readOnlyRefusal: { servedBy: 'cx store serve --read-only', writeAdvice },
        log,
      });
      // So `npx cx sql` finds this server by itself.
      const forget = recordEndpoint(config.clickhousePath, { url: server.url, readOnly, servedBy: '`npx cx store serve`', writeAdvice: readOnly ? writeAdvice : undefined });
      onShutdown(async () => {
        forget();
        await server.close();
      });
      if (!['127.0.0.1', 'localhost', '::1'].includes(opts.host)) {
        log.warn({ host: opts.host }, `the store is served without authentication: anyone who can reach ${opts.host}:${new URL(server.url).port} can read${readOnly ? '' : ' and change'} its data`);
      }
      process.stdout.write(
        `ClickHouse HTTP interface for embedded chdb at ${config.clickhousePath}: ${server.url} (${readOnly ? 'read-only' : 'read-write'}); ` +
          `processes can use CLICKHOUSE_URL=${server.url}\n`,
      );
    });
}
