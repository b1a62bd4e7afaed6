import { Match, Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../lambdas/shared/config';
import { dataCaptureConfig } from '../lambdas/monitor/capture-config';
import { MONITORING_NAMESPACE } from '../lambdas/monitor/metrics';
import { alarmPeriod, MONITOR_STATE_NAMES } from '../lib/constructs/monitoring';
import { RESOURCE_STAR_ACTIONS } from '../lib/nag-acknowledgements';
import { list, Statement, statementsOf, synth } from './helpers/templates';

/**
 * Production monitoring in the templates: the schedule, the monitor's state machine and least-privilege roles, the
 * metrics permission, the drift alarm on the outcome topic and the dashboard, the SageMaker role's right to write
 * captures. (cdk-nag over the whole app: test/nag.test.ts.)
 * Data capture itself is set by Deploy on each endpoint config at run time: its shape is checked here, and a real
 * endpoint config carries it in test/monitoring-local.test.ts.
 */
const actionsOn = (statements: Statement[], pattern: RegExp) =>
  statements.filter((s) => pattern.test(JSON.stringify(s.Resource))).flatMap((s) => list(s.Action)).sort();

describe('monitoring in the templates (reference configuration)', () => {
  let pipeline: Template;
  beforeAll(() => {
    ({ pipeline } = synth());
  });

  test('data capture: KMS-encrypted, requests and responses, CSV and JSON as text, under the capture prefix', () => {
    // GIVEN the defaults WHEN Deploy builds the endpoint config's DataCaptureConfig
    const dc = dataCaptureConfig(parseConfig({}).monitoring.capture, 'artifacts-bucket', 'arn:aws:kms:us-east-1:1:key/k');
    // THEN
    expect(dc).toEqual({
      EnableCapture: true,
      InitialSamplingPercentage: 20,
      DestinationS3Uri: 's3://artifacts-bucket/capture',
      KmsKeyId: 'arn:aws:kms:us-east-1:1:key/k',
      CaptureOptions: [{ CaptureMode: 'Input' }, { CaptureMode: 'Output' }],
      CaptureContentTypeHeader: { CsvContentTypes: ['text/csv'], JsonContentTypes: ['application/json'] },
    });
    expect(dataCaptureConfig(parseConfig({ monitoring: { capture: { enabled: false } } }).monitoring.capture, 'b', 'k')).toBeUndefined();
    expect(dataCaptureConfig(parseConfig({ monitoring: { capture: { response: false, prefix: 'traffic/live/' } } }).monitoring.capture, 'b', 'k')).toMatchObject({
      DestinationS3Uri: 's3://b/traffic/live',
      CaptureOptions: [{ CaptureMode: 'Input' }],
    });
  });

  test('the SageMaker role may write captures under the capture prefix only', () => {
    const sm = statementsOf(pipeline, 'PipelineSageMakerRole');
    const capture = sm.filter((s) => JSON.stringify(s.Resource).includes('/capture/*'));
    expect(capture).toHaveLength(1);
    expect(list(capture[0].Action)).toEqual(['s3:PutObject']);
  });

  test("the alarms are named <name>-monitor-*: the topic and key policies let CloudWatch publish for the pipeline's alarms (<name>-*)", () => {
    const names = Object.values(pipeline.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName as string);
    expect(names).toEqual(expect.arrayContaining(['relearn-monitor-drift', 'relearn-monitor-failed']));
    pipeline.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish', Condition: Match.objectLike({ ArnLike: { 'aws:SourceArn': Match.anyValue() } }) }),
        ]),
      },
    });
    expect(JSON.stringify(pipeline.findResources('AWS::SNS::TopicPolicy'))).toContain(':alarm:relearn-*');
  });

  test('the dashboard has the monitoring row (drift per feature by a SEARCH, the verdict, captured rows) and both alarms', () => {
    const [dashboard] = Object.values(pipeline.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    expect(body).toContain('Monitoring: drift per feature');
    expect(body).toMatch(/SEARCH\('\{relearn\/Monitoring,Feature,Pipeline\} MetricName=[\\"]+FeatureDrift[\\"]+ Pipeline=[\\"]+relearn[\\"]+', 'Maximum', 3600\)/);
    expect(body).toContain('DriftAlarm');
  });

  test('a schedule starts the monitor state machine (EventBridge Scheduler) with the reason in its input', () => {
    const [id] = Object.keys(pipeline.findResources('AWS::StepFunctions::StateMachine', { Properties: { StateMachineName: 'relearn-monitor' } }));
    pipeline.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      Target: { Arn: { Ref: id }, Input: JSON.stringify({ reason: 'the schedule rate(1 hour)' }), RetryPolicy: { MaximumRetryAttempts: 3 } },
    });
    // The scheduler's role may start exactly this state machine.
    const schedulerPolicies = Object.values(pipeline.findResources('AWS::IAM::Policy')).filter((p) => list(p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref.startsWith('SchedulerRoleForTarget')));
    expect(schedulerPolicies.length).toBeGreaterThan(0);
    for (const p of schedulerPolicies) {
      for (const s of p.Properties.PolicyDocument.Statement as Statement[]) if (list(s.Action).includes('states:StartExecution')) expect(s.Resource).toEqual({ Ref: id });
    }
  });

  test('schedule off: no schedule, the state machine stays for on-demand runs', () => {
    const { pipeline: off } = synth({ monitoring: { schedule: 'off' } });
    off.resourceCountIs('AWS::Scheduler::Schedule', 0);
    off.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'relearn-monitor' });
  });

  test('the monitor state machine: plan, a Map of shards, compare; STANDARD, logged and traced, tagged for local mode', () => {
    const [sm] = Object.values(pipeline.findResources('AWS::StepFunctions::StateMachine', { Properties: { StateMachineName: 'relearn-monitor' } }));
    expect(sm.Properties).toMatchObject({
      StateMachineType: 'STANDARD',
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true },
      TracingConfiguration: { Enabled: true },
      Tags: [{ Key: 'relearn:purpose', Value: 'monitoring' }],
    });
    const text = (sm.Properties.DefinitionString['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
    const def = JSON.parse(text) as { StartAt: string; States: Record<string, { Type: string; Next?: string; ItemsPath?: string; MaxConcurrency?: number; Retry?: unknown[] }> };
    expect(def.StartAt).toBe(MONITOR_STATE_NAMES.plan);
    expect(def.States[MONITOR_STATE_NAMES.plan]).toMatchObject({ Type: 'Task', Next: MONITOR_STATE_NAMES.statistics });
    expect(def.States[MONITOR_STATE_NAMES.statistics]).toMatchObject({ Type: 'Map', ItemsPath: '$.plan.shards', MaxConcurrency: 10, Next: MONITOR_STATE_NAMES.compare });
    expect(def.States[MONITOR_STATE_NAMES.compare]).toMatchObject({ Type: 'Task', Next: MONITOR_STATE_NAMES.done });
    expect(def.States[MONITOR_STATE_NAMES.compare].Retry).toBeDefined();
  });

  test('the monitor roles: exactly their prefixes; metrics only in their namespace; * only where AWS has no resource', () => {
    const plan = statementsOf(pipeline, 'PipelineMonitoringPlanFunctionRole');
    const shard = statementsOf(pipeline, 'PipelineMonitoringShardFunctionRole');
    const compare = statementsOf(pipeline, 'PipelineMonitoringCompareFunctionRole');
    expect(actionsOn(plan, /\/capture\/\*/)).toEqual(['s3:GetObject']);
    expect(actionsOn(plan, /\/monitoring\/\*/)).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
    expect(actionsOn(shard, /\/runs\//)).toEqual([]);
    expect(actionsOn(compare, /\/runs\/\*\/training\/\*/)).toEqual(['s3:GetObject']);
    for (const role of [plan, shard, compare]) {
      const writes = role.filter((s) => list(s.Action).includes('s3:PutObject'));
      expect(writes.map((s) => JSON.stringify(s.Resource))).toEqual([expect.stringMatching(/\/monitoring\/\*"\]\]\}$/)]);
      for (const s of role.filter((x) => list(x.Resource).includes('*'))) for (const a of list(s.Action)) expect(Object.keys(RESOURCE_STAR_ACTIONS)).toContain(a);
    }
    const put = compare.find((s) => list(s.Action).includes('cloudwatch:PutMetricData'))!;
    expect(put.Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': MONITORING_NAMESPACE } });
    expect(compare.some((s) => list(s.Action).includes('sns:Publish'))).toBe(true);
    expect(plan.concat(shard).some((s) => list(s.Action).some((a) => a.startsWith('sns:') || a.startsWith('cloudwatch:')))).toBe(false);
  });

  test('the drift alarm: DriftDetected >= 1 in the schedule\'s period, missing data keeps the state, actions on the outcome topic', () => {
    const [topic] = Object.keys(pipeline.findResources('AWS::SNS::Topic'));
    pipeline.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'relearn-monitor-drift',
      Namespace: MONITORING_NAMESPACE,
      MetricName: 'DriftDetected',
      Dimensions: [{ Name: 'Pipeline', Value: 'relearn' }],
      Statistic: 'Maximum',
      Period: 3600,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'ignore',
      AlarmActions: [{ Ref: topic }],
      OKActions: [{ Ref: topic }],
    });
    pipeline.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'relearn-monitor-failed', Namespace: 'AWS/States', MetricName: 'ExecutionsFailed', AlarmActions: [{ Ref: topic }] });
    expect(alarmPeriod('rate(15 minutes)').toSeconds()).toBe(900);
    expect(alarmPeriod('rate(7 days)').toSeconds()).toBe(86400);
    expect(alarmPeriod('cron(0 6 * * ? *)').toSeconds()).toBe(3600);
  });

  test('the monitor state machine ARN is a stack output', () => {
    pipeline.hasOutput('MonitorStateMachineArn', {});
  });
});

describe('monitoring configuration', () => {
  test('bad fields are refused naming the field', () => {
    expect(() => parseConfig({ monitoring: { schedule: 'hourly' } })).toThrow(/monitoring\.schedule: off, rate\(<n> minutes\|hours\|days\) or cron\(<6 fields>\)/);
    expect(() => parseConfig({ monitoring: { capture: { samplingPercentage: 120 } } })).toThrow(/monitoring\.capture\.samplingPercentage/);
    expect(() => parseConfig({ monitoring: { capture: { prefix: 'capture' } } })).toThrow(/monitoring\.capture\.prefix: a key prefix ending in '\/'/);
    expect(() => parseConfig({ monitoring: { capture: { request: false, response: false } } })).toThrow(/monitoring\.capture\.request: capture needs request or response/);
    expect(() => parseConfig({ monitoring: { rules: { label_leakage: 'warn' } } })).toThrow(/monitoring\.rules/);
  });
});
