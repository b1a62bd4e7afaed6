import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ChampionRecord } from '../../lambdas/shared/contracts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalS3, localS3Env, startLocalS3 } from '../../local/services/s3-server';
import { parseConfig, RelearnConfigInput } from '../../lambdas/shared/config';

export const DATA_BUCKET = 'test-data';
export const ARTIFACTS_BUCKET = 'test-artifacts';

/**
 * A real S3 server for a test file: started in beforeAll, stopped in afterAll. Sets the SDK's endpoint
 * variables so handler code (which creates its clients from the environment) talks to it.
 */
export async function startTestS3(buckets: string[] = [DATA_BUCKET, ARTIFACTS_BUCKET]): Promise<LocalS3 & { cleanup(): Promise<void> }> {
  const directory = mkdtempSync(join(tmpdir(), 'relearn-s3-'));
  const s3 = await startLocalS3({ directory, buckets });
  Object.assign(process.env, localS3Env(s3.endpoint));
  return {
    ...s3,
    cleanup: async () => {
      await s3.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The Lambda environment (lambdas/shared/env.ts) for handler tests, with a config built from `config`. */
export function setLambdaEnv(config: RelearnConfigInput = {}, overrides: Record<string, string> = {}): void {
  Object.assign(process.env, {
    RELEARN_CONFIG: JSON.stringify(parseConfig(config)),
    DATA_BUCKET,
    ARTIFACTS_BUCKET,
    KMS_KEY_ARN: 'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000',
    SAGEMAKER_ROLE_ARN: 'arn:aws:iam::000000000000:role/relearn-sagemaker',
    MODEL_PACKAGE_GROUP: 'relearn-models',
    TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:relearn-outcomes',
    TRAINING_CODE_URI: `s3://${ARTIFACTS_BUCKET}/code/sourcedir.tar.gz`,
    TRAINING_IMAGE_URI: '683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3',
    ENDPOINT_NAME: 'relearn-endpoint',
    ...overrides,
  });
}

/**
 * Promotes run `executionName` as champion (champion/current.json) with the baselines its ValidateData wrote
 * under runs/<exec>/validation/: what a later run's validation compares against.
 */
export async function putChampionOf(client: S3Client, executionName: string): Promise<void> {
  const run = `s3://${ARTIFACTS_BUCKET}/runs/${executionName}/`;
  const record: ChampionRecord = {
    executionName,
    promotedAt: '2026-01-01T00:00:00Z',
    modelPackageArn: 'arn:aws:sagemaker:us-east-1:000000000000:model-package/relearn-models/1',
    modelName: 'm',
    endpointName: 'relearn-endpoint',
    endpointConfigName: 'epc',
    modelDataUri: `${run}training/model.tar.gz`,
    datasetId: 'd',
    datasetUri: `s3://${ARTIFACTS_BUCKET}/datasets/d/`,
    statsUri: `${run}validation/stats.json`,
    schemaUri: `${run}validation/schema.json`,
    evaluationUri: `${run}evaluation/evaluation.json`,
    primaryMetric: { name: 'roc_auc', value: 0.8 },
  };
  await client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'champion/current.json', Body: JSON.stringify(record) }));
}
