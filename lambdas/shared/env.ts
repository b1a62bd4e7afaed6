import * as z from 'zod';
import { parseConfig, RelearnConfig } from './config';

/**
 * The environment every relearn Lambda receives from the pipeline stack (and, in local mode, from the
 * same template resolved to local names). Read per invocation, not at module load, so one process can
 * host several handlers.
 */
export const LambdaEnvSchema = z.object({
  /** The whole resolved configuration as JSON (see lambdas/shared/config). */
  RELEARN_CONFIG: z.string().min(2),
  DATA_BUCKET: z.string().min(1),
  ARTIFACTS_BUCKET: z.string().min(1),
  /** Customer-managed KMS key for everything the pipeline writes (S3 SSE-KMS, SageMaker volumes/outputs). */
  KMS_KEY_ARN: z.string().min(1),
  SAGEMAKER_ROLE_ARN: z.string().min(1),
  MODEL_PACKAGE_GROUP: z.string().min(1),
  TOPIC_ARN: z.string().min(1),
  /** s3:// URI of the packaged training source directory (sourcedir.tar.gz). */
  TRAINING_CODE_URI: z.string().regex(/^s3:\/\//),
  /** Training and serving image URI for the stack's region. */
  TRAINING_IMAGE_URI: z.string().min(1),
  ENDPOINT_NAME: z.string().min(1),
  /**
   * s3:// URI of the curated schema shipped from `validation.schemaFile` (an S3 file asset). Only
   * ShardStatistics and ValidateData get it, and only when the config names a schema file.
   */
  CURATED_SCHEMA_URI: z.string().regex(/^s3:\/\/[^/]+\/.+/).optional(),
});

export interface LambdaEnv {
  readonly config: RelearnConfig;
  readonly dataBucket: string;
  readonly artifactsBucket: string;
  readonly kmsKeyArn: string;
  readonly sagemakerRoleArn: string;
  readonly modelPackageGroup: string;
  readonly topicArn: string;
  readonly trainingCodeUri: string;
  readonly trainingImageUri: string;
  readonly endpointName: string;
  /** CURATED_SCHEMA_URI: the curated schema from the config, when there is one. */
  readonly curatedSchemaUri?: string;
}

export function loadEnv(env: NodeJS.ProcessEnv = process.env): LambdaEnv {
  const parsed = LambdaEnvSchema.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`relearn Lambda environment is incomplete: ${fields}`);
  }
  const e = parsed.data;
  return {
    config: parseConfig(JSON.parse(e.RELEARN_CONFIG), 'RELEARN_CONFIG'),
    dataBucket: e.DATA_BUCKET,
    artifactsBucket: e.ARTIFACTS_BUCKET,
    kmsKeyArn: e.KMS_KEY_ARN,
    sagemakerRoleArn: e.SAGEMAKER_ROLE_ARN,
    modelPackageGroup: e.MODEL_PACKAGE_GROUP,
    topicArn: e.TOPIC_ARN,
    trainingCodeUri: e.TRAINING_CODE_URI,
    trainingImageUri: e.TRAINING_IMAGE_URI,
    endpointName: e.ENDPOINT_NAME,
    ...(e.CURATED_SCHEMA_URI ? { curatedSchemaUri: e.CURATED_SCHEMA_URI } : {}),
  };
}
