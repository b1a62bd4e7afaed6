import { GetObjectCommand } from '@aws-sdk/client-s3';
import { DescribeEndpointCommand, ListModelPackagesCommand, ListTrainingJobsCommand, ModelPackageSummary } from '@aws-sdk/client-sagemaker';
import { createWriteStream, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChurnVariant, generateChurn } from '../../examples/churn/generate';
import { resolvePipeline } from '../../local/asl/assembly';
import { CliIO, main } from '../../local/cli';
import { LocalServices, startLocalServices } from '../../local/local-env';
import { artifactsBucketOf, pipelineDirOf } from '../../local/local-run';
import { openTable, Value, writeCsvRow } from '../../lambdas/shared/tabular';

/**
 * A harness for end-to-end tests of `relearn local run`: a throw-away project folder, runs through the CLI
 * function in process (`main(['local', 'run', '--json', ...])`, the code bin/relearn.js runs), and looks
 * into the local S3 and SageMaker state the runs leave in `<project>/.relearn/`.
 *
 * Synthesis is the slow part of a run (15-30 s), and local mode re-synthesizes whenever the config changes.
 * A test that alternates configs (weak, normal, weak) keeps a copy of each config's assembly and puts it back
 * before the run: `synthesize()` still checks the copy's input key, so a stale copy is rebuilt, never used.
 */

/** What `relearn local run --json` prints (the fields the tests read). */
export type RunJson = {
  executionName: string;
  status: string;
  error?: { Error: string; Cause: string };
  states: { name: string; type: string; durationMs: number; retries: number; status: string; error?: string }[];
  decision: {
    deploy: boolean;
    promoted: boolean;
    reasons: string[];
    primaryMetric?: { name: string; candidate: number | null; champion?: number | null };
  } | null;
  report: { path: string; uri: string } | null;
  endpointName: string;
  champion: { executionName: string; modelPackageArn: string; endpointConfigName: string } | null;
  invoke: string | null;
  source: { bucket: string; prefix: string; keys: string[] };
  timings: { synthMs: number; synthCached: boolean; executionMs: number };
};

export interface RunOptions {
  /** A config file written by `writeConfig` (its name). */
  readonly config?: string;
  /** A data file written by `writeData` (its path). */
  readonly data?: string;
  readonly extra?: readonly string[];
}

/** State names in the order first visited (the polling loops' repeats folded). */
export const firstVisits = (r: RunJson): string[] => [...new Set(r.states.map((s) => s.name))];

/** The body of the one-line invoke command the run printed. */
export const bodyOf = (invokeHint: string): string => /--body '(.*)'$/.exec(invokeHint)![1].replace(/'\\''/g, "'");

export class E2eProject {
  readonly dir: string;
  private readonly assemblies: string;
  private readonly configs = new Map<string, string>();
  /** The pipeline name (the config's `name`, default `relearn`) of each config written. */
  private readonly pipelines = new Map<string, string>();

  constructor(prefix = 'relearn-e2e-') {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.assemblies = join(this.dir, 'assemblies');
  }

  /** The state folder of the pipeline named `relearn` (the default name, which the tests' configs keep). */
  get stateDir(): string {
    return this.pipelineDir('relearn');
  }

  /** A pipeline's state folder: `.relearn/pipelines/<name>`. */
  pipelineDir(name: string): string {
    return pipelineDirOf(this.dir, name);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Writes `<name>.json` into the project folder; `run({ config: name })` uses it. */
  writeConfig(name: string, config: unknown): string {
    const path = join(this.dir, `${name}.json`);
    writeFileSync(path, JSON.stringify(config, null, 2));
    this.configs.set(name, path);
    const pipelineName = (config as { name?: unknown } | null)?.name;
    this.pipelines.set(name, typeof pipelineName === 'string' ? pipelineName : 'relearn');
    return path;
  }

  /** Generates churn data with the example generator into `data/<name>.csv`. */
  async writeData(name: string, opts: { rows: number; seed: number; variant?: ChurnVariant }): Promise<string> {
    mkdirSync(join(this.dir, 'data'), { recursive: true });
    const path = join(this.dir, 'data', `${name}.csv`);
    await pipeline(generateChurn(opts), createWriteStream(path));
    return path;
  }

  private io(): CliIO & { out: () => string; err: () => string } {
    let out = '';
    let err = '';
    return { cwd: this.dir, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, out: () => out, err: () => err };
  }

  /** `relearn local run --json [--config <file>] [--data <file>] ...extra`, with this config's assembly reused. */
  async run(opts: RunOptions = {}): Promise<{ code: number; json: RunJson; log: string }> {
    const flags: string[] = [];
    if (opts.config) {
      const file = this.configs.get(opts.config);
      if (!file) throw new Error(`no config named ${opts.config}: call writeConfig first`);
      flags.push('--config', file);
      this.restoreAssembly(opts.config);
    }
    if (opts.data) flags.push('--data', opts.data);
    flags.push(...(opts.extra ?? []));
    const cli = this.io();
    const code = await main(['local', 'run', '--json', ...flags], cli);
    const lines = cli.out().trim().split('\n');
    if (!lines[lines.length - 1]?.startsWith('{')) throw new Error(`no JSON on stdout (exit ${code}):\n${cli.out()}\n${cli.err()}`);
    const json = JSON.parse(lines[lines.length - 1]) as RunJson;
    if (opts.config && !json.timings.synthCached) this.saveAssembly(opts.config);
    return { code, json, log: cli.err() };
  }

  private restoreAssembly(config: string): void {
    const saved = join(this.assemblies, config);
    const current = join(this.pipelineDir(this.pipelines.get(config) ?? 'relearn'), 'cdk.out');
    if (!existsSync(saved) || sameAssembly(saved, current)) return;
    rmSync(current, { recursive: true, force: true });
    cpSync(saved, current, { recursive: true });
  }

  private saveAssembly(config: string): void {
    const saved = join(this.assemblies, config);
    rmSync(saved, { recursive: true, force: true });
    mkdirSync(this.assemblies, { recursive: true });
    cpSync(join(this.pipelineDir(this.pipelines.get(config) ?? 'relearn'), 'cdk.out'), saved, { recursive: true });
  }

  /** `relearn local invoke --body <body> [...extra]`. */
  async invoke(body: string, extra: readonly string[] = []): Promise<{ code: number; answer: string; err: string }> {
    const cli = this.io();
    const code = await main(['local', 'invoke', '--body', body, ...extra], cli);
    return { code, answer: cli.out().trim(), err: cli.err() };
  }

  /** Any `relearn ...` command in the project folder, in process. */
  async cli(argv: readonly string[], stdin?: NodeJS.ReadableStream): Promise<{ code: number; out: string; err: string }> {
    const cli = { ...this.io(), ...(stdin ? { stdin } : {}) };
    const code = await main(argv, cli);
    return { code, out: cli.out(), err: cli.err() };
  }

  /** Starts a pipeline's local services (its S3 and SageMaker state) for a look, and stops them after. */
  async inspect<T>(fn: (look: Inspector) => Promise<T>, pipeline = 'relearn'): Promise<T> {
    const stateDir = this.pipelineDir(pipeline);
    const services = await startLocalServices({ stateDir });
    try {
      return await fn(new Inspector(services, stateDir));
    } finally {
      await services.stop();
    }
  }

  /** The endpoint config the endpoint serves now (DescribeEndpoint). */
  servingConfig(endpointName: string): Promise<string | undefined> {
    return this.inspect((look) => look.servingConfig(endpointName));
  }

  /** The model package versions of a group (ListModelPackages), oldest first. */
  modelPackages(group: string): Promise<ModelPackageSummary[]> {
    return this.inspect((look) => look.modelPackages(group));
  }
}

/** Reads the local S3 and SageMaker state through the SDK, as an operator would in the cloud. */
export class Inspector {
  constructor(
    readonly services: LocalServices,
    private readonly stateDir: string,
  ) {}

  /** The endpoint config the endpoint serves now (DescribeEndpoint). */
  async servingConfig(endpointName: string): Promise<string | undefined> {
    return (await this.services.sagemakerClient.send(new DescribeEndpointCommand({ EndpointName: endpointName }))).EndpointConfigName;
  }

  /** Every training job the local SageMaker server has seen (ListTrainingJobs), by name. */
  async trainingJobs(): Promise<string[]> {
    const res = await this.services.sagemakerClient.send(new ListTrainingJobsCommand({ MaxResults: 100 }));
    return (res.TrainingJobSummaries ?? []).map((j) => j.TrainingJobName!).sort();
  }

  /** Every training job's status (ListTrainingJobs), by name. */
  async trainingJobStatuses(): Promise<Record<string, string>> {
    const res = await this.services.sagemakerClient.send(new ListTrainingJobsCommand({ MaxResults: 100 }));
    return Object.fromEntries((res.TrainingJobSummaries ?? []).map((j) => [j.TrainingJobName!, j.TrainingJobStatus!]));
  }

  /** The model package versions of a group (ListModelPackages), oldest first. */
  async modelPackages(group: string): Promise<ModelPackageSummary[]> {
    const res = await this.services.sagemakerClient.send(
      new ListModelPackagesCommand({ ModelPackageGroupName: group, MaxResults: 100, SortBy: 'CreationTime', SortOrder: 'Ascending' }),
    );
    return res.ModelPackageSummaryList ?? [];
  }

  /** An object of the pipeline's artifacts bucket (e.g. `runs/<exec>/validation/anomalies.json`), or undefined. */
  artifact(key: string): Promise<string | undefined> {
    return this.object(artifactsBucketOf(resolvePipeline(join(this.stateDir, 'cdk.out'))), key);
  }

  /** An object of the project's local S3, or undefined when there is none. */
  async object(bucket: string, key: string): Promise<string | undefined> {
    try {
      const res = await this.services.s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await res.Body!.transformToByteArray()).toString('utf8');
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }
}

function sameAssembly(a: string, b: string): boolean {
  const key = (dir: string) => {
    const file = join(dir, 'relearn-synth.json');
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { key?: string }).key : undefined;
  };
  const ka = key(a);
  return ka !== undefined && ka === key(b);
}

/** Shifted churn rows (the generator's `shift` variant) as CSV request bodies of `per` rows (header first, the label left out). */
export async function shiftedBodies(rows: number, per: number, seed = 41): Promise<string[]> {
  const parts: string[] = [];
  for await (const c of generateChurn({ rows, seed, variant: 'shift' })) parts.push(c as string);
  const t = await openTable(Readable.from([Buffer.from(parts.join(''))]), { format: 'csv', file: 'shift.csv' });
  const keep = t.columns.map((c, i) => ({ c, i })).filter((x) => x.c !== 'churned');
  const all: Value[][] = [];
  for await (const r of t.rows) all.push(keep.map((k) => r.values[k.i]));
  const bodies: string[] = [];
  for (let i = 0; i < all.length; i += per) bodies.push(writeCsvRow(keep.map((k) => k.c)) + all.slice(i, i + per).map(writeCsvRow).join(''));
  return bodies;
}
