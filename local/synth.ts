import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { RelearnConfig } from '../lambdas/shared/config';
import { schemaFileOf, trainingSourceDirOf } from '../lib/config-file';
import { DEPS_LOCK_FILE, INSTALL_ROOT, PACKAGE_ROOT } from '../lib/package-root';
import { ASSET_METADATA_CONTEXT } from './asl/assembly';
import { writeFileAtomic } from './atomic';

/**
 * Synthesizes relearn's CDK app in process into `<stateDir>/cdk.out`, exactly as `cdk synth` would
 * (same buildRelearnApp, same esbuild bundles), plus the context that keeps `aws:asset:path` metadata on
 * the Lambda resources. cdk-nag and CDK's built-in CloudFormation validation are not run here: they report on
 * the template and change nothing in it (`cdk synth` and the template tests run them).
 *
 * Two caches keep the edit-run loop short:
 * - The whole assembly is reused while nothing it is built from changed: the config, relearn's lib/ and lambdas/,
 *   the training source directory, package-lock.json and the curated schema file.
 * - When only the config (or the training code) changed, the Lambda bundles are reused: bundling 13 handlers with
 *   esbuild is most of a synth, and a bundle depends on lambdas/, the dependencies and the bundling options, not on
 *   the config (which reaches the functions as an environment variable). Each bundle of the previous synth is put
 *   back where CDK stages its bundling output (`bundling-temp-<cache key>`, the key CDK derives from the asset's
 *   source and bundling options); CDK then skips esbuild for it and hashes it exactly as if it had just built it,
 *   so the template and asset hashes are those `cdk synth` produces. The bundles are reused only while their
 *   inputs (lambdas/, package-lock.json, tsconfig.json, the installed dependencies) are unchanged.
 */

/** relearn's own folder: lib/, lambdas/ and training-scripts/ live here. */
export const REPO_ROOT = PACKAGE_ROOT;

/** relearn runs compiled (installed as a package: its Lambdas are the bundles in dist/), or from its TypeScript sources. */
const COMPILED = __filename.endsWith('.js');

const KEY_FILE = 'relearn-synth.json';
const BUNDLES_FILE = 'relearn-bundles.json';
const SYNTH_FORMAT = 2;

export interface SynthOptions {
  readonly stateDir: string;
  readonly config: RelearnConfig;
  /** Synthesize even when the cached assembly is up to date. @default false */
  readonly force?: boolean;
  /** Reuse the previous synth's Lambda bundles when their inputs did not change. @default true */
  readonly reuseBundles?: boolean;
  /**
   * The folder the config's relative paths are relative to (the config file's folder, lib/config-file.ts).
   * @default the current directory
   */
  readonly appRoot?: string;
}

export interface SynthResult {
  readonly outdir: string;
  readonly ms: number;
  /** True when the previous assembly was reused. */
  readonly cached: boolean;
  /** Lambda bundles taken over from the previous synth (esbuild did not run for them). */
  readonly reusedBundles: number;
}

interface BundleRecord {
  /** CDK's asset cache key (AssetStaging.cacheKey): source path, bundling options, output folder. */
  readonly cacheKey: string;
  /** The staged folder in cdk.out (`asset.<hash>`). */
  readonly dir: string;
}

export function synthesize(opts: SynthOptions): SynthResult {
  const started = performance.now();
  const appRoot = resolve(opts.appRoot ?? process.cwd());
  const outdir = join(opts.stateDir, 'cdk.out');
  const key = inputKey(appRoot, opts.config);
  const keyPath = join(outdir, KEY_FILE);
  if (!opts.force && existsSync(join(outdir, 'manifest.json')) && existsSync(keyPath)) {
    const previous = JSON.parse(readFileSync(keyPath, 'utf8')) as { key?: string };
    if (previous.key === key) return { outdir, ms: performance.now() - started, cached: true, reusedBundles: 0 };
  }
  const bundleKey = bundleInputKey();
  const reusable = opts.reuseBundles === false ? [] : previousBundles(outdir, bundleKey);
  // A fresh folder (cdk.out would otherwise keep every stale asset folder forever), with the reusable bundles
  // moved to where CDK looks for its bundling output.
  freshOutdir(outdir, reusable);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { App, AssetStaging } = require('aws-cdk-lib') as typeof import('aws-cdk-lib');
  // CDK remembers bundled assets per process by their hash and would point at folders just deleted.
  AssetStaging.clearAssetHashCache();
  // CDK's built-in CloudFormation validation (a WebAssembly rule engine, a third of a synth) only reports warnings
  // and changes nothing in the template: like cdk-nag, it is left to `cdk synth` and the template tests.
  const app = new App({ outdir, context: { ...ASSET_METADATA_CONTEXT }, builtinCloudFormationValidation: false });
  // Loaded here, not at the top: `relearn --help` and `relearn local invoke` need no CDK app.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildRelearnApp } = require('../lib/app') as typeof import('../lib/app');
  // CDK announces each of the 13 bundles on stderr as it stages them ("Bundling asset ..."); the CLI prints one
  // synth line instead.
  const write = process.stderr.write;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) =>
    String(chunk).startsWith('Bundling asset ') ? true : (write as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest)) as typeof process.stderr.write;
  try {
    buildRelearnApp(app, opts.config, { appRoot, nag: false });
    app.synth();
  } finally {
    process.stderr.write = write;
  }
  // A reused bundle whose cache key no longer matches anything (the bundling options changed) was not taken.
  for (const entry of readdirSync(outdir)) if (entry.startsWith('bundling-temp-')) rmSync(join(outdir, entry), { recursive: true, force: true });
  // What the next synth may reuse: every bundled asset, by CDK's cache key.
  const bundles: BundleRecord[] = [];
  for (const c of app.node.findAll()) {
    if (!(c instanceof AssetStaging)) continue;
    const cacheKey = (c as unknown as { cacheKey?: unknown }).cacheKey;
    const dir = relative(outdir, c.absoluteStagedPath);
    if (typeof cacheKey === 'string' && /^asset\.[0-9a-f]+$/.test(dir) && existsSync(join(outdir, dir, 'index.js'))) bundles.push({ cacheKey, dir });
  }
  writeFileAtomic(join(outdir, BUNDLES_FILE), JSON.stringify({ key: bundleKey, bundles }, null, 2));
  // Written last: an interrupted synth leaves no key, so the next run synthesizes again.
  writeFileAtomic(keyPath, JSON.stringify({ key, synthesizedAt: new Date().toISOString() }, null, 2));
  return { outdir, ms: performance.now() - started, cached: false, reusedBundles: reusable.length };
}

/** The previous synth's bundles, if their inputs are unchanged and they are still there. */
function previousBundles(outdir: string, bundleKey: string): BundleRecord[] {
  const file = join(outdir, BUNDLES_FILE);
  if (!existsSync(file)) return [];
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { key?: string; bundles?: BundleRecord[] };
    if (saved.key !== bundleKey) return [];
    return (saved.bundles ?? []).filter((b) => /^asset\.[0-9a-f]+$/.test(b.dir) && /^[0-9a-f]{64}$/.test(b.cacheKey) && existsSync(join(outdir, b.dir, 'index.js')));
  } catch {
    return [];
  }
}

/** Empties `outdir` except for `keep`, whose folders become `bundling-temp-<cacheKey>` (CDK's bundling output). */
function freshOutdir(outdir: string, keep: readonly BundleRecord[]): void {
  mkdirSync(outdir, { recursive: true });
  const kept = new Set(keep.map((b) => b.dir));
  // The key file goes first: a synth interrupted from here on is never taken for a finished one.
  rmSync(join(outdir, KEY_FILE), { force: true });
  rmSync(join(outdir, BUNDLES_FILE), { force: true });
  for (const entry of readdirSync(outdir)) {
    if (!kept.has(entry)) rmSync(join(outdir, entry), { recursive: true, force: true });
  }
  const moved = new Set<string>();
  for (const b of keep) {
    const target = join(outdir, `bundling-temp-${b.cacheKey}`);
    // Two functions with one bundle (same cache key) share one folder: CDK stages it once.
    if (moved.has(b.dir) || existsSync(target)) continue;
    renameSync(join(outdir, b.dir), target);
    moved.add(b.dir);
  }
}

/** A hash of everything the assembly is built from. */
export function inputKey(appRoot: string, config: RelearnConfig): string {
  const h = createHash('sha256');
  h.update(`format ${SYNTH_FORMAT}\n`).update(JSON.stringify(config)).update('\n');
  // relearn itself: its TypeScript sources in the repository, its compiled code and Lambda bundles when installed.
  const own = [...(COMPILED ? ['dist'] : ['lib', 'lambdas']).map((r) => join(PACKAGE_ROOT, r)), DEPS_LOCK_FILE];
  // The training code and the curated schema file too: both are staged into cdk.out, so an edit must re-synthesize.
  const schemaFile = schemaFileOf(config, appRoot);
  const roots = [...own, trainingSourceDirOf(config, appRoot), ...(schemaFile ? [schemaFile] : [])];
  for (const root of roots) {
    h.update(`root ${root}\n`);
    for (const file of listFiles(root)) h.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return h.digest('hex');
}

/**
 * A hash of what the Lambda bundles are built from: the handlers and everything they import (lambdas/), the
 * installed dependencies (package-lock.json, and npm's record of what node_modules holds) and tsconfig.json.
 * The bundling options themselves are part of CDK's cache key, which a reused bundle must match too.
 */
export function bundleInputKey(): string {
  const h = createHash('sha256');
  h.update(`bundles ${SYNTH_FORMAT} ${process.version}\n`);
  const roots = [
    ...['lambdas', 'package.json', 'tsconfig.json'].map((r) => join(PACKAGE_ROOT, r)),
    // What is installed: the lock file, npm's record of node_modules, and the esbuild that bundles.
    DEPS_LOCK_FILE,
    join(INSTALL_ROOT, 'node_modules', '.package-lock.json'),
    // (relearn installed as a package bundles nothing at synth, and its consumer need not have esbuild)
    ...esbuildPackage(),
  ];
  for (const root of roots) {
    h.update(`root ${root}\n`);
    for (const file of listFiles(root)) h.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return h.digest('hex');
}

function esbuildPackage(): string[] {
  try {
    return [require.resolve('esbuild/package.json')];
  } catch {
    return [];
  }
}

function listFiles(path: string): string[] {
  if (!existsSync(path)) return [];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.') || entry.name === '__pycache__' || entry.name === 'node_modules') continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) out.push(full);
    }
  };
  try {
    readdirSync(path);
    walk(path);
  } catch {
    out.push(path); // a single file
  }
  return out;
}
