/**
 * What a failed produce request means for the records in it. kafkajs throws one error
 * for a whole request (the first partition error it finds), so the question answered
 * here is only: may the broker have written these records?
 */

/** The broker refused the batch and wrote none of it (Kafka's non-retriable produce errors). */
const NOT_WRITTEN = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_TIMESTAMP',
  'INVALID_REQUIRED_ACKS',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'INVALID_TOPIC_EXCEPTION',
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
]);

/** The producer's sequence state no longer matches the broker's: only a new producer id helps. */
const SEQUENCE_LOST = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING']);

export type ProduceFailure =
  /** Definitely not on the topic; `resetProducer` when the producer id must be replaced. */
  | { kind: 'not_written'; type: string; resetProducer: boolean }
  /** The broker already holds this exact batch (an earlier attempt was written). */
  | { kind: 'already_written' }
  /** Timeouts, dropped connections, a broker away, anything unknown: it may be on the topic. */
  | { kind: 'ambiguous' };

/** kafkajs wraps errors (KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded) around their cause. */
function protocolType(err: unknown): string | undefined {
  for (let e = err as { type?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    if (typeof e.type === 'string') return e.type;
  }
  return undefined;
}

export function classifyProduceError(err: unknown): ProduceFailure {
  const type = protocolType(err);
  if (type === 'DUPLICATE_SEQUENCE_NUMBER') return { kind: 'already_written' };
  if (type && NOT_WRITTEN.has(type)) return { kind: 'not_written', type, resetProducer: SEQUENCE_LOST.has(type) };
  return { kind: 'ambiguous' };
}

/** The innermost message: "Connection error: connect ECONNREFUSED 127.0.0.1:9092", not "Number of retries exceeded". */
export function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  for (let depth = 0; e?.cause && depth < 8; depth++) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
