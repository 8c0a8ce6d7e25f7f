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

export class StoredOffsets {
  private readonly marks = new Map<string, bigint>();

  constructor(private readonly store: Store) {}

  /** Forget everything: after a rebalance another worker may have written more. */
  reset(): void {
    this.marks.clear();
  }

  /** Highest stored source offset of the partition in the table, -1 when none. */
  async highest(table: RawTable, topic: string, partition: number): Promise<bigint> {
    const key = `${table}/${topic}/${partition}`;
    let mark = this.marks.get(key);
    if (mark === undefined) {
      const rows = await this.store.query<{ mark: string | null }>(
        `SELECT toString(maxOrNull(source_offset)) AS mark FROM ${this.store.database}.${table} WHERE source_topic = {topic:String} AND source_partition = {partition:UInt32}`,
        { topic, partition },
      );
      mark = rows[0]?.mark == null ? -1n : BigInt(rows[0].mark);
      this.marks.set(key, mark);
    }
    return mark;
  }

  record(table: RawTable, topic: string, partition: number, offset: bigint): void {
    const key = `${table}/${topic}/${partition}`;
    const current = this.marks.get(key) ?? -1n;
    if (offset > current) this.marks.set(key, offset);
  }
}
