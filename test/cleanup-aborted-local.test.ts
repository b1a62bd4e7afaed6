import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateTrainingJobCommand, DescribeTrainingJobCommand } from '@aws-sdk/client-sagemaker';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { handler } from '../lambdas/cleanup-aborted/handler';
import { sageMakerClient, s3Client, snsClient } from '../lambdas/shared/clients';
import { trainingJobName } from '../lambdas/shared/names';
import { executionTags } from '../lambdas/shared/sagemaker';
import { LocalSageMaker, localSageMakerEnv, startLocalSageMaker } from '../local/services/sagemaker';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/**
 * The abort cleanup for real: training jobs really run (Python subprocesses) on the local SageMaker server,
 * the handler gets the event EventBridge would deliver, and the server's SNS really receives the message.
 */
describe('the abort cleanup handler on the local SageMaker server', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let sm: LocalSageMaker;
  let work: string;
  const notifications: { subject?: string; message: string }[] = [];

  /** The executions' start (EventBridge's startDate, epoch ms). */
  const START_DATE = 1764410400000;
  const event = (name: string, status: 'ABORTED' | 'TIMED_OUT' | 'FAILED') => ({
    version: '0',
    id: `evt-${name}`,
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '000000000000',
    time: '2026-11-29T10:00:00Z',
    region: 'us-east-1',
    resources: [`arn:aws:states:us-east-1:000000000000:execution:relearn-retrain:${name}`],
    detail: {
      executionArn: `arn:aws:states:us-east-1:000000000000:execution:relearn-retrain:${name}`,
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:relearn-retrain',
      name,
      status,
      startDate: START_DATE,
      stopDate: 1764411000000,
      error: null,
      cause: null,
    },
  });

  /** Starts this execution's training job running `script` (a tar.gz already in the artifacts bucket). */
  const startJob = async (exec: string, script: string) => {
    const jobName = trainingJobName('relearn', exec);
    await sageMakerClient().send(
      new CreateTrainingJobCommand({
        TrainingJobName: jobName,
        RoleArn: process.env.SAGEMAKER_ROLE_ARN,
        AlgorithmSpecification: { TrainingImage: process.env.TRAINING_IMAGE_URI, TrainingInputMode: 'File' },
        HyperParameters: { sagemaker_program: '"train.py"', sagemaker_submit_directory: `"s3://${ARTIFACTS_BUCKET}/code/${script}"` },
        InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${ARTIFACTS_BUCKET}/datasets/d/train/` } } }],
        OutputDataConfig: { S3OutputPath: `s3://${ARTIFACTS_BUCKET}/runs/${exec}/training/` },
        ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
        StoppingCondition: { MaxRuntimeInSeconds: 3600 },
        // As StartTraining tags it: the execution's name and start time (the event's startDate), its proof of ownership.
        Tags: executionTags({ executionName: exec, startTime: START_DATE }),
      }),
    );
    return jobName;
  };
  const statusOf = async (jobName: string) => (await sageMakerClient().send(new DescribeTrainingJobCommand({ TrainingJobName: jobName }))).TrainingJobStatus;
  /** Polls until the job leaves InProgress/Stopping (bounded: 60 s). */
  const settled = async (jobName: string) => {
    let status = await statusOf(jobName);
    for (let i = 0; i < 600 && (status === 'InProgress' || status === 'Stopping'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await statusOf(jobName);
    }
    return status;
  };
  const packageScript = async (name: string, source: string) => {
    const dir = join(work, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'train.py'), source);
    await create({ gzip: true, file: join(work, `${name}.tar.gz`), cwd: dir }, ['train.py']);
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: `code/${name}.tar.gz`, Body: readFileSync(join(work, `${name}.tar.gz`)) }));
  };

  beforeAll(async () => {
    s3 = await startTestS3();
    work = mkdtempSync(join(tmpdir(), 'relearn-cleanup-aborted-'));
    sm = await startLocalSageMaker({
      directory: join(work, 'sagemaker'),
      s3Endpoint: s3.endpoint,
      onEvent: (e) => {
        if (e.kind === 'notification') notifications.push({ subject: e.subject, message: e.message });
      },
    });
    Object.assign(process.env, localSageMakerEnv(sm.endpoint));
    setLambdaEnv();
    // A job that would run for ten minutes, and one that is done at once.
    await packageScript('slow', 'import time\nprint("training...", flush=True)\ntime.sleep(600)\n');
    await packageScript('quick', 'print("trained", flush=True)\n');
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'datasets/d/train/part-00000.csv', Body: 'a,b\n1,2\n' }));
  });
  afterAll(async () => {
    await sm?.stop();
    for (const c of [sageMakerClient(), snsClient(), s3Client()]) c.destroy();
    await s3.cleanup();
    rmSync(work, { recursive: true, force: true });
  });
  beforeEach(() => {
    notifications.length = 0;
  });

  test('an aborted execution whose training job is still running: the job is stopped and the abort is published', async () => {
    // GIVEN this execution's training job is running
    const exec = 'run-aborted-while-training';
    const jobName = await startJob(exec, 'slow.tar.gz');
    expect(await statusOf(jobName)).toBe('InProgress');

    // WHEN the execution is aborted and EventBridge delivers the status change
    const result = await handler(event(exec, 'ABORTED'));

    // THEN the job ends Stopped
    expect(result).toMatchObject({ status: 'ABORTED', training: { action: 'stopped', jobName }, notified: true });
    expect(await settled(jobName)).toBe('Stopped');
    // AND the abort reached SNS with what was cleaned up
    expect(notifications).toHaveLength(1);
    expect(notifications[0].subject).toBe(`[relearn] relearn: ABORTED (${exec})`);
    expect(notifications[0].message).toContain(`training job ${jobName} was still InProgress: stopped`);

    // AND a second delivery of the same event (EventBridge is at least once) changes nothing and says so
    const again = await handler(event(exec, 'ABORTED'));
    expect(again.training).toEqual({ action: 'none', jobName, detail: `training job ${jobName} was not running (Stopped)` });
  });

  test('a timed-out execution whose training job had finished: the job is left alone', async () => {
    // GIVEN this execution's training job completed
    const exec = 'run-timed-out-after-training';
    const jobName = await startJob(exec, 'quick.tar.gz');
    expect(await settled(jobName)).toBe('Completed');

    // WHEN the execution times out later (e.g. in the endpoint polls)
    const result = await handler(event(exec, 'TIMED_OUT'));

    // THEN nothing is stopped, the job stays Completed, and the timeout is still published
    expect(result.training).toEqual({ action: 'none', jobName, detail: `training job ${jobName} was not running (Completed)` });
    expect(await statusOf(jobName)).toBe('Completed');
    expect(notifications.map((n) => n.subject)).toEqual([`[relearn] relearn: TIMED OUT (${exec})`]);
  });

  test('an execution that failed before training (no job): nothing to stop; FAILED publishes nothing (NotifyFailure did)', async () => {
    const result = await handler(event('run-failed-at-validation', 'FAILED'));
    expect(result).toMatchObject({ training: { action: 'none', detail: expect.stringMatching(/the run had not started one$/) }, notified: false });
    expect(notifications).toEqual([]);
  });
});
