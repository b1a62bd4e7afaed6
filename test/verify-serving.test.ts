import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DeleteEndpointCommand, DescribeEndpointCommand, SageMakerClient, UpdateEndpointCommand } from '@aws-sdk/client-sagemaker';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { s3Client } from '../lambdas/shared/clients';
import { DeploymentRef, PipelineState } from '../lambdas/shared/contracts';
import { loadEnv } from '../lambdas/shared/env';
import { sampleValidationRows, verifyServing } from '../lambdas/verify-serving/core';
import { parseConfig } from '../lambdas/shared/config';
import { EndpointAnswer, startFakeEndpoint } from './helpers/fake-endpoint';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/**
 * The endpoint is a real HTTP server speaking the SageMaker runtime protocol (POST /endpoints/<name>/invocations),
 * whose "model" scores a row from its tenure column; the control plane (rollback calls) is mocked.
 */
const sm = mockClient(SageMakerClient);
const sagemaker = new SageMakerClient({ region: 'us-east-1' });

const EXEC = 'run-7';
const VALIDATION = `s3://${ARTIFACTS_BUCKET}/datasets/d1/validation/`;
const OUTPUT = `s3://${ARTIFACTS_BUCKET}/runs/${EXEC}/training/job/output/output.tar.gz`;
const CSV = 'customer_id,tenure,plan,churned\nc1,1,basic,1\nc2,10,pro,0\nc3,,basic,0\nc4,40,"pro, yearly",0\n';
const score = (tenure: string | null) => 1 / (1 + Number(tenure ?? 0));
const OFFLINE = [
  { id: 'c1', label: 1, candidate: score('1') },
  { id: 'c2', label: 0, candidate: score('10') },
  { id: 'c3', label: 0, candidate: score(null) },
  { id: 'c4', label: 0, candidate: score('40') },
];

type Answer = EndpointAnswer;

describe('VerifyServing', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let endpoint: Awaited<ReturnType<typeof startFakeEndpoint>>;
  let runtime: SageMakerRuntimeClient;
  let requests: Awaited<ReturnType<typeof startFakeEndpoint>>['requests'];
  const setAnswer = (a: Answer) => endpoint.answer(a);

  beforeAll(async () => {
    s3 = await startTestS3();
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'datasets/d1/validation/part-00000.csv', Body: CSV }));
    // output.tar.gz as SageMaker writes it, with predictions.jsonl inside
    const dir = mkdtempSync(join(tmpdir(), 'relearn-verify-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'predictions.jsonl'), OFFLINE.map((p) => JSON.stringify(p)).join('\n') + '\n');
    await create({ gzip: true, file: join(dir, 'output.tar.gz'), cwd: join(dir, 'data') }, ['predictions.jsonl']);
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: OUTPUT.replace(`s3://${ARTIFACTS_BUCKET}/`, ''), Body: readFileSync(join(dir, 'output.tar.gz')) }));

    endpoint = await startFakeEndpoint(() => ({ status: 500, body: 'not set' }));
    runtime = endpoint.runtime;
    requests = endpoint.requests;
  });
  afterAll(async () => {
    await endpoint.stop();
    await s3.cleanup();
  });
  beforeEach(() => {
    sm.reset();
    requests.length = 0;
    setLambdaEnv({ dataset: { idColumn: 'customer_id' }, deployment: { verifySampleRows: 3 } });
    setAnswer((rows) => ({ status: 200, body: JSON.stringify({ predictions: rows.map((r) => score(r.tenure)) }) }));
  });

  const deployment = (previous?: string): DeploymentRef => ({
    endpointName: 'relearn-endpoint',
    modelName: 'm',
    endpointConfigName: 'relearn-epc-run-7',
    ...(previous ? { previousEndpointConfigName: previous } : {}),
    status: 'InService',
    done: true,
  });
  const state = (previous?: string): PipelineState => ({
    source: { bucket: 'test-data', prefix: 'incoming/' },
    dataset: {
      datasetId: 'd1',
      uri: `s3://${ARTIFACTS_BUCKET}/datasets/d1/`,
      trainUri: `s3://${ARTIFACTS_BUCKET}/datasets/d1/train/`,
      validationUri: VALIDATION,
      manifestUri: `s3://${ARTIFACTS_BUCKET}/datasets/d1/manifest.json`,
      parts: [],
      rows: { train: 10, validation: 4 },
      columns: ['customer_id', 'tenure', 'plan', 'churned'],
      reused: false,
    },
    training: { jobName: 'job', status: 'Completed', done: true, outputDataUri: OUTPUT },
    deployment: deployment(previous),
  });
  const verify = (st: PipelineState) => verifyServing({ executionName: EXEC, state: st }, loadEnv(), { s3: s3Client(), sagemaker, runtime });

  test('matching scores: passes, sending the sample rows as JSON objects without the label', async () => {
    // WHEN
    const result = await verify(state('relearn-epc-old'));
    // THEN
    expect(result).toEqual({ checkedRows: 3, maxAbsDifference: 0 });
    expect(requests).toHaveLength(1);
    expect(requests[0].url).toBe('/endpoints/relearn-endpoint/invocations');
    expect(requests[0].contentType).toBe('application/json');
    expect(requests[0].rows).toEqual([
      { customer_id: 'c1', tenure: '1', plan: 'basic' },
      { customer_id: 'c2', tenure: '10', plan: 'pro' },
      { customer_id: 'c3', tenure: null, plan: 'basic' },
    ]);
    expect(sm.calls()).toHaveLength(0);
  });

  test('skew: rolls back to the previous config and throws ServingSkew naming the worst rows', async () => {
    // GIVEN an endpoint that answers in reverse row order (a serving bug)
    setAnswer((rows) => ({ status: 200, body: JSON.stringify({ predictions: rows.map((r) => score(r.tenure)).reverse() }) }));
    sm.on(DescribeEndpointCommand).resolves({ EndpointName: 'relearn-endpoint', EndpointStatus: 'InService', EndpointConfigName: 'relearn-epc-run-7' });
    // WHEN / THEN
    await expect(verify(state('relearn-epc-old'))).rejects.toMatchObject({
      name: 'ServingSkew',
      message: expect.stringMatching(/max \|served - offline\| = 0\.5 > tolerance 0\.000001 over 3 rows; worst: id c1 \(s3:\/\/test-artifacts\/datasets\/d1\/validation\/part-00000\.csv line 2\) served 1 offline 0\.5.*rolling back to relearn-epc-old/),
    });
    expect(sm.commandCalls(UpdateEndpointCommand)[0].args[0].input).toEqual({ EndpointName: 'relearn-endpoint', EndpointConfigName: 'relearn-epc-old' });
  });

  test('skew on a first deploy: the endpoint is deleted', async () => {
    setAnswer((rows) => ({ status: 200, body: JSON.stringify({ predictions: rows.map(() => 0.99) }) }));
    sm.on(DescribeEndpointCommand).resolves({ EndpointName: 'relearn-endpoint', EndpointStatus: 'InService', EndpointConfigName: 'relearn-epc-run-7' });
    await expect(verify(state())).rejects.toMatchObject({ name: 'ServingSkew', message: expect.stringMatching(/has been deleted/) });
    expect(sm.commandCalls(DeleteEndpointCommand)).toHaveLength(1);
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
  });

  test('differences within the tolerance pass', async () => {
    setLambdaEnv({ dataset: { idColumn: 'customer_id' }, deployment: { verifySampleRows: 4, verifyTolerance: 1e-3 } });
    setAnswer((rows) => ({ status: 200, body: JSON.stringify({ predictions: rows.map((r) => score(r.tenure) + 5e-4) }) }));
    const result = await verify(state('relearn-epc-old'));
    expect(result.checkedRows).toBe(4);
    expect(result.maxAbsDifference).toBeCloseTo(5e-4, 9);
  });

  test('the model answers with an error: rolled back, ServingSkew carries the model message', async () => {
    // GIVEN the container rejects the request (SageMaker wraps it as ModelError)
    setAnswer(() => ({
      status: 424,
      body: JSON.stringify({ ErrorCode: 'CLIENT_ERROR_FROM_MODEL', OriginalStatusCode: 400, OriginalMessage: "missing column(s): tenure", Message: 'Received client error (400) from primary' }),
      headers: { 'x-amzn-errortype': 'ModelError' },
    }));
    sm.on(DescribeEndpointCommand).resolves({ EndpointName: 'relearn-endpoint', EndpointStatus: 'InService', EndpointConfigName: 'relearn-epc-run-7' });
    await expect(verify(state('relearn-epc-old'))).rejects.toMatchObject({ name: 'ServingSkew', message: expect.stringMatching(/answered with an error: missing column\(s\): tenure.*rolling back/) });
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(1);
  });

  test('a wrong number of scores is a ServingSkew too', async () => {
    setAnswer(() => ({ status: 200, body: JSON.stringify({ predictions: [0.5] }) }));
    sm.on(DescribeEndpointCommand).resolves({ EndpointName: 'relearn-endpoint', EndpointStatus: 'InService', EndpointConfigName: 'relearn-epc-run-7' });
    await expect(verify(state('relearn-epc-old'))).rejects.toMatchObject({ name: 'ServingSkew', message: expect.stringMatching(/sent 3 rows, got 1 scores/) });
  });

  test('a row without an offline prediction, or a missing id, is named with file and line', async () => {
    // GIVEN a validation part whose rows the predictions do not cover
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'datasets/d2/validation/part-00000.csv', Body: 'customer_id,tenure,churned\nzz,3,1\n' }));
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'datasets/d3/validation/part-00000.csv', Body: 'customer_id,tenure,churned\nc1,3,1\n,4,0\n' }));
    const st = state('relearn-epc-old');
    st.dataset!.validationUri = `s3://${ARTIFACTS_BUCKET}/datasets/d2/validation/`;
    await expect(verify(st)).rejects.toThrow(/part-00000\.csv line 2: id "zz" has no offline prediction/);
    const d3 = `s3://${ARTIFACTS_BUCKET}/datasets/d3/validation/`;
    await expect(sampleValidationRows(s3Client(), d3, parseConfig({ dataset: { idColumn: 'customer_id' } }), 5)).rejects.toThrow(
      /part-00000\.csv line 3, column "customer_id": the id is empty/,
    );
    expect(sm.calls()).toHaveLength(0);
  });
});
