import { CreateModelPackageCommand, ListModelPackagesCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../lambdas/register/handler';
import { StageEvent } from '../lambdas/shared/contracts';
import { setLambdaEnv } from './helpers/local-s3';

// Which metrics a model package carries (the request Register sends; register-local.test.ts runs it against the local server).
const sm = mockClient(SageMakerClient);
const ART = 's3://test-artifacts';

const event = (modelQualityUri?: string): StageEvent => ({
  executionName: 'exec-mc',
  state: {
    source: { bucket: 'test-data', prefix: 'incoming/' },
    training: { jobName: 'j', status: 'Completed', done: true, modelDataUri: `${ART}/runs/exec-mc/training/j/output/model.tar.gz` },
    // PackageModel's self-contained archive: what Register registers
    model: {
      modelDataUri: `${ART}/runs/exec-mc/model/model.tar.gz`,
      trainingModelDataUri: `${ART}/runs/exec-mc/training/j/output/model.tar.gz`,
      codeUri: `${ART}/code/sourcedir.tar.gz`,
      sha256: 'a'.repeat(64),
      bytes: 1234,
      manifestUri: `${ART}/runs/exec-mc/model/manifest.json`,
    },
    evaluation: {
      evaluationUri: `${ART}/runs/exec-mc/evaluation/evaluation.json`,
      ...(modelQualityUri ? { modelQualityUri } : {}),
      reportUri: `${ART}/runs/exec-mc/evaluation/report.html`,
      decisionUri: `${ART}/runs/exec-mc/decision.json`,
      deploy: true,
      reasons: ['Deploy: all 3 gate checks passed.'],
      primaryMetric: { name: 'roc_auc_ovr', candidate: 0.91, champion: 0.9 },
    },
  },
});

describe('Register records the candidate\'s metrics', () => {
  beforeEach(() => {
    sm.reset();
    setLambdaEnv({ evaluation: { problemType: 'multiclass_classification' } });
    sm.on(ListModelPackagesCommand).resolves({ ModelPackageSummaryList: [] });
    sm.on(CreateModelPackageCommand).resolves({ ModelPackageArn: 'arn:aws:sagemaker:us-east-1:000000000000:model-package/relearn-models/3' });
  });

  test('as the package\'s model-quality statistics (model-quality.json, the registry\'s format), and the primary metric as metadata', async () => {
    await handler(event(`${ART}/runs/exec-mc/evaluation/model-quality.json`));
    const input = sm.commandCalls(CreateModelPackageCommand)[0].args[0].input;
    expect(input.ModelMetrics).toEqual({ ModelQuality: { Statistics: { ContentType: 'application/json', S3Uri: `${ART}/runs/exec-mc/evaluation/model-quality.json` } } });
    expect(input.CustomerMetadataProperties).toMatchObject({ primaryMetric: 'roc_auc_ovr=0.91', championPrimaryMetric: 'roc_auc_ovr=0.9' });
  });

  test('a state from before model-quality.json existed still points at evaluation.json', async () => {
    await handler(event());
    expect(sm.commandCalls(CreateModelPackageCommand)[0].args[0].input.ModelMetrics!.ModelQuality!.Statistics!.S3Uri).toBe(`${ART}/runs/exec-mc/evaluation/evaluation.json`);
  });
});
