/** Events accepted over HTTP reach Kafka and then ClickHouse, through the real components. */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCollector } from '../../producers/collector.ts';
import { isolatedConfig, startPipeline, waitFor, type TestPipeline } from '../helpers.ts';

const { config } = isolatedConfig();
let p: TestPipeline;
let app: ReturnType<typeof buildCollector>;
let url: string;

beforeAll(async () => {
  p = await startPipeline(config);
  app = buildCollector({ producer: p.producer, token: 'collector-test-token-0123', maxBodyBytes: config.collectorMaxBodyBytes, maxBatch: config.collectorMaxBatch });
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  await p?.stop();
});

const post = (path: string, body: unknown) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer collector-test-token-0123' }, body: JSON.stringify(body) });

describe('collector over HTTP', () => {
  it('lands accepted events in ClickHouse, and nothing of a refused batch', async () => {
    const base = { customer_id: 'c-http', journey_id: 'j-http', channel: 'CALL_CENTRE', touchpoint: 'support_call', leg: 'OPERATIONS', stage: 'POST_PURCHASE', department: 'Customer Service' };
    const single = await post('/v1/touchpoints', { ...base, rating: { scale: 'CSAT_5', value: 2 }, occurred_at: '2026-11-23T08:00:00Z' });
    expect(single.status).toBe(200);
    const batch = await post('/v1/touchpoints', Array.from({ length: 50 }, (_, i) => ({ ...base, customer_id: `c-http-${i}`, outcome: i % 2 ? 'OK' : 'ESCALATED' })));
    expect(batch.status).toBe(200);
    const refused = await post('/v1/touchpoints', [{ ...base, customer_id: 'c-refused' }, { ...base, leg: 'FINANCE' }]);
    expect(refused.status).toBe(400);
    const outcome = await post('/v1/outcomes', { customer_id: 'c-http', kind: 'CHURNED' });
    expect(outcome.status).toBe(200);

    const ids = [...((await single.json()) as { event_ids: string[] }).event_ids, ...((await batch.json()) as { event_ids: string[] }).event_ids];
    expect(ids).toHaveLength(51);
    await waitFor('the accepted events to be stored', async () => p.ingest.stats.touchpointRows >= 51 && p.ingest.stats.outcomeRows >= 1);
    const rows = await p.store.query<{ event_id: string; customer_id: string; rating_value: number | null; occurred_at: string }>(
      `SELECT event_id, customer_id, rating_value, toString(occurred_at) AS occurred_at FROM ${config.clickhouseDatabase}.touchpoint_events ORDER BY customer_id`,
    );
    expect(rows.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    expect(rows.find((r) => r.customer_id === 'c-http')).toMatchObject({ rating_value: 2, occurred_at: '2026-11-23 08:00:00.000' });
    expect(rows.some((r) => r.customer_id === 'c-refused')).toBe(false);
    const [churn] = await p.store.query<{ kind: string }>(`SELECT kind FROM ${config.clickhouseDatabase}.outcome_events`);
    expect(churn?.kind).toBe('CHURNED');
  });
});
