/**
 * Replays a CSV or JSON Lines file into Kafka through a mapping. Every row ends up
 * somewhere: as events, or as a rejection (line, column, reason) that is also sent
 * to the dead-letter topic with the row's text. Nothing is dropped silently.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { Transform } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { parse } from 'csv-parse';
import type { TouchpointProducer } from '../touchpointProducer.ts';
import type { Mapping } from './mapping.ts';
import { MappingError } from './mapping.ts';
import { mappedColumns, RowReader, type Rejection, type Row } from './rows.ts';

export interface ReplaySummary {
  file: string;
  rowsRead: number;
  touchpointEvents: number;
  outcomeEvents: number;
  rejections: Rejection[];
  /** Sends Kafka did not acknowledge. */
  failures: number;
}

export interface ReplayOptions {
  producer: TouchpointProducer;
  deadLetterTopic: string;
  /** Called now and then with bytes read so far and the file's size. */
  onProgress?: (bytes: number, total: number, summary: ReplaySummary) => void;
}

type RawRow = { row: Row | null; line: number; text: string; error?: string };

/** CRLF -> LF, so line counting works the same for files from every system. */
function lfLines(): Transform {
  let carry = '';
  // A decoder, not chunk.toString(): a character can be split across two chunks.
  const decoder = new StringDecoder('utf8');
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const text = carry + decoder.write(chunk);
      carry = text.endsWith('\r') ? '\r' : '';
      done(null, (carry ? text.slice(0, -1) : text).replace(/\r\n/g, '\n'));
    },
    flush(done) {
      done(null, carry + decoder.end());
    },
  });
}

async function* csvRows(file: string, mapping: Mapping, count: (n: number) => void): AsyncGenerator<RawRow> {
  const input = createReadStream(file);
  input.on('data', (chunk) => count(chunk.length));
  const skipped: RawRow[] = [];
  const parser = input.pipe(lfLines()).pipe(
    parse({ columns: true, delimiter: mapping.delimiter, bom: true, info: true, raw: true, relax_column_count: true, skip_empty_lines: true, skip_records_with_error: true }),
  );
  parser.on('skip', (err: Error & { lines?: number; raw?: string }) => skipped.push({ row: null, line: err.lines ?? 0, text: err.raw ?? '', error: `not valid CSV: ${err.message}` }));
  let headerChecked = false;
  for await (const r of parser as AsyncIterable<{ record: Row; info: { lines: number; columns?: { name: string }[] }; raw: string }>) {
    if (!headerChecked) {
      headerChecked = true;
      const header = Object.keys(r.record);
      const missing = mappedColumns(mapping).filter((c) => !header.includes(c));
      if (missing.length) {
        input.destroy();
        throw new MappingError(`${basename(file)} has no column ${missing.map((c) => `"${c}"`).join(', ')}, which the mapping reads. Its columns are: ${header.join(', ')}. Check the mapping, or the delimiter ("${mapping.delimiter}").`);
      }
    }
    while (skipped.length) yield skipped.shift() as RawRow;
    // info.lines is where the record ends; count back over its own line breaks to where it starts.
    const text = r.raw.replace(/^\n+/, '').replace(/\n$/, '');
    yield { row: r.record, line: r.info.lines - (text.match(/\n/g)?.length ?? 0), text };
  }
  while (skipped.length) yield skipped.shift() as RawRow;
}

async function* jsonlRows(file: string, count: (n: number) => void): AsyncGenerator<RawRow> {
  const input = createReadStream(file);
  input.on('data', (chunk) => count(chunk.length));
  let line = 0;
  for await (let text of createInterface({ input, crlfDelay: Infinity })) {
    line++;
    if (line === 1) text = text.replace(/^\uFEFF/, '');
    if (text.trim() === '') continue;
    try {
      const v = JSON.parse(text) as unknown;
      if (v === null || typeof v !== 'object' || Array.isArray(v)) yield { row: null, line, text, error: 'not a JSON object' };
      else yield { row: v as Row, line, text };
    } catch (err) {
      yield { row: null, line, text, error: `not JSON: ${(err as Error).message}` };
    }
  }
}

export async function replayFile(file: string, mapping: Mapping, o: ReplayOptions): Promise<ReplaySummary> {
  const name = basename(file);
  if (!existsSync(file)) throw new Error(`${file}: no such file`);
  const total = statSync(file).size;
  const reader = new RowReader(mapping, name);
  const summary: ReplaySummary = { file: name, rowsRead: 0, touchpointEvents: 0, outcomeEvents: 0, rejections: [], failures: 0 };
  let bytes = 0;
  const count = (n: number) => (bytes += n);
  let pending: Promise<void>[] = [];
  const track = (p: Promise<void>) => pending.push(p.catch(() => void summary.failures++));
  const reject = (r: Rejection, text: string) => {
    summary.rejections.push(r);
    track(
      o.producer.sendRaw(o.deadLetterTopic, r.key, Buffer.from(text), {
        'cx-reason': r.reason,
        'cx-reason-code': 'invalid',
        'cx-step': 'replay',
        'cx-source-file': name,
        'cx-source-line': String(r.line),
        ...(r.column ? { 'cx-source-column': r.column } : {}),
      }),
    );
  };

  let lastProgress = 0;
  const rows = mapping.format === 'csv' ? csvRows(file, mapping, count) : jsonlRows(file, count);
  for await (const raw of rows) {
    summary.rowsRead++;
    if (!raw.row) reject({ line: raw.line, reason: raw.error ?? 'unreadable', key: null }, raw.text);
    else {
      const result = reader.read(raw.row, raw.line, raw.text);
      for (const r of result.rejections) reject(r, raw.text);
      for (const e of result.events) {
        if (e.kind === 'touchpoint') {
          summary.touchpointEvents++;
          track(o.producer.send(e.event));
        } else {
          summary.outcomeEvents++;
          track(o.producer.sendOutcome(e.event));
        }
      }
    }
    if (pending.length >= 5000) {
      await Promise.all(pending);
      pending = [];
    }
    if (o.onProgress && Date.now() - lastProgress > 200) {
      lastProgress = Date.now();
      o.onProgress(bytes, total, summary);
    }
  }
  await o.producer.flush();
  await Promise.all(pending);
  o.onProgress?.(total, total, summary);
  return summary;
}
