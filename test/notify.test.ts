import { DescribeEndpointCommand, DescribeTrainingJobCommand, ListTagsCommand, SageMakerClient, StopTrainingJobCommand, UpdateEndpointCommand } from '@aws-sdk/client-sagemaker';
import { GetExecutionHistoryCommand, HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { writeDeploymentRecord } from '../lambdas/deploy/endpoint';
import { causeOf, failedStage, notify, subjectLine } from '../lambdas/notify/core';
import { costAtNotify, costLine, COVERS } from '../lambdas/notify/cost';
import { STATE_MEMORY_ENV } from '../lambdas/shared/cost';
import { startLocalStepFunctions } from '../local/services/stepfunctions';
import { handler } from '../lambdas/notify/handler';
import { s3Client } from '../lambdas/shared/clients';
import { PipelineState } from '../lambdas/shared/contracts';
import { loadEnv } from '../lambdas/shared/env';
import { trainingJobName } from '../lambdas/shared/names';
import { executionTags } from '../lambdas/shared/sagemaker';
import { getJson, putJson } from '../lambdas/shared/s3';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/**
 * SNS is a real HTTP server speaking SNS's query protocol (Action=Publish, XML answer), so Subject, Message and
 * attributes go through the SDK's own serializer; it can be told to refuse. SageMaker is mocked (a training job
 * InProgress on demand). S3 (outcome file, deployment record) is the real local server.
 */
const sm = mockClient(SageMakerClient);
const sagemaker = new SageMakerClient({ region: 'us-east-1' });
const A = `s3://${ARTIFACTS_BUCKET}`;

const base = (): PipelineState => ({
  source: { bucket: 'test-data', keys: ['incoming/a.csv'] },
  dataset: {
    datasetId: 'ds', uri: `${A}/datasets/ds/`, trainUri: `${A}/datasets/ds/train/`, validationUri: `${A}/datasets/ds/validation/`,
    manifestUri: `${A}/datasets/ds/manifest.json`, parts: [], rows: { train: 8, validation: 2 }, columns: [], reused: false,
  },
  validation: { statsUri: `${A}/s.json`, schemaUri: `${A}/sc.json`, anomaliesUri: `${A}/a.json`, blocking: 0, warnings: 0, summary: 'ok' },
  training: { jobName: 'job', status: 'Completed', done: true, modelDataUri: `${A}/m.tar.gz`, outputDataUri: `${A}/o.tar.gz` },
  evaluation: {
    evaluationUri: `${A}/runs/r/evaluation/evaluation.json`, reportUri: `${A}/runs/r/evaluation/report.html`, decisionUri: `${A}/runs/r/decision.json`,
    deploy: false, reasons: ['roc_auc 0.70 < champion 0.78 (no regression allowed)'], primaryMetric: { name: 'roc_auc', candidate: 0.7, champion: 0.78 },
  },
  registration: { modelPackageArn: 'arn:aws:sagemaker:us-east-1:0:model-package/g/4', approvalStatus: 'Rejected', promote: false },
});

describe('Notify', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let server: Server;
  let sns: SNSClient;
  let refuse = false;
  const published: URLSearchParams[] = [];

  beforeAll(async () => {
    s3 = await startTestS3();
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      if (refuse) {
        res.writeHead(403, { 'content-type': 'text/xml' });
        res.end('<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>not allowed to publish</Message></Error><RequestId>r</RequestId></ErrorResponse>');
        return;
      }
      published.push(form);
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(`<PublishResponse><PublishResult><MessageId>msg-${published.length}</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    sns = new SNSClient({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1', maxAttempts: 1 });
  });
  afterAll(async () => {
    sns.destroy();
    await new Promise((r) => server.close(r));
    await s3.cleanup();
  });
  beforeEach(() => {
    sm.reset();
    published.length = 0;
    refuse = false;
    setLambdaEnv();
  });
  const run = (executionName: string, state: PipelineState) => notify({ executionName, state }, loadEnv(), { sns, sagemaker, s3: s3Client() });

  test('promoted: publishes the endpoint, champion, metric, decision and report', async () => {
    // GIVEN a run that reached PromoteBaseline
    const state: PipelineState = {
      ...base(),
      evaluation: { ...base().evaluation!, deploy: true, reasons: ['roc_auc 0.81 >= champion 0.78'], primaryMetric: { name: 'roc_auc', candidate: 0.81234567, champion: 0.78 } },
      registration: { modelPackageArn: 'arn:aws:sagemaker:us-east-1:0:model-package/g/5', approvalStatus: 'Approved', promote: true },
      deployment: { endpointName: 'relearn-endpoint', modelName: 'model-r', endpointConfigName: 'epc-r', previousEndpointConfigName: 'epc-old', status: 'InService', done: true },
      serving: { checkedRows: 20, maxAbsDifference: 0 },
      champion: { championUri: `${A}/champion/current.json` },
    };
    // WHEN
    const result = await run('run-p', state);
    // THEN
    expect(result).toMatchObject({ outcome: 'promoted', subject: '[relearn] relearn: promoted (run-p)', published: true, messageId: 'msg-1', cleanup: [] });
    const form = published[0];
    expect(form.get('Action')).toBe('Publish');
    expect(form.get('TopicArn')).toBe(process.env.TOPIC_ARN);
    expect(form.get('Subject')).toBe('[relearn] relearn: promoted (run-p)');
    const message = form.get('Message')!;
    expect(message).toContain('The endpoint relearn-endpoint now serves model model-r (endpoint config epc-r).');
    expect(message).toContain('Previous endpoint config (rollback target): epc-old');
    expect(message).toContain('roc_auc: candidate 0.8123, champion 0.78');
    expect(message).toContain(`Report: ${A}/runs/r/evaluation/report.html`);
    expect(message).toContain(`Champion record: ${A}/champion/current.json`);
    expect(form.get('MessageAttributes.entry.1.Name')).toBe('outcome');
    expect(form.get('MessageAttributes.entry.1.Value.StringValue')).toBe('promoted');
    // AND no cleanup was attempted
    expect(sm.calls()).toHaveLength(0);
  });

  test('not promoted: publishes the reasons, says the endpoint was not touched', async () => {
    const result = await run('run-n', base());
    expect(result).toMatchObject({ outcome: 'not promoted', subject: '[relearn] relearn: not promoted (run-n)', published: true });
    const message = published[0].get('Message')!;
    expect(message).toContain('Decision: do not deploy\n  - roc_auc 0.70 < champion 0.78 (no regression allowed)');
    expect(message).toContain('Model package arn:aws:sagemaker:us-east-1:0:model-package/g/4 is Rejected.');
    expect(message).toContain('The endpoint relearn-endpoint was not touched: the previous model still serves.');
    expect(sm.calls()).toHaveLength(0);
  });

  test('failed during training: stops the InProgress training job, names the stage, error and cause', async () => {
    // GIVEN CheckTraining failed while the job still runs (e.g. the Lambda kept timing out)
    const jobName = trainingJobName('relearn', 'run-f');
    sm.on(DescribeTrainingJobCommand, { TrainingJobName: jobName }).resolves({ TrainingJobName: jobName, TrainingJobStatus: 'InProgress' } as never);
    const { evaluation: _e, registration: _r, ...upToTraining } = base();
    const state: PipelineState = {
      ...upToTraining,
      training: { jobName, status: 'InProgress', done: false },
      error: { Error: 'States.Timeout', Cause: 'Task timed out after 60.00 seconds' },
    };
    // WHEN
    const result = await run('run-f', state);
    // THEN the job is stopped, and the notification says so
    expect(sm.commandCalls(StopTrainingJobCommand).map((c) => c.args[0].input)).toEqual([{ TrainingJobName: jobName }]);
    expect(result).toMatchObject({ outcome: 'failed', subject: '[relearn] relearn: FAILED at CheckTraining (run-f)', published: true });
    expect(result.cleanup).toEqual([`training job ${jobName} was still InProgress: stopped`]);
    const message = published[0].get('Message')!;
    expect(message).toContain('Failed at: CheckTraining\nError: States.Timeout\nCause: Task timed out after 60.00 seconds');
    expect(message).toContain(`training job ${jobName} was still InProgress: stopped`);
    expect(message).toContain('The endpoint relearn-endpoint was not touched by this run.');
  });

  test('failed after deploying: the endpoint goes back to the previous config (found through the deployment record)', async () => {
    // GIVEN Deploy issued the update, then failed before returning (so the state has no $.deployment)
    const target = { endpointName: 'relearn-endpoint', modelName: 'model-d', endpointConfigName: 'epc-d', previousEndpointConfigName: 'epc-old' };
    await writeDeploymentRecord(s3Client(), ARTIFACTS_BUCKET, { executionName: 'run-d', ...target, action: 'update', issued: true, at: new Date().toISOString() }, 'k');
    sm.on(DescribeTrainingJobCommand).resolves({ TrainingJobStatus: 'Completed' } as never);
    sm.on(DescribeEndpointCommand).resolves({ EndpointName: 'relearn-endpoint', EndpointStatus: 'InService', EndpointConfigName: 'epc-d' });
    const lambdaCause = JSON.stringify({ errorType: 'Error', errorMessage: 'socket hang up', trace: ['Error: socket hang up', '    at x'] });
    // WHEN
    const result = await run('run-d', { ...base(), error: { Error: 'Error', Cause: lambdaCause } });
    // THEN
    expect(sm.commandCalls(StopTrainingJobCommand)).toHaveLength(0);
    expect(sm.commandCalls(UpdateEndpointCommand).map((c) => c.args[0].input)).toEqual([{ EndpointName: 'relearn-endpoint', EndpointConfigName: 'epc-old' }]);
    expect(result.cleanup).toEqual(['endpoint relearn-endpoint is rolling back to epc-old']);
    expect(result.subject).toBe('[relearn] relearn: FAILED at Deploy (run-d)');
    expect(published[0].get('Message')).toContain('Cause: socket hang up\n');
  });

  test('rolled back: says which champion serves again, which it replaced, the serving check and what the registry records', async () => {
    const state: PipelineState = {
      rollback: {
        request: {},
        target: { executionName: 'run-a', modelPackageArn: 'arn:pkg/1', manifestUri: `${A}/runs/run-a/model/manifest.json`, validationUri: `${A}/datasets/ds/validation/`, outputDataUri: `${A}/o.tar.gz` },
        from: { executionName: 'run-b', modelPackageArn: 'arn:pkg/2', endpointConfigName: 'epc-b' },
      },
      registration: { modelPackageArn: 'arn:pkg/1', approvalStatus: 'Approved', promote: true },
      deployment: { endpointName: 'relearn-endpoint', modelName: 'model-rb', endpointConfigName: 'epc-rb', previousEndpointConfigName: 'epc-b', status: 'InService', done: true },
      serving: { checkedRows: 20, maxAbsDifference: 0 },
      champion: { championUri: `${A}/champion/current.json`, registry: ['arn:pkg/1: champion again since t: restored by rollback rb-1, replacing run-b'] },
    };
    const result = await run('rb-1', state);
    expect(result).toMatchObject({ outcome: 'rolled back', subject: '[relearn] relearn: rolled back (rb-1)', published: true, cleanup: [] });
    const message = published[0].get('Message')!;
    expect(message).toContain('Rolled back: the endpoint relearn-endpoint serves run-a again (model package arn:pkg/1), as model model-rb on endpoint config epc-rb.');
    expect(message).toContain('It replaces champion run-b (model package arn:pkg/2, endpoint config epc-b).');
    expect(message).toContain('Asked for: the previous champion');
    expect(message).toContain('Model registry: arn:pkg/1: champion again since t');
    expect(published[0].get('MessageAttributes.entry.1.Value.StringValue')).toBe('rolled back');
  });

  test('a refused rollback fails at ResolveRollback, touched nothing, and says so', async () => {
    const state: PipelineState = { rollback: { request: { to: 'run-x' } }, error: { Error: 'RollbackRefused', Cause: 'endpoint relearn-endpoint is Updating: an update is in flight' } };
    const result = await run('rb-2', state);
    expect(result).toMatchObject({ outcome: 'failed', subject: '[relearn] relearn: FAILED at ResolveRollback (rb-2)', cleanup: [] });
    expect(published[0].get('Message')).toContain('The endpoint relearn-endpoint was not touched by this run.');
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
  });

  test('a name used again: a running job of an earlier execution is left alone, and its deployment record is not rolled back', async () => {
    // GIVEN this execution failed at StartTraining because the job of its name belongs to an earlier execution,
    // whose deployment record (it deployed the model that serves now) is still there
    const jobName = trainingJobName('relearn', 'run-again');
    sm.on(DescribeTrainingJobCommand, { TrainingJobName: jobName }).resolves({ TrainingJobName: jobName, TrainingJobArn: `arn:${jobName}`, TrainingJobStatus: 'InProgress' } as never);
    sm.on(ListTagsCommand).resolves({ Tags: executionTags({ executionName: 'run-again', startTime: '2026-08-01T00:00:00.000Z' }) });
    await writeDeploymentRecord(s3Client(), ARTIFACTS_BUCKET, { executionName: 'run-again', endpointName: 'relearn-endpoint', modelName: 'm', endpointConfigName: 'epc-champion', previousEndpointConfigName: 'epc-older', action: 'update', issued: true, at: 'then', executionStartTime: '2026-08-01T00:00:00.000Z' }, 'k');
    sm.on(DescribeEndpointCommand).resolves({ EndpointName: 'relearn-endpoint', EndpointStatus: 'InService', EndpointConfigName: 'epc-champion' });
    const { evaluation: _e, registration: _r, training: _t, ...upToValidation } = base();
    // WHEN NotifyFailure runs for it
    const result = await notify(
      { executionName: 'run-again', executionStartTime: '2026-11-29T00:00:00.000Z', state: { ...upToValidation, error: { Error: 'TrainingFailed', Cause: 'not this execution' } } },
      loadEnv(),
      { sns, sagemaker, s3: s3Client() },
    );
    // THEN neither the other job nor the champion's endpoint is touched
    expect(sm.commandCalls(StopTrainingJobCommand)).toHaveLength(0);
    expect(sm.commandCalls(UpdateEndpointCommand)).toHaveLength(0);
    expect(result.cleanup).toEqual([expect.stringMatching(/is running but is not this execution's \(it was created by an earlier execution of the same name, started 2026-08-01T00:00:00.000Z\): left alone/)]);
  });

  test('an SNS refusal does not fail the stage: published false, logged, and the message kept in S3', async () => {
    // GIVEN SNS refuses the publish
    refuse = true;
    // WHEN
    const result = await run('run-s', base());
    // THEN the stage returns normally, with the refusal visible
    expect(result).toMatchObject({ outcome: 'not promoted', published: false, publishError: expect.stringMatching(/AuthorizationError.*not allowed to publish/) });
    const kept = await getJson<{ message: string; published: boolean }>(s3.client, ARTIFACTS_BUCKET, 'runs/run-s/outcome.json');
    expect(result.outcomeUri).toBe(`${A}/runs/run-s/outcome.json`);
    expect(kept.published).toBe(false);
    expect(kept.message).toContain('Decision: do not deploy');
  });

  test('handler: the Lambda entry point publishes through the module SNS client (endpoint from AWS_ENDPOINT_URL_SNS)', async () => {
    process.env.AWS_ENDPOINT_URL_SNS = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const result = await handler({ executionName: 'run-h', state: base() });
    expect(result).toMatchObject({ outcome: 'not promoted', published: true });
    expect(published[0].get('Subject')).toBe('[relearn] relearn: not promoted (run-h)');
  });

  /**
   * A history as AWS returns it (Date timestamps, function ARNs, no memory): Ingest failed once and was retried, then
   * Notify started. The local server's history carries memory itself, so this shape is mocked (aws-sdk-client-mock).
   * By hand: 2 states entered + 1 retry invocation + 1 end state = 4 transitions; Ingest 1 s + 2 s at 2048 MB = 6 GB-s,
   * Notify 0.5 s so far at 256 MB = 0.125 GB-s, 6.125 GB-s in 3 requests; training billed 720 of 1,080 s on
   * ml.m5.large ($0.115/h): $0.023, spot saved 360 s = $0.0115. Orchestration 4 x $0.000025 + 6.125 x $0.0000133334
   * + 3 x $0.0000002 = $0.000182267075; total $0.023182267075.
   */
  const T0 = Date.parse('2026-12-01T10:00:00Z');
  const at = (s: number) => new Date(T0 + s * 1000);
  const fn = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;
  const awsHistory: HistoryEvent[] = [
    { id: 1, previousEventId: 0, timestamp: at(0), type: 'ExecutionStarted' },
    { id: 2, previousEventId: 1, timestamp: at(0), type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Ingest' } },
    { id: 3, previousEventId: 2, timestamp: at(0), type: 'LambdaFunctionScheduled', lambdaFunctionScheduledEventDetails: { resource: fn('IngestFn') } },
    { id: 4, previousEventId: 3, timestamp: at(0), type: 'LambdaFunctionStarted' },
    { id: 5, previousEventId: 4, timestamp: at(1), type: 'LambdaFunctionFailed', lambdaFunctionFailedEventDetails: { error: 'Lambda.TooManyRequestsException' } },
    { id: 6, previousEventId: 5, timestamp: at(2), type: 'LambdaFunctionScheduled', lambdaFunctionScheduledEventDetails: { resource: fn('IngestFn') } },
    { id: 7, previousEventId: 6, timestamp: at(2), type: 'LambdaFunctionStarted' },
    { id: 8, previousEventId: 7, timestamp: at(4), type: 'LambdaFunctionSucceeded' },
    { id: 9, previousEventId: 8, timestamp: at(4), type: 'TaskStateExited', stateExitedEventDetails: { name: 'Ingest' } },
    { id: 10, previousEventId: 9, timestamp: at(4), type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Notify' } },
    { id: 11, previousEventId: 10, timestamp: at(10), type: 'LambdaFunctionScheduled', lambdaFunctionScheduledEventDetails: { resource: fn('NotifyFn') } },
    { id: 12, previousEventId: 11, timestamp: at(10), type: 'LambdaFunctionStarted' },
  ];
  const stateMemory = { Ingest: 2048, Notify: 256 };
  const job = { ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 1 }, TrainingTimeInSeconds: 1080, BillableTimeInSeconds: 720 };

  test('cost at Notify: transitions with retries, GB-seconds by state memory, Notify estimated, training with spot savings (hand-computed)', () => {
    const cost = costAtNotify(awsHistory, { stateMemory, now: T0 + 10_500, training: { instanceType: 'ml.m5.large', instanceCount: 1, trainingSeconds: 1080, billableSeconds: 720 } });
    expect(cost).toMatchObject({ stateTransitions: 4, lambdaRequests: 3, unpriced: [], covers: COVERS, pricesAsOf: '2026-12-01', region: 'us-east-1' });
    expect(cost.lambdaGbSeconds).toBeCloseTo(6.125, 10);
    expect(cost.orchestrationUsd).toBeCloseTo(0.000182267075, 12);
    expect(cost.trainingUsd).toBeCloseTo(0.023, 12);
    expect(cost.spotSavingsUsd).toBeCloseTo(0.0115, 12);
    expect(cost.totalUsd).toBeCloseTo(0.023182267075, 12);
    expect(costLine(cost)).toBe(
      'Cost: $0.0232 at list prices (us-east-1, 2026-12-01): 4 state transitions, 6.1 Lambda GB-s, training 720 s on ml.m5.large ($0.0230, spot saved $0.0115) (up to Notify, Notify itself estimated)',
    );
    // A state the map does not know is counted at 128 MB, and the line says so.
    const partial = costAtNotify(awsHistory, { stateMemory: { Notify: 256 }, now: T0 + 10_500 });
    expect(partial.lambdaGbSeconds).toBeCloseTo(0.375 + 0.125, 10);
    expect(costLine(partial)).toContain('not counted: the memory of IngestFn (counted as 128 MB)');
  });

  test('cost in the message and outcome.json: from the run\'s own history (GetExecutionHistory) and its training job', async () => {
    // GIVEN the history above, the state memory map in the environment, and the training job's billed seconds
    const sfnMock = mockClient(SFNClient);
    const executionArn = 'arn:aws:states:us-east-1:123456789012:execution:relearn-retrain:run-c';
    sfnMock.on(GetExecutionHistoryCommand, { executionArn }).resolves({ events: awsHistory });
    sm.on(DescribeTrainingJobCommand, { TrainingJobName: 'job' }).resolves(job as never);
    process.env[STATE_MEMORY_ENV] = JSON.stringify(stateMemory);
    // AND the decision record Evaluate wrote for this run
    await putJson(s3.client, ARTIFACTS_BUCKET, 'runs/run-c/decision.json', { deploy: false, reasons: ['roc_auc 0.70 < champion 0.78'] });
    try {
      // WHEN Notify runs half a second after its start
      const result = await notify({ executionName: 'run-c', executionArn, state: base() }, loadEnv(), { sns, sagemaker, s3: s3Client(), sfn: new SFNClient({ region: 'us-east-1' }), now: () => T0 + 10_500 });
      // THEN the last line of the message says the cost in words, and outcome.json keeps the figures
      const line = 'Cost: $0.0232 at list prices (us-east-1, 2026-12-01): 4 state transitions, 6.1 Lambda GB-s, training 720 s on ml.m5.large ($0.0230, spot saved $0.0115) (up to Notify, Notify itself estimated)';
      expect(published[0].get('Message')!.split('\n').pop()).toBe(line);
      const kept = await getJson<{ message: string; cost: Record<string, unknown> }>(s3.client, ARTIFACTS_BUCKET, 'runs/run-c/outcome.json');
      expect(kept.message.split('\n').pop()).toBe(line);
      expect(kept.cost).toMatchObject({ stateTransitions: 4, lambdaRequests: 3, currency: 'USD', covers: COVERS, training: { instanceType: 'ml.m5.large', billableSeconds: 720 } });
      expect(kept.cost.totalUsd as number).toBeCloseTo(0.023182267075, 12);
      expect(result.cost).toEqual(kept.cost);
      // AND the decision record keeps what it said, with the cost beside it
      expect(await getJson(s3.client, ARTIFACTS_BUCKET, 'runs/run-c/decision.json')).toEqual({ deploy: false, reasons: ['roc_auc 0.70 < champion 0.78'], cost: kept.cost });
    } finally {
      sfnMock.restore();
      delete process.env[STATE_MEMORY_ENV];
    }
  });

  test('a history that cannot be read: the cost is unknown and says why, the run is notified as usual', async () => {
    // GIVEN the real local Step Functions server, which has no such execution
    const local = await startLocalStepFunctions();
    const sfn = new SFNClient({ endpoint: local.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
    try {
      // WHEN
      const result = await notify({ executionName: 'run-u', executionArn: 'arn:aws:states:us-east-1:000000000000:execution:relearn-retrain:run-u', state: base() }, loadEnv(), { sns, sagemaker, s3: s3Client(), sfn });
      // THEN published, kept, and the cost names the reason
      expect(result).toMatchObject({ outcome: 'not promoted', published: true, cost: { unknown: expect.stringMatching(/^the execution history could not be read: ExecutionDoesNotExist: /) } });
      expect(published[0].get('Message')!.split('\n').pop()).toMatch(/^Cost: unknown \(the execution history could not be read: ExecutionDoesNotExist: .*run-u/);
      const kept = await getJson<{ cost: unknown }>(s3.client, ARTIFACTS_BUCKET, 'runs/run-u/outcome.json');
      expect(kept.cost).toEqual(result.cost);
    } finally {
      sfn.destroy();
      await local.stop();
    }
  });

  test('helpers: subject limits, failed stage, Lambda cause', () => {
    const long = subjectLine(`[relearn] x: FAILED at CheckTraining (${'é'.repeat(120)})`);
    expect(long.length).toBeLessThan(100);
    expect(long).toMatch(/^[\x20-\x7e]+$/);
    expect(failedStage({ ...base(), error: { Error: 'ServingSkew' } })).toBe('VerifyServing');
    expect(failedStage({ source: base().source, error: { Error: 'Lambda.Unknown' } })).toBe('Ingest');
    expect(failedStage({ ...base(), registration: undefined, error: { Error: 'X' } })).toBe('Register');
    expect(causeOf('{"errorType":"DeploymentFailed","errorMessage":"endpoint is Updating"}')).toBe('endpoint is Updating');
    expect(causeOf('plain text')).toBe('plain text');
  });
});
