import * as z from 'zod';
import { ColumnKind, DatasetStats, StatsPlan } from './engine';
import { Value } from '../tabular';

/** What a column is for in training (Contract A): a feature unless it is the id, the label or ignored. */
export const SCHEMA_ROLES = ['feature', 'id', 'label', 'ignore'] as const;
export type SchemaRole = (typeof SCHEMA_ROLES)[number];
export const PROBLEM_TYPES = ['binary_classification', 'multiclass_classification', 'regression'] as const;
export type SchemaProblemType = (typeof PROBLEM_TYPES)[number];

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
    /** What training makes of it. @default feature */
    role: z.enum(SCHEMA_ROLES).optional(),
  })
  .strict();
export type ColumnSchema = z.infer<typeof ColumnSchemaSchema>;

export const DatasetSchemaSchema = z
  .object({
    version: z.literal(1).default(1),
    /** `inferred` (by ValidateData), `champion` (the serving model's baseline) or `curated` (written by a person). */
    source: z.enum(['inferred', 'champion', 'curated']).default('curated'),
    labelColumn: z.string().optional(),
    /** Written by ValidateData into the run's schema (what the training job reads); optional in a curated one. */
    problemType: z.enum(PROBLEM_TYPES).optional(),
    idColumn: z.string().optional(),
    /**
     * Classification: the ordered classes (binary: the positive class second). The champion's are the
     * reference a new dataset's classes are checked against.
     */
    classes: z.array(z.string()).min(1).optional(),
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

export interface PlanOptions {
  readonly labelColumn?: string;
  /** The curated or the champion's schema: its kinds win over inferred ones, its numeric ranges are checked row by row. */
  readonly schema?: DatasetSchema;
  /** `dataset.columnRoles`: a kind here wins over everything. */
  readonly roles?: Readonly<Record<string, string>>;
  /** Regression: the label is numeric whatever it looks like (so that text in it is counted and located). */
  readonly problemType?: string;
}

/**
 * The plan every shard uses. A column's kind: its `dataset.columnRoles` kind, else the (curated or champion)
 * schema's type, else inferred; a regression label is numeric. Numeric columns carry the schema's range.
 */
export function planFor(columns: string[], sample: Value[][], opts: PlanOptions = {}): StatsPlan {
  const inferred = inferKinds(columns, sample);
  const label = opts.labelColumn && columns.includes(opts.labelColumn) ? opts.labelColumn : undefined;
  return {
    columns: columns.map((name, i) => {
      const expected = opts.schema?.columns.find((c) => c.name === name);
      const role = opts.roles?.[name];
      const kind: ColumnKind =
        name === label && opts.problemType === 'regression' ? 'numeric' : role === 'numeric' || role === 'categorical' || role === 'text' ? role : (expected?.type ?? inferred[i]);
      const range = kind === 'numeric' && expected && (expected.min !== undefined || expected.max !== undefined) ? { range: { min: expected.min, max: expected.max } } : {};
      return { name, kind, ...range };
    }),
    labelColumn: label,
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

export interface RunSchemaInput {
  /** The schema the data was validated against (curated, the champion's, or inferred): its entries are kept. */
  readonly expected: DatasetSchema;
  /** Inferred from this dataset's statistics: the columns the expected schema does not name, in data order. */
  readonly inferred: DatasetSchema;
  readonly problemType: SchemaProblemType;
  readonly labelColumn: string;
  readonly idColumn: string;
  /** Classification: the run's ordered classes. */
  readonly classes?: readonly string[];
  /** Role of every column (`roleOf`). */
  readonly role: (column: string) => SchemaRole;
}

/**
 * The run's schema.json (Contract A, docs/architecture.md): what training reads (problem type, label, id,
 * ordered classes, every column's type and role) on top of the schema the data was validated against, whose
 * entries (ranges, domains, `required`) it keeps; columns that schema does not name come from this dataset.
 */
export function runSchema(i: RunSchemaInput): DatasetSchema {
  const named = new Map(i.expected.columns.map((c) => [c.name, c]));
  const inData = new Set(i.inferred.columns.map((c) => c.name));
  const columns = [
    ...i.inferred.columns.map((c) => ({ ...(named.get(c.name) ?? c), type: c.type, role: i.role(c.name) })),
    ...i.expected.columns.filter((c) => !inData.has(c.name)).map((c) => ({ ...c, role: i.role(c.name) })),
  ];
  return {
    version: 1,
    source: i.expected.source,
    problemType: i.problemType,
    labelColumn: i.labelColumn,
    idColumn: i.idColumn,
    ...(i.classes && i.problemType !== 'regression' ? { classes: [...i.classes] } : {}),
    columns,
  };
}

/** `dataset.columnRoles` kinds applied to a schema's column types (an override wins over what a schema says). */
export function withKindOverrides(schema: DatasetSchema, roles: Readonly<Record<string, string>> | undefined): DatasetSchema {
  if (!roles) return schema;
  return {
    ...schema,
    columns: schema.columns.map((c) => {
      const r = roles[c.name];
      return r === 'numeric' || r === 'categorical' || r === 'text' ? { ...c, type: r } : c;
    }),
  };
}
