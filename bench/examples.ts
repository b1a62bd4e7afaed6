/**
 * `relearn local run` on each bundled example (issue 9): wall time and peak memory of a whole first run (synth,
 * services, ingest, validation, a real training job, evaluation, deploy, serving check), as a user runs it:
 * `node bin/relearn.js local run --config <example config> --data <its clean day>` in a fresh folder.
 * The churn example (binary) is the baseline of the same run: the others are reported as ratios to it.
 *
 *   npx tsx bench/examples.ts [--runs 1]
 *
 * Peak memory is GNU time's maximum resident set size over the process and its children (the largest one: the
 * Node process, or a training or serving Python process). Medians over --runs; the examples alternate.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { arg, median } from './measure';

const ROOT = resolve(__dirname, '..');
const EXAMPLES = [
  { name: 'churn (binary)', config: join(ROOT, 'relearn.config.json'), data: join(ROOT, 'examples', 'churn', 'data', 'churn-clean.csv') },
  { name: 'support-tickets (3 classes)', config: join(ROOT, 'examples', 'support-tickets', 'relearn.config.json'), data: join(ROOT, 'examples', 'support-tickets', 'data', 'tickets-clean.csv') },
  { name: 'delivery-times (regression)', config: join(ROOT, 'examples', 'delivery-times', 'relearn.config.json'), data: join(ROOT, 'examples', 'delivery-times', 'data', 'deliveries-clean.csv') },
];

function once(example: (typeof EXAMPLES)[number]): { seconds: number; peakMb: number; synthSeconds: number; trainingSeconds: number } {
  const dir = mkdtempSync(join(tmpdir(), 'relearn-bench-example-'));
  try {
    const r = spawnSync('/usr/bin/time', ['-f', 'RELEARN_TIME %e %M', process.execPath, join(ROOT, 'bin', 'relearn.js'), 'local', 'run', '--config', example.config, '--data', example.data, '--json'], {
      cwd: dir,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    const time = /RELEARN_TIME ([\d.]+) (\d+)/.exec(r.stderr);
    const json = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { status?: string; timings?: Record<string, number>; states?: { name: string; durationMs: number }[] };
    if (r.status !== 0 || !time || json.status !== 'SUCCEEDED') throw new Error(`${example.name}: exit ${r.status}, ${json.status}\n${r.stderr.slice(-2000)}`);
    const training = (json.states ?? []).filter((s) => s.name === 'WaitForTraining' || s.name === 'CheckTraining').reduce((a, s) => a + s.durationMs, 0);
    return { seconds: Number(time[1]), peakMb: Number(time[2]) / 1024, synthSeconds: (json.timings?.synthMs ?? NaN) / 1000, trainingSeconds: training / 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const runs = Number(arg('runs', '1'));
  const results = new Map<string, ReturnType<typeof once>[]>();
  for (let i = 0; i < runs; i++) {
    for (const e of EXAMPLES) {
      const r = once(e);
      process.stderr.write(`  ${e.name}: ${JSON.stringify(r)}\n`);
      results.set(e.name, [...(results.get(e.name) ?? []), r]);
    }
  }
  const m = (name: string, f: keyof ReturnType<typeof once>) => median(results.get(name)!.map((r) => r[f]));
  const base = EXAMPLES[0].name;
  process.stdout.write(`relearn local run, first run in a fresh folder, medians of ${runs} (load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores):\n`);
  for (const e of EXAMPLES) {
    process.stdout.write(
      `  ${e.name.padEnd(28)} ${m(e.name, 'seconds').toFixed(1).padStart(6)} s (synth ${m(e.name, 'synthSeconds').toFixed(1)} s)  peak ${m(e.name, 'peakMb').toFixed(0).padStart(5)} MiB` +
        `  | x${(m(e.name, 'seconds') / m(base, 'seconds')).toFixed(2)} time, x${(m(e.name, 'peakMb') / m(base, 'peakMb')).toFixed(2)} memory vs churn\n`,
    );
  }
}

main();
