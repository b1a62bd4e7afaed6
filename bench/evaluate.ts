/**
 * Evaluate stage benchmark: time and peak memory of the whole stage (read output.tar.gz, join the validation
 * CSV, metrics overall + per slice + crosses, gates, report, four writes) on N validation rows with S slice
 * columns, against the in-process local S3, for a binary or a multiclass model.
 *
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx --expose-gc bench/evaluate.ts [--rows 1000000] [--slices 20] [--no-crosses]
 *       [--problem binary|multiclass] [--classes 3]
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx --expose-gc bench/evaluate.ts --compare [--configs binary,multiclass:3,multiclass:10] [--rows ...]
 *
 * --compare runs each configuration in its own process, one after the other (so each peak RSS is its own),
 * then prints them side by side with ratios to the first one (the baseline, binary by default). The stage's CPU
 * time (user + system) is printed next to its wall time: on a shared machine it is the comparable figure.
 * Prints one line per phase and a summary. Run once; it is not a test.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { create } from 'tar';
import { computeEvaluation, evaluateStage, joinValidation } from '../lambdas/evaluate/core';
import { parseConfig } from '../lambdas/shared/config';
import { loadEnv } from '../lambdas/shared/env';
import { readPredictionTable } from '../lambdas/shared/predictions';
import { mulberry32 as rng } from '../lambdas/shared/random';
import { startLocalS3, localS3Env } from '../local/services/s3-server';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const ROWS = Number(arg('rows', '1000000'));
const SLICES = Number(arg('slices', '20'));
const CROSSES = !process.argv.includes('--no-crosses');
const PROBLEM = arg('problem', 'binary') as 'binary' | 'multiclass';
const K = PROBLEM === 'multiclass' ? Number(arg('classes', '3')) : 2;
const BUCKET = 'bench-artifacts';
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;

/** What one configuration measured (printed as JSON for --compare). */
interface Result {
  config: string;
  stageS: number;
  /** CPU time of the process during the stage (user + system): comparable across runs on a shared machine. */
  stageCpuS: number;
  readS: number;
  joinS: number;
  computeS: number;
  peakRssMb: number;
  baseRssMb: number;
  peakHeapMb: number;
  slices: number;
  gates: number;
  evaluationJsonMb: number;
  reportKb: number;
}

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

/** K probabilities, rounded to 4 decimals (ties, as real models print them), leaning to the true class by `signal`. */
function probabilities(r: () => number, y: number, signal: number): number[] {
  const w: number[] = [];
  let sum = 0;
  for (let k = 0; k < K; k++) {
    const v = Math.exp((k === y ? signal : 0) + (r() - 0.5) * 2);
    w.push(v);
    sum += v;
  }
  return w.map((v) => Math.round((v / sum) * 1e4) / 1e4);
}

async function runOne(): Promise<Result> {
  const name = PROBLEM === 'binary' ? 'binary' : `multiclass K=${K}`;
  const dir = mkdtempSync(join(tmpdir(), 'relearn-bench-eval-'));
  const s3dir = join(dir, 's3');
  const sliceCols = Array.from({ length: SLICES }, (_, k) => `s${k}`);
  const cardinality = (k: number) => 2 + (k % 9); // 2..10 values per column
  const classes = Array.from({ length: K }, (_, k) => `c${k}`);
  // 1. data (not timed)
  const r = rng(1);
  const csvFile = join(dir, 'part-00000.csv');
  const predDir = join(dir, 'out');
  mkdirSync(predDir);
  const predFile = join(predDir, 'predictions.jsonl');
  const csv = createWriteStream(csvFile);
  await writeLines(predFile, async (write) => {
    csv.write(`id,${sliceCols.join(',')},label\n`);
    let chunk = '';
    for (let i = 0; i < ROWS; i++) {
      const vals = sliceCols.map((_, k) => `v${Math.floor(r() * cardinality(k))}`);
      let y: number;
      let cand: number | number[];
      let champ: number | number[];
      if (PROBLEM === 'binary') {
        y = r() < 0.3 ? 1 : 0;
        cand = Math.round(Math.min(1, Math.max(0, 0.5 + (y ? 0.2 : -0.2) + (r() - 0.5) * 0.8)) * 1e4) / 1e4;
        champ = Math.round(Math.min(1, Math.max(0, 0.5 + (y ? 0.15 : -0.15) + (r() - 0.5) * 0.8)) * 1e4) / 1e4;
      } else {
        // unbalanced classes: class k has weight 1/(k+1)
        const u = r() * classes.reduce((s, _, k) => s + 1 / (k + 1), 0);
        let acc = 0;
        y = classes.length - 1;
        for (let k = 0; k < classes.length; k++) {
          acc += 1 / (k + 1);
          if (u < acc) {
            y = k;
            break;
          }
        }
        cand = probabilities(r, y, 1.2);
        champ = probabilities(r, y, 1.0);
      }
      chunk += `r${i},${vals.join(',')},${PROBLEM === 'binary' ? y : classes[y]}\n`;
      write(`{"id":"r${i}","label":${y},"candidate":${JSON.stringify(cand)},"champion":${JSON.stringify(champ)}}\n`);
      if (chunk.length > 1 << 20) {
        if (!csv.write(chunk)) await once(csv, 'drain');
        chunk = '';
      }
    }
    csv.end(chunk);
    await once(csv, 'finish');
  });
  const tarball = join(dir, 'output.tar.gz');
  await create({ gzip: true, file: tarball, cwd: predDir }, ['predictions.jsonl']);
  console.log(
    `${name}: ${ROWS} rows, ${SLICES} slice columns (2-10 values each), crosses ${CROSSES ? 'on' : 'off'}; validation CSV ${mb(statSync(csvFile).size)}, ` +
      `predictions.jsonl ${mb(statSync(predFile).size)}, output.tar.gz ${mb(statSync(tarball).size)}`,
  );

  const s3srv = await startLocalS3({ directory: s3dir, buckets: [BUCKET] });
  Object.assign(process.env, localS3Env(s3srv.endpoint));
  const client = new S3Client({ forcePathStyle: true });
  const put = async (Key: string, file: string) =>
    client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: createReadStream(file), ContentLength: statSync(file).size }));
  await put('datasets/bench/validation/part-00000.csv', csvFile);
  await put('runs/bench/training/job/output/output.tar.gz', tarball);
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'runs/bench/validation/schema.json', Body: JSON.stringify({ classes }) }));

  const config = parseConfig({
    dataset: { idColumn: 'id', labelColumn: 'label', sliceColumns: sliceCols },
    evaluation: { sliceCrosses: CROSSES, problemType: PROBLEM === 'binary' ? 'binary_classification' : 'multiclass_classification' },
  });
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
        manifestUri: uri('datasets/bench/manifest.json'), parts: [], rows: { train: 0, validation: ROWS }, columns: ['id', ...sliceCols, 'label'], reused: false,
      },
      validation: {
        statsUri: uri('runs/bench/validation/stats.json'), schemaUri: uri('runs/bench/validation/schema.json'), anomaliesUri: uri('runs/bench/validation/anomalies.json'),
        blocking: 0, warnings: 0, summary: 'bench',
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
  const cpu0 = process.cpuUsage();
  const ref = await evaluateStage(event, env, { s3: client });
  const stageMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const stageCpuS = (cpu.user + cpu.system) / 1e6;
  clearInterval(timer);
  console.log(`${name}: stage ${(stageMs / 1000).toFixed(1)} s wall, ${stageCpuS.toFixed(1)} s CPU; peak RSS ${mb(peakRss)} (baseline before the stage ${mb(base.rss)}), peak JS heap ${mb(peakHeap)}; deploy=${ref.deploy}`);

  // 3. phases, measured again one by one (to see where the time goes)
  gc();
  let t = performance.now();
  const preds = await readPredictionTable(client, event.state.training.outputDataUri, {
    problemType: config.evaluation.problemType,
    classes: PROBLEM === 'binary' ? undefined : classes,
  });
  const tRead = performance.now() - t;
  t = performance.now();
  const joined = await joinValidation(client, event.state.dataset.validationUri, preds, 'id', sliceCols);
  const tJoin = performance.now() - t;
  t = performance.now();
  const doc = computeEvaluation({ executionName: 'bench', datasetId: 'bench', config, joined, validation: null, champion: null, classes: PROBLEM === 'binary' ? null : classes });
  const tCompute = performance.now() - t;
  const evalSize = statSync(join(s3dir, BUCKET, 'runs/bench/evaluation/evaluation.json._S3rver_object')).size;
  const htmlSize = statSync(join(s3dir, BUCKET, 'runs/bench/evaluation/report.html._S3rver_object')).size;
  console.log(
    `${name}: phases: read predictions ${(tRead / 1000).toFixed(1)} s, join validation CSV ${(tJoin / 1000).toFixed(1)} s, ` +
      `metrics+slices+gates ${(tCompute / 1000).toFixed(1)} s (${doc.slices.items.length} slices reported, ${doc.slices.omitted} smaller crosses omitted, ${doc.gates.length} gate checks); ` +
      `evaluation.json ${mb(evalSize)}, report.html ${(htmlSize / 1024).toFixed(0)} KB`,
  );
  await s3srv.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    config: name, stageS: stageMs / 1000, stageCpuS, readS: tRead / 1000, joinS: tJoin / 1000, computeS: tCompute / 1000,
    peakRssMb: peakRss / 2 ** 20, baseRssMb: base.rss / 2 ** 20, peakHeapMb: peakHeap / 2 ** 20,
    slices: doc.slices.items.length, gates: doc.gates.length, evaluationJsonMb: evalSize / 2 ** 20, reportKb: htmlSize / 1024,
  };
}

/** Runs each configuration in its own process, in turn, and prints them side by side. */
function compare(): void {
  const configs = arg('configs', 'binary,multiclass:3,multiclass:10').split(',');
  const pass = ['--rows', String(ROWS), '--slices', String(SLICES), ...(CROSSES ? [] : ['--no-crosses'])];
  const results: Result[] = [];
  for (const c of configs) {
    const [problem, k] = c.split(':');
    const args = [...process.execArgv, process.argv[1], ...pass, '--problem', problem, ...(k ? ['--classes', k] : []), '--json'];
    const run = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
    const lines = run.stdout.trim().split('\n');
    for (const l of lines.slice(0, -1)) console.log(l);
    if (run.status !== 0) throw new Error(`${c} failed (exit ${run.status})`);
    results.push(JSON.parse(lines[lines.length - 1]) as Result);
  }
  const b = results[0];
  const ratio = (x: number, y: number) => `${(x / y).toFixed(2)}x`;
  console.log(`\nsame run, ${ROWS} rows, ${SLICES} slice columns, crosses ${CROSSES ? 'on' : 'off'}; ratios against ${b.config}`);
  console.log('config           | stage, CPU       | stage, wall      | read   | join   | metrics+slices+gates | peak RSS          | slices | evaluation.json | report');
  for (const x of results) {
    console.log(
      `${x.config.padEnd(16)} | ${`${x.stageCpuS.toFixed(1)} s (${ratio(x.stageCpuS, b.stageCpuS)})`.padEnd(16)} | ${`${x.stageS.toFixed(1)} s (${ratio(x.stageS, b.stageS)})`.padEnd(16)} | ` +
        `${`${x.readS.toFixed(1)} s`.padEnd(6)} | ${`${x.joinS.toFixed(1)} s`.padEnd(6)} | ` +
        `${`${x.computeS.toFixed(1)} s (${ratio(x.computeS, b.computeS)})`.padEnd(20)} | ${`${x.peakRssMb.toFixed(0)} MB (${ratio(x.peakRssMb, b.peakRssMb)})`.padEnd(17)} | ` +
        `${String(x.slices).padEnd(6)} | ${`${x.evaluationJsonMb.toFixed(1)} MB`.padEnd(15)} | ${x.reportKb.toFixed(0)} KB`,
    );
  }
}

if (process.argv.includes('--compare')) {
  try {
    compare();
  } catch (err) {
    console.error(err);
    process.exit(1);
  }
} else {
  runOne()
    .then((res) => {
      if (process.argv.includes('--json')) console.log(JSON.stringify(res));
    })
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
