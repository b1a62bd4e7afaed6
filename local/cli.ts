import { ConfigError } from '../lambdas/shared/config';
import { ConfigFileError } from '../lib/config-file';
import { AppSynthError } from './app-synth';
import { UnresolvableError } from './asl/cfn-resolver';
import { CliIO, Command, Flags, PythonMissing, UsageError } from './commands/common';
import { invokeCommand } from './commands/invoke';
import { monitorCommand } from './commands/monitor';
import { replaceInstanceCommand } from './commands/replace-instance';
import { resetCommand } from './commands/reset';
import { localRollbackCommand, rollbackCommand } from './commands/rollback';
import { runCommand } from './commands/run';
import { schemaCommand } from './commands/schema';
import { startCommand } from './commands/start';
import { statusCommand } from './commands/status';
import { watchCommand } from './commands/watch';
import { DataPathError } from './local-env';
import { PipelineBusy } from './lock';
import { TargetNotFound } from './target';
import { UnknownPipeline } from './project';

export type { CliIO } from './commands/common';
export { findPythonWithSklearn } from './commands/common';
export { jsonReport } from './commands/run';
export { Printer } from './printer';

/**
 * The `relearn` command line. `main(argv)` returns the exit code; bin/relearn.js calls it (after making sure
 * node runs with --openssl-legacy-provider, which s3rver's paginated listings need).
 *
 * Each command lives in its own module under local/commands/ (Contract B, docs/architecture.md); this file
 * only holds the usage text, the dispatch table and the mapping of errors to exit codes.
 */

export const HELP = `relearn: an event-driven retraining pipeline for Amazon SageMaker (AWS CDK), runnable on one machine.

Usage:
  relearn local run [--data <file|dir>] [--config <file> | [--app <command>] [--pipeline <id>]] [--json] [--fresh]
                    [--fault-training <reason>] [--fault-endpoint-update <reason>] [--slow <ms>]
                    [--fault-throttle <n>]
                    [--max-wait <seconds>] [--verbose] [--no-iam]
      Synthesizes the CDK app, starts local S3 and SageMaker servers on 127.0.0.1, creates the buckets and model
      package group, publishes the training code, uploads the data to the data bucket under incoming/<timestamp>/,
      and runs one execution of the synthesized state machine to its end. Prints each state with its duration and
      retries, then the decision and its reasons, the report's path and how to call the endpoint.
      Each pipeline (the config's "name") keeps its own state in .relearn/pipelines/<name>/ of the folder you run
      in; one run at a time per pipeline (a second one is refused, naming the running execution).
      Exit code 0 when the execution succeeded (promoted or not), 1 when it failed, 2 on bad input (usage,
      config, a path, data, a busy pipeline), 130 when interrupted (Ctrl-C or SIGTERM: the run stops and the
      pipeline is left as it was before it, or as a cleanly failed run; Ctrl-C again quits at once).

      --data <file|dir>   CSV/JSONL file or folder to ingest (default: examples/churn/data/churn-clean.csv)
      --config <file>     relearn config, JSON (default: ./relearn.config.json if present, else the defaults);
                          relative paths in it are relative to the config file's folder
      --app <command>     run a RetrainingPipeline of your own CDK app instead: the command that runs the app
                          (as in cdk.json's "app"); it is synthesized as \`cdk synth\` would. Without --app, a
                          folder with a cdk.json and no relearn.config.json is such an app (its "app" is run)
      --pipeline <id>     which RetrainingPipeline of the app: its construct id, path or config name (needed
                          when the app has more than one)
      --json              print one JSON object at the end on stdout (progress goes to stderr)
      --fresh             forget this pipeline's earlier runs first (champion, endpoint, registry, reports);
                          otherwise a run sees the previous run's champion and endpoint. The synthesized app
                          is kept (it is rebuilt whenever the config, lib/, lambdas/ or the training code changed)
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
                          is logged to the pipeline's iam/decisions.jsonl); also RELEARN_NO_IAM=1. Enforced by default

  relearn local invoke (--body '<json or csv>' | --body - | --body-file <path>) [--content-type <type>]
                       [--endpoint <name>] [--config <file> | --pipeline <name>]
      Starts the pipeline's local services and sends one request to its local endpoint through the SDK's
      SageMaker runtime client (InvokeEndpoint); prints the model's answer. --body - reads the body from
      standard input, --body-file from a file (its bytes as they are). The content type is application/json
      when the body starts with { or [ (or the file ends in .json), else text/csv (a header row, then rows).
      Like SageMaker, the endpoint refuses a body over 6 MB (HTTP 413).
      Example: relearn local invoke --body '{"company_size": 12, "plan": "pro", ...}'

  relearn local schema [--out <file>] [--execution-name <name>] [--config <file> | --pipeline <name>]
      Prints (or writes to <file>) the schema a local run validated against: the champion's, else the last
      run's (or that execution's), without its "source", as a start for a curated schema: edit it and name it
      in the config as validation.schemaFile (docs/validation.md).

  relearn local monitor [--window <duration | start/end>] [--config <file>] [--json] [--verbose]
      Runs the monitoring state machine of the pipeline's locally deployed app (.relearn/pipelines/<name>/cdk.out,
      from its last run) once on its local services: reads what the local endpoint captured
      (data capture, monitoring.capture) in the window, compares it with the champion's baselines (its
      training statistics and schema, its validation predictions), writes monitoring/<window>/report.json
      and report.html, puts the drift metrics and publishes the verdict in words. Prints the verdict, the
      findings, the drift alarm's state, the notification and the report's path. With
      monitoring.retrainOnDrift, a drift verdict goes to the trigger (the deployed app's queue and trigger
      function, run here): what landed under incoming/ since the last run starts one retrain, run to its end
      and printed; nothing landed, nothing starts. Exit code 0 when the
      monitor ran (whatever its verdict and the retrain's outcome), 1 when it failed, 2 on bad input (docs/monitoring.md).

      --window <w>        a duration ending now (90m, 6h, 7d) or <start>/<end> in ISO 8601
                          (2026-11-29T09:00Z/2026-11-29T12:00Z); default: the last monitoring.windowMinutes

  relearn local reset [--config <file> | --pipeline <name>] [--all]
      Deletes the pipeline's local state (every run's state and its synthesized app); --all deletes .relearn/
      entirely (every pipeline).

  relearn local watch [--dir <folder>] [--config <file>] [--json] [--max-wait <seconds>] [--verbose] [--no-iam]
      Watches the local landing zone (default: ./landing) and starts runs as the deployed trigger would: each file
      dropped there (once its size holds still) is uploaded to the data bucket under incoming/<its path>, and its
      object-created event goes through the synthesized EventBridge rule, trigger queue and trigger Lambda. With
      trigger.mode "quiet" a burst gives one run once arrivals pause for trigger.quietPeriodSeconds; with "marker"
      a _SUCCESS or manifest.json starts a run of what it covers. At most one run at a time; files that land
      during a run go into one follow-up run. Prints each file landed and each run started (with the time since
      the last file landed) and ended; --json prints one JSON object per event. Runs until Ctrl-C (runs in flight
      are aborted and cleaned up as an interrupted relearn local run is).

  relearn status [--local] [--stack <name>] [--region <region>] [--config <file>] [--limit <n>] [--json]
      What a pipeline did and will do: the last executions (newest first) with outcome, duration and why they ran
      (data, marker, schedule, start, drift), with links to the console and each run's report; what the trigger
      holds for the next run (objects pending, a run in flight, runs queued); the champion with its metric; the
      endpoint's state. Against the deployed stack <config name>-pipeline (or --stack), found through its
      CloudFormation outputs with your AWS credentials; --local: the project's local pipeline. --json prints one
      object for scripts.

  relearn start [--data s3://<data bucket>/<prefix>] [--stack <name>] [--region <region>] [--config <file>] [--json]
      Asks the deployed pipeline's trigger for a run (a message on its trigger queue, so it goes through the same
      single-flight path as data and schedules): without --data, of what is pending now, without waiting out the
      quiet period; with --data, of exactly the objects under that prefix, queued behind the run in flight.

  relearn local rollback [--to <execution name | model package ARN>] [--config <file> | --pipeline <name>] [--json]
      Puts the previous champion (or the named one) back on the pipeline's local endpoint through the rollback state
      machine of its locally deployed app (.relearn/pipelines/<name>/cdk.out): the same guarded blue/green update,
      wait and serving check as a retrain's deploy; then its champion record and its statistics and schema
      baselines are current again, the model registry and champion/history record the rollback, and it is
      notified. Refused (exit 1, one line) while an endpoint update is in flight, or when the target is not an
      approved, self-contained model.

  relearn local replace-instance [--endpoint <name>] [--config <file> | --pipeline <name>]
      Replaces the local endpoint's instance as SageMaker replaces an unhealthy one: the model server is killed
      and a new one starts from scratch, downloading the model again. Exit 1 (with the reason) if it cannot start.

  relearn rollback [--to <execution name | model package ARN>] [--state-machine-arn <arn>] [--config <file>]
                   [--no-wait] [--json]
      The same against the deployed stack (AWS credentials of your shell): starts <name>-rollback (found by name,
      or the pipeline stack's RollbackStateMachineArn output) and waits for its end.

  invoke, schema, monitor, reset, rollback and replace-instance work on the pipeline named by --pipeline (one with
  local state, by its config name: how a pipeline of a CDK app is named; not monitor), else of --config, else of
  ./relearn.config.json, else on the only pipeline with local state.

  relearn --help

Environment:
  RELEARN_PYTHON      Python with scikit-learn 1.2 (default: /usr/bin/python3, then python3)
`;

/** The commands, by their words (`relearn local run` is 'local run'). */
const COMMANDS: Readonly<Record<string, Command>> = {
  'local run': runCommand,
  'local invoke': invokeCommand,
  'local monitor': monitorCommand,
  'local schema': schemaCommand,
  'local reset': resetCommand,
  'local watch': watchCommand,
  status: statusCommand,
  start: startCommand,
  'local rollback': localRollbackCommand,
  'local replace-instance': replaceInstanceCommand,
  rollback: rollbackCommand,
};

interface Parsed {
  readonly positional: string[];
  readonly flags: Flags;
}

/** Every command's options: `--name` is a switch or takes a value the same way for every command. */
function allFlags(): { value: Set<string>; boolean: Set<string> } {
  const value = new Set<string>();
  const boolean = new Set<string>(['help']);
  for (const c of Object.values(COMMANDS)) {
    for (const f of c.valueFlags ?? []) value.add(f);
    for (const f of c.booleanFlags ?? []) boolean.add(f);
  }
  return { value, boolean };
}

export function parseArgs(argv: readonly string[]): Parsed {
  const known = allFlags();
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
    if (known.boolean.has(name)) {
      flags[name] = true;
    } else if (known.value.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags[name] = value;
    } else {
      throw new UsageError(`unknown option --${name} (see relearn --help)`);
    }
  }
  return { positional, flags };
}

/** The command named by the leading words, with the option names it accepts. */
function commandOf(positional: readonly string[]): { words: string; command: Command } | undefined {
  for (let n = Math.min(positional.length, 3); n > 0; n--) {
    const words = positional.slice(0, n).join(' ');
    if (COMMANDS[words]) return { words, command: COMMANDS[words] };
  }
  return undefined;
}

export async function main(argv: readonly string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    io.stderr.write(`relearn: ${(err as Error).message}\n`);
    return 2;
  }
  if (parsed.flags.help || parsed.positional.length === 0) {
    io.stdout.write(HELP);
    return parsed.flags.help ? 0 : 2;
  }
  const found = commandOf(parsed.positional);
  if (!found) {
    io.stderr.write(`relearn: unknown command "${parsed.positional.join(' ')}" (see relearn --help)\n`);
    return 2;
  }
  const { words, command } = found;
  const accepted = new Set([...(command.valueFlags ?? []), ...(command.booleanFlags ?? [])]);
  const foreign = Object.keys(parsed.flags).find((f) => !accepted.has(f));
  if (foreign) {
    io.stderr.write(`relearn: relearn ${words} does not take --${foreign} (see relearn --help)\n`);
    return 2;
  }
  try {
    return await command.run(parsed.flags, io);
  } catch (err) {
    return reportError(err, io);
  }
}

/** Bad input (usage, config, a path, data, no Python, a busy pipeline): exit 2 with one line. Anything else: 1. */
const BAD_INPUT = [UsageError, ConfigError, ConfigFileError, DataPathError, PipelineBusy, UnresolvableError, PythonMissing, TargetNotFound, AppSynthError, UnknownPipeline];

function reportError(err: unknown, io: CliIO): number {
  if (BAD_INPUT.some((type) => err instanceof type)) {
    io.stderr.write(`relearn: ${(err as Error).message}\n`);
    return 2;
  }
  const e = err as Error & { $metadata?: unknown; code?: unknown };
  // An AWS call that failed (no credentials, AccessDenied, throttling, the network): one line naming it, exit 1.
  if (e && (e.$metadata !== undefined || e.name === 'CredentialsProviderError' || /^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET)$/.test(String(e.code)))) {
    io.stderr.write(`relearn: ${e.name}: ${e.message.split('\n')[0]}\n`);
    return 1;
  }
  io.stderr.write(`relearn: ${e?.stack ?? String(err)}\n`);
  return 1;
}
