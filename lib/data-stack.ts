import { CfnOutput, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import { RelearnConfig } from '../lambdas/shared/config';

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
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const { config } = props;
    // RETAIN by default: buckets, key and registry survive `cdk destroy`. With `destroy` (dev stacks) they
    // are deleted with the stack, but buckets only when empty: no autoDeleteObjects, so a destroy never
    // silently deletes data (and no custom-resource Lambda is needed for it).
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    // 1. The key for everything relearn stores: buckets, logs, topic, SageMaker volumes and outputs.
    this.key = new kms.Key(this, 'Key', {
      description: `relearn ${config.name}: data, artifacts, logs and notifications`,
      enableKeyRotation: true,
      removalPolicy,
    });
    // CloudWatch Logs encrypts the pipeline's log groups with it, only for log groups of this account/region.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${this.partition}:logs:${this.region}:${this.account}:log-group:*` },
        },
      }),
    );

    // 2. Server access logs of both buckets (S3 delivers access logs only to SSE-S3 buckets).
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
      lifecycleRules: [{ id: 'expire-old-access-logs', expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
    });

    const secureBucket = (id: string, logPrefix: string, extra: Partial<s3.BucketProps>) =>
      new s3.Bucket(this, id, {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        versioned: true,
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        serverAccessLogsBucket: this.accessLogsBucket,
        serverAccessLogsPrefix: logPrefix,
        removalPolicy,
        lifecycleRules: [{ id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) }],
        ...extra,
      });

    // 3. The data bucket: producers write to `incoming/`; its events go to EventBridge (the trigger's source).
    this.dataBucket = secureBucket('DataBucket', 'data-bucket/', { eventBridgeEnabled: true });

    // 4. The artifacts bucket: datasets, runs, the champion record (docs/architecture.md).
    this.artifactsBucket = secureBucket('ArtifactsBucket', 'artifacts-bucket/', {});

    // 5. The model registry: every evaluated candidate becomes a package here.
    this.modelPackageGroupName = `${config.name}-models`;
    const group = new sagemaker.CfnModelPackageGroup(this, 'ModelPackageGroup', {
      modelPackageGroupName: this.modelPackageGroupName,
      modelPackageGroupDescription: `relearn ${config.name}: every evaluated candidate, with its metrics and approval status`,
    });
    group.applyRemovalPolicy(removalPolicy);

    new CfnOutput(this, 'DataBucketName', { value: this.dataBucket.bucketName, description: 'Drop new data under incoming/ here' });
    new CfnOutput(this, 'ArtifactsBucketName', { value: this.artifactsBucket.bucketName, description: 'Datasets, runs, reports, champion record' });
    new CfnOutput(this, 'ModelPackageGroupName', { value: this.modelPackageGroupName });
  }
}
