/**
 * `cdk synth` wall time, as a user runs it (`npx cdk synth --quiet`: the CLI, tsx, the app, 12 esbuild
 * bundles, cdk-nag), median of N runs into a fresh output folder each time.
 *
 *   npx tsx bench/synth.ts [--runs 3]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const i = process.argv.indexOf('--runs');
const runs = i >= 0 ? Number(process.argv[i + 1]) : 3;
const root = path.resolve(__dirname, '..');
const cdk = path.join(root, 'node_modules', '.bin', 'cdk');

const times: number[] = [];
for (let r = 0; r < runs; r++) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'relearn-synth-bench-'));
  const started = process.hrtime.bigint();
  execFileSync(cdk, ['synth', '--quiet', '--output', outdir], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  times.push(Number(process.hrtime.bigint() - started) / 1e9);
  fs.rmSync(outdir, { recursive: true, force: true });
}
const sorted = [...times].sort((a, b) => a - b);
console.log(`cdk synth --quiet: median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} s over ${runs} runs (${times.map((t) => t.toFixed(1)).join(', ')} s); node ${process.version}, ${os.cpus().length} cpus`);
