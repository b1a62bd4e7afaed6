import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseConfig, RelearnConfig } from '../lambdas/shared/config';
import { ResolveOptions, resolvePipeline, ROLLBACK_STATE_MACHINE } from './asl/assembly';
import { AssemblyPipeline, choosePipeline, findPipelines } from './asl/pipelines';
import { AppSynthError, cdkAppOf, synthesizeApp } from './app-synth';
import { CONFIG_FILE_NAMES, LocalPipeline, pipelineDirOf, stateDirOf } from './project';

/**
 * `relearn local run` on a user's own CDK app (issue 14): the app is synthesized as `cdk synth` would
 * (local/app-synth.ts), its RetrainingPipelines are found by their metadata (local/asl/pipelines.ts), one is chosen
 * (`--pipeline`), and from there the run is the same as for relearn's own app: the same resolver, the same bundles,
 * the same servers and IAM enforcement, the same per-pipeline state (`.relearn/pipelines/<config name>`).
 */

/** Which app a run synthesizes: a user's CDK app (its command and the pipeline), or relearn's own from a config. */
export interface AppChoice {
  /** The app's command (`--app`); absent: the `app` of the cdk.json in the project folder. */
  readonly command?: string;
  /** The pipeline's construct id, path or config name (`--pipeline`); absent: the app's only pipeline. */
  readonly pipeline?: string;
}

/**
 * Whether `relearn local run` means a user's CDK app: `--app` or `--pipeline` say so; without them (and without
 * `--config`), a folder with a cdk.json and no relearn config file is a CDK app, as the CDK CLI sees it.
 */
export function appChoiceOf(flags: { app?: string; pipeline?: string; config?: string }, projectDir: string): AppChoice | undefined {
  if (flags.app !== undefined || flags.pipeline !== undefined) {
    if (flags.config !== undefined) {
      throw new AppSynthError('--config is for relearn\'s own app, --app and --pipeline for a CDK app of yours (its config is in its code): give one or the other');
    }
    return { ...(flags.app !== undefined ? { command: flags.app } : {}), ...(flags.pipeline !== undefined ? { pipeline: flags.pipeline } : {}) };
  }
  if (flags.config !== undefined) return undefined;
  const hasRelearnConfig = CONFIG_FILE_NAMES.some((n) => existsSync(join(projectDir, n)));
  return !hasRelearnConfig && existsSync(join(projectDir, 'cdk.json')) ? {} : undefined;
}

/** A pipeline of a user's app, synthesized and chosen: its assembly waits in a staging folder until the run takes it. */
export interface AppPipelineRun {
  readonly pipeline: LocalPipeline;
  readonly found: AssemblyPipeline;
  /** The staged assembly (moved to `<stateDir>/cdk.out` by `adopt`). */
  readonly stagedOutdir: string;
  readonly synthMs: number;
  /** The app's command, for the progress line. */
  readonly command: string;
  /** Moves the assembly into the pipeline's state folder (the caller holds its lock); returns the outdir. */
  adopt(): string;
  /** Drops the staging folder (a failed or refused run). */
  discard(): void;
}

/**
 * Synthesizes the app into a staging folder under `.relearn/` (two runs of two pipelines of one app never share an
 * outdir), finds and chooses the pipeline, and reads its configuration back from the assembly (RELEARN_CONFIG of its
 * functions, what the stages themselves read).
 */
export async function prepareAppPipeline(
  projectDir: string,
  choice: AppChoice,
  opts: { onOutput?: (chunk: string) => void; signal?: AbortSignal } = {},
): Promise<AppPipelineRun> {
  const app = cdkAppOf(projectDir, choice.command);
  const staging = join(stateDirOf(projectDir), 'app-synth', `${process.pid}-${randomBytes(3).toString('hex')}`);
  const outdir = join(staging, 'cdk.out');
  const discard = () => rmSync(staging, { recursive: true, force: true });
  try {
    const synth = await synthesizeApp(app, outdir, opts);
    const where = `the CDK app \`${app.command}\` (${app.source})`;
    const found = choosePipeline(findPipelines(outdir), choice.pipeline, where);
    const config = configOfAssembly(found);
    const stateDir = pipelineDirOf(projectDir, found.name);
    const pipeline: LocalPipeline = {
      config,
      source: `${found.path} of ${where}`,
      baseDir: resolve(projectDir),
      projectDir: resolve(projectDir),
      name: found.name,
      stateDir,
      app: { path: found.path, command: app.command },
    };
    return {
      pipeline,
      found,
      stagedOutdir: relative(found.outdir, outdir) === '' ? outdir : outdir,
      synthMs: synth.ms,
      command: app.command,
      adopt: () => {
        const target = join(stateDir, 'cdk.out');
        mkdirSync(stateDir, { recursive: true });
        rmSync(target, { recursive: true, force: true });
        renameSync(outdir, target);
        discard();
        // A nested assembly (a Stage's stacks) sits in a subfolder of the assembly: keep that part of its path.
        return join(target, relative(outdir, found.outdir));
      },
      discard,
    };
  } catch (err) {
    discard();
    throw err;
  }
}

/** The pipeline's configuration as its stages read it: RELEARN_CONFIG of one of its functions. */
export function configOfAssembly(found: AssemblyPipeline): RelearnConfig {
  const resolved = resolvePipeline(found.outdir, { stateMachine: found.stateMachineLogicalId, stackName: found.stackName });
  const text = Object.values(resolved.functions).find((f) => f.environment.RELEARN_CONFIG)?.environment.RELEARN_CONFIG;
  if (!text) throw new AppSynthError(`${found.path}: its functions carry no RELEARN_CONFIG: not a RetrainingPipeline of this relearn?`);
  return parseConfig(JSON.parse(text), `${found.path} (RELEARN_CONFIG)`);
}

/**
 * Where the rollback state machine of the pipeline `name` deployed in `outdir` (its state's cdk.out) is: found by the
 * pipeline's metadata (a pipeline of a user's app, or of relearn's own app, possibly in a Stage's nested assembly),
 * else by relearn's own logical id prefix (an assembly synthesized before the metadata named it).
 */
export function rollbackMachineOf(outdir: string, name: string): { outdir: string; resolve: ResolveOptions } {
  const found = findPipelines(outdir).find((p) => p.name === name);
  if (found?.rollbackStateMachineLogicalId) {
    return { outdir: found.outdir, resolve: { stateMachine: found.rollbackStateMachineLogicalId, stackName: found.stackName } };
  }
  return { outdir, resolve: { stateMachine: ROLLBACK_STATE_MACHINE } };
}
