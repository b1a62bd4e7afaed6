import * as z from 'zod';
import { ColumnKind, DatasetStats, StatsPlan } from './engine';
import { Value } from '../tabular';

/**
 * The dataset schema: inferred from the first good dataset, stored with each run (`schema.json`), promoted
 * with the champion, and overridable by a curated `config/schema.json` in the artifacts bucket.
 */
export const ColumnSchemaSchema = z
  .object({
    name: z.string().min(1),
    type: z.enum(['numeric', 'categorical', 'text']),
    /** A missing required column blocks the run. @default true */
    required: z.boolean().default(true),
    /** Expected share of missing values (from the baseline); the missing-share rule compares against it. */
    missingShare: z.number().min(0).max(1).optional(),
    /** Numeric range [min, max] values must fall in. */
    min: z.number().optional(),
    max: z.number().optional(),
    /** The categories a categorical column is expected to take. */
    domain: z.array(z.string()).optional(),
  })
  .strict();
export type ColumnSchema = z.infer<typeof ColumnSchemaSchema>;

export const DatasetSchemaSchema = z
  .object({
    version: z.literal(1).default(1),
    /** `inferred` (by ValidateData), `champion` (the serving model's baseline) or `curated` (written by a person). */
    source: z.enum(['inferred', 'champion', 'curated']).default('curated'),
    labelColumn: z.string().optional(),
    columns: z.array(ColumnSchemaSchema),
  })
  .strict();
export type DatasetSchema = z.infer<typeof DatasetSchemaSchema>;

const NUMBER_LIKE = /^\s*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?nan|[+-]?inf(inity)?)\s*$/i;
const MISSING_LIKE = /^\s*(na|n\/a|null|none)?\s*$/i;

const NUMERIC_SHARE = 0.9;

/**
 * Column kinds from a sample of rows: numeric when at least 90 % of present values are numbers (or NaN/Inf);
 * text when values average three or more words; categorical when values repeat (at most 50 distinct, or at
 * most 20 % distinct, and short); text otherwise.
 */
export function inferKinds(columns: string[], rows: Value[][]): ColumnKind[] {
  return columns.map((_, i) => {
    const present = rows.map((r) => r[i]).filter((v): v is string => v !== null && !MISSING_LIKE.test(v));
    // Numeric when nearly every present value is a number: the rest are then type errors, not a new kind.
    const numeric = present.filter((v) => NUMBER_LIKE.test(v)).length;
    if (numeric > 0 && numeric >= NUMERIC_SHARE * present.length) return 'numeric';
    const all = rows.map((r) => r[i]).filter((v): v is string => v !== null && v.trim() !== '');
    if (all.length === 0) return 'categorical';
    const distinct = new Set(all).size;
    const meanLength = all.reduce((s, v) => s + v.length, 0) / all.length;
    // Phrases of three or more words are text even when they repeat (templated messages, short reviews).
    const meanWords = all.reduce((s, v) => s + v.trim().split(/\s+/).length, 0) / all.length;
    if (meanWords >= 3) return 'text';
    return (distinct <= 50 || distinct / all.length <= 0.2) && meanLength <= 40 ? 'categorical' : 'text';
  });
}

/** The plan every shard uses: the curated or champion schema's kinds where it names a column, else inferred ones. */
export function planFor(columns: string[], sample: Value[][], labelColumn: string | undefined, schema?: DatasetSchema): StatsPlan {
  const inferred = inferKinds(columns, sample);
  return {
    columns: columns.map((name, i) => ({ name, kind: schema?.columns.find((c) => c.name === name)?.type ?? inferred[i] })),
    labelColumn: labelColumn && columns.includes(labelColumn) ? labelColumn : undefined,
  };
}

/** Categories that make up a domain: at most this many, and only when the frequent-value counts are exact. */
const MAX_DOMAIN = 100;

/** A schema inferred from merged statistics: types, required columns, observed ranges and categorical domains. */
export function inferSchema(stats: DatasetStats, labelColumn?: string): DatasetSchema {
  return {
    version: 1,
    source: 'inferred',
    ...(labelColumn ? { labelColumn } : {}),
    columns: stats.columns.map((c) => {
      const col: ColumnSchema = { name: c.name, type: c.kind, required: true, missingShare: c.count ? round(c.missing / c.count) : 0 };
      if (c.moments && c.moments.n > 0) {
        col.min = c.moments.min;
        col.max = c.moments.max;
      }
      if (c.kind === 'categorical' && c.freq?.exact && c.freq.items.size <= MAX_DOMAIN) {
        col.domain = c.freq.top().map((e) => e.value).sort();
      }
      return col;
    }),
  };
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;
