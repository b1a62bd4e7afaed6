/**
 * PackageModel's repack (lambdas/package-model/repack.ts) on large models: time and peak memory, against a plain
 * streaming copy of the same object (GetObject -> multipart Upload, the floor any repack pays) in the same run.
 *
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx bench/repack.ts [--sizes 64,512] [--runs 3]
 *
 * Each size (MiB of model files: half random bytes, half zeros, as weights and sparse arrays compress) is packed
 * into a model.tar.gz on a local S3 (s3rver, bare: no TLS or IAM, so the figures are the repack's own), then each
 * trial runs in a fresh Node process that reports its wall time and peak RSS (sampled every 20 ms). Medians of the
 * runs; ratios repack/copy. Peak memory must not grow with the model's size.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { repackModel } from '../lambdas/package-model/repack';
import { packageSourceDir } from '../lib/training-code';
import { LOCAL_ADMIN_CREDENTIALS } from '../local/iam/identities';
import { startLocalS3 } from '../local/services/s3-server';
import { arg, median, runJsonAsync } from './measure';

const BUCKET = 'bench-artifacts';
const KMS = 'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000';


const clientFor = (endpoint: string) =>
  new S3Client({ endpoint, region: 'us-east-1', credentials: LOCAL_ADMIN_CREDENTIALS, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });


/** One trial, in this (child) process: prints `{"ms":..,"peakRssMb":..}`. */
async function child(kind: 'repack' | 'copy', endpoint: string, key: string): Promise<void> {
  const s3 = clientFor(endpoint);
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  if (kind === 'repack') {
    await repackModel({ s3, model: { bucket: BUCKET, key }, code: { bucket: BUCKET, key: 'code/sourcedir.tar.gz' }, out: { bucket: BUCKET, key: `${key}.repacked` }, kmsKeyArn: KMS, entryPoint: 'train.py' });
  } else {
    const total = (await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).ContentLength ?? 0;
    const body = (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body as Readable;
    await new Upload({ client: s3, queueSize: 4, partSize: Math.max(8 * 1024 * 1024, Math.ceil((total * 1.2) / 9000)), params: { Bucket: BUCKET, Key: `${key}.copy`, Body: body } }).done();
  }
  const ms = performance.now() - started;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  s3.destroy();
  process.stdout.write(JSON.stringify({ ms, peakRssMb: peak / 1024 / 1024 }) + '\n');
}

/** A model folder of `mib` MiB (half random, half zeros), tarred and gzipped (level 6, as SageMaker uploads it). */
async function makeModel(dir: string, mib: number): Promise<string> {
  const folder = join(dir, `model-${mib}`);
  mkdirSync(folder, { recursive: true });
  const out = createWriteStream(join(folder, 'weights.bin'));
  for (let i = 0; i < mib; i++) {
    const chunk = Buffer.alloc(1024 * 1024);
    randomBytes(512 * 1024).copy(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  const file = join(dir, `model-${mib}.tar.gz`);
  await tar.c({ gzip: true, file, cwd: folder, portable: true }, ['weights.bin']);
  rmSync(folder, { recursive: true, force: true });
  return file;
}

async function main(): Promise<void> {
  const sizes = arg('sizes', '64,512')!.split(',').map(Number);
  const runs = Number(arg('runs', '3'));
  const work = mkdtempSync(join(tmpdir(), 'relearn-bench-repack-'));
  const s3srv = await startLocalS3({ directory: join(work, 's3'), buckets: [BUCKET], bare: true });
  const s3 = clientFor(s3srv.endpoint);
  try {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'code/sourcedir.tar.gz', Body: createReadStream(packageSourceDir(join(__dirname, '..', 'training-scripts', 'tabular'))) }));
    const rows: string[] = [];
    for (const mib of sizes) {
      const file = await makeModel(work, mib);
      const key = `runs/bench/training/job/output/model-${mib}.tar.gz`;
      await new Upload({ client: s3, params: { Bucket: BUCKET, Key: key, Body: createReadStream(file) } }).done();
      const archiveMb = statSync(file).size / 1024 / 1024;
      const results: Record<'repack' | 'copy', { ms: number; peakRssMb: number }[]> = { repack: [], copy: [] };
      // Alternating, so that load from other processes falls on both alike.
      for (let i = 0; i < runs; i++) {
        for (const kind of ['copy', 'repack'] as const) {
          // Asynchronously: the local S3 runs in this process, so its event loop must keep turning.
          results[kind].push((await runJsonAsync(process.execPath, [...process.execArgv, __filename, '--child', kind, s3srv.endpoint, key])) as { ms: number; peakRssMb: number });
        }
      }
      const m = (kind: 'repack' | 'copy', f: 'ms' | 'peakRssMb') => median(results[kind].map((r) => r[f]));
      rows.push(
        `${String(mib).padStart(6)} MiB model  ${archiveMb.toFixed(0).padStart(6)} MiB archive | copy ${(m('copy', 'ms') / 1000).toFixed(1).padStart(6)} s ${m('copy', 'peakRssMb').toFixed(0).padStart(5)} MiB peak` +
          ` | repack ${(m('repack', 'ms') / 1000).toFixed(1).padStart(6)} s ${m('repack', 'peakRssMb').toFixed(0).padStart(5)} MiB peak | time x${(m('repack', 'ms') / m('copy', 'ms')).toFixed(2)}` +
          `, memory x${(m('repack', 'peakRssMb') / m('copy', 'peakRssMb')).toFixed(2)}, ${(archiveMb / (m('repack', 'ms') / 1000)).toFixed(0)} MiB/s`,
      );
      process.stderr.write(rows[rows.length - 1] + '\n');
    }
    process.stdout.write(`\nrepack vs streaming copy, medians of ${runs} runs each (fresh process per run, peak RSS sampled every 20 ms):\n${rows.join('\n')}\n`);
  } finally {
    s3.destroy();
    await s3srv.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  void child(process.argv[3] as 'repack' | 'copy', process.argv[4], process.argv[5]);
} else {
  void main();
}
