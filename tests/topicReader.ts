/** Reads a topic back from the beginning to its current end, for exact accounting in tests. */
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { SchemaRegistry } from '../schemas/registry.ts';

export interface StoredRecord {
  partition: number;
  offset: number;
  key: string | null;
  eventId?: string;
  customerId?: string;
  value: Buffer;
}

/** Fails, saying which partitions it reached, rather than waiting for ever on a topic that does not deliver to its end. */
export async function readTopic(kafka: Kafka, topic: string, registry = SchemaRegistry.load(), timeoutMs = 120_000): Promise<StoredRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
  await admin.disconnect();
  const out: StoredRecord[] = [];
  const wanted = [...ends].filter(([, high]) => high > 0);
  if (wanted.length === 0) return out;
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxBytesPerPartition: 16 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const done = new Set<number>();
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => {
      const reached = wanted.map(([p, high]) => `${p}: ${done.has(p) ? 'done' : `not done (end ${high})`}`).join(', ');
      reject(new Error(`reading ${topic} to its end did not finish within ${timeoutMs} ms (${out.length} records; partitions ${reached})`));
    }, timeoutMs);
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          const offset = Number(message.offset);
          const decoded = registry.decode(message.value);
          const value = decoded.ok ? decoded.value : undefined;
          out.push({ partition, offset, key: message.key?.toString() ?? null, value: message.value as Buffer, eventId: value?.event_id as string | undefined, customerId: value?.customer_id as string | undefined });
          if (offset + 1 >= (ends.get(partition) ?? 0)) done.add(partition);
          if (done.size === wanted.length) resolve();
        },
      })
      .catch(reject);
  }).finally(() => clearTimeout(timer));
  await consumer.disconnect();
  return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}
