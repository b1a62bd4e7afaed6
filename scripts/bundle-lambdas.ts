/**
 * The second half of `npm run build` (after tsc): bundles every Lambda handler of relearn (`lambdas/<name>/handler.ts`)
 * with esbuild into `dist/lambda-bundles/<name>/index.js`, with the options NodejsFunction uses at synth
 * (STAGE_BUNDLING, run from the same folder), so a consumer's app deploys exactly these files (lib/constructs/
 * relearn-function.ts) and runs no bundler. Prints one line per bundle; exits non-zero on any esbuild error.
 */
import { readdirSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildSync } from 'esbuild';
import { LAMBDA_BUNDLES_DIR, STAGE_BUNDLING } from '../lib/constructs/relearn-function';
import { PACKAGE_ROOT } from '../lib/package-root';

/** Every handler folder: `lambdas/<name>/handler.ts` (`lambdas/shared/` is code the handlers share, not a handler). */
export function handlerNames(root = PACKAGE_ROOT): string[] {
  const lambdas = join(root, 'lambdas');
  return readdirSync(lambdas)
    .filter((name) => name !== 'shared' && existsSync(join(lambdas, name, 'handler.ts')))
    .sort();
}

function main(): void {
  const started = performance.now();
  rmSync(LAMBDA_BUNDLES_DIR, { recursive: true, force: true });
  let total = 0;
  for (const name of handlerNames()) {
    const outfile = join(LAMBDA_BUNDLES_DIR, name, 'index.js');
    mkdirSync(join(LAMBDA_BUNDLES_DIR, name), { recursive: true });
    // The arguments NodejsFunction passes to esbuild (its cwd is the project root, the entry relative to it).
    buildSync({
      absWorkingDir: PACKAGE_ROOT,
      entryPoints: [relative(PACKAGE_ROOT, join(PACKAGE_ROOT, 'lambdas', name, 'handler.ts'))],
      bundle: true,
      target: STAGE_BUNDLING.target,
      platform: 'node',
      outfile,
      minify: STAGE_BUNDLING.minify,
      sourcemap: STAGE_BUNDLING.sourceMap,
      external: [...STAGE_BUNDLING.externalModules],
      logLevel: STAGE_BUNDLING.logLevel,
      mainFields: [...STAGE_BUNDLING.mainFields],
    });
    const size = statSync(outfile).size;
    total += size;
    console.log(`  ${relative(PACKAGE_ROOT, outfile).padEnd(48)} ${(size / 1024).toFixed(0).padStart(5)} KiB`);
  }
  // The build's end: tests rebuild only when a source is newer than this (test/helpers/consumer.ts ensureBuilt).
  writeFileSync(join(LAMBDA_BUNDLES_DIR, '..', '.build-stamp'), `${new Date().toISOString()}\n`);
  console.log(`relearn build: ${handlerNames().length} Lambda bundles, ${(total / 1024).toFixed(0)} KiB, ${Math.round(performance.now() - started)} ms`);
}

if (require.main === module) main();
