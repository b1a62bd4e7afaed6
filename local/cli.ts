import { ConfigError } from '../lambdas/shared/config';
import { UnresolvableError } from './asl/cfn-resolver';
import { CliIO, Command, Flags, PythonMissing, UsageError } from './commands/common';
import { invokeCommand } from './commands/invoke';
import { monitorCommand } from './commands/monitor';
import { resetCommand } from './commands/reset';
import { runCommand } from './commands/run';
import { schemaCommand } from './commands/schema';

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

  relearn local monitor [--window <duration | start/end>] [--config <file>] [--json] [--verbose]
      Runs the monitoring state machine once on the local services: reads what the local endpoint captured
      (data capture, monitoring.capture) in the window, compares it with the champion's baselines (its
      training statistics and schema, its validation predictions), writes monitoring/<window>/report.json
      and report.html, puts the drift metrics and publishes the verdict in words. Prints the verdict, the
      findings, the drift alarm's state, the notification and the report's path. Exit code 0 when the
      monitor ran (whatever its verdict), 1 when it failed, 2 on bad input (docs/monitoring.md).

      --window <w>        a duration ending now (90m, 6h, 7d) or <start>/<end> in ISO 8601
                          (2026-11-29T09:00Z/2026-11-29T12:00Z); default: the last monitoring.windowMinutes

  relearn local reset
      Deletes .relearn/ entirely: every run's state and the synthesized app.

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

function reportError(err: unknown, io: CliIO): number {
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof UnresolvableError || err instanceof PythonMissing) {
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
