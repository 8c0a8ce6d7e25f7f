/**
 * One file row -> the events it carries, or the reasons it cannot be read. Pure:
 * event ids are derived from the file name, line and column, so replaying the same
 * file again yields the same ids (and the store keeps one row per id).
 */
import { uuidOf } from '../random.ts';
import type { z } from 'zod';
import {
  CHANNEL_SYMBOLS, describeIssues, LEG_SYMBOLS, OUTCOME_SYMBOLS, outcomeEventSchema, RATING_SCALE_SYMBOLS, STAGE_SYMBOLS, touchpointEventSchema,
  type OutcomeEvent, type TouchpointEvent,
} from '../../schemas/contracts.ts';
import type { Mapping, Source } from './mapping.ts';

export type Row = Record<string, unknown>;

export type RowEvent = { kind: 'touchpoint'; event: TouchpointEvent } | { kind: 'outcome'; event: OutcomeEvent };

export interface Rejection {
  line: number;
  /** The column, for one cell of a wide row. */
  column?: string;
  reason: string;
  key: string | null;
}

export interface RowResult {
  events: RowEvent[];
  rejections: Rejection[];
}

/** A stable id for a cell of a file: the same row of the same file gives the same id; another file's row does not. */
export function replayEventId(file: string, line: number, column: string, rowText: string): string {
  return uuidOf(`cx-replay:${file}:${line}:${column}:${rowText}`);
}

class CellError extends Error {}

export class RowReader {
  private readonly na: Set<string>;

  constructor(private readonly mapping: Mapping, private readonly file: string) {
    this.na = new Set(mapping.notApplicable);
  }

  private cell(row: Row, src: Source | undefined): string | undefined {
    if (src === undefined) return undefined;
    if (typeof src === 'object') return String(src.value);
    const v = row[src];
    // A JSON object leaves out what it lacks; a CSV row without the column is short.
    if (v === undefined && this.mapping.format === 'jsonl') return undefined;
    if (v === undefined) throw new CellError(`column "${src}" is missing from this row`);
    const text = v === null ? '' : String(v).trim();
    return this.na.has(text) ? undefined : text;
  }

  private required(row: Row, src: Source, field: string): string {
    const v = this.cell(row, src);
    if (v === undefined) throw new CellError(`${field} is empty`);
    return v;
  }

  private time(text: string): number {
    let t: number;
    if (this.mapping.timeFormat === 'iso') {
      // ISO 8601 only; without an offset the time is taken as UTC, never the machine's zone.
      const m = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(text);
      t = m ? Date.parse(m[1] ? text.replace(' ', 'T') : `${text.replace(' ', 'T')}${text.length > 10 ? 'Z' : 'T00:00:00Z'}`) : Number.NaN;
    } else {
      t = Number(text) * (this.mapping.timeFormat === 'epoch_s' ? 1000 : 1);
    }
    if (!Number.isFinite(t)) throw new CellError(`occurred_at: "${text}" is not ${this.mapping.timeFormat === 'iso' ? 'an ISO 8601 time' : `a number (${this.mapping.timeFormat})`}`);
    return Math.round(t);
  }

  private flag(text: string | undefined, field: string): boolean {
    if (text === undefined) return false;
    if (/^(true|yes|y|1)$/i.test(text)) return true;
    if (/^(false|no|n|0)$/i.test(text)) return false;
    throw new CellError(`${field}: "${text}" is not yes/no, true/false or 1/0`);
  }

  private symbol<T extends string>(text: string, symbols: readonly T[], field: string): T {
    const s = text.toUpperCase().replace(/[\s-]+/g, '_') as T;
    if (!symbols.includes(s)) throw new CellError(`${field}: "${text}" is not one of ${symbols.join(', ')}`);
    return s;
  }

  private number(text: string, field: string): number {
    const n = Number(text.replace(',', '.'));
    if (text === '' || !Number.isFinite(n)) throw new CellError(`${field}: "${text}" is not a number`);
    return n;
  }

  private checked<T>(schema: z.ZodType<T>, value: T): T {
    const r = schema.safeParse(value);
    if (!r.success) throw new CellError(describeIssues(r.error));
    return r.data;
  }

  /** `text`: the row as it stands in the file, which (with file and line) makes the event ids. */
  read(row: Row, line: number, text: string): RowResult {
    this.text = text;
    return this.mapping.layout.type === 'long' ? this.readLong(row, line) : this.readWide(row, line);
  }

  private text = '';

  private readLong(row: Row, line: number): RowResult {
    const f = (this.mapping.layout as Extract<Mapping['layout'], { type: 'long' }>).fields;
    let key: string | null = null;
    try {
      const customer_id = this.required(row, f.customer_id, 'customer_id');
      key = customer_id;
      const scale = this.cell(row, f.rating_scale);
      const value = this.cell(row, f.rating_value);
      if ((scale === undefined) !== (value === undefined) && value !== undefined) throw new CellError('rating_value is given but rating_scale is empty');
      const event: TouchpointEvent = {
        event_id: this.cell(row, f.event_id) ?? replayEventId(this.file, line, '', this.text),
        occurred_at: this.time(this.required(row, f.occurred_at, 'occurred_at')),
        customer_id,
        journey_id: this.cell(row, f.journey_id) ?? customer_id,
        channel: this.symbol(this.required(row, f.channel, 'channel'), CHANNEL_SYMBOLS, 'channel'),
        touchpoint: this.required(row, f.touchpoint, 'touchpoint'),
        leg: this.symbol(this.required(row, f.leg, 'leg'), LEG_SYMBOLS, 'leg'),
        stage: this.symbol(this.required(row, f.stage, 'stage'), STAGE_SYMBOLS, 'stage'),
        department: this.required(row, f.department, 'department'),
        moment_of_truth: this.flag(this.cell(row, f.moment_of_truth), 'moment_of_truth'),
        rating: scale !== undefined && value !== undefined ? { scale: this.symbol(scale, RATING_SCALE_SYMBOLS, 'rating_scale'), value: this.number(value, 'rating_value') } : null,
        outcome: this.symbol(this.cell(row, f.outcome) ?? 'OK', OUTCOME_SYMBOLS, 'outcome'),
        attributes: { ...this.mapping.attributes, source_file: this.file, source_line: String(line) },
      };
      return { events: [{ kind: 'touchpoint', event: this.checked(touchpointEventSchema, event) }], rejections: [] };
    } catch (err) {
      if (!(err instanceof CellError)) throw err;
      return { events: [], rejections: [{ line, reason: err.message, key }] };
    }
  }

  private readWide(row: Row, line: number): RowResult {
    const w = this.mapping.layout as Extract<Mapping['layout'], { type: 'wide' }>;
    const out: RowResult = { events: [], rejections: [] };
    let customer_id: string;
    let journey_id: string;
    let occurred_at: number;
    try {
      customer_id = this.required(row, w.customer_id, 'customer_id');
      journey_id = this.cell(row, w.journey_id) ?? `${this.file}:${line}`;
      occurred_at = this.time(this.required(row, w.occurred_at, 'occurred_at'));
    } catch (err) {
      if (!(err instanceof CellError)) throw err;
      return { events: [], rejections: [{ line, reason: err.message, key: null }] };
    }
    const attributes = { ...this.mapping.attributes, source_file: this.file, source_line: String(line) };
    for (const tp of w.touchpoints) {
      try {
        const text = this.cell(row, tp.column);
        if (text === undefined) continue;
        const event: TouchpointEvent = {
          event_id: replayEventId(this.file, line, tp.column, this.text),
          occurred_at, customer_id, journey_id,
          channel: tp.channel, touchpoint: tp.touchpoint, leg: tp.leg, stage: tp.stage, department: tp.department,
          moment_of_truth: tp.moment_of_truth,
          rating: { scale: tp.scale, value: this.number(text, tp.column) },
          outcome: 'OK',
          attributes,
        };
        out.events.push({ kind: 'touchpoint', event: this.checked(touchpointEventSchema, event) });
      } catch (err) {
        if (!(err instanceof CellError)) throw err;
        out.rejections.push({ line, column: tp.column, reason: err.message, key: customer_id });
      }
    }
    if (w.outcome) {
      try {
        const text = this.cell(row, w.outcome.column);
        if (text !== undefined) {
          const spec = Object.entries(w.outcome.values).find(([k]) => k.toLowerCase() === text.toLowerCase())?.[1];
          if (!spec) throw new CellError(`"${text}" is not one of ${Object.keys(w.outcome.values).join(', ')}`);
          const event: OutcomeEvent = {
            event_id: replayEventId(this.file, line, w.outcome.column, this.text), occurred_at, customer_id, journey_id,
            kind: spec.kind, rating: spec.rating ?? null, attributes,
          };
          out.events.push({ kind: 'outcome', event: this.checked(outcomeEventSchema, event) });
        }
      } catch (err) {
        if (!(err instanceof CellError)) throw err;
        out.rejections.push({ line, column: w.outcome.column, reason: err.message, key: customer_id });
      }
    }
    return out;
  }
}

/** Every column the mapping reads, to check against a CSV header. */
export function mappedColumns(mapping: Mapping): string[] {
  const cols: (Source | undefined)[] =
    mapping.layout.type === 'long'
      ? Object.values(mapping.layout.fields)
      : [mapping.layout.customer_id, mapping.layout.journey_id, mapping.layout.occurred_at, ...mapping.layout.touchpoints.map((t) => t.column), mapping.layout.outcome?.column];
  return cols.filter((c): c is string => typeof c === 'string');
}
