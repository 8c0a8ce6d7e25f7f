/**
 * Upper bounds on what a record costs inside a Kafka record batch (message format v2,
 * uncompressed), so a batch can be cut before the broker would refuse it with
 * MESSAGE_TOO_LARGE. A topic's `max.message.bytes` limits one partition's record batch.
 */

/** The record batch header: base offset, length, epoch, magic, CRC, attributes, deltas, timestamps, producer id/epoch, base sequence, count. */
export const BATCH_OVERHEAD_BYTES = 61;

/** Varints at their widest: length 5, attributes 1, timestamp delta 10, offset delta 5, key length 5, value length 5, header count 5. */
const RECORD_OVERHEAD_BYTES = 41;
/** A header's key and value lengths, 5 bytes each at most. */
const HEADER_OVERHEAD_BYTES = 10;

export function recordBytes(key: string | null, value: Buffer, headers?: Record<string, string>): number {
  let n = RECORD_OVERHEAD_BYTES + value.length + (key === null ? 0 : Buffer.byteLength(key));
  for (const [k, v] of Object.entries(headers ?? {})) n += HEADER_OVERHEAD_BYTES + Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}
