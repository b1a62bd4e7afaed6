import * as z from 'zod';
import { ProblemType } from './evaluation';
import { instanceTypeSchema } from './instance-types';

const hyperparameterValue = z.union([z.string(), z.number(), z.boolean()]);

/**
 * Hyperparameter names the pipeline sets itself: the reserved script arguments (from `dataset`) and the
 * SageMaker framework container's own `sagemaker_*` keys.
 */
export const RESERVED_HYPERPARAMETERS = ['label-column', 'id-column', 'problem-type'] as const;
/** SageMaker's limits on CreateTrainingJob HyperParameters (the pipeline adds 8 of its own). */
export const HYPERPARAMETER_LIMITS = { count: 100 - 8, keyLength: 256, valueLength: 2500 } as const;

/** The SageMaker training job. Owned by StartTraining/CheckTraining. */
export const TrainingConfigSchema = z
  .object({
    /** Framework container to run the script in. Only the SageMaker scikit-learn container is built in. */
    framework: z.literal('sklearn').default('sklearn'),
    /** Framework container version (`1.2-1` runs scikit-learn 1.2.1 on Python 3.9). */
    frameworkVersion: z.string().default('1.2-1'),
    /** A training image URI of your own; overrides framework/frameworkVersion. */
    imageUri: z.string().min(1).optional(),
    /**
     * Folder packaged as the script-mode source directory, relative to the config file's folder. Absent: relearn's
     * built-in training script, from relearn's own install (lib/config-file.ts: trainingSourceDirOf).
     */
    sourceDir: z.string().min(1).optional(),
    /** Entry point script inside sourceDir; it also defines the serving functions. */
    entryPoint: z.string().min(1).default('train.py'),
    /** A training instance type of SageMaker's API model (instance-types.ts): `ml.m5d.xlarge` hosts but cannot train. */
    instanceType: instanceTypeSchema('training').default('ml.m5.large'),
    instanceCount: z.number().int().min(1).max(100).default(1),
    volumeSizeGb: z.number().int().min(1).max(16384).default(30),
    /**
     * Run the training container without network access (SageMaker EnableNetworkIsolation). The source
     * directory then travels as a `code` input channel instead of being downloaded by the container, so
     * the script must not need the network (no requirements.txt to pip-install).
     */
    networkIsolation: z.boolean().default(false),
    /** Hard stop for the job (SageMaker MaxRuntimeInSeconds), always set. */
    maxRuntimeSeconds: z.number().int().min(60).max(28 * 24 * 3600).default(3600),
    /** Managed spot training; with it, checkpoints go to the run's `checkpoints/` prefix. */
    spot: z
      .object({
        enabled: z.boolean().default(false),
        /** MaxWaitTimeInSeconds; must be >= maxRuntimeSeconds. Defaults to twice maxRuntimeSeconds. */
        maxWaitSeconds: z.number().int().min(60).optional(),
      })
      .strict()
      .default({ enabled: false }),
    /** Passed to the script as `--name value` arguments. */
    hyperparameters: z.record(z.string(), hyperparameterValue).default({}),
    /**
     * Metric lines scraped from the job's log (SageMaker MetricDefinitions).
     * @default - defaultMetricDefinitions(evaluation.problemType): the lines the built-in script prints
     */
    metricDefinitions: z.array(z.object({ name: z.string().min(1), regex: z.string().min(1) }).strict()).optional(),
    /**
     * Seconds before the first CheckTraining poll, and the shortest wait between two. Later waits grow with the
     * job's age (10% of it, lambdas/shared/polling.ts) up to maxPollIntervalSeconds.
     */
    pollIntervalSeconds: z.number().int().min(1).max(3600).default(60),
    /**
     * The longest wait between two CheckTraining polls. The polls of the longest legal job (maxRuntimeSeconds or
     * spot.maxWaitSeconds, plus 30 min) must fit the history budget: config validation says which value fits.
     */
    maxPollIntervalSeconds: z.number().int().min(1).max(86400).default(600),
  })
  .strict()
  .superRefine((t, ctx) => {
    const names = Object.keys(t.hyperparameters);
    for (const name of names) {
      if ((RESERVED_HYPERPARAMETERS as readonly string[]).includes(name) || name.startsWith('sagemaker_')) {
        ctx.addIssue({
          code: 'custom',
          path: ['hyperparameters', name],
          message: `"${name}" is set by the pipeline (label-column and id-column come from dataset.labelColumn and dataset.idColumn, problem-type from evaluation.problemType; sagemaker_* from the framework container)`,
        });
      } else if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name) || name.length > HYPERPARAMETER_LIMITS.keyLength) {
        ctx.addIssue({
          code: 'custom',
          path: ['hyperparameters', name],
          message: `must be a script argument name (letters, digits, '-', '_', '.'; at most ${HYPERPARAMETER_LIMITS.keyLength}), but got "${name}"`,
        });
      } else if (JSON.stringify(t.hyperparameters[name]).length > HYPERPARAMETER_LIMITS.valueLength) {
        ctx.addIssue({
          code: 'custom',
          path: ['hyperparameters', name],
          message: `must be at most ${HYPERPARAMETER_LIMITS.valueLength} characters once JSON-encoded, but got ${JSON.stringify(t.hyperparameters[name]).length}`,
        });
      }
    }
    if (names.length > HYPERPARAMETER_LIMITS.count) {
      ctx.addIssue({
        code: 'custom',
        path: ['hyperparameters'],
        message: `at most ${HYPERPARAMETER_LIMITS.count} hyperparameters (SageMaker allows 100; the pipeline sets 7), but got ${names.length}`,
      });
    }
    if (!t.imageUri && !t.entryPoint.endsWith('.py')) {
      ctx.addIssue({ code: 'custom', path: ['entryPoint'], message: `must be a .py file for the scikit-learn container, but got "${t.entryPoint}"` });
    }
    if (t.maxPollIntervalSeconds < t.pollIntervalSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxPollIntervalSeconds'],
        message: `must be >= training.pollIntervalSeconds (${t.pollIntervalSeconds}), but got ${t.maxPollIntervalSeconds}`,
      });
    }
    if (t.spot.enabled && t.spot.maxWaitSeconds !== undefined && t.spot.maxWaitSeconds < t.maxRuntimeSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['spot', 'maxWaitSeconds'],
        message: `must be >= training.maxRuntimeSeconds (${t.maxRuntimeSeconds}), but got ${t.spot.maxWaitSeconds}`,
      });
    }
  });

/** The training section once the whole config is parsed: metricDefinitions filled in for the problem type. */
export type TrainingConfig = z.infer<typeof TrainingConfigSchema> & { metricDefinitions: MetricDefinition[] };
export interface MetricDefinition {
  readonly name: string;
  readonly regex: string;
}

/** The metrics the built-in script prints per problem type, as `validation:<metric>=<value>` lines. */
const SCRAPED_METRICS: Readonly<Record<ProblemType, readonly string[]>> = {
  binary_classification: ['roc_auc', 'accuracy'],
  multiclass_classification: ['accuracy', 'f1_macro', 'f1_weighted', 'precision_macro', 'recall_macro', 'roc_auc_ovr', 'log_loss'],
  regression: ['rmse', 'mae', 'r2'],
};

/**
 * `training.metricDefinitions` when the config sets none: one per metric the built-in script prints for the
 * problem type (docs/training-contract.md). The `=` after the name keeps `f1` from matching `f1_macro`.
 */
export function defaultMetricDefinitions(problemType: ProblemType): MetricDefinition[] {
  return SCRAPED_METRICS[problemType].map((m) => ({ name: `validation:${m}`, regex: `validation:${m}=([0-9.eE+-]+)` }));
}
