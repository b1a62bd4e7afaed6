import { DescribeExecutionCommand, ListStateMachinesCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Layout } from '../../lambdas/shared/contracts';
import { getJsonIfExists } from '../../lambdas/shared/s3';
import { rollbackMachineOf } from '../app-run';
import { resolvePipeline } from '../asl/assembly';
import { parseCause } from '../lambda-host';
import { EnforcementSummary, functionCredentials, LocalServices, startLocalServices } from '../local-env';
import { writeFileAtomic } from '../atomic';
import { acquireLock } from '../lock';
import { artifactsBucketOf, loadConfig } from '../local-run';
import { Printer } from '../printer';
import { pipelineForCommand } from '../project';
import { LocalExecutionResult, RunEvent, runLocalExecution, StateVisit } from '../runner';
import { CliIO, Command, configFileOf, Flags, UsageError } from './common';

/**
 * `relearn rollback` (a deployed stack) and `relearn local rollback` (this project's local services): both start the
 * rollback state machine the CDK app synthesizes (lib/constructs/rollback-state-machine.ts) with
 * `{ "rollback": { "request": { "to"?: ... } } }` and report what it did. The state machine decides and refuses;
 * these only start it and wait.
 */

/** Thrown for bad input (exit 2, one line). */
export class RollbackUsageError extends UsageError {
  override readonly name = 'RollbackUsageError';
}

export interface RollbackOutcome {
  readonly executionName: string;
  readonly status: string;
  /** The champion now (after a success): execution and package. */
  readonly champion?: { executionName: string; modelPackageArn: string; endpointConfigName: string };
  readonly target?: { executionName: string; modelPackageArn: string };
  readonly replaced?: string;
  readonly error?: { Error: string; Cause: string };
  readonly states?: readonly Pick<StateVisit, 'name' | 'status' | 'durationMs'>[];
}

/** The execution name of a rollback: `rollback-<UTC timestamp>-<4 hex>`, valid in Step Functions and SageMaker. */
export function rollbackExecutionName(now = new Date()): string {
  return `rollback-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0')}`;
}

const inputOf = (to: string | undefined) => ({ rollback: { request: to ? { to } : {} } });

// ---- local ----------------------------------------------------------------------------------------------

export interface LocalRollbackOptions {
  /** The project folder whose `.relearn/pipelines/<name>/` holds the deployed assembly and the local services' state. */
  readonly projectDir: string;
  /** The pipeline's config file. @default - the project's, as every local command finds it */
  readonly configFile?: string;
  /** A pipeline with local state, by its config name (`--pipeline`; a pipeline of a user's CDK app). @default - as configFile */
  readonly pipeline?: string;
  /** An execution name or a model package ARN. @default - the previous champion */
  readonly to?: string;
  /** @default rollbackExecutionName() */
  readonly executionName?: string;
  readonly python?: string;
  readonly onEvent?: (e: RunEvent) => void;
  /** Lambda log level (Powertools). @default 'ERROR' */
  readonly logLevel?: string;
  /** Services already running on this pipeline's state (left running). @default - started from its state and stopped after */
  readonly services?: LocalServices;
}

/**
 * Runs the rollback state machine of the assembly the pipeline's last `relearn local run` deployed
 * (`.relearn/pipelines/<name>/cdk.out`: what is "deployed" locally, as a rollback in the cloud runs on the deployed
 * stack, not on the code at hand). It holds the pipeline's lock, as a run does: one change to a pipeline at a time.
 */
export async function rollbackLocal(opts: LocalRollbackOptions): Promise<RollbackOutcome & { result: LocalExecutionResult; enforcement: EnforcementSummary }> {
  const { stateDir, name } = pipelineForCommand(opts.projectDir, opts.configFile, opts.pipeline);
  const outdir = join(stateDir, 'cdk.out');
  if (!existsSync(join(outdir, 'manifest.json'))) throw new RollbackUsageError(`no local deployment of pipeline "${name}" in ${stateDir}: run "relearn local run" first`);
  // The pipeline's own rollback machine: by its metadata (also a pipeline of a user's CDK app), else relearn's id.
  const machine = rollbackMachineOf(outdir, name);
  const pipeline = resolvePipeline(machine.outdir, machine.resolve);
  const lock = acquireLock(stateDir, name, 'relearn local rollback');
  let services: LocalServices | undefined;
  try {
    services = opts.services ?? (await startLocalServices({ stateDir, ...(opts.python ? { python: opts.python } : {}) }));
    const executionName = opts.executionName ?? rollbackExecutionName();
    const result = await runLocalExecution({
      pipeline,
      input: inputOf(opts.to),
      executionName,
      env: { ...services.env, POWERTOOLS_LOG_LEVEL: opts.logLevel ?? 'ERROR' },
      // Each function runs as its own role, enforced by the local servers as in AWS.
      credentialsFor: functionCredentials(services),
      maxWaitSeconds: 1,
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    });
    const champion = await getJsonIfExists<{ executionName: string; modelPackageArn: string; endpointConfigName: string }>(services.s3.client, artifactsBucketOf(pipeline), Layout.champion);
    const state = (result.output ?? result.lastInput) as { rollback?: { target?: { executionName: string; modelPackageArn: string }; from?: { executionName: string } } } | undefined;
    const outcome = {
      executionName,
      status: result.status,
      ...(champion ? { champion: { executionName: champion.executionName, modelPackageArn: champion.modelPackageArn, endpointConfigName: champion.endpointConfigName } } : {}),
      ...(state?.rollback?.target ? { target: { executionName: state.rollback.target.executionName, modelPackageArn: state.rollback.target.modelPackageArn } } : {}),
      ...(state?.rollback?.from ? { replaced: state.rollback.from.executionName } : {}),
      ...(result.error ? { error: { Error: result.error.Error, Cause: parseCause(result.error.Cause).errorMessage } } : {}),
      states: result.states.filter((s) => s.mapIndex === undefined).map((s) => ({ name: s.name, status: s.status, durationMs: s.durationMs })),
      // What the local servers checked (IAM decisions, API-model validations) while the rollback ran.
      enforcement: services.enforcement(),
      result,
    };
    writeFileAtomic(join(stateDir, 'last-rollback.json'), JSON.stringify({ ...outcome, result: undefined }, null, 2));
    return outcome;
  } finally {
    if (!opts.services) await services?.stop();
    lock.release();
  }
}

// ---- AWS ------------------------------------------------------------------------------------------------

export interface CloudRollbackOptions {
  readonly sfn: SFNClient;
  /** The rollback state machine's ARN (the pipeline stack's RollbackStateMachineArn output). @default - found by name */
  readonly stateMachineArn?: string;
  /** `<config.name>-rollback`, looked up with ListStateMachines when no ARN is given. */
  readonly stateMachineName: string;
  readonly to?: string;
  readonly executionName?: string;
  /** Return right after StartExecution. @default false */
  readonly noWait?: boolean;
  /** Between two DescribeExecution calls. @default 5000 */
  readonly pollMs?: number;
  readonly onStatus?: (status: string) => void;
}

/** The state machine's ARN from its name (every page of ListStateMachines), or a usage error naming what was looked for. */
export async function findStateMachineArn(sfn: SFNClient, name: string): Promise<string> {
  let token: string | undefined;
  do {
    const page = await sfn.send(new ListStateMachinesCommand({ nextToken: token }));
    const hit = page.stateMachines?.find((m) => m.name === name);
    if (hit?.stateMachineArn) return hit.stateMachineArn;
    token = page.nextToken;
  } while (token);
  throw new RollbackUsageError(`no state machine named ${name} in this account and region: deploy the pipeline stack (npx cdk deploy --all), or pass --state-machine-arn`);
}

/** Starts the rollback state machine of a deployed stack and waits for its end (unless noWait). */
export async function rollbackCloud(opts: CloudRollbackOptions): Promise<RollbackOutcome & { executionArn: string }> {
  const arn = opts.stateMachineArn ?? (await findStateMachineArn(opts.sfn, opts.stateMachineName));
  const executionName = opts.executionName ?? rollbackExecutionName();
  const started = await opts.sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: executionName, input: JSON.stringify(inputOf(opts.to)) }));
  const executionArn = started.executionArn!;
  if (opts.noWait) return { executionName, executionArn, status: 'RUNNING' };
  let last = '';
  for (;;) {
    const d = await opts.sfn.send(new DescribeExecutionCommand({ executionArn }));
    const status = d.status ?? 'UNKNOWN';
    if (status !== last) opts.onStatus?.(status);
    last = status;
    if (status !== 'RUNNING' && status !== 'PENDING_REDRIVE') {
      const output = d.output ? (JSON.parse(d.output) as { rollback?: { target?: { executionName: string; modelPackageArn: string }; from?: { executionName: string } }; deployment?: { endpointConfigName: string } }) : undefined;
      return {
        executionName,
        executionArn,
        status,
        ...(output?.rollback?.target ? { target: output.rollback.target } : {}),
        ...(output?.rollback?.from ? { replaced: output.rollback.from.executionName } : {}),
        ...(output?.rollback?.target && output.deployment
          ? { champion: { executionName: output.rollback.target.executionName, modelPackageArn: output.rollback.target.modelPackageArn, endpointConfigName: output.deployment.endpointConfigName } }
          : {}),
        ...(d.error ? { error: { Error: d.error, Cause: parseCause(d.cause).errorMessage } } : {}),
      };
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 5000));
  }
}

// ---- the commands ---------------------------------------------------------------------------------------

type CommandIO = Pick<CliIO, 'stdout' | 'stderr' | 'cwd'>;

const toOf = (flags: Flags): string | undefined => {
  if (flags.to === undefined) return undefined;
  if (typeof flags.to !== 'string' || !flags.to.trim()) throw new RollbackUsageError('--to needs an execution name or a model package ARN');
  return flags.to.trim();
};

/** What a finished rollback prints: one line for the outcome, the reason on a failure. Exit 0 on success, 1 otherwise. */
export function report(outcome: RollbackOutcome, io: CommandIO, json: boolean): number {
  if (json) {
    const { states, ...rest } = outcome as RollbackOutcome & { result?: unknown };
    io.stdout.write(JSON.stringify({ ...rest, result: undefined, states }) + '\n');
  } else if (outcome.status === 'SUCCEEDED') {
    io.stdout.write(
      `rolled back (${outcome.executionName}): ${outcome.target?.executionName ?? outcome.champion?.executionName} is the champion again` +
        `${outcome.replaced ? `, replacing ${outcome.replaced}` : ''}; endpoint config ${outcome.champion?.endpointConfigName ?? '?'} (model package ${outcome.target?.modelPackageArn ?? outcome.champion?.modelPackageArn})\n`,
    );
  } else if (outcome.status === 'RUNNING') {
    io.stdout.write(`rollback ${outcome.executionName} started\n`);
  } else {
    const refused = outcome.error?.Error === 'RollbackRefused';
    io.stderr.write(`relearn: rollback ${outcome.executionName} ${refused ? 'refused' : outcome.status}: ${outcome.error ? `${outcome.error.Error}: ${outcome.error.Cause}` : 'no error recorded'}\n`);
  }
  return outcome.status === 'SUCCEEDED' || outcome.status === 'RUNNING' ? 0 : 1;
}

/** `relearn local rollback [--to <execution or model package ARN>] [--config <file>] [--json]` */
export const localRollbackCommand: Command = {
  valueFlags: ['to', 'config', 'pipeline'],
  booleanFlags: ['json'],
  async run(flags, io) {
    const printer = new Printer(flags.json === true ? io.stderr : io.stdout, io.cwd);
    const configFile = configFileOf(flags, io);
    const pipeline = typeof flags.pipeline === 'string' ? { pipeline: flags.pipeline } : {};
    const outcome = await rollbackLocal({ projectDir: io.cwd, to: toOf(flags), ...(configFile ? { configFile } : {}), ...pipeline, onEvent: (e) => printer.event(e) });
    return report(outcome, io, flags.json === true);
  },
};

/** `relearn rollback [--to <...>] [--state-machine-arn <arn>] [--config <file>] [--no-wait] [--json]`, against the deployed stack. */
export async function cloudRollbackCommand(flags: Flags, io: CommandIO, sfn: SFNClient = new SFNClient({}), pollMs?: number): Promise<number> {
  const configFile = configFileOf(flags, io);
  const { config } = loadConfig({ projectDir: io.cwd, ...(configFile ? { configFile } : {}) });
  try {
    const outcome = await rollbackCloud({
      sfn,
      stateMachineName: `${config.name}-rollback`,
      ...(typeof flags['state-machine-arn'] === 'string' ? { stateMachineArn: flags['state-machine-arn'] } : {}),
      to: toOf(flags),
      noWait: flags['no-wait'] === true,
      ...(pollMs !== undefined ? { pollMs } : {}),
      onStatus: (s) => (flags.json === true ? undefined : io.stderr.write(`  ${s}\n`)),
    });
    if (flags.json !== true && outcome.status !== 'RUNNING') io.stderr.write(`  ${outcome.executionArn}\n`);
    return report(outcome, io, flags.json === true);
  } finally {
    sfn.destroy();
  }
}

/** `relearn rollback` as a CLI command (the deployed stack). */
export const rollbackCommand: Command = {
  valueFlags: ['to', 'state-machine-arn', 'config'],
  booleanFlags: ['no-wait', 'json'],
  run: (flags, io) => cloudRollbackCommand(flags, io),
};
