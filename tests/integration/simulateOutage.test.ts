/**
 * `cx simulate` (a spawned process, on the producer SDK) rides through a restart of
 * its broker: a private broker this test starts, stops for longer than kafkajs's own
 * reconnect budget, and starts again. The run ends with nothing failed, says on its
 * way that Kafka was not answering, and the topics hold exactly what it says it sent.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaClient } from '../../platform/kafka/client.ts';
import { privateBroker, spawnCx, type PrivateBroker } from '../processes.ts';
import { readTopic } from '../topicReader.ts';

const OUTAGE_MS = Number(process.env.CX_TEST_OUTAGE_MS ?? 30_000);
let broker: PrivateBroker | undefined;

afterAll(async () => {
  await broker?.dispose();
});

describe('cx simulate through a broker restart (private broker)', () => {
  it('waits for Kafka instead of failing, and every event it reports sent is on the topics once', async () => {
    broker = await privateBroker('simulate-outage', { LOG_LEVEL: 'warn' });
    const { env, config, bootstrap, dir } = broker;
    // About 60 s of wall time (2 h of event time, 120 times faster than real time), longer than the outage.
    const sim = await spawnCx(['simulate', '--duration', '2h', '--rate', '5', '--customers', '300', '--seed', '11', '--speed', '120', '--truth', join(dir, 'truth.json')], env, /Ground truth/);
    await new Promise((r) => setTimeout(r, 5_000));
    await broker.stop();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await broker.start();
    const exit = await sim.exited;
    const output = sim.output();
    expect(exit.code, output.slice(-3000)).toBe(0);
    expect(output).toContain('Kafka is not answering');
    const summary = /Sent ([\d,]+) touchpoint events and ([\d,]+) outcomes in [\d.]+ s: [\d,]+ events\/s into Kafka\./.exec(output);
    expect(summary, output.slice(-2000)).not.toBeNull();
    const [touchpoints, outcomes] = [Number(summary?.[1]?.replace(/,/g, '')), Number(summary?.[2]?.replace(/,/g, ''))];
    const kafka = kafkaClient([bootstrap], 'simulate-outage-test');
    for (const [topic, expected] of [[config.touchpointsTopic, touchpoints], [config.outcomesTopic, outcomes]] as const) {
      const stored = await readTopic(kafka, topic);
      expect(new Set(stored.map((r) => r.eventId)).size, topic).toBe(stored.length);
      expect(stored.length, topic).toBe(expected);
    }
    expect(touchpoints).toBeGreaterThan(1_000);
    expect(output).toContain('Kafka answers again');
  });
});
