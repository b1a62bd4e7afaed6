import * as z from 'zod';

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
  })
  .strict();

export type DatasetConfig = z.infer<typeof DatasetConfigSchema>;
