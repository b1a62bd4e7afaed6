import { CloudWatchClient, PutMetricAlarmCommand, PutMetricAlarmCommandInput } from '@aws-sdk/client-cloudwatch';
import { CreateModelPackageGroupCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { LOCAL_S3_CREDENTIALS, LocalS3, localS3Env, startLocalS3 } from './services/s3-server';
import type { ResolvedPipeline } from './asl/assembly';
import { LocalFaults, LocalSageMaker, LocalSageMakerEvent, localSageMakerEnv, startLocalSageMaker } from './services/sagemaker';

/**
 * The local "account": S3 (s3rver) and SageMaker (+ runtime + SNS) servers on 127.0.0.1, each on a free port,
 * with their state under `.relearn/`; and what `cdk deploy` would do on top of them (buckets, the model
 * package group, file assets published to the bootstrap bucket).
 */

export type { LocalFaults };
/** One progress event of the local SageMaker server (training logs and metrics, endpoint status, notifications). */
export type SageMakerEvent = LocalSageMakerEvent;

export const LOCAL_REGION = 'us-east-1';

export interface LocalServicesOptions {
  /** `.relearn`: s3/ and sagemaker/ live under it. */
  readonly stateDir: string;
  /** Python with scikit-learn. @default - RELEARN_PYTHON, else what the SageMaker server finds */
  readonly python?: string;
  readonly faults?: LocalFaults;
  readonly onSageMakerEvent?: (e: SageMakerEvent) => void;
}

export interface LocalServices {
  readonly s3: LocalS3;
  readonly sagemaker: LocalSageMaker;
  /** What every handler gets: the SDK's endpoint variables pointing here, credentials, region, checksum settings. */
  readonly env: Readonly<Record<string, string>>;
  /** A SageMaker client for this server (explicit endpoint and credentials). */
  readonly sagemakerClient: SageMakerClient;
  /** A CloudWatch client for the local CloudWatch (metrics and alarms, on the SageMaker server's port). */
  readonly cloudwatchClient: CloudWatchClient;
  stop(): Promise<void>;
}

/**
 * Settings this process needs for s3rver (its clients are created from the environment): checksums only when
 * required (s3rver would store the SDK's aws-chunked trailer as part of the object), and no warning per
 * bundled SDK copy about Node 20.
 */
export const PROCESS_ENV = {
  AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
  AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
} as const;

export async function startLocalServices(opts: LocalServicesOptions): Promise<LocalServices> {
  Object.assign(process.env, PROCESS_ENV);
  const s3 = await startLocalS3({ directory: join(opts.stateDir, 's3') });
  let sagemaker: LocalSageMaker;
  try {
    sagemaker = await startLocalSageMaker({
      directory: join(opts.stateDir, 'sagemaker'),
      s3Endpoint: s3.endpoint,
      ...(opts.python ? { python: opts.python } : {}),
      ...(opts.faults ? { faults: opts.faults } : {}),
      ...(opts.onSageMakerEvent ? { onEvent: opts.onSageMakerEvent } : {}),
    });
  } catch (err) {
    await s3.stop();
    throw err;
  }
  const env = {
    ...PROCESS_ENV,
    ...localS3Env(s3.endpoint),
    ...localSageMakerEnv(sagemaker.endpoint),
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    // Powertools metrics are EMF lines on stdout, which the CLI's own output (and --json) must not carry.
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  const sagemakerClient = new SageMakerClient({ endpoint: sagemaker.endpoint, region: LOCAL_REGION, credentials: LOCAL_S3_CREDENTIALS });
  const cloudwatchClient = new CloudWatchClient({ endpoint: sagemaker.endpoint, region: LOCAL_REGION, credentials: LOCAL_S3_CREDENTIALS });
  let stopped = false;
  return {
    s3,
    sagemaker,
    env,
    sagemakerClient,
    cloudwatchClient,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      sagemakerClient.destroy();
      cloudwatchClient.destroy();
      await Promise.allSettled([sagemaker.stop()]);
      await s3.stop();
    },
  };
}

export interface ProvisionResult {
  readonly buckets: readonly string[];
  readonly modelPackageGroups: readonly string[];
  /** CloudWatch alarms created or updated. */
  readonly alarms: readonly string[];
  /** Alarms the local CloudWatch cannot evaluate (e.g. metric math), with its reason: they exist only in the cloud. */
  readonly skippedAlarms: readonly string[];
  /** File assets uploaded (those already there with the same size are skipped). */
  readonly publishedAssets: number;
}

/** Creates what the stacks declare (buckets, model package groups) and publishes file assets, like `cdk deploy`. */
export async function provision(pipeline: ResolvedPipeline, s3: S3Client, sagemaker: SageMakerClient, cloudwatch?: CloudWatchClient): Promise<ProvisionResult> {
  const buckets = [...new Set(pipeline.buckets.map((b) => b.name))];
  for (const bucket of buckets) {
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      const name = (err as Error).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
    }
  }
  for (const group of pipeline.modelPackageGroups) {
    try {
      await sagemaker.send(
        new CreateModelPackageGroupCommand({
          ModelPackageGroupName: group.name,
          ...(group.description ? { ModelPackageGroupDescription: group.description } : {}),
        }),
      );
    } catch (err) {
      const e = err as Error;
      // Already there from an earlier run: CloudFormation would leave it as it is too.
      if (!/already exists|ResourceInUse|AlreadyExists/i.test(`${e.name} ${e.message}`)) throw err;
    }
  }
  // Alarms, as CloudFormation creates them (PutMetricAlarm with the template's properties; the name it generates).
  const alarms: string[] = [];
  const skippedAlarms: string[] = [];
  for (const alarm of cloudwatch ? pipeline.alarms : []) {
    try {
      await cloudwatch!.send(new PutMetricAlarmCommand({ ...(alarm.properties as unknown as PutMetricAlarmCommandInput), AlarmName: alarm.name }));
      alarms.push(alarm.name);
    } catch (err) {
      if ((err as Error).name !== 'ValidationError') throw err;
      skippedAlarms.push(`${alarm.name}: ${(err as Error).message}`);
    }
  }
  let publishedAssets = 0;
  for (const asset of pipeline.fileAssets) {
    // Lambda code (zip directories) runs in process from cdk.out: nothing to publish for it.
    if (asset.packaging !== 'file') continue;
    const size = statSync(asset.path).size;
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: asset.bucket, Key: asset.key }));
      if (head.ContentLength === size) continue; // content-addressed key: same key and size is the same asset
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404 && (err as Error).name !== 'NotFound') throw err;
    }
    await s3.send(new PutObjectCommand({ Bucket: asset.bucket, Key: asset.key, Body: readFileSync(asset.path) }));
    publishedAssets++;
  }
  return { buckets, modelPackageGroups: pipeline.modelPackageGroups.map((g) => g.name), alarms, skippedAlarms, publishedAssets };
}

/** The data bucket: where the handlers' DATA_BUCKET points. */
export function dataBucketOf(pipeline: ResolvedPipeline): string {
  const ingest = pipeline.tasks.Ingest ? pipeline.functions[pipeline.tasks.Ingest] : undefined;
  const bucket = ingest?.environment.DATA_BUCKET ?? Object.values(pipeline.functions).find((f) => f.environment.DATA_BUCKET)?.environment.DATA_BUCKET;
  if (!bucket) throw new Error('no Lambda of the pipeline has DATA_BUCKET in its environment: cannot tell where data lands');
  return bucket;
}

/** `incoming/<UTC timestamp>/`: one landing prefix per run, as a producer would write it. */
export function landingPrefix(now = new Date()): string {
  return `incoming/${now.toISOString().replace(/[-:]/g, '').replace(/\.(\d+)Z$/, '$1Z')}/`;
}

/** Uploads a file, or every file under a directory (keeping relative paths), under `prefix`. */
export async function uploadData(s3: S3Client, bucket: string, dataPath: string, prefix: string): Promise<{ key: string; file: string }[]> {
  if (!existsSync(dataPath)) throw new Error(`data not found: ${dataPath}`);
  const files: string[] = [];
  if (statSync(dataPath).isDirectory()) {
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        if (e.name.startsWith('.')) continue;
        const full = join(dir, e.name);
        if (e.isDirectory()) walk(full);
        else if (e.isFile()) files.push(full);
      }
    };
    walk(dataPath);
    if (files.length === 0) throw new Error(`data directory is empty: ${dataPath}`);
  } else {
    files.push(dataPath);
  }
  const keys: { key: string; file: string }[] = [];
  for (const file of files) {
    const rel = statSync(dataPath).isDirectory() ? relative(dataPath, file).split(sep).join('/') : basename(file);
    const key = `${prefix}${rel}`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(file) }));
    keys.push({ key, file });
  }
  return keys;
}
