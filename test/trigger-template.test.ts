import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig, RelearnConfigInput } from '../lambdas/shared/config';
import { buildRelearnApp } from '../lib/app';
import { EXECUTION_END_STATUSES, TRIGGER_BATCH, TRIGGER_MAX_RECEIVE_COUNT } from '../lib/constructs/trigger';

/**
 * The trigger path, the alarms and the dashboard as synthesized (lib/constructs/trigger.ts, alarms.ts,
 * dashboard.ts). cdk-nag over the whole app is test/nag.test.ts.
 */
function synth(input: RelearnConfigInput = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const { data, pipeline } = buildRelearnApp(app, parseConfig(input), { nag: false });
  return { data: Template.fromStack(data), pipeline: Template.fromStack(pipeline) };
}
const one = (t: Template, type: string, prefix: string) => {
  const found = Object.entries(t.findResources(type)).filter(([id]) => id.startsWith(prefix));
  expect(found.map(([id]) => id)).toHaveLength(1);
  return { id: found[0][0], resource: found[0][1] };
};
type Statement = { Effect: string; Action: string | string[]; Principal?: unknown; Resource: unknown; Condition?: Record<string, Record<string, unknown>>; Sid?: string };

describe('the trigger path', () => {
  let pipeline: Template;
  let data: Template;
  beforeAll(() => {
    ({ pipeline, data } = synth());
  });

  test('object-created events under incoming/ of the data bucket, and this state machine ending, go to the trigger queue', () => {
    const created = one(pipeline, 'AWS::Events::Rule', 'PipelineTriggerObjectCreatedRule').resource;
    expect(created.Properties.EventPattern).toEqual({
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: { bucket: { name: [{ 'Fn::ImportValue': expect.stringMatching(/DataBucket/) }] }, object: { key: [{ prefix: 'incoming/' }] } },
    });
    const ended = one(pipeline, 'AWS::Events::Rule', 'PipelineTriggerExecutionEndedRule').resource;
    const machine = one(pipeline, 'AWS::StepFunctions::StateMachine', 'PipelineRetrainStateMachine').id;
    expect(ended.Properties.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { stateMachineArn: [{ Ref: machine }], status: [...EXECUTION_END_STATUSES] },
    });
    const queue = one(pipeline, 'AWS::SQS::Queue', 'PipelineTriggerQueue').id;
    const dlq = one(pipeline, 'AWS::SQS::Queue', 'PipelineTriggerDeadLetterQueue').id;
    for (const rule of [created, ended]) {
      expect(rule.Properties.Targets).toEqual([
        {
          Id: 'Target0',
          Arn: { 'Fn::GetAtt': [queue, 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
          RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
        },
      ]);
    }
    // the data bucket sends its events to EventBridge
    data.hasResourceProperties('Custom::S3BucketNotifications', { NotificationConfiguration: { EventBridgeConfiguration: {} } });
  });

  test("both queues are encrypted with the pipeline's key, keep messages 14 days, and a message received 5 times goes to the DLQ", () => {
    const key = { 'Fn::ImportValue': expect.stringMatching(/Key961B73FD/) };
    const queue = one(pipeline, 'AWS::SQS::Queue', 'PipelineTriggerQueue').resource.Properties;
    const dlqId = one(pipeline, 'AWS::SQS::Queue', 'PipelineTriggerDeadLetterQueue').id;
    expect(queue).toMatchObject({
      KmsMasterKeyId: key,
      MessageRetentionPeriod: 14 * 86400,
      VisibilityTimeout: 360, // six times the function's 60 s
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: TRIGGER_MAX_RECEIVE_COUNT },
    });
    expect(one(pipeline, 'AWS::SQS::Queue', 'PipelineTriggerDeadLetterQueue').resource.Properties).toMatchObject({ KmsMasterKeyId: key, MessageRetentionPeriod: 14 * 86400 });
  });

  test('the queue policies refuse anything without TLS and let EventBridge send only for the two rules', () => {
    for (const prefix of ['PipelineTriggerQueuePolicy', 'PipelineTriggerDeadLetterQueuePolicy']) {
      const statements = one(pipeline, 'AWS::SQS::QueuePolicy', prefix).resource.Properties.PolicyDocument.Statement as Statement[];
      expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Action: 'sqs:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
      const allow = statements.filter((s) => s.Effect === 'Allow');
      expect(allow).toHaveLength(1);
      expect(allow[0]).toMatchObject({ Action: 'sqs:SendMessage', Principal: { Service: 'events.amazonaws.com' } });
      const sources = allow[0].Condition!.ArnEquals['aws:SourceArn'] as { 'Fn::GetAtt': string[] }[];
      expect(sources.map((s) => s['Fn::GetAtt'][0]).sort()).toEqual([
        one(pipeline, 'AWS::Events::Rule', 'PipelineTriggerExecutionEndedRule').id,
        one(pipeline, 'AWS::Events::Rule', 'PipelineTriggerObjectCreatedRule').id,
      ]);
    }
  });

  test("the key lets EventBridge encrypt into the queue (SQS uses it on EventBridge's behalf)", () => {
    const key = Object.values(data.findResources('AWS::KMS::Key'))[0];
    const statement = (key.Properties.KeyPolicy.Statement as Statement[]).find((s) => s.Sid === 'EventBridgeToTheTriggerQueue');
    expect(statement).toMatchObject({ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: ['kms:GenerateDataKey', 'kms:Decrypt'] });
  });

  test('the function reads the queue in batches of 100 within 5 s, two at a time, with partial batch responses', () => {
    const fn = one(pipeline, 'AWS::Lambda::Function', 'PipelineTriggerFunction').id;
    pipeline.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fn },
      BatchSize: TRIGGER_BATCH.size,
      MaximumBatchingWindowInSeconds: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: TRIGGER_BATCH.maxConcurrency },
    });
    const env = one(pipeline, 'AWS::Lambda::Function', 'PipelineTriggerFunction').resource.Properties.Environment.Variables;
    expect(env.STATE_MACHINE_ARN).toEqual({ Ref: one(pipeline, 'AWS::StepFunctions::StateMachine', 'PipelineRetrainStateMachine').id });
    expect(env.TRIGGER_QUEUE_URL).toEqual({ Ref: one(pipeline, 'AWS::SQS::Queue', 'PipelineTriggerQueue').id });
  });

  test("the trigger's role: exactly the landing zone, its own state and manifests, this state machine", () => {
    const role = one(pipeline, 'AWS::IAM::Role', 'PipelineTriggerRole').id;
    const policies = Object.values(pipeline.findResources('AWS::IAM::Policy')).filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role));
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    const actions = statements.flatMap((s) => ([] as string[]).concat(s.Action)).sort();
    expect([...new Set(actions)]).toEqual(
      [
        'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'logs:CreateLogStream', 'logs:PutLogEvents', 's3:GetObject', 's3:GetObjectVersion', 's3:ListBucket', 's3:PutObject',
        'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage', 'sqs:SendMessage',
        'states:DescribeExecution', 'states:ListExecutions', 'states:StartExecution', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments',
      ].sort(),
    );
    const text = JSON.stringify(statements);
    expect(text).toContain('/incoming/*');
    expect(text).toContain('/trigger/state.json');
    expect(text).toContain('/trigger/manifests/*');
    expect(text).toContain(':execution:relearn-retrain:*');
    expect(text).not.toMatch(/kms:[A-Za-z]+\*/);
  });

  test('no schedule unless the config has one', () => {
    // (The monitor's own schedule starts the monitoring state machine: test/monitoring-template.test.ts.)
    const toQueue = Object.values(pipeline.findResources('AWS::Scheduler::Schedule')).filter((sc) => JSON.stringify(sc.Properties.Target.Arn).includes('TriggerQueue'));
    expect(toQueue).toEqual([]);
  });
});

describe('the schedule', () => {
  test('EventBridge Scheduler sends {"relearn":"schedule"} to the same queue, with its own role and the DLQ', () => {
    const { pipeline } = synth({ trigger: { schedule: { expression: 'cron(0 6 ? * MON *)', timezone: 'Europe/Berlin' } } });
    const queue = one(pipeline, 'AWS::SQS::Queue', 'PipelineTriggerQueue').id;
    const dlq = one(pipeline, 'AWS::SQS::Queue', 'PipelineTriggerDeadLetterQueue').id;
    const role = one(pipeline, 'AWS::IAM::Role', 'PipelineTriggerScheduleRole');
    pipeline.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 6 ? * MON *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      State: 'ENABLED',
      Target: {
        Arn: { 'Fn::GetAtt': [queue, 'Arn'] },
        Input: '{"relearn":"schedule"}',
        RoleArn: { 'Fn::GetAtt': [role.id, 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
      },
    });
    expect(role.resource.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Service: 'scheduler.amazonaws.com' });
  });

  test('bad schedules are refused at config time, naming the field', () => {
    expect(() => parseConfig({ trigger: { schedule: { expression: 'every day' } } })).toThrow(/trigger\.schedule\.expression: rate\(<n> minutes\|hours\|days\) or cron/);
    expect(() => parseConfig({ trigger: { schedule: { expression: 'rate(1 days)' } } })).toThrow(/wants "1 day"/);
    expect(() => parseConfig({ trigger: { mode: 'marker', schedule: { expression: 'rate(1 day)' } } })).toThrow(/trigger\.schedule: a schedule starts what landed without a marker/);
    expect(() => parseConfig({ trigger: { quietPeriodSeconds: 600, maxWaitSeconds: 300 } })).toThrow(/trigger\.maxWaitSeconds: must be >= trigger\.quietPeriodSeconds \(600\), but got 300/);
  });
});

describe('alarms and dashboard', () => {
  let pipeline: Template;
  let data: Template;
  beforeAll(() => {
    ({ pipeline, data } = synth());
  });
  const topic = () => one(pipeline, 'AWS::SNS::Topic', 'PipelineTopic').id;

  test('failed executions, both dead-letter queues, the trigger queue age and endpoint 5xx: each alarm publishes to the outcome topic', () => {
    // (The monitor's alarms, relearn-monitor-*, are tested in test/monitoring-template.test.ts.)
    const alarms = Object.values(pipeline.findResources('AWS::CloudWatch::Alarm')).filter((a) => !String(a.Properties.AlarmName).startsWith('relearn-monitor-'));
    expect(alarms.map((a) => a.Properties.AlarmName).sort()).toEqual([
      'relearn-abortCleanup-dead-letters',
      'relearn-endpoint-5xx',
      'relearn-failed-executions',
      'relearn-trigger-dead-letters',
      'relearn-trigger-queue-age',
    ]);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: topic() }]);
      expect(a.Properties).toMatchObject({ ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching', EvaluationPeriods: 1 });
    }
    const byName = Object.fromEntries(alarms.map((a) => [a.Properties.AlarmName, a.Properties]));
    expect(byName['relearn-trigger-queue-age']).toMatchObject({ MetricName: 'ApproximateAgeOfOldestMessage', Namespace: 'AWS/SQS', Threshold: 1080 });
    expect(byName['relearn-endpoint-5xx']).toMatchObject({
      MetricName: 'Invocation5XXErrors',
      Namespace: 'AWS/SageMaker',
      Dimensions: expect.arrayContaining([{ Name: 'EndpointName', Value: 'relearn-endpoint' }, { Name: 'VariantName', Value: 'AllTraffic' }]),
    });
    expect(byName['relearn-abortCleanup-dead-letters']).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
    const failed = JSON.stringify(byName['relearn-failed-executions'].Metrics);
    for (const m of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted']) expect(failed).toContain(m);
  });

  test('CloudWatch may publish to the encrypted topic and use its key, for these alarms only', () => {
    const policy = one(pipeline, 'AWS::SNS::TopicPolicy', 'PipelineTopicPolicy').resource.Properties.PolicyDocument.Statement as Statement[];
    const allow = policy.find((s) => JSON.stringify(s.Principal) === JSON.stringify({ Service: 'cloudwatch.amazonaws.com' }));
    expect(allow).toMatchObject({ Effect: 'Allow', Action: 'sns:Publish' });
    expect(JSON.stringify(allow!.Condition)).toContain(':alarm:relearn-*');
    const key = Object.values(data.findResources('AWS::KMS::Key'))[0];
    const grant = (key.Properties.KeyPolicy.Statement as Statement[]).find((s) => s.Sid === 'CloudWatchAlarmsToTheOutcomeTopic');
    expect(grant).toMatchObject({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:GenerateDataKey', 'kms:Decrypt'] });
    expect(JSON.stringify(grant!.Condition)).toContain(':alarm:relearn-*');
  });

  test('one dashboard: executions by outcome, cost, training time, stage durations, anomalies by rule, endpoint, queues', () => {
    const dashboards = Object.values(pipeline.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0].Properties.DashboardName).toBe('relearn-pipeline');
    const body = JSON.stringify(dashboards[0].Properties.DashboardBody);
    for (const needle of [
      'Executions by outcome', 'ExecutionsSucceeded', 'ExecutionsFailed', 'RunTotalCostUSD', 'TrainingSeconds', 'StageDuration', 'ValidationAnomalies',
      'SEARCH(', 'Invocations', 'Invocation4XXErrors', 'Invocation5XXErrors', 'ModelLatency', 'ApproximateNumberOfMessagesVisible',
      'ApproximateAgeOfOldestMessage', 'relearn-relearn', 'CheckTraining', 'Trigger',
    ]) {
      expect({ needle, found: body.includes(needle) }).toEqual({ needle, found: true });
    }
  });
});
