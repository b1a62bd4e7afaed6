/**
 * Monitor benchmark (issue 12): the statistics of 1 million captured records (SageMaker data-capture JSON Lines, one
 * request row and one prediction per record, as a real-time endpoint mostly sees them), against the validation engine
 * on the same rows as one CSV file, in the same run. Each measurement runs in its own process (peak RSS is its own),
 * from an esbuild bundle of this file (as a Lambda runs its bundle); medians of --repeat runs.
 *
 *   npx tsx bench/monitor.ts                    # 1,000,000 records, generated once under /tmp/relearn-bench/monitor-<n>
 *   npx tsx bench/monitor.ts --records 100000 --repeat 1
 *
 * What is timed: reading the files from local disk and computing the statistics (the monitor: parse each capture line,
 * decode the request and the response, feed the feature and prediction tables; validation: statsOfCsv). Not timed:
 * S3 transfer, planning, the comparison (milliseconds on merged sketches). One process is one shard; the state
 * machine runs up to 10 shards at once, each in its own Lambda.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buildSync } from 'esbuild';
import { captureRecord } from '../lambdas/monitor/capture';
import { MonitorPlan, predictionPlan, WindowStatsBuilder } from '../lambdas/monitor/window-stats';
import { planFor, statsOfCsv, StatsPlan } from '../lambdas/shared/stats';
import { openTable, Value, writeCsvRow } from '../lambdas/shared/tabular';

const MB = 1_000_000;
const RECORDS_PER_FILE = 1000;
const START = Date.UTC(2026, 10, 29, 0, 0, 0);

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** The same rows twice: features.csv (the label dropped) and capture/*.jsonl, one record per row. */
async function generate(dir: string, records: number): Promise<void> {
  mkdirSync(join(dir, 'capture'), { recursive: true });
  // Imported here only: the generator runs its own CLI when it is the main module, which a bundle of this file is.
  const { generateChurn } = await import('../examples/churn/generate');
  const table = await openTable(generateChurn({ rows: records, seed: 12, chunkRows: 5000 }), { format: 'csv', file: 'generated' });
  const keep = table.columns.map((c, i) => ({ c, i })).filter((x) => x.c !== 'churned');
  const csv = createWriteStream(join(dir, 'features.csv'));
  csv.write(writeCsvRow(keep.map((k) => k.c)));
  let lines: string[] = [];
  let file = 0;
  let n = 0;
  const flush = () => {
    writeFileSync(join(dir, 'capture', `${String(file++).padStart(5, '0')}.jsonl`), lines.join('\n') + '\n');
    lines = [];
  };
  let csvBuf: string[] = [];
  for await (const { values } of table.rows) {
    const row = keep.map((k) => values[k.i]);
    csvBuf.push(writeCsvRow(row));
    if (csvBuf.length >= 5000) {
      if (!csv.write(csvBuf.join(''))) await once(csv, 'drain');
      csvBuf = [];
    }
    const obj = Object.fromEntries(keep.map((k, j) => [k.c, row[j] !== null && /^-?\d+(\.\d+)?$/.test(row[j]!) ? Number(row[j]) : row[j]]));
    const score = ((n * 2654435761) % 1000) / 1000;
    lines.push(
      JSON.stringify(
        captureRecord({
          input: { body: Buffer.from(JSON.stringify(obj)), contentType: 'application/json' },
          output: { body: Buffer.from(JSON.stringify({ predictions: [score] })), contentType: 'application/json' },
          time: new Date(START + n * 50),
          eventId: `e${n}`,
        }),
      ),
    );
    n++;
    if (lines.length >= RECORDS_PER_FILE) flush();
  }
  if (lines.length) flush();
  csv.end(csvBuf.join(''));
  await once(csv, 'finish');
}

/** The validation's plan of the features file (its first 2,000 rows), shared by both cases. */
async function featurePlan(dir: string): Promise<StatsPlan> {
  // The first 1 MB, cut at its last line end (as ComputeStatistics samples a part).
  const head = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    createReadStream(join(dir, 'features.csv'), { end: (1 << 20) - 1 }).on('data', (c) => chunks.push(c as Buffer)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
  });
  const t = await openTable(Readable.from([head.subarray(0, head.lastIndexOf(10) + 1)]), { format: 'csv', file: 'features.csv' });
  const rows: Value[][] = [];
  for await (const r of t.rows) rows.push(r.values);
  return planFor(t.columns, rows.slice(0, 2000), undefined);
}

async function worker(kind: string, dir: string): Promise<void> {
  const plan = await featurePlan(dir);
  const started = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let extra: Record<string, unknown>;
  if (kind === 'monitor') {
    const monitorPlan: MonitorPlan = {
      features: plan,
      predictions: predictionPlan('binary_classification'),
      problemType: 'binary_classification',
      threshold: 0.5,
      ignore: ['churned'],
      start: new Date(START).toISOString(),
      end: new Date(START + 365 * 86400000).toISOString(),
    };
    const b = new WindowStatsBuilder(monitorPlan);
    for (const f of readdirSync(join(dir, 'capture')).sort()) await b.addFile(createReadStream(join(dir, 'capture', f), { highWaterMark: 1 << 20 }), f);
    const out = b.finish();
    extra = { records: out.counts.records, rows: out.counts.rows, predictions: out.counts.predictions, unreadable: out.counts.unreadableRequests };
  } else {
    const stats = await statsOfCsv(createReadStream(join(dir, 'features.csv'), { highWaterMark: 1 << 20 }), plan, { file: 'features.csv' });
    extra = { rows: stats.rows };
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssMb: (process.resourceUsage().maxRSS * 1024) / MB, ...extra }) + '\n');
}

function run(args: string[]): Record<string, number> {
  const res = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 16 * MB });
  if (res.status !== 0) throw new Error(`${args.join(' ')} failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').pop()!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dirBytes = (d: string) => readdirSync(d).reduce((s, f) => s + statSync(join(d, f)).size, 0);

async function main(): Promise<void> {
  if (process.argv[2] === '--worker') return worker(process.argv[3], process.argv[4]);
  const records = Number(arg('records', '1000000'));
  const repeat = Number(arg('repeat', '3'));
  const dir = join(arg('dir', '/tmp/relearn-bench'), `monitor-${records}`);
  if (!existsSync(join(dir, 'features.csv'))) {
    const t = Date.now();
    await generate(dir, records);
    console.log(`generated ${records.toLocaleString('en-US')} records in ${dir} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const captureMb = dirBytes(join(dir, 'capture')) / MB;
  const csvMb = statSync(join(dir, 'features.csv')).size / MB;
  console.log(`capture: ${readdirSync(join(dir, 'capture')).length} files, ${captureMb.toFixed(0)} MB of JSON Lines; the same rows as CSV: ${csvMb.toFixed(0)} MB; ${repeat} run(s) each, medians`);
  const bundle = join(dir, 'monitor-worker.js');
  buildSync({ entryPoints: [__filename], bundle: true, platform: 'node', target: 'node20', outfile: bundle, logLevel: 'error', mainFields: ['module', 'main'] });
  const results: Record<string, { seconds: number; cpu: number; rss: number }> = {};
  console.log(`${'case'.padEnd(34)} ${'s wall'.padStart(7)} ${'CPU s'.padStart(7)} ${'rows/s'.padStart(10)} ${'MB/s'.padStart(7)} ${'peak RSS MB'.padStart(12)}`);
  for (const [name, kind, mb] of [
    ['monitor (capture JSON Lines)', 'monitor', captureMb],
    ['validation engine (same rows, CSV)', 'validation', csvMb],
  ] as const) {
    const runs = Array.from({ length: repeat }, () => run([bundle, '--worker', kind, dir]));
    const seconds = median(runs.map((r) => r.seconds));
    const cpu = median(runs.map((r) => r.cpuSeconds));
    const rss = median(runs.map((r) => r.maxRssMb));
    results[kind] = { seconds, cpu, rss };
    console.log(`${name.padEnd(34)} ${seconds.toFixed(1).padStart(7)} ${cpu.toFixed(1).padStart(7)} ${Math.round(records / seconds).toLocaleString('en-US').padStart(10)} ${(mb / seconds).toFixed(1).padStart(7)} ${rss.toFixed(0).padStart(12)}   ${JSON.stringify(runs[0])}`);
  }
  const m = results.monitor;
  const v = results.validation;
  console.log(`ratios: monitor / validation time = ${(m.seconds / v.seconds).toFixed(2)} (wall), ${(m.cpu / v.cpu).toFixed(2)} (CPU); peak RSS ${(m.rss / v.rss).toFixed(2)}`);
  console.log(`load average at the end: ${require('node:os').loadavg().map((x: number) => x.toFixed(1)).join(' ')} on ${require('node:os').cpus().length} cores`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
