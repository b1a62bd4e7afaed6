import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { parseConfig, RelearnConfig } from '../lambdas/shared/config';
import { configBaseDir, loadConfigFile } from '../lib/config-file';

/**
 * A user's project as local mode sees it: the folder they run in (`.relearn/` holds the state), the config
 * (`--config <file>`, else `relearn.config.json` there, else the defaults) and, per pipeline (the config's
 * `name`), its own state folder `.relearn/pipelines/<name>/`: its synthesized app, S3 and SageMaker state,
 * reports, last run and lock. Two pipelines in one folder never see each other's champion; `--fresh`, `reset`,
 * `invoke` and `schema` touch one pipeline only.
 */

/** Files in the project folder read as the config when --config is not given. */
export const CONFIG_FILE_NAMES = ['relearn.config.json', 'relearn.json'];

export interface LoadedConfig {
  readonly config: RelearnConfig;
  /** The config file's path, 'config object' or 'defaults'. */
  readonly source: string;
  /** The config file, when there is one. */
  readonly configFile?: string;
  /** Where its relative paths point from: the config file's folder, else the project folder. */
  readonly baseDir: string;
}

export interface LocalPipeline extends LoadedConfig {
  readonly projectDir: string;
  /** config.name */
  readonly name: string;
  /** `<project>/.relearn/pipelines/<name>` */
  readonly stateDir: string;
  /** A pipeline of a user's CDK app (local/app-run.ts): its construct path and the app's command. */
  readonly app?: { readonly path: string; readonly command: string };
}

/** `<project>/.relearn`: every pipeline's state. */
export function stateDirOf(projectDir: string): string {
  return join(resolve(projectDir), '.relearn');
}

/** `<project>/.relearn/pipelines/<name>`: one pipeline's state. */
export function pipelineDirOf(projectDir: string, name: string): string {
  return join(stateDirOf(projectDir), 'pipelines', name);
}

/** The pipelines that have state in the project folder. */
export function pipelinesIn(projectDir: string): string[] {
  const dir = join(stateDirOf(projectDir), 'pipelines');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => statSync(join(dir, n)).isDirectory()).sort();
}

/** Reads the config: an object, a file, relearn.config.json in the project folder, or the defaults. */
export function loadConfig(opts: { config?: unknown; configFile?: string; projectDir: string }): LoadedConfig {
  const projectDir = resolve(opts.projectDir);
  if (opts.config !== undefined) return { config: parseConfig(opts.config, 'config'), source: 'config object', baseDir: projectDir };
  if (opts.configFile) {
    const file = resolve(projectDir, opts.configFile);
    return { config: loadConfigFile(file, { required: true }), source: file, configFile: file, baseDir: configBaseDir(file, projectDir) };
  }
  for (const name of CONFIG_FILE_NAMES) {
    const file = join(projectDir, name);
    if (existsSync(file)) return { config: loadConfigFile(file, { required: true }), source: file, configFile: file, baseDir: projectDir };
  }
  return { config: parseConfig({}, 'defaults'), source: 'defaults', baseDir: projectDir };
}

/** The pipeline a command works on: the config's, found as loadConfig finds it. */
export function openPipeline(opts: { config?: unknown; configFile?: string; projectDir: string }): LocalPipeline {
  const projectDir = resolve(opts.projectDir);
  const loaded = loadConfig({ ...opts, projectDir });
  return { ...loaded, projectDir, name: loaded.config.name, stateDir: pipelineDirOf(projectDir, loaded.config.name) };
}

/**
 * The pipeline a command with no run of its own (invoke, schema, reset) means: the one `--config` names, else the
 * one of the project's config file; with neither, the only pipeline that has state (or the default name).
 */
export function pipelineForCommand(projectDir: string, configFile?: string, pipelineName?: string): LocalPipeline {
  if (pipelineName !== undefined) return namedPipeline(projectDir, pipelineName, configFile);
  const p = openPipeline({ projectDir, ...(configFile ? { configFile } : {}) });
  if (p.configFile) return p;
  const existing = pipelinesIn(projectDir);
  if (existing.length === 1 && existing[0] !== p.name) return { ...p, name: existing[0], stateDir: pipelineDirOf(projectDir, existing[0]) };
  return p;
}

/** `--pipeline` names no pipeline with local state (bad input: the CLI exits 2 with this one line). */
export class UnknownPipeline extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownPipeline';
  }
}

/**
 * `--pipeline <name>`: a pipeline that has local state, by its name (a pipeline of a CDK app has no config file to
 * find it by). Its config is not at hand: the commands that take `--pipeline` read only its state folder.
 */
function namedPipeline(projectDir: string, name: string, configFile?: string): LocalPipeline {
  if (configFile) throw new UnknownPipeline('--pipeline and --config both name a pipeline: give one');
  const existing = pipelinesIn(projectDir);
  if (!existing.includes(name)) {
    throw new UnknownPipeline(`--pipeline ${name}: no local state for it in ${stateDirOf(projectDir)} (pipelines with state: ${existing.join(', ') || 'none'}): run "relearn local run" first`);
  }
  const resolved = resolve(projectDir);
  return { config: parseConfig({ name }, `--pipeline ${name}`), source: `--pipeline ${name}`, baseDir: resolved, projectDir: resolved, name, stateDir: pipelineDirOf(projectDir, name) };
}

/** Names of the run state inside a pipeline's folder (everything but the synthesized app and the lock). */
const RUN_STATE = ['s3', 'sagemaker', 'iam', 'reports', 'last-run.json', 'stepfunctions', 'watch'];

/**
 * Forgets the pipeline's earlier runs: its S3 and SageMaker state (champion, registry, endpoint), reports and
 * last-run.json. The synthesized app is kept unless `everything`: it holds no run state, and it is
 * re-synthesized anyway whenever what it is built from changed. Other pipelines are not touched.
 */
export function resetPipeline(stateDir: string, everything: boolean): void {
  if (everything) {
    // Everything but the lock, which the caller holds.
    if (!existsSync(stateDir)) return;
    for (const entry of readdirSync(stateDir)) if (entry !== 'lock') rmSync(join(stateDir, entry), { recursive: true, force: true });
    return;
  }
  for (const entry of RUN_STATE) rmSync(join(stateDir, entry), { recursive: true, force: true });
}

/**
 * State from before per-pipeline folders (`.relearn/{s3,sagemaker,reports,last-run.json}`) belongs to the pipeline
 * whose buckets its S3 folder holds (`<name>-data-...`): it moves to that pipeline's folder the first time that
 * pipeline runs, so its champion and endpoint carry over. The old synthesized app is dropped (rebuilt anyway).
 */
export function adoptLegacyState(projectDir: string, name: string): boolean {
  const root = stateDirOf(projectDir);
  const s3 = join(root, 's3');
  if (!existsSync(s3)) return false;
  const owner = readdirSync(s3).some((b) => b.startsWith(`${name}-data`));
  const target = pipelineDirOf(projectDir, name);
  if (!owner || existsSync(join(target, 's3'))) return false;
  mkdirSync(target, { recursive: true });
  for (const entry of RUN_STATE) if (existsSync(join(root, entry))) renameSync(join(root, entry), join(target, entry));
  rmSync(join(root, 'cdk.out'), { recursive: true, force: true });
  return true;
}

/** A path as the user would type it from `cwd`: relative when inside, else absolute. */
export function displayPath(path: string, cwd: string): string {
  const r = relative(cwd, path);
  return r && !r.startsWith('..') && !r.startsWith(sep) ? r : path;
}

/** POSIX shell quoting, only when needed: what the CLI prints must run as printed. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The `--config <file>` a printed command needs to reach the same pipeline from `cwd` (empty when not needed). */
export function configArgFor(p: Pick<LocalPipeline, 'configFile' | 'projectDir' | 'name' | 'app'>, cwd: string): string {
  // A pipeline of a CDK app is named by its name (its state folder); the app need not be synthesized again.
  if (p.app) return ` --pipeline ${shellQuote(p.name)}`;
  if (!p.configFile) return '';
  const isDefault = dirname(p.configFile) === resolve(p.projectDir) && CONFIG_FILE_NAMES.includes(basename(p.configFile)) && resolve(cwd) === resolve(p.projectDir);
  return isDefault ? '' : ` --config ${shellQuote(displayPath(p.configFile, cwd))}`;
}
