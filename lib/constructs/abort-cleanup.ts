import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { CLEANED_UP_STATUSES } from '../../lambdas/cleanup-aborted/statuses';
import { relearnFunction } from './relearn-function';

export interface AbortCleanupProps {
  /** The retraining state machine whose ended executions are cleaned up. */
  readonly stateMachine: sfn.IStateMachine;
  /** Pipeline name (config.name): the training jobs are `<name>-train-*` (lambdas/shared/names.ts). */
  readonly pipelineName: string;
  /** The outcome topic the "aborted" message goes to. */
  readonly topic: sns.ITopic;
  /** The key of the log group (and of the topic, unless `topicKey` says otherwise). */
  readonly encryptionKey: kms.IKey;
  /**
   * The key the topic is encrypted with, when it is not `encryptionKey` (a topic the pipeline was given).
   * @default - encryptionKey
   */
  readonly topicKey?: kms.IKey;
  /** The stages' environment (lambdas/shared/env.ts): the function loads it with the same loadEnv. */
  readonly environment: Readonly<Record<string, string>>;
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
 * DESIGN principle 6, "an aborted execution leaves no training job running": a training job started from a
 * Lambda outlives its execution (FIELD-NOTES). NotifyFailure stops it on a caught failure; this stops it when
 * the execution ends any other way. An EventBridge rule on this state machine's ABORTED, TIMED_OUT and FAILED
 * executions invokes `lambdas/cleanup-aborted`, which stops the run's job if it is still InProgress and
 * publishes to the outcome topic (FAILED: only when it had to stop something, NotifyFailure told the rest).
 * Events that cannot be delivered, and invocations that keep failing, end in a dead-letter queue.
 */
export class AbortCleanup extends Construct {
  public readonly function: lambda.Function;
  public readonly rule: events.Rule;
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: AbortCleanupProps) {
    super(scope, id);
    const stack = Stack.of(this);

    // 1. Where events and invocations that keep failing are kept (14 days), TLS only.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      // SSE-SQS: EventBridge can write to it without a grant on the customer key (which lives in the data stack).
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    // 2. The function: the stages' runtime and bundling; its own role and log group.
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.encryptionKey,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `relearn ${props.pipelineName}: stops the training job of an aborted, timed-out or unhandled failed execution`,
    });
    logGroup.grantWrite(role);
    this.function = relearnFunction(this, 'Function', {
      handlerName: 'cleanup-aborted',
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.minutes(1),
      role,
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: { ...props.environment },
      // EventBridge invokes asynchronously: a failing invocation is retried twice, then kept here.
      retryAttempts: 2,
      deadLetterQueue: this.deadLetterQueue,
    });

    // 3. Least privilege: this pipeline's training jobs, the topic (and its key).
    const trainingJobs = `arn:${stack.partition}:sagemaker:${stack.region}:${stack.account}:training-job/${props.pipelineName}-train-*`;
    // ListTags: a running job of the execution's name is stopped only when its tags show this execution made it.
    role.addToPolicy(new iam.PolicyStatement({ actions: ['sagemaker:DescribeTrainingJob', 'sagemaker:ListTags', 'sagemaker:StopTrainingJob'], resources: [trainingJobs] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [props.topic.topicArn] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [(props.topicKey ?? props.encryptionKey).keyArn] }));

    // 4. The rule: only this state machine's executions, only the end states that need a cleanup.
    this.rule = new events.Rule(this, 'Rule', {
      description: `relearn ${props.pipelineName}: stop the training job of an execution that ended ABORTED, TIMED_OUT or FAILED`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [props.stateMachine.stateMachineArn], status: [...CLEANED_UP_STATUSES] },
      },
    });
    this.rule.addTarget(
      new targets.LambdaFunction(this.function, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(6),
      }),
    );
  }
}
