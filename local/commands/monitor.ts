import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { MonitorReport } from '../../lambdas/monitor/compare';
import { MonitorLayout, MonitorResult } from '../../lambdas/monitor/core';
import { MONITORING_METRICS } from '../../lambdas/monitor/metrics';
import { parseWindow, WindowError } from '../../lambdas/monitor/window';
import { MONITORING_PURPOSE } from '../../lib/constructs/monitoring';
import { ResolvedPipeline, resolvePipeline } from '../asl/assembly';
import { UnresolvableError } from '../asl/cfn-resolver';
import { writeFileAtomic } from '../atomic';
import { parseCause } from '../lambda-host';
import { functionCredentials, provision, SageMakerEvent, startLocalServices } from '../local-env';
import { artifactsBucketOf } from '../local-run';
import { acquireLock } from '../lock';
import { Printer } from '../printer';
import { pipelineForCommand } from '../project';
import { defaultExecutionName, ExecutionStatus, runLocalExecution } from '../runner';
import { LambdaHost } from '../lambda-host';
import { LocalTrigger, pipelineRunner, resolveTrigger, TriggerResources } from '../trigger-runtime';
import { CliIO, Command, configFileOf, findPythonWithSklearn, Flags, UsageError } from './common';

/**
 * `relearn local monitor [--window ...]`: one execution of the synthesized monitoring state machine on the local
 * services (the same ASL and handlers as in the cloud), against what the local endpoint captured. Prints each state,
 * the verdict and its findings, the drift alarm's state, the notification it sent and where the report is.
 */

export interface LocalMonitorOptions {
  /** The project folder whose `.relearn/pipelines/<name>/` holds the deployed assembly and the local services' state. */
  readonly projectDir: string;
  /** `--window`: a duration ending now (`6h`), or `<start>/<end>`. @default - monitoring.windowMinutes before now */
  readonly window?: string;
  /** The pipeline's config file. @default - the project's, as every local command finds it */
  readonly configFile?: string;
  readonly python?: string;
  readonly executionName?: string;
  /** Lambda log level (Powertools). @default 'ERROR' */
  readonly logLevel?: string;
  readonly onEvent?: Parameters<typeof runLocalExecution>[0]['onEvent'];
  readonly onSageMakerEvent?: (e: SageMakerEvent) => void;
}

export interface LocalMonitorReport {
  readonly executionName: string;
  readonly status: ExecutionStatus;
  readonly error?: { Error: string; Cause: string };
  readonly result?: MonitorResult;
  readonly report?: MonitorReport;
  /** report.html copied out of the local S3 into .relearn/pipelines/<name>/reports/monitoring/<window>/. */
  readonly reportPath?: string;
  /** The drift alarm after the run (the local CloudWatch's DescribeAlarms). */
  readonly alarm?: { name: string; state: string; reason: string };
  /** What was published on the topic during the run (the monitor's message, alarm state changes). */
  readonly notifications: { subject?: string; message: string }[];
  /**
   * Retrain on drift: whether the monitor asked the trigger for a retrain, and the runs the trigger then started (at
   * most one: nothing when nothing new has landed since the last run), each run to its end, as `relearn local run` does.
   */
  readonly retrain: { readonly requested: boolean; readonly started: readonly MonitorRetrainRun[] };
}

/** A retraining execution the trigger started on the monitor's drift verdict. */
export interface MonitorRetrainRun {
  readonly executionName: string;
  /** The execution input's `trigger` (`{"reason": "drift", "because": "..."}`). */
  readonly trigger?: { readonly reason: string; readonly because: string };
  /** The objects of its run manifest (the data landed under incoming/ since the last run). */
  readonly manifest?: string;
  status: ExecutionStatus | 'RUNNING';
  error?: { readonly Error: string; readonly Cause?: string };
}

/**
 * Runs the monitoring state machine once, locally: the one of the app the pipeline's last `relearn local run` deployed
 * (`.relearn/pipelines/<name>/cdk.out`), as the cloud's schedule runs the deployed stack's monitor, not the code at
 * hand; a monitoring config change takes effect with the next run, as with a `cdk deploy`. It holds the pipeline's
 * lock: it writes the pipeline's S3 state, metrics and alarm states, and starts its endpoint's server.
 */
export async function monitorLocal(opts: LocalMonitorOptions): Promise<LocalMonitorReport> {
  const { stateDir, name } = pipelineForCommand(opts.projectDir, opts.configFile);
  const outdir = join(stateDir, 'cdk.out');
  if (!existsSync(join(outdir, 'manifest.json')) || !existsSync(join(stateDir, 'sagemaker'))) {
    throw new UsageError(`no local deployment of pipeline "${name}" in ${stateDir}: run "relearn local run" first (it deploys the endpoint whose traffic is monitored)`);
  }
  if (opts.window) {
    try {
      parseWindow(opts.window);
    } catch (err) {
      if (err instanceof WindowError) throw new UsageError(err.message);
      throw err;
    }
  }
  const pipeline = resolvePipeline(outdir);
  let monitor: ResolvedPipeline;
  try {
    monitor = resolvePipeline(outdir, { purpose: MONITORING_PURPOSE });
  } catch (err) {
    if (!(err instanceof UnresolvableError)) throw err;
    throw new UsageError(`the app that pipeline "${name}" last deployed locally has no monitoring state machine (it predates it): run "relearn local run" again first`);
  }
  const lock = acquireLock(stateDir, name, 'relearn local monitor');
  const notifications: LocalMonitorReport['notifications'] = [];
  const services = await startLocalServices({
    stateDir,
    ...(opts.python ? { python: opts.python } : {}),
    onSageMakerEvent: (e) => {
      if (e.kind === 'notification') notifications.push({ ...(e.subject ? { subject: e.subject } : {}), message: e.message });
      opts.onSageMakerEvent?.(e);
    },
  }).catch((err) => {
    lock.release();
    throw err;
  });
  try {
    // What `cdk deploy` would have created (buckets, the alarms): idempotent, as the run that deployed it did this too.
    await provision(pipeline, services.s3.client, services.sagemakerClient, services.cloudwatchClient);
    const executionName = opts.executionName ?? defaultExecutionName().replace(/^local-/, 'monitor-');
    // One host for the monitor, the trigger and a retrain it starts (one process environment, as `relearn local watch`).
    // Each function runs as its own role (local mode enforces the template's IAM, as for a run).
    const host = new LambdaHost({ env: { ...services.env, POWERTOOLS_LOG_LEVEL: opts.logLevel ?? 'ERROR' }, credentialsFor: functionCredentials(services) });
    const retrain = new LocalRetrain(resolveTriggerOf(outdir), pipeline, services, host, lock);
    let result: Awaited<ReturnType<typeof runLocalExecution>>;
    try {
      result = await runLocalExecution({
        pipeline: monitor,
        input: { ...(opts.window ? { window: opts.window } : {}), reason: 'relearn local monitor' },
        executionName,
        host,
        maxWaitSeconds: 1,
        ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      });
      // A drift verdict went to the trigger queue: the trigger decides (the same core as in the cloud), and the run it
      // starts, if any, runs here to its end (local mode has no process that outlives the command).
      await retrain.settle();
    } finally {
      await retrain.stop();
      host.restoreEnv();
    }
    const output = result.output as { result?: MonitorResult } | undefined;
    const bucket = artifactsBucketOf(monitor);
    const read = async (key: string): Promise<string | undefined> => {
      try {
        const res = await services.s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(await res.Body!.transformToByteArray()).toString('utf8');
      } catch (err) {
        if ((err as Error).name === 'NoSuchKey') return undefined;
        throw err;
      }
    };
    let report: MonitorReport | undefined;
    let reportPath: string | undefined;
    if (output?.result) {
      const json = await read(MonitorLayout.report(output.result.windowId));
      report = json ? (JSON.parse(json) as MonitorReport) : undefined;
      const html = await read(MonitorLayout.html(output.result.windowId));
      if (html) {
        reportPath = join(stateDir, 'reports', 'monitoring', output.result.windowId, 'report.html');
        mkdirSync(dirname(reportPath), { recursive: true });
        writeFileAtomic(reportPath, html);
      }
    }
    const driftAlarm = pipeline.alarms.find((a) => a.properties.MetricName === MONITORING_METRICS.driftDetected);
    let alarm: LocalMonitorReport['alarm'];
    if (driftAlarm) {
      const res = await services.cloudwatchClient.send(new DescribeAlarmsCommand({ AlarmNames: [driftAlarm.name] }));
      const a = res.MetricAlarms?.[0];
      if (a) alarm = { name: driftAlarm.name, state: a.StateValue ?? 'INSUFFICIENT_DATA', reason: a.StateReason ?? '' };
    }
    await services.sagemaker.flushCaptures();
    return {
      executionName,
      status: result.status,
      ...(result.error ? { error: { Error: result.error.Error, Cause: parseCause(result.error.Cause).errorMessage } } : {}),
      ...(output?.result ? { result: output.result } : {}),
      ...(report ? { report } : {}),
      ...(reportPath ? { reportPath } : {}),
      ...(alarm ? { alarm } : {}),
      notifications,
      retrain: { requested: output?.result?.retrainRequested === true, started: retrain.runs },
    };
  } finally {
    await services.stop();
    lock.release();
  }
}

/** The trigger of the deployed app, or undefined when it predates the trigger (its monitor cannot ask for a retrain). */
function resolveTriggerOf(outdir: string): TriggerResources | undefined {
  try {
    return resolveTrigger(outdir);
  } catch (err) {
    if (err instanceof UnresolvableError) return undefined;
    throw err;
  }
}

/**
 * The trigger path of the deployed app (local/trigger-runtime.ts: its queue, event source mapping and bundled trigger
 * function, the local Step Functions running the pipeline's state machine) for the time of one monitor: what
 * CompareWithBaseline sends to the trigger queue on drift is handled by the same single-flight core as in the cloud.
 */
class LocalRetrain {
  readonly runs: MonitorRetrainRun[] = [];
  private readonly trigger?: LocalTrigger;

  constructor(resources: TriggerResources | undefined, pipeline: ResolvedPipeline, private readonly services: Awaited<ReturnType<typeof startLocalServices>>, host: LambdaHost, lock: ReturnType<typeof acquireLock>) {
    if (!resources) return;
    const runner = pipelineRunner(pipeline, { host, maxWaitSeconds: 1 });
    const sfn = services.stepFunctions.sfn;
    sfn.register(resources.stateMachineArn, async (run) => {
      const input = run.input as { trigger?: MonitorRetrainRun['trigger']; source?: { manifest?: string } } | undefined;
      const record: MonitorRetrainRun = {
        executionName: run.executionName,
        ...(input?.trigger ? { trigger: input.trigger } : {}),
        ...(input?.source?.manifest ? { manifest: input.source.manifest } : {}),
        status: 'RUNNING',
      };
      this.runs.push(record);
      lock.setExecution(run.executionName);
      const outcome = await runner(run);
      record.status = outcome.status;
      if (outcome.error) record.error = { Error: outcome.error.Error, Cause: parseCause(outcome.error.Cause).errorMessage };
      return outcome;
    });
    this.trigger = new LocalTrigger({ resources, sqs: services.sqs.sqs, sfn, host });
    this.trigger.start();
  }

  /** Waits until the trigger has handled what the monitor sent, the run it started has ended, and the trigger saw it end. */
  async settle(): Promise<void> {
    if (!this.trigger) return;
    await this.queueHandled(this.trigger);
    await this.services.stepFunctions.sfn.drain();
    // The run's end goes through the rule and the queue too: the trigger records it (its state says nothing in flight).
    await this.queueHandled(this.trigger);
  }

  /**
   * Nothing visible or received-but-unhandled in the trigger queue (a delayed wake-up is left for later). The mapping's
   * own idle() alone is not enough: during its batching window it holds received messages without a batch in flight.
   */
  private async queueHandled(trigger: LocalTrigger): Promise<void> {
    for (;;) {
      await trigger.mapping.idle();
      const s = this.services.sqs.sqs.stats(trigger.queueName);
      if (s.visible === 0 && s.inFlight === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    await this.trigger?.stop();
  }
}

const VERDICT: Record<string, string> = {
  ok: 'OK: no drift',
  issues: 'FINDINGS',
  drift: 'DRIFT',
  insufficient_data: 'TOO FEW RECORDS',
  no_baseline: 'NO CHAMPION',
};

async function run(flags: Flags, io: CliIO): Promise<number> {
  const json = flags.json === true;
  const out = json ? io.stderr : io.stdout;
  const window = typeof flags.window === 'string' ? flags.window : undefined;
  const configFile = configFileOf(flags, io);
  const python = findPythonWithSklearn();
  const printer = new Printer(out, io.cwd);
  out.write(`relearn local monitor · window ${window ?? 'the last monitoring.windowMinutes'}\n`);
  const r = await monitorLocal({
    projectDir: io.cwd,
    ...(window ? { window } : {}),
    ...(configFile ? { configFile } : {}),
    python,
    logLevel: flags.verbose ? 'INFO' : json ? 'SILENT' : 'ERROR',
    onEvent: (e) => printer.event(e),
  });
  printer.clearProgress();
  const lines: string[] = [''];
  if (r.status !== 'SUCCEEDED') {
    lines.push(`Outcome: ${r.status}${r.error ? ` — ${r.error.Error}: ${r.error.Cause}` : ''}`);
  } else if (r.result) {
    lines.push(`Verdict: ${VERDICT[r.result.verdict] ?? r.result.verdict} — ${r.result.summary}`);
    for (const f of r.report?.findings ?? []) lines.push(`  - ${f}`);
  }
  if (r.alarm) lines.push(`Alarm: ${r.alarm.name} is ${r.alarm.state}${r.alarm.reason ? ` (${r.alarm.reason})` : ''}`);
  for (const n of r.notifications) {
    lines.push(`Notified (SNS): ${n.subject ?? ''}`);
    if (!n.message.startsWith('{')) lines.push(...n.message.split('\n').map((l) => `  ${l}`));
  }
  if (r.reportPath) lines.push(`Report: ${printer.rel(r.reportPath)}`);
  for (const run of r.retrain.started) {
    lines.push(`Retrain: the trigger started ${run.executionName} (${run.trigger?.reason ?? 'no reason given'}): ${run.status}${run.error ? ` — ${run.error.Error}: ${run.error.Cause ?? ''}` : ''}`);
  }
  if (r.retrain.requested && r.retrain.started.length === 0) {
    lines.push('Retrain: asked the trigger; it started nothing (nothing has landed under incoming/ since the last run, or a run is in flight)');
  }
  out.write(lines.join('\n') + '\n');
  if (json) {
    io.stdout.write(
      JSON.stringify({
        executionName: r.executionName,
        status: r.status,
        ...(r.error ? { error: r.error } : {}),
        verdict: r.result?.verdict ?? null,
        summary: r.result?.summary ?? null,
        window: r.report?.window ?? null,
        findings: r.report?.findings ?? [],
        driftedFeatures: r.report?.driftedFeatures ?? [],
        missingFeatures: r.report?.missingFeatures ?? [],
        newFeatures: r.report?.newFeatures ?? [],
        predictionsDrifted: r.report?.predictions.drifted ?? null,
        counts: r.report?.counts ?? null,
        report: r.result ? { path: r.reportPath ?? null, uri: r.result.htmlUri, json: r.result.reportUri } : null,
        alarm: r.alarm ?? null,
        notifications: r.notifications,
        retrain: r.retrain,
      }) + '\n',
    );
  }
  return r.status === 'SUCCEEDED' ? 0 : 1;
}

export const monitorCommand: Command = {
  valueFlags: ['window', 'config'],
  booleanFlags: ['json', 'verbose'],
  run,
};
