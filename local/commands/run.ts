import { resolve } from 'node:path';
import { parseCause } from '../lambda-host';
import { LocalFaults } from '../local-env';
import { appChoiceOf } from '../app-run';
import { Interrupted, LocalRunReport, prepareData, prepareRun, runLocal } from '../local-run';
import { Printer } from '../printer';
import { CliIO, Command, findPythonWithSklearn, Flags, UsageError } from './common';

/** `relearn local run`: one execution of the synthesized pipeline on local services (docs/local-mode.md). */

function faultsOf(flags: Flags): LocalFaults | undefined {
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

async function run(flags: Flags, io: CliIO): Promise<number> {
  const json = flags.json === true;
  const out = json ? io.stderr : io.stdout; // with --json, stdout carries only the final object
  // Signals first: a Ctrl-C (or SIGTERM) from here on stops the run cleanly (exit 130), whatever it is doing.
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      out.write(`\ninterrupted (${signal}): stopping the run; the pipeline is left as it was before it, or as a cleanly failed run (Ctrl-C again to quit at once)\n`);
      controller.abort();
    } else {
      out.write('\ninterrupted again: quitting at once\n');
      process.exit(130);
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    return await runWithSignals(flags, io, json, out, controller.signal);
  } catch (err) {
    // An error a signal caused (a synth whose esbuild got the terminal's SIGINT) is an interrupt, not a failure:
    // the signal's handler runs once the event loop turns.
    await new Promise((r) => setImmediate(r));
    if (controller.signal.aborted || err instanceof Interrupted) {
      const message = err instanceof Interrupted ? err.message : `interrupted: ${(err as Error).message.split('\n')[0]}`;
      out.write(`relearn: ${message}\n`);
      if (json) io.stdout.write(JSON.stringify({ executionName: null, status: 'ABORTED', error: { Error: 'Interrupted', Cause: message } }) + '\n');
      return 130;
    }
    throw err;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}

async function runWithSignals(flags: Flags, io: CliIO, json: boolean, out: CliIO['stdout'], signal: AbortSignal): Promise<number> {
  let maxWaitSeconds: number | undefined;
  if (typeof flags['max-wait'] === 'string') {
    maxWaitSeconds = Number(flags['max-wait']);
    if (!Number.isFinite(maxWaitSeconds) || maxWaitSeconds < 0) throw new UsageError(`--max-wait must be a number of seconds >= 0, but got ${flags['max-wait']}`);
  }
  const faults = faultsOf(flags);
  // relearn's own app from a config, or a CDK app of yours (--app, --pipeline, or a folder with a cdk.json).
  const app = appChoiceOf({ ...str(flags, 'app'), ...str(flags, 'pipeline'), ...str(flags, 'config') }, io.cwd);
  const where = {
    projectDir: io.cwd,
    ...(typeof flags.data === 'string' ? { data: resolve(io.cwd, flags.data) } : {}),
    ...(typeof flags.config === 'string' ? { configFile: resolve(io.cwd, flags.config) } : {}),
    ...(app ? { app } : {}),
  };
  // Fail fast, before anything starts: a bad config (every bad field), a path in it or --data that is not there.
  const prepared = app ? prepareData(where) : prepareRun(where);
  const python = findPythonWithSklearn();
  const printer = new Printer(out, io.cwd);
  const what = 'pipeline' in prepared ? `pipeline ${prepared.pipeline.name}` : `CDK app ${app?.command ?? 'of cdk.json'}${app?.pipeline ? `, pipeline ${app.pipeline}` : ''}`;
  out.write(`relearn local run · ${what} · data ${printer.rel(prepared.data)}\n`);
  let report: LocalRunReport;
  try {
    report = await runLocal({
      ...where,
      fresh: flags.fresh === true,
      faults,
      ...(flags['no-iam'] === true ? { enforceIam: false } : {}),
      python,
      ...(typeof flags['execution-name'] === 'string' ? { executionName: flags['execution-name'] } : {}),
      ...(maxWaitSeconds !== undefined ? { maxWaitSeconds } : {}),
      logLevel: flags.verbose ? 'INFO' : json ? 'SILENT' : 'ERROR',
      onStep: (s) => printer.step(s.name, s.ms, s.detail),
      onEvent: (e) => printer.event(e),
      onSageMakerEvent: (e) => printer.sagemaker(e),
      onUploadProgress: (p) => printer.uploadProgress(p),
      // The app's own output (its warnings, a failed synth's story) only with --verbose: its error line is in ours.
      ...(flags.verbose ? { onAppOutput: (chunk: string) => out.write(chunk) } : {}),
      signal,
    });
  } finally {
    printer.clearProgress();
  }
  printer.summary(report);
  if (json) io.stdout.write(JSON.stringify(jsonReport(report, printer)) + '\n');
  if (report.status === 'SUCCEEDED') return 0;
  return report.status === 'ABORTED' ? 130 : 1;
}

/** `{ [name]: value }` when the flag has a value. */
function str(flags: Flags, name: string): Record<string, string> {
  return typeof flags[name] === 'string' ? { [name]: flags[name] as string } : {};
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
    pipeline: report.pipeline.name,
    // a pipeline of a user's CDK app: its construct path and the app's command
    ...(report.pipeline.app ? { app: report.pipeline.app } : {}),
    ...(report.interrupted ? { interrupted: report.interrupted } : {}),
    source: report.source,
    timings: {
      synthMs: Math.round(report.timings.synthMs),
      synthCached: report.timings.synthCached,
      ...(report.timings.reusedBundles ? { reusedBundles: report.timings.reusedBundles } : {}),
      servicesMs: Math.round(report.timings.servicesMs),
      provisionMs: Math.round(report.timings.provisionMs),
      uploadMs: Math.round(report.timings.uploadMs),
      executionMs: Math.round(report.timings.executionMs),
      ...(report.timings.trainingScriptMs !== undefined ? { trainingScriptMs: Math.round(report.timings.trainingScriptMs) } : {}),
    },
    ...(report.enforcement ? { enforcement: report.enforcement } : {}),
  };
}


export const runCommand: Command = {
  valueFlags: ['data', 'config', 'app', 'pipeline', 'fault-training', 'fault-endpoint-update', 'fault-throttle', 'slow', 'max-wait', 'execution-name'],
  booleanFlags: ['json', 'fresh', 'verbose', 'no-iam'],
  run,
};
