/**
 * Training time and model size of the example churn model, on this machine.
 *
 *   npx tsx bench/training.ts                  # the bundled example (examples/churn/data/churn-clean.csv)
 *   npx tsx bench/training.ts --rows 1000000   # generated rows (seed 1, clean)
 *
 * Splits rows 80/20 into train/validation (every 5th row to validation), runs training-scripts/churn/train.py
 * as SageMaker would (SM_* variables, /opt/ml-like folders) with RELEARN_PYTHON (default /usr/bin/python3),
 * and prints wall time, peak memory, model.joblib and model.tar.gz sizes and the held-out ROC AUC.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { generateChurn } from '../examples/churn/generate';

const ROOT = join(__dirname, '..');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function write(stream: WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}

/** Every 5th data row to validation, the rest to train; both with the header. */
async function split(source: Readable, trainFile: string, validationFile: string): Promise<{ train: number; validation: number; bytes: number }> {
  const train = createWriteStream(trainFile);
  const validation = createWriteStream(validationFile);
  let n = -1;
  let bytes = 0;
  // The generator quotes messages that contain commas but never newlines, so one line is one row.
  for await (const line of createInterface({ input: source, crlfDelay: Infinity })) {
    bytes += Buffer.byteLength(line) + 1;
    if (n < 0) {
      await write(train, line + '\n');
      await write(validation, line + '\n');
    } else {
      await write(n % 5 === 4 ? validation : train, line + '\n');
    }
    n++;
  }
  await Promise.all([new Promise((r) => train.end(r)), new Promise((r) => validation.end(r))]);
  return { train: n - Math.floor(n / 5), validation: Math.floor(n / 5), bytes };
}

async function main(): Promise<void> {
  const rows = arg('rows') ? Number(arg('rows')) : undefined;
  const python = process.env.RELEARN_PYTHON ?? '/usr/bin/python3';
  const dir = mkdtempSync(join(tmpdir(), 'relearn-bench-training-'));
  try {
    for (const d of ['train', 'validation', 'model', 'output/data']) mkdirSync(join(dir, d), { recursive: true });
    const source = rows ? generateChurn({ rows, seed: 1 }) : createReadStream(join(ROOT, 'examples/churn/data/churn-clean.csv'));
    const label = rows ? `${rows.toLocaleString('en-US')} generated rows (seed 1, clean)` : 'bundled example (examples/churn/data/churn-clean.csv)';
    const t0 = Date.now();
    const counts = await split(source, join(dir, 'train', 'part-00000.csv'), join(dir, 'validation', 'part-00000.csv'));
    const prepSeconds = (Date.now() - t0) / 1000;

    const timeFile = join(dir, 'time.txt');
    const args = [
      '-f',
      '%e %M',
      '-o',
      timeFile,
      python,
      join(ROOT, 'training-scripts/churn/train.py'),
      '--label-column',
      'churned',
      '--id-column',
      'customer_id',
      ...process.argv.slice(2).filter((a, i, all) => !(a === '--rows' || all[i - 1] === '--rows')),
    ];
    const run = spawnSync('/usr/bin/time', args, {
      env: {
        ...process.env,
        SM_CHANNEL_TRAIN: join(dir, 'train'),
        SM_CHANNEL_VALIDATION: join(dir, 'validation'),
        SM_MODEL_DIR: join(dir, 'model'),
        SM_OUTPUT_DIR: join(dir, 'output'),
        SM_OUTPUT_DATA_DIR: join(dir, 'output', 'data'),
      },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (run.status !== 0) {
      process.stderr.write(run.stderr);
      throw new Error(`train.py exited with ${run.status}`);
    }
    const [wall, maxKb] = (existsSync(timeFile) ? readFileSync(timeFile, 'utf8') : '').trim().split(/\s+/).slice(-2).map(Number);
    await tar.create({ gzip: true, file: join(dir, 'model.tar.gz'), cwd: join(dir, 'model') }, ['model.joblib']);
    const metric = (name: string) => /([0-9.eE+-]+)$/.exec(run.stdout.split('\n').find((l) => l.startsWith(`${name}=`)) ?? '')?.[1];

    const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
    console.log(`training benchmark: ${label}`);
    console.log(`  data                 ${counts.train.toLocaleString('en-US')} train + ${counts.validation.toLocaleString('en-US')} validation rows, ${mb(counts.bytes)} CSV (prepared in ${prepSeconds.toFixed(1)} s)`);
    console.log(`  train.py wall time   ${wall.toFixed(1)} s (process start to exit: read, fit, save, score, write predictions)`);
    console.log(`  read+fit+score      ${Number(metric('train:seconds')).toFixed(1)} s (train:seconds)`);
    console.log(`  peak memory          ${(maxKb / 1024).toFixed(0)} MB (max RSS)`);
    console.log(`  model.joblib         ${mb(statSync(join(dir, 'model', 'model.joblib')).size)}`);
    console.log(`  model.tar.gz         ${mb(statSync(join(dir, 'model.tar.gz')).size)}`);
    console.log(`  predictions.jsonl    ${mb(statSync(join(dir, 'output', 'data', 'predictions.jsonl')).size)}`);
    console.log(`  validation ROC AUC   ${metric('validation:roc_auc')}, accuracy ${metric('validation:accuracy')}`);
    console.log(`  python               ${python}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(`bench/training: ${err.message}`);
  process.exit(1);
});
