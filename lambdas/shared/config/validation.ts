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
  'label_type',
  'single_class',
  'unexpected_class',
  'missing_class',
  'class_imbalance',
  'rare_class',
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

/** Where drift starts to warn: real change a retrain may be for (docs/configuration/validation.md). */
export const DRIFT_WARN = { categoricalLinf: 0.2, numericJs: 0.1, meanShiftStd: 1, stdRatio: 2 } as const;
/**
 * Where drift blocks: a clearly broken column, several times the warning level (docs/configuration/validation.md
 * gives the reasoning: a JS of 0.3 is a normal column's mean moved by 1.5 std; half of the rows changed
 * category; the whole distribution moved 3 std away or its spread changed fivefold, as a unit change does).
 */
export const DRIFT_BLOCK = { categoricalLinf: 0.5, numericJs: 0.3, meanShiftStd: 3, stdRatio: 5 } as const;
export type DriftMeasure = keyof typeof DRIFT_WARN;

/** The four drift measures, as a schema of optional numbers (`nullable`: a blocking threshold may be off). */
function driftMeasures(nullable: boolean) {
  const n = <T extends z.ZodNumber>(t: T) => (nullable ? t.nullable() : t).optional();
  return z
    .object({
      categoricalLinf: n(z.number().min(0).max(1)),
      numericJs: n(z.number().min(0).max(1)),
      meanShiftStd: n(z.number().gt(0)),
      stdRatio: n(z.number().gt(1)),
    })
    .strict();
}
/** Dataset-level blocking thresholds: every measure present (a number, or null for "never blocks"). */
const driftBlock = driftMeasures(true).transform((b) => ({
  categoricalLinf: b.categoricalLinf === undefined ? DRIFT_BLOCK.categoricalLinf : b.categoricalLinf,
  numericJs: b.numericJs === undefined ? DRIFT_BLOCK.numericJs : b.numericJs,
  meanShiftStd: b.meanShiftStd === undefined ? DRIFT_BLOCK.meanShiftStd : b.meanShiftStd,
  stdRatio: b.stdRatio === undefined ? DRIFT_BLOCK.stdRatio : b.stdRatio,
}));
/** Per column: only what is set (the rest falls back to the dataset-level thresholds). */
const driftColumn = driftMeasures(false).extend({ block: driftMeasures(true).optional() }).strict();

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
    /**
     * Drift against the champion's baseline statistics: each rule warns above its warning threshold (the
     * fields below; the rule's severity in `rules` / `columns` applies there) and blocks above its blocking
     * threshold (`block`), unless the rule is `off`.
     */
    drift: z
      .object({
        /** L-infinity distance between category frequencies (drift_categorical). */
        categoricalLinf: z.number().min(0).max(1).default(DRIFT_WARN.categoricalLinf),
        /** Jensen-Shannon divergence (base 2, in [0, 1]) over the baseline's deciles (drift_numeric). */
        numericJs: z.number().min(0).max(1).default(DRIFT_WARN.numericJs),
        /** |mean - baseline mean| in baseline standard deviations (distribution_shift). */
        meanShiftStd: z.number().gt(0).default(DRIFT_WARN.meanShiftStd),
        /** std / baseline std outside [1/r, r] (distribution_shift). */
        stdRatio: z.number().gt(1).default(DRIFT_WARN.stdRatio),
        /** Blocking thresholds, same measures; `null` never blocks. A blocking threshold below the warning one is raised to it. */
        block: driftBlock.default({ ...DRIFT_BLOCK }),
        /** Per column: warning and blocking thresholds overriding the ones above, e.g. `{ "price": { "block": { "numericJs": 0.5 } } }`. */
        columns: z.record(z.string(), driftColumn).default({}),
      })
      .strict()
      .default({ ...DRIFT_WARN, block: DRIFT_BLOCK, columns: {} }),
    /** Severity per rule id, overriding the built-in default (e.g. `{ "drift_numeric": "block" }`). */
    rules: ruleSeverities.default({}),
    /** Severity per column and rule id, overriding `rules` (e.g. `{ "notes": { "empty_text": "off" } }`). */
    columns: z.record(z.string(), ruleSeverities).default({}),
  })
  .strict();

export type ValidationConfig = z.infer<typeof ValidationConfigSchema>;

/** A drift measure's thresholds for one column, and the config field each comes from (named in messages). */
export interface DriftThreshold {
  readonly warn: number;
  readonly warnField: string;
  /** Never below `warn`; null: never blocks. */
  readonly block: number | null;
  readonly blockField: string;
}

/** The warning and blocking thresholds of `measure` for `column`: the column's own, else the dataset's. */
export function driftThreshold(config: ValidationConfig, column: string, measure: DriftMeasure): DriftThreshold {
  const own = config.drift.columns[column];
  const path = `drift.columns.${column}`;
  const warnOwn = own?.[measure];
  const warn = warnOwn ?? config.drift[measure];
  const blockOwn = own?.block?.[measure];
  const block = blockOwn !== undefined ? blockOwn : config.drift.block[measure];
  return {
    warn,
    warnField: warnOwn !== undefined ? `${path}.${measure}` : `drift.${measure}`,
    block: block === null ? null : Math.max(block, warn),
    blockField: blockOwn !== undefined ? `${path}.block.${measure}` : `drift.block.${measure}`,
  };
}
