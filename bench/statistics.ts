/**
 * Statistics benchmark (issue 5): on a generated CSV with 20 columns (numeric with nulls, categoricals,
 * free text), measured in the same run:
 *   - relearn's single-pass statistics (lambdas/shared/stats): MB/s on one core and peak RSS;
 *   - pandas (Debian's /usr/bin/python3) read_csv + describe(include='all') + null counts, whole and chunked;
 *   - a plain read of the file in Node (the ceiling).
 * Each measurement runs in its own process (so peak RSS is its own); medians of --repeat runs.
 *
 *   npx tsx bench/statistics.ts                 # ~1 GB file under /tmp/relearn-bench (generated once, then reused)
 *   npx tsx bench/statistics.ts --size 100      # 100 MB, for a quick check
 *   npx tsx bench/statistics.ts --size 100 --repeat 1 --skip-pandas-whole
 * Options: --repeat N (default 3) runs of each case, --whole-repeat N (default 1) runs of pandas on the whole
 * file, --dir D. MB = 10^6 bytes. "per CPU-s" divides by the process's user+system CPU time: the per-core rate,
 * which stays meaningful when other work shares the machine; wall-clock rates are printed too.
 */
import { buildSync } from 'esbuild';
import { createReadStream, createWriteStream, existsSync, mkdirSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { statsOfCsv } from '../lambdas/shared/stats/engine';
import { planFor } from '../lambdas/shared/stats/schema';
import { openTable, Value } from '../lambdas/shared/tabular';
import { Readable } from 'node:stream';
import { mulberry32 as rng } from '../lambdas/shared/random';
import { arg, median, runJson } from './measure';

const PYTHON = process.env.RELEARN_PYTHON ?? '/usr/bin/python3';
const MB = 1_000_000; // throughput and sizes in decimal MB
const CHUNK = 1 << 20;


const WORDS = 'the quick brown fox jumps over lazy dog customer said service was great terrible slow fast price plan upgrade cancel support call email billing issue resolved thanks again never'.split(' ');
const PLANS = ['basic', 'pro', 'enterprise', 'trial'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'ES', 'IT', 'NL', 'PL', 'SE', 'JP', 'BR', 'IN'];
const CHANNELS = ['web', 'app', 'store', 'phone', 'partner'];

export const BENCH_COLUMNS = [
  'customer_id', 'age', 'tenure_months', 'monthly_charges', 'total_charges', 'support_calls', 'data_gb', 'discount', 'score', 'latitude',
  'plan', 'country', 'channel', 'city', 'device', 'segment', 'comment', 'last_ticket', 'notes', 'churned',
];

async function generate(file: string, bytes: number): Promise<void> {
  const r = rng(42);
  const out = createWriteStream(file, { highWaterMark: 4 * MB });
  const text = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += (i ? ' ' : '') + WORDS[(r() * WORDS.length) | 0];
    return s;
  };
  const num = (x: number, digits: number, nullShare: number) => (r() < nullShare ? '' : x.toFixed(digits));
  let written = 0;
  let id = 0;
  let buf = BENCH_COLUMNS.join(',') + '\n';
  while (written < bytes) {
    const lines: string[] = [];
    for (let k = 0; k < 2000; k++) {
      const comment = text(3 + ((r() * 12) | 0));
      const quoted = r() < 0.1 ? `"${comment}, and ""more"""` : comment;
      lines.push([
        `c${id++}`,
        num(18 + r() * 60, 0, 0.02),
        num(r() * 72, 0, 0),
        num(20 + r() * 100, 2, 0.05),
        num(r() * 8000, 2, 0.05),
        num(Math.floor(-Math.log(1 - r()) * 2), 0, 0.01),
        num(r() * r() * 200, 3, 0.1),
        num(r() < 0.7 ? 0 : r() * 0.5, 2, 0),
        num((r() + r() + r() - 1.5) * 100, 4, 0.03),
        num(-90 + r() * 180, 6, 0),
        PLANS[(r() * PLANS.length) | 0],
        COUNTRIES[(r() * COUNTRIES.length) | 0],
        CHANNELS[(r() * CHANNELS.length) | 0],
        `city_${(r() * 500) | 0}`,
        r() < 0.5 ? 'android' : r() < 0.8 ? 'ios' : '',
        `seg${(r() * 8) | 0}`,
        quoted,
        r() < 0.3 ? '' : text(2 + ((r() * 5) | 0)),
        r() < 0.05 ? '""' : text(5 + ((r() * 20) | 0)),
        r() < 0.27 ? '1' : '0',
      ].join(','));
    }
    buf += lines.join('\n') + '\n';
    written += Buffer.byteLength(buf);
    if (!out.write(buf)) await once(out, 'drain');
    buf = '';
  }
  out.end();
  await once(out, 'finish');
}

async function sample(file: string): Promise<{ columns: string[]; rows: Value[][] }> {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(CHUNK);
  const n = readSync(fd, head, 0, CHUNK, 0);
  closeSync(fd);
  const text = head.subarray(0, head.lastIndexOf(10, n - 1) + 1);
  const table = await openTable(Readable.from([text]), { format: 'csv', file });
  const rows: Value[][] = [];
  for await (const r of table.rows) rows.push(r.values);
  return { columns: table.columns, rows };
}

/** Worker: one measurement in this process; prints JSON { seconds, maxRssMb, ... }. */
async function worker(kind: string, file: string): Promise<void> {
  const started = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let extra: Record<string, unknown> = {};
  if (kind === 'node-read') {
    let bytes = 0;
    for await (const chunk of createReadStream(file, { highWaterMark: CHUNK })) bytes += (chunk as Buffer).length;
    extra = { bytes };
  } else if (kind === 'relearn') {
    const s = await sample(file);
    const plan = planFor(s.columns, s.rows, { labelColumn: 'churned' });
    const stats = await statsOfCsv(createReadStream(file, { highWaterMark: CHUNK }), plan, { file });
    const age = stats.column('age')!;
    extra = { rows: stats.rows, ageMean: age.moments!.mean, ageMissing: age.missing, kinds: plan.columns.map((c) => c.kind[0]).join('') };
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(JSON.stringify({ seconds, cpuSeconds, maxRssMb: (process.resourceUsage().maxRSS * 1024) / MB, ...extra }) + '\n');
}

const PANDAS = `
import sys, time, resource, json
import pandas as pd
path, mode = sys.argv[1], sys.argv[2]
t = time.perf_counter(); c = time.process_time()
if mode == 'whole':
    df = pd.read_csv(path)
    d = df.describe(include='all'); nulls = df.isna().sum(); rows = len(df)
else:
    rows = 0; nulls = None; parts = []
    for chunk in pd.read_csv(path, chunksize=100000):
        rows += len(chunk)
        parts.append(chunk.describe(include='all'))
        n = chunk.isna().sum(); nulls = n if nulls is None else nulls + n
s = time.perf_counter() - t; cs = time.process_time() - c
print(json.dumps({"seconds": s, "cpuSeconds": cs, "maxRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, "rows": rows, "ageMissing": int(nulls['age'])}))
`;

const run = (cmd: string, args: string[]) => runJson(cmd, args);


async function main(): Promise<void> {
  if (process.argv[2] === '--worker') return worker(process.argv[3], process.argv[4]);
  const sizeMb = Number(arg('size', '1024'));
  const repeat = Number(arg('repeat', '3'));
  // pandas on the whole file takes minutes and ~4 GB per run: once unless asked.
  const wholeRepeat = Number(arg('whole-repeat', '1'));
  const dir = arg('dir', '/tmp/relearn-bench')!;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${sizeMb}MB.csv`);
  if (!existsSync(file)) {
    const t = Date.now();
    await generate(file, sizeMb * MB);
    console.log(`generated ${file} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const fileMb = statSync(file).size / MB;
  console.log(`file: ${file}, ${fileMb.toFixed(0)} MB, ${BENCH_COLUMNS.length} columns; ${repeat} run(s) each, medians`);
  // Workers run an esbuild bundle of this file, as a Lambda runs its bundle (no TypeScript loader in memory).
  const bundle = join(dir, 'statistics-worker.js');
  buildSync({ entryPoints: [__filename], bundle: true, platform: 'node', target: 'node20', outfile: bundle, logLevel: 'error' });
  const self = [bundle, '--worker'];
  const cases: [string, number, () => Record<string, number>][] = [
    ['node read (ceiling)', repeat, () => run(process.execPath, [...self, 'node-read', file])],
    ['relearn stats', repeat, () => run(process.execPath, [...self, 'relearn', file])],
    ['pandas chunked', repeat, () => run(PYTHON, ['-c', PANDAS, file, 'chunked'])],
  ];
  if (!process.argv.includes('--skip-pandas-whole')) cases.push(['pandas whole', wholeRepeat, () => run(PYTHON, ['-c', PANDAS, file, 'whole'])]);
  const results: Record<string, { wall: number; cpu: number; rss: number }> = {};
  console.log(`${'case'.padEnd(22)} ${'runs'.padStart(4)} ${'MB/s wall'.padStart(10)} ${'MB/s per CPU-s'.padStart(15)} ${'peak RSS MB'.padStart(12)}`);
  for (const [name, times, fn] of cases) {
    const runs = Array.from({ length: times }, fn);
    const wall = median(runs.map((r) => fileMb / r.seconds));
    const cpu = median(runs.map((r) => fileMb / r.cpuSeconds));
    const rss = median(runs.map((r) => r.maxRssMb));
    results[name] = { wall, cpu, rss };
    console.log(`${name.padEnd(22)} ${String(times).padStart(4)} ${wall.toFixed(1).padStart(10)} ${cpu.toFixed(1).padStart(15)} ${rss.toFixed(0).padStart(12)}   ${JSON.stringify(runs[0])}`);
  }
  const ratio = (a: string, b: string, k: 'wall' | 'cpu') => (results[a] && results[b] ? (results[a][k] / results[b][k]).toFixed(2) : 'n/a');
  for (const k of ['wall', 'cpu'] as const) {
    console.log(`ratios (${k}): relearn / pandas chunked = ${ratio('relearn stats', 'pandas chunked', k)}, relearn / pandas whole = ${ratio('relearn stats', 'pandas whole', k)}, relearn / node read ceiling = ${ratio('relearn stats', 'node read (ceiling)', k)}`);
  }
  console.log(`load average at the end: ${require('node:os').loadavg().map((x: number) => x.toFixed(1)).join(' ')} on ${require('node:os').cpus().length} cores`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
