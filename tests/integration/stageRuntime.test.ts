/**
 * The stage runtime's crash rules (platform/stage/runtime.ts), tested once, on a real
 * broker, against a fake stage whose recording store keeps every insert in a file
 * (tests/fixtures/fakeStage.ts):
 * - a round's writes are stored in order (rows, then state), one insert per table for
 *   all the round's partitions, and only then its offsets are committed;
 * - a failed store makes the stage forget the round, commits nothing, and the messages
 *   come again and are stored;
 * - a SIGKILL between store and commit replays exactly the killed round, nothing else;
 * - a clean stop commits the round in hand.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClient } from '../../platform/kafka/client.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { fakeRuntime, readInserts, type Insert } from '../fixtures/fakeStage.ts';
import { waitFor } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PARTITIONS = 3;
const PER_PARTITION = 100;
const CHUNK = 10;
const brokers = () => (loadConfig().kafkaBrokers ?? [process.env.KAFKA_BROKERS as string]).flatMap((b) => b.split(','));

let kafka: Kafka;
let admin: Admin;
let topic: string;

const key = (r: { partition: number; offset: string }) => `${r.partition}:${r.offset}`;
const seenRows = (inserts: Insert[]) => inserts.filter((i) => i.table === 'seen').flatMap((i) => i.rows.map(key));

async function committed(group: string): Promise<Map<number, bigint>> {
  const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return new Map((t?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
}

const everyMessage = () => Array.from({ length: PARTITIONS }, (_, p) => Array.from({ length: PER_PARTITION }, (_, i) => `${p}:${i}`)).flat().sort();

describe('the stage runtime', () => {
  beforeAll(async () => {
    kafka = kafkaClient(brokers(), 'stage-runtime-test', createLogger('error', 'test'));
    admin = kafka.admin();
    await admin.connect();
    topic = `test-${randomUUID().slice(0, 8)}.runtime`;
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: false });
    // A broker that has just started can answer the leader check with "does not host this topic-partition" for a while: ask until every partition has a leader.
    await waitFor('the topic\'s leaders', async () => {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const parts = meta.topics[0]?.partitions ?? [];
      return parts.length === PARTITIONS && parts.every((p) => p.leader >= 0);
    }, 60_000, 250);
    const producer = kafka.producer();
    await producer.connect();
    for (let p = 0; p < PARTITIONS; p++) {
      await producer.send({ topic, messages: Array.from({ length: PER_PARTITION }, (_, i) => ({ partition: p, value: `m${p}-${i}` })) });
    }
    await producer.disconnect();
  });

  afterAll(async () => {
    await admin?.disconnect();
  });

  it('stores rows, then state, one insert per table per round, and commits only after', async () => {
    const group = `g-${randomUUID().slice(0, 8)}`;
    const file = join(mkdtempSync(join(tmpdir(), 'cx-runtime-')), 'inserts.jsonl');
    const early: string[] = [];
    const f = fakeRuntime({
      brokers: brokers(), group, topic, file, chunkSize: CHUNK,
      afterStore: async (chunks) => {
        // Stored, not yet committed: the group's offset for each partition is still at or before the chunk's first message.
        const c = await committed(group);
        for (const ch of chunks) {
          const at = c.get(ch.partition) ?? -1n;
          if (at > BigInt(ch.lastOffset)) early.push(`partition ${ch.partition} committed to ${at} before chunk ..${ch.lastOffset} was stored`);
        }
      },
    });
    await f.runtime.start();
    await waitFor('every message stored', async () => seenRows(readInserts(file)).length >= PARTITIONS * PER_PARTITION, 60_000);
    await f.runtime.stop();

    const inserts = readInserts(file);
    expect(seenRows(inserts).sort()).toEqual(everyMessage());
    // Writes in the stage's order: each round's rows, then its state, nothing in between.
    for (let i = 0; i < inserts.length; i += 2) {
      expect([inserts[i]?.table, inserts[i + 1]?.table]).toEqual(['seen', 'state']);
      expect(inserts[i + 1]?.token.replace('state:', '')).toBe(inserts[i]?.token.replace('seen:', ''));
    }
    // Rounds gathered several partitions, and each round was one insert per table.
    const multi = f.stage.rounds.filter((r) => new Set(r.map((c) => c.partition)).size > 1);
    expect(multi.length).toBeGreaterThan(0);
    expect(inserts.length).toBe(2 * f.stage.rounds.length);
    expect(Math.max(...f.stage.rounds.flat().map((c) => c.messages.length))).toBeLessThanOrEqual(CHUNK);
    expect(early).toEqual([]);
    // Everything stored is committed: the clean stop committed the last round too.
    const c = await committed(group);
    for (let p = 0; p < PARTITIONS; p++) expect(c.get(p)).toBe(BigInt(PER_PARTITION));
  });

  it('after a failed store, forgets the round, commits nothing of it, and stores its messages when they come again', async () => {
    const group = `g-${randomUUID().slice(0, 8)}`;
    const file = join(mkdtempSync(join(tmpdir(), 'cx-runtime-')), 'inserts.jsonl');
    const f = fakeRuntime({ brokers: brokers(), group, topic, file, chunkSize: CHUNK });
    f.store.failNext = 1;
    await f.runtime.start();
    await waitFor('every message stored', async () => new Set(seenRows(readInserts(file))).size >= PARTITIONS * PER_PARTITION, 90_000);
    await f.runtime.stop();
    expect(f.stage.failedRounds.length).toBe(1);
    // The failed round's chunks came again: they were folded twice, once failing.
    const failed = (f.stage.failedRounds[0] as { partition: number; firstOffset: string }[]).map((c) => `${c.partition}:${c.firstOffset}`);
    const folded = f.stage.rounds.flat().map((c) => `${c.partition}:${c.firstOffset}`);
    for (const c of failed) expect(folded.filter((x) => x === c).length, c).toBe(2);
    // The failed insert stored nothing, so every message is stored exactly once.
    expect(seenRows(readInserts(file)).sort()).toEqual(everyMessage());
  });

  it('replays exactly the round a SIGKILL cut between its store and its commit', { timeout: 120_000 }, async () => {
    const group = `g-${randomUUID().slice(0, 8)}`;
    const file = join(mkdtempSync(join(tmpdir(), 'cx-runtime-')), 'inserts.jsonl');
    const child = (extra: Record<string, string>) => {
      const p = spawn(process.execPath, ['--import', 'tsx', 'tests/fixtures/fakeStage.ts'], {
        cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, KAFKA_BROKERS: brokers().join(','), FAKE_GROUP: group, FAKE_TOPIC: topic, FAKE_FILE: file, FAKE_CHUNK: String(CHUNK), ...extra },
      });
      const output: string[] = [];
      p.stdout.on('data', (d: Buffer) => output.push(d.toString()));
      p.stderr.on('data', (d: Buffer) => output.push(d.toString()));
      return { p, output, exit: new Promise<{ code: number | null; signal: string | null }>((r) => p.once('exit', (code, signal) => r({ code, signal }))) };
    };
    const killed = child({ FAKE_KILL_AT_ROUND: '3' });
    const end = await killed.exit;
    expect(end.signal, killed.output.join('')).toBe('SIGKILL');
    const before = readInserts(file);
    // Three rounds stored (rows and state each), the third not committed.
    expect(before.length).toBe(6);
    const cut = (before[4] as Insert).rows.map(key);
    const atKill = await committed(group);
    for (const r of (before[5] as Insert).rows) expect(atKill.get(r.partition) ?? -1n).toBeLessThanOrEqual(BigInt(r.offset));

    const again = child({});
    await waitFor('every message stored', async () => new Set(seenRows(readInserts(file))).size >= PARTITIONS * PER_PARTITION, 90_000);
    again.p.kill('SIGTERM');
    expect((await again.exit).code, again.output.join('')).toBe(0);
    const rows = seenRows(readInserts(file));
    expect([...new Set(rows)].sort()).toEqual(everyMessage());
    // Stored twice: exactly the killed round's messages (its chunks were replayed from the last commit), nothing else.
    const counts = new Map<string, number>();
    for (const r of rows) counts.set(r, (counts.get(r) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1).map(([k]) => k).sort();
    expect(twice).toEqual([...cut].sort());
    expect(Math.max(...counts.values())).toBe(2);
  });

  it('commits the round in hand when a stop begins during it', async () => {
    const group = `g-${randomUUID().slice(0, 8)}`;
    const file = join(mkdtempSync(join(tmpdir(), 'cx-runtime-')), 'inserts.jsonl');
    let stopping: Promise<void> | undefined;
    let inHand: { partition: number; lastOffset: string }[] = [];
    let rounds = 0;
    const f = fakeRuntime({
      brokers: brokers(), group, topic, file, chunkSize: CHUNK,
      afterStore: (chunks) => {
        if (++rounds !== 2) return;
        inHand = [...chunks];
        stopping = f.runtime.stop();
      },
    });
    await f.runtime.start();
    await waitFor('the stop to begin', async () => stopping !== undefined, 60_000);
    await stopping;
    expect(inHand.length).toBeGreaterThan(0);
    const c = await committed(group);
    for (const ch of inHand) expect(c.get(ch.partition) ?? -1n).toBeGreaterThanOrEqual(BigInt(ch.lastOffset) + 1n);
  });
});
