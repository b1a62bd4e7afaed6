import { Aws, CfnOutput, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { RelearnConfig } from '../lambdas/shared/config';
import { RetrainingPipeline, RetrainingPipelineProps } from './constructs/retraining-pipeline';

/** The pipeline's inputs, as RetrainingPipeline documents them; the data stack provides the stateful ones. */
export interface PipelineStackProps extends StackProps, Pick<RetrainingPipelineProps, 'appRoot'> {
  /** The parsed relearn configuration. */
  readonly config: RelearnConfig;
  /** The data stack's data bucket. */
  readonly dataBucket: s3.IBucket;
  /** The data stack's artifacts bucket. */
  readonly artifactsBucket: s3.IBucket;
  /** The data stack's key. */
  readonly encryptionKey: kms.IKey;
  /** The data stack's model package group. */
  readonly modelPackageGroupName: string;
}

/** The stateless part: functions, roles, topic, state machine. Safe to destroy and redeploy at any time. */
export class PipelineStack extends Stack {
  public readonly pipeline: RetrainingPipeline;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    // Strong references (CloudFormation exports): the data stack cannot drop a value the pipeline still uses.
    this.node.setContext('@aws-cdk/core:defaultCrossStackReferences', 'strong');
    const { config } = props;
    this.pipeline = new RetrainingPipeline(this, 'Pipeline', {
      config,
      dataBucket: props.dataBucket,
      artifactsBucket: props.artifactsBucket,
      encryptionKey: props.encryptionKey,
      modelPackageGroupName: props.modelPackageGroupName,
      appRoot: props.appRoot,
      logRemovalPolicy: config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });

    const sm = this.pipeline.stateMachine;
    new CfnOutput(this, 'StateMachineArn', { value: sm.stateMachineArn });
    new CfnOutput(this, 'StateMachineConsoleUrl', {
      value: `https://${Aws.REGION}.console.aws.amazon.com/states/home?region=${Aws.REGION}#/statemachines/view/${sm.stateMachineArn}`,
      description: 'Watch executions here',
    });
    new CfnOutput(this, 'RollbackStateMachineArn', { value: this.pipeline.rollbackStateMachine.stateMachineArn, description: 'relearn rollback starts it' });
    new CfnOutput(this, 'MonitorStateMachineArn', { value: this.pipeline.monitoring.stateMachine.stateMachineArn, description: 'Start it to check the endpoint\'s traffic now (docs/monitoring.md)' });
    new CfnOutput(this, 'EndpointName', { value: this.pipeline.endpointName, description: 'The endpoint a promoted model is served from' });
    new CfnOutput(this, 'TopicArn', { value: this.pipeline.topic.topicArn });
    new CfnOutput(this, 'DataBucketName', { value: props.dataBucket.bucketName });
    new CfnOutput(this, 'ArtifactsBucketName', { value: props.artifactsBucket.bucketName });
    // What `relearn start` and `relearn status` find the deployed pipeline by (local/target.ts).
    const trigger = this.pipeline.trigger;
    new CfnOutput(this, 'TriggerQueueUrl', { value: trigger.queue.queueUrl, description: 'relearn start sends here' });
    new CfnOutput(this, 'TriggerDeadLetterQueueUrl', { value: trigger.deadLetterQueue.queueUrl, description: 'Trigger messages that kept failing' });
    new CfnOutput(this, 'KmsKeyArn', { value: props.encryptionKey.keyArn });
  }
}
