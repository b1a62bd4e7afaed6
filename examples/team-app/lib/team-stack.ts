import { Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { RetrainingPipeline } from 'relearn';

/**
 * A platform team's stack: its own key, landing bucket (with access logs) and alerts topic, and two relearn
 * pipelines. `Churn` reads the team's bucket, encrypts with the team's key and notifies the team's topic, with the
 * team's names (state machine, model package group), instance types and removal policy; `Upsell` lets relearn build what it needs, with a shorter log
 * retention. The two do not clash: names derive from each config's `name`.
 */
export class TeamStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    const key = new kms.Key(this, 'TeamKey', { enableKeyRotation: true, removalPolicy: RemovalPolicy.DESTROY });
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const landing = new s3.Bucket(this, 'Landing', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      eventBridgeEnabled: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'landing/',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const alerts = new sns.Topic(this, 'Alerts', { masterKey: key, enforceSSL: true });

    new RetrainingPipeline(this, 'Churn', {
      config: { name: 'team-churn', evaluation: { gates: { min: { roc_auc: 0.6 } } } },
      dataBucket: landing,
      encryptionKey: key,
      accessLogsBucket: accessLogs,
      topic: alerts,
      modelPackageGroupName: 'team-churn-registry',
      stateMachineName: 'team-churn-retraining',
      trainingInstanceType: 'ml.c5.xlarge',
      servingInstanceType: 'ml.t2.medium',
      removalPolicy: RemovalPolicy.DESTROY,
    });

    new RetrainingPipeline(this, 'Upsell', {
      config: { name: 'team-upsell' },
      logRetention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
