/**
 * What the SDK must know of a topic before it queues an event for it: its partitions
 * (the SDK picks the partition itself, so a retried batch goes exactly where the first
 * attempt went) and the largest record batch one partition takes: the topic's
 * `max.message.bytes`, or the broker's `message.max.bytes` when the topic's cannot be read.
 */
import kafkajs, { type Kafka, type PartitionMetadata } from 'kafkajs';

// kafkajs is CommonJS, and Node cannot see every one of its named exports from ESM.
const { ConfigResourceTypes, Partitioners } = kafkajs;

export interface TopicLayout {
  topic: string;
  partitions: PartitionMetadata[];
  /** Bytes one partition's record batch may take (max.message.bytes). */
  maxBatchBytes: number;
  /** Where it came from, for error messages and logs. */
  limitSource: 'topic max.message.bytes' | 'broker message.max.bytes' | 'Kafka default';
}

/** Kafka's own default of message.max.bytes, used only when neither setting can be read. */
const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

export async function loadTopicLayout(kafka: Kafka, topic: string): Promise<TopicLayout> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = topics[0]?.partitions ?? [];
    if (partitions.length === 0) throw new Error(`topic ${topic} has no partitions in the cluster's metadata; create it first (npx cx kafka up creates the project's topics)`);
    const limit = await readLimit(admin, topic);
    return { topic, partitions: [...partitions].sort((a, b) => a.partitionId - b.partitionId), ...limit };
  } finally {
    await admin.disconnect();
  }
}

type Admin = ReturnType<Kafka['admin']>;

async function readLimit(admin: Admin, topic: string): Promise<Pick<TopicLayout, 'maxBatchBytes' | 'limitSource'>> {
  const read = async (type: kafkajs.ConfigResourceTypes, name: string, key: string) => {
    const r = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type, name, configNames: [key] }] });
    const v = Number(r.resources[0]?.configEntries.find((e) => e.configName === key)?.configValue);
    return Number.isInteger(v) && v > 0 ? v : undefined;
  };
  const fromTopic = await read(ConfigResourceTypes.TOPIC, topic, 'max.message.bytes').catch(() => undefined);
  if (fromTopic) return { maxBatchBytes: fromTopic, limitSource: 'topic max.message.bytes' };
  const { brokers } = await admin.describeCluster();
  for (const b of brokers) {
    const v = await read(ConfigResourceTypes.BROKER, String(b.nodeId), 'message.max.bytes').catch(() => undefined);
    if (v) return { maxBatchBytes: v, limitSource: 'broker message.max.bytes' };
  }
  return { maxBatchBytes: KAFKA_DEFAULT_MAX_MESSAGE_BYTES, limitSource: 'Kafka default' };
}

/** The partition kafkajs's default partitioner would choose (murmur2 of the key; round robin without one). */
export function partitionChooser(): (layout: TopicLayout, key: string | null) => number {
  const choose = Partitioners.DefaultPartitioner();
  return (layout, key) => choose({ topic: layout.topic, partitionMetadata: layout.partitions, message: { key, value: null } });
}
