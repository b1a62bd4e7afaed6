/**
 * Ingest benchmark (issues 9 and 13): what the line maps and the stratified split cost on a large file, against a
 * baseline in the same run. Each case ingests the same generated CSV (20 columns, a 6-class label with a class of
 * 3 rows that the hash puts all in train, so that the stratified split must move a row) from a local S3 (s3rver)
 * into a dataset snapshot, in its own process (an esbuild bundle of this file, as a Lambda runs its bundle):
 *   - baseline:     hash split, no line maps (Ingest before issues 9/13);
 *   - line maps:    hash split, a line map per part (regression's Ingest now);
 *   - stratified:   stratified split + line maps (classification's Ingest now), one row moved between parts.
 * Then, in this process: decoding one part's line map (what each ShardStatistics does once) against computing
 * that part's statistics, and the statistics of a part with and without locating the offending rows.
 *
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx bench/ingest.ts               # 500 MB file under /tmp/relearn-bench
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx bench/ingest.ts --size 100 --repeat 1
 * Options: --size MB (default 500), --repeat N (default 3), --dir D. Medians; MB = 10^6 bytes. The local S3 runs
 * in the measured process (its CPU is counted; it is the same in every case).
 */
import { buildSync } from 'esbuild';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, createReadStream } from 'node:fs';
import { once } from 'node:events';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { Upload } from '@aws-sdk/lib-storage';
import { S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { ingest, splitPosition } from '../lambdas/ingest/core';
import { LineMap, LineMapJson, lineMapKey } from '../lambdas/ingest/line-map';
import { DatasetConfigSchema } from '../lambdas/shared/config';
import { getBuffer, getJson } from '../lambdas/shared/s3';
import { planFor, statsOfCsv } from '../lambdas/shared/stats';
import { openTable, Value } from '../lambdas/shared/tabular';
import { mulberry32 as rng } from '../lambdas/shared/random';
import { localS3Env, startLocalS3, LOCAL_S3_CREDENTIALS } from '../local/services/s3-server';
import { arg, median, runJson } from './measure';

const MB = 1_000_000;
const DATA = 'bench-data';
const ARTIFACTS = 'bench-artifacts';


const COLUMNS = ['id', 'age', 'tenure', 'monthly', 'total', 'calls', 'score', 'plan', 'country', 'channel', 'device', 'segment', 'comment', 'label'];
const WORDS = 'the quick brown fox jumps over lazy dog customer said service was great terrible slow fast price plan upgrade cancel support'.split(' ');
const LABELS: [string, number][] = [['a', 0.5], ['b', 0.3], ['c', 0.15], ['d', 0.0499], ['e', 0.0001]];

/** ~100 bytes a row; the label has 5 common-to-rare classes plus "rare3": 3 rows the hash puts in train. */
async function generate(file: string, bytes: number): Promise<void> {
  const r = rng(7);
  const out = createWriteStream(file, { highWaterMark: 4 * MB });
  const rare = Array.from({ length: 200 }, (_, i) => `rare-${i}`).filter((id) => splitPosition('relearn', id) >= 0.2).slice(0, 3);
  let written = 0;
  let id = 0;
  let buf = COLUMNS.join(',') + '\n';
  while (written < bytes) {
    const lines: string[] = [];
    for (let k = 0; k < 2000; k++) {
      const u = r();
      let acc = 0;
      const label = LABELS.find(([, p]) => (acc += p) > u)?.[0] ?? 'a';
      const text = Array.from({ length: 3 + ((r() * 6) | 0) }, () => WORDS[(r() * WORDS.length) | 0]).join(' ');
      lines.push([`c${id++}`, (18 + r() * 60) | 0, (r() * 72) | 0, (20 + r() * 100).toFixed(2), (r() * 8000).toFixed(2), (r() * 5) | 0, (r() * 100).toFixed(3),
        ['basic', 'pro', 'team'][(r() * 3) | 0], ['DE', 'FR', 'US', 'GB', 'JP'][(r() * 5) | 0], ['web', 'app', 'store'][(r() * 3) | 0], r() < 0.5 ? 'android' : 'ios',
        `seg${(r() * 8) | 0}`, r() < 0.1 ? `"${text}, and more"` : text, label].join(','));
    }
    if (written === 0) lines.splice(1000, 0, ...rare.map((rid, i) => `${rid},30,${i},50.00,100.00,1,1.000,pro,DE,web,ios,seg1,rare row,rare3`));
    buf += lines.join('\n') + '\n';
    written += Buffer.byteLength(buf);
    if (!out.write(buf)) await once(out, 'drain');
    buf = '';
  }
  out.end();
  await once(out, 'finish');
}

/** Worker: one Ingest of `file` into a fresh local S3; prints JSON { seconds, cpuSeconds, ... }. */
async function worker(kind: string, file: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'relearn-bench-s3-'));
  const s3srv = await startLocalS3({ directory: dir, buckets: [DATA, ARTIFACTS] });
  Object.assign(process.env, localS3Env(s3srv.endpoint));
  const s3 = new S3Client({ endpoint: s3srv.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: LOCAL_S3_CREDENTIALS });
  try {
    await new Upload({ client: s3, params: { Bucket: DATA, Key: 'incoming/bench.csv', Body: createReadStream(file) } }).done();
    const dataset = DatasetConfigSchema.parse({ idColumn: 'id', labelColumn: 'label' });
    const started = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    const ref = await ingest({ bucket: DATA, keys: ['incoming/bench.csv'] }, {
      s3,
      artifactsBucket: ARTIFACTS,
      dataset,
      problemType: kind === 'stratified' ? 'multiclass_classification' : 'regression',
      lineMaps: kind !== 'baseline',
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    let lineMapBytes = 0;
    for (const part of ref.parts) if (kind !== 'baseline') lineMapBytes += (await getBuffer(s3, ARTIFACTS, lineMapKey(part))).length;
    const manifest = await getJson<{ split: { moved?: unknown[] } }>(s3, ARTIFACTS, ref.manifestUri.replace(`s3://${ARTIFACTS}/`, ''));
    let partMs: Record<string, number> = {};
    if (kind === 'stratified') partMs = await partCosts(s3, ref.parts[0]);
    process.stdout.write(JSON.stringify({
      seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssMb: (process.resourceUsage().maxRSS * 1024) / MB,
      rows: ref.rows.train + ref.rows.validation, parts: ref.parts.length, lineMapBytes, moved: manifest.split.moved?.length ?? 0, ...partMs,
    }) + '\n');
  } finally {
    await s3srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One part: decoding its line map, and its statistics without and with the line map locating offending rows. */
async function partCosts(s3: S3Client, part: string): Promise<Record<string, number>> {
  const body = await getBuffer(s3, ARTIFACTS, part);
  const json = await getJson<LineMapJson>(s3, ARTIFACTS, lineMapKey(part));
  const head = await openTable(Readable.from([body.subarray(0, body.indexOf(10, 1 << 20) + 1)]), { format: 'csv', file: part });
  const sample: Value[][] = [];
  for await (const r of head.rows) sample.push(r.values);
  // Every categorical value is a new first row once; the rare offences are what a located message costs.
  const plan = planFor(head.columns, sample, { labelColumn: 'label', problemType: 'multiclass_classification' });
  const time = async (fn: () => Promise<unknown> | unknown) => {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await fn();
      runs.push(performance.now() - t);
    }
    return runs.sort((a, b) => a - b)[2];
  };
  let map: LineMap | undefined;
  const decodeMs = await time(() => (map = LineMap.fromJSON(json)));
  const statsMs = await time(() => statsOfCsv(Readable.from([body]), plan, { file: part }));
  const statsLocatedMs = await time(() => statsOfCsv(Readable.from([body]), plan, { file: part, locate: (row, line) => map!.at(row) ?? { file: part, line }, orderedRows: map!.ordered }));
  return { partRows: json.rows, partMb: body.length / MB, decodeMs, statsMs, statsLocatedMs };
}

const run = (args: string[]) => runJson(process.execPath, args, { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' });


async function main(): Promise<void> {
  if (process.argv[2] === '--worker') return worker(process.argv[3], process.argv[4]);
  const sizeMb = Number(arg('size', '500'));
  const repeat = Number(arg('repeat', '3'));
  const dir = arg('dir', '/tmp/relearn-bench')!;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `ingest-${sizeMb}MB.csv`);
  if (!existsSync(file)) await generate(file, sizeMb * MB);
  const fileMb = statSync(file).size / MB;
  const bundle = join(dir, 'ingest-worker.js');
  buildSync({ entryPoints: [__filename], bundle: true, platform: 'node', target: 'node20', outfile: bundle, logLevel: 'error', mainFields: ['module', 'main'] });
  console.log(`file: ${file}, ${fileMb.toFixed(0)} MB, ${COLUMNS.length} columns; ${repeat} run(s) per case, interleaved, medians`);
  const kinds = ['baseline', 'line maps', 'stratified'] as const;
  const runs: Record<string, Record<string, number>[]> = { baseline: [], 'line maps': [], stratified: [] };
  // Interleaved (A B C A B C ...), so that a change in the machine's load hits every case alike.
  for (let i = 0; i < repeat; i++) for (const k of kinds) runs[k].push(run([bundle, '--worker', k === 'line maps' ? 'linemaps' : k, file]));
  const med = (k: string, f: string) => median(runs[k].map((r) => r[f]));
  console.log(`${'case'.padEnd(12)} ${'s wall'.padStart(8)} ${'s CPU'.padStart(8)} ${'MB/s wall'.padStart(10)} ${'peak RSS MB'.padStart(12)} ${'line maps'.padStart(14)}  moved`);
  for (const k of kinds) {
    const lm = med(k, 'lineMapBytes');
    console.log(`${k.padEnd(12)} ${med(k, 'seconds').toFixed(2).padStart(8)} ${med(k, 'cpuSeconds').toFixed(2).padStart(8)} ${(fileMb / med(k, 'seconds')).toFixed(1).padStart(10)} ${med(k, 'maxRssMb').toFixed(0).padStart(12)} ${(lm ? `${(lm / 1e3).toFixed(0)} KB` : '-').padStart(14)}  ${med(k, 'moved')}`);
  }
  const rows = runs.baseline[0].rows;
  const lmBytes = med('line maps', 'lineMapBytes');
  console.log(`rows: ${rows.toLocaleString('en-US')}, parts: ${runs.baseline[0].parts}; line maps: ${(lmBytes / rows).toFixed(3)} bytes per row, ${((100 * lmBytes) / (fileMb * MB)).toFixed(3)}% of the data`);
  const ratio = (a: string, b: string, f: string) => (med(a, f) / med(b, f)).toFixed(3);
  console.log(`ratios (wall): line maps / baseline = ${ratio('line maps', 'baseline', 'seconds')}, stratified / line maps = ${ratio('stratified', 'line maps', 'seconds')}, stratified / baseline = ${ratio('stratified', 'baseline', 'seconds')}`);
  console.log(`ratios (CPU):  line maps / baseline = ${ratio('line maps', 'baseline', 'cpuSeconds')}, stratified / line maps = ${ratio('stratified', 'line maps', 'cpuSeconds')}, stratified / baseline = ${ratio('stratified', 'baseline', 'cpuSeconds')}`);
  const p = runs.stratified;
  console.log(
    `one part (${median(p.map((r) => r.partRows)).toLocaleString('en-US')} rows, ${median(p.map((r) => r.partMb)).toFixed(1)} MB): line map decode ${median(p.map((r) => r.decodeMs)).toFixed(1)} ms; ` +
      `statistics ${median(p.map((r) => r.statsMs)).toFixed(0)} ms without locating, ${median(p.map((r) => r.statsLocatedMs)).toFixed(0)} ms with (x${(median(p.map((r) => r.statsLocatedMs)) / median(p.map((r) => r.statsMs))).toFixed(3)})`,
  );
  console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} cores`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
