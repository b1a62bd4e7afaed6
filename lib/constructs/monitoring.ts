import { Aws, Duration, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { relearnFunction } from './relearn-function';
import { MonitoringConfig } from '../../lambdas/shared/config';
import { Layout } from '../../lambdas/shared/contracts';
import { MONITORING_METRICS, MONITORING_NAMESPACE } from '../../lambdas/monitor/metrics';
import { TASK_RETRY } from './retraining-state-machine';

/** The repository root (lambdas/ and package-lock.json). */

/**
 * State names of the monitoring state machine: a contract with local mode (`relearn local monitor`), the tests and
 * anyone reading an execution in the console.
 */
export const MONITOR_STATE_NAMES = {
  plan: 'PlanWindow',
  statistics: 'WindowStatistics',
  shard: 'MonitorShard',
  compare: 'CompareWithBaseline',
  done: 'Done',
} as const;

/** The tag that tells the monitoring state machine from the retraining one (local mode finds it by this tag). */
export const STATE_MACHINE_PURPOSE_TAG = 'relearn:purpose';
export const MONITORING_PURPOSE = 'monitoring';

/** Memory and timeout of the three monitor functions: shards stream whole capture files into sketches. */
export const MONITOR_SIZING = {
  plan: { memoryMb: 512, timeout: Duration.minutes(5) },
  shard: { memoryMb: 2048, timeout: Duration.minutes(15) },
  compare: { memoryMb: 1024, timeout: Duration.minutes(10) },
} as const;
type MonitorTask = keyof typeof MONITOR_SIZING;

export interface ProductionMonitoringProps {
  /** `config.monitoring` (capture, schedule, window, thresholds). */
  readonly monitoring: MonitoringConfig;
  /** Pipeline name (config.name): the metrics' `Pipeline` dimension and the state machine's name prefix. */
  readonly pipelineName: string;
  /** Where captures land (the capture prefix) and where the monitor writes (`monitoring/`). */
  readonly artifactsBucket: s3.IBucket;
  /** The key of the bucket, the topic and the log groups. */
  readonly encryptionKey: kms.IKey;
  /** Where the verdict in words and the alarm go (the pipeline's outcome topic). */
  readonly topic: sns.ITopic;
  /** The role the endpoint's model runs as: SageMaker writes captured traffic with it. */
  readonly sagemakerRole: iam.IRole;
  /** The stages' environment (lambdas/shared/env.ts): the monitor loads it with the same loadEnv. */
  readonly environment: Readonly<Record<string, string>>;
  /** How the handlers are bundled: the stages' options (STAGE_BUNDLING). */
  readonly bundling: nodejs.BundlingOptions;
  /**
   * The trigger queue (lib/constructs/trigger.ts): with `monitoring.retrainOnDrift`, CompareWithBaseline asks for a
   * retrain there, so it goes through the single-flight trigger like new data.
   * @default - no retrain on drift (the config may not ask for one)
   */
  readonly triggerQueue?: sqs.IQueue;
  /**
   * Retention of the log groups.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the log groups.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * Production monitoring (docs/monitoring.md): a state machine that reads a window of the endpoint's captured traffic,
 * computes its statistics in parallel shards with the validation's engine, compares them with the champion's
 * baselines, and writes `monitoring/<window>/report.json` and `report.html`; its CloudWatch metrics with an alarm on
 * drift; one message in words on the outcome topic. EventBridge Scheduler starts it on `monitoring.schedule`.
 */
export class ProductionMonitoring extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly functions: Readonly<Record<MonitorTask, lambda.Function>>;
  /** DriftDetected >= 1 (the last window drifted); actions: the topic. */
  public readonly driftAlarm: cloudwatch.Alarm;
  /** A monitoring execution failed; actions: the topic. */
  public readonly failureAlarm: cloudwatch.Alarm;
  public readonly schedule?: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: ProductionMonitoringProps) {
    super(scope, id);
    const { monitoring: m, artifactsBucket: bucket, encryptionKey: key } = props;
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;

    // 1. SageMaker writes the captured traffic with the model's execution role, encrypted with the key.
    props.sagemakerRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [bucket.arnForObjects(`${m.capture.prefix}*`)] }));

    // 2. Three functions from one bundle (lambdas/monitor/handler.ts), each with its own role and log group.
    if (m.retrainOnDrift.enabled && !props.triggerQueue) {
      throw new Error('monitoring.retrainOnDrift.enabled needs the trigger queue (triggerQueue), but got none: a drift retrain goes through the single-flight trigger');
    }
    const fn = (task: MonitorTask, exportName: string, cid: string, extraEnvironment: Record<string, string> = {}): lambda.Function => {
      const logGroup = new logs.LogGroup(this, `${cid}Logs`, { retention: logRetention, encryptionKey: key, removalPolicy: logRemovalPolicy });
      const role = new iam.Role(this, `${cid}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `relearn ${props.pipelineName}: the monitor's ${task} task`,
      });
      logGroup.grantWrite(role);
      // The stages' code path (lib/constructs/relearn-function.ts): the pre-built bundle where relearn is installed.
      return relearnFunction(this, cid, {
        handlerName: 'monitor',
        exportName,
        architecture: lambda.Architecture.ARM_64,
        memorySize: MONITOR_SIZING[task].memoryMb,
        timeout: MONITOR_SIZING[task].timeout,
        role,
        logGroup,
        tracing: lambda.Tracing.ACTIVE,
        environment: { ...props.environment, ...extraEnvironment },
      });
    };
    const plan = fn('plan', 'plan', 'PlanFunction');
    const shard = fn('shard', 'shard', 'ShardFunction');
    const compare = fn('compare', 'compare', 'CompareFunction', m.retrainOnDrift.enabled && props.triggerQueue ? { TRIGGER_QUEUE_URL: props.triggerQueue.queueUrl } : {});
    this.functions = { plan, shard, compare };

    // 3. Least privilege: each task its own keys (S3 layout of docs/monitoring.md).
    const capture = `${m.capture.prefix}*`;
    const grantS3 = (f: lambda.IFunction, access: { read: string[]; list: string[]; write?: string[] }) => {
      f.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: access.read.map((p) => bucket.arnForObjects(p)) }));
      f.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn], conditions: { StringLike: { 's3:prefix': access.list } } }));
      if (access.write?.length) f.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: access.write.map((p) => bucket.arnForObjects(p)) }));
      f.addToRolePolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'], resources: [key.keyArn] }));
    };
    // Plan: list the window's capture files, read a sample, the champion record and its schema; write plan.json.
    grantS3(plan, { read: [capture, Layout.champion, 'runs/*/validation/*'], list: [capture, Layout.champion], write: ['monitoring/*'] });
    // Shard: read plan.json and its capture files; write the shard's statistics.
    grantS3(shard, { read: [capture, 'monitoring/*'], list: ['monitoring/*'], write: ['monitoring/*'] });
    // Compare: the shards (and their capture files, for a shard to redo), the champion's statistics and predictions,
    // found through its model manifest (listed first, as getJsonIfExists does, to tell an absent one from a forbidden one).
    const manifest = 'runs/*/model/manifest.json';
    grantS3(compare, { read: [capture, 'monitoring/*', 'runs/*/validation/*', 'runs/*/training/*', manifest], list: ['monitoring/*', manifest], write: ['monitoring/*'] });
    compare.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['cloudwatch:PutMetricData'], resources: ['*'], conditions: { StringEquals: { 'cloudwatch:namespace': MONITORING_NAMESPACE } } }),
    );
    // The endpoint's Invocations and Invocation4XX/5XXErrors (GetMetricData has no resource-level permission).
    compare.addToRolePolicy(new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] }));
    compare.addToRolePolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [props.topic.topicArn] }));
    // Retrain on drift: one message to the trigger queue (encrypted with the key, which compare may already use).
    if (m.retrainOnDrift.enabled && props.triggerQueue) compare.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [props.triggerQueue.queueArn] }));

    // 4. The state machine: plan, statistics per shard in parallel, compare.
    const task = (name: string, f: lambda.IFunction, sizing: MonitorTask, payload: sfn.TaskInput | undefined, resultPath: string) => {
      const t = new tasks.LambdaInvoke(this, name, {
        lambdaFunction: f,
        payload,
        payloadResponseOnly: true,
        resultPath,
        retryOnServiceExceptions: false,
        taskTimeout: sfn.Timeout.duration(MONITOR_SIZING[sizing].timeout.plus(Duration.seconds(30))),
      });
      t.addRetry(TASK_RETRY);
      return t;
    };
    const planTask = task(
      MONITOR_STATE_NAMES.plan,
      plan,
      'plan',
      sfn.TaskInput.fromObject({
        executionName: sfn.JsonPath.stringAt('$$.Execution.Name'),
        startTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        input: sfn.JsonPath.objectAt('$'),
      }),
      '$.plan',
    );
    const statistics = new sfn.Map(this, MONITOR_STATE_NAMES.statistics, {
      itemsPath: sfn.JsonPath.stringAt('$.plan.shards'),
      itemSelector: {
        'executionName.$': '$$.Execution.Name',
        'planKey.$': '$.plan.planKey',
        'shard.$': '$$.Map.Item.Value',
      },
      maxConcurrency: 10,
      resultPath: sfn.JsonPath.DISCARD,
    });
    statistics.itemProcessor(task(MONITOR_STATE_NAMES.shard, shard, 'shard', undefined, sfn.JsonPath.DISCARD));
    const compareTask = task(
      MONITOR_STATE_NAMES.compare,
      compare,
      'compare',
      sfn.TaskInput.fromObject({ executionName: sfn.JsonPath.stringAt('$$.Execution.Name'), plan: sfn.JsonPath.objectAt('$.plan') }),
      '$.result',
    );
    const definition = planTask.next(statistics).next(compareTask).next(new sfn.Succeed(this, MONITOR_STATE_NAMES.done));
    const stateMachineName = `${props.pipelineName}-monitor`;
    const logGroup = new logs.LogGroup(this, 'Logs', {
      // As the retraining machine's: /aws/vendedlogs/ and a suffix from the stack's UUID.
      logGroupName: Fn.join('', [`/aws/vendedlogs/states/${stateMachineName}-`, Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID))))]),
      retention: logRetention,
      encryptionKey: key,
      removalPolicy: logRemovalPolicy,
    });
    // A backstop: the plan, a few rounds of shards (10 at a time, with retries) and the comparison.
    const totalTimeout = Duration.seconds(MONITOR_SIZING.plan.timeout.toSeconds() + 10 * MONITOR_SIZING.shard.timeout.toSeconds() + 2 * MONITOR_SIZING.compare.timeout.toSeconds());
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: totalTimeout,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    (this.stateMachine.node.defaultChild as sfn.CfnStateMachine).tags.setTag(STATE_MACHINE_PURPOSE_TAG, MONITORING_PURPOSE);

    // 5. The schedule (EventBridge Scheduler starts an execution; its window is the windowMinutes before its start).
    if (m.schedule !== 'off') {
      this.schedule = new scheduler.Schedule(this, 'Schedule', {
        description: `relearn ${props.pipelineName}: compare the endpoint's last ${m.windowMinutes} minutes of traffic with the champion's baselines`,
        schedule: scheduler.ScheduleExpression.expression(m.schedule),
        target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine, {
          input: scheduler.ScheduleTargetInput.fromObject({ reason: `the schedule ${m.schedule}` }),
          retryAttempts: 3,
          maxEventAge: Duration.hours(1),
        }),
      });
    }

    // 6. Metrics and alarms: drift in the last window, and a monitoring run that failed.
    const period = alarmPeriod(m.schedule);
    const driftMetric = new cloudwatch.Metric({
      namespace: MONITORING_NAMESPACE,
      metricName: MONITORING_METRICS.driftDetected,
      dimensionsMap: { Pipeline: props.pipelineName },
      statistic: cloudwatch.Stats.MAXIMUM,
      period,
    });
    this.driftAlarm = new cloudwatch.Alarm(this, 'DriftAlarm', {
      alarmName: `${props.pipelineName}-monitor-drift`,
      alarmDescription: `relearn ${props.pipelineName}: the endpoint's traffic drifted from the champion's baselines (see monitoring/<window>/report.html in the artifacts bucket, docs/monitoring.md)`,
      metric: driftMetric,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // Between two runs there is no datapoint: the alarm keeps the last window's state until the next verdict.
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
    this.failureAlarm = new cloudwatch.Alarm(this, 'FailureAlarm', {
      alarmName: `${props.pipelineName}-monitor-failed`,
      alarmDescription: `relearn ${props.pipelineName}: a monitoring execution failed (see the ${stateMachineName} state machine's executions)`,
      metric: this.stateMachine.metricFailed({ period, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [this.driftAlarm, this.failureAlarm]) alarm.addAlarmAction(new cwActions.SnsAction(props.topic));
    // Drift that went away is news too; a failure alarm going OK on every quiet period is not.
    this.driftAlarm.addOkAction(new cwActions.SnsAction(props.topic));
    // CloudWatch publishes to the KMS-encrypted topic as itself: PipelineAlarms' topic and key policies allow alarms
    // named `<name>-*` (lib/constructs/alarms.ts), which these are.
    this.metric = (metricName, statistic = cloudwatch.Stats.MAXIMUM, label) =>
      new cloudwatch.Metric({ namespace: MONITORING_NAMESPACE, metricName, dimensionsMap: { Pipeline: props.pipelineName }, statistic, period, ...(label ? { label } : {}) });
    this.pipelineName = props.pipelineName;
    this.period = period;
  }

  private readonly metric: (metricName: string, statistic?: string, label?: string) => cloudwatch.Metric;
  private readonly pipelineName: string;
  private readonly period: Duration;

  /** A row of the pipeline's dashboard: drift per feature, the verdict's measures, captured rows and failed requests. */
  addToDashboard(dashboard: ProductionMonitoringDashboard): void {
    const m = MONITORING_METRICS;
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Monitoring: drift per feature (1 = at the threshold)',
        width: 12,
        left: [
          new cloudwatch.MathExpression({
            expression: `SEARCH('{${MONITORING_NAMESPACE},Feature,Pipeline} MetricName="${m.featureDrift}" Pipeline="${this.pipelineName}"', 'Maximum', ${this.period.toSeconds()})`,
            label: '',
            period: this.period,
          }),
        ],
        leftAnnotations: [{ value: 1, label: 'threshold', color: '#cf222e' }],
      }),
      new cloudwatch.GraphWidget({
        title: 'Monitoring: verdict',
        width: 6,
        left: [this.metric(m.driftedFeatures, cloudwatch.Stats.MAXIMUM, 'drifted features'), this.metric(m.driftDetected, cloudwatch.Stats.MAXIMUM, 'drift (0/1)')],
        right: [this.metric(m.predictionDrift, cloudwatch.Stats.MAXIMUM, 'prediction drift')],
      }),
      new cloudwatch.GraphWidget({
        title: 'Monitoring: captured rows, failed requests',
        width: 6,
        left: [this.metric(m.capturedRows, cloudwatch.Stats.MAXIMUM, 'captured rows per window')],
        right: [this.metric(m.failedRequestShare, cloudwatch.Stats.MAXIMUM, 'failed request share')],
      }),
    );
  }
}

export interface ProductionMonitoringDashboard {
  addWidgets(...widgets: cloudwatch.IWidget[]): void;
}

/** The alarm's period: the schedule's rate (1 minute to 1 day), else one hour. */
export function alarmPeriod(schedule: string): Duration {
  const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(schedule);
  if (!m) return Duration.hours(1);
  const n = Number(m[1]);
  const seconds = n * (m[2].startsWith('minute') ? 60 : m[2].startsWith('hour') ? 3600 : 86400);
  return Duration.seconds(Math.min(86400, Math.max(60, seconds)));
}
