import { CreateModelPackageCommand, DescribeModelPackageCommand, ListModelPackagesCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../lambdas/register/handler';
import { clientTokenFor } from '../lambdas/register/core';
import { RegistrationRefSchema, StageEvent } from '../lambdas/shared/contracts';
import { RelearnConfigInput } from '../lambdas/shared/config';
import { fitsShape, tagSafeDecode } from '../lambdas/shared/names';
import { EDGE_EXECUTION_NAMES } from './helpers/execution-names';
import { setLambdaEnv } from './helpers/local-s3';

// The behaviour against a real (local) control plane is in register-local.test.ts. The SDK mock is kept only for
// what that server cannot show: throttling, the exact request (ClientToken is dropped by the local server),
// and a look-alike package of another run in the group.
const sm = mockClient(SageMakerClient);
const ART = 's3://test-artifacts';

function event(executionName: string, deploy: boolean): StageEvent {
  return {
    executionName,
    state: {
      source: { bucket: 'test-data', prefix: 'incoming/' },
      dataset: {
        datasetId: 'ds-42', uri: `${ART}/datasets/ds-42/`, trainUri: `${ART}/datasets/ds-42/train/`, validationUri: `${ART}/datasets/ds-42/validation/`,
        manifestUri: `${ART}/datasets/ds-42/manifest.json`, parts: [], rows: { train: 800, validation: 200 }, columns: ['id', 'churned'], reused: false,
      },
      training: { jobName: 'relearn-train-x', status: 'Completed', done: true, modelDataUri: `${ART}/runs/${executionName}/training/j/output/model.tar.gz`, outputDataUri: `${ART}/runs/${executionName}/training/j/output/output.tar.gz` },
      evaluation: {
        evaluationUri: `${ART}/runs/${executionName}/evaluation/evaluation.json`,
        reportUri: `${ART}/runs/${executionName}/evaluation/report.html`,
        decisionUri: `${ART}/runs/${executionName}/decision.json`,
        deploy,
        reasons: [deploy ? 'Deploy: all 4 gate checks passed.' : 'Do not deploy: 1 of 4 gate checks failed.', 'roc_auc on slice country=FR ...'],
        primaryMetric: { name: 'roc_auc', candidate: 0.84, champion: 0.81 },
      },
      model: {
        modelDataUri: `${ART}/runs/${executionName}/model/model.tar.gz`,
        trainingModelDataUri: `${ART}/runs/${executionName}/training/j/output/model.tar.gz`,
        codeUri: `${ART}/code/sourcedir.tar.gz`,
        sha256: 'a'.repeat(64),
        bytes: 1234,
        manifestUri: `${ART}/runs/${executionName}/model/manifest.json`,
      },
    },
  };
}

function setup(config: RelearnConfigInput = {}) {
  sm.reset();
  setLambdaEnv({ deployment: { instanceType: 'ml.c5.large' }, ...config });
  process.env.AWS_REGION = 'eu-west-1';
  sm.on(ListModelPackagesCommand).resolves({ ModelPackageSummaryList: [] });
  sm.on(CreateModelPackageCommand).resolves({ ModelPackageArn: 'arn:aws:sagemaker:eu-west-1:000000000000:model-package/relearn-models/7' });
}

describe('Register', () => {
  afterAll(() => {
    process.env.AWS_REGION = 'us-east-1';
  });

  test('a passing candidate with auto approval is registered Approved, with the serving container, metrics and lineage', async () => {
    // GIVEN
    setup();
    // WHEN
    const ref = RegistrationRefSchema.parse(await handler(event('exec-1', true)));
    // THEN
    expect(ref).toEqual({ modelPackageArn: 'arn:aws:sagemaker:eu-west-1:000000000000:model-package/relearn-models/7', approvalStatus: 'Approved', promote: true });
    const input = sm.commandCalls(CreateModelPackageCommand)[0].args[0].input;
    expect(input).toMatchObject({
      ModelPackageGroupName: 'relearn-models',
      ModelApprovalStatus: 'Approved',
      ClientToken: clientTokenFor('exec-1'),
      InferenceSpecification: {
        Containers: [{
          Image: '683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3',
          // The self-contained archive: the serving code is inside it (finding 1), nothing else is read from S3.
          ModelDataUrl: `${ART}/runs/exec-1/model/model.tar.gz`,
          Environment: { SAGEMAKER_PROGRAM: 'train.py', SAGEMAKER_SUBMIT_DIRECTORY: '/opt/ml/model/code', SAGEMAKER_CONTAINER_LOG_LEVEL: '20', SAGEMAKER_REGION: 'eu-west-1' },
        }],
        SupportedContentTypes: ['text/csv', 'application/json'],
        SupportedResponseMIMETypes: ['application/json'],
        SupportedRealtimeInferenceInstanceTypes: ['ml.c5.large'],
      },
      ModelMetrics: { ModelQuality: { Statistics: { ContentType: 'application/json', S3Uri: `${ART}/runs/exec-1/evaluation/evaluation.json` } } },
      CustomerMetadataProperties: { executionName: 'exec-1', datasetId: 'ds-42', primaryMetric: 'roc_auc=0.84', gate: 'passed', modelSha256: 'a'.repeat(64) },
    });
    expect(input.ClientToken).toMatch(/^[a-zA-Z0-9-]{1,36}$/);
    expect(input.ModelPackageDescription).toBe('relearn run exec-1: Deploy: all 4 gate checks passed.');
  });

  test('execution names at the 80-character limit and with every character Step Functions allows: metadata and description fit SageMaker’s patterns', async () => {
    for (const name of EDGE_EXECUTION_NAMES) {
      setup();
      await handler({ ...event(name, true), executionStartTime: '2026-11-29T08:00:00.000Z' });
      const input = sm.commandCalls(CreateModelPackageCommand)[0].args[0].input;
      for (const [k, v] of Object.entries(input.CustomerMetadataProperties!)) {
        expect([name, k, v, fitsShape('CustomerMetadataKey', k), fitsShape('CustomerMetadataValue', v)]).toEqual([name, k, v, true, true]);
      }
      expect(tagSafeDecode(input.CustomerMetadataProperties!.executionName) ?? name).toBe(name);
      expect(fitsShape('EntityDescription', input.ModelPackageDescription!)).toBe(true);
      expect(input.InferenceSpecification?.Containers?.[0].ModelDataUrl).toBe(`${ART}/runs/${name}/model/model.tar.gz`);
    }
  });

  test('a package of an earlier execution of the same name (another start time) is not taken for this run’s', async () => {
    setup();
    const arn = 'arn:aws:sagemaker:eu-west-1:000000000000:model-package/relearn-models/3';
    sm.on(ListModelPackagesCommand).resolves({
      ModelPackageSummaryList: [{ ModelPackageArn: arn, ModelPackageGroupName: 'relearn-models', ModelPackageDescription: 'relearn run exec-9: Deploy', CreationTime: new Date(), ModelPackageStatus: 'Completed' }],
    });
    sm.on(DescribeModelPackageCommand, { ModelPackageName: arn }).resolves({ ModelPackageArn: arn, ModelApprovalStatus: 'Approved', CustomerMetadataProperties: { executionName: 'exec-9', executionStartTime: '2026-08-01T00:00:00.000Z' } });
    const ref = await handler({ ...event('exec-9', true), executionStartTime: '2026-11-29T08:00:00.000Z' });
    expect(ref.modelPackageArn).toBe('arn:aws:sagemaker:eu-west-1:000000000000:model-package/relearn-models/7');
    expect(sm.commandCalls(CreateModelPackageCommand)[0].args[0].input.CustomerMetadataProperties?.executionStartTime).toBe('2026-11-29T08:00:00.000Z');
  });

  test('a retry finds its own package and creates no second version', async () => {
    // GIVEN the first attempt created the package, then the Lambda timed out
    setup();
    const arn = 'arn:aws:sagemaker:eu-west-1:000000000000:model-package/relearn-models/5';
    sm.on(ListModelPackagesCommand).resolves({
      ModelPackageSummaryList: [
        { ModelPackageArn: 'arn:other', ModelPackageGroupName: 'relearn-models', ModelPackageDescription: 'relearn run exec-40: ...', CreationTime: new Date(), ModelPackageStatus: 'Completed' },
        { ModelPackageArn: arn, ModelPackageGroupName: 'relearn-models', ModelPackageDescription: 'relearn run exec-4: Deploy', CreationTime: new Date(), ModelPackageStatus: 'Completed', ModelApprovalStatus: 'Approved' },
      ],
    });
    sm.on(DescribeModelPackageCommand, { ModelPackageName: arn }).resolves({ ModelPackageArn: arn, ModelApprovalStatus: 'Approved', CustomerMetadataProperties: { executionName: 'exec-4' } });
    // WHEN
    const ref = await handler(event('exec-4', true));
    // THEN
    expect(ref).toEqual({ modelPackageArn: arn, approvalStatus: 'Approved', promote: true });
    expect(sm.commandCalls(CreateModelPackageCommand)).toHaveLength(0);
    expect(sm.commandCalls(DescribeModelPackageCommand)).toHaveLength(1);
  });

  test('throttling is a TransientError (retried by the state machine); a missing evaluation is InvalidStageInput', async () => {
    setup();
    sm.on(CreateModelPackageCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    await expect(handler(event('exec-5', true))).rejects.toMatchObject({ name: 'TransientError' });
    const noEval = event('exec-6', true);
    delete noEval.state.evaluation;
    await expect(handler(noEval)).rejects.toMatchObject({ name: 'InvalidStageInput', message: 'Register: state.evaluation is missing' });
  });
});
