import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { ConfigError } from '../lambdas/shared/config';
import { Layout } from '../lambdas/shared/contracts';
import { getJsonIfExists, parseS3Uri, s3Uri } from '../lambdas/shared/s3';
import { resolvePipeline } from './asl/assembly';
import { UnresolvableError } from './asl/cfn-resolver';
import { parseCause } from './lambda-host';
import { LOCAL_REGION, LocalFaults, PROCESS_ENV, SageMakerEvent, startLocalServices } from './local-env';
import { artifactsBucketOf, DEFAULT_DATA, loadConfig, LocalRunReport, resetState, runLocal, stateDirOf } from './local-run';
import { cloudRollbackCommand, localRollbackCommand, RollbackUsageError } from './commands/rollback';
import { replaceInstanceCommand } from './commands/replace-instance';
import { RunEvent } from './runner';
import { LOCAL_S3_CREDENTIALS, startLocalS3 } from './services/s3-server';
import { findPython } from './services/sagemaker';

/**
 * The `relearn` command line. `main(argv)` returns the exit code; bin/relearn.js calls it (after making sure
 * node runs with --openssl-legacy-provider, which s3rver's paginated listings need).
 */

export const HELP = `relearn: an event-driven retraining pipeline for Amazon SageMaker (AWS CDK), runnable on one machine.

Usage:
  relearn local run [--data <file|dir>] [--config <file>] [--json] [--fresh]
                    [--fault-training <reason>] [--fault-endpoint-update <reason>] [--slow <ms>]
                    [--fault-throttle <n>]
                    [--max-wait <seconds>] [--verbose] [--no-iam]
      Synthesizes the CDK app (into .relearn/cdk.out), starts local S3 and SageMaker servers on 127.0.0.1
      (state in .relearn/s3 and .relearn/sagemaker), creates the buckets and model package group, publishes
      the training code, uploads the data to the data bucket under incoming/<timestamp>/, and runs one
      execution of the synthesized state machine to its end. Prints each state with its duration and
      retries, then the decision and its reasons, the report's path and how to call the endpoint.
      Exit code 0 when the execution succeeded (promoted or not), 1 when it failed, 2 on bad input.

      --data <file|dir>   CSV/JSONL file or folder to ingest (default: examples/churn/data/churn-clean.csv)
      --config <file>     relearn config, JSON (default: ./relearn.config.json if present, else the defaults)
      --json              print one JSON object at the end on stdout (progress goes to stderr)
      --fresh             forget earlier runs first (champion, endpoint, registry, reports); otherwise a run
                          sees the previous run's champion and endpoint. The synthesized app is kept (it is
                          rebuilt whenever the config, lib/, lambdas/ or the training code changed)
      --fault-training <reason>         the next training job fails with this FailureReason
      --fault-endpoint-update <reason>  the next endpoint create/update fails to load its model
      --slow <ms>         delay every SageMaker control-plane answer by <ms>
      --fault-throttle <n>  the next <n> SageMaker control-plane calls are throttled (ThrottlingException,
                          "Rate exceeded"); the handlers' SDK clients retry 5 attempts themselves, so
                          n >= 5 makes a stage fail with TransientError and the state machine retry it
      --max-wait <s>      Wait states longer than this wait this long locally (default 1; the cloud waits
                          the definition's full time)
      --verbose           show the Lambda handlers' INFO logs
      --no-iam            debugging only: do not enforce the synthesized IAM policies (what would be denied
                          is logged to .relearn/iam/decisions.jsonl); also RELEARN_NO_IAM=1. Enforced by default

  relearn local invoke --body '<json or csv>' [--content-type <type>] [--endpoint <name>]
      Starts the local services from .relearn/ and sends one request to the local endpoint through the
      SDK's SageMaker runtime client (InvokeEndpoint); prints the model's answer. The content type is
      application/json when the body starts with { or [, else text/csv (a header row, then rows).
      Example: relearn local invoke --body '{"company_size": 12, "plan": "pro", ...}'

  relearn local schema [--out <file>] [--execution-name <name>]
      Prints (or writes to <file>) the schema a local run validated against: the champion's, else the last
      run's (or that execution's), without its "source", as a start for a curated schema: edit it and name it
      in the config as validation.schemaFile (docs/validation.md).

  relearn local rollback [--to <execution name | model package ARN>] [--json]
      Puts the previous champion (or the named one) back on the local endpoint through the rollback state machine
      of the locally deployed app (.relearn/cdk.out): the same guarded blue/green update, wait and serving check
      as a retrain's deploy; then its champion record and its statistics and schema baselines are current again,
      the model registry and champion/history record the rollback, and it is notified. Refused (exit 1, one line)
      while an endpoint update is in flight, or when the target is not an approved, self-contained model.

  relearn local replace-instance [--endpoint <name>]
      Replaces the local endpoint's instance as SageMaker replaces an unhealthy one: the model server is killed
      and a new one starts from scratch, downloading the model again. Exit 1 (with the reason) if it cannot start.

  relearn rollback [--to <execution name | model package ARN>] [--state-machine-arn <arn>] [--config <file>]
                   [--no-wait] [--json]
      The same against the deployed stack (AWS credentials of your shell): starts <name>-rollback (found by name,
      or the pipeline stack's RollbackStateMachineArn output) and waits for its end.

  relearn local reset
      Deletes .relearn/ entirely: every run's state and the synthesized app.

  relearn --help

Environment:
  RELEARN_PYTHON      Python with scikit-learn 1.2 (default: /usr/bin/python3, then python3)
`;

export interface CliIO {
  readonly stdout: { write(s: string): unknown; isTTY?: boolean };
  readonly stderr: { write(s: string): unknown; isTTY?: boolean };
  readonly cwd: string;
}

class UsageError extends Error {}

interface Parsed {
  readonly positional: string[];
  readonly flags: Record<string, string | true>;
}

const VALUE_FLAGS = new Set(['data', 'config', 'out', 'fault-training', 'fault-endpoint-update', 'fault-throttle', 'slow', 'max-wait', 'body', 'content-type', 'endpoint', 'execution-name', 'to', 'state-machine-arn']);
const BOOLEAN_FLAGS = new Set(['json', 'fresh', 'verbose', 'help', 'no-iam', 'no-wait']);

export function parseArgs(argv: readonly string[]): Parsed {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h') {
      flags.help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq > 0 ? eq : undefined);
    if (BOOLEAN_FLAGS.has(name)) {
      flags[name] = true;
    } else if (VALUE_FLAGS.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags[name] = value;
    } else {
      throw new UsageError(`unknown option --${name} (see relearn --help)`);
    }
  }
  return { positional, flags };
}

export async function main(argv: readonly string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    io.stderr.write(`relearn: ${(err as Error).message}\n`);
    return 2;
  }
  const [group, command] = parsed.positional;
  if (parsed.flags.help || !group) {
    io.stdout.write(HELP);
    return parsed.flags.help ? 0 : 2;
  }
  try {
    if (group === 'local' && command === 'run') return await runCommand(parsed.flags, io);
    if (group === 'local' && command === 'invoke') return await invokeCommand(parsed.flags, io);
    if (group === 'local' && command === 'schema') return await schemaCommand(parsed.flags, io);
    if (group === 'local' && command === 'rollback') {
      const printer = new Printer(parsed.flags.json === true ? io.stderr : io.stdout, io.cwd);
      return await localRollbackCommand(parsed.flags, io, (e) => printer.event(e));
    }
    if (group === 'local' && command === 'replace-instance') return await replaceInstanceCommand(parsed.flags, io);
    if (group === 'rollback' && command === undefined) return await cloudRollbackCommand(parsed.flags, io);
    if (group === 'local' && command === 'reset') {
      resetState(io.cwd);
      io.stdout.write(`removed ${stateDirOf(io.cwd)}\n`);
      return 0;
    }
    io.stderr.write(`relearn: unknown command "${parsed.positional.join(' ')}" (see relearn --help)\n`);
    return 2;
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CliIO): number {
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof UnresolvableError || err instanceof PythonMissing || err instanceof RollbackUsageError) {
    io.stderr.write(`relearn: ${(err as Error).message}\n`);
    return 2;
  }
  const e = err as Error;
  if (/^(data not found|data directory is empty|config file not found)|not valid JSON/.test(e?.message ?? '')) {
    io.stderr.write(`relearn: ${e.message}\n`);
    return 2;
  }
  io.stderr.write(`relearn: ${e?.stack ?? String(err)}\n`);
  return 1;
}

class PythonMissing extends Error {}

/** A Python that imports scikit-learn (the SageMaker server's own search), or a clear PythonMissing. */
export function findPythonWithSklearn(): string {
  try {
    return findPython();
  } catch (err) {
    throw new PythonMissing((err as Error).message);
  }
}

function faultsOf(flags: Record<string, string | true>): LocalFaults | undefined {
  const faults: { failTraining?: string; failEndpointUpdate?: string; delayMs?: number; throttle?: number } = {};
  if (typeof flags['fault-training'] === 'string') faults.failTraining = flags['fault-training'];
  if (typeof flags['fault-endpoint-update'] === 'string') faults.failEndpointUpdate = flags['fault-endpoint-update'];
  if (typeof flags.slow === 'string') {
    const ms = Number(flags.slow);
    if (!Number.isFinite(ms) || ms < 0) throw new UsageError(`--slow must be a number of milliseconds >= 0, but got ${flags.slow}`);
    faults.delayMs = ms;
  }
  if (typeof flags['fault-throttle'] === 'string') {
    const n = Number(flags['fault-throttle']);
    if (!/^\d+$/.test(flags['fault-throttle'])) throw new UsageError(`--fault-throttle must be a whole number of calls >= 0, but got ${flags['fault-throttle']}`);
    faults.throttle = n;
  }
  return Object.keys(faults).length ? faults : undefined;
}

async function runCommand(flags: Record<string, string | true>, io: CliIO): Promise<number> {
  const json = flags.json === true;
  const out = json ? io.stderr : io.stdout; // with --json, stdout carries only the final object
  const data = typeof flags.data === 'string' ? resolve(io.cwd, flags.data) : DEFAULT_DATA;
  if (!existsSync(data)) throw new UsageError(`data not found: ${data}`);
  let maxWaitSeconds: number | undefined;
  if (typeof flags['max-wait'] === 'string') {
    maxWaitSeconds = Number(flags['max-wait']);
    if (!Number.isFinite(maxWaitSeconds) || maxWaitSeconds < 0) throw new UsageError(`--max-wait must be a number of seconds >= 0, but got ${flags['max-wait']}`);
  }
  // Fail fast, before anything starts: a bad config lists every bad field.
  loadConfig({ projectDir: io.cwd, ...(typeof flags.config === 'string' ? { configFile: resolve(io.cwd, flags.config) } : {}) });
  const python = findPythonWithSklearn();
  const printer = new Printer(out, io.cwd);
  out.write(`relearn local run · data ${printer.rel(data)}\n`);

  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      out.write('\ninterrupted: stopping the execution and the local services (Ctrl-C again to quit at once)\n');
      controller.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  let report: LocalRunReport;
  try {
    report = await runLocal({
      projectDir: io.cwd,
      data,
      ...(typeof flags.config === 'string' ? { configFile: resolve(io.cwd, flags.config) } : {}),
      fresh: flags.fresh === true,
      faults: faultsOf(flags),
      ...(flags['no-iam'] === true ? { enforceIam: false } : {}),
      python,
      ...(typeof flags['execution-name'] === 'string' ? { executionName: flags['execution-name'] } : {}),
      ...(maxWaitSeconds !== undefined ? { maxWaitSeconds } : {}),
      logLevel: flags.verbose ? 'INFO' : json ? 'SILENT' : 'ERROR',
      onStep: (s) => printer.step(s.name, s.ms, s.detail),
      onEvent: (e) => printer.event(e),
      onSageMakerEvent: (e) => printer.sagemaker(e),
      signal: controller.signal,
    });
  } finally {
    process.off('SIGINT', onSigint);
    printer.clearProgress();
  }
  printer.summary(report);
  if (json) io.stdout.write(JSON.stringify(jsonReport(report, printer)) + '\n');
  if (report.status === 'SUCCEEDED') return 0;
  return report.status === 'ABORTED' ? 130 : 1;
}

/** The one object `--json` prints. */
export function jsonReport(report: LocalRunReport, printer?: Printer) {
  return {
    executionName: report.executionName,
    status: report.status,
    ...(report.error ? { error: { Error: report.error.Error, Cause: parseCause(report.error.Cause).errorMessage } } : {}),
    states: report.states
      .filter((s) => s.mapIndex === undefined)
      .map((s) => ({ name: s.name, type: s.type, durationMs: Math.round(s.durationMs ?? 0), retries: s.retries, status: s.status, ...(s.error ? { error: s.error.Error } : {}) })),
    decision: report.decision ?? null,
    report: report.report ? { path: report.report.path, uri: report.report.uri } : null,
    endpointName: report.endpointName,
    champion: report.champion ?? null,
    invoke: printer?.invokeHint(report) ?? null,
    source: report.source,
    timings: {
      synthMs: Math.round(report.timings.synthMs),
      synthCached: report.timings.synthCached,
      servicesMs: Math.round(report.timings.servicesMs),
      provisionMs: Math.round(report.timings.provisionMs),
      uploadMs: Math.round(report.timings.uploadMs),
      executionMs: Math.round(report.timings.executionMs),
      ...(report.timings.trainingScriptMs !== undefined ? { trainingScriptMs: Math.round(report.timings.trainingScriptMs) } : {}),
    },
    ...(report.enforcement ? { enforcement: report.enforcement } : {}),
  };
}

const fmt = (ms: number | undefined) => (ms === undefined ? '' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

/** What the person watching sees: states as they start and end, a progress line while training runs. */
export class Printer {
  private readonly seen = new Map<string, number>();
  private progress = '';
  private lastStateName = '';
  private sampleBody?: string;

  constructor(
    private readonly out: { write(s: string): unknown; isTTY?: boolean },
    private readonly cwd: string,
  ) {}

  rel(path: string): string {
    const r = relative(this.cwd, path);
    return r && !r.startsWith('..') ? r : path;
  }

  private line(s: string): void {
    this.clearProgress();
    this.out.write(s + '\n');
  }

  clearProgress(): void {
    if (this.progress && this.out.isTTY) this.out.write('\r\x1b[K');
    this.progress = '';
  }

  private setProgress(s: string): void {
    if (!this.out.isTTY) return;
    const cols = (this.out as { columns?: number }).columns;
    const width = cols && cols > 20 ? cols - 1 : 100;
    this.progress = s.length > width ? s.slice(0, width - 1) + '…' : s;
    this.out.write('\r\x1b[K' + this.progress);
  }

  step(name: string, ms: number, detail: string): void {
    this.line(`  ${name.padEnd(10)} ${fmt(ms).padStart(8)}  ${detail.replace(this.cwd + '/', '')}`);
  }

  event(e: RunEvent): void {
    if (e.type === 'ExecutionStarted') {
      this.line(`\nexecution ${e.executionName}`);
      return;
    }
    if (e.type === 'ExecutionEnded') return;
    const v = e.visit;
    if (v.mapIndex !== undefined) {
      // Map iterations: only their failures are worth a line.
      if (e.type === 'StateFailed') this.line(`    ✗ ${v.name} [${v.mapIndex}]  ${e.error}: ${parseCause(e.cause).errorMessage}`);
      return;
    }
    const visits = this.seen.get(v.name) ?? 0;
    switch (e.type) {
      case 'StateEntered':
        this.seen.set(v.name, visits + 1);
        this.lastStateName = v.name;
        if (visits === 0) this.line(`  → ${v.name}`);
        else this.setProgress(`  … ${v.name} (visit ${visits + 1})${this.trainingNote}`);
        return;
      case 'StateExited':
        if (v.status === 'caught') return; // its failure line is printed already
        if (visits <= 1 || v.status !== 'succeeded') {
          const retries = v.retries ? `  (${v.retries} ${v.retries === 1 ? 'retry' : 'retries'})` : '';
          const mark = v.status === 'failed' ? '✗' : '✓';
          this.line(`  ${mark} ${v.name.padEnd(20)} ${fmt(v.durationMs).padStart(8)}${retries}`);
        }
        return;
      case 'StateRetried':
        this.line(`  ↻ ${v.name} retry ${e.attempt} after ${v.error?.Error ?? 'an error'}`);
        return;
      case 'StateFailed':
        if (v.type === 'Fail') return; // the outcome line says it
        this.line(`  ✗ ${v.name}  ${e.error}: ${parseCause(e.cause).errorMessage.split('\n')[0]}`);
        return;
      case 'StateCaught':
        this.line(`    caught -> ${e.next}`);
        return;
    }
  }

  private trainingNote = '';

  sagemaker(e: SageMakerEvent): void {
    if (e.kind === 'training-log' && typeof e.line === 'string' && e.line.trim()) {
      this.trainingNote = ` · training: ${e.line.trim()}`;
      this.setProgress(`  … ${this.lastStateName}${this.trainingNote}`);
    } else if (e.kind === 'training-metric') {
      const text = `    metric ${String(e.name)} = ${String(e.value)}`;
      if (this.out.isTTY) this.trainingNote = ` · ${String(e.name)}=${String(e.value)}`;
      else this.line(text);
    } else if (e.kind === 'training-status' && e.failureReason) {
      this.line(`    training job ${String(e.job)} ${String(e.status)}: ${String(e.failureReason)}`);
    } else if (e.kind === 'notification') {
      this.line(`    notified (SNS): ${String(e.subject ?? String(e.message).split('\n')[0])}`);
    } else if (e.kind === 'endpoint-status' && e.failureReason) {
      this.line(`    endpoint ${String(e.endpoint)} ${String(e.status)}: ${String(e.failureReason)}`);
    }
  }

  /** The one-line command that calls the endpoint, with a row of the run's own data as the example. */
  invokeHint(report: LocalRunReport): string {
    this.sampleBody ??= sampleRow(report);
    return `npx relearn local invoke --body '${(this.sampleBody ?? '{}').replace(/'/g, `'\\''`)}'`;
  }

  summary(report: LocalRunReport): void {
    this.clearProgress();
    const lines: string[] = [''];
    const folded = [...this.seen.entries()].filter(([, n]) => n > 1);
    if (folded.length) lines.push(`  (polled: ${folded.map(([n, c]) => `${n} ×${c}`).join(', ')})`);
    if (report.status === 'SUCCEEDED') {
      const promoted = report.decision?.promoted;
      lines.push(`Outcome: SUCCEEDED — ${promoted ? `promoted and serving on ${report.endpointName}` : 'not promoted (the serving model is unchanged)'}`);
    } else {
      const failedAt = report.states.find((s) => s.error && s.mapIndex === undefined && s.type !== 'Fail');
      const cause = report.error ? parseCause(report.error.Cause).errorMessage : '';
      lines.push(`Outcome: ${report.status}${failedAt ? ` at ${failedAt.name}` : ''}${report.error ? ` — ${report.error.Error}: ${cause}` : ''}`);
    }
    if (report.decision) {
      lines.push(`Decision: ${report.decision.deploy ? 'deploy' : 'do not deploy'}`);
      for (const r of report.decision.reasons) lines.push(`  - ${r}`);
    }
    if (report.report) lines.push(`Report: ${report.report.path}`);
    if (report.champion) {
      lines.push(`Endpoint: ${report.endpointName} (serving the model of ${report.champion.executionName})`);
      lines.push(`  ${this.invokeHint(report)}`);
    } else {
      lines.push(`Endpoint: ${report.endpointName} (nothing deployed yet)`);
    }
    const t = report.timings;
    lines.push(
      `Timings: synth ${fmt(t.synthMs)}${t.synthCached ? ' (reused)' : ''} · services ${fmt(t.servicesMs)} · execution ${fmt(t.executionMs)}` +
        (t.trainingScriptMs !== undefined ? ` (training script ${fmt(t.trainingScriptMs)})` : ''),
    );
    this.out.write(lines.join('\n') + '\n');
  }
}

/** First data row of the uploaded file, minus the label column, as a JSON object: an invoke example. */
function sampleRow(report: LocalRunReport): string | undefined {
  const file = report.dataFiles[0];
  if (!file || !existsSync(file) || /\.gz$/.test(file)) return undefined;
  const text = readFileSync(file, 'utf8').slice(0, 64 * 1024);
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  if (lines.length < 2) return undefined;
  if (lines[0].trim().startsWith('{')) {
    const row = JSON.parse(lines[0]) as Record<string, unknown>;
    delete row[report.labelColumn];
    return JSON.stringify(row);
  }
  const header = splitCsv(lines[0]);
  const values = splitCsv(lines[1]);
  const row: Record<string, unknown> = {};
  header.forEach((h, i) => {
    if (h === report.labelColumn) return;
    const v = values[i] ?? '';
    row[h] = v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  });
  return JSON.stringify(row);
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

async function invokeCommand(flags: Record<string, string | true>, io: CliIO): Promise<number> {
  const body = flags.body;
  if (typeof body !== 'string' || !body.trim()) throw new UsageError(`--body is required: a JSON object/array or CSV rows with a header row`);
  const contentType = typeof flags['content-type'] === 'string' ? flags['content-type'] : /^\s*[[{]/.test(body) ? 'application/json' : 'text/csv';
  const stateDir = stateDirOf(io.cwd);
  if (!existsSync(stateDir)) throw new UsageError(`no local state in ${stateDir}: run "relearn local run" first`);
  let endpointName = typeof flags.endpoint === 'string' ? flags.endpoint : undefined;
  if (!endpointName) {
    const lastRun = resolve(stateDir, 'last-run.json');
    if (existsSync(lastRun)) endpointName = (JSON.parse(readFileSync(lastRun, 'utf8')) as { endpointName?: string }).endpointName;
  }
  if (!endpointName) throw new UsageError('no endpoint known: run "relearn local run" first, or pass --endpoint <name>');
  const python = findPythonWithSklearn();
  const services = await startLocalServices({ stateDir, python });
  const client = new SageMakerRuntimeClient({ endpoint: services.sagemaker.endpoint, region: LOCAL_REGION, credentials: LOCAL_S3_CREDENTIALS });
  try {
    const answer = await invokeWhenReady(client, endpointName, body, contentType);
    io.stdout.write(answer.endsWith('\n') ? answer : answer + '\n');
    return 0;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    io.stderr.write(`relearn: InvokeEndpoint ${endpointName} failed: ${e.name}: ${e.message}\n`);
    return 1;
  } finally {
    client.destroy();
    await services.stop();
  }
}

/**
 * `relearn local schema`: the champion's schema (champion/current.json's schemaUri), else the schema of the last
 * run (or of --execution-name), read from the project's local S3 through the SDK. `source` is left out: a file
 * named by validation.schemaFile is read as curated.
 */
async function schemaCommand(flags: Record<string, string | true>, io: CliIO): Promise<number> {
  const stateDir = stateDirOf(io.cwd);
  const outdir = join(stateDir, 'cdk.out');
  if (!existsSync(join(outdir, 'manifest.json'))) throw new UsageError(`no local state in ${stateDir}: run "relearn local run" first`);
  const bucket = artifactsBucketOf(resolvePipeline(outdir));
  let execution = typeof flags['execution-name'] === 'string' ? flags['execution-name'] : undefined;
  Object.assign(process.env, PROCESS_ENV);
  const s3 = await startLocalS3({ directory: join(stateDir, 's3') });
  try {
    let uri: string | undefined;
    let what: string;
    const champion = execution ? undefined : await getJsonIfExists<{ executionName: string; schemaUri: string }>(s3.client, bucket, Layout.champion);
    if (champion) {
      uri = champion.schemaUri;
      what = `the champion's schema (${champion.executionName})`;
    } else {
      const lastRun = join(stateDir, 'last-run.json');
      execution ??= existsSync(lastRun) ? (JSON.parse(readFileSync(lastRun, 'utf8')) as { executionName?: string }).executionName : undefined;
      if (!execution) throw new UsageError('no champion and no run known: run "relearn local run" first, or pass --execution-name <name>');
      uri = s3Uri(bucket, `${Layout.validation(execution)}schema.json`);
      what = `the schema of ${execution}`;
    }
    const { bucket: b, key } = parseS3Uri(uri);
    const schema = await getJsonIfExists<Record<string, unknown>>(s3.client, b, key);
    if (!schema) throw new UsageError(`${uri} does not exist: did ${execution ?? 'that run'} reach ValidateData?`);
    const { source: _source, ...curated } = schema;
    const text = JSON.stringify(curated, null, 2) + '\n';
    if (typeof flags.out === 'string') {
      const file = resolve(io.cwd, flags.out);
      writeFileSync(file, text);
      io.stdout.write(
        `wrote ${file}: ${what}, from ${uri}\n` +
          `edit it and name it in the config, relative to the config file's folder: { "validation": { "schemaFile": "${basename(file)}" } }\n`,
      );
    } else {
      io.stdout.write(text);
      io.stderr.write(`${what}, from ${uri}\n`);
    }
    return 0;
  } finally {
    await s3.stop();
  }
}

/** InvokeEndpoint, waiting (up to 60 s) while a restarted endpoint is still loading its model. */
async function invokeWhenReady(client: SageMakerRuntimeClient, endpointName: string, body: string, contentType: string): Promise<string> {
  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      const res = await client.send(new InvokeEndpointCommand({ EndpointName: endpointName, Body: Buffer.from(body, 'utf8'), ContentType: contentType }));
      return Buffer.from(res.Body ?? new Uint8Array()).toString('utf8');
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      const loading = /not (yet )?(ready|in ?service)|Creating|Updating|loading/i.test(e.message) || e.$metadata?.httpStatusCode === 503;
      if (!loading || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
