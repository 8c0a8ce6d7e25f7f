/**
 * The HTTP collector: touchpoint systems POST JSON events, one or a batch. A batch
 * is all or nothing: if any event is invalid the response lists every problem by
 * index and field, and nothing is sent. The response comes only after Kafka has
 * acknowledged every event.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { outcomeEventSchema, touchpointEventSchema, type OutcomeEvent, type TouchpointEvent } from '../schemas/contracts.ts';
import type { TouchpointProducer } from './touchpointProducer.ts';

export interface CollectorOptions {
  producer: Pick<TouchpointProducer, 'send' | 'sendOutcome'>;
  /** Required bearer token; undefined: no authentication. */
  token?: string;
  maxBodyBytes: number;
  maxBatch: number;
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

export function buildCollector(o: CollectorOptions): FastifyInstance {
  const clock = o.clock ?? Date.now;
  const newId = o.newId ?? randomUUID;
  const app = Fastify({ bodyLimit: o.maxBodyBytes, logger: false });

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, _req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return problem(reply, 413, 'too_large', `the body is larger than ${o.maxBodyBytes} bytes; send smaller batches`);
    if (err.statusCode && err.statusCode < 500) return problem(reply, err.statusCode, err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type' : 'bad_request', err.message);
    return problem(reply, 500, 'internal', 'the collector failed; nothing was accepted');
  });

  app.addHook('onRequest', async (req, reply) => {
    if (!o.token || req.url.split('?')[0] === '/healthz') return;
    if (req.headers.authorization !== `Bearer ${o.token}`) {
      reply.header('www-authenticate', 'Bearer');
      return problem(reply, 401, 'unauthorized', 'send Authorization: Bearer <token>');
    }
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  function route<Ev extends TouchpointEvent | OutcomeEvent>(path: string, schema: z.ZodType, contract: z.ZodType, send: (e: Ev) => Promise<void>) {
    app.post(path, async (req: FastifyRequest, reply: FastifyReply) => {
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
      const ids = events.map((e) => e.event_id);
      const results = await Promise.allSettled(events.map((e) => send(e)));
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
      if (failed.length) {
        // Say exactly what Kafka took and what it did not: a batch is never half-accepted silently.
        const reason = (results[failed[0] as number] as PromiseRejectedResult).reason as Error;
        return reply.code(503).send({
          error: 'kafka_unavailable',
          message: `Kafka did not acknowledge ${failed.length} of ${events.length} events (${reason.message}); resend those with the same event_ids (the idempotency key: the store keeps one row per id)`,
          accepted: events.length - failed.length,
          event_ids: ids,
          accepted_ids: ids.filter((_, i) => !failed.includes(i)),
          failed_ids: failed.map((i) => ids[i]),
        });
      }
      return reply.code(200).send({ accepted: events.length, event_ids: ids });
    });
  }

  route<TouchpointEvent>('/v1/touchpoints', incomingTouchpoint, touchpointEventSchema, (e) => o.producer.send(e));
  route<OutcomeEvent>('/v1/outcomes', incomingOutcome, outcomeEventSchema, (e) => o.producer.sendOutcome(e));
  return app;
}
