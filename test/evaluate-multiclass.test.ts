import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { create } from 'tar';
import { handler } from '../lambdas/evaluate/handler';
import { s3Client } from '../lambdas/shared/clients';
import { EvaluationRefSchema, StageEvent } from '../lambdas/shared/contracts';
import { mulberry32 as rng } from '../lambdas/shared/random';
import { getBuffer, getJson } from '../lambdas/shared/s3';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/** Evaluate on multiclass and regression runs, through the handler, against the real local S3. */

const CLASSES = ['bronze', 'silver', 'gold'];

/** Validation rows of 3 classes (gold rare), the candidate sharper than the champion, as a script writes them. */
function multiclassRun(n: number, opts: { champion: boolean; goldShare?: number }) {
  const r = rng(11);
  const csv = ['member_id,region,tier'];
  const preds: string[] = [];
  const probs = (y: number, signal: number) => {
    const w = CLASSES.map((_, k) => Math.exp((k === y ? signal : 0) + (r() - 0.5) * 2));
    const s = w.reduce((a, b) => a + b, 0);
    return w.map((v) => Number((v / s).toFixed(6)));
  };
  for (let i = 0; i < n; i++) {
    const u = r();
    const y = u < (opts.goldShare ?? 0.1) ? 2 : u < 0.55 ? 1 : 0;
    const region = ['north', 'south'][i % 2];
    csv.push(`m${i},${region},${CLASSES[y]}`);
    preds.push(JSON.stringify({ id: `m${i}`, label: y, candidate: probs(y, 1.6), champion: opts.champion ? probs(y, 1.0) : null }));
  }
  return { csv: csv.join('\n') + '\n', predictions: preds.join('\n') + '\n' };
}

describe('Evaluate on multiclass and regression runs (real local S3)', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  beforeAll(async () => {
    s3 = await startTestS3();
  });
  afterAll(async () => s3.cleanup());

  async function putRun(exec: string, data: { csv: string; predictions: string }, schema: unknown): Promise<StageEvent> {
    const dir = mkdtempSync(join(tmpdir(), 'relearn-eval-mc-'));
    writeFileSync(join(dir, 'predictions.jsonl'), data.predictions);
    const tarball = join(dir, 'output.tar.gz');
    await create({ gzip: true, file: tarball, cwd: dir }, ['predictions.jsonl']);
    const put = (Key: string, Body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key, Body }));
    const ds = `datasets/${exec}-ds/`;
    await put(`${ds}validation/part-00000.csv`, data.csv);
    await put(`runs/${exec}/training/job/output/output.tar.gz`, readFileSync(tarball));
    if (schema !== undefined) await put(`runs/${exec}/validation/schema.json`, JSON.stringify(schema));
    await put(`runs/${exec}/validation/anomalies.json`, '[]');
    const rows = data.csv.trim().split('\n').length - 1;
    const uri = (k: string) => `s3://${ARTIFACTS_BUCKET}/${k}`;
    return {
      executionName: exec,
      state: {
        source: { bucket: 'test-data', prefix: 'incoming/' },
        dataset: {
          datasetId: `${exec}-ds`, uri: uri(ds), trainUri: uri(`${ds}train/`), validationUri: uri(`${ds}validation/`), manifestUri: uri(`${ds}manifest.json`),
          parts: [`${ds}validation/part-00000.csv`], rows: { train: 0, validation: rows }, columns: data.csv.split('\n')[0].split(','), reused: false,
        },
        validation: {
          statsUri: uri(`runs/${exec}/validation/stats.json`), schemaUri: uri(`runs/${exec}/validation/schema.json`), anomaliesUri: uri(`runs/${exec}/validation/anomalies.json`),
          blocking: 0, warnings: 0, summary: `${rows} rows checked`,
        },
        training: { jobName: 'job', status: 'Completed', done: true, modelDataUri: uri(`runs/${exec}/training/job/output/model.tar.gz`), outputDataUri: uri(`runs/${exec}/training/job/output/output.tar.gz`) },
      },
    };
  }

  test('a multiclass candidate sharper than its champion: every record written, classes from the run\'s schema', async () => {
    // GIVEN the run's schema.json with the classes in their order, and a slice column
    setLambdaEnv({ dataset: { idColumn: 'member_id', labelColumn: 'tier', sliceColumns: ['region'] }, evaluation: { problemType: 'multiclass_classification' } });
    const event = await putRun('mc-better', multiclassRun(1500, { champion: true }), { problemType: 'multiclass_classification', labelColumn: 'tier', classes: CLASSES, columns: {} });
    // WHEN
    const ref = EvaluationRefSchema.parse(await handler(event));
    // THEN the default multiclass gate passes on the primary metric
    expect(ref.deploy).toBe(true);
    expect(ref.primaryMetric.name).toBe('roc_auc_ovr');
    expect(ref.primaryMetric.candidate!).toBeGreaterThan(ref.primaryMetric.champion!);
    const s3c = s3Client();
    const doc = await getJson<{
      classes: string[]; overall: { support: number[]; matrix: { candidate: number[][]; champion: number[][] }; metrics: Record<string, { candidate: { value: number } }> };
      classCurves: { classes: string[]; candidate: unknown[][] }; curves: unknown; slices: { items: { key: string; metrics: Record<string, unknown> }[] }; warnings: string[];
    }>(s3c, ARTIFACTS_BUCKET, 'runs/mc-better/evaluation/evaluation.json');
    expect(doc.classes).toEqual(CLASSES);
    expect(doc.overall.matrix.candidate).toHaveLength(3);
    expect(doc.overall.matrix.candidate.flat().reduce((a, b) => a + b, 0)).toBe(1500);
    expect(Object.keys(doc.overall.metrics)).toEqual(expect.arrayContaining(['accuracy', 'f1_macro', 'roc_auc_ovr', 'log_loss', 'recall:gold', 'roc_auc:silver']));
    expect(doc.classCurves.candidate).toHaveLength(3);
    expect(doc.curves).toBeNull();
    // slices carry the aggregates only (no per-class metric is gated per slice)
    expect(Object.keys(doc.slices.items[0].metrics).some((k) => k.includes(':'))).toBe(false);
    expect(doc.warnings).toEqual([]);
    // AND the model-quality statistics for the registry, in SageMaker's format, classes as names
    const mq = await getJson<{ multiclass_classification_metrics: Record<string, { value: number; standard_deviation: number }> & { confusion_matrix: Record<string, Record<string, number>> } }>(
      s3c, ARTIFACTS_BUCKET, 'runs/mc-better/evaluation/model-quality.json',
    );
    expect(ref.modelQualityUri).toBe(`s3://${ARTIFACTS_BUCKET}/runs/mc-better/evaluation/model-quality.json`);
    const m = mq.multiclass_classification_metrics;
    expect(m.accuracy.value).toBeCloseTo(doc.overall.metrics.accuracy.candidate.value, 5);
    expect(m.weighted_f1).toEqual(m.f1_weighted);
    expect(m.f1_macro.standard_deviation).toBeGreaterThan(0);
    expect(Object.keys(m.confusion_matrix)).toEqual(CLASSES);
    expect(m.confusion_matrix.gold.gold).toBe(doc.overall.matrix.candidate[2][2]);
    // AND the report shows the K x K matrix and the per-class table, without binary curves
    const html = (await getBuffer(s3c, ARTIFACTS_BUCKET, 'runs/mc-better/evaluation/report.html')).toString('utf8');
    expect(html).toContain('One-vs-rest ROC curves and confusion matrices');
    expect(html).toContain('<th class="actual">gold</th>');
    expect(html).toContain('Per class (3 classes)');
    expect(html).not.toContain('Calibration');
  });

  test('a rare class under 30 validation rows: the decision and the report warn that the intervals mean little', async () => {
    setLambdaEnv({ dataset: { idColumn: 'member_id', labelColumn: 'tier' }, evaluation: { problemType: 'multiclass_classification' } });
    const event = await putRun('mc-small', multiclassRun(400, { champion: true, goldShare: 0.04 }), { classes: CLASSES });
    const ref = await handler(event);
    expect(ref.reasons[1]).toMatch(/^Small validation set: only \d+ of "gold" \(under 30 rows per class\)/);
    const decision = await getJson<{ warnings: string[] }>(s3Client(), ARTIFACTS_BUCKET, 'runs/mc-small/decision.json');
    expect(decision.warnings).toEqual([ref.reasons[1]]);
    const html = (await getBuffer(s3Client(), ARTIFACTS_BUCKET, 'runs/mc-small/evaluation/report.html')).toString('utf8');
    expect(html).toMatch(/<p class="warning">⚠ Small validation set: only \d+ of &quot;gold&quot;/);
  });

  test('multiclass without the run\'s classes, or with a row of the wrong shape, fails as InvalidStageInput naming where', async () => {
    setLambdaEnv({ dataset: { idColumn: 'member_id', labelColumn: 'tier' }, evaluation: { problemType: 'multiclass_classification' } });
    const noClasses = await putRun('mc-noclasses', multiclassRun(50, { champion: false }), { problemType: 'multiclass_classification' });
    await expect(handler(noClasses)).rejects.toMatchObject({
      name: 'InvalidStageInput',
      message: expect.stringMatching(/multiclass_classification needs the run's classes in order, but s3:\/\/test-artifacts\/runs\/mc-noclasses\/validation\/schema\.json has no "classes"/),
    });
    const data = multiclassRun(50, { champion: false });
    const lines = data.predictions.split('\n');
    lines[6] = JSON.stringify({ id: 'm6', label: 1, candidate: [0.5, 0.5] });
    const wrongShape = await putRun('mc-shape', { csv: data.csv, predictions: lines.join('\n') }, { classes: CLASSES });
    await expect(handler(wrongShape)).rejects.toMatchObject({
      name: 'InvalidStageInput',
      message: expect.stringContaining('output.tar.gz!predictions.jsonl line 7: field "candidate": expected 3 class probabilities ("bronze", "silver", "gold"), but got 2'),
    });
  });

  test('regression: no curves, a predicted-vs-actual plot, the RMSE in the registry format with mse, and a warning under 100 rows', async () => {
    setLambdaEnv({ dataset: { idColumn: 'id', labelColumn: 'price' }, evaluation: { problemType: 'regression' } });
    const r = rng(4);
    const csv = ['id,price'];
    const preds: string[] = [];
    for (let i = 0; i < 80; i++) {
      const y = 100 + 50 * r();
      csv.push(`p${i},${y}`);
      preds.push(JSON.stringify({ id: `p${i}`, label: y, candidate: y + (r() - 0.5) * 10, champion: null }));
    }
    const ref = await handler(await putRun('reg-small', { csv: csv.join('\n') + '\n', predictions: preds.join('\n') + '\n' }, undefined));
    expect(ref.primaryMetric.name).toBe('rmse');
    expect(ref.reasons[1]).toMatch(/^Small validation set: 80 rows \(fewer than 100\)/);
    const html = (await getBuffer(s3Client(), ARTIFACTS_BUCKET, 'runs/reg-small/evaluation/report.html')).toString('utf8');
    expect(html).toContain('Predicted vs actual');
    expect(html).not.toMatch(/ROC|Calibration|Precision-recall/);
    const mq = await getJson<{ regression_metrics: Record<string, { value: number }> }>(s3Client(), ARTIFACTS_BUCKET, 'runs/reg-small/evaluation/model-quality.json');
    expect(mq.regression_metrics.mse.value).toBeCloseTo(mq.regression_metrics.rmse.value ** 2, 3);
  });
});
