import { z } from 'zod';

/** The real-time endpoint and how a new model reaches it. Owned by Deploy/CheckEndpoint/VerifyServing. */
export const DeploymentConfigSchema = z
  .object({
    /** Endpoint name; defaults to `<name>-endpoint`. */
    endpointName: z.string().regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/, 'a SageMaker endpoint name (letters, digits, hyphens; at most 63)').optional(),
    instanceType: z.string().regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'an instance type such as ml.m5.large').default('ml.m5.large'),
    instanceCount: z.number().int().min(1).max(100).default(1),
    /** Seconds between two CheckEndpoint polls. */
    pollIntervalSeconds: z.number().int().min(1).max(3600).default(30),
    /** Rows of the validation split sent to the endpoint after a deploy and compared with offline predictions. */
    verifySampleRows: z.number().int().min(1).max(1000).default(20),
    /** Largest tolerated |served - offline| score difference before ServingSkew rolls back. */
    verifyTolerance: z.number().min(0).default(1e-6),
  })
  .strict();

export type DeploymentConfig = z.infer<typeof DeploymentConfigSchema>;
