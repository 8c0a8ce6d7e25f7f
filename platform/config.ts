/**
 * The one configuration schema: every setting, its environment variable, its default
 * and what it means. `loadConfig()` reads the environment; a bad value fails with a
 * message naming the variable. README's configuration table is checked against this.
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';

const hostPort = /^[A-Za-z0-9.-]+:\d{1,5}$/;

const brokerList = z
  .string()
  .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
  .refine((list) => list.length > 0 && list.every((b) => hostPort.test(b) && Number(b.split(':')[1]) <= 65535), {
    message: 'expected a comma-separated list of host:port, e.g. 127.0.0.1:9092,kafka-2:9092',
  });

const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) => {
  const message = max === Number.MAX_SAFE_INTEGER ? `expected a whole number, at least ${min}` : `expected a whole number from ${min} to ${max}`;
  return z.coerce.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message });
};
const port = wholeNumber(1, 65535);
const positiveInt = wholeNumber(1);
const positiveNumber = (what: string) => z.coerce.number({ error: `expected a positive number (${what})` }).positive({ error: `expected a positive number (${what})` }).finite();
const share = z.coerce.number({ error: 'expected a number from 0 to 1' }).min(0, { error: 'expected a number from 0 to 1' }).max(1, { error: 'expected a number from 0 to 1' });
const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'expected a Kafka topic name: letters, digits, ".", "_" or "-"');

/**
 * How a setting's value may be shown. `secret`: never (only whether it is set);
 * `url`: with any password in it replaced by ***. Everything that prints or logs
 * configuration goes through `shownValue`/`redactor`, so this flag is the one place
 * that decides what is secret.
 */
export type Exposure = 'secret' | 'url';
const SECRET = { exposure: 'secret' } as const;
const URL_WITH_CREDENTIALS = { exposure: 'url' } as const;

/** Setting name -> [environment variable, schema with default, description, exposure when not plain]. */
export const SETTINGS = {
  kafkaBrokers: ['KAFKA_BROKERS', brokerList.optional(), 'Kafka bootstrap servers. Unset: the project starts its own local broker.'],
  kafkaClientId: ['KAFKA_CLIENT_ID', z.string().min(1).default('cx-pipeline'), 'Client id sent to Kafka.'],
  localKafkaPort: ['CX_KAFKA_PORT', port.default(9092), 'Port of the local broker (PLAINTEXT listener on 127.0.0.1).'],
  localKafkaControllerPort: ['CX_KAFKA_CONTROLLER_PORT', port.default(9093), 'Port of the local broker\'s KRaft controller listener.'],
  localKafkaDir: ['CX_KAFKA_DIR', z.string().default('data/kafka'), 'Where the local broker keeps its log, pid and KRaft storage.'],
  cacheDir: ['CX_CACHE_DIR', z.string().default('.cache'), 'Downloads (the Kafka jars from Maven Central) are cached here.'],
  partitions: ['CX_TOPIC_PARTITIONS', positiveInt.default(6), 'Partitions for topics the project creates (the alerts topic always gets one).'],
  touchpointsTopic: ['CX_TOPIC_TOUCHPOINTS', topicName.default('cx.touchpoints.v1'), 'Topic of TouchpointEvent messages (key: customer_id).'],
  outcomesTopic: ['CX_TOPIC_OUTCOMES', topicName.default('cx.outcomes.v1'), 'Topic of OutcomeEvent messages (key: customer_id).'],
  deadLetterTopic: ['CX_TOPIC_DEADLETTER', topicName.default('cx.deadletter.v1'), 'Topic where undecodable or invalid messages go, with their reason.'],
  alertsTopic: ['CX_TOPIC_ALERTS', topicName.default('cx.alerts.v1'), 'Topic of alert lifecycle events.'],
  consumerGroup: ['CX_CONSUMER_GROUP', z.string().min(1).default('cx-processors'), 'Consumer group of the processors; workers in one group share partitions.'],
  sessionTimeoutMs: ['CX_CONSUMER_SESSION_TIMEOUT_MS', wholeNumber(6000).default(6_000), 'How long a silent worker (killed, hung, cut off) keeps its partitions before the group hands them to others: what a restart after a crash waits for. Workers heartbeat while a chunk is in hand, so only a stalled process or a lost connection counts as silent.'],
  clickhouseUrl: ['CLICKHOUSE_URL', z.url({ protocol: /^https?$/, error: 'expected an http(s) URL, e.g. http://127.0.0.1:8123' }).optional(), 'ClickHouse server over HTTP, e.g. http://127.0.0.1:8123. Unset: the embedded engine (chdb).', URL_WITH_CREDENTIALS],
  clickhouseUser: ['CLICKHOUSE_USER', z.string().default('default'), 'ClickHouse user (server only).'],
  clickhousePassword: ['CLICKHOUSE_PASSWORD', z.string().default(''), 'ClickHouse password (server only).', SECRET],
  clickhouseDatabase: ['CLICKHOUSE_DATABASE', z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a database name: letters, digits and "_", not starting with a digit').default('cx'), 'Database holding every table.'],
  clickhousePath: ['CX_CLICKHOUSE_PATH', z.string().default('data/clickhouse'), 'Data directory of the embedded engine. One process at a time can open it.'],
  sqlPort: ['CX_SQL_PORT', wholeNumber(0, 65535).default(8124), 'Port on 127.0.0.1 where `npm start` serves its live data over ClickHouse\'s HTTP interface (read-only unless `--sql-writable`), for `npx cx sql` and ClickHouse tools; `--sql-port` overrides it, 0 picks a free port, and a port in use is replaced by a free one (printed at start).'],
  sqlHistoryFile: ['CX_SQL_HISTORY', z.string().min(1).default('~/.cx_sql_history'), 'History file of the interactive `npx cx sql` prompt (its last 1000 entries).'],
  sqlPassword: ['CX_SQL_PASSWORD', z.string().min(1).optional(), 'Password the SQL endpoint (`npm start`\'s live SQL, `cx store serve`) requires on every request but /ping, as a ClickHouse server takes it: HTTP basic auth (any user), X-ClickHouse-User/X-ClickHouse-Key, or user=/password= URL parameters; `npx cx sql` and `npx cx report` send it. Unset: no authentication (then it should listen on 127.0.0.1 only, the default; another address is served with a warning).', SECRET],
  sqlMaxExecutionSeconds: ['CX_SQL_MAX_EXECUTION_SECONDS', positiveNumber('seconds').default(60), 'A query on the read-only SQL endpoint running longer than this is stopped with an error (TIMEOUT_EXCEEDED); a client may ask for less, not more. The request itself is answered within this plus 5 s, waiting for a slot included.'],
  sqlMaxResultBytes: ['CX_SQL_MAX_RESULT_BYTES', positiveInt.default(268_435_456), 'Largest result the read-only SQL endpoint returns (bytes, default 256 MiB); a larger one is an error (TOO_MANY_ROWS_OR_BYTES), never a truncated answer. A client may ask for less, not more.'],
  sqlMaxConcurrent: ['CX_SQL_MAX_CONCURRENT', wholeNumber(1, 64).default(4), 'Queries the SQL endpoint runs at once; more wait their turn (within the time limit). Each holds a thread of Node\'s pool until the engine is done, and 2 threads stay free for the pipeline, so with Node\'s default pool (UV_THREADPOOL_SIZE unset: 4) it runs 2; `npm start` sets UV_THREADPOOL_SIZE=6, for 4.'],
  stageThreads: ['CX_STAGE_THREADS', wholeNumber(0, 1).default(1), '1: `npm start` and `cx process` run the metric folds, the live stool and the alerts in a worker thread of their own, beside raw ingestion, so one worker uses two cores; 0: every stage in the main thread.'],
  batchMaxMessages: ['CX_BATCH_MAX_MESSAGES', positiveInt.default(5000), 'Most messages of one partition in a round: a round takes a chunk of every partition fetched together and writes one insert per table.'],
  emitRate: ['CX_EMIT_RATE', z.coerce.number({ error: 'expected a number of events per second' }).nonnegative().default(200), 'Events per second the built-in emitter sends in `npm start`.'],
  collectorHost: ['CX_COLLECTOR_HOST', z.string().min(1).default('127.0.0.1'), 'Address the HTTP collector listens on (0.0.0.0 to accept other hosts).'],
  collectorPort: ['CX_COLLECTOR_PORT', port.default(8080), 'Port of the HTTP collector.'],
  collectorToken: ['CX_COLLECTOR_TOKEN', z.string().min(16, 'expected at least 16 characters').optional(), 'Bearer token the collector requires on /v1/*. Unset: no authentication (set but empty is an error, so a blank value cannot switch authentication off).', SECRET],
  collectorMaxBodyBytes: ['CX_COLLECTOR_MAX_BODY_BYTES', positiveInt.default(1_048_576), 'Largest request body the collector takes (larger: 413).'],
  collectorMaxBatch: ['CX_COLLECTOR_MAX_BATCH', positiveInt.default(1000), 'Most events in one collector request (more: 413).'],
  collectorRequestTimeoutMs: ['CX_COLLECTOR_REQUEST_TIMEOUT_MS', wholeNumber(1000).default(30_000), 'From a request\'s headers to its answer, at most this long: a body still arriving then gets 408 and the connection is closed; events Kafka has not acknowledged by then are answered 503 (withdrawn, not on the topic) or 504 (sent, not yet acknowledged), by id.'],
  collectorHeadersTimeoutMs: ['CX_COLLECTOR_HEADERS_TIMEOUT_MS', wholeNumber(500).default(10_000), 'A client must send a request\'s headers complete within this long: slower ones get 408 and are disconnected (at most the request timeout).'],
  collectorIdleTimeoutMs: ['CX_COLLECTOR_IDLE_TIMEOUT_MS', wholeNumber(100).default(5_000), 'A kept-alive collector connection with no request for this long is closed.'],
  collectorShutdownMs: ['CX_COLLECTOR_SHUTDOWN_MS', wholeNumber(0).default(10_000), 'On SIGTERM/SIGINT the collector stops accepting, lets requests in hand finish for up to this long, then withdraws what they still have queued (answered 503/504) and closes every connection, slow clients included, and exits.'],
  producerBufferBytes: ['CX_PRODUCER_BUFFER_BYTES', positiveInt.default(67_108_864), 'Bytes of encoded events the producer SDK holds, queued or in flight, while Kafka is slow or away (64 MiB); a send that finds it full waits for room, in order.'],
  producerMaxBlockMs: ['CX_PRODUCER_MAX_BLOCK_MS', wholeNumber(0).default(60_000), 'How long a send waits for room in a full producer buffer before it fails with BufferFullError (the event is not queued; nothing is dropped silently).'],
  // Metric parameters (docs/metrics.md, "Settings").
  horizonDays: ['CX_HORIZON_DAYS', positiveNumber('days').default(7), 'H: consecutive experiences this close form a transition (drops); this much silence ends a death spiral and a journey.'],
  memoryHalfLifeDays: ['CX_MEMORY_HALF_LIFE_DAYS', positiveNumber('days').default(30), 'h: half-life of a non-bad experience in customer memory.'],
  badMemoryFactor: ['CX_BAD_MEMORY_FACTOR', positiveNumber('a factor').default(7), 'r: a bad experience\'s half-life is r*h (bad is remembered r times longer).'],
  momentOfTruthWeight: ['CX_MOMENT_OF_TRUTH_WEIGHT', positiveNumber('a weight').default(2), 'm: weight of an experience at a moment of truth in memory (others weigh 1).'],
  stoolThreshold: ['CX_STOOL_THRESHOLD', share.default(0.6), 'E: the stool stands when every leg score is at least this.'],
  atRiskMemory: ['CX_AT_RISK_MEMORY', share.default(0.5), 'A customer whose memory is below this, with a bad experience not yet followed by a good one, is at risk.'],
  dedupWindowHours: ['CX_DEDUP_WINDOW_HOURS', positiveNumber('hours').optional(), 'Dedup window: a touchpoint event whose event_id its customer already had is a duplicate and changes no result; an id is kept while its event time is at most this many hours behind the partition\'s watermark (forgotten at the daily sweep). Unset: H (CX_HORIZON_DAYS).'],
  dedupMaxIds: ['CX_DEDUP_MAX_IDS', positiveInt.default(512), 'Most event ids one customer\'s dedup window keeps (its memory bound, about 21 bytes each in the checkpoint); past it the oldest are forgotten first.'],
  minCellExperiences: ['CX_CELL_MIN_EXPERIENCES', positiveInt.default(5), 'n_min: experiences a (channel, touchpoint) needs in a window to count as a cell in leg consistency.'],
  consistencyWindowMinutes: ['CX_CONSISTENCY_WINDOW_MINUTES', wholeNumber(1, 1440).default(15), 'Length of the live sliding window of leg consistency, emitted each minute of event time.'],
  allowedLatenessMs: ['CX_ALLOWED_LATENESS_MS', wholeNumber(0).default(30_000), 'Events up to this far behind the newest event time of their partition are still processed in order; later ones are stored raw and flagged late.'],
  idleFlushMs: ['CX_IDLE_FLUSH_MS', wholeNumber(100).default(5_000), 'A partition with no new events for this long (wall clock) has its watermark moved up to its newest event, so the last events are not held back.'],
  // Touchpoint degradation alerts (docs/alerts.md).
  alertCusumThreshold: ['CX_ALERT_CUSUM_THRESHOLD', positiveNumber('a log-likelihood ratio').default(10), 'h: a touchpoint alert opens when its Bernoulli CUSUM (bad visits, p0 against p1 = max(2*p0, p0 + 0.1)) reaches this. Higher: fewer false alarms, slower detection.'],
  alertBaselineHalfLifeHours: ['CX_ALERT_BASELINE_HALF_LIFE_HOURS', positiveNumber('hours').default(24), 'Half-life (event time) of the history a touchpoint\'s baseline bad rate is learned from.'],
  alertLegThreshold: ['CX_ALERT_LEG_THRESHOLD', positiveNumber('a log-likelihood ratio').default(10), 'h for legs: a leg alert opens when the CUSUM of its experiences (mean E - 0.1 against E) reaches this, with at least 30 experiences of evidence.'],
  alertTrafficThreshold: ['CX_ALERT_TRAFFIC_THRESHOLD', positiveNumber('a log-likelihood ratio').default(14), 'h for traffic: a silence or traffic-drop alert opens when the Poisson CUSUM (a quarter of the expected visits against all of them) reaches this.'],
  alertMinHistory: ['CX_ALERT_MIN_HISTORY', positiveInt.default(100), 'Visits a touchpoint needs before its baseline is trusted; until then it is learning and never alerts.'],
  alertResolveMinutes: ['CX_ALERT_RESOLVE_MINUTES', positiveInt.default(10), 'An alert resolves when the bad rate has been back near baseline for this many minutes of event time (and at least 20 visits).'],
  alertUpdateMinutes: ['CX_ALERT_UPDATE_MINUTES', positiveInt.default(15), 'An open alert is re-published with fresh figures this often (event-time minutes), and whenever its severity changes.'],
  alertWebhookUrl: ['CX_ALERT_WEBHOOK_URL', z.url({ protocol: /^https?$/, error: 'expected an http(s) URL, e.g. https://hooks.example.com/cx' }).optional(), 'Alert changes are POSTed here as JSON. Unset: no webhook.', URL_WITH_CREDENTIALS],
  alertWebhookSecret: ['CX_ALERT_WEBHOOK_SECRET', z.string().min(16, 'expected at least 16 characters').optional(), 'Secret for the webhook\'s HMAC-SHA256 signature header (X-CX-Signature). Unset: requests are not signed.', SECRET],
  alertWebhookTimeoutMs: ['CX_ALERT_WEBHOOK_TIMEOUT_MS', wholeNumber(100).default(5_000), 'A webhook request taking longer than this is abandoned and retried.'],
  alertWebhookMaxAttempts: ['CX_ALERT_WEBHOOK_MAX_ATTEMPTS', wholeNumber(1, 100).default(6), 'Attempts per alert change (with exponential backoff) before the webhook gives up on it.'],
  alertWebhookFormat: ['CX_ALERT_WEBHOOK_FORMAT', z.enum(['cx', 'slack'], { error: 'expected cx (the alert as JSON) or slack (a Slack incoming-webhook message)' }).default('cx'), 'Body of the webhook\'s requests: `cx`, the alert change as JSON (`"type": "cx.alert.v1"`); `slack`, a Slack incoming-webhook message (`text` and Block Kit `blocks`), so CX_ALERT_WEBHOOK_URL can be a Slack webhook URL. Headers and signature are the same for both.'],
  logLevel: ['LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), 'Log level (logs are JSON lines on stderr).'],
} as const;

type Settings = typeof SETTINGS;
export type SettingKey = keyof Settings;

export function exposureOf(key: string): Exposure | undefined {
  return ((SETTINGS as Record<string, readonly unknown[]>)[key]?.[3] as { exposure?: Exposure } | undefined)?.exposure;
}

/** A URL with its password replaced by *** (the user name stays: it says who, not how). */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
  } catch {
    // Not a URL we can parse: hide anything that looks like user:password@.
    return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
  }
}

/** What a setting's value may look like in output: secrets as `*** (set)`, URLs without their password. */
export function shownValue(key: string, value: unknown): string {
  if (value === undefined || value === '') return '(unset)';
  const exposure = exposureOf(key);
  if (exposure === 'secret') return '*** (set)';
  if (Array.isArray(value)) return value.join(',');
  if (exposure === 'url') return maskUrl(String(value));
  return String(value);
}

/** The secret strings in a configuration (values of secret settings, passwords inside URLs), longest first. */
export function secretValues(config: Partial<Config>): string[] {
  const out = new Set<string>();
  for (const key of Object.keys(SETTINGS)) {
    const value = (config as Record<string, unknown>)[key];
    if (typeof value !== 'string' || !value) continue;
    const exposure = exposureOf(key);
    if (exposure === 'secret') out.add(value);
    else if (exposure === 'url') {
      try {
        const password = new URL(value).password;
        if (password) {
          out.add(password);
          out.add(decodeURIComponent(password));
        }
      } catch {
        // unparsable: nothing to extract
      }
    }
  }
  // Log lines are JSON: a secret with a quote or a backslash appears there escaped.
  for (const s of [...out]) out.add(JSON.stringify(s).slice(1, -1));
  // Very short values would blank out ordinary text; the schema asks for 16+ characters where it can.
  return [...out].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
}

/** Replaces every secret of `config` in a text with ***: for log lines and error messages that may quote them. */
export function redactor(config: Partial<Config>): (text: string) => string {
  const secrets = secretValues(config);
  if (!secrets.length) return (text) => text;
  return (text) => {
    let out = text;
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join('***');
    return out;
  };
}
export type Config = { [K in keyof Settings]: z.output<Settings[K][1]> };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads settings from `env`; paths are made absolute against `cwd`. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, [variable, schema]] of Object.entries(SETTINGS)) {
    const raw = env[variable];
    const exposure = exposureOf(key);
    // A secret whose absence switches something off (CX_COLLECTOR_TOKEN: authentication)
    // must not be switched off by a blank value, e.g. an unfilled template variable.
    if (raw === '' && exposure === 'secret' && (schema as z.ZodType).safeParse(undefined).data === undefined) {
      problems.push(`  ${variable} is set but empty: unset it to go without, or give it a value`);
      continue;
    }
    const parsed = (schema as z.ZodType).safeParse(raw === '' ? undefined : raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`  ${variable}=${exposure === 'secret' ? `(${raw?.length ?? 0} characters, hidden)` : JSON.stringify(exposure === 'url' && raw ? maskUrl(raw) : raw)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length) {
    throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}\nFix the variable(s) above or unset them to use the defaults (see README, "Configuration").`);
  }
  const config = out as Config;
  return {
    ...config,
    localKafkaDir: resolve(cwd, config.localKafkaDir),
    cacheDir: resolve(cwd, config.cacheDir),
    clickhousePath: resolve(cwd, config.clickhousePath),
    sqlHistoryFile: resolve(cwd, config.sqlHistoryFile.replace(/^~(?=$|\/)/, homedir())),
  };
}
