/**
 * A real single-node Apache Kafka 3.9 (KRaft, broker + controller in one JVM) for
 * local runs and tests. Jars come from Maven Central through kafka/pom.xml and are
 * cached; storage is formatted once; the broker runs detached so `cx kafka up`
 * returns, and its pid file lets `cx kafka down` stop it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';

export const KAFKA_VERSION = '3.9.1';
const POM = fileURLToPath(new URL('../../kafka/pom.xml', import.meta.url));
const HOST = '127.0.0.1';

type BrokerConfig = Pick<Config, 'cacheDir' | 'localKafkaDir' | 'localKafkaPort' | 'localKafkaControllerPort'>;

export interface BrokerStatus {
  running: boolean;
  pid?: number;
  bootstrap: string;
  dir: string;
  log: string;
}

function paths(config: BrokerConfig) {
  const dir = config.localKafkaDir;
  return {
    libs: join(config.cacheDir, `kafka-${KAFKA_VERSION}`, 'libs'),
    dir,
    logDirs: join(dir, 'logs'),
    props: join(dir, 'server.properties'),
    log4j: join(dir, 'log4j.properties'),
    pidFile: join(dir, 'broker.pid'),
    logFile: join(dir, 'broker.log'),
  };
}

function bootstrap(config: BrokerConfig): string {
  return `${HOST}:${config.localKafkaPort}`;
}

function javaBin(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

function requireTool(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  if (r.error || r.status !== 0) {
    throw new Error(`${what} was not found (tried \`${cmd} ${args.join(' ')}\`). The local Kafka needs JDK 17+ and Maven; install them, or set KAFKA_BROKERS to use an existing cluster.`);
  }
}

/** Downloads the broker's jars once (about 50 MB) into the cache. */
export function ensureKafkaJars(config: BrokerConfig, log?: Logger): string {
  const { libs } = paths(config);
  const marker = join(libs, '.complete');
  if (existsSync(marker)) return libs;
  requireTool(javaBin(), ['-version'], 'Java');
  requireTool('mvn', ['-v'], 'Maven');
  log?.info({ libs }, `fetching Apache Kafka ${KAFKA_VERSION} jars from Maven Central (once)`);
  const partial = `${libs}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  const r = spawnSync('mvn', ['-q', '-B', '-f', POM, 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${partial}`], {
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    throw new Error(`Maven could not fetch the Kafka jars (exit ${r.status}). Is Maven Central reachable?\n${(r.stdout + r.stderr).slice(-2000)}`);
  }
  writeFileSync(join(partial, '.complete'), new Date().toISOString());
  rmSync(libs, { recursive: true, force: true });
  mkdirSync(join(libs, '..'), { recursive: true });
  renameSync(partial, libs);
  return libs;
}

function writeBrokerFiles(config: BrokerConfig): void {
  const p = paths(config);
  mkdirSync(p.logDirs, { recursive: true });
  const props = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.voters': `1@${HOST}:${config.localKafkaControllerPort}`,
    listeners: `PLAINTEXT://${HOST}:${config.localKafkaPort},CONTROLLER://${HOST}:${config.localKafkaControllerPort}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${config.localKafkaPort}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': p.logDirs,
    'num.partitions': '6',
    // Topics are created explicitly with their partition counts; a typo must not create one.
    'auto.create.topics.enable': 'false',
    'offsets.topic.replication.factor': '1',
    'offsets.topic.num.partitions': '1',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'group.initial.rebalance.delay.ms': '0',
    'log.retention.hours': '168',
  };
  writeFileSync(p.props, Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  writeFileSync(
    p.log4j,
    ['log4j.rootLogger=WARN, stdout', 'log4j.logger.kafka.server.KafkaServer=INFO', 'log4j.logger.kafka.server.KafkaRaftServer=INFO',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender', 'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n', ''].join('\n'),
  );
}

function formatStorage(config: BrokerConfig, libs: string): void {
  const p = paths(config);
  if (existsSync(join(p.logDirs, 'meta.properties'))) return;
  const cp = `${libs}/*`;
  const id = spawnSync(javaBin(), ['-cp', cp, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' });
  const clusterId = id.stdout.trim();
  if (id.status !== 0 || !clusterId) throw new Error(`kafka-storage random-uuid failed:\n${id.stderr}`);
  const fmt = spawnSync(javaBin(), ['-cp', cp, `-Dlog4j.configuration=file:${p.log4j}`, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', p.props, '--ignore-formatted'], {
    encoding: 'utf8',
  });
  if (fmt.status !== 0) throw new Error(`kafka-storage format failed:\n${fmt.stdout}${fmt.stderr}`);
}

function readPid(config: BrokerConfig): number | undefined {
  const { pidFile } = paths(config);
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function alive(pid: number | undefined): pid is number {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Our broker: alive, and (where /proc tells) a kafka.Kafka JVM on our properties file, not a recycled pid. */
function ours(config: BrokerConfig, pid: number | undefined): pid is number {
  if (!alive(pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('kafka.Kafka') && cmdline.includes(paths(config).props);
  } catch {
    return true;
  }
}

/** True when something accepts TCP connections on the port. */
export function portOpen(port: number, host = HOST, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePort) => {
    const socket = connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolvePort(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function logTail(config: BrokerConfig, lines = 30): string {
  const { logFile } = paths(config);
  if (!existsSync(logFile)) return '(no broker log)';
  return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
}

export async function localBrokerStatus(config: BrokerConfig): Promise<BrokerStatus> {
  const p = paths(config);
  const pid = readPid(config);
  const running = ours(config, pid) && (await portOpen(config.localKafkaPort));
  return { running, pid: ours(config, pid) ? pid : undefined, bootstrap: bootstrap(config), dir: p.dir, log: p.logFile };
}

/**
 * Starts the local broker unless it already runs, and waits until it accepts
 * Kafka requests. `ready` is a probe (a metadata request) supplied by the caller.
 */
export async function startLocalBroker(
  config: BrokerConfig,
  ready: (bootstrap: string) => Promise<void>,
  log?: Logger,
  timeoutMs = 90_000,
): Promise<{ bootstrap: string; started: boolean; pid: number }> {
  const status = await localBrokerStatus(config);
  if (status.running && status.pid) {
    await ready(status.bootstrap);
    return { bootstrap: status.bootstrap, started: false, pid: status.pid };
  }
  if (await portOpen(config.localKafkaPort)) {
    throw new Error(`port ${config.localKafkaPort} on ${HOST} is taken by another process. Stop it, set CX_KAFKA_PORT to a free port, or point KAFKA_BROKERS at that broker if it is Kafka.`);
  }
  const libs = ensureKafkaJars(config, log);
  const p = paths(config);
  writeBrokerFiles(config);
  formatStorage(config, libs);

  const out = openSync(p.logFile, 'a');
  const child = spawn(
    javaBin(),
    ['-Xms256m', '-Xmx512m', '-XX:+UseG1GC', '-Djava.awt.headless=true', `-Dlog4j.configuration=file:${p.log4j}`, '-cp', `${libs}/*`, 'kafka.Kafka', p.props],
    { detached: true, stdio: ['ignore', out, out] },
  );
  let exited: string | undefined;
  child.once('error', (err) => (exited = `could not be started (${err.message}); is Java 17+ installed?`));
  child.once('exit', (code, signal) => (exited = signal ? `was killed by ${signal}` : `exited with code ${code}`));
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    await new Promise((r) => setImmediate(r));
    throw new Error(`the local Kafka broker ${exited ?? 'could not be started'}`);
  }
  writeFileSync(p.pidFile, String(pid));
  log?.info({ brokerPid: pid, bootstrap: bootstrap(config) }, 'starting local Kafka broker');

  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      throw new Error(`the local Kafka broker ${exited} while starting. Last lines of ${p.logFile}:\n${logTail(config)}`);
    }
    if (await portOpen(config.localKafkaPort)) {
      try {
        await ready(bootstrap(config));
        log?.info({ brokerPid: pid, ms: timeoutMs - (deadline - Date.now()) }, 'local Kafka broker is ready');
        return { bootstrap: bootstrap(config), started: true, pid };
      } catch (err) {
        lastError = err;
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the local Kafka broker did not become ready within ${timeoutMs / 1000}s (${String(lastError ?? 'port closed')}). Last lines of ${p.logFile}:\n${logTail(config)}`);
}

/** Stops the local broker (SIGTERM, then SIGKILL after the grace period). Returns false if it was not running. */
export async function stopLocalBroker(config: BrokerConfig, graceMs = 30_000): Promise<boolean> {
  const p = paths(config);
  const pid = readPid(config);
  if (!ours(config, pid)) {
    rmSync(p.pidFile, { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
  rmSync(p.pidFile, { force: true });
  return true;
}

/** For `cx kafka status`: the jars present in the cache, if any. */
export function cachedJars(config: BrokerConfig): number {
  const { libs } = paths(config);
  return existsSync(libs) ? readdirSync(libs).filter((f) => f.endsWith('.jar')).length : 0;
}
