import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DescribeEndpointCommand,
  DescribeModelPackageCommand,
  SageMakerClient,
  SageMakerServiceException,
  UpdateEndpointCommand,
} from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { blueGreen, deploy, hasInstanceStorage } from '../lambdas/deploy/core';
import { deploymentRecordKey, readDeploymentRecord, writeDeploymentRecord } from '../lambdas/deploy/endpoint';
import { handler } from '../lambdas/deploy/handler';
import { s3Client } from '../lambdas/shared/clients';
import { parseConfig } from '../lambdas/shared/config';
import { PipelineState } from '../lambdas/shared/contracts';
import { loadEnv } from '../lambdas/shared/env';
import { endpointConfigName, fitsShape, modelName } from '../lambdas/shared/names';
import { executionTags } from '../lambdas/shared/sagemaker';
import { EDGE_EXECUTION_NAMES } from './helpers/execution-names';
import { getJson } from '../lambdas/shared/s3';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

// SageMaker is mocked (the failure paths need statuses a local server cannot be put in on demand);
// the deployment record goes to a real local S3 server.
const sm = mockClient(SageMakerClient);
const sagemaker = new SageMakerClient({ region: 'us-east-1' });

const EXEC = 'run-2026-11-29';
const MODEL = modelName('relearn', EXEC);
const EPC = endpointConfigName('relearn', EXEC);
const MODEL_DATA = `s3://${ARTIFACTS_BUCKET}/runs/${EXEC}/model/model.tar.gz`;
const PACKAGE = 'arn:aws:sagemaker:us-east-1:000000000000:model-package/relearn-models/3';
const CONTAINER = {
  Image: '683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3',
  ModelDataUrl: MODEL_DATA,
  Environment: { SAGEMAKER_PROGRAM: 'train.py', SAGEMAKER_SUBMIT_DIRECTORY: '/opt/ml/model/code', SAGEMAKER_CONTAINER_LOG_LEVEL: '20', SAGEMAKER_REGION: 'us-east-1' },
};
/** The registry holds the self-contained model PackageModel made and Register registered. */
const withPackage = (container: object = CONTAINER) =>
  sm.on(DescribeModelPackageCommand, { ModelPackageName: PACKAGE }).resolves({ ModelPackageArn: PACKAGE, ModelApprovalStatus: 'Approved', InferenceSpecification: { Containers: [container as never] } });

function state(promote = true): PipelineState {
  return {
    source: { bucket: 'test-data', keys: ['incoming/a.csv'] },
    training: { jobName: 'job', status: 'Completed', done: true, modelDataUri: MODEL_DATA },
    registration: {
      modelPackageArn: PACKAGE,
      approvalStatus: promote ? 'Approved' : 'PendingManualApproval',
      promote,
    },
  };
}

const sageMakerError = (name: string, message: string) =>
  new SageMakerServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
const notFound = () => sageMakerError('ValidationException', 'Could not find endpoint "relearn-endpoint".');
const inService = (config: string) => ({ EndpointName: 'relearn-endpoint', EndpointStatus: 'InService' as const, EndpointConfigName: config });

describe('Deploy', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let exec = 0;
  let execName: string;
  beforeAll(async () => {
    s3 = await startTestS3();
  });
  afterAll(async () => s3.cleanup());
  beforeEach(() => {
    sm.reset();
    withPackage();
    setLambdaEnv();
    // Each test its own execution, so deployment records do not leak between tests.
    execName = `${EXEC}-${++exec}`;
  });
  const run = (st: PipelineState = state(), name = execName) => deploy({ executionName: name, state: st }, loadEnv(), { sagemaker, s3: s3Client() });

  test('refuses an unblessed model and touches nothing', async () => {
    // GIVEN a candidate that Register did not approve
    // WHEN Deploy runs
    // THEN it throws DeploymentFailed naming the package and its status, and calls no SageMaker API
    await expect(run(state(false))).rejects.toMatchObject({ name: 'DeploymentFailed', message: expect.stringMatching(/refused .*model-package\/relearn-models\/3.*PendingManualApproval/) });
    expect(sm.calls()).toHaveLength(0);
  });

  test('first deploy: creates model, endpoint config and endpoint', async () => {
    // GIVEN no endpoint yet
    sm.on(DescribeEndpointCommand).rejects(notFound());
    // WHEN
    const ref = await run(state(), EXEC);
    // THEN the model is the registered package's container (the self-contained archive, code inside), with the
    // execution role and network isolation
    const model = sm.commandCalls(CreateModelCommand)[0].args[0].input;
    expect(model).toEqual({
      ModelName: MODEL,
      ExecutionRoleArn: 'arn:aws:iam::000000000000:role/relearn-sagemaker',
      EnableNetworkIsolation: true,
      PrimaryContainer: CONTAINER,
      Tags: [{ Key: 'relearn:execution', Value: EXEC }],
    });
    // AND the endpoint config has one variant from the config, encrypted with our key
    expect(sm.commandCalls(CreateEndpointConfigCommand)[0].args[0].input).toMatchObject({
      EndpointConfigName: EPC,
      KmsKeyId: process.env.KMS_KEY_ARN,
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: MODEL, InstanceType: 'ml.m5.large', InitialInstanceCount: 1 }],
    });
    expect(sm.commandCalls(CreateEndpointCommand)[0].args[0].input).toMatchObject({ EndpointName: 'relearn-endpoint', EndpointConfigName: EPC });
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
    expect(ref).toEqual({ endpointName: 'relearn-endpoint', modelName: MODEL, endpointConfigName: EPC, status: 'Creating', done: false });
    // AND the record says the create went out
    expect(await getJson(s3.client, ARTIFACTS_BUCKET, deploymentRecordKey(EXEC))).toMatchObject({ action: 'create', issued: true, endpointConfigName: EPC });
  });

  test('existing endpoint: blue/green update, previous config recorded as the rollback target', async () => {
    // GIVEN an endpoint serving an older config, and alarms configured
    setLambdaEnv({ deployment: { rollbackAlarms: ['relearn-5xx'], blueGreen: { waitIntervalSeconds: 30, terminationWaitSeconds: 90 } } });
    sm.on(DescribeEndpointCommand).resolves(inService('relearn-epc-old'));
    // WHEN
    const ref = await run();
    // THEN UpdateEndpoint is issued once, all at once with bake and termination waits, and auto-rollback alarms
    const calls = sm.commandCalls(UpdateEndpointCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({
      EndpointName: 'relearn-endpoint',
      EndpointConfigName: endpointConfigName('relearn', execName),
      DeploymentConfig: {
        BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 30 }, TerminationWaitInSeconds: 90 },
        AutoRollbackConfiguration: { Alarms: [{ AlarmName: 'relearn-5xx' }] },
      },
    });
    expect(sm.commandCalls(CreateEndpointCommand)).toHaveLength(0);
    expect(ref).toMatchObject({ previousEndpointConfigName: 'relearn-epc-old', status: 'Updating', done: false });
    expect(await readDeploymentRecord(s3Client(), ARTIFACTS_BUCKET, execName)).toMatchObject({ action: 'update', issued: true, previousEndpointConfigName: 'relearn-epc-old' });
  });

  test('a retry after the update went out does not issue it again, and keeps the rollback target', async () => {
    // GIVEN a first attempt that updated the endpoint
    sm.on(DescribeEndpointCommand).resolves(inService('relearn-epc-old'));
    await run();
    // AND SageMaker now reports the update in flight, and "already exists" for our model and config
    sm.reset();
    withPackage();
    sm.on(CreateModelCommand).rejects(sageMakerError('ValidationException', `Cannot create already existing model "${MODEL}".`));
    sm.on(CreateEndpointConfigCommand).rejects(sageMakerError('ValidationException', 'Cannot create already existing endpoint configuration "x".'));
    sm.on(DescribeEndpointCommand).resolves({ ...inService('relearn-epc-old'), EndpointStatus: 'Updating' });
    // WHEN Deploy is retried
    const ref = await run();
    // THEN no second UpdateEndpoint, and the previous config is still the rollback target
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
    expect(ref).toMatchObject({ previousEndpointConfigName: 'relearn-epc-old', status: 'Updating', done: false });
  });

  test('an update pending to our config (record lost) is recognised as ours', async () => {
    // GIVEN no record, but the endpoint reports our config as its pending deployment
    sm.on(DescribeEndpointCommand).resolves({
      ...inService('relearn-epc-old'),
      EndpointStatus: 'Updating',
      PendingDeploymentSummary: { EndpointConfigName: endpointConfigName('relearn', execName) },
    });
    // WHEN
    const ref = await run();
    // THEN nothing is issued
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
    expect(sm.commandCalls(CreateEndpointCommand)).toHaveLength(0);
    expect(ref).toMatchObject({ status: 'Updating', done: false });
  });

  test('intent recorded but the Lambda died before recording the call: an updating endpoint is taken as ours', async () => {
    // GIVEN an attempt that recorded its intent (issued: false), and an endpoint now Updating (no pending summary)
    const epc = endpointConfigName('relearn', execName);
    await writeDeploymentRecord(
      s3Client(),
      ARTIFACTS_BUCKET,
      { executionName: execName, endpointName: 'relearn-endpoint', modelName: modelName('relearn', execName), endpointConfigName: epc, previousEndpointConfigName: 'relearn-epc-old', action: 'update', issued: false, at: 'now' },
      'k',
    );
    sm.on(DescribeEndpointCommand).resolves({ ...inService('relearn-epc-old'), EndpointStatus: 'Updating' });
    // WHEN Deploy is retried
    const ref = await run();
    // THEN it does not fail as "someone else", issues nothing, and keeps the rollback target
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
    expect(ref).toMatchObject({ previousEndpointConfigName: 'relearn-epc-old', status: 'Updating', done: false });
  });

  test('a package that is not self-contained (code on S3) is refused before anything is created', async () => {
    sm.reset();
    withPackage({ ...CONTAINER, Environment: { ...CONTAINER.Environment, SAGEMAKER_SUBMIT_DIRECTORY: `s3://${ARTIFACTS_BUCKET}/code/sourcedir.tar.gz` } });
    await expect(run()).rejects.toMatchObject({ name: 'DeploymentFailed', message: expect.stringMatching(/is not self-contained: its SAGEMAKER_SUBMIT_DIRECTORY is s3:\/\/.*not \/opt\/ml\/model\/code/) });
    expect(sm.commandCalls(CreateModelCommand)).toHaveLength(0);
  });

  test('tags carry the execution name and start time, fitted to SageMaker’s tag pattern, for every name Step Functions allows', async () => {
    sm.on(DescribeEndpointCommand).rejects(notFound());
    for (const name of EDGE_EXECUTION_NAMES) {
      sm.resetHistory();
      await deploy({ executionName: name, executionStartTime: '2026-11-29T08:00:00Z', state: state() }, loadEnv(), { sagemaker, s3: s3Client() });
      for (const input of [sm.commandCalls(CreateModelCommand)[0].args[0].input, sm.commandCalls(CreateEndpointConfigCommand)[0].args[0].input]) {
        expect(input.Tags).toEqual(executionTags({ executionName: name, startTime: '2026-11-29T08:00:00.000Z' }));
        for (const t of input.Tags!) expect([name, t.Value, fitsShape('TagValue', t.Value!)]).toEqual([name, t.Value, true]);
      }
    }
  });

  test("a deployment record of an earlier execution of the same name is not this run's: the update is issued", async () => {
    // GIVEN runs/<exec>/deployment.json from an execution of this name that started 100 days ago
    const epc = endpointConfigName('relearn', execName);
    await writeDeploymentRecord(
      s3Client(),
      ARTIFACTS_BUCKET,
      { executionName: execName, endpointName: 'relearn-endpoint', modelName: modelName('relearn', execName), endpointConfigName: epc, previousEndpointConfigName: 'relearn-epc-ancient', action: 'update', issued: true, at: 'then', executionStartTime: '2026-08-21T00:00:00.000Z' },
      'k',
    );
    sm.on(DescribeEndpointCommand).resolves(inService('relearn-epc-old'));
    // WHEN this execution deploys
    const ref = await deploy({ executionName: execName, executionStartTime: '2026-11-29T00:00:00.000Z', state: state() }, loadEnv(), { sagemaker, s3: s3Client() });
    // THEN it updates the endpoint (the old record does not stand for it) with the real rollback target
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(1);
    expect(ref).toMatchObject({ previousEndpointConfigName: 'relearn-epc-old', status: 'Updating' });
    expect(await readDeploymentRecord(s3Client(), ARTIFACTS_BUCKET, execName)).toMatchObject({ executionStartTime: '2026-11-29T00:00:00.000Z', previousEndpointConfigName: 'relearn-epc-old' });
  });

  test('an endpoint being deleted is not touched', async () => {
    sm.on(DescribeEndpointCommand).resolves({ ...inService('relearn-epc-old'), EndpointStatus: 'Deleting' });
    await expect(run()).rejects.toMatchObject({ name: 'DeploymentFailed', message: expect.stringMatching(/is Deleting: it can only be updated when InService/) });
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
    expect(sm.commandCalls(CreateEndpointCommand)).toHaveLength(0);
  });

  test('someone else deploying: DeploymentFailed, endpoint untouched', async () => {
    // GIVEN an endpoint updating to a config that is not ours
    sm.on(DescribeEndpointCommand).resolves({ ...inService('relearn-epc-old'), EndpointStatus: 'Updating', PendingDeploymentSummary: { EndpointConfigName: 'someone-elses' } });
    // WHEN / THEN
    await expect(run()).rejects.toMatchObject({ name: 'DeploymentFailed', message: expect.stringMatching(/is Updating \(to someone-elses\): another deployment is in progress/) });
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
  });

  test('a Failed endpoint is neither updated nor deleted: DeploymentFailed says how to recover', async () => {
    // GIVEN an endpoint that failed (not this run's)
    sm.on(DescribeEndpointCommand).resolves({ ...inService('relearn-epc-old'), EndpointStatus: 'Failed', FailureReason: 'image pull failed' });
    // WHEN / THEN
    await expect(run()).rejects.toMatchObject({ name: 'DeploymentFailed', message: expect.stringMatching(/is Failed \(image pull failed\).*delete-endpoint --endpoint-name relearn-endpoint/) });
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
  });

  test('already InService on our config (a retry after completion): done, no call', async () => {
    sm.on(DescribeEndpointCommand).resolves(inService(endpointConfigName('relearn', execName)));
    const ref = await run();
    expect(ref).toMatchObject({ status: 'InService', done: true });
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
  });

  test('instance types with local storage get no KmsKeyId', async () => {
    // GIVEN an instance type with NVMe instance storage
    setLambdaEnv({ deployment: { instanceType: 'ml.g4dn.xlarge' } });
    sm.on(DescribeEndpointCommand).rejects(notFound());
    // WHEN
    await run();
    // THEN
    expect(sm.commandCalls(CreateEndpointConfigCommand)[0].args[0].input.KmsKeyId).toBeUndefined();
    expect([hasInstanceStorage('ml.m5d.large'), hasInstanceStorage('ml.g5.xlarge'), hasInstanceStorage('ml.m5.large'), hasInstanceStorage('ml.c6i.large')]).toEqual([true, true, false, false]);
  });

  test('blue/green policy includes the execution timeout only when configured', () => {
    const d = parseConfig({ deployment: { blueGreen: { maximumExecutionTimeoutSeconds: 1800 } } }).deployment;
    expect(blueGreen(d)).toEqual({
      BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 60 }, TerminationWaitInSeconds: 120, MaximumExecutionTimeoutInSeconds: 1800 },
    });
    expect(() => parseConfig({ deployment: { blueGreen: { waitIntervalSeconds: 4000 } } })).toThrow(/deployment\.blueGreen\.waitIntervalSeconds/);
  });

  test('SageMaker refusing a request is a DeploymentFailed carrying its words', async () => {
    sm.on(CreateEndpointConfigCommand).rejects(sageMakerError('ValidationException', "The instance type 'ml.m5.tiny' is not supported"));
    await expect(run()).rejects.toMatchObject({ name: 'DeploymentFailed', message: "SageMaker refused the deployment: ValidationException: The instance type 'ml.m5.tiny' is not supported" });
    expect(sm.commandCalls(CreateEndpointCommand)).toHaveLength(0);
  });

  test('handler: a throttled SageMaker call becomes TransientError; bad input InvalidStageInput', async () => {
    // GIVEN SageMaker throttles
    sm.on(CreateModelCommand).rejects(sageMakerError('ThrottlingException', 'Rate exceeded'));
    // WHEN the Lambda handler runs (module clients, env from the process)
    await expect(handler({ executionName: execName, state: state() })).rejects.toMatchObject({ name: 'TransientError' });
    await expect(handler({ executionName: execName })).rejects.toMatchObject({ name: 'InvalidStageInput' });
  });
});
