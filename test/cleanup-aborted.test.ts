import { DescribeTrainingJobCommand, SageMakerClient, StopTrainingJobCommand } from '@aws-sdk/client-sagemaker';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import {
  cleanUpAbortedExecution,
  ExecutionStatusChange,
  ExecutionStatusChangeSchema,
  messageOf,
  stopTrainingJobIfRunning,
} from '../lambdas/cleanup-aborted/core';
import { handler } from '../lambdas/cleanup-aborted/handler';
import { loadEnv, LambdaEnv } from '../lambdas/shared/env';
import { trainingJobName } from '../lambdas/shared/names';
import { setLambdaEnv } from './helpers/local-s3';

/**
 * The cleanup core on the failures a local server cannot produce (throttling, AccessDenied, a job that ends
 * between describe and stop, a refused publish), with SageMaker and SNS mocked. The real round trip against
 * the local SageMaker server is in cleanup-aborted-local.test.ts.
 */
const SM_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:relearn-retrain';

/** The event as EventBridge delivers it (AWS's documented example, with our names). */
function statusChange(status: string, name = 'manual-20261129-101500', extra: Record<string, unknown> = {}): unknown {
  return {
    version: '0',
    id: '315c1398-40ff-a850-213b-158f73e60175',
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '123456789012',
    time: '2026-11-29T10:15:00Z',
    region: 'us-east-1',
    resources: [`arn:aws:states:us-east-1:123456789012:execution:relearn-retrain:${name}`],
    detail: {
      executionArn: `arn:aws:states:us-east-1:123456789012:execution:relearn-retrain:${name}`,
      stateMachineArn: SM_ARN,
      name,
      status,
      startDate: 1764411300000,
      stopDate: 1764411900000,
      input: '{"source":{"bucket":"b","prefix":"incoming/"}}',
      inputDetails: { included: true },
      output: null,
      outputDetails: null,
      error: null,
      cause: null,
      ...extra,
    },
  };
}
const parse = (raw: unknown): ExecutionStatusChange => ExecutionStatusChangeSchema.parse(raw);

const smMock = mockClient(SageMakerClient);
const snsMock = mockClient(SNSClient);
const deps = { sagemaker: new SageMakerClient({ region: 'us-east-1' }), sns: new SNSClient({ region: 'us-east-1' }) };
const awsError = (name: string, message: string, status: number) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

let env: LambdaEnv;
beforeAll(() => {
  setLambdaEnv();
  env = loadEnv();
});
beforeEach(() => {
  smMock.reset();
  snsMock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
});

describe('the EventBridge event', () => {
  test('an ABORTED execution status change parses, with the nulls Step Functions sends', () => {
    const e = parse(statusChange('ABORTED'));
    expect(e.detail).toMatchObject({ name: 'manual-20261129-101500', status: 'ABORTED', stateMachineArn: SM_ARN, error: null, cause: null });
  });

  test('a status the rule does not send, or another event, is refused naming the field', async () => {
    await expect(handler(statusChange('SUCCEEDED'))).rejects.toThrow(/CleanupAborted: not a Step Functions execution status change:[\s\S]*detail\.status/);
    await expect(handler({ source: 'aws.s3', 'detail-type': 'Object Created', detail: {} })).rejects.toMatchObject({ name: 'InvalidStageInput' });
  });
});

describe('stopTrainingJobIfRunning', () => {
  const job = 'relearn-train-x-1234abcd';

  test('an InProgress job is stopped', async () => {
    smMock.on(DescribeTrainingJobCommand).resolves({ TrainingJobStatus: 'InProgress' });
    smMock.on(StopTrainingJobCommand).resolves({});
    expect(await stopTrainingJobIfRunning(deps.sagemaker, job)).toEqual({ action: 'stopped', jobName: job, detail: `training job ${job} was still InProgress: stopped` });
    expect(smMock.commandCalls(StopTrainingJobCommand)[0].args[0].input).toEqual({ TrainingJobName: job });
  });

  test('a job that ends between the describe and the stop is left as it is', async () => {
    smMock.on(DescribeTrainingJobCommand).resolvesOnce({ TrainingJobStatus: 'InProgress' }).resolves({ TrainingJobStatus: 'Completed' });
    smMock.on(StopTrainingJobCommand).rejects(awsError('ValidationException', 'The request was rejected because the training job is in status Completed.', 400));
    expect(await stopTrainingJobIfRunning(deps.sagemaker, job)).toMatchObject({ action: 'none', detail: `training job ${job} ended on its own (Completed) before it could be stopped` });
  });

  test('a job the run never started (ResourceNotFound) is nothing to do', async () => {
    smMock.on(DescribeTrainingJobCommand).rejects(awsError('ValidationException', `Requested resource not found: training job ${job} does not exist`, 400));
    expect(await stopTrainingJobIfRunning(deps.sagemaker, job)).toMatchObject({ action: 'none', detail: `no training job ${job}: the run had not started one` });
    expect(smMock.commandCalls(StopTrainingJobCommand)).toHaveLength(0);
  });

  test('throttling is thrown, so the invocation is retried', async () => {
    smMock.on(DescribeTrainingJobCommand).rejects(awsError('ThrottlingException', 'Rate exceeded', 400));
    await expect(stopTrainingJobIfRunning(deps.sagemaker, job)).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  test('AccessDenied becomes a line saying how to stop the job by hand', async () => {
    smMock.on(DescribeTrainingJobCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform sagemaker:DescribeTrainingJob', 400));
    const r = await stopTrainingJobIfRunning(deps.sagemaker, job);
    expect(r.action).toBe('failed');
    expect(r.detail).toContain(`aws sagemaker stop-training-job --training-job-name ${job}`);
    expect(r.detail).toContain('AccessDeniedException');
  });
});

describe('cleanUpAbortedExecution', () => {
  test('ABORTED: the job named after the execution is stopped and the outcome published with its attribute', async () => {
    // GIVEN the run's training job is InProgress
    const event = parse(statusChange('ABORTED'));
    const job = trainingJobName('relearn', event.detail.name);
    smMock.on(DescribeTrainingJobCommand, { TrainingJobName: job }).resolves({ TrainingJobStatus: 'InProgress' });
    smMock.on(StopTrainingJobCommand, { TrainingJobName: job }).resolves({});
    // WHEN the cleanup runs
    const r = await cleanUpAbortedExecution(event, env, deps);
    // THEN it stopped exactly that job and said so
    expect(r).toMatchObject({ status: 'ABORTED', training: { action: 'stopped', jobName: job }, notified: true, messageId: 'm-1' });
    const publish = snsMock.commandCalls(PublishCommand)[0].args[0].input;
    expect(publish).toMatchObject({
      TopicArn: env.topicArn,
      Subject: `[relearn] relearn: ABORTED (${event.detail.name})`,
      MessageAttributes: { outcome: { DataType: 'String', StringValue: 'aborted' } },
    });
    expect(publish.Message).toContain(`training job ${job} was still InProgress: stopped`);
  });

  test('TIMED_OUT with no training job yet is still told (nobody else tells)', async () => {
    smMock.on(DescribeTrainingJobCommand).rejects(awsError('ResourceNotFound', 'not found', 400));
    const r = await cleanUpAbortedExecution(parse(statusChange('TIMED_OUT', 'run-7')), env, deps);
    expect(r).toMatchObject({ notified: true, subject: '[relearn] relearn: TIMED OUT (run-7)', training: { action: 'none' } });
    expect(snsMock.commandCalls(PublishCommand)[0].args[0].input.MessageAttributes?.outcome.StringValue).toBe('timed out');
  });

  test('FAILED whose job NotifyFailure already stopped: nothing to do, nothing published twice', async () => {
    smMock.on(DescribeTrainingJobCommand).resolves({ TrainingJobStatus: 'Stopped' });
    const r = await cleanUpAbortedExecution(parse(statusChange('FAILED', 'run-8', { error: 'TrainingFailed', cause: 'x' })), env, deps);
    expect(r).toMatchObject({ status: 'FAILED', notified: false, training: { action: 'none' } });
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
  });

  test('FAILED uncaught with the job still running: stopped and published with the error', async () => {
    smMock.on(DescribeTrainingJobCommand).resolves({ TrainingJobStatus: 'InProgress' });
    smMock.on(StopTrainingJobCommand).resolves({});
    const r = await cleanUpAbortedExecution(parse(statusChange('FAILED', 'run-9', { error: 'States.Runtime', cause: 'Invalid path $.training.done' })), env, deps);
    expect(r).toMatchObject({ notified: true, training: { action: 'stopped' } });
    const msg = snsMock.commandCalls(PublishCommand)[0].args[0].input.Message!;
    expect(msg).toContain('Error: States.Runtime');
    expect(msg).toContain('Cause: Invalid path $.training.done');
  });

  test('a refused publish throws, so EventBridge/Lambda retry and the event ends in the dead-letter queue', async () => {
    smMock.on(DescribeTrainingJobCommand).resolves({ TrainingJobStatus: 'Completed' });
    snsMock.on(PublishCommand).rejects(awsError('AuthorizationError', 'not allowed to publish', 403));
    await expect(cleanUpAbortedExecution(parse(statusChange('ABORTED')), env, deps)).rejects.toMatchObject({ name: 'AuthorizationError' });
  });
});

describe('messageOf', () => {
  test("Notify's style: what happened, the cleanup, the endpoint caveat, the execution and the run's artifacts", () => {
    const event = parse(statusChange('ABORTED', 'run-10'));
    const msg = messageOf(event, env, { action: 'none', jobName: 'j', detail: 'training job j was not running (Completed)' });
    expect(msg.split('\n')).toEqual([
      'relearn pipeline "relearn", execution run-10: ABORTED',
      '',
      'The execution was stopped (StopExecution) before it finished.',
      '',
      'Cleanup:',
      '  - training job j was not running (Completed)',
      '',
      'The endpoint relearn-endpoint was not checked: if the run was stopped during Deploy, CheckEndpoint or VerifyServing, check which endpoint config it serves.',
      `Execution: ${event.detail.executionArn}`,
      'Run artifacts: s3://test-artifacts/runs/run-10/',
    ]);
  });
});
