import * as fs from 'node:fs';
import * as path from 'node:path';

/** relearn's own folder (the package root): lambdas/, lib/ and training-scripts/ are here, also under node_modules. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..');

/**
 * The lock file NodejsFunction is given (`depsLockFilePath`): the repository's package-lock.json, or, where relearn
 * is installed as a dependency (npm never publishes package-lock.json), its package.json. NodejsFunction only
 * checks that the file exists and reads it to install `nodeModules`, which relearn's functions do not use; the
 * bundles (esbuild, every dependency bundled) are the same either way.
 */
export const DEPS_LOCK_FILE = fs.existsSync(path.join(PACKAGE_ROOT, 'package-lock.json'))
  ? path.join(PACKAGE_ROOT, 'package-lock.json')
  : path.join(PACKAGE_ROOT, 'package.json');
