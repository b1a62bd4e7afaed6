import * as z from 'zod';

/**
 * Metric names Evaluate computes (docs/configuration/evaluation.md). Classification metrics use the
 * score as P(positive) and, where they need a yes/no, the configured threshold.
 */
export const CLASSIFICATION_METRICS = ['roc_auc', 'pr_auc', 'accuracy', 'precision', 'recall', 'specificity', 'f1', 'positive_rate', 'log_loss', 'brier'] as const;
export const REGRESSION_METRICS = ['rmse', 'mae', 'r2'] as const;
export type ClassificationMetric = (typeof CLASSIFICATION_METRICS)[number];
export type RegressionMetric = (typeof REGRESSION_METRICS)[number];
export type MetricName = ClassificationMetric | RegressionMetric;
/** Metrics where a smaller value is better: a limit on them is a ceiling, a regression is an increase. */
export const LOWER_IS_BETTER: ReadonlySet<string> = new Set(['log_loss', 'brier', 'rmse', 'mae']);

const metricName = z.enum([...CLASSIFICATION_METRICS, ...REGRESSION_METRICS]);
const limits = z.partialRecord(metricName, z.number());
/** How a difference whose confidence interval straddles the tolerance ("within noise") is judged. */
const withinNoise = z.enum(['pass', 'fail']);

const noRegression = z
  .object({
    metrics: z.array(metricName).min(1),
    /** Largest tolerated worsening vs the champion, in the metric's own units. */
    tolerance: z.number().min(0).default(0),
    /** `fail`: the candidate must be shown no worse (CI clear of the tolerance); `pass`: fail only when shown worse. */
    withinNoise: withinNoise.default('fail'),
  })
  .strict();

/**
 * The deployment gate. Every configured check must pass for a deploy. When `gates` is absent, the safe
 * default of DEFAULT_GATES applies (never "always deploy").
 */
export const GatesSchema = z
  .object({
    /** Absolute floors, e.g. `{ "roc_auc": 0.75 }`. */
    min: limits.optional(),
    /** Absolute ceilings, e.g. `{ "log_loss": 0.5 }`. */
    max: limits.optional(),
    /** No worsening vs the champion on these metrics (skipped on a first run, which the decision says). */
    noRegression: noRegression.optional(),
    /** Per-slice checks, for slices with at least `minRows` rows (smaller slices are reported, not gated). */
    slices: z
      .object({
        minRows: z.number().int().min(1).default(200),
        min: limits.optional(),
        max: limits.optional(),
        noRegression: noRegression.extend({ withinNoise: withinNoise.default('pass') }).optional(),
      })
      .strict()
      .optional(),
    /** Fairness: the gap (largest - smallest) of a metric between the groups of each column. */
    bias: z
      .object({
        columns: z.array(z.string().min(1)).min(1),
        metrics: z.array(metricName).min(1).default(['recall', 'positive_rate']),
        maxGap: z.number().min(0).default(0.1),
        /** Groups smaller than this are reported but left out of the gap. */
        minRows: z.number().int().min(1).default(100),
      })
      .strict()
      .optional(),
  })
  .strict();
export type GatesConfig = z.infer<typeof GatesSchema>;

/** Champion vs challenger evaluation and the deployment gate. Owned by Evaluate/Register. */
export const EvaluationConfigSchema = z
  .object({
    problemType: z.enum(['binary_classification', 'multiclass_classification', 'regression']).default('binary_classification'),
    /** Metric that headlines the report. @default - `roc_auc` for classification, `rmse` for regression */
    primaryMetric: metricName.optional(),
    /** Decision threshold on the candidate's score for classification metrics. */
    threshold: z.number().gt(0).lt(1).default(0.5),
    /** `auto`: a passing candidate is Approved and deployed; `manual`: it waits as PendingManualApproval. */
    approval: z.enum(['auto', 'manual']).default('auto'),
    /** Confidence level of every interval (and so of what counts as "within noise"). */
    confidence: z.number().gt(0.5).lt(1).default(0.95),
    /** Slice by each slice column and by every pair of them (`false`: single columns only). */
    sliceCrosses: z.boolean().default(true),
    /** Largest number of slices reported; the biggest are kept, the rest counted. */
    maxSlices: z.number().int().min(1).max(20000).default(2000),
    /** @default - DEFAULT_GATES for the problem type */
    gates: GatesSchema.optional(),
  })
  .strict()
  .superRefine((e, ctx) => {
    const allowed: readonly string[] = e.problemType === 'regression' ? REGRESSION_METRICS : CLASSIFICATION_METRICS;
    const check = (name: string | undefined, path: (string | number)[]) => {
      if (name !== undefined && !allowed.includes(name)) {
        ctx.addIssue({ code: 'custom', path, message: `metric "${name}" does not apply to ${e.problemType} (one of: ${allowed.join(', ')})` });
      }
    };
    check(e.primaryMetric, ['primaryMetric']);
    const g = e.gates;
    if (!g) return;
    for (const k of Object.keys(g.min ?? {})) check(k, ['gates', 'min', k]);
    for (const k of Object.keys(g.max ?? {})) check(k, ['gates', 'max', k]);
    g.noRegression?.metrics.forEach((m, i) => check(m, ['gates', 'noRegression', 'metrics', i]));
    for (const k of Object.keys(g.slices?.min ?? {})) check(k, ['gates', 'slices', 'min', k]);
    for (const k of Object.keys(g.slices?.max ?? {})) check(k, ['gates', 'slices', 'max', k]);
    g.slices?.noRegression?.metrics.forEach((m, i) => check(m, ['gates', 'slices', 'noRegression', 'metrics', i]));
    g.bias?.metrics.forEach((m, i) => check(m, ['gates', 'bias', 'metrics', i]));
  })
  .transform((e) => ({ ...e, primaryMetric: (e.primaryMetric ?? (e.problemType === 'regression' ? 'rmse' : 'roc_auc')) as MetricName }));

export type EvaluationConfig = z.infer<typeof EvaluationConfigSchema>;

/**
 * The gate used when the config sets none: a sanity floor (better than chance / than predicting the mean),
 * no significant worsening of the primary metric overall, and no clear worsening in any slice of 200+ rows.
 */
export function defaultGates(problemType: EvaluationConfig['problemType'], primaryMetric: MetricName): GatesConfig {
  return {
    min: problemType === 'regression' ? { r2: 0 } : { roc_auc: 0.6 },
    noRegression: { metrics: [primaryMetric], tolerance: 0.005, withinNoise: 'fail' },
    slices: { minRows: 200, noRegression: { metrics: [primaryMetric], tolerance: 0.02, withinNoise: 'pass' } },
  };
}
