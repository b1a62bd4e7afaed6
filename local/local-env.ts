import { CloudWatchClient, PutMetricAlarmCommand, PutMetricAlarmCommandInput } from '@aws-sdk/client-cloudwatch';
import { CreateModelPackageGroupCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { Upload } from '@aws-sdk/lib-storage';
import { basename, join, relative, sep } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { appendFileSync } from 'node:fs';
import { Authorizer } from './iam/authorizer';
import { LOCAL_ADMIN_CREDENTIALS } from './iam/identities';
import { IamModel, iamModelOf } from './iam/template';
import { LocalS3, localS3Env, startLocalS3 } from './services/s3-server';
import type { LocalFunction, ResolvedPipeline } from './asl/assembly';
import { ApiModelCounts, LocalFaults, LocalSageMaker, LocalSageMakerEvent, localSageMakerEnv, startLocalSageMaker } from './services/sagemaker';
import { LocalSqsServer, localSqsEnv, startLocalSqs } from './services/sqs';
import { localSfnEnv, LocalStepFunctions, LocalStepFunctionsServer, startLocalStepFunctions } from './services/stepfunctions';

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
  /**
   * The synthesized template's IAM (local/iam/template.ts): roles, their policies, bucket/topic/key policies.
   * Without it only the operator's credentials exist (an inspection of the state, a unit test's bare servers).
   */
  readonly iam?: IamModel;
  /**
   * Enforce the policies (deny what AWS would deny). `false` only evaluates and logs: `--no-iam` /
   * RELEARN_NO_IAM=1, for debugging; never in tests. @default true
   */
  readonly enforceIam?: boolean;
  /**
   * The servers as they were before enforcement (HTTP, no signatures, no IAM, no API model), every caller the
   * operator: bench/enforcement.ts's baseline only, never local mode or tests. @default false
   */
  readonly bare?: boolean;
}

/**
 * The credentials each Lambda runs with: a session of its own role from the template, as Lambda gives a function its
 * execution role's temporary credentials (runLocalExecution's `credentialsFor`). Bare servers know only the operator.
 */
export function functionCredentials(services: Pick<LocalServices, 'authorizer'>, bare = false) {
  return (fn: LocalFunction): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined => {
    if (bare) return undefined;
    if (!fn.roleArn) throw new Error(`${fn.stackName}/${fn.logicalId} has no Role in the template: local mode cannot tell which policies apply to it`);
    return services.authorizer.identities.session(fn.roleArn, fn.name).credentials;
  };
}

/** `RELEARN_NO_IAM=1` (or `true`) turns enforcement off for debugging, like `relearn local run --no-iam`. */
export const iamEnforcedByEnv = (): boolean => !/^(1|true|yes)$/i.test(process.env.RELEARN_NO_IAM ?? '');

/** What the local servers checked while they ran (appended to RELEARN_ENFORCEMENT_LOG, one JSON line per stop). */
export interface EnforcementSummary {
  readonly enforced: boolean;
  readonly iam: { allowed: number; denied: number; byService: Record<string, { allowed: number; denied: number }> };
  readonly apiModel: ApiModelCounts;
}

export interface LocalServices {
  readonly s3: LocalS3;
  readonly sagemaker: LocalSageMaker;
  /** Step Functions' API over local executions (the trigger starts runs through it; Notify reads a run's history). */
  readonly stepFunctions: LocalStepFunctionsServer;
  /** SQS (the trigger queue and its dead-letter queue). */
  readonly sqs: LocalSqsServer;
  /** What every handler gets: the SDK's endpoint variables pointing here, credentials, region, checksum settings. */
  readonly env: Readonly<Record<string, string>>;
  /** A SageMaker client for this server as the operator (explicit endpoint and credentials). */
  readonly sagemakerClient: SageMakerClient;
  /** A CloudWatch client for the local CloudWatch (metrics and alarms, on the SageMaker server's port). */
  readonly cloudwatchClient: CloudWatchClient;
  /** The one authorizer of these servers: credentials, the template's policies, the decision log. */
  readonly authorizer: Authorizer;
  /** What was checked so far (IAM decisions, requests validated against the service models). */
  enforcement(): EnforcementSummary;
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
  // An inspection of an existing project (`relearn local invoke`, tests) enforces its last synthesized template too.
  const assembly = join(opts.stateDir, 'cdk.out');
  const iam = opts.iam ?? (existsSync(join(assembly, 'manifest.json')) ? iamModelOf(assembly) : undefined);
  const authorizer = new Authorizer({
    ...(iam ? { model: iam } : {}),
    enforce: opts.enforceIam ?? iamEnforcedByEnv(),
    logFile: join(opts.stateDir, 'iam', 'decisions.jsonl'),
  });
  const s3 = await startLocalS3({ directory: join(opts.stateDir, 's3'), authorizer, ...(opts.bare ? { bare: true } : {}) });
  let sagemaker: LocalSageMaker;
  try {
    sagemaker = await startLocalSageMaker({
      directory: join(opts.stateDir, 'sagemaker'),
      s3Endpoint: s3.endpoint,
      authorizer,
      ...(opts.bare ? { bare: true } : {}),
      ...(opts.python ? { python: opts.python } : {}),
      ...(opts.faults ? { faults: opts.faults } : {}),
      ...(opts.onSageMakerEvent ? { onEvent: opts.onSageMakerEvent } : {}),
    });
  } catch (err) {
    await s3.stop();
    throw err;
  }
  const stepFunctions = await startLocalStepFunctions(new LocalStepFunctions(join(opts.stateDir, 'stepfunctions', 'executions.json')));
  const sqs = await startLocalSqs();
  const env = {
    ...PROCESS_ENV,
    ...localS3Env(s3.endpoint),
    ...localSageMakerEnv(sagemaker.endpoint),
    ...localSfnEnv(stepFunctions.endpoint),
    ...localSqsEnv(sqs.endpoint),
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    // Powertools metrics are EMF lines on stdout, which the CLI's own output (and --json) must not carry.
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  const sagemakerClient = new SageMakerClient({ endpoint: sagemaker.endpoint, region: LOCAL_REGION, credentials: LOCAL_ADMIN_CREDENTIALS });
  const cloudwatchClient = new CloudWatchClient({ endpoint: sagemaker.endpoint, region: LOCAL_REGION, credentials: LOCAL_ADMIN_CREDENTIALS });
  const enforcement = (): EnforcementSummary => ({
    enforced: authorizer.enforce,
    iam: JSON.parse(JSON.stringify(authorizer.counts)) as EnforcementSummary['iam'],
    apiModel: JSON.parse(JSON.stringify(sagemaker.apiModel)) as ApiModelCounts,
  });
  let stopped = false;
  return {
    s3,
    sagemaker,
    stepFunctions,
    sqs,
    env,
    sagemakerClient,
    cloudwatchClient,
    authorizer,
    enforcement,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      sagemakerClient.destroy();
      cloudwatchClient.destroy();
      await Promise.allSettled([sagemaker.stop(), stepFunctions.stop(), sqs.stop()]);
      await s3.stop();
      authorizer.flush();
      // Suite-wide counts (bench/enforcement.ts): every set of services appends what it checked.
      const log = process.env.RELEARN_ENFORCEMENT_LOG;
      if (log) appendFileSync(log, JSON.stringify({ stateDir: opts.stateDir, ...enforcement() }) + '\n');
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
  // A bucket or model package group the pipeline was given by name (imported, not in any template) exists in the
  // account already: local mode creates it, as the account would have it.
  const given = (variable: string) => Object.values(pipeline.functions).map((f) => f.environment[variable]).filter((v): v is string => !!v);
  const buckets = [...new Set([...pipeline.buckets.map((b) => b.name), ...given('DATA_BUCKET'), ...given('ARTIFACTS_BUCKET')])];
  const groups = [...pipeline.modelPackageGroups];
  for (const name of new Set(given('MODEL_PACKAGE_GROUP'))) if (!groups.some((g) => g.name === name)) groups.push({ stackName: '', logicalId: 'given', name, arn: '' });
  for (const bucket of buckets) {
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      const name = (err as Error).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
    }
  }
  for (const group of groups) {
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
      // The local CloudWatch refuses what it cannot evaluate (metric math): that alarm exists in the cloud only.
      if (!/^Validation(Error|Exception)$/.test((err as Error).name)) throw err;
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
    await s3.send(new PutObjectCommand({ Bucket: asset.bucket, Key: asset.key, Body: createReadStream(asset.path), ContentLength: size }));
    publishedAssets++;
  }
  return { buckets, modelPackageGroups: groups.map((g) => g.name), alarms, skippedAlarms, publishedAssets };
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

/** A file to upload: its path and the key (relative path under the landing prefix). */
export interface DataFile {
  readonly file: string;
  /** Path relative to the --data folder (POSIX separators), or the file's name. */
  readonly relativeKey: string;
  readonly size: number;
}

/** Why --data cannot be used: not found, an empty folder, not a file or folder. Reported before anything starts. */
export class DataPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataPathError';
  }
}

/** The files `--data` names: the file itself, or every file under the folder (dotfiles skipped), sorted. */
export function listDataFiles(dataPath: string): DataFile[] {
  if (!existsSync(dataPath)) throw new DataPathError(`data not found: ${dataPath}`);
  const st = statSync(dataPath);
  if (st.isFile()) return [{ file: dataPath, relativeKey: basename(dataPath), size: st.size }];
  if (!st.isDirectory()) throw new DataPathError(`data is neither a file nor a folder: ${dataPath}`);
  const files: DataFile[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) files.push({ file: full, relativeKey: relative(dataPath, full).split(sep).join('/'), size: statSync(full).size });
    }
  };
  walk(dataPath);
  if (files.length === 0) throw new DataPathError(`data directory is empty: ${dataPath} has no files (dotfiles are skipped)`);
  return files;
}

/** Upload progress: bytes sent so far of all files, and the total. */
export type UploadProgress = (p: { readonly file: string; readonly loaded: number; readonly total: number }) => void;

/**
 * Bytes per part of a multipart upload: 16 MiB (S3's minimum is 5 MiB; against the local S3, whose completion
 * rewrites the parts into one object, 16 MiB parts took half the time of 5 MiB ones for a 1 GB file), larger when
 * 10,000 parts (S3's maximum) would not hold the file. At most 4 parts are in memory at a time.
 */
export function partSizeFor(size: number): number {
  const PART = 16 * 1024 * 1024;
  return Math.max(PART, Math.ceil(size / 10000 / PART) * PART);
}

/**
 * Uploads the files under `prefix`, each streamed from disk: a file smaller than one part goes in one PutObject,
 * a bigger one as a multipart upload (@aws-sdk/lib-storage) with at most `queueSize` parts in memory at a time,
 * whatever the file's size. `signal` stops it (the upload in flight is aborted).
 */
export async function uploadData(
  s3: S3Client,
  bucket: string,
  files: readonly DataFile[],
  prefix: string,
  opts: { onProgress?: UploadProgress; signal?: AbortSignal; queueSize?: number } = {},
): Promise<{ key: string; file: string }[]> {
  const total = files.reduce((a, f) => a + f.size, 0);
  let before = 0;
  const keys: { key: string; file: string }[] = [];
  for (const f of files) {
    if (opts.signal?.aborted) throw abortError();
    const key = `${prefix}${f.relativeKey}`;
    const body = createReadStream(f.file);
    const upload = new Upload({
      client: s3,
      params: { Bucket: bucket, Key: key, Body: body, ContentLength: f.size },
      partSize: partSizeFor(f.size),
      queueSize: opts.queueSize ?? 4,
    });
    const onAbort = () => void upload.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    upload.on('httpUploadProgress', (p) => opts.onProgress?.({ file: f.file, loaded: before + Math.min(p.loaded ?? 0, f.size), total }));
    try {
      await upload.done();
    } catch (err) {
      if (opts.signal?.aborted) throw abortError();
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      body.destroy();
    }
    before += f.size;
    opts.onProgress?.({ file: f.file, loaded: before, total });
    keys.push({ key, file: f.file });
  }
  return keys;
}

function abortError(): Error {
  const e = new Error('upload interrupted');
  e.name = 'AbortError';
  return e;
}
