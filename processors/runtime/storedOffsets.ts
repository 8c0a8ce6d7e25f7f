/**
 * What is already durable in ClickHouse, per table and source partition.
 *
 * Kafka offsets are committed only after a chunk's rows are stored, so a crash
 * between the insert and the commit replays that chunk. Each chunk is inserted
 * into each table in offset order, so the highest source_offset a table holds for
 * a partition marks everything before it as stored there: a replayed message at
 * or below that mark is skipped, whatever the new chunk boundaries are.
 */
import type { Store } from '../../platform/clickhouse/store.ts';
import type { RawTable } from './classify.ts';

const keyOf = (table: RawTable, topic: string, partition: number) => `${table}/${topic}/${partition}`;

export class StoredOffsets {
  private readonly marks = new Map<string, bigint>();
  private readonly loaded = new Set<RawTable>();

  /** `cluster`: the Kafka cluster id; marks of another cluster (or of a wiped local broker) do not apply. */
  constructor(private readonly store: Store, private readonly cluster: string) {}

  /** Forget everything: after a rebalance another worker may have written more. */
  reset(): void {
    this.marks.clear();
    this.loaded.clear();
  }

  /** Highest stored source offset of the partition in the table, -1 when none. */
  async highest(table: RawTable, topic: string, partition: number): Promise<bigint> {
    if (!this.loaded.has(table)) {
      // One scan per table after each (re)assignment, for all its partitions at once.
      const rows = await this.store.query<{ topic: string; partition: number; mark: string }>(
        `SELECT source_topic AS topic, source_partition AS partition, toString(max(source_offset)) AS mark FROM ${this.store.database}.${table} WHERE source_cluster = {cluster:String} GROUP BY source_topic, source_partition`,
        { cluster: this.cluster },
      );
      for (const r of rows) this.record(table, r.topic, Number(r.partition), BigInt(r.mark));
      this.loaded.add(table);
    }
    return this.marks.get(keyOf(table, topic, partition)) ?? -1n;
  }

  /** Drops a mark that cannot be right (the topic was recreated): the partition starts afresh. */
  forget(table: RawTable, topic: string, partition: number): void {
    this.marks.delete(keyOf(table, topic, partition));
  }

  record(table: RawTable, topic: string, partition: number, offset: bigint): void {
    const key = keyOf(table, topic, partition);
    const current = this.marks.get(key) ?? -1n;
    if (offset > current) this.marks.set(key, offset);
  }
}
