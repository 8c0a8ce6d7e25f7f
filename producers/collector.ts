/**
 * The HTTP collector: touchpoint systems POST JSON events, one or a batch. A batch
 * is all or nothing when it is refused for its content (an invalid event, one too
 * large for its topic): nothing is sent. Otherwise the answer says, per event, what
 * Kafka holds: 200 only once every event is on the topic; 503 lists the events that
 * are certainly not (resend them); 504 lists those whose fate Kafka had not told by the
 * request's deadline. Slow clients are cut off by the header, request and idle timeouts.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { outcomeEventSchema, touchpointEventSchema, type OutcomeEvent, type TouchpointEvent } from '../schemas/contracts.ts';
import type { Prepared, PreparedEvent, SendOptions } from './touchpointProducer.ts';

/** What the collector needs of the producer SDK: check and size an event, then send it. */
export interface CollectorSink {
  prepare(e: TouchpointEvent): Prepared;
  prepareOutcome(e: OutcomeEvent): Prepared;
  sendPrepared(e: PreparedEvent, opts?: SendOptions): Promise<void>;
}

export interface CollectorOptions {
  producer: CollectorSink;
  /** Required bearer token; undefined: no authentication. */
  token?: string;
  maxBodyBytes: number;
  maxBatch: number;
  /** From the first byte of a request to its answer (the body and Kafka's acknowledgements included). */
  requestTimeoutMs?: number;
  /** A request's headers must be in within this long. */
  headersTimeoutMs?: number;
  /** A kept-alive connection with no request for this long is closed. */
  idleTimeoutMs?: number;
  clock?: () => number;
  newId?: () => string;
}

/** Event time as ms since the epoch or an ISO 8601 string; the server's clock when omitted. */
const eventTime = z.union([z.number(), z.iso.datetime({ offset: true, error: 'expected ms since the epoch or an ISO 8601 time' })]).optional();

// What callers may send: the contract, with server-side defaults for the optional parts.
const incomingTouchpoint = touchpointEventSchema
  .extend({
    event_id: touchpointEventSchema.shape.event_id.optional(),
    occurred_at: eventTime,
    moment_of_truth: z.boolean().default(false),
    rating: touchpointEventSchema.shape.rating.default(null),
    outcome: touchpointEventSchema.shape.outcome.default('OK'),
    attributes: touchpointEventSchema.shape.attributes.default({}),
  })
  .strict();

const incomingOutcome = outcomeEventSchema
  .extend({
    event_id: outcomeEventSchema.shape.event_id.optional(),
    occurred_at: eventTime,
    journey_id: outcomeEventSchema.shape.journey_id.default(null),
    rating: outcomeEventSchema.shape.rating.default(null),
    attributes: outcomeEventSchema.shape.attributes.default({}),
  })
  .strict();

interface ItemProblem {
  index: number;
  issues: { path: string; message: string }[];
}

function problem(reply: FastifyReply, status: number, error: string, message: string, extra: object = {}) {
  return reply.code(status).send({ error, message, accepted: 0, ...extra });
}

/** `Authorization: Bearer <token>`, the scheme in any case (RFC 9110 §11.1), the token compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^([A-Za-z]+) +(\S+) *$/.exec(header ?? '');
  if (!m || (m[1] as string).toLowerCase() !== 'bearer') return false;
  // Digests have one length whatever was sent, so the comparison's time says nothing about the token.
  const digest = (t: string) => createHash('sha256').update(t).digest();
  return timingSafeEqual(digest(m[2] as string), digest(token));
}

/** Requests in hand per collector, so a stop can withdraw what they still have queued. */
const inHand = new WeakMap<FastifyInstance, Set<AbortController>>();

/** How each event of a request ended: on the topic, certainly not on it, or not known by the deadline. */
type Fate = { state: 'accepted' } | { state: 'failed'; reason: string } | { state: 'unknown' };

export function buildCollector(o: CollectorOptions): FastifyInstance {
  const clock = o.clock ?? Date.now;
  const newId = o.newId ?? randomUUID;
  const requestTimeoutMs = o.requestTimeoutMs ?? 30_000;
  const headersTimeoutMs = Math.min(o.headersTimeoutMs ?? 10_000, requestTimeoutMs);
  const idleTimeoutMs = o.idleTimeoutMs ?? 5_000;
  const app = Fastify({
    bodyLimit: o.maxBodyBytes,
    logger: false,
    // Node enforces the header and request timeouts on this interval (default 30 s, far too coarse).
    http: { headersTimeout: headersTimeoutMs, connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeoutMs / 4))) },
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: idleTimeoutMs,
    forceCloseConnections: 'idle',
  });
  const requests = new Set<AbortController>();
  inHand.set(app, requests);
  // The time each request's headers arrived: its deadline counts from there.
  const receivedAt = new WeakMap<object, number>();

  // Only JSON: without this, fastify would parse text/plain as a string and answer 400 instead of 415.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return problem(reply, 413, 'too_large', `the body is larger than ${o.maxBodyBytes} bytes; send smaller batches`);
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return problem(reply, 415, 'unsupported_media_type', `the body must be JSON: send Content-Type: application/json (this request said ${req.headers['content-type'] ? `"${req.headers['content-type']}"` : 'none'})`);
    }
    if (err.statusCode && err.statusCode < 500) return problem(reply, err.statusCode, 'bad_request', err.message);
    return problem(reply, 500, 'internal', 'the collector failed; nothing was accepted');
  });

  app.addHook('onRequest', async (req, reply) => {
    receivedAt.set(req.raw, Date.now());
    if (!o.token || req.url.split('?')[0] === '/healthz') return;
    if (!bearerMatches(req.headers.authorization, o.token)) {
      reply.header('www-authenticate', 'Bearer');
      return problem(reply, 401, 'unauthorized', 'send Authorization: Bearer <token>');
    }
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  function route<Ev extends TouchpointEvent | OutcomeEvent>(path: string, schema: z.ZodType, contract: z.ZodType, prepare: (e: Ev) => Prepared) {
    app.post(path, async (req: FastifyRequest, reply: FastifyReply) => {
      // The deadline counts from the headers' arrival, leaving a little time to answer.
      const deadline = (receivedAt.get(req.raw) ?? Date.now()) + requestTimeoutMs - Math.min(requestTimeoutMs / 10, 1000);
      const body = req.body as unknown;
      const items = Array.isArray(body) ? body : [body];
      if (items.length === 0) return problem(reply, 400, 'empty', 'the batch is empty');
      if (items.length > o.maxBatch) return problem(reply, 413, 'too_many', `a batch holds at most ${o.maxBatch} events; this one has ${items.length}`);

      const now = clock();
      const events: Ev[] = [];
      const problems: ItemProblem[] = [];
      const issuesOf = (e: z.ZodError) => e.issues.map((i) => ({ path: i.path.join('.') || '(event)', message: i.message }));
      items.forEach((item, index) => {
        const r = schema.safeParse(item);
        if (!r.success) return void problems.push({ index, issues: issuesOf(r.error) });
        const e = r.data as Ev & { occurred_at?: number | string; event_id?: string };
        const event = { ...e, event_id: e.event_id ?? newId(), occurred_at: e.occurred_at === undefined ? now : typeof e.occurred_at === 'string' ? Date.parse(e.occurred_at) : e.occurred_at } as Ev;
        // The contract's rules on the completed event (e.g. occurred_at in ms, 2000..2100).
        const checked = contract.safeParse(event);
        if (!checked.success) return void problems.push({ index, issues: issuesOf(checked.error) });
        events.push(event);
      });
      if (problems.length) {
        return problem(reply, 400, 'invalid_events', `${problems.length} of ${items.length} events are invalid; none were accepted`, { errors: problems });
      }

      // Sized before anything is sent: an event its topic cannot take is refused with the whole batch.
      const prepared: PreparedEvent[] = [];
      const tooLarge: { index: number; event_id: string; message: string }[] = [];
      events.forEach((e, index) => {
        const p = prepare(e);
        if (p.ok) prepared.push(p.event);
        else tooLarge.push({ index, event_id: e.event_id, message: p.error.message });
      });
      if (tooLarge.length) {
        return problem(reply, 413, 'event_too_large', `${tooLarge.length} of ${events.length} events are too large for Kafka; none were accepted`, { errors: tooLarge });
      }

      const fates = await deliver(prepared, deadline);
      const ids = events.map((e) => e.event_id);
      const idsIn = (state: Fate['state']) => ids.filter((_, i) => fates[i]?.state === state);
      const accepted = idsIn('accepted');
      if (accepted.length === ids.length) return reply.code(200).send({ accepted: ids.length, event_ids: ids });
      const failed = idsIn('failed');
      const unknown = idsIn('unknown');
      const firstFailure = fates.find((f): f is Extract<Fate, { state: 'failed' }> => f.state === 'failed');
      const detail = { accepted: accepted.length, event_ids: ids, accepted_ids: accepted, failed_ids: failed };
      if (unknown.length) {
        return reply.code(504).send({
          error: 'kafka_timeout',
          message: `Kafka acknowledged ${accepted.length} of ${ids.length} events before the deadline (${requestTimeoutMs} ms); ${unknown.length} were sent but not yet acknowledged (unknown_ids: they may be on the topic, and the collector keeps trying to deliver them)` +
            `${failed.length ? `, and ${failed.length} were not sent (failed_ids: ${firstFailure?.reason})` : ''}. Resend the unknown and failed ones with the same event_ids (the store keeps one row per id)`,
          ...detail,
          unknown_ids: unknown,
        });
      }
      reply.header('retry-after', '1');
      return reply.code(503).send({
        error: 'kafka_unavailable',
        message: `${failed.length} of ${ids.length} events are not on the topic (${firstFailure?.reason}); resend those (failed_ids) with the same event_ids (the store keeps one row per id)`,
        ...detail,
      });
    });
  }

  route<TouchpointEvent>('/v1/touchpoints', incomingTouchpoint, touchpointEventSchema, (e) => o.producer.prepare(e));
  route<OutcomeEvent>('/v1/outcomes', incomingOutcome, outcomeEventSchema, (e) => o.producer.prepareOutcome(e));

  /**
   * Sends the events and waits for Kafka's answers until the deadline. Then what is still
   * only queued is withdrawn (so "failed" is true), and what is in a request stays unknown.
   */
  async function deliver(prepared: PreparedEvent[], deadline: number): Promise<Fate[]> {
    const controller = new AbortController();
    setMaxListeners(0, controller.signal); // one listener per event of the batch, by design
    requests.add(controller);
    const fates: Fate[] = prepared.map(() => ({ state: 'unknown' }));
    const sends = prepared.map((e, i) =>
      o.producer.sendPrepared(e, { signal: controller.signal }).then(
        () => void (fates[i] = { state: 'accepted' }),
        (err: unknown) => void (fates[i] = { state: 'failed', reason: (err as Error).message }),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    try {
      const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
      await Promise.race([Promise.all(sends), timedOut, aborted(controller.signal)]);
      if (fates.some((f) => f.state === 'unknown')) {
        if (!controller.signal.aborted) controller.abort(new Error(`not acknowledged within the collector's request timeout (${requestTimeoutMs} ms)`));
        // Withdrawals reject at once; let them land before reading the fates.
        await new Promise((r) => setImmediate(r));
      }
      return fates;
    } finally {
      clearTimeout(timer);
      requests.delete(controller);
    }
  }

  return app;
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

/**
 * Stops a collector: no new connections, idle ones closed, requests in hand answered;
 * after `shutdownMs`, what they still have queued is withdrawn (answered 503/504), and
 * every connection still open (slow clients included) is closed.
 */
export async function stopCollector(app: FastifyInstance, shutdownMs: number): Promise<void> {
  const closing = app.close();
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([closing.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), shutdownMs)))]);
  clearTimeout(timer);
  if (!late) return;
  for (const c of inHand.get(app) ?? []) c.abort(new Error(`the collector is stopping (CX_COLLECTOR_SHUTDOWN_MS ${shutdownMs} ms)`));
  // Let the withdrawn requests write their answers, then cut whatever is still connected.
  await new Promise((r) => setTimeout(r, 50));
  app.server.closeAllConnections();
  await closing;
}
