import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * relearn's own folder (the package root, where its package.json is): lambdas/, lib/ and training-scripts/ are here
 * in the repository, and the published files (dist/, training-scripts/, local/python/, ...) under node_modules/relearn.
 * Found by walking up from this module, which is lib/package-root.ts in the repository and dist/lib/package-root.js
 * once compiled.
 */
export const PACKAGE_ROOT = packageRootOf(__dirname);

export function packageRootOf(from: string): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`relearn: no package.json above ${from}: a broken install?`);
  }
}

/**
 * Where relearn's dependencies are installed: the repository itself, or, where relearn is a dependency, the project
 * that installed it (the folder above the outermost node_modules). NodejsFunction's `projectRoot`: CDK runs esbuild
 * there through that project's package manager (`npx --no-install esbuild` for npm), which finds it only in that
 * project's node_modules/.bin (npm hoists relearn's dependencies there, not under node_modules/relearn).
 */
export const INSTALL_ROOT = installRootOf(PACKAGE_ROOT);

export function installRootOf(dir: string): string {
  const parts = dir.split(path.sep);
  const i = parts.indexOf('node_modules');
  return i > 0 ? parts.slice(0, i).join(path.sep) || path.sep : dir;
}

/** The lock files NodejsFunction recognizes, in its order of preference. */
const LOCK_FILES = ['pnpm-lock.yaml', 'yarn.lock', 'bun.lockb', 'bun.lock', 'package-lock.json'];

/**
 * The lock file NodejsFunction is given (`depsLockFilePath`; it picks the package manager that runs esbuild): the
 * install root's, or relearn's package.json where there is none (npm never publishes package-lock.json). NodejsFunction
 * only checks that the file exists and reads it to install `nodeModules`, which relearn's functions do not use; the
 * bundles (esbuild, every dependency bundled) are the same either way.
 */
export const DEPS_LOCK_FILE = LOCK_FILES.map((f) => path.join(INSTALL_ROOT, f)).find((f) => fs.existsSync(f)) ?? path.join(PACKAGE_ROOT, 'package.json');
