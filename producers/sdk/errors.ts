/** The SDK's refusals: each says what happened to the event, so a caller knows whether to resend it. */

/** The event breaks a contract rule; it was not queued. */
export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

/** The event cannot fit in one record batch of its topic (max.message.bytes); it was not queued. Resending will not help. */
export class EventTooLargeError extends Error {
  override name = 'EventTooLargeError';
  constructor(readonly bytes: number, readonly limit: number, readonly topic: string, what: string) {
    super(`${what} takes ${bytes} bytes in a record batch; ${topic} takes at most ${limit} (its max.message.bytes). Make it smaller (attributes are the usual culprit), or raise the topic's max.message.bytes.`);
  }
}

/**
 * The producer's buffer stayed full for longer than maxBlockMs (Kafka slower than the
 * sender, or away): the event was not queued and is not on the topic. Send it again later.
 */
export class BufferFullError extends Error {
  override name = 'BufferFullError';
  constructor(readonly bufferBytes: number, readonly waitedMs: number) {
    super(`the producer buffer (${bufferBytes} bytes, CX_PRODUCER_BUFFER_BYTES) stayed full for ${waitedMs} ms (CX_PRODUCER_MAX_BLOCK_MS) while Kafka was slow or away; the event was not queued, send it again later`);
  }
}

/** The caller's signal fired before the event went out in a request: it was taken off the queue and is not on the topic. */
export class SendWithdrawnError extends Error {
  override name = 'SendWithdrawnError';
  constructor(reason: string) {
    super(`withdrawn before it was sent to Kafka (${reason}); it is not on the topic`);
  }
}

/** Kafka refused the record outright (it is not on the topic): the reason is Kafka's. */
export class KafkaRefusedError extends Error {
  override name = 'KafkaRefusedError';
  constructor(readonly type: string, topic: string, partition: number, message: string) {
    super(`Kafka refused the event for ${topic}/${partition}: ${type} (${message}); it is not on the topic`);
  }
}

export function abortReason(signal: AbortSignal): string {
  const r = signal.reason as unknown;
  return r instanceof Error ? r.message : typeof r === 'string' ? r : 'aborted';
}
