/**
 * "Complete to": how a person is told up to which event time the results are final
 * (the lowest partition watermark, MetricsStats.completeTo). Before it, no result
 * changes any more: later events for that time are late and only flagged.
 */

const utc = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');

/** "complete to 10:41:00 UTC"; with the date when it is not today's (a backfill). */
export function completeToText(completeTo: number | null, now = Date.now()): string {
  if (completeTo === null || completeTo <= 0) return 'complete to: not yet (a partition has no checkpoint)';
  const at = utc(completeTo);
  return `complete to ${at.slice(0, 10) === utc(now).slice(0, 10) ? at.slice(11) : at}`;
}

/** The same figure for log lines and JSON: an ISO time, or null. */
export const completeToIso = (completeTo: number | null): string | null => (completeTo === null || completeTo <= 0 ? null : new Date(completeTo).toISOString());
