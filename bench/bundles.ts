/**
 * Each stage Lambda's bundle, as `cdk synth` builds it: minified size, and the time to load it in a fresh
 * Node process (median of N runs). The bundles come from a real synth of the reference app into a temp
 * folder, found through the template's `aws:asset:path` metadata (never the cdk.out folder listing).
 *
 *   npx tsx bench/bundles.ts [--runs 7] [--config relearn.config.json]
 *
 * Aim (issue 2): every handler under 500 KB and under 150 ms to load.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildRelearnApp } from '../lib/app';
import { loadConfigFile } from '../lib/config-file';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const runs = Number(opt('runs', '7'));
const configFile = path.resolve(opt('config', 'relearn.config.json'));

const SIZE_AIM = 500 * 1024;
const LOAD_AIM_MS = 150;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Loads the bundle in a fresh process and reports how long `require` took (module evaluation included). */
function loadMs(file: string): number {
  const script = `const t=process.hrtime.bigint();const m=require(${JSON.stringify(file)});if(typeof m.handler!=='function')throw new Error('no handler');process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6));`;
  return Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', AWS_REGION: 'us-east-1' } }));
}

function main(): void {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'relearn-bench-'));
  try {
    // Asset metadata is on under the CDK CLI; in process it must be asked for.
    const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
    const { pipeline } = buildRelearnApp(app, loadConfigFile(configFile), { appRoot: path.dirname(configFile), nag: false });
    const assembly = app.synth();
    const template = assembly.getStackArtifact(pipeline.artifactId).template as {
      Resources: Record<string, { Type: string; Metadata?: Record<string, string> }>;
    };
    const fns: { fn: string; file: string; dir: string; times: number[] }[] = [];
    for (const [id, r] of Object.entries(template.Resources)) {
      if (r.Type !== 'AWS::Lambda::Function' || !r.Metadata?.['aws:asset:path']) continue;
      const dir = path.join(outdir, r.Metadata['aws:asset:path']);
      fns.push({ fn: id.replace(/^Pipeline/, '').replace(/[0-9A-F]{8}$/, ''), dir, file: path.join(dir, 'index.js'), times: [] });
    }
    // Round-robin (one load of each function per round), so that a burst of load from other processes on the
    // machine spreads over all functions instead of landing on the few measured at that moment.
    for (let i = 0; i < runs; i++) for (const f of fns) f.times.push(loadMs(f.file));
    const rows = fns.map((f) => ({
      fn: f.fn,
      kb: fs.statSync(f.file).size / 1024,
      ms: median(f.times),
      min: Math.min(...f.times),
      max: Math.max(...f.times),
      maps: fs.readdirSync(f.dir).some((x) => x.endsWith('.map')),
    }));
    console.log(`node ${process.version}, ${os.cpus().length} cpus, median of ${runs} fresh-process loads; aim < ${SIZE_AIM} bytes (500 KiB) and < ${LOAD_AIM_MS} ms\n`);
    console.log('function            size (KiB)   load (ms)   min-max (ms)   aim');
    for (const r of rows) {
      const ok = r.kb * 1024 < SIZE_AIM && r.ms < LOAD_AIM_MS;
      const spread = `${r.min.toFixed(0)}-${r.max.toFixed(0)}`;
      console.log(
        `${r.fn.padEnd(18)} ${r.kb.toFixed(1).padStart(10)} ${r.ms.toFixed(1).padStart(11)} ${spread.padStart(14)}   ${ok ? 'ok' : 'MISSED'}${r.maps ? ' (source map present!)' : ''}`,
      );
    }
    if (rows.length === 0) throw new Error('no Lambda function with aws:asset:path metadata in the pipeline template');
    const worst = rows.reduce((a, b) => (b.kb > a.kb ? b : a));
    const slowest = rows.reduce((a, b) => (b.ms > a.ms ? b : a));
    console.log(`\nlargest ${worst.fn} ${worst.kb.toFixed(1)} KiB; slowest ${slowest.fn} ${slowest.ms.toFixed(1)} ms`);
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

main();
