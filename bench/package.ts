/**
 * relearn as a package (issue 14), in one run: the tarball's size, the install time into a fresh CDK app, and that
 * app's `cdk synth` against the repository's own, medians of N synths each into a fresh folder:
 *
 * - consumer: examples/team-app with the tarball installed (TypeScript through ts-node, two pipelines, cdk-nag), its
 *   Lambda code relearn's pre-built bundles (what an install always uses: the handlers' sources are not shipped);
 * - repo, source: this repository's `cdk synth` (tsx, one pipeline, cdk-nag), esbuild bundling every handler at synth;
 * - repo, prebuilt: the same with `-c relearn:lambdaCode=prebuilt` (dist/lambda-bundles, as a consumer gets them):
 *   the cost of bundling at synth, the reason relearn ships pre-built bundles.
 *
 *   npx tsx bench/package.ts [--runs 3]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cdkSynth, consumerEnv, copyApp, npmInstall, packRelearn, REPO_ROOT } from '../test/helpers/consumer';

const i = process.argv.indexOf('--runs');
const runs = i >= 0 ? Number(process.argv[i + 1]) : 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'relearn-package-bench-'));
try {
  const packed = packRelearn(work, { force: true });
  console.log(`package: packed ${(packed.size / 1024 / 1024).toFixed(2)} MiB, unpacked ${(packed.unpackedSize / 1024 / 1024).toFixed(2)} MiB, ${packed.files.length} files; npm run build ${s(packed.buildMs)}`);

  const app = path.join(work, 'team-app');
  copyApp(path.join(REPO_ROOT, 'examples', 'team-app'), app);
  const installMs = npmInstall(app, [packed.tarball]);
  console.log(`install: npm install --prefer-offline of examples/team-app + the tarball into a fresh folder: ${s(installMs)}`);

  const repoSynth = (extra: string[]): number => {
    const outdir = fs.mkdtempSync(path.join(work, 'repo-synth-'));
    const started = performance.now();
    execFileSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'cdk'), ['synth', '--quiet', '--no-notices', '--output', outdir, ...extra], {
      cwd: REPO_ROOT,
      env: consumerEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const ms = performance.now() - started;
    fs.rmSync(outdir, { recursive: true, force: true });
    return ms;
  };
  const consumer: number[] = [];
  const source: number[] = [];
  const prebuilt: number[] = [];
  // interleaved, so that a busy moment of the machine weighs on every variant alike
  for (let r = 0; r < runs; r++) {
    fs.rmSync(path.join(app, 'cdk.out'), { recursive: true, force: true });
    const c = cdkSynth(app);
    if (c.code !== 0) throw new Error(`consumer synth failed:\n${c.output}`);
    consumer.push(c.ms);
    source.push(repoSynth([]));
    prebuilt.push(repoSynth(['-c', 'relearn:lambdaCode=prebuilt']));
  }
  const list = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(1)).join(', ');
  console.log(`cdk synth, median of ${runs} (node ${process.version}, ${os.cpus().length} cpus, load ${os.loadavg()[0].toFixed(1)}):`);
  console.log(`  consumer (team-app, ts-node, 2 pipelines, pre-built bundles): ${s(median(consumer))}  [${list(consumer)}]`);
  console.log(`  repo (tsx, 1 pipeline, esbuild at synth):                     ${s(median(source))}  [${list(source)}]`);
  console.log(`  repo (tsx, 1 pipeline, pre-built bundles):                    ${s(median(prebuilt))}  [${list(prebuilt)}]`);
  console.log(`  ratios: consumer / repo-source ${(median(consumer) / median(source)).toFixed(2)}, repo prebuilt / repo source ${(median(prebuilt) / median(source)).toFixed(2)}`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
