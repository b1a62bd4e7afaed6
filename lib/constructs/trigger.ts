import { Annotations, ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaEvents from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { relearnFunction } from './relearn-function';
import { TriggerConfig } from '../../lambdas/shared/config';
import { Layout } from '../../lambdas/shared/contracts';

/** The repository root (lambdas/ and package-lock.json). */

/** The trigger function's timeout; the queue's visibility timeout is six times it (Lambda's advice for SQS sources). */
export const TRIGGER_TIMEOUT = Duration.minutes(1);
/** How long a received message stays invisible: six times the function's timeout (Lambda's advice for SQS sources). */
export const TRIGGER_VISIBILITY_TIMEOUT = Duration.seconds(TRIGGER_TIMEOUT.toSeconds() * 6);
/** Receives before a message that keeps failing goes to the dead-letter queue. */
export const TRIGGER_MAX_RECEIVE_COUNT = 5;
/** Messages per invocation, gathered for at most the batching window: a burst of 1,000 uploads is a handful of invocations. */
export const TRIGGER_BATCH = { size: 100, window: Duration.seconds(5), maxConcurrency: 2 } as const;
/** The end statuses of an execution: each wakes the trigger (a run ended: start the follow-up). */
export const EXECUTION_END_STATUSES = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;
/** What the schedule sends (lambdas/trigger/messages.ts). */
export const SCHEDULE_MESSAGE = { relearn: 'schedule' } as const;

export interface PipelineTriggerProps {
  /** `config.trigger`. */
  readonly config: TriggerConfig;
  /** `config.name`: prefixes descriptions and the schedule's name. */
  readonly pipelineName: string;
  /** The bucket whose `incoming/` object-created events start runs (EventBridge notifications on). */
  readonly dataBucket: s3.IBucket;
  /** Where the trigger keeps its state and the run manifests (`trigger/`). */
  readonly artifactsBucket: s3.IBucket;
  /** Encrypts both queues, the log group and what the trigger writes. */
  readonly encryptionKey: kms.IKey;
  /** What the trigger starts. */
  readonly stateMachine: sfn.IStateMachine;
  /** Its name (`<name>-retrain`): DescribeExecution is granted on its executions by name. */
  readonly stateMachineName: string;
  /** The stages' environment (lambdas/shared/env.ts); the trigger adds STATE_MACHINE_ARN and TRIGGER_QUEUE_URL. */
  readonly environment: Readonly<Record<string, string>>;
  /** How the handler is bundled: the stages' options (STAGE_BUNDLING). */
  readonly bundling: nodejs.BundlingOptions;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the function's log group.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * Retrain when data lands (docs/architecture.md, "Trigger"): S3 object-created events under `incoming/` and the
 * state machine's end-of-execution events go through EventBridge rules to one SQS queue (the pipeline's KMS key,
 * TLS only, a dead-letter queue after 5 receives); the trigger Lambda reads it in batches with partial batch
 * responses and starts at most one execution at a time. An optional EventBridge Scheduler schedule sends to the
 * same queue, so it goes through the same single-flight path.
 */
export class PipelineTrigger extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly function: lambda.Function;
  public readonly objectCreatedRule: events.Rule;
  public readonly executionEndedRule: events.Rule;
  public readonly schedule?: scheduler.CfnSchedule;

  constructor(scope: Construct, id: string, props: PipelineTriggerProps) {
    super(scope, id);
    const { encryptionKey: key } = props;
    const stack = Stack.of(this);

    // 1. The queues: the pipeline's key, TLS only, 14 days; a message received 5 times without success moves on.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: key,
      // One data key per 5 minutes instead of a KMS call per message of a burst.
      dataKeyReuse: Duration.minutes(5),
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      visibilityTimeout: TRIGGER_VISIBILITY_TIMEOUT,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: TRIGGER_MAX_RECEIVE_COUNT },
    });

    // 2. The function: the stages' runtime and bundling, its own role and log group.
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      encryptionKey: key,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `relearn ${props.pipelineName}: the trigger (single-flight starts of the retraining state machine)`,
    });
    logGroup.grantWrite(role);
    // The stages' code path (lib/constructs/relearn-function.ts): the pre-built bundle where relearn is installed.
    this.function = relearnFunction(this, 'Function', {
      handlerName: 'trigger',
      architecture: lambda.Architecture.ARM_64,
      // The state object holds every pending key: parsing and writing a few MB stays quick with this much CPU.
      memorySize: 512,
      timeout: TRIGGER_TIMEOUT,
      role,
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: { ...props.environment, STATE_MACHINE_ARN: props.stateMachine.stateMachineArn, TRIGGER_QUEUE_URL: this.queue.queueUrl },
    });
    this.function.addEventSource(
      new lambdaEvents.SqsEventSource(this.queue, {
        batchSize: TRIGGER_BATCH.size,
        maxBatchingWindow: TRIGGER_BATCH.window,
        reportBatchItemFailures: true,
        maxConcurrency: TRIGGER_BATCH.maxConcurrency,
      }),
    );

    // 3. Least privilege: read the landing zone, its state and manifests under trigger/, start and look at executions.
    const allow = (actions: string[], resources: string[], conditions?: Record<string, unknown>) => role.addToPolicy(new iam.PolicyStatement({ actions, resources, conditions }));
    allow(['s3:GetObject', 's3:GetObjectVersion'], [props.dataBucket.arnForObjects(`${Layout.incomingPrefix}*`)]);
    allow(['s3:ListBucket'], [props.dataBucket.bucketArn], { StringLike: { 's3:prefix': [`${Layout.incomingPrefix}*`] } });
    allow(['s3:GetObject', 's3:PutObject'], [props.artifactsBucket.arnForObjects(Layout.triggerState), props.artifactsBucket.arnForObjects('trigger/manifests/*')]);
    allow(['s3:ListBucket'], [props.artifactsBucket.bucketArn], { StringLike: { 's3:prefix': [Layout.triggerState] } });
    allow(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'], [key.keyArn]);
    allow(['states:StartExecution', 'states:ListExecutions'], [props.stateMachine.stateMachineArn]);
    allow(['states:DescribeExecution'], [executionsOf(stack, props.stateMachineName)]);
    // Its own delayed wake-ups (the quiet period), and the queue's depth (a burst not read yet is not quiet).
    // Receiving is the event source mapping's grant.
    allow(['sqs:SendMessage', 'sqs:GetQueueAttributes'], [this.queue.queueArn]);

    // 4. The rules: object-created events of the landing zone, and this state machine's executions that ended.
    this.objectCreatedRule = new events.Rule(this, 'ObjectCreatedRule', {
      description: `relearn ${props.pipelineName}: objects landing under ${Layout.incomingPrefix} wake the trigger`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: { bucket: { name: [props.dataBucket.bucketName] }, object: { key: [{ prefix: Layout.incomingPrefix }] } },
      },
    });
    this.executionEndedRule = new events.Rule(this, 'ExecutionEndedRule', {
      description: `relearn ${props.pipelineName}: an execution that ended wakes the trigger (the follow-up run)`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [props.stateMachine.stateMachineArn], status: [...EXECUTION_END_STATUSES] },
      },
    });
    for (const rule of [this.objectCreatedRule, this.executionEndedRule]) rule.addTarget(new QueueTarget(this.queue, this.deadLetterQueue));
    // EventBridge may send only for these two rules (to the queue, and what it cannot deliver to the dead-letter queue).
    const ruleArns = [this.objectCreatedRule.ruleArn, this.executionEndedRule.ruleArn];
    for (const q of [this.queue, this.deadLetterQueue]) {
      q.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [new iam.ServicePrincipal('events.amazonaws.com')],
          actions: ['sqs:SendMessage'],
          resources: [q.queueArn],
          conditions: { ArnEquals: { 'aws:SourceArn': ruleArns } },
        }),
      );
    }
    // SQS encrypts what EventBridge sends with the key, on EventBridge's behalf: its key policy must allow that
    // (KMS sees no aws:SourceArn for EventBridge deliveries, so the queue policy above is what limits the senders).
    const keyGrant = key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EventBridgeToTheTriggerQueue',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
      }),
      /* allowNoOp */ true,
    );
    if (!keyGrant.statementAdded) {
      Annotations.of(this).addWarningV2('relearn:triggerKeyPolicy', 'the encryption key is imported: allow events.amazonaws.com kms:GenerateDataKey and kms:Decrypt in its key policy, or EventBridge cannot deliver to the trigger queue');
    }

    // 5. The schedule (optional): the same queue, so a scheduled run waits for the one in flight like any other.
    //    (The L1 resource with a role of our own: the L2 target grants kms:GenerateDataKey* and kms:ReEncrypt* too.)
    if (props.config.schedule) {
      const schedule = props.config.schedule;
      const scheduleRole = new iam.Role(this, 'ScheduleRole', {
        assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
        description: `relearn ${props.pipelineName}: the schedule sends its tick to the trigger queue`,
      });
      scheduleRole.addToPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.queue.queueArn, this.deadLetterQueue.queueArn] }));
      scheduleRole.addToPolicy(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [key.keyArn] }));
      this.schedule = new scheduler.CfnSchedule(this, 'Schedule', {
        description: `relearn ${props.pipelineName}: start what landed since the last run (${schedule.expression})`,
        scheduleExpression: schedule.expression,
        scheduleExpressionTimezone: schedule.timezone,
        flexibleTimeWindow: { mode: 'OFF' },
        state: 'ENABLED',
        target: {
          arn: this.queue.queueArn,
          roleArn: scheduleRole.roleArn,
          input: JSON.stringify(SCHEDULE_MESSAGE),
          deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
          retryPolicy: { maximumEventAgeInSeconds: Duration.hours(1).toSeconds(), maximumRetryAttempts: 10 },
        },
      });
    }
  }
}

/** The ARN of every execution of a state machine: `arn:<partition>:states:<region>:<account>:execution:<name>:*`. */
export function executionsOf(stack: Stack, stateMachineName: string): string {
  return stack.formatArn({ service: 'states', resource: 'execution', resourceName: `${stateMachineName}:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
}

/**
 * An EventBridge target that only points at the queue: the queue and key policies are written by PipelineTrigger
 * itself (CDK's SqsQueue target would let any rule of any account send when the queue has a customer key).
 */
class QueueTarget implements events.IRuleTarget {
  constructor(
    private readonly queue: sqs.IQueue,
    private readonly deadLetterQueue: sqs.IQueue,
  ) {}

  bind(): events.RuleTargetConfig {
    return {
      arn: this.queue.queueArn,
      targetResource: this.queue,
      deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
      retryPolicy: { maximumEventAgeInSeconds: Duration.hours(24).toSeconds(), maximumRetryAttempts: 185 },
    };
  }
}
