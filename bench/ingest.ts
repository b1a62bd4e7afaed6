/**
 * Ingest benchmark (issues 9 and 13): what the line maps and the stratified split cost on a large file, against a
 * baseline in the same run. Each case ingests the same generated CSV (14 columns, a 6-class label with a class of
 * 3 rows that the hash puts all in train, so that the stratified split must move a row) from a local S3 (s3rver,
 * in this process) into a fresh bucket, in its own process (an esbuild bundle of this file, as a Lambda runs its
 * bundle), whose CPU time is Ingest's alone:
 *   - baseline:     hash split, no line maps (Ingest before issues 9/13);
 *   - line maps:    hash split, a line map per part (regression's Ingest now);
 *   - stratified:   stratified split + line maps (classification's Ingest now), one row moved between parts.
 * In the stratified worker, on its first part: decoding the line map (what each ShardStatistics does once) against
 * the part's statistics, and the statistics with and without locating offending rows (CPU time, alternated).
 *
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx bench/ingest.ts               # 500 MB file under /tmp/relearn-bench
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx bench/ingest.ts --size 100 --repeat 1
 * Options: --size MB (default 500), --repeat N (default 3), --dir D. Medians; MB = 10^6 bytes. On a busy machine
 * trust the CPU columns: wall time there measures the queue for the cores.
 */
import { buildSync } from 'esbuild';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, createReadStream } from 'node:fs';
import { once } from 'node:events';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { Upload } from '@aws-sdk/lib-storage';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { ingest, splitPosition } from '../lambdas/ingest/core';
import { LineMap, LineMapJson, lineMapKey } from '../lambdas/ingest/line-map';
import { DatasetConfigSchema } from '../lambdas/shared/config';
import { getBuffer, getJson } from '../lambdas/shared/s3';
import { planFor, statsOfCsv } from '../lambdas/shared/stats';
import { openTable, Value } from '../lambdas/shared/tabular';
import { mulberry32 as rng } from '../lambdas/shared/random';
import { localS3Env, startLocalS3, LOCAL_S3_CREDENTIALS } from '../local/services/s3-server';
import { arg, median, runJsonAsync } from './measure';

const MB = 1_000_000;
const DATA = 'bench-data';
const SOURCE_KEY = 'incoming/bench.csv';


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

/** Worker: one Ingest from the parent's local S3 into a new bucket; prints JSON { seconds, cpuSeconds, ... }. */
async function worker(kind: string, endpoint: string, bucket: string): Promise<void> {
  Object.assign(process.env, localS3Env(endpoint));
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: LOCAL_S3_CREDENTIALS });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const dataset = DatasetConfigSchema.parse({ idColumn: 'id', labelColumn: 'label' });
  const started = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const ref = await ingest({ bucket: DATA, keys: [SOURCE_KEY] }, {
    s3,
    artifactsBucket: bucket,
    dataset,
    problemType: kind === 'stratified' ? 'multiclass_classification' : 'regression',
    lineMaps: kind !== 'baseline',
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const maxRssMb = (process.resourceUsage().maxRSS * 1024) / MB;
  let lineMapBytes = 0;
  for (const part of ref.parts) if (kind !== 'baseline') lineMapBytes += (await getBuffer(s3, bucket, lineMapKey(part))).length;
  const manifest = await getJson<{ split: { moved?: unknown[] } }>(s3, bucket, ref.manifestUri.replace(`s3://${bucket}/`, ''));
  const partMs = kind === 'stratified' ? await partCosts(s3, bucket, ref.parts[0]) : {};
  process.stdout.write(JSON.stringify({
    seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssMb,
    rows: ref.rows.train + ref.rows.validation, parts: ref.parts.length, lineMapBytes, moved: manifest.split.moved?.length ?? 0, ...partMs,
  }) + '\n');
}

/** One part: decoding its line map, and its statistics without and with the line map locating offending rows (CPU ms). */
async function partCosts(s3: S3Client, bucket: string, part: string): Promise<Record<string, number>> {
  const body = await getBuffer(s3, bucket, part);
  const json = await getJson<LineMapJson>(s3, bucket, lineMapKey(part));
  const head = await openTable(Readable.from([body.subarray(0, body.indexOf(10, 1 << 20) + 1)]), { format: 'csv', file: part });
  const sample: Value[][] = [];
  for await (const r of head.rows) sample.push(r.values);
  const plan = planFor(head.columns, sample, { labelColumn: 'label', problemType: 'multiclass_classification' });
  const cpuMs = async (fn: () => Promise<unknown> | unknown) => {
    const t = process.cpuUsage();
    await fn();
    const c = process.cpuUsage(t);
    return (c.user + c.system) / 1000;
  };
  const map = LineMap.fromJSON(json);
  const decode: number[] = [];
  const plain: number[] = [];
  const located: number[] = [];
  for (let i = 0; i < 7; i++) {
    decode.push(await cpuMs(() => LineMap.fromJSON(json)));
    plain.push(await cpuMs(() => statsOfCsv(Readable.from([body]), plan, { file: part })));
    located.push(await cpuMs(() => statsOfCsv(Readable.from([body]), plan, { file: part, locate: (row, line) => map.at(row) ?? { file: part, line }, orderedRows: map.ordered })));
  }
  return { partRows: json.rows, partMb: body.length / MB, decodeMs: median(decode), statsMs: median(plain), statsLocatedMs: median(located) };
}

const run = (args: string[]) => runJsonAsync(process.execPath, args, { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' });


async function main(): Promise<void> {
  if (process.argv[2] === '--worker') return worker(process.argv[3], process.argv[4], process.argv[5]);
  const sizeMb = Number(arg('size', '500'));
  const repeat = Number(arg('repeat', '3'));
  const dir = arg('dir', '/tmp/relearn-bench')!;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `ingest-${sizeMb}MB.csv`);
  if (!existsSync(file)) await generate(file, sizeMb * MB);
  const fileMb = statSync(file).size / MB;
  const bundle = join(dir, 'ingest-worker.js');
  buildSync({ entryPoints: [__filename], bundle: true, platform: 'node', target: 'node20', outfile: bundle, logLevel: 'error', mainFields: ['module', 'main'] });
  // One local S3 for every run, in this process: the workers' CPU time is then Ingest's own. Plain HTTP without the
  // local IAM layer (`bare`), as bench/enforcement.ts's baseline: the same for every case, and out of the way.
  const s3dir = mkdtempSync(join(tmpdir(), 'relearn-bench-s3-'));
  const s3srv = await startLocalS3({ directory: s3dir, buckets: [DATA], bare: true });
  Object.assign(process.env, localS3Env(s3srv.endpoint));
  const s3 = new S3Client({ endpoint: s3srv.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: LOCAL_S3_CREDENTIALS });
  await new Upload({ client: s3, params: { Bucket: DATA, Key: SOURCE_KEY, Body: createReadStream(file) } }).done();
  console.log(`file: ${file}, ${fileMb.toFixed(0)} MB, ${COLUMNS.length} columns; ${repeat} run(s) per case, interleaved, medians`);
  const kinds = ['baseline', 'line maps', 'stratified'] as const;
  const runs: Record<string, Record<string, number>[]> = { baseline: [], 'line maps': [], stratified: [] };
  // Interleaved (A B C A B C ...), so that a change in the machine's load hits every case alike.
  let n = 0;
  try {
    for (let i = 0; i < repeat; i++) {
      for (const k of kinds) {
        const bucket = `bench-artifacts-${n++}`;
        runs[k].push(await run([bundle, '--worker', k === 'line maps' ? 'linemaps' : k, s3srv.endpoint, bucket]));
        rmSync(join(s3dir, bucket), { recursive: true, force: true });
      }
    }
  } finally {
    await s3srv.stop();
    rmSync(s3dir, { recursive: true, force: true });
  }
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
    `one part (${median(p.map((r) => r.partRows)).toLocaleString('en-US')} rows, ${median(p.map((r) => r.partMb)).toFixed(1)} MB), CPU: line map decode ${median(p.map((r) => r.decodeMs)).toFixed(1)} ms; ` +
      `statistics ${median(p.map((r) => r.statsMs)).toFixed(0)} ms without locating, ${median(p.map((r) => r.statsLocatedMs)).toFixed(0)} ms with (x${(median(p.map((r) => r.statsLocatedMs)) / median(p.map((r) => r.statsMs))).toFixed(3)})`,
  );
  console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} cores`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
