import { Annotations, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** The variant lambdas/deploy/core.ts creates: SageMaker's endpoint metrics carry it as a dimension. */
export const ENDPOINT_VARIANT_NAME = 'AllTraffic';

export interface PipelineAlarmsProps {
  /** `config.name`: every alarm is named `<name>-...` (the topic and key policies allow exactly those). */
  readonly pipelineName: string;
  readonly stateMachine: sfn.IStateMachine;
  /** The outcome topic: every alarm publishes here when it goes off. */
  readonly topic: sns.ITopic;
  /** The topic's key: CloudWatch must be allowed to use it, or an encrypted topic drops the alarm silently. */
  readonly encryptionKey: kms.IKey;
  readonly endpointName: string;
  readonly triggerQueue: sqs.IQueue;
  /** An oldest message older than this means the trigger keeps failing on it. */
  readonly triggerQueueMaxAge: Duration;
  /** Every dead-letter queue of the pipeline, by a short id used in the alarm's name. */
  readonly deadLetterQueues: Readonly<Record<string, sqs.IQueue>>;
}

/**
 * The pipeline's alarms (docs/operations.md says what each means and what to do), each publishing to the outcome
 * topic: an execution that failed, timed out or was aborted; a message in any dead-letter queue; the trigger
 * queue's oldest message getting old; the endpoint answering 5xx.
 */
export class PipelineAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[] = [];
  public readonly failedExecutions: cloudwatch.Alarm;
  public readonly triggerQueueAge: cloudwatch.Alarm;
  public readonly endpoint5xx: cloudwatch.Alarm;
  public readonly deadLetters: Readonly<Record<string, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: PipelineAlarmsProps) {
    super(scope, id);
    const name = props.pipelineName;
    const period = Duration.minutes(5);
    const add = (alarmId: string, alarmName: string, description: string, metric: cloudwatch.IMetric, threshold: number) => {
      const alarm = new cloudwatch.Alarm(this, alarmId, {
        alarmName: `${name}-${alarmName}`,
        alarmDescription: `relearn ${name}: ${description} (docs/operations.md, "Alarms")`,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(new actions.SnsAction(props.topic));
      this.alarms.push(alarm);
      return alarm;
    };

    // 1. Executions that did not end well (FAILED, TIMED_OUT, ABORTED).
    const sm = (metricName: string) => new cloudwatch.Metric({ namespace: 'AWS/States', metricName, dimensionsMap: { StateMachineArn: props.stateMachine.stateMachineArn }, statistic: 'Sum', period });
    this.failedExecutions = add(
      'FailedExecutions',
      'failed-executions',
      'an execution failed, timed out or was aborted',
      new cloudwatch.MathExpression({
        expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
        usingMetrics: { failed: sm('ExecutionsFailed'), timedOut: sm('ExecutionsTimedOut'), aborted: sm('ExecutionsAborted') },
        period,
        label: 'executions failed, timed out or aborted',
      }),
      1,
    );

    // 2. Every dead-letter queue: a message there was not handled and waits for a person.
    const deadLetters: Record<string, cloudwatch.Alarm> = {};
    for (const [dlqId, queue] of Object.entries(props.deadLetterQueues)) {
      deadLetters[dlqId] = add(
        `${dlqId[0].toUpperCase()}${dlqId.slice(1)}DeadLetters`,
        `${dlqId}-dead-letters`,
        `a message is in the ${dlqId} dead-letter queue`,
        queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period }),
        1,
      );
    }
    this.deadLetters = deadLetters;

    // 3. The trigger queue's oldest message: retried for a while and still not handled.
    this.triggerQueueAge = add(
      'TriggerQueueAge',
      'trigger-queue-age',
      `the trigger queue's oldest message is older than ${props.triggerQueueMaxAge.toMinutes()} minutes`,
      props.triggerQueue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period }),
      props.triggerQueueMaxAge.toSeconds(),
    );

    // 4. The endpoint answers 5xx.
    this.endpoint5xx = add(
      'Endpoint5xx',
      'endpoint-5xx',
      `the endpoint ${props.endpointName} answered with 5xx errors`,
      new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName: 'Invocation5XXErrors',
        dimensionsMap: { EndpointName: props.endpointName, VariantName: ENDPOINT_VARIANT_NAME },
        statistic: 'Sum',
        period,
      }),
      1,
    );

    // 5. CloudWatch publishes to the encrypted topic as itself: the topic and key policies allow it, for these alarms only.
    const stack = Stack.of(this);
    const conditions = {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:${name}-*` },
    };
    props.topic.addToResourcePolicy(
      new iam.PolicyStatement({ principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')], actions: ['sns:Publish'], resources: [props.topic.topicArn], conditions }),
    );
    const keyGrant = props.encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsToTheOutcomeTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions,
      }),
      /* allowNoOp */ true,
    );
    if (!keyGrant.statementAdded) {
      Annotations.of(this).addWarningV2('relearn:alarmKeyPolicy', 'the topic key is imported: allow cloudwatch.amazonaws.com kms:GenerateDataKey and kms:Decrypt in its key policy, or the alarms cannot publish');
    }
  }
}
