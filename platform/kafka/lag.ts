import type { Admin } from 'kafkajs';

/** Messages in the topics not yet committed by the group (its consumer lag). */
export async function consumerLag(admin: Admin, groupId: string, topics: string[]): Promise<number> {
  const committed = await admin.fetchOffsets({ groupId, topics });
  let lag = 0;
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    const done = committed.find((c) => c.topic === topic)?.partitions ?? [];
    for (const p of ends) {
      const c = Number(done.find((d) => d.partition === p.partition)?.offset ?? -1);
      lag += Number(p.high) - Math.max(c, Number(p.low));
    }
  }
  return lag;
}

/** Where each partition of some topics ends, at one moment: topic -> partition -> next offset. */
export type TopicEnds = Map<string, Map<number, number>>;

export async function endOffsets(admin: Admin, topics: string[]): Promise<TopicEnds> {
  const out: TopicEnds = new Map();
  for (const topic of topics) out.set(topic, new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)])));
  return out;
}

/** Messages before `ends` the group has not committed yet: 0 once it has processed everything that was there then. */
export async function lagBefore(admin: Admin, groupId: string, ends: TopicEnds): Promise<number> {
  const committed = await admin.fetchOffsets({ groupId, topics: [...ends.keys()] });
  let lag = 0;
  for (const [topic, partitions] of ends) {
    const done = committed.find((c) => c.topic === topic)?.partitions ?? [];
    const low = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.low)]));
    for (const [partition, end] of partitions) {
      const c = Number(done.find((d) => d.partition === partition)?.offset ?? -1);
      lag += Math.max(0, end - Math.max(c, low.get(partition) ?? 0));
    }
  }
  return lag;
}
