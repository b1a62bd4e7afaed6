import { z } from 'zod';

const hyperparameterValue = z.union([z.string(), z.number(), z.boolean()]);

/** The SageMaker training job. Owned by StartTraining/CheckTraining. */
export const TrainingConfigSchema = z
  .object({
    /** Framework container to run the script in. Only the SageMaker scikit-learn container is built in. */
    framework: z.literal('sklearn').default('sklearn'),
    /** Framework container version (`1.2-1` runs scikit-learn 1.2.1 on Python 3.9). */
    frameworkVersion: z.string().default('1.2-1'),
    /** A training image URI of your own; overrides framework/frameworkVersion. */
    imageUri: z.string().min(1).optional(),
    /** Directory (relative to the CDK app) packaged as the script-mode source directory. */
    sourceDir: z.string().min(1).default('training-scripts/churn'),
    /** Entry point script inside sourceDir; it also defines the serving functions. */
    entryPoint: z.string().min(1).default('train.py'),
    instanceType: z.string().regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'an instance type such as ml.m5.large').default('ml.m5.large'),
    instanceCount: z.number().int().min(1).max(100).default(1),
    volumeSizeGb: z.number().int().min(1).max(16384).default(30),
    /** Hard stop for the job (SageMaker MaxRuntimeInSeconds), always set. */
    maxRuntimeSeconds: z.number().int().min(60).max(28 * 24 * 3600).default(3600),
    /** Managed spot training; with it, checkpoints go to the run's `checkpoints/` prefix. */
    spot: z
      .object({
        enabled: z.boolean().default(false),
        /** MaxWaitTimeInSeconds; must be >= maxRuntimeSeconds. */
        maxWaitSeconds: z.number().int().min(60).optional(),
      })
      .strict()
      .default({ enabled: false }),
    /** Passed to the script as `--name value` arguments. */
    hyperparameters: z.record(z.string(), hyperparameterValue).default({}),
    /** Metric lines scraped from the job's log (SageMaker MetricDefinitions). */
    metricDefinitions: z
      .array(z.object({ name: z.string().min(1), regex: z.string().min(1) }).strict())
      .default([
        { name: 'validation:roc_auc', regex: 'validation:roc_auc=([0-9.eE+-]+)' },
        { name: 'validation:accuracy', regex: 'validation:accuracy=([0-9.eE+-]+)' },
      ]),
    /** Seconds between two CheckTraining polls. */
    pollIntervalSeconds: z.number().int().min(1).max(3600).default(60),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.spot.enabled && t.spot.maxWaitSeconds !== undefined && t.spot.maxWaitSeconds < t.maxRuntimeSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['spot', 'maxWaitSeconds'],
        message: `must be >= training.maxRuntimeSeconds (${t.maxRuntimeSeconds}), but got ${t.spot.maxWaitSeconds}`,
      });
    }
  });

export type TrainingConfig = z.infer<typeof TrainingConfigSchema>;
