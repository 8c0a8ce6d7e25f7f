/**
 * Replay's reading of files: line numbers, rejections and ids. The producer here
 * only records what it is handed; the Kafka path is tests/integration/replay.test.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mappingSchema } from '../../producers/replay/mapping.ts';
import { replayFile } from '../../producers/replay/replay.ts';
import type { TouchpointProducer } from '../../producers/touchpointProducer.ts';
import type { TouchpointEvent } from '../../schemas/contracts.ts';

const dir = mkdtempSync(join(tmpdir(), 'cx-replay-'));
const sent: TouchpointEvent[] = [];
const deadLetters: { value: string; headers?: Record<string, string> }[] = [];
const producer = {
  send: async (e: TouchpointEvent) => void sent.push(e),
  sendOutcome: async () => undefined,
  sendRaw: async (_t: string, _k: string | null, value: Buffer, headers?: Record<string, string>) => void deadLetters.push({ value: value.toString(), headers }),
  flush: async () => undefined,
} as unknown as TouchpointProducer;

const long = mappingSchema.parse({
  format: 'csv',
  layout: { type: 'long', fields: { occurred_at: 't', customer_id: 'c', channel: { value: 'WEB' }, touchpoint: { value: 'checkout' }, leg: { value: 'OPERATIONS' }, stage: { value: 'PURCHASE' }, department: { value: 'Digital' }, moment_of_truth: 'mot', rating_scale: { value: 'CSAT_5' }, rating_value: 'v', outcome: 'note' } },
});

async function replay(name: string, text: string, mapping = long) {
  sent.length = 0;
  deadLetters.length = 0;
  const file = join(dir, name);
  writeFileSync(file, text);
  return replayFile(file, mapping, { producer, deadLetterTopic: 'dlq' });
}

describe('replay rows', () => {
  it('rejects a blank customer id by its line, as every path does', async () => {
    const s = await replay('blank.csv', ['t,c,mot,v,note', '2026-10-01T10:00:00Z,   ,no,5,OK', '2026-10-01T10:00:00Z,C-9,no,5,OK', ''].join('\n'));
    expect(s.rejections).toEqual([expect.objectContaining({ line: 2, reason: expect.stringContaining('customer_id') })]);
    expect(sent.map((e) => e.customer_id)).toEqual(['C-9']);
  });

  it('reports a row by the line it starts on, also after multi-line quoted cells and blank lines, with CRLF', async () => {
    const csv = ['t,c,mot,v,note', '2026-10-01T10:00:00Z,C-1,no,5,OK', '', '2026-10-01T11:00:00Z,C-2,no,9,"ESCALATED', 'second line"', '2026-10-01T12:00:00Z,C-3,maybe,4,OK', ''].join('\r\n');
    const s = await replay('lines.csv', csv);
    expect(s.rejections.map((r) => [r.line, r.reason])).toEqual([
      [4, 'outcome: "ESCALATED\nsecond line" is not one of OK, FAILED, ABANDONED, ESCALATED'],
      [6, 'moment_of_truth: "maybe" is not yes/no, true/false or 1/0'],
    ]);
    expect(deadLetters.map((d) => [d.headers?.['cx-source-line'], d.value])).toEqual([
      ['4', '2026-10-01T11:00:00Z,C-2,no,9,"ESCALATED\nsecond line"'],
      ['6', '2026-10-01T12:00:00Z,C-3,maybe,4,OK'],
    ]);
    expect(sent.map((e) => e.customer_id)).toEqual(['C-1']);
  });

  it('reads times as ISO 8601 in UTC when no offset is given, and refuses other text', async () => {
    const s = await replay('times.csv', ['t,c,mot,v,note', '2026-10-01 10:00,C-1,,5,', '2026-10-01,C-2,,5,', '01/10/2026,C-3,,5,', '2026-10-01T10:00:00+02:00,C-4,,5,'].join('\n'));
    expect(sent.map((e) => new Date(e.occurred_at).toISOString())).toEqual(['2026-10-01T10:00:00.000Z', '2026-10-01T00:00:00.000Z', '2026-10-01T08:00:00.000Z']);
    expect(s.rejections).toEqual([{ line: 4, reason: 'occurred_at: "01/10/2026" is not an ISO 8601 time', key: 'C-3' }]);
  });

  it('gives the same row the same id on every replay, and different files different ids', async () => {
    const text = ['t,c,mot,v,note', '2026-10-01T10:00:00Z,C-1,,5,'].join('\n');
    await replay('a.csv', text);
    const first = sent[0]?.event_id;
    await replay('a.csv', text);
    expect(sent[0]?.event_id).toBe(first);
    await replay('a.csv', text.replace(',5,', ',4,'));
    expect(sent[0]?.event_id).not.toBe(first);
  });

  it('skips a byte-order mark on JSON Lines and treats missing keys as no answer', async () => {
    const jsonl = mappingSchema.parse({ ...long, format: 'jsonl' });
    const s = await replay('bom.jsonl', '\uFEFF{"t": "2026-10-01T10:00:00Z", "c": "C-1", "v": 4}\n', jsonl);
    expect(s.rejections).toEqual([]);
    expect(sent[0]).toMatchObject({ customer_id: 'C-1', moment_of_truth: false, outcome: 'OK', rating: { scale: 'CSAT_5', value: 4 } });
  });
});
