/**
 * How every worker takes part in its consumer group: the timings, said once, and the
 * heartbeat kept while a batch is in hand.
 *
 * kafkajs 2.2.4 has no static membership (its JoinGroup never sends a
 * group.instance.id), so a worker killed without leaving keeps its partitions until
 * its session times out; a restarted worker is a new member and waits for that. The
 * session timeout is therefore what a SIGKILL costs, and it is kept short (6 s by
 * default, the broker's group.min.session.timeout.ms). kafkajs heartbeats only
 * between batches or when the batch handler calls heartbeat(), so a short session is
 * made safe by `whileHeartbeating`: a batch that waits on ClickHouse keeps its
 * member alive. A clean stop (consumer.disconnect) leaves the group at once.
 */
import type { ConsumerConfig } from 'kafkajs';
import type { Config } from '../config.ts';

/**
 * How long a rebalance waits for a member busy with a chunk to rejoin. Above the
 * ClickHouse request timeout (25 s), so a slow insert finishes before its member is
 * dropped; a member that is gone entirely is dropped at the session timeout instead.
 */
export const REBALANCE_TIMEOUT_MS = 60_000;

/** kafkajs's own advice: about a third of the session, so two heartbeats may be lost. */
export const heartbeatIntervalOf = (sessionTimeoutMs: number): number => Math.min(3_000, Math.floor(sessionTimeoutMs / 3));

export type GroupConsumerOptions = ConsumerConfig & { heartbeatInterval: number };

/** The consumer settings of every worker's group (`maxWaitTimeInMs`: how long a fetch waits for data). */
export function consumerOptions(config: Pick<Config, 'sessionTimeoutMs'>, groupId: string, maxWaitTimeInMs = 250): GroupConsumerOptions {
  return {
    groupId,
    sessionTimeout: config.sessionTimeoutMs,
    heartbeatInterval: heartbeatIntervalOf(config.sessionTimeoutMs),
    rebalanceTimeout: REBALANCE_TIMEOUT_MS,
    maxWaitTimeInMs,
  };
}

/**
 * Runs `work` (a batch's processing) while heartbeating every `everyMs`, so a chunk
 * waiting on a long insert does not cost the member its session. Safe beside
 * kafkajs's own heartbeats: kafkajs shares one request in flight and skips a
 * heartbeat sent less than an interval ago. A refused heartbeat (the group is
 * rebalancing) is only noted: heartbeats during a rebalance still count, so the
 * member keeps its session while it finishes and commits the chunk in hand (Kafka
 * takes commits of the current generation until the rebalance completes, bounded by
 * the rebalance timeout); the handler's own heartbeat() before its next chunk gets
 * the same refusal and ends the batch, and kafkajs rejoins. A member the group has
 * already dropped is not revived by this: its heartbeats are refused too, and so is
 * its commit.
 */
export async function whileHeartbeating<T>(heartbeat: () => Promise<void>, everyMs: number, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => void heartbeat().catch(() => undefined), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
