import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateModelPackageGroupCommand, DescribeModelPackageCommand, ListModelPackagesCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { handler } from '../lambdas/register/handler';
import { RegistrationRefSchema, StageEvent } from '../lambdas/shared/contracts';
import { RelearnConfigInput } from '../lambdas/shared/config';
import { LocalSageMaker, localSageMakerEnv, startLocalSageMaker } from '../local/services/sagemaker';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

const ART = `s3://${ARTIFACTS_BUCKET}`;
const GROUP = 'relearn-models';

function event(executionName: string, deploy: boolean): StageEvent {
  return {
    executionName,
    state: {
      source: { bucket: 'test-data', prefix: 'incoming/' },
      dataset: {
        datasetId: 'ds-7', uri: `${ART}/datasets/ds-7/`, trainUri: `${ART}/datasets/ds-7/train/`, validationUri: `${ART}/datasets/ds-7/validation/`,
        manifestUri: `${ART}/datasets/ds-7/manifest.json`, parts: [], rows: { train: 800, validation: 200 }, columns: ['id', 'churned'], reused: false,
      },
      training: { jobName: 'job', status: 'Completed', done: true, modelDataUri: `${ART}/runs/${executionName}/training/job/output/model.tar.gz`, outputDataUri: `${ART}/runs/${executionName}/training/job/output/output.tar.gz` },
      evaluation: {
        evaluationUri: `${ART}/runs/${executionName}/evaluation/evaluation.json`,
        reportUri: `${ART}/runs/${executionName}/evaluation/report.html`,
        decisionUri: `${ART}/runs/${executionName}/decision.json`,
        deploy,
        reasons: [deploy ? 'Deploy: all 3 gate checks passed.' : 'Do not deploy: 1 of 3 gate checks failed.'],
        primaryMetric: { name: 'roc_auc', candidate: 0.83, champion: deploy ? 0.8 : 0.86 },
      },
      model: {
        modelDataUri: `${ART}/runs/${executionName}/model/model.tar.gz`,
        trainingModelDataUri: `${ART}/runs/${executionName}/training/job/output/model.tar.gz`,
        codeUri: `${ART}/code/sourcedir.tar.gz`,
        sha256: 'b'.repeat(64),
        bytes: 4321,
        manifestUri: `${ART}/runs/${executionName}/model/manifest.json`,
      },
    },
  };
}

describe('Register against the local SageMaker server', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let srv: LocalSageMaker;
  let dir: string;
  let sm: SageMakerClient;
  const env = (config: RelearnConfigInput = {}) => setLambdaEnv({ deployment: { instanceType: 'ml.c5.large' }, ...config });

  beforeAll(async () => {
    s3 = await startTestS3();
    dir = mkdtempSync(join(tmpdir(), 'relearn-register-'));
    srv = await startLocalSageMaker({ directory: dir, s3Endpoint: s3.endpoint });
    Object.assign(process.env, localSageMakerEnv(srv.endpoint));
    sm = new SageMakerClient({});
    // the group belongs to the data stack; here the test creates it
    await sm.send(new CreateModelPackageGroupCommand({ ModelPackageGroupName: GROUP }));
  });
  afterAll(async () => {
    sm.destroy();
    await srv.stop();
    await s3.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const versionsOf = async (exec: string) => {
    const list = await sm.send(new ListModelPackagesCommand({ ModelPackageGroupName: GROUP, MaxResults: 100 }));
    return (list.ModelPackageSummaryList ?? []).filter((p) => p.ModelPackageDescription?.startsWith(`relearn run ${exec}:`));
  };

  test('a passing candidate is an Approved version carrying its container, metrics and lineage; a retry reuses it', async () => {
    // GIVEN
    env();
    // WHEN
    const ref = RegistrationRefSchema.parse(await handler(event('exec-a', true)));
    // THEN
    expect(ref).toMatchObject({ approvalStatus: 'Approved', promote: true });
    const pkg = await sm.send(new DescribeModelPackageCommand({ ModelPackageName: ref.modelPackageArn }));
    expect(pkg).toMatchObject({
      ModelPackageGroupName: GROUP,
      ModelApprovalStatus: 'Approved',
      InferenceSpecification: {
        Containers: [{ ModelDataUrl: `${ART}/runs/exec-a/model/model.tar.gz`, Environment: { SAGEMAKER_PROGRAM: 'train.py', SAGEMAKER_SUBMIT_DIRECTORY: '/opt/ml/model/code' } }],
        SupportedContentTypes: ['text/csv', 'application/json'],
        SupportedRealtimeInferenceInstanceTypes: ['ml.c5.large'],
      },
      ModelMetrics: { ModelQuality: { Statistics: { ContentType: 'application/json', S3Uri: `${ART}/runs/exec-a/evaluation/evaluation.json` } } },
      CustomerMetadataProperties: { executionName: 'exec-a', datasetId: 'ds-7', primaryMetric: 'roc_auc=0.83', gate: 'passed' },
    });
    // AND a retried Register (the local server ignores ClientToken) finds the same package
    const again = await handler(event('exec-a', true));
    expect(again).toEqual(ref);
    expect(await versionsOf('exec-a')).toHaveLength(1);
  });

  test('a failed gate is registered Rejected; manual approval is PendingManualApproval; neither promotes', async () => {
    env();
    const rejected = await handler(event('exec-b', false));
    expect(rejected).toMatchObject({ approvalStatus: 'Rejected', promote: false });
    env({ evaluation: { approval: 'manual' } });
    const pending = await handler(event('exec-c', true));
    expect(pending).toMatchObject({ approvalStatus: 'PendingManualApproval', promote: false });
    expect((await sm.send(new DescribeModelPackageCommand({ ModelPackageName: pending.modelPackageArn }))).ModelApprovalStatus).toBe('PendingManualApproval');
    expect(new Set([rejected.modelPackageArn, pending.modelPackageArn]).size).toBe(2);
  });

  test('a missing model package group fails the stage (not retried), naming the group', async () => {
    env();
    process.env.MODEL_PACKAGE_GROUP = 'no-such-group';
    await expect(handler(event('exec-d', true))).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('no-such-group') });
  });
});
