import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseConfig, RelearnConfig } from '../lambdas/shared/config';
import { Layout } from '../lambdas/shared/contracts';
import { resolvePipeline, ResolvedPipeline } from './asl/assembly';
import { iamModelOf } from './iam/template';
import { dataBucketOf, EnforcementSummary, iamEnforcedByEnv, landingPrefix, LocalFaults, LocalServices, provision, SageMakerEvent, startLocalServices, uploadData } from './local-env';
import { defaultExecutionName, LocalExecutionResult, RunEvent, runLocalExecution, StateVisit } from './runner';
import { REPO_ROOT, synthesize } from './synth';

/**
 * `relearn local run` as a function: synth -> local services -> provision -> upload the data -> one execution
 * -> a report of what happened. The CLI prints it; the end-to-end tests and the benchmark call it directly.
 */

export const DEFAULT_DATA = join(REPO_ROOT, 'examples', 'churn', 'data', 'churn-clean.csv');
/** Files in the project folder (then the example's folder) read as the config when --config is not given. */
export const CONFIG_FILE_NAMES = ['relearn.config.json', 'relearn.json'];

export interface LocalRunOptions {
  /** The project folder; state lives in `<projectDir>/.relearn`. @default process.cwd() */
  readonly projectDir?: string;
  /** A CSV/JSONL file or a folder of them. @default the bundled churn example */
  readonly data?: string;
  /** A JSON config file. @default relearn.config.json in the project folder, else the defaults */
  readonly configFile?: string;
  /** A config object (tests); wins over configFile. */
  readonly config?: unknown;
  /** Start from scratch: forget earlier runs, champion and endpoint. @default false */
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
  readonly source: { bucket: string; prefix: string; keys: string[] };
  /** The local files uploaded, in key order. */
  readonly dataFiles: readonly string[];
  readonly labelColumn: string;
  readonly timings: {
    readonly synthMs: number;
    readonly synthCached: boolean;
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

export function stateDirOf(projectDir: string): string {
  return join(resolve(projectDir), '.relearn');
}

/** Reads the config: an object, a file, relearn.config.json in the project folder, or the defaults. */
export function loadConfig(opts: { config?: unknown; configFile?: string; projectDir: string }): { config: RelearnConfig; source: string } {
  if (opts.config !== undefined) return { config: parseConfig(opts.config, 'config'), source: 'config object' };
  const candidates = opts.configFile ? [resolve(opts.configFile)] : CONFIG_FILE_NAMES.map((n) => join(opts.projectDir, n));
  for (const file of candidates) {
    if (!existsSync(file)) {
      if (opts.configFile) throw new Error(`config file not found: ${file}`);
      continue;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`${file}: not valid JSON: ${(err as Error).message}`);
    }
    return { config: withPathsFrom(dirname(file), parseConfig(raw, file)), source: file };
  }
  return { config: parseConfig({}, 'defaults'), source: 'defaults' };
}

/**
 * `validation.schemaFile` is relative to the config file's directory (as bin/app.ts resolves it for `cdk synth`);
 * local mode synthesizes with the repository as the app root, so the path is made absolute here.
 */
function withPathsFrom(configDir: string, config: RelearnConfig): RelearnConfig {
  const schemaFile = config.validation.schemaFile;
  if (!schemaFile || isAbsolute(schemaFile)) return config;
  return { ...config, validation: { ...config.validation, schemaFile: resolve(configDir, schemaFile) } };
}

/**
 * Forgets every earlier run: the S3 and SageMaker state (champion, registry, endpoint), reports and
 * last-run.json. The synthesized assembly is kept unless `everything`: it holds no run state, and it is
 * re-synthesized anyway whenever what it is built from changed.
 */
export function resetState(projectDir: string, everything = true): void {
  const dir = stateDirOf(projectDir);
  if (everything) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (const entry of ['s3', 'sagemaker', 'reports', 'last-run.json']) rmSync(join(dir, entry), { recursive: true, force: true });
}

export async function runLocal(opts: LocalRunOptions = {}): Promise<LocalRunReport> {
  const projectDir = resolve(opts.projectDir ?? process.cwd());
  const stateDir = stateDirOf(projectDir);
  const { config } = loadConfig({ config: opts.config, configFile: opts.configFile, projectDir });
  const data = resolve(opts.data ?? DEFAULT_DATA);
  if (!existsSync(data)) throw new Error(`data not found: ${data}`);
  if (opts.fresh) resetState(projectDir, false);
  mkdirSync(stateDir, { recursive: true });
  const step = (name: string, ms: number, detail: string) => opts.onStep?.({ name, ms, detail });

  // 1. Synthesize (or reuse) the assembly and resolve it.
  const synth = synthesize({ stateDir, config });
  const pipeline = resolvePipeline(synth.outdir);
  step('synth', synth.ms, synth.cached ? `${synth.outdir} (unchanged, reused)` : synth.outdir);

  // 2. Local services. Training-script time is measured from the server's own status events.
  const training = trainingClock();
  const onSageMakerEvent = (e: SageMakerEvent) => {
    training.observe(e);
    opts.onSageMakerEvent?.(e);
  };
  let t = performance.now();
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
      : 'NOT enforced (--no-iam): what would be denied is only logged to .relearn/iam/decisions.jsonl',
  );
  try {
    return await runWithServices(opts, { config, pipeline, services, stateDir, data, synth, servicesMs, training, step });
  } finally {
    await services.stop();
  }
}

interface RunContext {
  readonly config: RelearnConfig;
  readonly pipeline: ResolvedPipeline;
  readonly services: LocalServices;
  readonly stateDir: string;
  readonly data: string;
  readonly synth: { ms: number; cached: boolean };
  readonly servicesMs: number;
  readonly training: ReturnType<typeof trainingClock>;
  readonly step: (name: string, ms: number, detail: string) => void;
}

async function runWithServices(opts: LocalRunOptions, ctx: RunContext): Promise<LocalRunReport> {
  const { pipeline, services, stateDir } = ctx;
  const s3 = services.s3.client;

  // 3. What `cdk deploy` would have created.
  let t = performance.now();
  const provisioned = await provision(pipeline, s3, services.sagemakerClient, services.cloudwatchClient);
  const provisionMs = performance.now() - t;
  ctx.step(
    'provision',
    provisionMs,
    `${provisioned.buckets.length} buckets, model package group ${provisioned.modelPackageGroups.join(', ')}, ${provisioned.alarms.length} alarms` +
      `${provisioned.skippedAlarms.length ? ` (${provisioned.skippedAlarms.length} with metric math exist in the cloud only)` : ''}, ${provisioned.publishedAssets} assets published`,
  );

  // 4. The data lands.
  t = performance.now();
  const bucket = dataBucketOf(pipeline);
  const prefix = landingPrefix();
  const uploaded = await uploadData(s3, bucket, ctx.data, prefix);
  const keys = uploaded.map((u) => u.key);
  const uploadMs = performance.now() - t;
  ctx.step('upload', uploadMs, `${ctx.data} -> s3://${bucket}/${prefix}`);

  // 5. One execution.
  const executionName = opts.executionName ?? defaultExecutionName();
  const result = await runLocalExecution({
    pipeline,
    input: { source: { bucket, prefix } },
    executionName,
    env: { ...services.env, POWERTOOLS_LOG_LEVEL: opts.logLevel ?? 'ERROR' },
    // Each function runs as its own role, with that role's temporary credentials.
    credentialsFor: (fn) => {
      if (opts.bareServices) return undefined; // bare s3rver knows only the operator's key
      if (!fn.roleArn) throw new Error(`${fn.stackName}/${fn.logicalId} has no Role in the template: local mode cannot tell which policies apply to it`);
      return services.authorizer.identities.session(fn.roleArn, fn.name).credentials;
    },
    maxWaitSeconds: opts.maxWaitSeconds ?? 1,
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });

  // 6. What came of it.
  const artifacts = artifactsBucketOf(pipeline);
  const state = (result.output ?? result.lastInput) as Record<string, Record<string, unknown> | undefined> | undefined;
  const decision = await readDecision(s3, artifacts, executionName, state);
  const report = await saveReport(s3, artifacts, executionName, state, stateDir);
  const champion = await readJson<{ executionName: string; modelPackageArn: string; endpointConfigName: string; endpointName?: string }>(s3, artifacts, Layout.champion);
  const endpointName =
    (state?.deployment?.endpointName as string | undefined) ??
    champion?.endpointName ??
    Object.values(pipeline.functions).find((f) => f.environment.ENDPOINT_NAME)?.environment.ENDPOINT_NAME ??
    `${ctx.config.name}-endpoint`;
  const runReport: LocalRunReport = {
    executionName,
    status: result.status,
    ...(result.error ? { error: result.error } : {}),
    states: result.states,
    ...(decision ? { decision } : {}),
    ...(report ? { report } : {}),
    endpointName,
    ...(champion ? { champion: { executionName: champion.executionName, modelPackageArn: champion.modelPackageArn, endpointConfigName: champion.endpointConfigName } } : {}),
    source: { bucket, prefix, keys },
    dataFiles: uploaded.map((u) => u.file),
    labelColumn: ctx.config.dataset.labelColumn,
    timings: {
      synthMs: ctx.synth.ms,
      synthCached: ctx.synth.cached,
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
  writeFileSync(join(stateDir, 'last-run.json'), JSON.stringify({ ...runReport, output: undefined }, null, 2));
  return runReport;
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

/** Copies the run's report.html out of the local S3 into .relearn/reports/<execution>/, a file a browser opens. */
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
  writeFileSync(path, body);
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
