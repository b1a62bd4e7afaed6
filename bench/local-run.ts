/**
 * Wall time of `relearn local run` on the bundled example, split into synth, service start-up, provisioning,
 * upload, each state, and training: the training script's own time (SageMaker server: Training -> Uploading)
 * against the pipeline's overhead (everything else). Aim: overhead under 10 s.
 *
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx bench/local-run.ts [--keep]
 *
 * Runs once, from scratch (a fresh project folder, so the synth is a real one), and prints a table; the
 * numbers also go to bench/out/local-run.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLocal } from '../local/local-run';
import { findPython } from '../local/services/sagemaker';

async function main(): Promise<void> {
  const project = mkdtempSync(join(tmpdir(), 'relearn-bench-'));
  const wallStart = performance.now();
  const steps: Record<string, number> = {};
  try {
    const report = await runLocal({
      projectDir: project,
      fresh: true,
      python: findPython(),
      logLevel: 'SILENT',
      onStep: (s) => (steps[s.name] = s.ms),
    });
    const wallMs = performance.now() - wallStart;
    if (report.status !== 'SUCCEEDED') {
      throw new Error(`the run did not succeed: ${report.status} ${report.error?.Error ?? ''} ${report.error?.Cause ?? ''}`);
    }

    // Per state name: visits and total time (polling states are visited several times).
    const perState = new Map<string, { visits: number; ms: number; handlerMs?: number }>();
    for (const s of report.states) {
      if (s.mapIndex !== undefined) continue;
      const e = perState.get(s.name) ?? { visits: 0, ms: 0 };
      e.visits++;
      e.ms += s.durationMs ?? 0;
      perState.set(s.name, e);
    }
    for (const [name, ms] of Object.entries(report.timings.handlerMs)) {
      const e = perState.get(name);
      if (e) e.handlerMs = ms;
    }
    const waitMs = report.states.filter((s) => s.type === 'Wait').reduce((a, s) => a + (s.durationMs ?? 0), 0);
    const training = report.timings.trainingScriptMs ?? 0;
    const runMs = report.timings.servicesMs + report.timings.provisionMs + report.timings.uploadMs + report.timings.executionMs;
    const overheadMs = runMs - training;

    const f = (ms: number) => `${(ms / 1000).toFixed(2).padStart(7)} s`;
    const lines = [
      `relearn local run on examples/churn/data/churn-clean.csv (${report.executionName})`,
      '',
      `  synth (buildRelearnApp + esbuild, uncached) ${f(report.timings.synthMs)}`,
      `  service start-up (S3 + SageMaker)          ${f(report.timings.servicesMs)}`,
      `  provision (buckets, group, assets)         ${f(report.timings.provisionMs)}`,
      `  upload data                                ${f(report.timings.uploadMs)}`,
      `  execution                                  ${f(report.timings.executionMs)}`,
      '',
      '  state                   visits   wall time   in handler',
      ...[...perState.entries()].map(
        ([name, e]) => `  ${name.padEnd(22)} ${String(e.visits).padStart(6)}  ${f(e.ms)}  ${e.handlerMs !== undefined ? f(e.handlerMs) : ''}`,
      ),
      '',
      `  training script (Training -> Uploading)    ${f(training)}`,
      `  of which Wait states (max 1 s each)        ${f(waitMs)}`,
      `  pipeline overhead = start-up + provision + upload + execution - training script: ${f(overheadMs)} (aim < 10 s)`,
      `  total wall time, synth included            ${f(wallMs)}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    mkdirSync(join(__dirname, 'out'), { recursive: true });
    writeFileSync(
      join(__dirname, 'out', 'local-run.json'),
      JSON.stringify(
        { executionName: report.executionName, wallMs, timings: report.timings, steps, perState: Object.fromEntries(perState), waitMs, trainingScriptMs: training, overheadMs },
        null,
        2,
      ),
    );
  } finally {
    if (!process.argv.includes('--keep')) rmSync(project, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
