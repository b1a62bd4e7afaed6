import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { RelearnConfig } from '../lambdas/shared/config';
import { Layout } from '../lambdas/shared/contracts';
import { sniff, SNIFF_BYTES } from '../lambdas/shared/tabular';
import { checkConfigPaths } from '../lib/config-file';
import { resolvePipeline, ResolvedPipeline } from './asl/assembly';
import { writeFileAtomic } from './atomic';
import { cleanUpInterruptedRun } from './interrupt';
import { iamModelOf } from './iam/template';
import {
  dataBucketOf,
  DataFile,
  DataPathError,
  EnforcementSummary,
  functionCredentials,
  iamEnforcedByEnv,
  landingPrefix,
  listDataFiles,
  LocalFaults,
  LocalServices,
  provision,
  SageMakerEvent,
  startLocalServices,
  uploadData,
  UploadProgress,
} from './local-env';
import { acquireLock, lockHolder, PipelineBusy } from './lock';
import { AppChoice, AppPipelineRun, prepareAppPipeline } from './app-run';
import { AppSynthError } from './app-synth';
import { adoptLegacyState, LocalPipeline, openPipeline, resetPipeline } from './project';
import { runExecution } from './executions';
import { defaultExecutionName, LocalExecutionResult, RunEvent, StateVisit } from './runner';
import { REPO_ROOT, synthesize } from './synth';

export { CONFIG_FILE_NAMES, loadConfig, openPipeline, pipelineDirOf, stateDirOf } from './project';

/**
 * `relearn local run` as a function: config and data checked -> the pipeline's lock -> synth -> local services ->
 * provision -> upload the data -> one execution -> a report of what happened. The CLI prints it; the end-to-end
 * tests and the benchmark call it directly.
 *
 * An interrupt (`signal`) is honoured at every step: before the execution starts, the run stops where it is and
 * throws Interrupted (nothing of the pipeline changed); during the execution, the execution is aborted, the
 * handlers in flight end, and the abort clean-up runs (lib/constructs/abort-cleanup.ts's function, plus an endpoint
 * rollback: local/interrupt.ts) before the services stop, so the state is the one before the run, or a cleanly
 * failed run's.
 */

export const DEFAULT_DATA = join(REPO_ROOT, 'examples', 'churn', 'data', 'churn-clean.csv');

export interface LocalRunOptions {
  /** The project folder; state lives in `<projectDir>/.relearn/pipelines/<config name>`. @default process.cwd() */
  readonly projectDir?: string;
  /** A CSV/JSONL file or a folder of them. @default the bundled churn example */
  readonly data?: string;
  /** A JSON config file. @default relearn.config.json in the project folder, else the defaults */
  readonly configFile?: string;
  /** A config object (tests); wins over configFile. */
  readonly config?: unknown;
  /**
   * A user's CDK app instead of relearn's own (`--app`, `--pipeline`, or a folder with a cdk.json): synthesized as
   * `cdk synth` would, and its chosen RetrainingPipeline is run (local/app-run.ts). Not with config/configFile.
   * @default - relearn's own app, built in process from the config
   */
  readonly app?: AppChoice;
  /** The CDK app's output while it synthesizes (its own messages, warnings). */
  readonly onAppOutput?: (chunk: string) => void;
  /** Start from scratch: forget this pipeline's earlier runs, champion and endpoint. @default false */
  readonly fresh?: boolean;
  readonly faults?: LocalFaults;
  readonly python?: string;
  /**
   * Enforce the synthesized IAM policies in the local servers. `false` (`--no-iam`, RELEARN_NO_IAM=1) only logs
   * what would be denied: for debugging, never in tests. @default true
   */
  readonly enforceIam?: boolean;
  /** Local servers without TLS, authentication, IAM or API-model checks: bench/enforcement.ts's baseline only. @default false */
  readonly bareServices?: boolean;
  readonly executionName?: string;
  /** @default 1 */
  readonly maxWaitSeconds?: number;
  /** Lambda log level (Powertools). @default 'ERROR' */
  readonly logLevel?: string;
  readonly onEvent?: (e: RunEvent) => void;
  readonly onSageMakerEvent?: (e: SageMakerEvent) => void;
  /** Steps before the execution (synth, services, provisioning, upload), as they finish. */
  readonly onStep?: (step: { name: string; ms: number; detail: string }) => void;
  /** Bytes uploaded so far (big files take a while). */
  readonly onUploadProgress?: UploadProgress;
  /** Stops the run (Ctrl-C): see the module's comment. */
  readonly signal?: AbortSignal;
}

export interface LocalRunReport {
  readonly executionName: string;
  readonly status: LocalExecutionResult['status'];
  readonly error?: { Error: string; Cause?: string };
  readonly states: readonly StateVisit[];
  /** deploy + reasons, from the run's Evaluate result (or its decision.json when the execution failed later). */
  readonly decision?: { deploy: boolean; promoted: boolean; reasons: string[]; primaryMetric?: unknown };
  readonly report?: { uri: string; path: string };
  readonly endpointName: string;
  /** The champion after the run (champion/current.json), if there is one. */
  readonly champion?: { executionName: string; modelPackageArn: string; endpointConfigName: string };
  /** Whether the endpoint exists and is InService after the run (what `relearn local invoke` needs). */
  readonly endpointInService: boolean;
  readonly source: { bucket: string; prefix: string; keys: string[] };
  /** The local files uploaded, in key order. */
  readonly dataFiles: readonly string[];
  readonly labelColumn: string;
  /** The pipeline (config name) and where its config came from. */
  readonly pipeline: { readonly name: string; readonly configFile?: string; readonly projectDir: string; readonly app?: LocalPipeline['app'] };
  /** ABORTED: the states that were running, and what the clean-up did. */
  readonly interrupted?: { readonly in: readonly string[]; readonly cleanup: readonly string[] };
  readonly timings: {
    readonly synthMs: number;
    readonly synthCached: boolean;
    /** Lambda bundles taken over from the previous synth (a config-only change). */
    readonly reusedBundles?: number;
    readonly servicesMs: number;
    readonly provisionMs: number;
    readonly uploadMs: number;
    readonly executionMs: number;
    readonly handlerMs: Readonly<Record<string, number>>;
    /** Per training job: seconds the training script ran (from the SageMaker server's events). */
    readonly trainingScriptMs?: number;
  };
  readonly stateDir: string;
  readonly output?: unknown;
  /** What the local servers checked during the run: IAM decisions and service-model validations. */
  readonly enforcement?: EnforcementSummary;
}

/** A run stopped by its signal before its execution started: nothing of the pipeline changed. */
export class Interrupted extends Error {
  constructor(readonly phase: string) {
    super(`interrupted during ${phase}: no execution started; the pipeline's state is as it was before the run`);
    this.name = 'Interrupted';
  }
}

/** Forgets the pipeline's earlier runs (see resetPipeline), for `--fresh`. */
export function resetState(stateDir: string, everything = true): void {
  resetPipeline(stateDir, everything);
}

/** What a run is about, checked before anything starts: the config, its paths, the data. */
export interface PreparedRun {
  readonly pipeline: LocalPipeline;
  readonly data: string;
  readonly files: readonly DataFile[];
}

/**
 * Loads and checks what can be checked before the synth: a bad config, path or data path throws here. `pipeline`: a
 * pipeline of a user's CDK app, already synthesized and chosen (its config came from the app).
 */
export function prepareRun(opts: Pick<LocalRunOptions, 'projectDir' | 'config' | 'configFile' | 'data'> & { pipeline?: LocalPipeline }): PreparedRun {
  const projectDir = resolve(opts.projectDir ?? process.cwd());
  const pipeline =
    opts.pipeline ?? openPipeline({ projectDir, ...(opts.config !== undefined ? { config: opts.config } : {}), ...(opts.configFile ? { configFile: opts.configFile } : {}) });
  if (!opts.pipeline) checkConfigPaths(pipeline.config, pipeline.baseDir, pipeline.source);
  const { data, files } = prepareData(opts);
  // A run in progress refuses this one before anything starts (the lock itself is taken when the run begins).
  const owner = lockHolder(pipeline.stateDir);
  if (owner) throw new PipelineBusy(owner, pipeline.name);
  return { pipeline, data, files };
}

/** The data to upload: it exists, and its first bytes are readable (checked before anything is synthesized). */
export function prepareData(opts: Pick<LocalRunOptions, 'projectDir' | 'data'>): { data: string; files: readonly DataFile[] } {
  const data = resolve(resolve(opts.projectDir ?? process.cwd()), opts.data ?? DEFAULT_DATA);
  const files = listDataFiles(data);
  checkDataBytes(files);
  return { data, files };
}

/**
 * What the first bytes of each data file already say, with Ingest's own check (lambdas/shared/tabular `sniff`): a
 * UTF-16 file, gzip bytes under a name without .gz, CR-only line ends are refused here, in a second, instead of by
 * Ingest after the synth, the services and the upload. (Gzipped files are left to Ingest: it decompresses them.)
 */
function checkDataBytes(files: readonly DataFile[]): void {
  for (const f of files) {
    if (f.file.toLowerCase().endsWith('.gz') || f.size === 0) continue;
    const fd = openSync(f.file, 'r');
    let head: Buffer;
    try {
      const buf = Buffer.alloc(Math.min(f.size, SNIFF_BYTES));
      head = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
    } finally {
      closeSync(fd);
    }
    const problem = sniff(head, false, f.size <= SNIFF_BYTES);
    if (problem) throw new DataPathError(`${f.file} line 1: ${problem}`);
  }
}

export async function runLocal(opts: LocalRunOptions = {}): Promise<LocalRunReport> {
  const signal = opts.signal;
  const checkpoint = (phase: string) => {
    if (signal?.aborted) throw new Interrupted(phase);
  };
  // A user's CDK app is synthesized first: which pipeline it is (and so its state folder) is known only then.
  const appRun = opts.app ? await synthesizeUserApp(opts, opts.app, checkpoint) : undefined;
  let prepared: PreparedRun;
  let lock: ReturnType<typeof acquireLock>;
  try {
    prepared = prepareRun({ ...opts, ...(appRun ? { pipeline: appRun.pipeline } : {}) });
    checkpoint('the start');
    mkdirSync(prepared.pipeline.stateDir, { recursive: true });
    lock = acquireLock(prepared.pipeline.stateDir, prepared.pipeline.name, 'relearn local run');
  } catch (err) {
    appRun?.discard();
    throw err;
  }
  const { pipeline, data, files } = prepared;
  const { stateDir, config } = pipeline;
  try {
    adoptLegacyState(pipeline.projectDir, pipeline.name);
    if (opts.fresh) resetPipeline(stateDir, false);
    const step = (name: string, ms: number, detail: string) => opts.onStep?.({ name, ms, detail });

    // 1. Synthesize (or reuse) the assembly and resolve it; a user's app was synthesized already: take its assembly.
    const synth = appRun ? { outdir: appRun.adopt(), ms: appRun.synthMs, cached: false, reusedBundles: 0 } : synthesize({ stateDir, config, appRoot: pipeline.baseDir });
    const resolved = resolvePipeline(synth.outdir, appRun ? { stateMachine: appRun.found.stateMachineLogicalId, stackName: appRun.found.stackName } : {});
    const reuse = synth.reusedBundles > 0 ? ` (${synth.reusedBundles} Lambda bundles reused)` : '';
    step(
      'synth',
      synth.ms,
      appRun ? `${appRun.command} -> ${synth.outdir} (pipeline ${appRun.found.path})` : synth.cached ? `${synth.outdir} (unchanged, reused)` : `${synth.outdir}${reuse}`,
    );
    // A synchronous synth cannot see a Ctrl-C until it returns: the signal's handler runs on this await.
    await new Promise((r) => setImmediate(r));
    checkpoint('the synth');

    // 2. Local services. Training-script time is measured from the server's own status events.
    const training = trainingClock();
    const onSageMakerEvent = (e: SageMakerEvent) => {
      training.observe(e);
      opts.onSageMakerEvent?.(e);
    };
    const t = performance.now();
    const iam = iamModelOf(synth.outdir);
    const enforceIam = opts.enforceIam ?? iamEnforcedByEnv();
    const services = await startLocalServices({ stateDir, python: opts.python, faults: opts.faults, onSageMakerEvent, iam, enforceIam, ...(opts.bareServices ? { bare: true } : {}) });
    const servicesMs = performance.now() - t;
    step('services', servicesMs, `S3 ${services.s3.endpoint}, SageMaker ${services.sagemaker.endpoint}`);
    const policies = [...iam.resourcePolicies.keys()];
    step(
      'iam',
      0,
      opts.bareServices
        ? 'OFF: bare servers (HTTP, no signatures, no IAM, no API model): a benchmark baseline'
        : enforceIam
          ? `enforced: ${iam.roles.size} roles, ${policies.filter((a) => a.startsWith('arn:aws:s3')).length} bucket, ${policies.filter((a) => a.includes(':sns:')).length} topic and ${policies.filter((a) => a.includes(':kms:')).length} key policies; SageMaker requests checked against its API model`
          : `NOT enforced (--no-iam): what would be denied is only logged to ${join(stateDir, 'iam', 'decisions.jsonl')}`,
    );
    try {
      checkpoint('the start of the local services');
      return await runWithServices(opts, { config, pipeline, resolved, services, stateDir, files, data, synth, servicesMs, training, step, checkpoint, lock });
    } finally {
      await services.stop();
    }
  } finally {
    lock.release();
  }
}

/** The user's app synthesized and its pipeline chosen (an interrupt during its synth is an Interrupted run). */
async function synthesizeUserApp(opts: LocalRunOptions, choice: AppChoice, checkpoint: (phase: string) => void): Promise<AppPipelineRun> {
  if (opts.config !== undefined || opts.configFile !== undefined) {
    throw new AppSynthError('a run takes its pipeline from a config (relearn\'s own app) or from a CDK app of yours, not both');
  }
  const projectDir = resolve(opts.projectDir ?? process.cwd());
  prepareData(opts);
  checkpoint('the start');
  try {
    return await prepareAppPipeline(projectDir, choice, { ...(opts.onAppOutput ? { onOutput: opts.onAppOutput } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    checkpoint('the synth');
    throw err;
  }
}

interface RunContext {
  readonly config: RelearnConfig;
  readonly pipeline: LocalPipeline;
  readonly resolved: ResolvedPipeline;
  readonly services: LocalServices;
  readonly stateDir: string;
  readonly files: readonly DataFile[];
  readonly data: string;
  readonly synth: { ms: number; cached: boolean; reusedBundles: number };
  readonly servicesMs: number;
  readonly training: ReturnType<typeof trainingClock>;
  readonly step: (name: string, ms: number, detail: string) => void;
  readonly checkpoint: (phase: string) => void;
  readonly lock: { setExecution(name: string): void };
}

async function runWithServices(opts: LocalRunOptions, ctx: RunContext): Promise<LocalRunReport> {
  const { resolved, services, stateDir } = ctx;
  const s3 = services.s3.client;

  // 3. What `cdk deploy` would have created.
  let t = performance.now();
  const provisioned = await provision(resolved, s3, services.sagemakerClient, services.cloudwatchClient);
  const provisionMs = performance.now() - t;
  ctx.step(
    'provision',
    provisionMs,
    `${provisioned.buckets.length} buckets, model package group ${provisioned.modelPackageGroups.join(', ')}, ${provisioned.alarms.length} alarms` +
      `${provisioned.skippedAlarms.length ? ` (${provisioned.skippedAlarms.length} with metric math exist in the cloud only)` : ''}, ${provisioned.publishedAssets} assets published`,
  );
  ctx.checkpoint('provisioning');

  // 4. The data lands (streamed: memory stays bounded whatever the file size).
  t = performance.now();
  const bucket = dataBucketOf(resolved);
  const prefix = landingPrefix();
  let uploaded: { key: string; file: string }[];
  try {
    uploaded = await uploadData(s3, bucket, ctx.files, prefix, { ...(opts.onUploadProgress ? { onProgress: opts.onUploadProgress } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    if (opts.signal?.aborted) throw new Interrupted('the upload');
    throw err;
  }
  const keys = uploaded.map((u) => u.key);
  const uploadMs = performance.now() - t;
  ctx.step('upload', uploadMs, `${ctx.data} -> s3://${bucket}/${prefix}`);
  ctx.checkpoint('the upload');

  // 5. One execution.
  const executionName = opts.executionName ?? defaultExecutionName();
  ctx.lock.setExecution(executionName);
  const env = { ...services.env, POWERTOOLS_LOG_LEVEL: opts.logLevel ?? 'ERROR' };
  // Each function runs as its own role, with that role's temporary credentials (bare s3rver knows only the operator's key).
  const credentialsFor = functionCredentials(services, opts.bareServices === true);
  const result = await runExecution(services, resolved, {
    input: { source: { bucket, prefix } },
    executionName,
    env,
    credentialsFor,
    maxWaitSeconds: opts.maxWaitSeconds ?? 1,
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });

  // 6. An interrupted execution is cleaned up before anything else is read or the services stop.
  const artifacts = artifactsBucketOf(resolved);
  let interrupted: LocalRunReport['interrupted'];
  if (result.status === 'ABORTED') {
    const cleanup = await cleanUpInterruptedRun({
      pipeline: resolved,
      env,
      credentialsFor,
      s3,
      sagemaker: services.sagemakerClient,
      artifactsBucket: artifacts,
      executionName,
      startedAt: result.startedAt,
    });
    interrupted = { in: result.interruptedIn ?? [], cleanup };
  }

  // 7. What came of it.
  const state = (result.output ?? result.lastInput) as Record<string, Record<string, unknown> | undefined> | undefined;
  const decision = await readDecision(s3, artifacts, executionName, state);
  const report = await saveReport(s3, artifacts, executionName, state, stateDir);
  const champion = await readJson<{ executionName: string; modelPackageArn: string; endpointConfigName: string; endpointName?: string }>(s3, artifacts, Layout.champion);
  const endpointName =
    (state?.deployment?.endpointName as string | undefined) ??
    champion?.endpointName ??
    Object.values(resolved.functions).find((f) => f.environment.ENDPOINT_NAME)?.environment.ENDPOINT_NAME ??
    `${ctx.config.name}-endpoint`;
  const endpointInService = await inService(services, endpointName);
  const runReport: LocalRunReport = {
    executionName,
    status: result.status,
    ...(result.error ? { error: result.error } : {}),
    states: result.states,
    ...(decision ? { decision } : {}),
    ...(report ? { report } : {}),
    endpointName,
    ...(champion ? { champion: { executionName: champion.executionName, modelPackageArn: champion.modelPackageArn, endpointConfigName: champion.endpointConfigName } } : {}),
    endpointInService,
    source: { bucket, prefix, keys },
    dataFiles: uploaded.map((u) => u.file),
    labelColumn: ctx.config.dataset.labelColumn,
    pipeline: {
      name: ctx.pipeline.name,
      projectDir: ctx.pipeline.projectDir,
      ...(ctx.pipeline.configFile ? { configFile: ctx.pipeline.configFile } : {}),
      ...(ctx.pipeline.app ? { app: ctx.pipeline.app } : {}),
    },
    ...(interrupted ? { interrupted } : {}),
    timings: {
      synthMs: ctx.synth.ms,
      synthCached: ctx.synth.cached,
      reusedBundles: ctx.synth.reusedBundles,
      servicesMs: ctx.servicesMs,
      provisionMs,
      uploadMs,
      executionMs: result.durationMs,
      handlerMs: result.handlerMs,
      ...(ctx.training.totalMs() !== undefined ? { trainingScriptMs: ctx.training.totalMs() } : {}),
    },
    stateDir,
    ...(result.output !== undefined ? { output: result.output } : {}),
    enforcement: services.enforcement(),
  };
  writeFileAtomic(join(stateDir, 'last-run.json'), JSON.stringify({ ...runReport, output: undefined }, null, 2));
  return runReport;
}

async function inService(services: LocalServices, endpointName: string): Promise<boolean> {
  try {
    return (await services.sagemakerClient.send(new DescribeEndpointCommand({ EndpointName: endpointName }))).EndpointStatus === 'InService';
  } catch {
    return false;
  }
}

export function artifactsBucketOf(pipeline: ResolvedPipeline): string {
  const fn = Object.values(pipeline.functions).find((f) => f.environment.ARTIFACTS_BUCKET);
  if (!fn) throw new Error('no Lambda of the pipeline has ARTIFACTS_BUCKET in its environment');
  return fn.environment.ARTIFACTS_BUCKET;
}

async function readJson<T>(s3: S3Client, bucket: string, key: string): Promise<T | undefined> {
  const buf = await readObject(s3, bucket, key);
  if (!buf) return undefined;
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

async function readObject(s3: S3Client, bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await res.Body!.transformToByteArray());
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return undefined;
    throw err;
  }
}

async function readDecision(
  s3: S3Client,
  artifacts: string,
  executionName: string,
  state: Record<string, Record<string, unknown> | undefined> | undefined,
): Promise<LocalRunReport['decision']> {
  const promoted = state?.registration?.promote === true;
  const ev = state?.evaluation;
  if (ev && typeof ev.deploy === 'boolean') {
    return { deploy: ev.deploy, promoted, reasons: (ev.reasons as string[]) ?? [], primaryMetric: ev.primaryMetric };
  }
  const file = await readJson<Record<string, unknown>>(s3, artifacts, Layout.decision(executionName));
  if (!file) return undefined;
  const deploy = Boolean(file.deploy ?? file.promote ?? file.blessed);
  const reasons = Array.isArray(file.reasons) ? (file.reasons as unknown[]).map((r) => (typeof r === 'string' ? r : JSON.stringify(r))) : [];
  return { deploy, promoted, reasons, ...(file.primaryMetric !== undefined ? { primaryMetric: file.primaryMetric } : {}) };
}

/** Copies the run's report.html out of the local S3 into the pipeline's reports/<execution>/, a file a browser opens. */
async function saveReport(
  s3: S3Client,
  artifacts: string,
  executionName: string,
  state: Record<string, Record<string, unknown> | undefined> | undefined,
  stateDir: string,
): Promise<LocalRunReport['report']> {
  const uri = (state?.evaluation?.reportUri as string | undefined) ?? `s3://${artifacts}/${Layout.evaluation(executionName)}report.html`;
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m) return undefined;
  const body = await readObject(s3, m[1], m[2]);
  if (!body) return undefined;
  const path = join(stateDir, 'reports', executionName, 'report.html');
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, body);
  return { uri, path };
}

/** Sums the time training scripts ran, from the server's training-status events (InProgress/Training -> end). */
function trainingClock() {
  const started = new Map<string, number>();
  let total: number | undefined;
  return {
    observe(e: SageMakerEvent) {
      if (e.kind !== 'training-status' || typeof e.job !== 'string') return;
      const at = typeof e.time === 'number' ? e.time : Date.now();
      const status = String(e.status);
      const secondary = String(e.secondaryStatus ?? '');
      if (!started.has(e.job) && status === 'InProgress' && secondary === 'Training') started.set(e.job, at);
      if (started.has(e.job) && (status !== 'InProgress' || secondary === 'Uploading')) {
        total = (total ?? 0) + (at - started.get(e.job)!);
        started.delete(e.job);
      }
    },
    totalMs: () => total,
  };
}
