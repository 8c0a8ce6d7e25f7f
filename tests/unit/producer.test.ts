import { describe, expect, it } from 'vitest';
import { kafkaClient } from '../../platform/kafka/client.ts';
import { InvalidEventError, TouchpointProducer } from '../../producers/touchpointProducer.ts';
import { simulate, takeSimulated } from '../../producers/simulator/simulate.ts';
import { SimulationRun } from '../../producers/simulator/run.ts';
import { validateScenario } from '../../producers/simulator/scenario.ts';
import { SchemaRegistry } from '../../schemas/registry.ts';
import type { TouchpointEvent } from '../../schemas/contracts.ts';

describe('TouchpointProducer', () => {
  // Never connected: validation happens before anything is queued for Kafka.
  const producer = new TouchpointProducer(kafkaClient(['127.0.0.1:1'], 'unit'), SchemaRegistry.load(), { touchpointsTopic: 't', outcomesTopic: 'o' });
  const event = takeSimulated({ seed: 1, customers: 5, start: Date.UTC(2026, 10, 1), rate: 1 }, 20).find((e) => e.kind === 'touchpoint')?.event as TouchpointEvent;

  it('rejects an invalid event with the field and the reason, and sends nothing', async () => {
    await expect(producer.send({ ...event, rating: { scale: 'CES_7', value: 0 } })).rejects.toThrow(InvalidEventError);
    await expect(producer.send({ ...event, rating: { scale: 'CES_7', value: 0 } })).rejects.toThrow(`invalid TouchpointEvent ${event.event_id}: rating.value: 0 is outside CES_7 (whole numbers 1..7)`);
    expect(producer.acknowledged).toBe(0);
  });

  it('refuses ids that would collapse into others: a lone surrogate, a blank customer', async () => {
    await expect(producer.send({ ...event, customer_id: 'c-\uD800' })).rejects.toThrow('customer_id: must be well-formed Unicode');
    await expect(producer.send({ ...event, customer_id: ' ' })).rejects.toThrow('customer_id: must not be blank');
    await expect(producer.sendOutcome({ event_id: event.event_id, occurred_at: event.occurred_at, customer_id: '\uDFFF', journey_id: null, kind: 'CHURNED', rating: null, attributes: {} })).rejects.toThrow(InvalidEventError);
  });
});

describe('synthetic emitter', () => {
  it('is deterministic for a seed and varies with it', () => {
    const o = { customers: 50, start: Date.UTC(2026, 10, 1), rate: 1 };
    expect(takeSimulated({ ...o, seed: 4 }, 500)).toEqual(takeSimulated({ ...o, seed: 4 }, 500));
    expect(takeSimulated({ ...o, seed: 5 }, 500)).not.toEqual(takeSimulated({ ...o, seed: 4 }, 500));
  });

  it('covers all three legs and keeps event time moving forward', () => {
    const events = takeSimulated({ seed: 2, customers: 50, start: Date.UTC(2026, 10, 1), rate: 1 }, 2000);
    const legs = new Set(events.flatMap((e) => (e.kind === 'touchpoint' ? [e.event.leg] : [])));
    expect([...legs].sort()).toEqual(['OPERATIONS', 'PRODUCT', 'SALES_MARKETING']);
    events.slice(1).forEach((e, i) => expect(e.event.occurred_at).toBeGreaterThanOrEqual((events[i] as (typeof events)[number]).event.occurred_at));
  });
});

describe('SimulationRun', () => {
  const recorder = () => {
    const got: string[] = [];
    const producer = {
      send: async (e: TouchpointEvent) => void got.push(e.event_id),
      sendOutcome: async () => void got.push('outcome'),
      sendRaw: async () => void got.push('garbage'),
      flush: async () => undefined,
    } as unknown as TouchpointProducer;
    return { got, producer };
  };

  it('stops at once even while waiting for the next event in real time', async () => {
    const { got, producer } = recorder();
    const scenario = { ...validateScenario({ dailyRhythm: false }), rate: 0.001 }; // one visit every ~17 minutes
    const run = new SimulationRun(producer, simulate({ scenario }), { speed: 1, garbageTopic: 't' });
    void run.start();
    await new Promise((r) => setTimeout(r, 50));
    const t = Date.now();
    await run.stop();
    expect(Date.now() - t).toBeLessThan(1000);
    expect(got.length).toBeLessThanOrEqual(1);
  });

  it('slips a garbage message in every Nth, and refuses an N that would be all garbage', async () => {
    const { got, producer } = recorder();
    const scenario = validateScenario({ dailyRhythm: false });
    await new SimulationRun(producer, simulate({ scenario }), { count: 9, badEvery: 3, garbageTopic: 't' }).start();
    expect(got.map((g) => (g === 'garbage' ? 'G' : 'e')).join('')).toBe('eeGeeGeeG');
    expect(() => new SimulationRun(producer, simulate({ scenario }), { badEvery: 1, garbageTopic: 't' })).toThrow('expected 0 or a whole number, at least 2');
  });
});
