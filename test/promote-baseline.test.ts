import { PutObjectCommand, PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { championHistoryKey, promoteBaseline } from '../lambdas/promote-baseline/core';
import { handler } from '../lambdas/promote-baseline/handler';
import { ChampionRecordSchema, Layout, PipelineState } from '../lambdas/shared/contracts';
import { loadEnv } from '../lambdas/shared/env';
import { exists, getJson } from '../lambdas/shared/s3';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

const A = `s3://${ARTIFACTS_BUCKET}`;

function fullState(exec: string): PipelineState {
  return {
    source: { bucket: 'test-data', keys: ['incoming/a.csv'] },
    dataset: {
      datasetId: 'ds-1',
      uri: `${A}/datasets/ds-1/`,
      trainUri: `${A}/datasets/ds-1/train/`,
      validationUri: `${A}/datasets/ds-1/validation/`,
      manifestUri: `${A}/datasets/ds-1/manifest.json`,
      parts: [],
      rows: { train: 80, validation: 20 },
      columns: ['id', 'x', 'churned'],
      reused: false,
    },
    validation: { statsUri: `${A}/runs/${exec}/validation/stats.json`, schemaUri: `${A}/runs/${exec}/validation/schema.json`, anomaliesUri: `${A}/runs/${exec}/validation/anomalies.json`, blocking: 0, warnings: 0, summary: 'ok' },
    training: { jobName: `job-${exec}`, status: 'Completed', done: true, modelDataUri: `${A}/runs/${exec}/training/job/output/model.tar.gz` },
    evaluation: {
      evaluationUri: `${A}/runs/${exec}/evaluation/evaluation.json`,
      reportUri: `${A}/runs/${exec}/evaluation/report.html`,
      decisionUri: `${A}/runs/${exec}/decision.json`,
      deploy: true,
      reasons: ['roc_auc 0.81 >= 0.7'],
      primaryMetric: { name: 'roc_auc', candidate: 0.81, champion: 0.78 },
    },
    registration: { modelPackageArn: `arn:aws:sagemaker:us-east-1:000000000000:model-package/relearn-models/${exec}`, approvalStatus: 'Approved', promote: true },
    deployment: { endpointName: 'relearn-endpoint', modelName: `model-${exec}`, endpointConfigName: `epc-${exec}`, status: 'InService', done: true },
    serving: { checkedRows: 20, maxAbsDifference: 0 },
  };
}

describe('PromoteBaseline', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let client: S3Client;
  const puts: PutObjectCommandInput[] = [];
  beforeAll(async () => {
    s3 = await startTestS3();
    setLambdaEnv();
    // A client of the real local server that also records what it was asked to write.
    client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutObjectCommand') puts.push(args.input as PutObjectCommandInput);
        return next(args);
      },
      { step: 'initialize' },
    );
  });
  afterAll(async () => {
    client.destroy();
    await s3.cleanup();
  });

  test('first champion: writes current.json from the state, KMS-encrypted, and no history', async () => {
    // WHEN
    const out = await promoteBaseline({ executionName: 'run-1', state: fullState('run-1') }, loadEnv(), { s3: client, now: () => new Date('2026-11-29T10:00:00Z') });
    // THEN
    expect(out).toEqual({ championUri: `${A}/champion/current.json` });
    const record = ChampionRecordSchema.parse(await getJson(s3.client, ARTIFACTS_BUCKET, Layout.champion));
    expect(record).toEqual({
      executionName: 'run-1',
      promotedAt: '2026-11-29T10:00:00.000Z',
      modelPackageArn: 'arn:aws:sagemaker:us-east-1:000000000000:model-package/relearn-models/run-1',
      modelName: 'model-run-1',
      endpointName: 'relearn-endpoint',
      endpointConfigName: 'epc-run-1',
      modelDataUri: `${A}/runs/run-1/training/job/output/model.tar.gz`,
      datasetId: 'ds-1',
      datasetUri: `${A}/datasets/ds-1/`,
      statsUri: `${A}/runs/run-1/validation/stats.json`,
      schemaUri: `${A}/runs/run-1/validation/schema.json`,
      evaluationUri: `${A}/runs/run-1/evaluation/evaluation.json`,
      primaryMetric: { name: 'roc_auc', value: 0.81 },
    });
    expect(puts.map((p) => [p.Key, p.ServerSideEncryption, p.SSEKMSKeyId])).toEqual([['champion/current.json', 'aws:kms', process.env.KMS_KEY_ARN]]);
  });

  test('a new champion files the previous one under history, by the run that promoted it', async () => {
    // GIVEN run-1 is the champion (previous test)
    puts.length = 0;
    // WHEN run-2 is promoted, through the Lambda handler
    await handler({ executionName: 'run-2', state: fullState('run-2') });
    // THEN
    expect((await getJson<{ executionName: string }>(s3.client, ARTIFACTS_BUCKET, Layout.champion)).executionName).toBe('run-2');
    expect(await getJson(s3.client, ARTIFACTS_BUCKET, championHistoryKey('run-1'))).toMatchObject({ executionName: 'run-1', modelName: 'model-run-1' });
  });

  test('a retry rewrites the same record and does not file itself as its own predecessor', async () => {
    // GIVEN run-3 promoted once
    await promoteBaseline({ executionName: 'run-3', state: fullState('run-3') }, loadEnv(), { s3: client, now: () => new Date('2026-11-29T10:05:00Z') });
    // WHEN retried later
    await promoteBaseline({ executionName: 'run-3', state: fullState('run-3') }, loadEnv(), { s3: client, now: () => new Date('2026-11-29T10:09:00Z') });
    // THEN
    expect(await getJson(s3.client, ARTIFACTS_BUCKET, Layout.champion)).toMatchObject({ executionName: 'run-3', promotedAt: '2026-11-29T10:05:00.000Z' });
    expect(await exists(s3.client, ARTIFACTS_BUCKET, championHistoryKey('run-3'))).toBe(false);
    expect(await exists(s3.client, ARTIFACTS_BUCKET, championHistoryKey('run-2'))).toBe(true);
  });

  test('an unreadable current.json is not overwritten; an incomplete state is InvalidStageInput', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: Layout.champion, Body: '{"model": "hand-edited"}' }));
    await expect(promoteBaseline({ executionName: 'run-4', state: fullState('run-4') }, loadEnv(), { s3: client })).rejects.toThrow(
      /champion\/current\.json is not a champion record \(executionName: .*\); not overwriting it/,
    );
    expect(await getJson(s3.client, ARTIFACTS_BUCKET, Layout.champion)).toEqual({ model: 'hand-edited' });
    const { serving: _s, ...noServing } = fullState('run-4');
    await expect(handler({ executionName: 'run-4', state: noServing })).rejects.toMatchObject({ name: 'InvalidStageInput', message: expect.stringMatching(/lacks serving/) });
  });
});
