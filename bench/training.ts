/**
 * Training time, peak memory, model size and held-out quality of the built-in tabular script on a bundled
 * example, for the linear baseline and gradient boosting, side by side (medians of --repeat runs).
 *
 *   npx tsx bench/training.ts                          # churn (binary), examples/churn/data/churn-clean.csv
 *   npx tsx bench/training.ts tickets                  # support tickets (three classes)
 *   npx tsx bench/training.ts delivery                 # delivery times (regression)
 *   npx tsx bench/training.ts delivery --rows 100000   # generated rows (seed 1, clean) instead of the bundled file
 *   npx tsx bench/training.ts churn --repeat 3 --estimators linear   -- --feature-columns plan
 *
 * Splits rows 80/20 into train/validation (every 5th row to validation), runs training-scripts/tabular/train.py
 * as SageMaker would (SM_* variables, /opt/ml-like folders; the reserved --label-column, --id-column and
 * --problem-type from the example's config) with RELEARN_PYTHON (default /usr/bin/python3), and prints per
 * estimator the wall time, peak memory (max RSS), model.joblib and model.tar.gz sizes and the primary metric.
 * Arguments after `--` go to train.py as hyperparameters.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { generateChurn } from '../examples/churn/generate';
import { generateDeliveries } from '../examples/delivery-times/generate';
import { generateTickets } from '../examples/support-tickets/generate';

const ROOT = join(__dirname, '..');

interface Example {
  readonly data: string;
  readonly config: string;
  readonly generate: (rows: number) => Readable;
  /** The metric that decides, and whether bigger is better. */
  readonly primary: string;
  readonly higherIsBetter: boolean;
}

const EXAMPLES: Record<string, Example> = {
  churn: {
    data: 'examples/churn/data/churn-clean.csv',
    config: 'relearn.config.json',
    generate: (rows) => generateChurn({ rows, seed: 1 }),
    primary: 'roc_auc',
    higherIsBetter: true,
  },
  tickets: {
    data: 'examples/support-tickets/data/tickets-clean.csv',
    config: 'examples/support-tickets/relearn.config.json',
    generate: (rows) => generateTickets({ rows, seed: 1 }),
    primary: 'roc_auc_ovr',
    higherIsBetter: true,
  },
  delivery: {
    data: 'examples/delivery-times/data/deliveries-clean.csv',
    config: 'examples/delivery-times/relearn.config.json',
    generate: (rows) => generateDeliveries({ rows, seed: 1 }),
    primary: 'rmse',
    higherIsBetter: false,
  },
};

async function write(stream: WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}

/** Every 5th data row to validation, the rest to train; both with the header. */
async function split(source: Readable, trainFile: string, validationFile: string): Promise<{ train: number; validation: number; bytes: number }> {
  const train = createWriteStream(trainFile);
  const validation = createWriteStream(validationFile);
  let n = -1;
  let bytes = 0;
  // The generators quote fields that contain commas but never newlines, so one line is one row.
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

interface Run {
  readonly wall: number;
  readonly fitSeconds: number;
  readonly maxRssMb: number;
  readonly joblibBytes: number;
  readonly tarBytes: number;
  readonly metrics: Record<string, number>;
}

async function runOnce(dir: string, python: string, reserved: string[], extra: string[]): Promise<Run> {
  for (const d of ['model', 'output']) rmSync(join(dir, d), { recursive: true, force: true });
  mkdirSync(join(dir, 'model'), { recursive: true });
  mkdirSync(join(dir, 'output', 'data'), { recursive: true });
  const timeFile = join(dir, 'time.txt');
  const run = spawnSync('/usr/bin/time', ['-f', '%e %M', '-o', timeFile, python, join(ROOT, 'training-scripts/tabular/train.py'), ...reserved, ...extra], {
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
  const metrics: Record<string, number> = {};
  for (const m of run.stdout.matchAll(/^([a-z_]+:[a-z0-9_]+)=([0-9.eE+-]+)$/gm)) metrics[m[1]] = Number(m[2]);
  return {
    wall,
    fitSeconds: metrics['train:seconds'],
    maxRssMb: maxKb / 1024,
    joblibBytes: statSync(join(dir, 'model', 'model.joblib')).size,
    tarBytes: statSync(join(dir, 'model.tar.gz')).size,
    metrics,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function parseArgs(argv: string[]): { example: string; rows?: number; repeat: number; estimators: string[]; extra: string[] } {
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const extra = dash >= 0 ? argv.slice(dash + 1) : [];
  let example = 'churn';
  let rows: number | undefined;
  let repeat = 1;
  let estimators = ['linear', 'hgb'];
  for (let i = 0; i < own.length; i++) {
    const a = own[i];
    if (a === '--rows') rows = Number(own[++i]);
    else if (a === '--repeat') repeat = Number(own[++i]);
    else if (a === '--estimators') estimators = own[++i].split(',');
    else if (!a.startsWith('--') && i === 0) example = a;
    // Hyperparameters before `--` (the old form, e.g. `--feature-columns plan`) still go to train.py.
    else extra.push(a, own[++i]);
  }
  if (!EXAMPLES[example]) throw new Error(`example must be one of ${Object.keys(EXAMPLES).join(', ')}, but got "${example}"`);
  if (rows !== undefined && !(Number.isInteger(rows) && rows >= 10)) throw new Error(`--rows must be an integer >= 10, but got ${rows}`);
  if (!(Number.isInteger(repeat) && repeat >= 1)) throw new Error(`--repeat must be a positive integer, but got ${repeat}`);
  return { example, rows, repeat, estimators, extra };
}

async function main(): Promise<void> {
  const { example: name, rows, repeat, estimators, extra } = parseArgs(process.argv.slice(2));
  const example = EXAMPLES[name];
  const config = JSON.parse(readFileSync(join(ROOT, example.config), 'utf8'));
  const reserved = [
    '--label-column',
    config.dataset.labelColumn,
    '--id-column',
    config.dataset.idColumn,
    '--problem-type',
    config.evaluation?.problemType ?? 'binary_classification',
  ];
  const python = process.env.RELEARN_PYTHON ?? '/usr/bin/python3';
  const dir = mkdtempSync(join(tmpdir(), 'relearn-bench-training-'));
  try {
    for (const d of ['train', 'validation']) mkdirSync(join(dir, d), { recursive: true });
    const source = rows ? example.generate(rows) : createReadStream(join(ROOT, example.data));
    const label = rows ? `${rows.toLocaleString('en-US')} generated rows (seed 1, clean)` : `bundled ${example.data}`;
    const counts = await split(source, join(dir, 'train', 'part-00000.csv'), join(dir, 'validation', 'part-00000.csv'));
    const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
    console.log(`training benchmark: ${name} (${config.evaluation?.problemType}), ${label}`);
    console.log(
      `  data: ${counts.train.toLocaleString('en-US')} train + ${counts.validation.toLocaleString('en-US')} validation rows, ${mb(counts.bytes)} CSV; ` +
        `${repeat} run(s) per estimator, medians; python ${python}${extra.length ? `; hyperparameters ${extra.join(' ')}` : ''}`,
    );
    const results: Record<string, Run> = {};
    for (const estimator of estimators) {
      const runs: Run[] = [];
      for (let i = 0; i < repeat; i++) runs.push(await runOnce(dir, python, reserved, ['--estimator', estimator, ...extra]));
      results[estimator] = {
        wall: median(runs.map((r) => r.wall)),
        fitSeconds: median(runs.map((r) => r.fitSeconds)),
        maxRssMb: median(runs.map((r) => r.maxRssMb)),
        joblibBytes: median(runs.map((r) => r.joblibBytes)),
        tarBytes: median(runs.map((r) => r.tarBytes)),
        metrics: runs[runs.length - 1].metrics,
      };
    }
    const primary = `validation:${example.primary}`;
    const col = (s: string) => s.padStart(12);
    console.log(`  ${'estimator'.padEnd(10)}${col('wall s')}${col('fit s')}${col('peak MB')}${col('joblib MB')}${col('tar.gz MB')}${col(example.primary)}`);
    for (const [estimator, r] of Object.entries(results)) {
      console.log(
        `  ${estimator.padEnd(10)}${col(r.wall.toFixed(1))}${col(r.fitSeconds.toFixed(1))}${col(r.maxRssMb.toFixed(0))}` +
          `${col((r.joblibBytes / 1024 / 1024).toFixed(2))}${col((r.tarBytes / 1024 / 1024).toFixed(2))}${col(r.metrics[primary]?.toFixed(4) ?? '-')}`,
      );
    }
    const [a, b] = estimators;
    if (results[a] && results[b]) {
      const ra = results[a];
      const rb = results[b];
      const better = (example.higherIsBetter ? rb.metrics[primary] > ra.metrics[primary] : rb.metrics[primary] < ra.metrics[primary]) ? b : a;
      console.log(
        `  ${b} / ${a}: wall ${(rb.wall / ra.wall).toFixed(1)}x, fit ${(rb.fitSeconds / ra.fitSeconds).toFixed(1)}x, peak memory ${(rb.maxRssMb / ra.maxRssMb).toFixed(2)}x, ` +
          `${example.primary} ${(rb.metrics[primary] - ra.metrics[primary] >= 0 ? '+' : '')}${(rb.metrics[primary] - ra.metrics[primary]).toFixed(4)} (better: ${better})`,
      );
    }
    const others = Object.keys(results[estimators[0]].metrics).filter((k) => k.startsWith('validation:') && k !== primary);
    for (const [estimator, r] of Object.entries(results)) {
      console.log(`  ${estimator} other metrics: ${others.map((k) => `${k.slice(11)} ${r.metrics[k]?.toFixed(4)}`).join(', ')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(`bench/training: ${err.message}`);
  process.exit(1);
});
