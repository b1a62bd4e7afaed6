import * as z from 'zod';
import { instanceTypeSchema } from './instance-types';

/**
 * Blue/green settings of an endpoint update (SageMaker DeploymentConfig.BlueGreenUpdatePolicy). Traffic moves
 * to the new fleet all at once; the old fleet is kept until the bake and termination waits have passed, so
 * SageMaker can roll back to it without a cold start.
 */
export const BlueGreenConfigSchema = z
  .object({
    /** Seconds SageMaker bakes the new fleet after shifting traffic (alarms are watched meanwhile). 0-3600. */
    waitIntervalSeconds: z.number().int().min(0).max(3600).default(60),
    /** Seconds the old fleet is kept after the deployment completed, before it is terminated. 0-3600. */
    terminationWaitSeconds: z.number().int().min(0).max(3600).default(120),
    /**
     * Upper bound on the whole update (SageMaker MaximumExecutionTimeoutInSeconds, 600-14400).
     * @default - SageMaker's own limit
     */
    maximumExecutionTimeoutSeconds: z.number().int().min(600).max(14400).optional(),
  })
  .strict();

/** The real-time endpoint and how a new model reaches it. Owned by Deploy/CheckEndpoint/VerifyServing. */
export const DeploymentConfigSchema = z
  .object({
    /** Endpoint name; defaults to `<name>-endpoint`. */
    endpointName: z.string().regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/, 'a SageMaker endpoint name (letters, digits, hyphens; at most 63)').optional(),
    /** An endpoint instance type of SageMaker's API model (instance-types.ts): `ml.t2.medium` hosts but cannot train. */
    instanceType: instanceTypeSchema('hosting').default('ml.m5.large'),
    instanceCount: z.number().int().min(1).max(100).default(1),
    /**
     * Seconds before the first CheckEndpoint poll, and the shortest wait between two. Later waits grow with the
     * update's age (10% of it, lambdas/shared/polling.ts) up to maxPollIntervalSeconds.
     */
    pollIntervalSeconds: z.number().int().min(1).max(3600).default(30),
    /** The longest wait between two CheckEndpoint polls (at least pollIntervalSeconds). */
    maxPollIntervalSeconds: z.number().int().min(1).max(86400).default(120),
    /** Rows of the validation split sent to the endpoint after a deploy and compared with offline predictions. */
    verifySampleRows: z.number().int().min(1).max(1000).default(20),
    /** Largest tolerated |served - offline| score difference before ServingSkew rolls back. */
    verifyTolerance: z.number().min(0).default(1e-6),
    /** How an existing endpoint is updated (blue/green, all at once). */
    blueGreen: BlueGreenConfigSchema.default(BlueGreenConfigSchema.parse({})),
    /**
     * CloudWatch alarm names that make SageMaker roll an update back on its own (AutoRollbackConfiguration),
     * e.g. an alarm on the endpoint's Invocation5XXErrors or ModelLatency. At most 10.
     * @default - no alarms: VerifyServing's parity check is the only post-deploy gate
     */
    rollbackAlarms: z.array(z.string().min(1).max(255)).max(10).default([]),
    /**
     * What `cdk destroy` does with the endpoint, and the models and endpoint configs of every run and rollback:
     * `destroy` deletes them (nothing is left billing); `retain` leaves them running. Independent of `removalPolicy`,
     * which keeps data (buckets, key, registry): an endpoint is compute, not data.
     */
    endpointRemovalPolicy: z.enum(['destroy', 'retain']).default('destroy'),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.maxPollIntervalSeconds < d.pollIntervalSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxPollIntervalSeconds'],
        message: `must be >= deployment.pollIntervalSeconds (${d.pollIntervalSeconds}), but got ${d.maxPollIntervalSeconds}`,
      });
    }
  });

export type DeploymentConfig = z.infer<typeof DeploymentConfigSchema>;
