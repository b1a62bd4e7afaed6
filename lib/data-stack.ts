import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { RelearnConfig } from '../lambdas/shared/config';
import {
  ACCESS_LOGS_USE_BUCKET_POLICY,
  buildBucket,
  buildKey,
  buildModelPackageGroup,
  defaultAccessLogsBucketProps,
  defaultKeyProps,
  defaultSecureBucketProps,
  removalPolicyOf,
} from './constructs/stateful-defaults';
import { acknowledgeBucketNotifications } from './nag-acknowledgements';

export interface DataStackProps extends StackProps {
  /** The parsed relearn configuration: `name` and `removalPolicy` are read here. */
  readonly config: RelearnConfig;
}

/**
 * The stateful part of relearn: the key, the buckets and the model registry. It changes rarely and outlives
 * pipeline redeploys; the pipeline stack only references it.
 *
 * The construct ids below ('Key', 'AccessLogsBucket', 'DataBucket', 'ArtifactsBucket', 'ModelPackageGroup')
 * are a contract: CloudFormation's logical ids derive from them, and renaming one REPLACES the resource
 * (a new, empty bucket; a new key that cannot decrypt the old data). Never rename them.
 */
export class DataStack extends Stack {
  public readonly key: kms.Key;
  public readonly accessLogsBucket: s3.Bucket;
  public readonly dataBucket: s3.Bucket;
  public readonly artifactsBucket: s3.Bucket;
  public readonly modelPackageGroupName: string;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    // Access logs are delivered through a bucket policy (logging.s3.amazonaws.com), not the legacy ACL.
    this.node.setContext(ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const { config } = props;
    // RETAIN by default: buckets, key and registry survive `cdk destroy`. With `destroy` (dev stacks) they
    // are deleted with the stack, but buckets only when empty: no autoDeleteObjects, so a destroy never
    // silently deletes data (and no custom-resource Lambda is needed for it).
    const removalPolicy = removalPolicyOf(config.removalPolicy);

    // 1. The key for everything relearn stores: buckets, logs, topic, SageMaker volumes and outputs.
    this.key = buildKey(this, 'Key', defaultKeyProps(`relearn ${config.name}: data, artifacts, logs and notifications`, removalPolicy));

    // 2. Server access logs of both buckets (S3 delivers access logs only to SSE-S3 buckets).
    this.accessLogsBucket = buildBucket(this, 'AccessLogsBucket', defaultAccessLogsBucketProps(removalPolicy));

    // 3. The data bucket: producers write to `incoming/`; its events go to EventBridge (the trigger's source).
    this.dataBucket = buildBucket(this, 'DataBucket', defaultSecureBucketProps(this.key, this.accessLogsBucket, 'data-bucket/', removalPolicy), {
      eventBridgeEnabled: true,
    });

    // 4. The artifacts bucket: datasets, runs, the champion record (docs/architecture.md).
    this.artifactsBucket = buildBucket(this, 'ArtifactsBucket', defaultSecureBucketProps(this.key, this.accessLogsBucket, 'artifacts-bucket/', removalPolicy));

    // 5. The model registry: every evaluated candidate becomes a package here.
    this.modelPackageGroupName = `${config.name}-models`;
    buildModelPackageGroup(
      this,
      'ModelPackageGroup',
      this.modelPackageGroupName,
      `relearn ${config.name}: every evaluated candidate, with its metrics and approval status`,
      removalPolicy,
    );

    // CDK's handler that turns on the data bucket's EventBridge notifications: its one reviewed cdk-nag finding.
    this.node.addValidation({ validate: () => (acknowledgeBucketNotifications(this), []) });

    new CfnOutput(this, 'DataBucketName', { value: this.dataBucket.bucketName, description: 'Drop new data under incoming/ here' });
    new CfnOutput(this, 'ArtifactsBucketName', { value: this.artifactsBucket.bucketName, description: 'Datasets, runs, reports, champion record' });
    new CfnOutput(this, 'ModelPackageGroupName', { value: this.modelPackageGroupName });
  }
}
