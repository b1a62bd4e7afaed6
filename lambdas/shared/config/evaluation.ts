import * as z from 'zod';

/** The kinds of model relearn evaluates (docs/evaluation.md). */
export const PROBLEM_TYPES = ['binary_classification', 'multiclass_classification', 'regression'] as const;
export type ProblemType = (typeof PROBLEM_TYPES)[number];

/**
 * Metric names Evaluate computes, per problem type (docs/configuration/evaluation.md). Binary metrics use the
 * score as P(positive class) and, where they need a yes/no, the configured threshold; multiclass metrics use
 * the K class probabilities and, where they need a predicted class, the most probable one.
 */
export const BINARY_METRICS = ['roc_auc', 'pr_auc', 'accuracy', 'precision', 'recall', 'specificity', 'f1', 'positive_rate', 'log_loss', 'brier'] as const;
/** The binary metrics under their former name. */
export const CLASSIFICATION_METRICS = BINARY_METRICS;
export const MULTICLASS_METRICS = ['accuracy', 'f1_macro', 'f1_weighted', 'precision_macro', 'recall_macro', 'roc_auc_ovr', 'log_loss'] as const;
/** Multiclass, one class at a time: `recall:<class name>` (one-vs-rest for roc_auc). */
export const PER_CLASS_METRICS = ['precision', 'recall', 'f1', 'roc_auc'] as const;
export const REGRESSION_METRICS = ['rmse', 'mae', 'r2'] as const;
export type BinaryMetric = (typeof BINARY_METRICS)[number];
export type MulticlassMetric = (typeof MULTICLASS_METRICS)[number];
export type RegressionMetric = (typeof REGRESSION_METRICS)[number];
/** A metric name: one of the lists above, or a per-class name such as `recall:setosa` (multiclass). */
export type MetricName = string;

/** The metric names of each problem type (per-class names aside). */
export const METRICS: Readonly<Record<ProblemType, readonly string[]>> = {
  binary_classification: BINARY_METRICS,
  multiclass_classification: MULTICLASS_METRICS,
  regression: REGRESSION_METRICS,
};
/** Metrics where a smaller value is better: a limit on them is a ceiling, a regression is an increase. */
export const LOWER_IS_BETTER: ReadonlySet<string> = new Set(['log_loss', 'brier', 'rmse', 'mae']);
/** The metric that headlines the report and that the default gate compares, per problem type. */
export const DEFAULT_PRIMARY_METRIC: Readonly<Record<ProblemType, string>> = {
  binary_classification: 'roc_auc',
  multiclass_classification: 'roc_auc_ovr',
  regression: 'rmse',
};
/** `gates.bias.metrics` when not set (regression has no default: a gap in the label's units needs a chosen limit). */
export const DEFAULT_BIAS_METRICS: Readonly<Record<ProblemType, readonly string[] | null>> = {
  binary_classification: ['recall', 'positive_rate'],
  multiclass_classification: ['accuracy', 'recall_macro'],
  regression: null,
};
/** The safe default gate's no-regression tolerances, as fractions of the champion's value. */
export const DEFAULT_RELATIVE_TOLERANCE = { overall: 0.01, slices: 0.025 } as const;

/** `recall:setosa` -> `{ metric: 'recall', className: 'setosa' }`; null for an aggregate metric name. */
export function perClassMetric(name: string): { metric: (typeof PER_CLASS_METRICS)[number]; className: string } | null {
  const i = name.indexOf(':');
  if (i < 0) return null;
  const metric = name.slice(0, i);
  const className = name.slice(i + 1);
  if (!(PER_CLASS_METRICS as readonly string[]).includes(metric) || !className) return null;
  return { metric: metric as (typeof PER_CLASS_METRICS)[number], className };
}

/** Why `name` cannot be used for `problemType`, or null when it can. */
export function metricProblem(problemType: ProblemType, name: string): string | null {
  const allowed = METRICS[problemType];
  if (allowed.includes(name)) return null;
  if (problemType === 'multiclass_classification' && perClassMetric(name)) return null;
  const known = PROBLEM_TYPES.some((p) => METRICS[p].includes(name));
  const perClass = problemType === 'multiclass_classification' ? `, or per class ${PER_CLASS_METRICS.map((m) => `${m}:<class>`).join(', ')}` : '';
  return known
    ? `metric "${name}" does not apply to ${problemType} (one of: ${allowed.join(', ')}${perClass})`
    : `unknown metric "${name}" (${problemType}: one of ${allowed.join(', ')}${perClass})`;
}

const metricName = z.string().min(1);
const limits = z.record(z.string(), z.number());
/** How a difference whose confidence interval straddles the tolerance ("within noise") is judged. */
const withinNoise = z.enum(['pass', 'fail']);

const noRegressionShape = {
  metrics: z.array(metricName).min(1),
  /**
   * Largest tolerated worsening vs the champion, in the metric's own units (for `rmse`, the label's units).
   * @default - zero, unless relativeTolerance is set
   */
  tolerance: z.number().min(0).optional(),
  /**
   * Largest tolerated worsening vs the champion, as a fraction of the champion's value (0.01: 1% of it).
   * Set this or `tolerance`, not both. @default - zero, unless tolerance is set
   */
  relativeTolerance: z.number().min(0).lt(1).optional(),
};
const bothTolerances = (n: { tolerance?: number; relativeTolerance?: number }, ctx: z.RefinementCtx) => {
  if (n.tolerance !== undefined && n.relativeTolerance !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['relativeTolerance'],
      message: `set either tolerance (in the metric's units) or relativeTolerance (a fraction of the champion's value), not both; got tolerance ${n.tolerance} and relativeTolerance ${n.relativeTolerance}`,
    });
  }
};
/** `fail`: the candidate must be shown no worse (CI clear of the tolerance); `pass`: fail only when shown worse. */
const noRegression = z.object({ ...noRegressionShape, withinNoise: withinNoise.default('fail') }).strict().superRefine(bothTolerances);
const sliceNoRegression = z.object({ ...noRegressionShape, withinNoise: withinNoise.default('pass') }).strict().superRefine(bothTolerances);
export type NoRegressionConfig = z.infer<typeof noRegression>;

/**
 * The deployment gate. Every configured check must pass for a deploy. When `gates` is absent, the safe
 * default of defaultGates applies (never "always deploy").
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
        noRegression: sliceNoRegression.optional(),
      })
      .strict()
      .optional(),
    /** Fairness: the gap (largest - smallest) of a metric between the groups of each column. */
    bias: z
      .object({
        columns: z.array(z.string().min(1)).min(1),
        /** @default - DEFAULT_BIAS_METRICS of the problem type (regression: required) */
        metrics: z.array(metricName).min(1).optional(),
        maxGap: z.number().min(0).default(0.1),
        /** Groups smaller than this are reported but left out of the gap. */
        minRows: z.number().int().min(1).default(100),
      })
      .strict()
      .optional(),
  })
  .strict();
/** The gate as configured, with the bias metrics filled in (the transform of EvaluationConfigSchema does it). */
export type GatesConfig = Omit<z.infer<typeof GatesSchema>, 'bias'> & {
  bias?: Omit<NonNullable<z.infer<typeof GatesSchema>['bias']>, 'metrics'> & { metrics: string[] };
};

/** Champion vs challenger evaluation and the deployment gate. Owned by Evaluate/Register. */
export const EvaluationConfigSchema = z
  .object({
    problemType: z.enum(PROBLEM_TYPES).default('binary_classification'),
    /** Metric that headlines the report. @default - DEFAULT_PRIMARY_METRIC of the problem type */
    primaryMetric: metricName.optional(),
    /** Binary: a score >= threshold predicts the positive class. (Multiclass predicts the most probable class.) */
    threshold: z.number().gt(0).lt(1).default(0.5),
    /** `auto`: a passing candidate is Approved and deployed; `manual`: it waits as PendingManualApproval. */
    approval: z.enum(['auto', 'manual']).default('auto'),
    /** Confidence level of every interval (and so of what counts as "within noise"). */
    confidence: z.number().gt(0.5).lt(1).default(0.95),
    /** Slice by each slice column and by every pair of them (`false`: single columns only). */
    sliceCrosses: z.boolean().default(true),
    /** Largest number of slices reported; the biggest are kept, the rest counted. */
    maxSlices: z.number().int().min(1).max(20000).default(2000),
    /** @default - defaultGates for the problem type */
    gates: GatesSchema.optional(),
  })
  .strict()
  .superRefine((e, ctx) => {
    const check = (name: string | undefined, path: (string | number)[]) => {
      const problem = name === undefined ? null : metricProblem(e.problemType, name);
      if (problem) ctx.addIssue({ code: 'custom', path, message: problem });
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
    if (g.bias) {
      if (g.bias.metrics) g.bias.metrics.forEach((m, i) => check(m, ['gates', 'bias', 'metrics', i]));
      else if (!DEFAULT_BIAS_METRICS[e.problemType]) {
        ctx.addIssue({
          code: 'custom',
          path: ['gates', 'bias', 'metrics'],
          message: `required for ${e.problemType}: name the metrics whose gap between groups is limited, e.g. ["mae"] (maxGap is then in the label's units)`,
        });
      }
    }
  })
  .transform((e) => {
    const primaryMetric: MetricName = e.primaryMetric ?? DEFAULT_PRIMARY_METRIC[e.problemType];
    if (!e.gates) return { ...e, primaryMetric, gates: undefined as GatesConfig | undefined };
    const { bias, ...rest } = e.gates;
    const gates: GatesConfig = { ...rest, ...(bias ? { bias: { ...bias, metrics: bias.metrics ?? [...DEFAULT_BIAS_METRICS[e.problemType]!] } } : {}) };
    return { ...e, primaryMetric, gates };
  });

export type EvaluationConfig = z.infer<typeof EvaluationConfigSchema>;

/**
 * The gate used when the config sets none: a sanity floor (better than chance / than predicting the mean),
 * no significant worsening of the primary metric overall beyond 1% of the champion's value, and no clear
 * worsening beyond 2.5% in any slice of 200+ rows. Relative tolerances mean the same for an AUC and for an
 * RMSE in any unit.
 */
export function defaultGates(problemType: ProblemType, primaryMetric: MetricName): GatesConfig {
  const floor: Record<ProblemType, Record<string, number>> = {
    binary_classification: { roc_auc: 0.6 },
    multiclass_classification: { roc_auc_ovr: 0.6 },
    regression: { r2: 0 },
  };
  return {
    min: floor[problemType],
    noRegression: { metrics: [primaryMetric], relativeTolerance: DEFAULT_RELATIVE_TOLERANCE.overall, withinNoise: 'fail' },
    slices: { minRows: 200, noRegression: { metrics: [primaryMetric], relativeTolerance: DEFAULT_RELATIVE_TOLERANCE.slices, withinNoise: 'pass' } },
  };
}
