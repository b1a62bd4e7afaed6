import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';

/**
 * The stateful resources relearn builds when it is not given them (the key, the access-log bucket, the data and
 * artifacts buckets, the model package group), as aws-solutions-constructs does it: the default props are plain
 * functions, the builders are separate and apply a caller's overrides on top. relearn's DataStack and the
 * RetrainingPipeline construct (when it builds them itself) use the same ones, so both get the same hardening.
 */

/** Key: rotated yearly, with the removal policy of the data it protects. */
export function defaultKeyProps(description: string, removalPolicy: RemovalPolicy): kms.KeyProps {
  return { description, enableKeyRotation: true, removalPolicy };
}

/** Builds the key and lets CloudWatch Logs use it for log groups of this account and region only. */
export function buildKey(scope: Construct, id: string, defaults: kms.KeyProps, overrides?: kms.KeyProps): kms.Key {
  const key = new kms.Key(scope, id, { ...defaults, ...overrides });
  const stack = Stack.of(scope);
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:*` },
      },
    }),
  );
  return key;
}

/** Server access logs (S3 delivers access logs only to SSE-S3 buckets), kept a year. */
export function defaultAccessLogsBucketProps(removalPolicy: RemovalPolicy): s3.BucketProps {
  return {
    encryption: s3.BucketEncryption.S3_MANAGED,
    versioned: true,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    removalPolicy,
    lifecycleRules: [{ id: 'expire-old-access-logs', expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
  };
}

/**
 * A data or artifacts bucket: SSE-KMS with the customer key (bucket keys on), versioned, TLS only, no public access,
 * server access logs under `logPrefix`. No autoDeleteObjects: a destroy never silently deletes data.
 */
export function defaultSecureBucketProps(key: kms.IKey, accessLogs: s3.IBucket, logPrefix: string, removalPolicy: RemovalPolicy): s3.BucketProps {
  return {
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: key,
    bucketKeyEnabled: true,
    versioned: true,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    serverAccessLogsBucket: accessLogs,
    serverAccessLogsPrefix: logPrefix,
    removalPolicy,
    lifecycleRules: [{ id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) }],
  };
}

/** A bucket from relearn's defaults with the caller's overrides on top. */
export function buildBucket(scope: Construct, id: string, defaults: s3.BucketProps, overrides?: s3.BucketProps): s3.Bucket {
  return new s3.Bucket(scope, id, { ...defaults, ...overrides });
}

/** The model registry: every evaluated candidate becomes a package of this group. */
export function buildModelPackageGroup(scope: Construct, id: string, name: string, description: string, removalPolicy: RemovalPolicy): sagemaker.CfnModelPackageGroup {
  const group = new sagemaker.CfnModelPackageGroup(scope, id, { modelPackageGroupName: name, modelPackageGroupDescription: description });
  group.applyRemovalPolicy(removalPolicy);
  return group;
}

/** Access logs are delivered through a bucket policy (logging.s3.amazonaws.com), not the legacy ACL. */
export const ACCESS_LOGS_USE_BUCKET_POLICY = '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy';

/** `removalPolicy` of the config file as CDK's RemovalPolicy. */
export function removalPolicyOf(setting: 'retain' | 'destroy'): RemovalPolicy {
  return setting === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
}
