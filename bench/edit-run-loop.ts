/**
 * The edit-run loop (issue 9): after a change to the config only, how soon does `relearn local run` start its
 * execution? Against the baseline of the same run: a cold synth (a fresh project folder, every Lambda bundled).
 *
 *   npx tsx bench/edit-run-loop.ts [--runs 3]
 *
 * Every figure comes from real `node bin/relearn.js local run` processes (a fresh node each time, as a user runs
 * it): the synth time the CLI prints, and the wall time from the process start to the line `execution <name>` (the
 * execution has started: synth, local services, provisioning and upload are behind it). Each run is then stopped
 * with SIGINT (the interrupt path: exit 130). The first run is in a fresh folder (cold); each later one changes one
 * hyperparameter in the config first (re-synth, the Lambda bundles reused). Medians over --runs config changes.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const i = process.argv.indexOf('--runs');
const runs = i >= 0 ? Number(process.argv[i + 1]) : 3;

interface Timing {
  /** Process start to the first line (node, the re-run with --openssl-legacy-provider, tsx, config and data checks). */
  startupMs: number;
  synthMs: number;
  /** services + provision + upload, as the CLI prints them: from the synth's end to the execution's start. */
  afterSynthMs: number;
  toExecutionMs: number;
  bundlesReused: number;
  code: number | null;
}

const step = (out: string, name: string): number => {
  const m = new RegExp(`^ {2}${name}\\s+([\\d.]+) (ms|s)`, 'm').exec(out);
  if (!m) throw new Error(`no ${name} line in:\n${out}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
};

function run(project: string): Promise<Timing> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'relearn.js'), 'local', 'run', '--config', 'relearn.config.json', '--data', 'day.csv'], {
      cwd: project,
      env: { ...process.env, NODE_OPTIONS: '' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let toExecutionMs: number | undefined;
    let startupMs: number | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      startupMs ??= performance.now() - started;
      if (toExecutionMs === undefined && /^execution \S+/m.test(out)) {
        toExecutionMs = performance.now() - started;
        process.kill(-child.pid!, 'SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      const synth = /^ {2}synth\s+([\d.]+) (ms|s)\s+\S+(?: \((\d+) Lambda bundles reused\))?/m.exec(out);
      if (!synth || toExecutionMs === undefined) return reject(new Error(`no synth or execution line (exit ${code}):\n${out}`));
      resolvePromise({
        startupMs: startupMs ?? 0,
        synthMs: Number(synth[1]) * (synth[2] === 's' ? 1000 : 1),
        afterSynthMs: step(out, 'services') + step(out, 'provision') + step(out, 'upload'),
        toExecutionMs,
        bundlesReused: Number(synth[3] ?? 0),
        code,
      });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const project = mkdtempSync(join(tmpdir(), 'relearn-bench-loop-'));
  try {
    cpSync(join(ROOT, 'examples', 'churn', 'data', 'churn-clean.csv'), join(project, 'day.csv'));
    const config = (c: number) =>
      writeFileSync(join(project, 'relearn.config.json'), JSON.stringify({ dataset: { labelColumn: 'churned', idColumn: 'customer_id' }, training: { hyperparameters: { C: c } } }));
    const load = loadavg()[0];
    config(1);
    const cold = await run(project);
    const warm: Timing[] = [];
    for (let r = 0; r < runs; r++) {
      config(2 + r); // a config-only change: the assembly is synthesized again
      warm.push(await run(project));
    }
    const synth = median(warm.map((w) => w.synthMs));
    const toExec = median(warm.map((w) => w.toExecutionMs));
    console.log(`relearn local run, the edit-run loop (node ${process.version}, ${cpus().length} cpus, load average ${load.toFixed(1)} -> ${loadavg()[0].toFixed(1)})`);
    console.log(`  cold (fresh folder)        synth ${s(cold.synthMs)}, execution started after ${s(cold.toExecutionMs)}`);
    console.log(`  config-only change         synth ${s(synth)} (median of ${runs}; ${warm.map((w) => s(w.synthMs)).join(', ')}), execution started after ${s(toExec)} (${warm.map((w) => s(w.toExecutionMs)).join(', ')})`);
    console.log(`  bundles reused             ${warm.map((w) => w.bundlesReused).join(', ')} (every Lambda bundle of the app)`);
    console.log(`  re-synth vs cold synth     ${(cold.synthMs / synth).toFixed(1)}x faster`);
    console.log(`  start-up before the synth  ${s(median(warm.map((w) => w.startupMs)))} (node, its re-run with --openssl-legacy-provider, tsx, checks)`);
    console.log(`  synth end -> execution     ${s(median(warm.map((w) => w.afterSynthMs)))} (services, provisioning, upload; ${warm.map((w) => s(w.afterSynthMs)).join(', ')})`);
    console.log(`  interrupted runs exited    ${[cold, ...warm].map((w) => w.code).join(', ')} (SIGINT at the execution's start)`);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
