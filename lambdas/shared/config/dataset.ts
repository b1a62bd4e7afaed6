import * as z from 'zod';

/** What the built-in training script and the statistics may make of a column (docs/configuration/dataset.md). */
export const COLUMN_ROLES = ['numeric', 'categorical', 'text', 'ignore'] as const;
export type ColumnRole = (typeof COLUMN_ROLES)[number];

/** How landing-zone files are read and how a dataset snapshot is split. Owned by Ingest. */
export const DatasetConfigSchema = z
  .object({
    /** Format of the files that land in `incoming/`. Gzipped files (`.gz`) are read transparently. */
    format: z.enum(['csv', 'jsonl']).default('csv'),
    /** Column holding the label the model learns. */
    labelColumn: z.string().min(1).default('churned'),
    /** Column that identifies a row; the train/validation split hashes it. Without one, the whole row is hashed. */
    idColumn: z.string().min(1).optional(),
    /** Columns whose values define slices (evaluated and gated one by one, e.g. `country`). */
    sliceColumns: z.array(z.string().min(1)).default([]),
    /** Share of rows that go to the validation split (0 < f < 1). */
    validationFraction: z.number().gt(0).lt(1).default(0.2),
    /** Salt of the split hash: change it to draw a different (still deterministic) split. */
    splitSalt: z.string().default('relearn'),
    /** Rows per written part file; parts are the shards that statistics run on in parallel. */
    rowsPerPart: z.number().int().min(1000).default(250000),
    /**
     * Classification only: the ordered class list (labels compared as trimmed strings; `1` and `1.0` are one
     * class when every label is a number). Binary: exactly two, the positive class second.
     * @default - the champion's classes, else the dataset's, sorted, pinned in the run's schema
     */
    classes: z
      .array(z.string().trim().min(1, 'a class name must not be empty'))
      .min(2, 'name at least two classes')
      .refine((c) => new Set(c).size === c.length, 'each class may be listed once')
      .optional(),
    /**
     * What a column is, overriding what is inferred (and what a schema says): `numeric`, `categorical`,
     * `text`, or `ignore` (kept in the data, left out of training and of the column checks).
     * @default - inferred from the data (or the curated or champion schema)
     */
    columnRoles: z.record(z.string().min(1), z.enum(COLUMN_ROLES)).optional(),
  })
  .strict();

export type DatasetConfig = z.infer<typeof DatasetConfigSchema>;

/**
 * The checks between `dataset` and `evaluation.problemType` (called by the whole config's schema): classes
 * only for classification, exactly two for binary; no role for the label or the id column.
 */
export function checkDatasetAgainstProblemType(d: DatasetConfig, problemType: string, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path: ['dataset', ...path], message });
  if (d.classes && problemType === 'regression') issue(['classes'], 'classes apply to classification only, but evaluation.problemType is regression');
  if (d.classes && problemType === 'binary_classification' && d.classes.length !== 2) {
    issue(['classes'], `binary_classification needs exactly 2 classes (the positive one second), but got ${d.classes.length}: use multiclass_classification for more`);
  }
  for (const [column, role] of Object.entries(d.columnRoles ?? {})) {
    if (column === d.labelColumn) issue(['columnRoles', column], `"${column}" is the label column (dataset.labelColumn): its role is fixed, but got "${role}"`);
    if (column === d.idColumn) issue(['columnRoles', column], `"${column}" is the id column (dataset.idColumn): its role is fixed, but got "${role}"`);
  }
}
