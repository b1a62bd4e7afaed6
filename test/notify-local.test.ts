import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateTrainingJobCommand, DescribeTrainingJobCommand } from '@aws-sdk/client-sagemaker';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { handler } from '../lambdas/notify/handler';
import { sageMakerClient, snsClient, s3Client } from '../lambdas/shared/clients';
import { trainingJobName } from '../lambdas/shared/names';
import { getJson } from '../lambdas/shared/s3';
import { LocalSageMaker, localSageMakerEnv, startLocalSageMaker } from '../local/services/sagemaker';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/**
 * NotifyFailure for real: a training job really running (a script that would run for minutes) on the local
 * SageMaker server is stopped by the failure notification, which the server's SNS really receives.
 */
describe('NotifyFailure on the local SageMaker server', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let sm: LocalSageMaker;
  let work: string;
  const notifications: { subject?: string; message: string }[] = [];

  beforeAll(async () => {
    s3 = await startTestS3();
    work = mkdtempSync(join(tmpdir(), 'relearn-notify-local-'));
    sm = await startLocalSageMaker({
      directory: join(work, 'sagemaker'),
      s3Endpoint: s3.endpoint,
      onEvent: (e) => {
        if (e.kind === 'notification') notifications.push({ subject: e.subject, message: e.message });
      },
    });
    Object.assign(process.env, localSageMakerEnv(sm.endpoint));
    setLambdaEnv();
    // A training script that keeps running (as a slow job would) until it is stopped.
    mkdirSync(join(work, 'code'));
    writeFileSync(join(work, 'code', 'train.py'), 'import time\nprint("training...", flush=True)\ntime.sleep(600)\n');
    await create({ gzip: true, file: join(work, 'sourcedir.tar.gz'), cwd: join(work, 'code') }, ['train.py']);
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'code/slow.tar.gz', Body: readFileSync(join(work, 'sourcedir.tar.gz')) }));
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'datasets/d/train/part-00000.csv', Body: 'a,b\n1,2\n' }));
  });
  afterAll(async () => {
    await sm?.stop();
    for (const c of [sageMakerClient(), snsClient(), s3Client()]) c.destroy();
    await s3.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test("a failed run stops its still-running training job and publishes the failure", async () => {
    // GIVEN this execution's training job is running
    const exec = 'run-aborted';
    const jobName = trainingJobName('relearn', exec);
    await sageMakerClient().send(
      new CreateTrainingJobCommand({
        TrainingJobName: jobName,
        RoleArn: process.env.SAGEMAKER_ROLE_ARN,
        AlgorithmSpecification: { TrainingImage: process.env.TRAINING_IMAGE_URI, TrainingInputMode: 'File' },
        HyperParameters: { sagemaker_program: '"train.py"', sagemaker_submit_directory: `"s3://${ARTIFACTS_BUCKET}/code/slow.tar.gz"` },
        InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${ARTIFACTS_BUCKET}/datasets/d/train/` } } }],
        OutputDataConfig: { S3OutputPath: `s3://${ARTIFACTS_BUCKET}/runs/${exec}/training/` },
        ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 },
        StoppingCondition: { MaxRuntimeInSeconds: 3600 },
      }),
    );
    expect((await sageMakerClient().send(new DescribeTrainingJobCommand({ TrainingJobName: jobName }))).TrainingJobStatus).toBe('InProgress');

    // WHEN NotifyFailure runs (the Lambda handler) after CheckTraining failed
    const result = await handler({
      executionName: exec,
      state: {
        source: { bucket: 'test-data', prefix: 'incoming/' },
        training: { jobName, status: 'InProgress', done: false },
        error: { Error: 'States.Timeout', Cause: 'CheckTraining timed out' },
      },
    });

    // THEN the job is stopped and ends Stopped
    expect(result.cleanup).toEqual([`training job ${jobName} was still InProgress: stopped`]);
    let status: string | undefined;
    for (let i = 0; i < 300; i++) {
      status = (await sageMakerClient().send(new DescribeTrainingJobCommand({ TrainingJobName: jobName }))).TrainingJobStatus;
      if (status !== 'InProgress' && status !== 'Stopping') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe('Stopped');
    // AND the failure reached SNS, saying what failed and what was cleaned up
    expect(result).toMatchObject({ outcome: 'failed', published: true });
    expect(notifications).toHaveLength(1);
    expect(notifications[0].subject).toBe(`[relearn] relearn: FAILED at CheckTraining (${exec})`);
    expect(notifications[0].message).toContain(`training job ${jobName} was still InProgress: stopped`);
    expect(await getJson(s3.client, ARTIFACTS_BUCKET, `runs/${exec}/outcome.json`)).toMatchObject({ outcome: 'failed', published: true });
  });
});
