import * as z from 'zod';

/** Every anomaly rule ValidateData applies (docs/validation.md describes each). */
export const RULE_IDS = [
  'missing_column',
  'new_column',
  'wrong_type',
  'out_of_range',
  'non_finite',
  'unexpected_category',
  'missing_share',
  'empty_text',
  'too_few_rows',
  'row_count_change',
  'label_missing',
  'single_class',
  'class_imbalance',
  'label_leakage',
  'duplicate_rows',
  'drift_categorical',
  'drift_numeric',
  'distribution_shift',
] as const;
export type RuleId = (typeof RULE_IDS)[number];

/** `off` disables a rule (for the whole dataset, or for one column). */
export const SeveritySchema = z.enum(['block', 'warn', 'off']);
export type Severity = z.infer<typeof SeveritySchema>;

const ruleSeverities = z.partialRecord(z.enum(RULE_IDS), SeveritySchema);

/**
 * Data validation: which anomalies block a run and the thresholds they use. Owned by ValidateData.
 * Shares are in [0, 1]. The defaults block what makes a training run worthless (broken upstream, wrong
 * types, leakage, a single class) and warn on what may be real change (drift, row-count swings).
 */
export const ValidationConfigSchema = z
  .object({
    /**
     * A curated schema (JSON, docs/validation.md) that overrides the champion's and the inferred one. Relative
     * to the directory of the config file, like `training.sourceDir`; read and checked at synth and shipped as
     * an S3 file asset. @default - none: `config/schema.json` in the artifacts bucket, else the champion's
     * schema, else one inferred from the data
     */
    schemaFile: z.string().min(1).optional(),
    /** Fewer rows than this in a new dataset blocks the run (too_few_rows). */
    minRows: z.number().int().min(1).default(100),
    /** Rows may change by at most this factor against the champion's dataset (row_count_change). */
    maxRowCountRatio: z.number().gt(1).default(3),
    /** A column's missing share may reach max(this, baseline share + maxMissingIncrease) (missing_share). */
    maxMissingShare: z.number().min(0).max(1).default(0.2),
    maxMissingIncrease: z.number().min(0).max(1).default(0.1),
    /** Share of values that are not of the column's type (wrong_type). */
    maxTypeErrorShare: z.number().min(0).max(1).default(0),
    /** Share of numeric values outside the schema's [min, max] (out_of_range). */
    maxOutOfRangeShare: z.number().min(0).max(1).default(0.01),
    /** Share of categorical values outside the schema's domain (unexpected_category). */
    maxNewCategoryShare: z.number().min(0).max(1).default(0.05),
    /** Share of blank or missing text values in a text column (empty_text). */
    maxEmptyTextShare: z.number().min(0).max(1).default(0.5),
    /** Share of rows without a label (label_missing). */
    maxLabelMissingShare: z.number().min(0).max(1).default(0),
    /** The rarest class must hold at least this share (class_imbalance). */
    minClassShare: z.number().min(0).max(0.5).default(0.01),
    /** A feature equal to the label on at least this share of rows is leakage (label_leakage). */
    leakageShare: z.number().gt(0).max(1).default(0.999),
    /** Estimated share of rows that repeat another row (duplicate_rows). */
    maxDuplicateShare: z.number().min(0).max(1).default(0.1),
    /** Drift against the champion's baseline statistics. */
    drift: z
      .object({
        /** L-infinity distance between category frequencies (drift_categorical). */
        categoricalLinf: z.number().min(0).max(1).default(0.2),
        /** Jensen-Shannon divergence (base 2, in [0, 1]) over the baseline's deciles (drift_numeric). */
        numericJs: z.number().min(0).max(1).default(0.1),
        /** |mean - baseline mean| in baseline standard deviations (distribution_shift). */
        meanShiftStd: z.number().gt(0).default(3),
        /** std / baseline std outside [1/r, r] (distribution_shift). */
        stdRatio: z.number().gt(1).default(5),
      })
      .strict()
      .default({ categoricalLinf: 0.2, numericJs: 0.1, meanShiftStd: 3, stdRatio: 5 }),
    /** Severity per rule id, overriding the built-in default (e.g. `{ "drift_numeric": "block" }`). */
    rules: ruleSeverities.default({}),
    /** Severity per column and rule id, overriding `rules` (e.g. `{ "notes": { "empty_text": "off" } }`). */
    columns: z.record(z.string(), ruleSeverities).default({}),
  })
  .strict();

export type ValidationConfig = z.infer<typeof ValidationConfigSchema>;
