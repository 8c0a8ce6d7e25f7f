/**
 * How a file's rows become events: the mapping is a JSON file, validated by zod.
 * `long`: one row per event, columns mapped to fields. `wide`: one row per customer
 * or journey, one column per touchpoint rating, and optionally an outcome column.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CHANNEL_SYMBOLS, LEG_SYMBOLS, OUTCOME_KIND_SYMBOLS, RATING_SCALE_SYMBOLS, STAGE_SYMBOLS } from '../../schemas/contracts.ts';

/** A column name, or a constant for every row. */
const source = z.union([z.string().min(1), z.object({ value: z.union([z.string(), z.number(), z.boolean()]) }).strict()], {
  error: 'expected a column name, or {"value": <constant>}',
});

const ratingConstant = z.object({ scale: z.enum(RATING_SCALE_SYMBOLS), value: z.number() }).strict();

export const mappingSchema = z
  .object({
    format: z.enum(['csv', 'jsonl']),
    /** CSV only. */
    delimiter: z.string().length(1).default(','),
    /** How occurred_at is written: ISO 8601, or ms / seconds since the epoch. */
    timeFormat: z.enum(['iso', 'epoch_ms', 'epoch_s']).default('iso'),
    /** Cell values that mean "no answer": the cell is skipped. */
    notApplicable: z.array(z.string()).default(['']),
    /** Attributes added to every event, e.g. the survey wave. */
    attributes: z.record(z.string(), z.string()).default({}),
    layout: z.discriminatedUnion('type', [
      z
        .object({
          type: z.literal('long'),
          fields: z
            .object({
              event_id: source.optional(),
              occurred_at: source,
              customer_id: source,
              journey_id: source.optional(),
              channel: source,
              touchpoint: source,
              leg: source,
              stage: source,
              department: source,
              moment_of_truth: source.optional(),
              rating_scale: source.optional(),
              rating_value: source.optional(),
              outcome: source.optional(),
            })
            .strict(),
        })
        .strict(),
      z
        .object({
          type: z.literal('wide'),
          customer_id: source,
          journey_id: source.optional(),
          occurred_at: source,
          touchpoints: z
            .array(
              z
                .object({
                  column: z.string().min(1),
                  touchpoint: z.string().min(1),
                  channel: z.enum(CHANNEL_SYMBOLS),
                  leg: z.enum(LEG_SYMBOLS),
                  stage: z.enum(STAGE_SYMBOLS),
                  department: z.string().min(1),
                  scale: z.enum(RATING_SCALE_SYMBOLS),
                  moment_of_truth: z.boolean().default(false),
                })
                .strict(),
            )
            .min(1),
          outcome: z
            .object({
              column: z.string().min(1),
              values: z.record(z.string(), z.object({ kind: z.enum(OUTCOME_KIND_SYMBOLS), rating: ratingConstant.optional() }).strict()),
            })
            .strict()
            .optional(),
        })
        .strict(),
    ], { error: 'expected layout.type "long" or "wide"' }),
  })
  .strict();

export type Mapping = z.output<typeof mappingSchema>;
export type Source = z.output<typeof source>;

export class MappingError extends Error {
  override name = 'MappingError';
}

export function readMapping(file: string): Mapping {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MappingError(`${file}: not a readable JSON file: ${(err as Error).message}`);
  }
  const r = mappingSchema.safeParse(raw);
  if (!r.success) {
    throw new MappingError(`${file} is not a valid mapping:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`).join('\n')}`);
  }
  return r.data;
}
