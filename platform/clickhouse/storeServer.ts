/**
 * The embedded engine (chdb) lets one process open a data directory. This server is
 * that process: it owns the directory and speaks enough of ClickHouse's HTTP interface
 * for @clickhouse/client (queries, inserts, commands, query parameters, settings,
 * /ping, errors in ClickHouse's own text), so any number of processes share the data
 * through CLICKHOUSE_URL with `openStore` unchanged.
 *
 * The process that already holds the directory can serve it too (`npm start` does, for
 * live SQL): chdb lets connections to one directory coexist in a process and runs
 * statements on different connections in parallel, so the server's connections read
 * what the pipeline's connection inserts without waiting for it, or it for them
 * (tests/integration/liveSql.test.ts).
 *
 * Mapping: the SQL is the `query` URL parameter, then a newline, then the body (the
 * client sends inserts as `query=INSERT ... FORMAT X` plus the rows as the body, and
 * everything else as a body); `param_<name>` become query parameters; `database`,
 * `default_format` and the other URL parameters become the session state and settings
 * a ClickHouse server would give that one request.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { ChdbResult, Session } from 'chdb';
import type { Logger } from '../log.ts';
import { READS } from './statements.ts';
import { liveEndpoint } from './endpoint.ts';
import { passwordCheck } from './httpAuth.ts';
import { ClickHouseHttpError, literal } from './httpError.ts';
import { PIPELINE_THREADS, QuerySlots, threadPoolSize } from './querySlots.ts';
import { openReadOnlyGuard, type ReadOnlyGuard } from './readOnlyGuard.ts';
import { lockHolder, StoreLockedError } from './store.ts';

export interface StoreServerOptions {
  /** The chdb data directory (created when missing). */
  path: string;
  /** Default 127.0.0.1. Without `password`, anyone who reaches the port can use it. */
  host?: string;
  /** Default 8123; 0 picks a free port (see `url`). */
  port?: number;
  /**
   * Serve reads of `database` only (see readOnlyGuard.ts): no writes, and nothing that
   * reads files, URLs, other servers or the process; each query within `limits`.
   */
  readOnly?: boolean;
  /** The project's database, the one a read-only endpoint serves. Default `cx`. */
  database?: string;
  /** Read-only endpoint: per-query limits. Default 60 s and 256 MiB (config sqlMaxExecutionSeconds, sqlMaxResultBytes). */
  limits?: Partial<QueryLimits>;
  /** Statements in the engine at once (config sqlMaxConcurrent, default 4), at most the thread pool less PIPELINE_THREADS. */
  maxConcurrent?: number;
  /** Required on every request but /ping when set (CX_SQL_PASSWORD); see httpAuth.ts. */
  password?: string;
  /** How long close() lets requests in hand finish before it cuts their connections. Default 5 s. */
  closeGraceMs?: number;
  /**
   * What a refused write is told: who serves read-only, and how to get write access.
   * Default: `cx store serve --read-only`, and to use a read-write `cx store serve`.
   */
  readOnlyRefusal?: { servedBy: string; writeAdvice: string };
  log?: Logger;
}

export interface StoreServer {
  /** What processes put in CLICKHOUSE_URL. */
  readonly url: string;
  /** Statements this server runs in the engine at once. */
  readonly maxConcurrent: number;
  /**
   * Stops accepting requests, lets the ones in hand finish for closeGraceMs, then cuts
   * every connection left (idle keep-alive, slow or waiting clients), cancels this
   * server's statements still in the engine and closes the data directory. Bounded
   * whatever clients do: about 2 x closeGraceMs + 1 s at most.
   */
  close(): Promise<void>;
}

/** The port is taken: the caller may pick another (port 0 takes any free one). */
export class PortInUseError extends Error {
  override name = 'PortInUseError';
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    super(`port ${port} on ${host} is already in use (another \`cx store serve\`, \`npm start\` or a ClickHouse server?): stop it, or pick another port with --port`);
  }
}

/** URL parameters of the HTTP layer itself, not engine settings. */
const NOT_SETTINGS = new Set([
  'query', 'query_id', 'database', 'default_format', 'user', 'password', 'quota_key', 'role', 'stacktrace',
  'buffer_size', 'session_timeout', 'session_check', 'close_session', 'client_protocol_version', 'compress', 'decompress',
]);

/**
 * Settings only ClickHouse's HTTP server understands (the client sends some of them by
 * default, e.g. enable_http_compression); chdb rejects them as unknown. This server
 * always buffers the whole result, which is what wait_end_of_query asks for.
 */
const HTTP_SETTINGS = new Set([
  'wait_end_of_query', 'http_wait_end_of_query', 'send_progress_in_http_headers', 'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms', 'http_response_buffer_size', 'enable_http_compression', 'http_zlib_compression_level',
  'http_response_compression_method', 'http_native_compression_disable_checksumming_on_decompress', 'add_http_cors_header',
  'cancel_http_readonly_queries_on_client_close',
]);

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface Prepared {
  /** Statements that give a fresh connection this request's state: database, settings, parameters. */
  setup: string[];
  /** The `SET param_x = ...` statements among them, which the read-only guard needs too. */
  params: string[];
  /** Read-only endpoint: the limits and readonly = 1, stated last, after the query's own SETTINGS. */
  enforced: string[];
  /** Output format when the SQL has no FORMAT clause, as a ClickHouse server's default_format. */
  format: string;
}

/** What the read-only endpoint imposes on every query, stated after (so over) the client's settings. */
export interface QueryLimits {
  /** The engine stops a query running longer (TIMEOUT_EXCEEDED). */
  maxExecutionSeconds: number;
  /** A larger result is an error (TOO_MANY_ROWS_OR_BYTES), never a truncated answer. */
  maxResultBytes: number;
}

/** A limit the client may lower but not raise (0 means "none" to ClickHouse, so it is ours). */
function atMost(client: string | undefined, ours: number): number {
  const n = Number(client);
  return Number.isFinite(n) && n > 0 ? Math.min(n, ours) : ours;
}

interface ReadOnlyPolicy {
  database: string;
  limits: QueryLimits;
}

function prepare(params: URLSearchParams, readsOnly: boolean, policy?: ReadOnlyPolicy): Prepared {
  // Stated on every request, empty when it has none: a token that outlived its insert
  // would make the next insert with the same rows vanish as a "duplicate".
  const settings = new Map<string, string>([['insert_deduplication_token', '']]);
  const queryParams: string[] = [];
  let format = 'TabSeparated';
  let database: string | undefined;
  for (const [key, value] of params) {
    if (key.startsWith('param_')) {
      if (!NAME.test(key.slice(6))) throw new ClickHouseHttpError(36, 'BAD_ARGUMENTS', `query parameter name ${JSON.stringify(key.slice(6))} is not an identifier`);
      queryParams.push(`SET ${key} = ${literal(value)}`);
    } else if (key === 'default_format') {
      if (!NAME.test(value)) throw new ClickHouseHttpError(73, 'UNKNOWN_FORMAT', `default_format ${JSON.stringify(value)} is not a format name`);
      format = value;
    } else if (key === 'database') {
      database = value;
    } else if (key === 'session_id' && value) {
      throw new ClickHouseHttpError(48, 'NOT_IMPLEMENTED', 'this server (cx store serve) has no HTTP sessions: every request stands alone. Create the client without session_id');
    } else if ((key === 'compress' || key === 'decompress') && value === '1') {
      throw new ClickHouseHttpError(48, 'NOT_IMPLEMENTED', `${key}=1 (ClickHouse's native block compression) is not supported by this server (cx store serve): use HTTP compression (Content-Encoding / Accept-Encoding gzip) instead`);
    } else if (policy && key === 'readonly') {
      if (!['1', '2'].includes(value)) throw new ClickHouseHttpError(164, 'READONLY', `readonly=${value}: this endpoint is read-only and its readonly setting cannot be changed`, 403);
    } else if (NOT_SETTINGS.has(key) || HTTP_SETTINGS.has(key) || key === 'session_id' || (readsOnly && key === 'readonly')) {
      continue;
    } else if (!NAME.test(key)) {
      throw new ClickHouseHttpError(115, 'UNKNOWN_SETTING', `URL parameter ${JSON.stringify(key)} is not a setting name`);
    } else {
      settings.set(key, value);
    }
  }
  if (policy) {
    // One database: unqualified names resolve in it, which the guard relies on.
    if (database && database !== 'default' && database !== policy.database) {
      throw new ClickHouseHttpError(497, 'ACCESS_DENIED', `this read-only endpoint serves the database ${policy.database} only, not ${JSON.stringify(database)}: leave database unset or set it to ${policy.database}`, 403);
    }
    database = policy.database;
    const { maxExecutionSeconds, maxResultBytes } = policy.limits;
    // After the client's own, so they win; a client may ask for less, never for more.
    settings.set('max_execution_time', String(atMost(settings.get('max_execution_time'), maxExecutionSeconds)));
    settings.set('timeout_overflow_mode', 'throw');
    settings.set('max_result_bytes', String(atMost(settings.get('max_result_bytes'), maxResultBytes)));
    settings.set('result_overflow_mode', 'throw');
    settings.set('allow_introspection_functions', '0');
    settings.set('allow_get_client_http_header', '0');
  }
  const enforced: string[] = [];
  for (const key of ['max_execution_time', 'timeout_overflow_mode', 'max_result_bytes', 'result_overflow_mode', 'allow_introspection_functions', 'allow_get_client_http_header']) {
    if (!policy) break;
    enforced.push(`SET ${key} = ${literal(settings.get(key) as string)}`);
    settings.delete(key);
  }
  const setup: string[] = [];
  if (database) setup.push(`USE \`${database.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``);
  for (const [key, value] of settings) setup.push(`SET ${key} = ${literal(value)}`);
  setup.push(...queryParams);
  // The engine enforces it too, so a second statement cannot write behind READS' back.
  // readonly = 1 on the read-only endpoint: it also refuses table functions that open a
  // source (file, url, s3, remote...) and settings changed inside the query.
  if (policy) enforced.push('SET readonly = 1');
  else if (readsOnly) setup.push('SET readonly = 2');
  return { setup, params: queryParams, enforced, format };
}

type Decoder = () => Transform;
const zstdDecompress = (zlib as unknown as { createZstdDecompress?: Decoder }).createZstdDecompress;
const DECODERS: Record<string, Decoder | undefined> = {
  gzip: zlib.createGunzip,
  'x-gzip': zlib.createGunzip,
  deflate: zlib.createInflate,
  br: zlib.createBrotliDecompress,
  zstd: zstdDecompress,
};

async function readBody(req: FastifyRequest): Promise<Buffer> {
  const raw = req.body as Readable | undefined;
  if (!raw) return Buffer.alloc(0);
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  if (encoding === 'identity') {
    await pipeline(raw, sink);
  } else {
    const decoder = DECODERS[encoding];
    if (!decoder) throw new ClickHouseHttpError(36, 'BAD_ARGUMENTS', `request Content-Encoding ${encoding} is not supported: send the body uncompressed or with gzip, deflate or br`);
    try {
      await pipeline(raw, decoder(), sink);
    } catch (err) {
      throw new ClickHouseHttpError(271, 'CANNOT_DECOMPRESS', `cannot decompress the ${encoding} request body: ${(err as Error).message}`);
    }
  }
  return Buffer.concat(chunks);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function text(body: Buffer): string {
  try {
    return utf8.decode(body);
  } catch {
    // chdb takes SQL (and inline insert data) as a string; bytes that are not UTF-8 would be mangled.
    throw new ClickHouseHttpError(36, 'BAD_ARGUMENTS', 'the request body is not UTF-8 text. This server (cx store serve) hands bodies to chdb as text, so binary input formats (RowBinary, Native, Parquet...) are not supported: insert in a text format such as JSONEachRow or JSONCompactEachRow');
  }
}

const ENCODERS: Record<string, (b: Buffer, level?: number) => Promise<Buffer>> = {
  gzip: (b, level) => promisify(zlib.gzip)(b, { level }),
  deflate: (b, level) => promisify(zlib.deflate)(b, { level }),
  br: (b) => promisify(zlib.brotliCompress)(b),
};

/** ClickHouse compresses a response only when asked twice: enable_http_compression=1 and an Accept-Encoding it knows. */
function responseEncoding(params: URLSearchParams, accept: string | undefined): string | undefined {
  if (!['1', 'true'].includes(params.get('enable_http_compression') ?? '') || !accept) return undefined;
  const offered = accept.split(',').map((e) => e.trim().split(';')[0]?.toLowerCase());
  return Object.keys(ENCODERS).find((e) => offered.includes(e));
}

function outputFormat(sql: string, fallback: string): string {
  return /\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$/i.exec(sql)?.[1] ?? fallback;
}

function contentType(format: string): string {
  if (/^(JSON|NDJSON)/i.test(format)) return 'application/json; charset=UTF-8';
  if (/^CSV/i.test(format)) return 'text/csv; charset=UTF-8';
  if (/^(TabSeparated|TSV)/i.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  return 'text/plain; charset=UTF-8';
}

export async function startStoreServer(options: StoreServerOptions): Promise<StoreServer> {
  const { path, host = '127.0.0.1', port = 8123, readOnly = false, log } = options;
  const refusal = options.readOnlyRefusal ?? { servedBy: 'cx store serve --read-only', writeAdvice: 'Send inserts and DDL to a read-write `cx store serve`' };
  mkdirSync(path, { recursive: true });
  // Loaded here, not at the top: the engine is a large native library that
  // commands which do not serve a store should not pay for.
  const { Session: SessionCtor } = await import('chdb');

  // Held for the server's lifetime: it binds the data directory to this process (and
  // takes its lock, or joins this process's hold on it), so the connections opened per
  // request attach to it.
  let owner: Session;
  try {
    owner = new SessionCtor(path);
  } catch (err) {
    const holder = lockHolder(path);
    if (holder !== undefined || /lock/i.test((err as Error).message ?? '')) {
      const served = liveEndpoint(path);
      throw new StoreLockedError(
        `the embedded ClickHouse data directory ${path} is open in another process (${holder ? `pid ${holder}, ` : ''}a running \`npm start\`, \`cx process\` or \`cx store serve\`?). ` +
          (served
            ? `That process serves it already: ${served.servedBy} at ${served.url} (${served.readOnly ? 'read-only' : 'read-write'}); use CLICKHOUSE_URL=${served.url} instead of starting another server.`
            : 'Only one process can open it: stop that process; or, if it is a `cx store serve`, use that server through CLICKHOUSE_URL instead of starting another.'),
      );
    }
    throw err;
  }

  const limits: QueryLimits = { maxExecutionSeconds: options.limits?.maxExecutionSeconds ?? 60, maxResultBytes: options.limits?.maxResultBytes ?? 268_435_456 };
  const policy: ReadOnlyPolicy | undefined = readOnly ? { database: options.database ?? 'cx', limits } : undefined;
  const closeGraceMs = options.closeGraceMs ?? 5000;
  // Each statement holds a libuv pool thread until the engine is done with it; the
  // pipeline's own inserts and Node's fs/zlib work need threads of the same pool.
  const pool = threadPoolSize();
  const wantedConcurrent = options.maxConcurrent ?? 4;
  const maxConcurrent = Math.max(1, Math.min(wantedConcurrent, pool - PIPELINE_THREADS));
  if (maxConcurrent < wantedConcurrent) {
    // Said, not warned: with Node's default pool this is the normal case (`npm start` prints it too).
    log?.info(
      { wanted: wantedConcurrent, running: maxConcurrent, UV_THREADPOOL_SIZE: pool },
      `SQL endpoint: ${maxConcurrent} queries at once, not ${wantedConcurrent} (CX_SQL_MAX_CONCURRENT): Node's thread pool has ${pool} threads and ${PIPELINE_THREADS} stay free for the pipeline. ` +
        `Start with UV_THREADPOOL_SIZE=${wantedConcurrent + PIPELINE_THREADS} for ${wantedConcurrent}`,
    );
  }
  const slots = new QuerySlots(maxConcurrent);
  const authenticate = options.password ? passwordCheck(options.password) : undefined;
  // A request that waits or runs past this gets its answer (TIMEOUT_EXCEEDED) even if the
  // engine has not stopped yet: the engine's own limit, a grace for it to notice, and
  // the time a request may wait for a slot.
  const wallClockMs = readOnly ? (limits.maxExecutionSeconds + 5) * 1000 : undefined;
  let guard: ReadOnlyGuard | undefined;
  if (policy) {
    try {
      guard = await openReadOnlyGuard(() => new SessionCtor(path), policy.database);
    } catch (err) {
      owner.close();
      throw err;
    }
  }

  // chdb keeps SET settings, query parameters and USE for the life of a connection,
  // while a ClickHouse server gives each HTTP request a clean slate. So each request
  // gets a connection of its own (about 0.3 ms) and states everything it needs on it;
  // up to maxConcurrent run side by side (chdb runs statements on different connections
  // in parallel), so a long read does not hold up the next one.
  //
  // Every statement carries a log_comment naming this server and its request, so the
  // server can cancel it in the engine (KILL QUERY): chdb cannot interrupt a statement
  // from outside, and a process does not exit while one runs.
  const serverTag = `cx-store-server:${randomUUID()}`;
  const kill = (where: string) =>
    owner.queryAsync(`KILL QUERY WHERE ${where} ASYNC`).then(
      () => undefined,
      (err: unknown) => log?.warn({ err: (err as Error).message }, 'store server: could not cancel a query in the engine'),
    );
  function run(prepared: Prepared, sql: string, queryId: string, deadline?: AbortSignal): Promise<ChdbResult> {
    const tag = `${serverTag}:${queryId}`;
    const job = async () => {
      const release = await slots.acquire(deadline);
      const session = new SessionCtor(path);
      const work = (async () => {
        const checked = guard ? await guard.check(sql, prepared.params) : {};
        const setup = [...prepared.setup, ...(checked.settings ? [`SET ${checked.settings}`] : []), `SET log_comment = ${literal(tag)}`, ...prepared.enforced];
        if (setup.length) await session.queryAsync(setup.join(';\n'));
        return await session.queryAsync(sql, { format: prepared.format });
      })();
      // The slot (its pool thread) is given back when the engine is done, whoever stopped waiting.
      void work.catch(() => undefined).finally(() => {
        session.close();
        release();
      });
      if (!deadline) return work;
      return await new Promise<ChdbResult>((resolve, reject) => {
        const onAbort = () => {
          // Past the wall clock: the engine missed its own limit, so the server stops the statement.
          void kill(`Settings['log_comment'] = ${literal(tag)}`);
          reject(deadline.reason);
        };
        if (deadline.aborted) onAbort();
        deadline.addEventListener('abort', onAbort, { once: true });
        work.then(resolve, reject).finally(() => deadline.removeEventListener('abort', onAbort));
      });
    };
    return job();
  }

  const app = Fastify({
    logger: false,
    // Idle keep-alive connections end on close(); the rest get closeGraceMs (below).
    forceCloseConnections: 'idle',
    keepAliveTimeout: 5000,
    // A socket with no traffic for this long is dropped: a slow or stuck client cannot
    // hold a connection for ever. Longer than any answer takes to start.
    connectionTimeout: (wallClockMs ?? 600_000) + 10_000,
    // The whole request (headers and body) must arrive within this; inserts may be large.
    requestTimeout: readOnly ? 30_000 : 300_000,
  });
  app.server.headersTimeout = 10_000;
  // Bodies are SQL or rows in any format, often without a Content-Type: take every
  // body as a stream (no size limit: inserts can be large) and read it in the handler.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  const sendError = (reply: FastifyReply, err: unknown) => {
    let e: ClickHouseHttpError;
    if (err instanceof ClickHouseHttpError) e = err;
    else {
      // chdb's messages are already ClickHouse's `Code: N. DB::Exception: ... (TYPE)`.
      const message = (err as Error).message ?? String(err);
      const code = /Code: (\d+)\./.exec(message)?.[1];
      if (code) {
        reply.code(500).header('X-ClickHouse-Exception-Code', code).type('text/plain; charset=UTF-8');
        return reply.send(`${message.trimEnd()}\n`);
      }
      e = new ClickHouseHttpError(1001, 'STD_EXCEPTION', message, 500);
    }
    return reply.code(e.status).header('X-ClickHouse-Exception-Code', String(e.code)).type('text/plain; charset=UTF-8').send(e.text);
  };

  const ping = async (_req: FastifyRequest, reply: FastifyReply) => reply.type('text/plain; charset=UTF-8').send('Ok.\n');
  app.get('/ping', ping);

  const handle = async (req: FastifyRequest, reply: FastifyReply) => {
    const started = performance.now();
    const params = new URL(req.url, 'http://localhost').searchParams;
    const queryId = params.get('query_id') || randomUUID();
    reply.header('X-ClickHouse-Query-Id', queryId);
    try {
      const queryParam = params.get('query') ?? '';
      // ClickHouse answers a bare GET / like /ping, without a password.
      if (req.method === 'GET' && !queryParam) return ping(req, reply);
      authenticate?.(req.headers, params);
      const body = await readBody(req);
      if (req.headers['content-type']?.startsWith('multipart/')) {
        throw new ClickHouseHttpError(48, 'NOT_IMPLEMENTED', 'multipart request bodies (use_multipart_params) are not supported by this server (cx store serve): send query parameters in the URL, the client default');
      }
      const sql = queryParam && body.length ? `${queryParam}\n${text(body)}` : queryParam || text(body);
      if (!sql.trim()) throw new ClickHouseHttpError(62, 'SYNTAX_ERROR', 'Empty query');
      // As on a ClickHouse server, GET only reads.
      const readsOnly = readOnly || req.method === 'GET';
      if (readsOnly && !READS.test(sql)) {
        throw new ClickHouseHttpError(
          164,
          'READONLY',
          readOnly
            ? `this endpoint is read-only (${refusal.servedBy}): it runs SELECT, WITH, SHOW, DESCRIBE, EXPLAIN and EXISTS only. ${refusal.writeAdvice}`
            : 'a GET request is read-only: send inserts and DDL with POST',
          403,
        );
      }
      const prepared = prepare(params, readsOnly, policy);
      const { format } = prepared;
      // A ClickHouse server takes an insert with no rows as done; chdb would say "No data to insert".
      if (body.length === 0 && /^\s*INSERT\b[\s\S]*\bFORMAT\s+\w+\s*$/i.test(queryParam)) return reply.send('');
      const deadline = wallClockMs === undefined ? undefined : AbortSignal.timeout(wallClockMs);
      const result = await run(prepared, sql, queryId, deadline).catch((err: unknown) => {
        if (deadline?.aborted && err === deadline.reason) {
          throw new ClickHouseHttpError(
            159,
            'TIMEOUT_EXCEEDED',
            `the query did not finish within ${wallClockMs! / 1000} s (CX_SQL_MAX_EXECUTION_SECONDS=${limits.maxExecutionSeconds}, plus waiting for one of ${maxConcurrent} query slots, ${slots.busy} busy): narrow it (a time range, LIMIT) or raise the limit`,
            500,
          );
        }
        throw err;
      });

      const raw = result.bytes();
      const out = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      // The engine counts its blocks; this is what would go on the wire. Too large is an error, never a cut.
      if (policy && out.length > limits.maxResultBytes) {
        throw new ClickHouseHttpError(
          396,
          'TOO_MANY_ROWS_OR_BYTES',
          `the result is ${out.length} bytes, more than this endpoint returns (CX_SQL_MAX_RESULT_BYTES=${limits.maxResultBytes}): aggregate, add a LIMIT, or raise the limit`,
          500,
        );
      }
      const isInsert = /^\s*INSERT\b/i.test(queryParam || sql);
      const rows = String(result.rowsRead ?? 0);
      const bytes = String(result.bytesRead ?? 0);
      reply.header(
        'X-ClickHouse-Summary',
        JSON.stringify({
          read_rows: rows,
          read_bytes: bytes,
          written_rows: isInsert ? rows : '0',
          written_bytes: isInsert ? bytes : '0',
          total_rows_to_read: '0',
          result_rows: isInsert ? '0' : rows,
          result_bytes: isInsert ? '0' : String(out.length),
          elapsed_ns: String(Math.round((result.elapsed ?? 0) * 1e9)),
        }),
      );
      const fmt = outputFormat(sql, format);
      reply.header('X-ClickHouse-Format', fmt).type(contentType(fmt));
      const encoding = responseEncoding(params, req.headers['accept-encoding']);
      log?.debug({ query_id: queryId, ms: Math.round(performance.now() - started), bytes: out.length }, 'store server: request done');
      if (!encoding || out.length === 0) return reply.send(out);
      const level = Number(params.get('http_zlib_compression_level')) || undefined;
      return reply.header('Content-Encoding', encoding).send(await (ENCODERS[encoding] as (b: Buffer, l?: number) => Promise<Buffer>)(out, level));
    } catch (err) {
      log?.debug({ query_id: queryId, err: (err as Error).message }, 'store server: request failed');
      return sendError(reply, err);
    }
  };
  app.route({ method: ['GET', 'POST'], url: '/', handler: handle });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new ClickHouseHttpError(0, 'UNKNOWN_HANDLER', `there is no handler for ${req.method} ${req.url.split('?')[0]}: use POST / for queries and GET /ping for health checks`, 404)),
  );

  let address: string;
  try {
    address = await app.listen({ host, port });
  } catch (err) {
    owner.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new PortInUseError(host, port);
    }
    throw err;
  }
  // A wildcard address is where the server listens, not where a process on this machine connects.
  const listening = new URL(address);
  if (['0.0.0.0', '[::]'].includes(listening.hostname)) listening.hostname = '127.0.0.1';
  const url = listening.origin;
  log?.debug({ url, path, readOnly }, 'store server: listening');

  let closing: Promise<void> | undefined;
  const within = (ms: number, p: Promise<unknown>) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      p.then(() => {
        clearTimeout(timer);
        resolve(true);
      }, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  return {
    url,
    maxConcurrent,
    close() {
      closing ??= (async () => {
        const closed = app.close();
        // Requests in hand get the grace; then every connection still open is cut, so a
        // slow client, a keep-alive one or a hung query cannot hold the stop.
        if (!(await within(closeGraceMs, closed))) {
          app.server.closeAllConnections();
          await within(1000, closed);
        }
        // Statements still in the engine after the grace are cancelled there: nobody is
        // waiting for them any more, and the process could not exit while they run.
        if (slots.busy > 0) await kill(`startsWith(Settings['log_comment'], ${literal(`${serverTag}:`)})`);
        await within(closeGraceMs, slots.drained());
        owner.close();
      })();
      return closing;
    },
  };
}
