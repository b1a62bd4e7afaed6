import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * relearn as a consumer gets it (issue 14): build and pack this repository, install the tarball into a fresh CDK
 * app, synthesize the app with the CDK CLI, run relearn's CLI from the app's node_modules. Shared by
 * test/consumer.test.ts and bench/package.ts. No network but the npm registry, and that only for what npm's cache
 * lacks (`--prefer-offline`: the repository's own install filled the cache with the same versions).
 */

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** What `npm pack --json` says of the tarball. */
export interface Packed {
  readonly tarball: string;
  readonly size: number;
  readonly unpackedSize: number;
  readonly files: readonly string[];
  readonly buildMs: number;
}

/** The environment of every child: no CDK telemetry or notices (no network), and a NODE_OPTIONS of the user's own. */
export function consumerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    NODE_OPTIONS: '',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    ...extra,
  };
}

/** What the build reads: a file here newer than dist/.build-stamp means dist/ is stale. */
const BUILD_INPUTS = ['lib', 'local', 'lambdas', 'bin', 'scripts/bundle-lambdas.ts', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];
const BUILD_STAMP = path.join(REPO_ROOT, 'dist', '.build-stamp');

function newestMtime(p: string): number {
  if (!fs.existsSync(p)) return 0;
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return fs.readdirSync(p).reduce((m, name) => (name === 'node_modules' || name === '__pycache__' ? m : Math.max(m, newestMtime(path.join(p, name)))), 0);
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * `npm run build` (tsc + the Lambda bundles) when dist/ is older than its sources, or always with `force`; returns
 * its wall time in ms (0: dist/ was up to date). Test files that run in parallel share one build: a lock (a folder,
 * created atomically) makes the second wait for the first instead of rewriting dist/ under it.
 */
export function ensureBuilt(opts: { force?: boolean } = {}): number {
  const lock = path.join(REPO_ROOT, 'dist.build-lock');
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // a lock older than any build is one whose owner died
      if (Date.now() - fs.statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 10 * 60_000) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`${lock}: another build held it for 15 minutes`);
      sleep(500);
    }
  }
  try {
    const stamp = fs.existsSync(BUILD_STAMP) ? fs.statSync(BUILD_STAMP).mtimeMs : 0;
    if (!opts.force && stamp > Math.max(...BUILD_INPUTS.map((p) => newestMtime(path.join(REPO_ROOT, p))))) return 0;
    const started = performance.now();
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, env: consumerEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    fs.writeFileSync(BUILD_STAMP, new Date().toISOString());
    return performance.now() - started;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** The published files (`npm pack --dry-run`), without running the build again (`--ignore-scripts`). */
export function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: REPO_ROOT, env: consumerEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return (JSON.parse(out) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
}

/** The build (when dist/ is stale, or `force`), then `npm pack` into `dest`. */
export function packRelearn(dest: string, opts: { force?: boolean } = {}): Packed {
  const buildMs = ensureBuilt(opts);
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: REPO_ROOT, env: consumerEnv(), encoding: 'utf8' });
  const [info] = JSON.parse(out) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  return { tarball: path.join(dest, info.filename), size: info.size, unpackedSize: info.unpackedSize, files: info.files.map((f) => f.path), buildMs };
}

/** `npm install` of the app's package.json plus `specs` (the tarball among them); returns its wall time in ms. */
export function npmInstall(appDir: string, specs: readonly string[]): number {
  const started = performance.now();
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...specs], {
    cwd: appDir,
    env: consumerEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return performance.now() - started;
}

/** `cdk synth --quiet` with the app's own CDK CLI (node_modules/.bin/cdk), as its team runs it. */
export function cdkSynth(appDir: string, env: Record<string, string> = {}): { ms: number; code: number; output: string } {
  const started = performance.now();
  try {
    const output = execFileSync(path.join(appDir, 'node_modules', '.bin', 'cdk'), ['synth', '--quiet', '--no-notices'], {
      cwd: appDir,
      env: consumerEnv(env),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { ms: performance.now() - started, code: 0, output };
  } catch (err) {
    const e = err as { status: number | null; stdout?: string; stderr?: string };
    return { ms: performance.now() - started, code: e.status ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** The app's installed `relearn` command, run to its end: exit code, stdout, stderr. */
export function relearn(appDir: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(path.join(appDir, 'node_modules', '.bin', 'relearn'), [...args], { cwd: appDir, env: consumerEnv(env), maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** Copies a folder (examples/team-app) as a team would start from it: no node_modules, no state of earlier runs. */
export function copyApp(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true, filter: (src) => !/(^|\/)(node_modules|cdk\.out|\.relearn)(\/|$)/.test(path.relative(from, src)) });
}

/**
 * A plain JavaScript CDK app (as `cdk init app --language javascript` lays it out: bin/<app>.js run by `node`):
 * one pipeline with non-default props, next to the team's own cdk-nag. `RELEARN_BAD_PROP=1` gives it a bad
 * servingInstanceType (the synth must fail naming the prop).
 */
export function writeJsApp(dir: string): void {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'forecasts-app', version: '0.1.0', private: true, bin: { 'forecasts-app': 'bin/forecasts-app.js' } }, null, 2));
  fs.writeFileSync(path.join(dir, 'cdk.json'), JSON.stringify({ app: 'node bin/forecasts-app.js', context: {} }, null, 2));
  fs.writeFileSync(
    path.join(dir, 'bin', 'forecasts-app.js'),
    `#!/usr/bin/env node
const { App, RemovalPolicy, Stack, Validations } = require('aws-cdk-lib');
const logs = require('aws-cdk-lib/aws-logs');
const { AwsSolutionsChecks } = require('cdk-nag');
const { RetrainingPipeline } = require('relearn');

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const stack = new Stack(app, 'Forecasts');
new RetrainingPipeline(stack, 'Retraining', {
  config: { name: 'forecasts', training: { hyperparameters: { 'max-text-features': 200 } } },
  modelPackageGroupName: 'platform-forecasts',
  stateMachineName: 'platform-forecasts-retrain',
  servingInstanceType: process.env.RELEARN_BAD_PROP ? 'large' : 'ml.m5.xlarge',
  removalPolicy: RemovalPolicy.DESTROY,
  logRetention: logs.RetentionDays.TWO_WEEKS,
});
`,
  );
}

/** The synthesized template of a stack in an app's cdk.out. */
export function templateOf(appDir: string, stack: string): { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> } {
  return JSON.parse(fs.readFileSync(path.join(appDir, 'cdk.out', `${stack}.template.json`), 'utf8'));
}
