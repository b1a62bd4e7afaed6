import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE } from '../../lambdas/shared/metric-names';
import { ENDPOINT_VARIANT_NAME } from './alarms';

export interface PipelineDashboardProps {
  /** `config.name`: the dashboard is `<name>-pipeline`. */
  readonly pipelineName: string;
  /** POWERTOOLS_SERVICE_NAME of the functions: the `service` dimension of relearn's own metrics. */
  readonly serviceName: string;
  readonly stateMachine: sfn.IStateMachine;
  /** The handler names whose StageDuration is drawn (the stages and the trigger). */
  readonly stageNames: readonly string[];
  readonly endpointName: string;
  readonly triggerQueue: sqs.IQueue;
  readonly deadLetterQueues: Readonly<Record<string, sqs.IQueue>>;
  /**
   * Alarms shown with their state on top.
   * @default - none
   */
  readonly alarms?: readonly cloudwatch.IAlarm[];
}

/**
 * One CloudWatch dashboard for the pipeline: executions by outcome and what they cost, stage durations, training
 * time, validation anomalies by rule, the endpoint's invocations, 4xx/5xx and latency, and the trigger queue's depth
 * and age. relearn's own metrics come from Powertools (lambdas/shared/telemetry.ts: namespace `relearn`, dimension
 * `service`); the rest are the services' own.
 */
export class PipelineDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const hour = Duration.hours(1);
    const own = (metricName: string, statistic: string, dimensions: Record<string, string> = {}, label?: string) =>
      new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: props.serviceName, ...dimensions }, statistic, period: hour, ...(label ? { label } : {}) });
    const states = (metricName: string, label: string) =>
      new cloudwatch.Metric({ namespace: 'AWS/States', metricName, dimensionsMap: { StateMachineArn: props.stateMachine.stateMachineArn }, statistic: 'Sum', period: hour, label });
    const endpoint = (metricName: string, statistic: string, label: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName,
        dimensionsMap: { EndpointName: props.endpointName, VariantName: ENDPOINT_VARIANT_NAME },
        statistic,
        period: Duration.minutes(5),
        label,
      });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${props.pipelineName}-pipeline`,
      defaultInterval: Duration.days(7),
    });
    if (props.alarms?.length) {
      this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24, height: 3 }));
    }
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Executions by outcome (per hour)',
        width: 8,
        stacked: true,
        left: [
          states('ExecutionsSucceeded', 'succeeded'),
          states('ExecutionsFailed', 'failed'),
          states('ExecutionsTimedOut', 'timed out'),
          states('ExecutionsAborted', 'aborted'),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Cost per run (USD, list prices)',
        width: 8,
        left: [own(METRIC.runTotalCost, 'Maximum', {}, 'whole run'), own(METRIC.runOrchestrationCost, 'Maximum', {}, 'orchestration (transitions + Lambda)')],
      }),
      new cloudwatch.GraphWidget({
        title: 'Training time (s)',
        width: 8,
        left: [own(METRIC.trainingSeconds, 'Maximum', {}, 'training seconds')],
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Stage durations (ms, p90)',
        width: 12,
        left: props.stageNames.map((stage) => own(METRIC.stageDuration, 'p90', { stage }, stage)),
      }),
      new cloudwatch.GraphWidget({
        title: 'Validation anomalies by rule',
        width: 12,
        stacked: true,
        left: [
          new cloudwatch.MathExpression({
            expression: `SEARCH('{${METRICS_NAMESPACE},rule,service} MetricName="${METRIC.validationAnomalies}" service="${props.serviceName}"', 'Sum', 3600)`,
            label: '',
            period: hour,
          }),
        ],
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: `Endpoint ${props.endpointName}: invocations`, width: 8, left: [endpoint('Invocations', 'Sum', 'invocations')] }),
      new cloudwatch.GraphWidget({
        title: 'Endpoint errors (4xx / 5xx)',
        width: 8,
        left: [endpoint('Invocation4XXErrors', 'Sum', '4xx'), endpoint('Invocation5XXErrors', 'Sum', '5xx')],
      }),
      new cloudwatch.GraphWidget({
        title: 'Endpoint latency (µs)',
        width: 8,
        left: [endpoint('ModelLatency', 'p50', 'model p50'), endpoint('ModelLatency', 'p90', 'model p90'), endpoint('OverheadLatency', 'p90', 'overhead p90')],
      }),
    );
    const queues = { trigger: props.triggerQueue, ...Object.fromEntries(Object.entries(props.deadLetterQueues).map(([k, q]) => [`${k} DLQ`, q])) };
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Queue depth (visible messages)',
        width: 12,
        left: Object.entries(queues).map(([label, q]) => q.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(5), label })),
      }),
      new cloudwatch.GraphWidget({
        title: 'Trigger queue: oldest message (s)',
        width: 12,
        left: [props.triggerQueue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: Duration.minutes(5), label: 'oldest message age' })],
      }),
    );
  }
}
