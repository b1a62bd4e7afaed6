import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeEndpointCommand, SageMakerClient, UpdateEndpointCommand } from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { s3Client } from '../lambdas/shared/clients';
import { PipelineState } from '../lambdas/shared/contracts';
import { loadEnv } from '../lambdas/shared/env';
import { parseServingAnswer, scoreDifference, UnusableAnswer, verifyServing } from '../lambdas/verify-serving/core';
import { startFakeEndpoint } from './helpers/fake-endpoint';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/**
 * VerifyServing for multiclass models: the endpoint (a real HTTP server speaking the SageMaker runtime protocol)
 * answers in the serving shape of docs/training-contract.md, `{"predictions": [[K probabilities]], "classes",
 * "labels"}`; the run's classes come from its schema.json in the local S3. Rollback calls are mocked.
 */
const sm = mockClient(SageMakerClient);
const sagemaker = new SageMakerClient({ region: 'us-east-1' });
const EXEC = 'run-mc';
const CLASSES = ['bronze', 'silver', 'gold'];
const VALIDATION = `s3://${ARTIFACTS_BUCKET}/datasets/mc/validation/`;
const OUTPUT = `s3://${ARTIFACTS_BUCKET}/runs/${EXEC}/training/job/output/output.tar.gz`;
const SCHEMA = `s3://${ARTIFACTS_BUCKET}/runs/${EXEC}/validation/schema.json`;
const CSV = 'member_id,spend,tier\nm1,10,bronze\nm2,250,gold\nm3,90,silver\n';
/** The "model": class probabilities from the spend column. */
const proba = (spend: string | null): number[] => {
  const x = Number(spend ?? 0) / 100;
  const w = [Math.exp(-x), Math.exp(-Math.abs(x - 1)), Math.exp(x - 2)];
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
};
const OFFLINE = [
  { id: 'm1', label: 0, candidate: proba('10') },
  { id: 'm2', label: 2, candidate: proba('250') },
  { id: 'm3', label: 1, candidate: proba('90') },
];
const argmaxName = (p: number[]) => CLASSES[p.indexOf(Math.max(...p))];

describe('VerifyServing, multiclass', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let endpoint: Awaited<ReturnType<typeof startFakeEndpoint>>;
  /** The endpoint answers 200 with this JSON. */
  const answer = (json: (rows: Record<string, string | null>[]) => unknown) => endpoint.answer((rows) => ({ status: 200, body: JSON.stringify(json(rows)) }));

  beforeAll(async () => {
    s3 = await startTestS3();
    const put = (Key: string, Body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key, Body }));
    await put('datasets/mc/validation/part-00000.csv', CSV);
    await put(`runs/${EXEC}/validation/schema.json`, JSON.stringify({ problemType: 'multiclass_classification', labelColumn: 'tier', classes: CLASSES, columns: {} }));
    const dir = mkdtempSync(join(tmpdir(), 'relearn-verify-mc-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'predictions.jsonl'), OFFLINE.map((p) => JSON.stringify(p)).join('\n') + '\n');
    await create({ gzip: true, file: join(dir, 'output.tar.gz'), cwd: join(dir, 'data') }, ['predictions.jsonl']);
    await put(OUTPUT.replace(`s3://${ARTIFACTS_BUCKET}/`, ''), readFileSync(join(dir, 'output.tar.gz')));
    endpoint = await startFakeEndpoint(() => ({ status: 500, body: 'not set' }));
  });
  afterAll(async () => {
    await endpoint.stop();
    await s3.cleanup();
  });
  beforeEach(() => {
    sm.reset();
    sm.on(DescribeEndpointCommand).resolves({ EndpointName: 'relearn-endpoint', EndpointStatus: 'InService', EndpointConfigName: 'relearn-epc-run-mc' });
    setLambdaEnv({ dataset: { idColumn: 'member_id', labelColumn: 'tier' }, evaluation: { problemType: 'multiclass_classification' }, deployment: { verifySampleRows: 3, verifyTolerance: 1e-6 } });
    const served = (rows: Record<string, string | null>[]) => rows.map((r) => proba(r.spend));
    answer((rows) => ({ predictions: served(rows), classes: CLASSES, labels: served(rows).map(argmaxName) }));
  });

  const state = (): PipelineState => ({
    source: { bucket: 'test-data', prefix: 'incoming/' },
    dataset: {
      datasetId: 'mc', uri: `s3://${ARTIFACTS_BUCKET}/datasets/mc/`, trainUri: `s3://${ARTIFACTS_BUCKET}/datasets/mc/train/`, validationUri: VALIDATION,
      manifestUri: `s3://${ARTIFACTS_BUCKET}/datasets/mc/manifest.json`, parts: [], rows: { train: 9, validation: 3 }, columns: ['member_id', 'spend', 'tier'], reused: false,
    },
    validation: { statsUri: SCHEMA, schemaUri: SCHEMA, anomaliesUri: SCHEMA, blocking: 0, warnings: 0, summary: '' },
    training: { jobName: 'job', status: 'Completed', done: true, outputDataUri: OUTPUT },
    deployment: { endpointName: 'relearn-endpoint', modelName: 'm', endpointConfigName: 'relearn-epc-run-mc', previousEndpointConfigName: 'relearn-epc-old', status: 'InService', done: true },
  });
  const verify = () => verifyServing({ executionName: EXEC, state: state() }, loadEnv(), { s3: s3Client(), sagemaker, runtime: endpoint.runtime });

  test('the endpoint serves the same class probabilities, in the run\'s class order: passes', async () => {
    expect(await verify()).toEqual({ checkedRows: 3, maxAbsDifference: 0 });
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
  });

  test('one probability of one row off by 0.2: ServingSkew naming the row with both vectors, and a rollback', async () => {
    answer((rows) => ({ predictions: rows.map((r) => proba(r.spend)).map((p, i) => (i === 1 ? [p[0] + 0.2, p[1], p[2] - 0.2] : p)), classes: CLASSES }));
    await expect(verify()).rejects.toMatchObject({
      name: 'ServingSkew',
      message: expect.stringMatching(/max \|served - offline\| = 0\.(2|1999)\d* > tolerance 0\.000001 over 3 rows; worst: id m2 \(s3:\/\/test-artifacts\/datasets\/mc\/validation\/part-00000\.csv line 3\) served \[0\.\d+, 0\.\d+, 0\.\d+\] offline \[0\.\d+, 0\.\d+, 0\.\d+\].*rolling back to relearn-epc-old/),
    });
    expect(sm.commandCalls(UpdateEndpointCommand)[0].args[0].input).toEqual({ EndpointName: 'relearn-endpoint', EndpointConfigName: 'relearn-epc-old' });
  });

  test('the endpoint names its classes in another order: ServingSkew that says so', async () => {
    answer((rows) => ({ predictions: rows.map((r) => proba(r.spend)), classes: ['gold', 'silver', 'bronze'] }));
    await expect(verify()).rejects.toMatchObject({
      name: 'ServingSkew',
      message: expect.stringContaining('the endpoint\'s classes ["gold","silver","bronze"] are not the run\'s ["bronze","silver","gold"] (same names, same order)'),
    });
  });

  test('one number per row instead of K probabilities: ServingSkew', async () => {
    answer((rows) => ({ predictions: rows.map(() => 0.5) }));
    await expect(verify()).rejects.toMatchObject({ name: 'ServingSkew', message: expect.stringContaining('prediction 1 is not 3 class probabilities: 0.5') });
  });
});

describe('the serving answer, in every documented shape', () => {
  test('binary and regression: {"predictions": [numbers]} (with classes and labels for classification), or a bare list', () => {
    expect(parseServingAnswer('{"predictions":[0.25,0.75],"classes":["no","yes"],"labels":["no","yes"]}', 2, null)).toEqual([0.25, 0.75]);
    expect(parseServingAnswer('[1.5, 2.5]', 2, null)).toEqual([1.5, 2.5]);
    expect(() => parseServingAnswer('{"predictions":[[0.4,0.6]]}', 1, null)).toThrow(new UnusableAnswer('score 1 is not a number: [0.4,0.6]'));
    expect(() => parseServingAnswer('{"scores":[1]}', 1, null)).toThrow('expected {"predictions": [scores]}, got {"scores":[1]}');
  });

  test('multiclass: K probabilities per row; classes, when sent, must be the run\'s', () => {
    expect(parseServingAnswer('{"predictions":[[0.1,0.2,0.7]],"classes":["a","b","c"],"labels":["c"]}', 1, ['a', 'b', 'c'])).toEqual([[0.1, 0.2, 0.7]]);
    expect(parseServingAnswer('{"predictions":[[0.1,0.2,0.7]]}', 1, ['a', 'b', 'c'])).toEqual([[0.1, 0.2, 0.7]]);
    expect(() => parseServingAnswer('{"predictions":[[0.1,0.9]]}', 1, ['a', 'b', 'c'])).toThrow('prediction 1 is not 3 class probabilities: [0.1,0.9]');
    expect(() => parseServingAnswer('{"predictions":[[0.1,0.2,0.7]],"classes":["a","b"]}', 1, ['a', 'b', 'c'])).toThrow(/are not the run's/);
    expect(() => parseServingAnswer('{"predictions":[[0.1,0.2,0.7],[1,0,0]]}', 1, ['a', 'b', 'c'])).toThrow('sent 1 rows, got 2 scores');
  });

  test('the difference of two probability vectors is the largest of the K differences; NaN when they cannot be compared', () => {
    expect(scoreDifference([0.1, 0.2, 0.7], [0.1, 0.25, 0.65])).toBeCloseTo(0.05, 12);
    expect(scoreDifference(0.3, 0.5)).toBeCloseTo(0.2, 12);
    expect(scoreDifference([0.1, 0.9], [0.1, 0.2, 0.7])).toBeNaN();
    expect(scoreDifference([0.1, NaN], [0.1, 0.9])).toBeNaN();
  });
});
