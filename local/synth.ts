import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { RelearnConfig } from '../lambdas/shared/config';
import { ASSET_METADATA_CONTEXT } from './asl/assembly';
import { PACKAGE_ROOT } from '../lib/package-root';

/**
 * Synthesizes relearn's CDK app in process into `<stateDir>/cdk.out`, exactly as `cdk synth` would
 * (same buildRelearnApp, same esbuild bundles), plus the context that keeps `aws:asset:path` metadata on
 * the Lambda resources. cdk-nag is not run here: it checks IAM and encryption settings, which local mode
 * does not enforce, and it changes nothing in the template (the template tests run it).
 *
 * Bundling 12 handlers costs seconds, so the assembly is reused while nothing it is built from changed:
 * the config and every file under lib/, lambdas/ and the training source directory (and package-lock.json), and
 * the curated schema file.
 */

/** Repository root: where lib/, lambdas/ and training-scripts/ live. */
export const REPO_ROOT = PACKAGE_ROOT;

const KEY_FILE = 'relearn-synth.json';
const SYNTH_FORMAT = 1;

export interface SynthOptions {
  readonly stateDir: string;
  readonly config: RelearnConfig;
  /** Synthesize even when the cached assembly is up to date. @default false */
  readonly force?: boolean;
  /** @default REPO_ROOT */
  readonly appRoot?: string;
}

export interface SynthResult {
  readonly outdir: string;
  readonly ms: number;
  /** True when the previous assembly was reused. */
  readonly cached: boolean;
}

export function synthesize(opts: SynthOptions): SynthResult {
  const started = performance.now();
  const appRoot = opts.appRoot ?? REPO_ROOT;
  const outdir = join(opts.stateDir, 'cdk.out');
  const key = inputKey(appRoot, opts.config);
  const keyPath = join(outdir, KEY_FILE);
  if (!opts.force && existsSync(join(outdir, 'manifest.json')) && existsSync(keyPath)) {
    const previous = JSON.parse(readFileSync(keyPath, 'utf8')) as { key?: string };
    if (previous.key === key) return { outdir, ms: performance.now() - started, cached: true };
  }
  // A fresh folder: cdk.out would otherwise keep every stale asset folder forever.
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { App, AssetStaging } = require('aws-cdk-lib') as typeof import('aws-cdk-lib');
  // CDK remembers bundled assets per process by their hash and would point at folders just deleted.
  AssetStaging.clearAssetHashCache();
  const app = new App({ outdir, context: { ...ASSET_METADATA_CONTEXT } });
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
  writeFileSync(keyPath, JSON.stringify({ key, synthesizedAt: new Date().toISOString() }, null, 2));
  return { outdir, ms: performance.now() - started, cached: false };
}

/** A hash of everything the assembly is built from. */
export function inputKey(appRoot: string, config: RelearnConfig): string {
  const h = createHash('sha256');
  h.update(`format ${SYNTH_FORMAT}\n`).update(JSON.stringify(config)).update('\n');
  // The curated schema file too: its asset is staged into cdk.out, so an edit must re-synthesize.
  const roots = ['lib', 'lambdas', config.training.sourceDir, 'package-lock.json', ...(config.validation.schemaFile ? [config.validation.schemaFile] : [])];
  for (const root of roots) {
    for (const file of listFiles(resolve(appRoot, root))) {
      h.update(relative(appRoot, file)).update('\0').update(readFileSync(file)).update('\0');
    }
  }
  return h.digest('hex');
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
