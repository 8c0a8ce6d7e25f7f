import { InvalidArgumentError, type Command } from 'commander';
import { recordEndpoint } from '../../platform/clickhouse/endpoint.ts';
import { startStoreServer } from '../../platform/clickhouse/storeServer.ts';
import { loadConfig, type Config } from '../../platform/config.ts';
import { createLogger, type Logger } from '../../platform/log.ts';
import { onShutdown } from '../shutdown.ts';

export function portOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port, a whole number from 0 (any free port) to 65535');
  return n;
}

/** The SQL endpoint's limits and password, from the configuration (one place for both servers). */
export function sqlEndpointSettings(config: Config) {
  return {
    database: config.clickhouseDatabase,
    limits: { maxExecutionSeconds: config.sqlMaxExecutionSeconds, maxResultBytes: config.sqlMaxResultBytes },
    maxConcurrent: config.sqlMaxConcurrent,
    password: config.sqlPassword,
  };
}

const LOOPBACK = ['127.0.0.1', 'localhost', '::1'];

/** Beyond this machine, an endpoint without a password is open to anyone who reaches it: said loudly, not refused. */
export function warnIfOpen(host: string, url: string, readOnly: boolean, config: Config, log: Logger): void {
  if (LOOPBACK.includes(host) || config.sqlPassword) return;
  const message =
    `the SQL endpoint listens on ${host}:${new URL(url).port} without a password: anyone who can reach it can read${readOnly ? '' : ' and change'} the data. ` +
    'Set CX_SQL_PASSWORD, or listen on 127.0.0.1';
  log.warn({ host }, message);
  process.stderr.write(`cx: warning: ${message}\n`);
}

export function storeCommand(program: Command): void {
  const store = program.command('store').description('the embedded ClickHouse store (chdb, CX_CLICKHOUSE_PATH)');

  store
    .command('serve')
    .description(
      'own the embedded data directory and serve it over ClickHouse\'s HTTP interface, so several processes ' +
        '(workers, `cx sql`, dashboards) can share it through CLICKHOUSE_URL; Ctrl-C stops it. CX_SQL_PASSWORD, when set, is required of every client',
    )
    .option('--host <host>', 'address to listen on (any but 127.0.0.1 wants CX_SQL_PASSWORD)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', portOption, 8123)
    .option('--read-only', 'serve reads of the project\'s database only (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS; no files, URLs or other servers), each within CX_SQL_MAX_EXECUTION_SECONDS and CX_SQL_MAX_RESULT_BYTES')
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
        ...sqlEndpointSettings(config),
        log,
      });
      // So `npx cx sql` finds this server by itself.
      const forget = recordEndpoint(config.clickhousePath, { url: server.url, readOnly, servedBy: '`npx cx store serve`', writeAdvice: readOnly ? writeAdvice : undefined });
      onShutdown(async () => {
        forget();
        await server.close();
      });
      warnIfOpen(opts.host, server.url, readOnly, config, log);
      process.stdout.write(
        `ClickHouse HTTP interface for embedded chdb at ${config.clickhousePath}: ${server.url} (${readOnly ? 'read-only' : 'read-write'}); ` +
          `processes can use CLICKHOUSE_URL=${server.url}\n`,
      );
    });
}
