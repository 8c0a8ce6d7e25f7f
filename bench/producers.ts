/**
 * `npm run bench` (second part): how fast each producer puts events into Kafka.
 * The simulator at full speed, and the HTTP collector taking batches of 500 over
 * loopback from 4 concurrent clients. Medians of several runs; figures, not assertions.
 */
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../platform/config.ts';
import { EVENTS, finish, fmt, freshTopics, log, median, out, RUNS } from './figures.ts';
import { stopLocalBroker } from '../platform/kafka/localBroker.ts';
import { connectKafka, connectProducer } from '../pipeline/compose.ts';
import { buildCollector } from '../producers/collector.ts';
import { validateScenario } from '../producers/simulator/scenario.ts';
import { simulate, takeSimulated } from '../producers/simulator/simulate.ts';
import { SimulationRun } from '../producers/simulator/run.ts';



async function main(): Promise<void> {
  const base = loadConfig();
  out(`cx bench (producers): ${fmt(EVENTS)} events per run, ${RUNS} runs`);
  let startedBroker = false;

  // The generator alone, no Kafka.
  let t = performance.now();
  const scenario = { ...validateScenario({ name: 'bench' }), duration: 365 * 86_400_000, rate: 50, dailyRhythm: false };
  let n = 0;
  for (const _ of simulate({ scenario })) if (++n >= EVENTS) break;
  out(`simulator, generation only: ${fmt((EVENTS * 1000) / (performance.now() - t))} events/s (one core)`);

  const simRates: number[] = [];
  const httpRates: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const config = freshTopics(base, `p${run}`);
    const kafka = await connectKafka(config, log);
    startedBroker ||= kafka.startedBroker;
    const producer = await connectProducer(config, kafka);

    const sim = new SimulationRun(producer, simulate({ scenario: { ...scenario, seed: run } }), { count: EVENTS, garbageTopic: config.touchpointsTopic });
    t = performance.now();
    await sim.start();
    simRates.push((sim.sent * 1000) / (performance.now() - t));

    const app = buildCollector({ producer, maxBodyBytes: 4 * 1_048_576, maxBatch: 1000 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/touchpoints`;
    const bodies: string[] = [];
    const events = takeSimulated({ seed: 100 + run, rate: 50 }, EVENTS * 1.2).flatMap((e) => (e.kind === 'touchpoint' ? [e.event] : [])).slice(0, EVENTS);
    for (let i = 0; i < events.length; i += 500) bodies.push(JSON.stringify(events.slice(i, i + 500)));
    t = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++] as string;
          const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          if (r.status !== 200) throw new Error(`collector answered ${r.status}: ${await r.text()}`);
        }
      }),
    );
    httpRates.push((events.length * 1000) / (performance.now() - t));
    await app.close();
    await producer.disconnect();
    out(`run ${run}: simulator -> Kafka ${fmt(simRates.at(-1) as number)} events/s; HTTP collector -> Kafka ${fmt(httpRates.at(-1) as number)} events/s`);
  }
  out('');
  out(`simulator into Kafka (speed max): median ${fmt(median(simRates))} events/s`);
  out(`HTTP collector into Kafka (batches of 500, 4 clients): median ${fmt(median(httpRates))} events/s`);
  if (startedBroker) await stopLocalBroker(base);
}

finish(main());
