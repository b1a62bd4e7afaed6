import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  CreateModelPackageCommand,
  CreateModelPackageGroupCommand,
  CreateTrainingJobCommand,
  CreateTrainingJobCommandInput,
  DescribeEndpointCommand,
  DescribeModelPackageCommand,
  DescribeTrainingJobCommand,
  ListModelPackagesCommand,
  ListTrainingJobsCommand,
  SageMakerClient,
  StopTrainingJobCommand,
  UpdateEndpointCommand,
  UpdateModelPackageCommand,
  waitUntilEndpointInService,
  waitUntilTrainingJobCompletedOrStopped,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { findPython, LocalSageMaker, LocalSageMakerEvent, localSageMakerEnv, startLocalSageMaker } from '../local/services/sagemaker';
import { isTransient } from '../lambdas/shared/handler';
import { LOCAL_ADMIN_CREDENTIALS } from '../local/iam/identities';
import { signRequest } from '../local/iam/sigv4';
import { ARTIFACTS_BUCKET, startTestS3 } from './helpers/local-s3';

const PYTHON = '/usr/bin/python3';
const CODE_URI = `s3://${ARTIFACTS_BUCKET}/code/sourcedir.tar.gz`;
const BROKEN_CODE_URI = `s3://${ARTIFACTS_BUCKET}/code/broken.tar.gz`;
const TRAIN_URI = `s3://${ARTIFACTS_BUCKET}/datasets/d1/train`;
const IMAGE = '683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3';
const fast = (client: SageMakerClient) => ({ client, maxWaitTime: 120, minDelay: 1, maxDelay: 1 });

// A script-mode training + serving script, as a user writes it for the SKLearn container.
const TRAIN_PY = `
import argparse, json, os, sys, time
import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def input_fn(body, content_type):
    if content_type != "text/csv":
        raise ValueError("only text/csv is accepted, got %s" % content_type)
    rows = [r for r in body.strip().split("\\n") if r]
    try:
        return np.array([[float(v) for v in r.split(",")] for r in rows])
    except ValueError:
        raise ValueError("row 1: expected 2 numeric columns, got %r" % rows[0])

def predict_fn(x, model):
    return model.predict_proba(x)[:, 1]

def output_fn(pred, accept):
    return json.dumps({"scores": [round(float(p), 6) for p in pred]}), "application/json"

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--reg", type=float)
    p.add_argument("--label-column")
    p.add_argument("--sleep", type=float, default=0)
    a = p.parse_args()
    if a.sleep:
        print("sleeping", flush=True)
        time.sleep(a.sleep)
    train = os.environ["SM_CHANNEL_TRAIN"]
    df = pd.read_csv(os.path.join(train, "part-00000.csv"))
    m = LogisticRegression(C=a.reg).fit(df[["x1", "x2"]], df[a.label_column])
    print("epoch=1 validation:auc=0.75", flush=True)
    print("epoch=2 validation:auc=0.875", flush=True)
    joblib.dump(m, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
    seen = sorted(os.path.relpath(os.path.join(d, f), train) for d, _, fs in os.walk(train) for f in fs)
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "env.json"), "w") as f:
        json.dump({"argv": sys.argv[1:], "cwd": os.getcwd(), "files": seen,
                   "env": {k: v for k, v in os.environ.items() if k.startswith("SM_") or k == "TRAINING_JOB_NAME"}}, f)
`;

const FAIL_PY = `
import os, sys
if os.environ.get("SM_HP_MODE") == "failure-file":
    with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as f:
        f.write("DataValidationFailed: column x2 in row 3 is not numeric")
    sys.exit(2)
print("about to fail", file=sys.stderr)
raise RuntimeError("the training data has no rows")
`;

// Only model_fn: input/predict/output come from the container's defaults.
const DEFAULTS_PY = `
import os, joblib
def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
`;

const BROKEN_PY = `
def model_fn(model_dir):
    raise RuntimeError("model.joblib is corrupt")
`;

async function tarGz(files: Record<string, string>, out: string): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'relearn-src-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  await tar.c({ gzip: true, file: out, cwd: dir }, Object.keys(files));
  rmSync(dir, { recursive: true, force: true });
  return readFileSync(out);
}

async function readTarGz(s3Body: Uint8Array, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}.tar.gz`, s3Body);
  await tar.x({ file: `${dir}.tar.gz`, cwd: dir });
  return dir;
}

describe('local SageMaker server, through the real SDK clients', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let server: LocalSageMaker;
  let work: string;
  let stateDir: string;
  let sm: SageMakerClient;
  let runtime: SageMakerRuntimeClient;
  const events: LocalSageMakerEvent[] = [];

  const jobInput = (name: string, hps: Record<string, string>, extra: Partial<CreateTrainingJobCommandInput> = {}): CreateTrainingJobCommandInput => ({
    TrainingJobName: name,
    AlgorithmSpecification: {
      TrainingImage: IMAGE,
      TrainingInputMode: 'File',
      MetricDefinitions: [{ Name: 'validation:auc', Regex: 'validation:auc=([0-9.]+)' }],
    },
    RoleArn: 'arn:aws:iam::000000000000:role/relearn-sagemaker',
    HyperParameters: { sagemaker_program: '"train.py"', sagemaker_submit_directory: JSON.stringify(CODE_URI), reg: '0.5', 'label-column': '"y"', ...hps },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: TRAIN_URI, S3DataDistributionType: 'FullyReplicated' } } }],
    OutputDataConfig: { S3OutputPath: `s3://${ARTIFACTS_BUCKET}/runs/exec-1/training/` },
    ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 5 },
    StoppingCondition: { MaxRuntimeInSeconds: 300 },
    ...extra,
  });

  const start = async (): Promise<LocalSageMaker> => {
    const srv = await startLocalSageMaker({ directory: stateDir, s3Endpoint: s3.endpoint, python: PYTHON, onEvent: (e) => events.push(e) });
    Object.assign(process.env, localSageMakerEnv(srv.endpoint));
    sm?.destroy();
    runtime?.destroy();
    // No endpoint given: the clients find the server through AWS_ENDPOINT_URL_SAGEMAKER(_RUNTIME).
    sm = new SageMakerClient({});
    runtime = new SageMakerRuntimeClient({});
    return srv;
  };

  beforeAll(async () => {
    s3 = await startTestS3();
    work = mkdtempSync(join(tmpdir(), 'relearn-sm-test-'));
    stateDir = join(work, 'state');
    const rows = ['x1,x2,y'];
    for (let i = 0; i < 40; i++) rows.push(`${(i % 7) - 3},${(i % 5) * 0.5},${i % 7 > 3 ? 1 : 0}`);
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'datasets/d1/train/part-00000.csv', Body: rows.join('\n') + '\n' }));
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'datasets/d1/train/extra/notes.txt', Body: 'nested' }));
    const code = await tarGz({ 'train.py': TRAIN_PY, 'fail.py': FAIL_PY }, join(work, 'sourcedir.tar.gz'));
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'code/sourcedir.tar.gz', Body: code }));
    const broken = await tarGz({ 'serve.py': BROKEN_PY, 'defaults.py': DEFAULTS_PY }, join(work, 'broken.tar.gz'));
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'code/broken.tar.gz', Body: broken }));
    server = await start();
  });

  afterAll(async () => {
    sm?.destroy();
    runtime?.destroy();
    await server?.stop();
    await s3?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('findPython without any usable interpreter names each one tried and how to install one', () => {
    const saved = process.env.RELEARN_PYTHON;
    delete process.env.RELEARN_PYTHON;
    try {
      // GIVEN a missing interpreter and a program that runs but has no scikit-learn
      expect(() => findPython('/nonexistent/python3', ['/bin/false'])).toThrow(
        /No Python interpreter with scikit-learn found; tried \/nonexistent\/python3 \(not found\), \/bin\/false \(cannot import sklearn\)\. Install it with `apt-get install python3-sklearn python3-pandas`/,
      );
    } finally {
      if (saved !== undefined) process.env.RELEARN_PYTHON = saved;
    }
  });

  test('findPython prefers the given interpreter and falls through to one that has scikit-learn', () => {
    expect(findPython(PYTHON)).toBe(PYTHON);
    expect(findPython('/no/such/python3')).toBe(PYTHON);
  });

  describe('training jobs', () => {
    test('a job runs the script as the SKLearn container does, uploads model.tar.gz/output.tar.gz and scrapes metrics', async () => {
      // GIVEN / WHEN
      await sm.send(new CreateTrainingJobCommand(jobInput('job-ok', {})));
      const waited = await waitUntilTrainingJobCompletedOrStopped(fast(sm), { TrainingJobName: 'job-ok' });

      // THEN the SDK's own waiter saw it complete
      expect(waited.state).toBe('SUCCESS');
      const job = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'job-ok' }));
      expect(job.TrainingJobStatus).toBe('Completed');
      expect(job.SecondaryStatus).toBe('Completed');
      expect(job.SecondaryStatusTransitions?.map((t) => t.Status)).toEqual(['Starting', 'Downloading', 'Training', 'Uploading', 'Completed']);
      expect(job.TrainingStartTime).toBeInstanceOf(Date);
      expect(job.TrainingEndTime!.getTime()).toBeGreaterThanOrEqual(job.TrainingStartTime!.getTime());
      expect(job.FinalMetricDataList).toEqual([expect.objectContaining({ MetricName: 'validation:auc', Value: 0.875 })]);
      const prefix = `s3://${ARTIFACTS_BUCKET}/runs/exec-1/training/job-ok/output`;
      expect(job.ModelArtifacts?.S3ModelArtifacts).toBe(`${prefix}/model.tar.gz`);

      // AND model.tar.gz holds what the script saved; output.tar.gz what it wrote to SM_OUTPUT_DATA_DIR
      const model = await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'runs/exec-1/training/job-ok/output/model.tar.gz' }));
      const modelDir = await readTarGz(await model.Body!.transformToByteArray(), join(work, 'model-ok'));
      expect(existsSync(join(modelDir, 'model.joblib'))).toBe(true);
      const output = await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'runs/exec-1/training/job-ok/output/output.tar.gz' }));
      const outDir = await readTarGz(await output.Body!.transformToByteArray(), join(work, 'output-ok'));
      const seen = JSON.parse(readFileSync(join(outDir, 'env.json'), 'utf8'));

      // AND the script saw the toolkit's arguments (JSON-decoded, sorted, no sagemaker_*) and SM_* variables
      expect(seen.argv).toEqual(['--label-column', 'y', '--reg', '0.5']);
      expect(seen.files).toEqual(['extra/notes.txt', 'part-00000.csv']);
      expect(seen.cwd.endsWith('/code')).toBe(true);
      expect(seen.env.SM_CHANNELS).toBe('["train"]');
      expect(JSON.parse(seen.env.SM_HPS)).toEqual({ reg: 0.5, 'label-column': 'y' });
      expect(seen.env.SM_HP_REG).toBe('0.5');
      expect(seen.env['SM_HP_LABEL-COLUMN']).toBe('y');
      expect(seen.env.SM_MODULE_DIR).toBe(CODE_URI);
      expect(seen.env.SM_USER_ARGS).toBe('["--label-column", "y", "--reg", "0.5"]');
      expect(seen.env.SM_CURRENT_HOST).toBe('algo-1');
      expect(seen.env.SM_NUM_GPUS).toBe('0');
      expect(seen.env.TRAINING_JOB_NAME).toBe('job-ok');
      for (const k of ['SM_MODEL_DIR', 'SM_OUTPUT_DATA_DIR', 'SM_OUTPUT_DIR', 'SM_INPUT_DIR', 'SM_INPUT_CONFIG_DIR', 'SM_CHANNEL_TRAIN', 'SM_TRAINING_ENV', 'SM_NUM_CPUS']) {
        expect(seen.env[k]).toBeTruthy();
      }

      // AND the progress stream carried log lines and the metric
      expect(events).toContainEqual(expect.objectContaining({ kind: 'training-log', job: 'job-ok', line: 'epoch=2 validation:auc=0.875' }));
      expect(events).toContainEqual(expect.objectContaining({ kind: 'training-metric', job: 'job-ok', name: 'validation:auc', value: 0.875 }));
      const listed = await sm.send(new ListTrainingJobsCommand({ NameContains: 'job-ok' }));
      expect(listed.TrainingJobSummaries?.map((s) => s.TrainingJobStatus)).toEqual(['Completed']);
    });

    test('with network isolation the code comes as the `code` channel and sagemaker_submit_directory is its /opt/ml path', async () => {
      // GIVEN the request the SageMaker Python SDK sends for an isolated job
      const isolated = jobInput(
        'job-isolated',
        { sagemaker_submit_directory: JSON.stringify('/opt/ml/input/data/code/sourcedir.tar.gz') },
        { EnableNetworkIsolation: true },
      );
      isolated.InputDataConfig!.push({ ChannelName: 'code', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: CODE_URI, S3DataDistributionType: 'FullyReplicated' } } });
      // WHEN
      await sm.send(new CreateTrainingJobCommand(isolated));
      await waitUntilTrainingJobCompletedOrStopped(fast(sm), { TrainingJobName: 'job-isolated' });
      // THEN the script ran from the channel's archive, as in the container
      const job = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'job-isolated' }));
      expect({ status: job.TrainingJobStatus, reason: job.FailureReason }).toEqual({ status: 'Completed', reason: undefined });
      expect(job.FinalMetricDataList).toEqual([expect.objectContaining({ MetricName: 'validation:auc', Value: 0.875 })]);
    });

    test('a duplicate job name is ResourceInUse; an unknown job is ResourceNotFound; a bad name is a ValidationException', async () => {
      await expect(sm.send(new CreateTrainingJobCommand(jobInput('job-ok', {})))).rejects.toMatchObject({ name: 'ResourceInUse', message: expect.stringContaining('Training job names must be unique') });
      await expect(sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'no-such-job' }))).rejects.toMatchObject({ name: 'ResourceNotFound' });
      await expect(sm.send(new CreateTrainingJobCommand(jobInput('bad_name!', {})))).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining("'bad_name!'") });
      const badRegex = jobInput('job-bad-regex', {});
      badRegex.AlgorithmSpecification!.MetricDefinitions = [{ Name: 'auc', Regex: 'auc=([0-9.]+' }];
      await expect(sm.send(new CreateTrainingJobCommand(badRegex))).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('MetricDefinitions "auc"') });
    });

    test("a script that writes /opt/ml/output/failure fails the job with that reason; without it, with stderr's last lines", async () => {
      // GIVEN a script that writes the failure file, and one that raises
      await sm.send(new CreateTrainingJobCommand(jobInput('job-fail-file', { sagemaker_program: '"fail.py"', mode: '"failure-file"' })));
      await sm.send(new CreateTrainingJobCommand(jobInput('job-fail-raise', { sagemaker_program: '"fail.py"' })));

      // WHEN the SDK waiter watches them
      await expect(waitUntilTrainingJobCompletedOrStopped(fast(sm), { TrainingJobName: 'job-fail-file' })).rejects.toThrow();
      await expect(waitUntilTrainingJobCompletedOrStopped(fast(sm), { TrainingJobName: 'job-fail-raise' })).rejects.toThrow();

      // THEN
      const a = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'job-fail-file' }));
      expect(a).toMatchObject({ TrainingJobStatus: 'Failed', SecondaryStatus: 'Failed' });
      expect(a.FailureReason).toBe('AlgorithmError: DataValidationFailed: column x2 in row 3 is not numeric');
      const b = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'job-fail-raise' }));
      expect(b.TrainingJobStatus).toBe('Failed');
      expect(b.FailureReason).toContain('ExitCode 1');
      expect(b.FailureReason).toContain('RuntimeError: the training data has no rows');
      expect(b.ModelArtifacts).toBeUndefined();
    });

    test('StopTrainingJob kills the script: Stopping, then Stopped', async () => {
      // GIVEN a job whose script sleeps
      await sm.send(new CreateTrainingJobCommand(jobInput('job-stop', { sleep: '60' })));
      await until(() => events.some((e) => e.kind === 'training-log' && e.job === 'job-stop' && e.line === 'sleeping'));

      // WHEN it is stopped
      await sm.send(new StopTrainingJobCommand({ TrainingJobName: 'job-stop' }));
      const stopping = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'job-stop' }));
      const waited = await waitUntilTrainingJobCompletedOrStopped(fast(sm), { TrainingJobName: 'job-stop' });

      // THEN
      expect(['Stopping', 'Stopped']).toContain(stopping.TrainingJobStatus);
      expect(waited.state).toBe('SUCCESS');
      const job = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'job-stop' }));
      expect(job).toMatchObject({ TrainingJobStatus: 'Stopped', SecondaryStatus: 'Stopped' });
      expect(job.SecondaryStatusTransitions?.map((t) => t.Status)).toEqual(['Starting', 'Downloading', 'Training', 'Stopping', 'Stopped']);
      await expect(sm.send(new StopTrainingJobCommand({ TrainingJobName: 'job-stop' }))).rejects.toMatchObject({ name: 'ValidationException' });
    });

    test('MaxRuntimeInSeconds stops the job as SageMaker reports it: Stopped / MaxRuntimeExceeded', async () => {
      await sm.send(new CreateTrainingJobCommand(jobInput('job-timeout', { sleep: '60' }, { StoppingCondition: { MaxRuntimeInSeconds: 1 } })));
      await waitUntilTrainingJobCompletedOrStopped(fast(sm), { TrainingJobName: 'job-timeout' });
      const job = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'job-timeout' }));
      expect(job).toMatchObject({ TrainingJobStatus: 'Stopped', SecondaryStatus: 'MaxRuntimeExceeded' });
    });

    test('the failTraining fault fails the next job, after its script started, with the given reason; the one after runs', async () => {
      server.setFaults({ failTraining: 'injected: training fails' });
      await sm.send(new CreateTrainingJobCommand(jobInput('job-fault', {})));
      await expect(waitUntilTrainingJobCompletedOrStopped(fast(sm), { TrainingJobName: 'job-fault' })).rejects.toThrow();
      const job = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'job-fault' }));
      expect(job).toMatchObject({ TrainingJobStatus: 'Failed', FailureReason: 'injected: training fails' });
      expect(job.SecondaryStatusTransitions?.map((t) => t.Status)).toContain('Training');
      await sm.send(new CreateTrainingJobCommand(jobInput('job-after-fault', {})));
      expect((await waitUntilTrainingJobCompletedOrStopped(fast(sm), { TrainingJobName: 'job-after-fault' })).state).toBe('SUCCESS');
    });
  });

  describe('endpoints', () => {
    const modelData = `s3://${ARTIFACTS_BUCKET}/runs/exec-1/training/job-ok/output/model.tar.gz`;
    const createModelAndConfig = async (name: string, codeUri: string, program: string) => {
      await sm.send(
        new CreateModelCommand({
          ModelName: name,
          ExecutionRoleArn: 'arn:aws:iam::000000000000:role/relearn-sagemaker',
          PrimaryContainer: { Image: IMAGE, ModelDataUrl: modelData, Environment: { SAGEMAKER_PROGRAM: program, SAGEMAKER_SUBMIT_DIRECTORY: codeUri, SAGEMAKER_CONTAINER_LOG_LEVEL: '20', SAGEMAKER_REGION: 'us-east-1' } },
        }),
      );
      await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: `${name}-config`, ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: name, InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
    };
    const invokeCsv = async (body: string) => {
      const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'ep', ContentType: 'text/csv', Accept: 'application/json', Body: Buffer.from(body) }));
      return { contentType: out.ContentType, variant: out.InvokedProductionVariant, body: JSON.parse(Buffer.from(out.Body!).toString('utf8')) };
    };
    const settled = (name: string) => until(async () => (await sm.send(new DescribeEndpointCommand({ EndpointName: name }))).EndpointStatus !== 'Updating');

    test('CreateModel / EndpointConfig / Endpoint: the SDK waiter sees InService and InvokeEndpoint returns the model answer', async () => {
      // GIVEN
      await createModelAndConfig('model-good', CODE_URI, 'train.py');

      // WHEN
      await sm.send(new CreateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'model-good-config' }));
      const waited = await waitUntilEndpointInService(fast(sm), { EndpointName: 'ep' });

      // THEN
      expect(waited.state).toBe('SUCCESS');
      const ep = await sm.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
      expect(ep).toMatchObject({ EndpointStatus: 'InService', EndpointConfigName: 'model-good-config' });
      const answer = await invokeCsv('3,1\n-3,0');
      expect(answer.contentType).toBe('application/json');
      expect(answer.variant).toBe('AllTraffic');
      expect(answer.body.scores).toHaveLength(2);
      expect(answer.body.scores[0]).toBeGreaterThan(0.5);
      expect(answer.body.scores[1]).toBeLessThan(0.5);
    });

    test("a bad request is the model's 400 as a ModelError with the script's message", async () => {
      await expect(invokeCsv('a,b')).rejects.toMatchObject({ name: 'ModelError', OriginalStatusCode: 400, OriginalMessage: "row 1: expected 2 numeric columns, got 'a,b'" });
      await expect(runtime.send(new InvokeEndpointCommand({ EndpointName: 'ep', ContentType: 'application/json', Body: Buffer.from('[[1,2]]') }))).rejects.toMatchObject({
        name: 'ModelError',
        OriginalStatusCode: 400,
        message: expect.stringContaining('only text/csv is accepted'),
      });
      await expect(runtime.send(new InvokeEndpointCommand({ EndpointName: 'no-such-ep', ContentType: 'text/csv', Body: Buffer.from('1,2') }))).rejects.toMatchObject({
        name: 'ValidationError',
        message: 'Endpoint no-such-ep of account 000000000000 not found.',
      });
    });

    test('UpdateEndpoint to a model that does not load rolls back: InService on the OLD config, the old model still answers', async () => {
      // GIVEN a model whose model_fn raises
      await createModelAndConfig('model-broken', BROKEN_CODE_URI, 'serve.py');

      // WHEN the endpoint is updated to it
      await sm.send(new UpdateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'model-broken-config' }));
      await settled('ep');

      // THEN
      const ep = await sm.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
      expect(ep).toMatchObject({ EndpointStatus: 'InService', EndpointConfigName: 'model-good-config' });
      expect(ep.FailureReason).toContain('model.joblib is corrupt');
      expect((await invokeCsv('3,1')).body.scores[0]).toBeGreaterThan(0.5);
    });

    test('the failEndpointUpdate fault fails the next update the same way; a later update goes through', async () => {
      await sm.send(new CreateEndpointConfigCommand({ EndpointConfigName: 'model-good-config-2', ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: 'model-good', InitialInstanceCount: 1, InstanceType: 'ml.m5.large' }] }));
      server.setFaults({ failEndpointUpdate: 'injected: update fails' });
      await sm.send(new UpdateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'model-good-config-2' }));
      await settled('ep');
      const failed = await sm.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
      expect(failed).toMatchObject({ EndpointStatus: 'InService', EndpointConfigName: 'model-good-config' });
      expect(failed.FailureReason).toContain('injected: update fails');

      await sm.send(new UpdateEndpointCommand({ EndpointName: 'ep', EndpointConfigName: 'model-good-config-2' }));
      await settled('ep');
      const updated = await sm.send(new DescribeEndpointCommand({ EndpointName: 'ep' }));
      expect(updated).toMatchObject({ EndpointStatus: 'InService', EndpointConfigName: 'model-good-config-2' });
      expect(updated.FailureReason).toBeUndefined();
      expect((await invokeCsv('3,1')).body.scores[0]).toBeGreaterThan(0.5);
    });

    test("a module with only model_fn is served through the container's default input/predict/output functions", async () => {
      // GIVEN
      await createModelAndConfig('model-defaults', BROKEN_CODE_URI, 'defaults.py');
      await sm.send(new CreateEndpointCommand({ EndpointName: 'ep-defaults', EndpointConfigName: 'model-defaults-config' }));
      await waitUntilEndpointInService(fast(sm), { EndpointName: 'ep-defaults' });

      // WHEN / THEN: CSV and JSON decode to float arrays, model.predict answers, JSON is the default Accept
      const csv = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'ep-defaults', ContentType: 'text/csv', Body: Buffer.from('3,1\n-3,0\n') }));
      expect(csv.ContentType).toBe('application/json');
      expect(JSON.parse(Buffer.from(csv.Body!).toString('utf8'))).toEqual([1, 0]);
      const json = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'ep-defaults', ContentType: 'application/json', Accept: 'text/csv', Body: Buffer.from('[[3,1],[-3,0]]') }));
      expect(json.ContentType).toBe('text/csv');
      expect(Buffer.from(json.Body!).toString('utf8')).toBe('1\n0\n');
      // AND an unsupported content type is the container's 415
      await expect(runtime.send(new InvokeEndpointCommand({ EndpointName: 'ep-defaults', ContentType: 'image/png', Body: Buffer.from('x') }))).rejects.toMatchObject({
        name: 'ModelError',
        OriginalStatusCode: 415,
        OriginalMessage: 'Content type image/png is not supported by this framework.',
      });
    });

    test('a model server that dies is replaced, as SageMaker replaces an unhealthy instance', async () => {
      // GIVEN the endpoint's current model server (the newest generation folder with a pid)
      const currentPid = (): number => {
        const root = join(stateDir, 'endpoints', 'ep');
        const gens = readdirSync(root).filter((d) => existsSync(join(root, d, 'serving.pid')));
        gens.sort((a, b) => parseInt(b, 10) - parseInt(a, 10));
        return Number(readFileSync(join(root, gens[0], 'serving.pid'), 'utf8'));
      };
      const pid = currentPid();

      // WHEN it is killed (a process this test's server started)
      process.kill(pid, 'SIGKILL');

      // THEN a replacement serves the same model
      await until(() => currentPid() !== pid);
      await until(() => invokeCsv('3,1').then(() => true, () => false));
      expect((await invokeCsv('3,1')).body.scores[0]).toBeGreaterThan(0.5);
      expect(events).toContainEqual(expect.objectContaining({ kind: 'serving-log', endpoint: 'ep', line: expect.stringContaining('starting a replacement') }));
      expect((await sm.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointStatus).toBe('InService');
    });

    test('a model that fails to load on create leaves the endpoint Failed with the reason (the SDK waiter fails)', async () => {
      await sm.send(new CreateEndpointCommand({ EndpointName: 'ep-broken', EndpointConfigName: 'model-broken-config' }));
      await expect(waitUntilEndpointInService(fast(sm), { EndpointName: 'ep-broken' })).rejects.toThrow();
      const ep = await sm.send(new DescribeEndpointCommand({ EndpointName: 'ep-broken' }));
      expect(ep.EndpointStatus).toBe('Failed');
      expect(ep.FailureReason).toContain('model.joblib is corrupt');
    });
  });

  test('model packages: no auto-created group; versions, list and approval update', async () => {
    await expect(sm.send(new CreateModelPackageCommand({ ModelPackageGroupName: 'grp', ModelApprovalStatus: 'PendingManualApproval' }))).rejects.toMatchObject({ name: 'ValidationException' });
    await sm.send(new CreateModelPackageGroupCommand({ ModelPackageGroupName: 'grp' }));
    const inference = { Containers: [{ Image: IMAGE, ModelDataUrl: `s3://${ARTIFACTS_BUCKET}/m.tar.gz` }], SupportedContentTypes: ['text/csv'], SupportedResponseMIMETypes: ['application/json'] };
    const a = await sm.send(new CreateModelPackageCommand({ ModelPackageGroupName: 'grp', ModelApprovalStatus: 'Rejected', InferenceSpecification: inference, CustomerMetadataProperties: { run: 'r1' } }));
    const b = await sm.send(new CreateModelPackageCommand({ ModelPackageGroupName: 'grp', ModelApprovalStatus: 'PendingManualApproval', InferenceSpecification: inference }));
    expect(a.ModelPackageArn).toMatch(/:model-package\/grp\/1$/);
    expect(b.ModelPackageArn).toMatch(/:model-package\/grp\/2$/);
    await sm.send(new UpdateModelPackageCommand({ ModelPackageArn: b.ModelPackageArn!, ModelApprovalStatus: 'Approved', ApprovalDescription: 'blessed' }));
    const desc = await sm.send(new DescribeModelPackageCommand({ ModelPackageName: b.ModelPackageArn! }));
    expect(desc).toMatchObject({ ModelApprovalStatus: 'Approved', ModelPackageVersion: 2, ModelPackageGroupName: 'grp', ModelPackageStatus: 'Completed' });
    const approved = await sm.send(new ListModelPackagesCommand({ ModelPackageGroupName: 'grp', ModelApprovalStatus: 'Approved', SortBy: 'CreationTime', SortOrder: 'Descending' }));
    expect(approved.ModelPackageSummaryList?.map((p) => p.ModelPackageArn)).toEqual([b.ModelPackageArn]);
  });

  test('the delayMs fault slows every control-plane answer; faults are checked', async () => {
    // GIVEN a client that gives up after 1 s, and a server told to answer after 5 s
    const impatient = new SageMakerClient({ maxAttempts: 1 });
    const list = () => impatient.send(new ListTrainingJobsCommand({ MaxResults: 1 }), { abortSignal: AbortSignal.timeout(1000) });
    await list(); // answers when not delayed
    server.setFaults({ delayMs: 5000 });

    // WHEN / THEN
    await expect(list()).rejects.toMatchObject({ name: expect.stringMatching(/Abort|Timeout/) });
    server.setFaults({});
    await list();
    impatient.destroy();
    expect(() => server.setFaults({ delayMs: -1 })).toThrow('faults.delayMs must be a number >= 0, but got -1');
    expect(() => server.setFaults({ failTrainng: 'x' } as never)).toThrow('unknown fault "failTrainng"');
  });

  test('the throttle fault answers the next N calls as a SageMaker throttle, then normally; the SDK retries it itself', async () => {
    // GIVEN a client that does not retry, and a server told to throttle the next 2 calls
    const once = new SageMakerClient({ maxAttempts: 1 });
    const list = () => once.send(new ListTrainingJobsCommand({ MaxResults: 1 }));
    server.setFaults({ throttle: 2 });

    // WHEN / THEN: two throttles, as SageMaker sends them (400, ThrottlingException, "Rate exceeded") ...
    const throttled = { name: 'ThrottlingException', message: 'Rate exceeded', $metadata: expect.objectContaining({ httpStatusCode: 400 }) };
    const first = await list().catch((err: unknown) => err);
    expect(first).toMatchObject(throttled);
    await expect(list()).rejects.toMatchObject(throttled);
    // ... which a stage handler maps to TransientError, the error the state machine retries
    expect(isTransient(first)).toBe(true);
    // ... then normal answers
    await expect(list()).resolves.toMatchObject({ TrainingJobSummaries: expect.any(Array) });
    await expect(list()).resolves.toMatchObject({ TrainingJobSummaries: expect.any(Array) });

    // AND the SDK classifies the answer as a throttle and retries it itself: a client with 3 attempts gets through 2
    const patient = new SageMakerClient({ maxAttempts: 3 });
    server.setFaults({ throttle: 2 });
    const answer = await patient.send(new ListTrainingJobsCommand({ MaxResults: 1 }));
    expect(answer.$metadata.attempts).toBe(3);

    // AND CreateModelPackageGroup (the stand-in for cdk deploy's) is left alone: the count stays for the next call
    server.setFaults({ throttle: 1 });
    await once.send(new CreateModelPackageGroupCommand({ ModelPackageGroupName: 'grp-throttle' }));
    await expect(list()).rejects.toMatchObject(throttled);
    await list();
    once.destroy();
    patient.destroy();

    // AND bad counts are refused with what came in
    expect(() => server.setFaults({ throttle: 1.5 })).toThrow('faults.throttle must be a whole number of calls >= 0, but got 1.5');
    expect(() => server.setFaults({ throttle: '3' } as never)).toThrow('faults.throttle must be a whole number of calls >= 0, but got "3"');
    server.setFaults({});
  });

  test('RELEARN_LOCAL_FAULTS sets the throttle fault from the environment', async () => {
    // GIVEN
    process.env.RELEARN_LOCAL_FAULTS = '{"throttle":1}';
    let other: LocalSageMaker | undefined;
    const client = () => new SageMakerClient({ endpoint: other!.endpoint, maxAttempts: 1 });
    try {
      // WHEN
      other = await startLocalSageMaker({ directory: join(work, 'env-throttle'), s3Endpoint: s3.endpoint, python: PYTHON });
    } finally {
      delete process.env.RELEARN_LOCAL_FAULTS;
    }
    const c = client();
    try {
      // THEN the first call is throttled, the second is not
      await expect(c.send(new ListTrainingJobsCommand({}))).rejects.toMatchObject({ name: 'ThrottlingException' });
      await expect(c.send(new ListTrainingJobsCommand({}))).resolves.toMatchObject({ TrainingJobSummaries: [] });
    } finally {
      c.destroy();
      await other.stop();
    }
  });

  test('RELEARN_LOCAL_FAULTS that is not JSON stops the start with an error naming it', async () => {
    process.env.RELEARN_LOCAL_FAULTS = '{failTraining: x}';
    try {
      await expect(startLocalSageMaker({ directory: join(work, 'other'), s3Endpoint: s3.endpoint, python: PYTHON })).rejects.toThrow(/RELEARN_LOCAL_FAULTS must be JSON/);
    } finally {
      delete process.env.RELEARN_LOCAL_FAULTS;
    }
  });

  test('an unknown operation is a clear 400 naming it', async () => {
    // Signed as the operator: an unsigned request is refused first (MissingAuthenticationTokenException), as in AWS.
    const headers = signRequest({ method: 'POST', url: `${server.endpoint}/`, headers: { 'x-amz-target': 'SageMaker.CreateProcessingJob', 'content-type': 'application/x-amz-json-1.1' }, body: '{}', service: 'sagemaker', credentials: LOCAL_ADMIN_CREDENTIALS });
    const { host: _host, ...sent } = headers;
    const res = await fetch(`${server.endpoint}/`, { method: 'POST', headers: sent, body: '{}' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ __type: expect.stringContaining('UnknownOperationException'), message: expect.stringContaining('CreateProcessingJob') });
  });

  test('SNS Publish is recorded in notifications.jsonl and the event stream', async () => {
    const sns = new SNSClient({});
    const out = await sns.send(new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:000000000000:relearn-outcomes', Subject: 'relearn: promoted', Message: '{"outcome":"promoted"}' }));
    sns.destroy();
    expect(out.MessageId).toBeTruthy();
    const lines = readFileSync(join(stateDir, 'notifications.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toContainEqual(expect.objectContaining({ messageId: out.MessageId, subject: 'relearn: promoted', message: '{"outcome":"promoted"}' }));
    expect(events).toContainEqual(expect.objectContaining({ kind: 'notification', messageId: out.MessageId }));
  });

  test('a restarted server serves the endpoint again and still knows its jobs and packages', async () => {
    // GIVEN a stopped server
    await server.stop();

    // WHEN a new one starts on the same folder
    server = await start();

    // THEN
    expect((await sm.send(new DescribeEndpointCommand({ EndpointName: 'ep' }))).EndpointStatus).toBe('InService');
    const out = await runtime.send(new InvokeEndpointCommand({ EndpointName: 'ep', ContentType: 'text/csv', Body: Buffer.from('3,1') }));
    expect(JSON.parse(Buffer.from(out.Body!).toString('utf8')).scores[0]).toBeGreaterThan(0.5);
    expect((await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: 'job-ok' }))).TrainingJobStatus).toBe('Completed');
    expect((await sm.send(new ListModelPackagesCommand({ ModelPackageGroupName: 'grp' }))).ModelPackageSummaryList).toHaveLength(2);
  });
});

/** Polls `check` until it holds (bounded by the test timeout, not by a wall-clock assertion). */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 100));
}
