/**
 * Local mode's data upload (issue 13): peak memory and time of `uploadData` (streamed multipart, 16 MiB parts)
 * against the baseline of the same run, what local mode did before: the whole file read into memory and sent
 * with one PutObject (`readFileSync`), which dies on a file over 2 GiB.
 *
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx bench/upload.ts [--mib 1024] [--runs 2]
 *
 * The file is the churn example repeated to the size asked. Each trial runs in a fresh Node process against one
 * bare local S3 (no TLS or IAM, so the figures are the upload's own) and reports its wall time and peak RSS
 * (process.resourceUsage().maxRSS). Medians of the runs, alternating the two kinds; ratios streamed/baseline.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_ADMIN_CREDENTIALS } from '../local/iam/identities';
import { listDataFiles, uploadData } from '../local/local-env';
import { startLocalS3 } from '../local/services/s3-server';
import { arg, median, runJsonAsync } from './measure';

const BUCKET = 'bench-data';
type Kind = 'streamed' | 'whole-file';

const client = (endpoint: string) => new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: LOCAL_ADMIN_CREDENTIALS });

async function child(kind: Kind, endpoint: string, file: string): Promise<void> {
  const s3 = client(endpoint);
  const t0 = performance.now();
  if (kind === 'streamed') await uploadData(s3, BUCKET, listDataFiles(file), `incoming/${kind}/`);
  else await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `incoming/${kind}/data.csv`, Body: readFileSync(file) }));
  const ms = performance.now() - t0;
  s3.destroy();
  process.stdout.write(JSON.stringify({ ms, peakRssMb: process.resourceUsage().maxRSS / 1024 }) + '\n');
}

function makeFile(dir: string, mib: number): string {
  const [header, body] = readFileSync(join(__dirname, '..', 'examples', 'churn', 'data', 'churn-clean.csv'), 'utf8').split(/\n(.*)/s);
  const file = join(dir, `data-${mib}.csv`);
  const fd = openSync(file, 'w');
  let size = writeSync(fd, header + '\n');
  const chunk = Buffer.from(body.endsWith('\n') ? body : body + '\n');
  while (size < mib * 1024 * 1024) size += writeSync(fd, chunk);
  closeSync(fd);
  return file;
}

async function main(): Promise<void> {
  const mib = Number(arg('mib', '1024'));
  const runs = Number(arg('runs', '2'));
  const work = mkdtempSync(join(tmpdir(), 'relearn-bench-upload-'));
  const s3srv = await startLocalS3({ directory: join(work, 's3'), buckets: [BUCKET], bare: true });
  try {
    const file = makeFile(work, mib);
    const results: Record<Kind, { ms: number; peakRssMb: number }[]> = { streamed: [], 'whole-file': [] };
    for (let i = 0; i < runs; i++) {
      for (const kind of ['whole-file', 'streamed'] as const) {
        // Asynchronously: the local S3 runs in this process, so its event loop must keep turning.
        results[kind].push((await runJsonAsync(process.execPath, [...process.execArgv, __filename, '--child', kind, s3srv.endpoint, file])) as { ms: number; peakRssMb: number });
        process.stderr.write(`  ${kind}: ${JSON.stringify(results[kind].at(-1))}\n`);
      }
    }
    const m = (kind: Kind, f: 'ms' | 'peakRssMb') => median(results[kind].map((r) => r[f]));
    const size = statSync(file).size / 1024 / 1024;
    process.stdout.write(
      `upload of one ${size.toFixed(0)} MiB CSV, medians of ${runs} runs (fresh process each):\n` +
        `  whole file read, one PutObject (before): ${(m('whole-file', 'ms') / 1000).toFixed(1)} s, peak RSS ${m('whole-file', 'peakRssMb').toFixed(0)} MiB\n` +
        `  streamed multipart (uploadData):         ${(m('streamed', 'ms') / 1000).toFixed(1)} s, peak RSS ${m('streamed', 'peakRssMb').toFixed(0)} MiB\n` +
        `  ratio streamed / before: time x${(m('streamed', 'ms') / m('whole-file', 'ms')).toFixed(2)}, memory x${(m('streamed', 'peakRssMb') / m('whole-file', 'peakRssMb')).toFixed(2)}\n`,
    );
  } finally {
    await s3srv.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  child(process.argv[3] as Kind, process.argv[4], process.argv[5]).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
