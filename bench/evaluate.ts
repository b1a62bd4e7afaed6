/**
 * Evaluate stage benchmark: time and peak memory of the whole stage (read output.tar.gz, join the validation
 * CSV, metrics overall + per slice + crosses, gates, report, three writes) on N validation rows with K slice
 * columns, against the in-process local S3.
 *
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx --expose-gc bench/evaluate.ts [--rows 1000000] [--slices 20] [--no-crosses]
 *
 * Prints one line per phase and a summary. Run once; it is not a test.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { create } from 'tar';
import { computeEvaluation, evaluateStage, joinValidation } from '../lambdas/evaluate/core';
import { parseConfig } from '../lambdas/shared/config';
import { loadEnv } from '../lambdas/shared/env';
import { readPredictionTable } from '../lambdas/shared/predictions';
import { startLocalS3, localS3Env } from '../local/services/s3-server';
import { S3Client } from '@aws-sdk/client-s3';
import { mulberry32 as rng } from '../lambdas/shared/random';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const ROWS = arg('rows', 1_000_000);
const SLICES = arg('slices', 20);
const CROSSES = !process.argv.includes('--no-crosses');
const BUCKET = 'bench-artifacts';
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;

async function writeLines(file: string, lines: (write: (s: string) => boolean) => void | Promise<void>) {
  const out = createWriteStream(file);
  let buf = '';
  const write = (s: string) => {
    buf += s;
    if (buf.length > 1 << 20) {
      const ok = out.write(buf);
      buf = '';
      return ok;
    }
    return true;
  };
  await lines(write);
  out.end(buf);
  await once(out, 'finish');
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'relearn-bench-eval-'));
  const s3dir = join(dir, 's3');
  const sliceCols = Array.from({ length: SLICES }, (_, k) => `s${k}`);
  const cardinality = (k: number) => 2 + (k % 9); // 2..10 values per column
  // 1. data (not timed)
  const r = rng(1);
  const csvFile = join(dir, 'part-00000.csv');
  const predDir = join(dir, 'out');
  rmSync(predDir, { recursive: true, force: true });
  require('node:fs').mkdirSync(predDir);
  const predFile = join(predDir, 'predictions.jsonl');
  const csv = createWriteStream(csvFile);
  const rowsOut: string[] = [];
  await writeLines(predFile, async (write) => {
    csv.write(`id,${sliceCols.join(',')},churned\n`);
    let chunk = '';
    for (let i = 0; i < ROWS; i++) {
      const y = r() < 0.3 ? 1 : 0;
      const vals = sliceCols.map((_, k) => `v${Math.floor(r() * cardinality(k))}`);
      const cand = Math.round(Math.min(1, Math.max(0, 0.5 + (y ? 0.2 : -0.2) + (r() - 0.5) * 0.8)) * 1e4) / 1e4;
      const champ = Math.round(Math.min(1, Math.max(0, 0.5 + (y ? 0.15 : -0.15) + (r() - 0.5) * 0.8)) * 1e4) / 1e4;
      chunk += `r${i},${vals.join(',')},${y}\n`;
      write(`{"id":"r${i}","label":${y},"candidate":${cand},"champion":${champ}}\n`);
      if (chunk.length > 1 << 20) {
        if (!csv.write(chunk)) await once(csv, 'drain');
        chunk = '';
      }
    }
    csv.end(chunk);
    await once(csv, 'finish');
  });
  void rowsOut;
  const tarball = join(dir, 'output.tar.gz');
  await create({ gzip: true, file: tarball, cwd: predDir }, ['predictions.jsonl']);
  console.log(`data: ${ROWS} rows, ${SLICES} slice columns (2-10 values each), crosses ${CROSSES ? 'on' : 'off'}; validation CSV ${mb(statSync(csvFile).size)}, predictions.jsonl ${mb(statSync(predFile).size)}, output.tar.gz ${mb(statSync(tarball).size)}`);

  const s3srv = await startLocalS3({ directory: s3dir, buckets: [BUCKET] });
  Object.assign(process.env, localS3Env(s3srv.endpoint));
  const client = new S3Client({ forcePathStyle: true });
  const put = async (Key: string, file: string) =>
    client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: createReadStream(file), ContentLength: statSync(file).size }));
  await put('datasets/bench/validation/part-00000.csv', csvFile);
  await put('runs/bench/training/job/output/output.tar.gz', tarball);

  const config = parseConfig({ dataset: { idColumn: 'id', sliceColumns: sliceCols }, evaluation: { sliceCrosses: CROSSES } });
  Object.assign(process.env, {
    RELEARN_CONFIG: JSON.stringify(config), DATA_BUCKET: 'bench-data', ARTIFACTS_BUCKET: BUCKET, KMS_KEY_ARN: 'k', SAGEMAKER_ROLE_ARN: 'r',
    MODEL_PACKAGE_GROUP: 'g', TOPIC_ARN: 't', TRAINING_CODE_URI: `s3://${BUCKET}/code/sourcedir.tar.gz`, TRAINING_IMAGE_URI: 'img', ENDPOINT_NAME: 'e',
  });
  const env = loadEnv();
  const uri = (k: string) => `s3://${BUCKET}/${k}`;
  const event = {
    executionName: 'bench',
    state: {
      source: { bucket: 'bench-data', prefix: 'incoming/' },
      dataset: {
        datasetId: 'bench', uri: uri('datasets/bench/'), trainUri: uri('datasets/bench/train/'), validationUri: uri('datasets/bench/validation/'),
        manifestUri: uri('datasets/bench/manifest.json'), parts: [], rows: { train: 0, validation: ROWS }, columns: ['id', ...sliceCols, 'churned'], reused: false,
      },
      training: { jobName: 'job', status: 'Completed', done: true, modelDataUri: uri('runs/bench/training/job/output/model.tar.gz'), outputDataUri: uri('runs/bench/training/job/output/output.tar.gz') },
    },
  };

  // 2. the whole stage, with RSS sampled every 25 ms
  gc();
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakHeap = base.heapUsed;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 25);
  const t0 = performance.now();
  const ref = await evaluateStage(event, env, { s3: client });
  const stageMs = performance.now() - t0;
  clearInterval(timer);
  console.log(`stage: ${(stageMs / 1000).toFixed(1)} s; peak RSS ${mb(peakRss)} (baseline before the stage ${mb(base.rss)}), peak JS heap ${mb(peakHeap)}; deploy=${ref.deploy}`);

  // 3. phases, measured again one by one (to see where the time goes)
  gc();
  let t = performance.now();
  const preds = await readPredictionTable(client, event.state.training.outputDataUri, { problemType: 'binary_classification' });
  const tRead = performance.now() - t;
  t = performance.now();
  const joined = await joinValidation(client, event.state.dataset.validationUri, preds, 'id', sliceCols);
  const tJoin = performance.now() - t;
  t = performance.now();
  const doc = computeEvaluation({ executionName: 'bench', datasetId: 'bench', config, joined, validation: null, champion: null });
  const tCompute = performance.now() - t;
  const evalSize = statSync(join(s3dir, BUCKET, 'runs/bench/evaluation/evaluation.json._S3rver_object')).size;
  const htmlSize = statSync(join(s3dir, BUCKET, 'runs/bench/evaluation/report.html._S3rver_object')).size;
  console.log(
    `phases: read predictions ${(tRead / 1000).toFixed(1)} s, join validation CSV ${(tJoin / 1000).toFixed(1)} s, ` +
      `metrics+slices+gates ${(tCompute / 1000).toFixed(1)} s (${doc.slices.items.length} slices reported, ${doc.slices.omitted} smaller crosses omitted, ${doc.gates.length} gate checks); ` +
      `evaluation.json ${mb(evalSize)}, report.html ${(htmlSize / 1024).toFixed(0)} KB`,
  );
  await s3srv.stop();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
