import {
  CreateTrainingJobCommand,
  CreateTrainingJobCommandInput,
  DescribeTrainingJobCommand,
  ListTagsCommand,
  SageMakerClient,
  SageMakerServiceException,
} from '@aws-sdk/client-sagemaker';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { checkTraining, outputDataUriOf, trainingRefOf } from '../lambdas/check-training/core';
import { handler as checkHandler } from '../lambdas/check-training/handler';
import { generateChurn } from '../examples/churn/generate';
import { buildCreateTrainingJobRequest, hasInstanceStorage, TrainingJobInputs } from '../lambdas/start-training/core';
import { handler as startHandler } from '../lambdas/start-training/handler';
import { parseConfig, RelearnConfigInput } from '../lambdas/shared/config';
import { ChampionRecord, PipelineState } from '../lambdas/shared/contracts';
import { loadEnv } from '../lambdas/shared/env';
import { fitsShape, tagSafeDecode, trainingJobName } from '../lambdas/shared/names';
import { executionTags } from '../lambdas/shared/sagemaker';
import { EDGE_EXECUTION_NAMES } from './helpers/execution-names';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

const EXEC = 'run-2026-11-29T08-00';
const START = '2026-11-29T08:00:00.000Z';
const KMS = 'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000';
const CODE = `s3://${ARTIFACTS_BUCKET}/code/sourcedir.tar.gz`;
const IMAGE = '683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3';
const DATASET = {
  datasetId: 'ds-abc123',
  trainUri: `s3://${ARTIFACTS_BUCKET}/datasets/ds-abc123/train/`,
  validationUri: `s3://${ARTIFACTS_BUCKET}/datasets/ds-abc123/validation/`,
};
const CHAMPION_MODEL = `s3://${ARTIFACTS_BUCKET}/runs/previous/training/relearn-train-previous-1/output/model.tar.gz`;

function inputs(config: RelearnConfigInput = {}, extra: Partial<TrainingJobInputs> = {}): TrainingJobInputs {
  return {
    executionName: EXEC,
    executionStartTime: START,
    config: parseConfig(config),
    dataset: DATASET,
    artifactsBucket: ARTIFACTS_BUCKET,
    kmsKeyArn: KMS,
    roleArn: 'arn:aws:iam::000000000000:role/relearn-sagemaker',
    imageUri: IMAGE,
    codeUri: CODE,
    region: 'eu-west-1',
    ...extra,
  };
}

const channel = (req: CreateTrainingJobCommandInput, name: string) => req.InputDataConfig?.find((c) => c.ChannelName === name);

describe('buildCreateTrainingJobRequest', () => {
  test('sends the script the way the SageMaker Python SDK SKLearn estimator does', () => {
    // GIVEN the default configuration
    // WHEN the request is built
    const req = buildCreateTrainingJobRequest(inputs());
    // THEN the job is named from the execution, runs the image with the role, and scrapes the default metrics
    expect(req.TrainingJobName).toBe(trainingJobName('relearn', EXEC));
    expect(req.RoleArn).toBe('arn:aws:iam::000000000000:role/relearn-sagemaker');
    expect(req.AlgorithmSpecification).toMatchObject({
      TrainingImage: IMAGE,
      TrainingInputMode: 'File',
      MetricDefinitions: [
        { Name: 'validation:roc_auc', Regex: 'validation:roc_auc=([0-9.eE+-]+)' },
        { Name: 'validation:accuracy', Regex: 'validation:accuracy=([0-9.eE+-]+)' },
      ],
    });
    // AND every hyperparameter is JSON-encoded, with the script-mode keys and the reserved columns
    expect(req.HyperParameters).toEqual({
      'label-column': '"churned"',
      'id-column': '"_row_id"',
      'problem-type': '"binary_classification"',
      sagemaker_program: '"train.py"',
      sagemaker_submit_directory: `"${CODE}"`,
      sagemaker_container_log_level: '20',
      sagemaker_job_name: `"${req.TrainingJobName}"`,
      sagemaker_region: '"eu-west-1"',
    });
  });

  test('reads train and validation from the dataset snapshot and writes output under the run, encrypted', () => {
    const req = buildCreateTrainingJobRequest(inputs());
    expect(req.InputDataConfig?.map((c) => c.ChannelName)).toEqual(['train', 'validation']);
    expect(channel(req, 'train')).toMatchObject({
      DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: DATASET.trainUri, S3DataDistributionType: 'FullyReplicated' } },
      ContentType: 'text/csv',
    });
    expect(channel(req, 'validation')?.DataSource?.S3DataSource?.S3Uri).toBe(DATASET.validationUri);
    expect(req.OutputDataConfig).toEqual({ S3OutputPath: `s3://${ARTIFACTS_BUCKET}/runs/${EXEC}/training/`, KmsKeyId: KMS });
    expect(req.ResourceConfig).toEqual({ InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 30, VolumeKmsKeyId: KMS });
    expect(req.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 3600 });
    expect(req.EnableManagedSpotTraining).toBeUndefined();
    expect(req.CheckpointConfig).toBeUndefined();
    expect(req.EnableNetworkIsolation).toBe(false);
    expect(req.Tags).toEqual([
      { Key: 'relearn:pipeline', Value: 'relearn' },
      { Key: 'relearn:execution', Value: EXEC },
      { Key: 'relearn:execution-start', Value: START },
      { Key: 'relearn:dataset', Value: 'ds-abc123' },
    ]);
  });

  test('execution names at the 80-character limit and with every character Step Functions allows give a valid request', () => {
    for (const name of EDGE_EXECUTION_NAMES) {
      // WHEN the request is built for that execution
      const req = buildCreateTrainingJobRequest(inputs({ training: { spot: { enabled: true } } }, { executionName: name }));
      // THEN every value SageMaker checks with a pattern fits it, and the S3 locations keep the name whole
      expect(fitsShape('EntityName', req.TrainingJobName!)).toBe(true);
      for (const tag of req.Tags!) expect([name, tag, fitsShape('TagKey', tag.Key!), fitsShape('TagValue', tag.Value!)]).toEqual([name, tag, true, true]);
      expect(tagSafeDecode(req.Tags!.find((t) => t.Key === 'relearn:execution')!.Value!) ?? name).toBe(name);
      expect(req.OutputDataConfig?.S3OutputPath).toBe(`s3://${ARTIFACTS_BUCKET}/runs/${name}/training/`);
      expect(req.CheckpointConfig?.S3Uri).toBe(`s3://${ARTIFACTS_BUCKET}/runs/${name}/checkpoints/`);
      expect(JSON.parse(req.HyperParameters!.sagemaker_job_name)).toBe(req.TrainingJobName);
    }
  });

  test('passes the configured id column, label column and user hyperparameters JSON-encoded', () => {
    const req = buildCreateTrainingJobRequest(
      inputs({
        name: 'churn',
        dataset: { idColumn: 'customer_id', labelColumn: 'left' },
        training: { hyperparameters: { C: 0.5, 'feature-columns': 'plan,country', 'class-weight-balanced': true } },
      }),
    );
    expect(req.TrainingJobName).toBe(trainingJobName('churn', EXEC));
    expect(req.HyperParameters).toMatchObject({
      'id-column': '"customer_id"',
      'label-column': '"left"',
      C: '0.5',
      'feature-columns': '"plan,country"',
      'class-weight-balanced': 'true',
    });
  });

  test('adds the schema channel: exactly the run\'s schema.json, and the problem type as a reserved hyperparameter', () => {
    const schemaUri = `s3://${ARTIFACTS_BUCKET}/runs/${EXEC}/validation/schema.json`;
    const req = buildCreateTrainingJobRequest(inputs({ evaluation: { problemType: 'multiclass_classification' } }, { schemaUri }));
    expect(req.InputDataConfig?.map((c) => c.ChannelName)).toEqual(['train', 'validation', 'schema']);
    expect(channel(req, 'schema')).toEqual({
      ChannelName: 'schema',
      DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: schemaUri, S3DataDistributionType: 'FullyReplicated' } },
      ContentType: 'application/json',
      InputMode: 'File',
    });
    expect(req.HyperParameters?.['problem-type']).toBe('"multiclass_classification"');
  });

  test('adds the champion channel when there is a champion model', () => {
    const req = buildCreateTrainingJobRequest(inputs({}, { championModelDataUri: CHAMPION_MODEL }));
    expect(req.InputDataConfig?.map((c) => c.ChannelName)).toEqual(['train', 'validation', 'champion']);
    expect(channel(req, 'champion')?.DataSource?.S3DataSource).toEqual({
      S3DataType: 'S3Prefix',
      S3Uri: CHAMPION_MODEL,
      S3DataDistributionType: 'FullyReplicated',
    });
  });

  test('spot training waits at most twice the runtime by default and checkpoints under the run', () => {
    const req = buildCreateTrainingJobRequest(inputs({ training: { maxRuntimeSeconds: 1800, spot: { enabled: true } } }));
    expect(req.EnableManagedSpotTraining).toBe(true);
    expect(req.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 1800, MaxWaitTimeInSeconds: 3600 });
    expect(req.CheckpointConfig).toEqual({ S3Uri: `s3://${ARTIFACTS_BUCKET}/runs/${EXEC}/checkpoints/`, LocalPath: '/opt/ml/checkpoints' });

    const explicit = buildCreateTrainingJobRequest(inputs({ training: { maxRuntimeSeconds: 1800, spot: { enabled: true, maxWaitSeconds: 2000 } } }));
    expect(explicit.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 1800, MaxWaitTimeInSeconds: 2000 });
  });

  test('with network isolation the code travels as a channel and the container is pointed at its local copy', () => {
    const req = buildCreateTrainingJobRequest(inputs({ training: { networkIsolation: true } }));
    expect(req.EnableNetworkIsolation).toBe(true);
    expect(channel(req, 'code')?.DataSource?.S3DataSource?.S3Uri).toBe(CODE);
    expect(req.HyperParameters?.sagemaker_submit_directory).toBe('"/opt/ml/input/data/code/sourcedir.tar.gz"');
    // A CDK asset keeps its hash as its name: the channel copies it under that name.
    const asset = buildCreateTrainingJobRequest(inputs({ training: { networkIsolation: true } }, { codeUri: 's3://cdk-hnb659fds-assets-1-eu-west-1/0f3a9c.gz' }));
    expect(asset.HyperParameters?.sagemaker_submit_directory).toBe('"/opt/ml/input/data/code/0f3a9c.gz"');
  });

  test('leaves VolumeKmsKeyId out for instance types with instance storage, which SageMaker refuses it for', () => {
    const req = buildCreateTrainingJobRequest(inputs({ training: { instanceType: 'ml.g4dn.xlarge', instanceCount: 2 } }));
    expect(req.ResourceConfig).toEqual({ InstanceType: 'ml.g4dn.xlarge', InstanceCount: 2, VolumeSizeInGB: 30 });
    expect(req.EnableInterContainerTrafficEncryption).toBe(true);
    expect(['ml.m5.large', 'ml.c5.2xlarge', 'ml.g4dn.xlarge', 'ml.p3dn.24xlarge', 'ml.g5.xlarge', 'ml.r5d.large'].map(hasInstanceStorage)).toEqual([
      false,
      false,
      true,
      true,
      true,
      true,
    ]);
  });
});

describe('training config', () => {
  test('refuses hyperparameters the pipeline sets itself, naming the field', () => {
    expect(() => parseConfig({ training: { hyperparameters: { 'label-column': 'x' } } })).toThrow(/training\.hyperparameters\.label-column: .*set by the pipeline/);
    expect(() => parseConfig({ training: { hyperparameters: { sagemaker_program: 'x.py' } } })).toThrow(/training\.hyperparameters\.sagemaker_program/);
    expect(() => parseConfig({ training: { hyperparameters: { 'has space': 1 } } })).toThrow(/must be a script argument name.*"has space"/);
    expect(() => parseConfig({ training: { hyperparameters: { long: 'x'.repeat(2600) } } })).toThrow(/at most 2500 characters/);
  });

  test('refuses a spot wait shorter than the runtime and a non-Python entry point', () => {
    expect(() => parseConfig({ training: { maxRuntimeSeconds: 3600, spot: { enabled: true, maxWaitSeconds: 600 } } })).toThrow(
      /training\.spot\.maxWaitSeconds: must be >= training\.maxRuntimeSeconds \(3600\), but got 600/,
    );
    expect(() => parseConfig({ training: { entryPoint: 'train.sh' } })).toThrow(/training\.entryPoint: must be a \.py file/);
    expect(parseConfig({ training: { entryPoint: 'train.sh', imageUri: 'my/own:image' } }).training.entryPoint).toBe('train.sh');
  });
});

describe('the request and the script agree', () => {
  const python = process.env.RELEARN_PYTHON ?? '/usr/bin/python3';
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'relearn-training-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('train.py accepts the hyperparameters as the framework container hands them over', async () => {
    // GIVEN a request with user hyperparameters, decoded the way the SageMaker training toolkit does
    // (JSON-decode each value, drop sagemaker_*, pass `--name str(value)`)
    const req = buildCreateTrainingJobRequest(
      inputs({ dataset: { idColumn: 'customer_id' }, training: { hyperparameters: { C: 0.5, 'class-weight-balanced': true, 'max-text-features': 300 } } }),
    );
    const pyStr = (v: unknown) => (typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v));
    const args = Object.entries(req.HyperParameters ?? {})
      .filter(([k]) => !k.startsWith('sagemaker_'))
      .flatMap(([k, v]) => [`--${k}`, pyStr(JSON.parse(v))]);
    for (const [name, rows, seed] of [['train', 1500, 5], ['validation', 400, 6]] as const) {
      mkdirSync(join(dir, name));
      await pipeline(generateChurn({ rows, seed }), createWriteStream(join(dir, name, 'part-00000.csv')));
    }
    // WHEN the script runs with them, laid out like /opt/ml
    const run = spawnSync(python, [join(__dirname, '..', 'training-scripts', 'tabular', 'train.py'), ...args], {
      env: {
        ...process.env,
        SM_CHANNEL_TRAIN: join(dir, 'train'),
        SM_CHANNEL_VALIDATION: join(dir, 'validation'),
        SM_MODEL_DIR: join(dir, 'model'),
        SM_OUTPUT_DIR: join(dir, 'output'),
        SM_OUTPUT_DATA_DIR: join(dir, 'output', 'data'),
      },
      encoding: 'utf8',
    });
    // THEN it trains, and each metric definition's regex finds its value in the log
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.status).toBe(0);
    for (const m of req.AlgorithmSpecification?.MetricDefinitions ?? []) {
      expect(run.stdout).toMatch(new RegExp(m.Regex!));
    }
    expect(existsSync(join(dir, 'model', 'model.joblib'))).toBe(true);
    const first = JSON.parse(readFileSync(join(dir, 'output', 'data', 'predictions.jsonl'), 'utf8').split('\n')[0]);
    expect(first.id).toBe('cust-6-0000001');
  });

  test('the python interpreter used has scikit-learn (a clear failure otherwise)', () => {
    expect(execFileSync(python, ['-c', 'import sklearn; print(sklearn.__version__)'], { encoding: 'utf8' }).trim()).toBe('1.2.1');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Handlers: SageMaker mocked (another engineer owns the local SageMaker server), champion/current.json in real S3.
// ---------------------------------------------------------------------------------------------------------------

const sm = mockClient(SageMakerClient);

const smError = (name: string, message: string, status = 400) =>
  new SageMakerServiceException({ name, message, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status } });

function pipelineState(training?: PipelineState['training']): PipelineState {
  return {
    source: { bucket: 'test-data', keys: ['incoming/churn.csv'] },
    dataset: {
      ...DATASET,
      uri: `s3://${ARTIFACTS_BUCKET}/datasets/ds-abc123/`,
      manifestUri: `s3://${ARTIFACTS_BUCKET}/datasets/ds-abc123/manifest.json`,
      parts: ['datasets/ds-abc123/train/part-00000.csv', 'datasets/ds-abc123/validation/part-00000.csv'],
      rows: { train: 4000, validation: 1000 },
      columns: ['customer_id', 'churned'],
      reused: false,
    },
    ...(training ? { training } : {}),
  };
}

const champion: ChampionRecord = {
  executionName: 'previous',
  promotedAt: '2026-11-28T10:00:00Z',
  modelPackageArn: 'arn:aws:sagemaker:us-east-1:000000000000:model-package/relearn-models/1',
  modelName: 'relearn-model-previous',
  endpointName: 'relearn-endpoint',
  endpointConfigName: 'relearn-epc-previous',
  modelDataUri: CHAMPION_MODEL,
  datasetId: 'ds-old',
  datasetUri: `s3://${ARTIFACTS_BUCKET}/datasets/ds-old/`,
  statsUri: `s3://${ARTIFACTS_BUCKET}/runs/previous/validation/stats.json`,
  schemaUri: `s3://${ARTIFACTS_BUCKET}/runs/previous/validation/schema.json`,
  evaluationUri: `s3://${ARTIFACTS_BUCKET}/runs/previous/evaluation/evaluation.json`,
  primaryMetric: { name: 'roc_auc', value: 0.81 },
};

describe('StartTraining and CheckTraining handlers', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  beforeAll(async () => {
    s3 = await startTestS3();
  });
  afterAll(async () => s3.cleanup());
  beforeEach(() => {
    sm.reset();
    setLambdaEnv({ dataset: { idColumn: 'customer_id' } });
  });
  const putChampion = (body: unknown) =>
    s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'champion/current.json', Body: JSON.stringify(body) }));
  const deleteChampion = () => s3.client.send(new DeleteObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'champion/current.json' }));

  test('first run: creates the job without a champion channel and reports it in progress', async () => {
    // GIVEN no champion/current.json
    sm.on(CreateTrainingJobCommand).resolves({ TrainingJobArn: 'arn:job' });
    // WHEN StartTraining runs
    const ref = await startHandler({ executionName: EXEC, executionStartTime: START, state: pipelineState() });
    // THEN one CreateTrainingJob went out for this execution's job, with train and validation only
    const calls = sm.commandCalls(CreateTrainingJobCommand);
    expect(calls).toHaveLength(1);
    const req = calls[0].args[0].input;
    expect(req.TrainingJobName).toBe(trainingJobName('relearn', EXEC));
    expect(req.InputDataConfig?.map((c) => c.ChannelName)).toEqual(['train', 'validation']);
    expect(req.HyperParameters?.['id-column']).toBe('"customer_id"');
    expect(req.HyperParameters?.sagemaker_region).toBe('"us-east-1"');
    // (with the first WaitForTraining's seconds: training.pollIntervalSeconds)
    expect(ref).toEqual({ jobName: req.TrainingJobName, status: 'InProgress', done: false, nextWaitSeconds: 60 });
  });

  test('after ValidateData: the run\'s schema.json is the schema channel', async () => {
    sm.on(CreateTrainingJobCommand).resolves({ TrainingJobArn: 'arn:job' });
    const schemaUri = `s3://${ARTIFACTS_BUCKET}/runs/${EXEC}/validation/schema.json`;
    const validation = { statsUri: schemaUri.replace('schema', 'stats'), schemaUri, anomaliesUri: schemaUri.replace('schema', 'anomalies'), blocking: 0, warnings: 0, summary: 'ok' };
    await startHandler({ executionName: EXEC, executionStartTime: START, state: { ...pipelineState(), validation } });
    const req = sm.commandCalls(CreateTrainingJobCommand)[0].args[0].input;
    expect(channel(req, 'schema')?.DataSource?.S3DataSource?.S3Uri).toBe(schemaUri);
  });

  test('with a champion: its model is a channel and the result names it', async () => {
    await putChampion(champion);
    sm.on(CreateTrainingJobCommand).resolves({ TrainingJobArn: 'arn:job' });
    try {
      const ref = await startHandler({ executionName: EXEC, executionStartTime: START, state: pipelineState() });
      const req = sm.commandCalls(CreateTrainingJobCommand)[0].args[0].input;
      expect(channel(req, 'champion')?.DataSource?.S3DataSource?.S3Uri).toBe(CHAMPION_MODEL);
      expect(ref.championModelDataUri).toBe(CHAMPION_MODEL);
    } finally {
      await deleteChampion();
    }
  });

  test('a champion record without a model URI is an error that names the record', async () => {
    await putChampion({ executionName: 'broken' });
    try {
      await expect(startHandler({ executionName: EXEC, executionStartTime: START, state: pipelineState() })).rejects.toThrow(/champion\/current\.json has no valid modelDataUri/);
      expect(sm.commandCalls(CreateTrainingJobCommand)).toHaveLength(0);
    } finally {
      await deleteChampion();
    }
  });

  test('a retried attempt finds its own job and returns it as it is', async () => {
    // GIVEN the job was created by an earlier attempt
    const name = trainingJobName('relearn', EXEC);
    sm.on(CreateTrainingJobCommand).rejects(smError('ResourceInUse', `Training job names must be unique within an AWS account and region, and a training job with this name already exists (${name})`));
    sm.on(DescribeTrainingJobCommand, { TrainingJobName: name }).resolves({ TrainingJobName: name, TrainingJobArn: `arn:${name}`, TrainingJobStatus: 'InProgress', SecondaryStatus: 'Training' });
    sm.on(ListTagsCommand, { ResourceArn: `arn:${name}` }).resolves({ Tags: executionTags({ executionName: EXEC, startTime: START }) });
    // WHEN StartTraining runs again
    const ref = await startHandler({ executionName: EXEC, executionStartTime: START, state: pipelineState() });
    // THEN it reports that job instead of failing
    expect(ref).toEqual({ jobName: name, status: 'InProgress', secondaryStatus: 'Training', done: false, nextWaitSeconds: 60 });
  });

  test('a name used again by a later execution never adopts the earlier execution’s job (finding 6)', async () => {
    // GIVEN a job of this name created by an execution of the same name that started 100 days ago
    const name = trainingJobName('relearn', EXEC);
    sm.on(CreateTrainingJobCommand).rejects(smError('ResourceInUse', `a training job with this name already exists (${name})`));
    sm.on(DescribeTrainingJobCommand, { TrainingJobName: name }).resolves({ TrainingJobName: name, TrainingJobArn: `arn:${name}`, TrainingJobStatus: 'Completed', CreationTime: new Date('2026-08-21T08:00:05Z') });
    sm.on(ListTagsCommand, { ResourceArn: `arn:${name}` }).resolves({ Tags: executionTags({ executionName: EXEC, startTime: '2026-08-21T08:00:00.000Z' }) });
    // WHEN this execution's StartTraining runs, THEN it fails clearly instead of reporting the old job as its own
    await expect(startHandler({ executionName: EXEC, executionStartTime: START, state: pipelineState() })).rejects.toMatchObject({
      name: 'TrainingFailed',
      message: expect.stringMatching(/already exists and is not this execution's: it was created by an earlier execution of the same name, started 2026-08-21T08:00:00.000Z .*start this run again under a new name/),
    });
    // AND a job without relearn's start tag (made before it existed, or by hand) is not adopted either
    sm.on(ListTagsCommand, { ResourceArn: `arn:${name}` }).resolves({ Tags: [{ Key: 'relearn:execution', Value: EXEC }] });
    await expect(startHandler({ executionName: EXEC, executionStartTime: START, state: pipelineState() })).rejects.toMatchObject({
      name: 'TrainingFailed',
      message: expect.stringMatching(/carries no relearn:execution-start tag/),
    });
  });

  test('without the execution start time in the payload StartTraining refuses to run (it could not prove a job its own)', async () => {
    await expect(startHandler({ executionName: EXEC, state: pipelineState() })).rejects.toMatchObject({ name: 'InvalidStageInput', message: expect.stringMatching(/executionStartTime is missing/) });
    expect(sm.commandCalls(CreateTrainingJobCommand)).toHaveLength(0);
  });

  test('SageMaker refusing the request is TrainingFailed with its message; throttling is transient', async () => {
    sm.on(CreateTrainingJobCommand).rejects(smError('ResourceLimitExceeded', 'The account-level service limit for ml.m5.large is 0 Instances'));
    await expect(startHandler({ executionName: EXEC, executionStartTime: START, state: pipelineState() })).rejects.toMatchObject({
      name: 'TrainingFailed',
      message: expect.stringMatching(/refused to create training job .*ResourceLimitExceeded: The account-level service limit/),
    });
    sm.reset();
    sm.on(CreateTrainingJobCommand).rejects(smError('ThrottlingException', 'Rate exceeded'));
    await expect(startHandler({ executionName: EXEC, executionStartTime: START, state: pipelineState() })).rejects.toMatchObject({ name: 'TransientError' });    // A connection reset or a timeout the SDK's own retries did not get past (a busy network): retried, not a failed run.
    for (const err of [Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' }), Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })]) {
      sm.reset();
      sm.on(CreateTrainingJobCommand).rejects(err);
      await expect(startHandler({ executionName: EXEC, executionStartTime: START, state: pipelineState() })).rejects.toMatchObject({ name: 'TransientError' });
    }
  });

  test('StartTraining without a dataset is InvalidStageInput', async () => {
    await expect(startHandler({ executionName: EXEC, executionStartTime: START, state: { source: { bucket: 'b', keys: ['k'] } } })).rejects.toMatchObject({
      name: 'InvalidStageInput',
      message: expect.stringMatching(/state\.dataset is missing/),
    });
  });

  test('CheckTraining: in progress, then completed with model, output, metrics and seconds', async () => {
    const name = trainingJobName('relearn', EXEC);
    const started = { jobName: name, status: 'InProgress', done: false, championModelDataUri: CHAMPION_MODEL };
    sm.on(DescribeTrainingJobCommand).resolvesOnce({ TrainingJobName: name, TrainingJobStatus: 'InProgress', SecondaryStatus: 'Downloading' });
    // (no CreationTime from SageMaker: age 0, so the first interval)
    expect(await checkHandler({ executionName: EXEC, state: pipelineState(started) })).toEqual({ ...started, secondaryStatus: 'Downloading', nextWaitSeconds: 60 });

    const output = `s3://${ARTIFACTS_BUCKET}/runs/${EXEC}/training/`;
    sm.on(DescribeTrainingJobCommand).resolves({
      TrainingJobName: name,
      TrainingJobStatus: 'Completed',
      SecondaryStatus: 'Completed',
      ModelArtifacts: { S3ModelArtifacts: `${output}${name}/output/model.tar.gz` },
      OutputDataConfig: { S3OutputPath: output, KmsKeyId: KMS },
      FinalMetricDataList: [
        { MetricName: 'validation:roc_auc', Value: 0.8123, Timestamp: new Date() },
        { MetricName: 'validation:accuracy', Value: 0.75, Timestamp: new Date() },
      ],
      TrainingTimeInSeconds: 42,
      InputDataConfig: [
        { ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: DATASET.trainUri } } },
        { ChannelName: 'champion', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: CHAMPION_MODEL } } },
      ],
    });
    expect(await checkHandler({ executionName: EXEC, state: pipelineState(started) })).toEqual({
      jobName: name,
      status: 'Completed',
      secondaryStatus: 'Completed',
      done: true,
      modelDataUri: `${output}${name}/output/model.tar.gz`,
      outputDataUri: `${output}${name}/output/output.tar.gz`,
      championModelDataUri: CHAMPION_MODEL,
      finalMetrics: { 'validation:roc_auc': 0.8123, 'validation:accuracy': 0.75 },
      trainingSeconds: 42,
    });
  });

  test("CheckTraining: Failed carries SageMaker's FailureReason, Stopped says stopped, a missing job fails", async () => {
    const name = trainingJobName('relearn', EXEC);
    const state = pipelineState({ jobName: name, status: 'InProgress', done: false });
    sm.on(DescribeTrainingJobCommand)
      .resolvesOnce({
        TrainingJobName: name,
        TrainingJobStatus: 'Failed',
        FailureReason: "AlgorithmError: channel 'train': no .csv files in /opt/ml/input/data/train",
      })
      .resolvesOnce({ TrainingJobName: name, TrainingJobStatus: 'Stopped', SecondaryStatus: 'MaxRuntimeExceeded' })
      .rejectsOnce(smError('ValidationException', 'Requested resource not found.'));
    await expect(checkHandler({ executionName: EXEC, state })).rejects.toMatchObject({
      name: 'TrainingFailed',
      message: `training job ${name} failed: AlgorithmError: channel 'train': no .csv files in /opt/ml/input/data/train`,
    });
    await expect(checkHandler({ executionName: EXEC, state })).rejects.toMatchObject({
      name: 'TrainingFailed',
      message: expect.stringMatching(/was stopped \(MaxRuntimeExceeded\)/),
    });
    await expect(checkHandler({ executionName: EXEC, state })).rejects.toMatchObject({ name: 'TrainingFailed', message: expect.stringMatching(/does not exist/) });
  });

  test('CheckTraining without a job name is InvalidStageInput; throttling is transient', async () => {
    await expect(checkHandler({ executionName: EXEC, state: pipelineState() })).rejects.toMatchObject({ name: 'InvalidStageInput' });
    sm.on(DescribeTrainingJobCommand).rejects(smError('ThrottlingException', 'Rate exceeded'));
    await expect(
      checkTraining({ executionName: EXEC, state: pipelineState({ jobName: 'j', status: 'InProgress', done: false }) }, loadEnv(), {
        sagemaker: new SageMakerClient({ region: 'us-east-1' }),
      }),
    ).rejects.toMatchObject({ name: 'ThrottlingException' });
    await expect(
      checkHandler({ executionName: EXEC, state: pipelineState({ jobName: 'j', status: 'InProgress', done: false }) }),
    ).rejects.toMatchObject({ name: 'TransientError' });
  });
});

describe('trainingRefOf', () => {
  test('works out seconds from start and end times and keeps only numeric metrics', () => {
    const ref = trainingRefOf({
      TrainingJobName: 'j',
      TrainingJobStatus: 'Completed',
      ModelArtifacts: { S3ModelArtifacts: 's3://b/runs/e/training/j/output/model.tar.gz' },
      OutputDataConfig: { S3OutputPath: 's3://b/runs/e/training' },
      TrainingStartTime: new Date('2026-11-29T08:00:00Z'),
      TrainingEndTime: new Date('2026-11-29T08:01:30Z'),
      FinalMetricDataList: [{ MetricName: 'validation:roc_auc', Value: Number.NaN }],
    } as Parameters<typeof trainingRefOf>[0]);
    expect(ref.trainingSeconds).toBe(90);
    expect(ref.finalMetrics).toEqual({});
    expect(ref.outputDataUri).toBe('s3://b/runs/e/training/j/output/output.tar.gz');
    expect(outputDataUriOf('s3://b/x/', 'j')).toBe('s3://b/x/j/output/output.tar.gz');
  });

  test('a Completed job without artifacts is a failure, not a silent success', () => {
    expect(() => trainingRefOf({ TrainingJobName: 'j', TrainingJobStatus: 'Completed' } as Parameters<typeof trainingRefOf>[0])).toThrow(
      /Completed but SageMaker reports no model artifact/,
    );
  });
});
