/**
 * What a rebuild needs from Kafka to hand its state over to the live metric
 * processors (docs/metrics.md, "Rebuild from the raw log"): the cluster id (offsets
 * mean something only within one cluster), how far the raw ingest group has
 * committed on the touchpoint topic (every message before that is stored), and
 * whether a metric worker is live in the metrics group (then it must not run).
 */
import type { Admin } from 'kafkajs';

export interface KafkaView {
  cluster: string;
  topic: string;
  /** Every partition of the topic -> the raw ingest group's committed offset (the next to read); -1 when it has none. */
  committed: Map<number, bigint>;
}

export async function kafkaView(admin: Admin, topic: string, rawGroup: string): Promise<KafkaView> {
  const cluster = (await admin.describeCluster()).clusterId;
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const committed = new Map<number, bigint>();
  for (const p of meta.topics[0]?.partitions ?? []) committed.set(p.partitionId, -1n);
  const offsets = await admin.fetchOffsets({ groupId: rawGroup, topics: [topic] });
  for (const p of offsets.find((o) => o.topic === topic)?.partitions ?? []) committed.set(p.partition, BigInt(p.offset));
  return { cluster, topic, committed };
}

export interface LiveMember {
  memberId: string;
  clientId: string;
  clientHost: string;
}

export async function liveMembers(admin: Admin, group: string): Promise<LiveMember[]> {
  const { groups } = await admin.describeGroups([group]);
  return (groups.find((g) => g.groupId === group)?.members ?? []).map((m) => ({ memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost }));
}

export class RebuildRefusedError extends Error {
  override name = 'RebuildRefusedError';
}

/** Why the rebuild will not run, and what to stop. */
export function refusal(metricsGroup: string, consumerGroup: string, members: LiveMember[], embedded: boolean, when: 'before' | 'before the swap'): RebuildRefusedError {
  const who = members.map((m) => `${m.clientId} on ${m.clientHost}`).join(', ');
  const where = embedded
    ? 'This store is the embedded one, which only one process can open (this rebuild has it now), so that worker is not writing here: it runs against another store (a ClickHouse server, or another CX_CLICKHOUSE_PATH) with the same Kafka and CX_CONSUMER_GROUP. '
    : 'While it runs it moves the metrics state and results on, and the rebuild would replace them under it. ';
  return new RebuildRefusedError(
    `not rebuilding: the metrics consumer group "${metricsGroup}" has ${members.length} live member(s) (${who}), ` +
      `i.e. a metric worker is running (\`npm start\` or \`npx cx process\` with CX_CONSUMER_GROUP=${consumerGroup}). ${where}` +
      `Stop it (Ctrl-C, or SIGTERM), then run \`npx cx rebuild\` again; producers, the collector and Kafka may keep taking events meanwhile. ` +
      `Nothing was changed${when === 'before' ? '' : ' (the rebuilt tables were dropped before the swap)'}.`,
  );
}
