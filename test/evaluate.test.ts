import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { create } from 'tar';
import { handler } from '../lambdas/evaluate/handler';
import { s3Client } from '../lambdas/shared/clients';
import { EvaluationRefSchema, StageEvent } from '../lambdas/shared/contracts';
import { getBuffer, getJson } from '../lambdas/shared/s3';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';
import { mulberry32 as rng } from '../lambdas/shared/random';

const clamp = (x: number) => Math.min(1, Math.max(0, x));
const COUNTRIES = ['DE', 'FR', 'US'];

/**
 * Validation rows and predictions: the candidate is sharp everywhere except in France, where it is a coin
 * toss; the champion is moderately good everywhere.
 */
function scenario(n: number, opts: { champion: boolean; badCountry?: string }) {
  const r = rng(42);
  const csv = ['customer_id,country,plan,tenure,churned'];
  const preds: string[] = [];
  for (let i = 0; i < n; i++) {
    const country = COUNTRIES[i % 3];
    const plan = r() < 0.5 ? 'basic' : 'pro';
    const y = r() < 0.4 ? 1 : 0;
    const candidate = country === opts.badCountry ? r() : clamp(0.5 + (y ? 0.3 : -0.3) + (r() - 0.5) * 0.6);
    const champion = clamp(0.5 + (y ? 0.08 : -0.08) + (r() - 0.5) * 0.6);
    csv.push(`c${i},${country},${plan},${Math.floor(r() * 60)},${y}`);
    preds.push(JSON.stringify({ id: `c${i}`, label: y, candidate: Number(candidate.toFixed(4)), champion: opts.champion ? Number(champion.toFixed(4)) : null }));
  }
  return { csv: csv.join('\n') + '\n', predictions: preds.join('\n') + '\n' };
}

describe('Evaluate handler (real local S3)', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  beforeAll(async () => {
    s3 = await startTestS3();
  });
  afterAll(async () => s3.cleanup());

  async function putRun(exec: string, data: { csv: string; predictions: string }, anomalies?: unknown): Promise<StageEvent> {
    const dir = mkdtempSync(join(tmpdir(), 'relearn-eval-'));
    writeFileSync(join(dir, 'predictions.jsonl'), data.predictions);
    writeFileSync(join(dir, 'metrics.json'), '{}');
    const tarball = join(dir, 'output.tar.gz');
    await create({ gzip: true, file: tarball, cwd: dir }, ['metrics.json', 'predictions.jsonl']);
    const put = (Key: string, Body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key, Body }));
    const ds = `datasets/${exec}-ds/`;
    await put(`${ds}validation/part-00000.csv`, data.csv);
    await put(`runs/${exec}/training/job/output/output.tar.gz`, readFileSync(tarball));
    if (anomalies !== undefined) await put(`runs/${exec}/validation/anomalies.json`, JSON.stringify(anomalies));
    const rows = data.csv.trim().split('\n').length - 1;
    const uri = (k: string) => `s3://${ARTIFACTS_BUCKET}/${k}`;
    return {
      executionName: exec,
      state: {
        source: { bucket: 'test-data', prefix: 'incoming/' },
        dataset: {
          datasetId: `${exec}-ds`, uri: uri(ds), trainUri: uri(`${ds}train/`), validationUri: uri(`${ds}validation/`), manifestUri: uri(`${ds}manifest.json`),
          parts: [`${ds}validation/part-00000.csv`], rows: { train: 0, validation: rows }, columns: ['customer_id', 'country', 'plan', 'tenure', 'churned'], reused: false,
        },
        validation: {
          statsUri: uri(`runs/${exec}/validation/stats.json`), schemaUri: uri(`runs/${exec}/validation/schema.json`), anomaliesUri: uri(`runs/${exec}/validation/anomalies.json`),
          blocking: 0, warnings: 1, summary: `${rows} rows, 5 columns checked: 1 warning`,
        },
        training: { jobName: 'job', status: 'Completed', done: true, modelDataUri: uri(`runs/${exec}/training/job/output/model.tar.gz`), outputDataUri: uri(`runs/${exec}/training/job/output/output.tar.gz`) },
      },
    };
  }

  test('a candidate better overall but worse on one slice is not deployed, and the reason names the slice', async () => {
    // GIVEN a champion, and a candidate that is a coin toss in France only
    setLambdaEnv({ dataset: { idColumn: 'customer_id', sliceColumns: ['country', 'plan'] } });
    const event = await putRun('run-slice', scenario(3000, { champion: true, badCountry: 'FR' }), { anomalies: [{ id: 'drift.tenure', severity: 'warning', message: 'tenure mean moved by 0.3 sd', column: 'tenure' }] });
    // WHEN
    const ref = EvaluationRefSchema.parse(await handler(event));
    // THEN overall the candidate is better on the primary metric ...
    expect(ref.primaryMetric.name).toBe('roc_auc');
    expect(ref.primaryMetric.candidate!).toBeGreaterThan(ref.primaryMetric.champion!);
    // ... but the gate says no, naming the slice
    expect(ref.deploy).toBe(false);
    expect(ref.reasons.join('\n')).toMatch(/roc_auc on slice country=FR \(1000 rows\).*worse beyond/);
    expect(ref.reasons.join('\n')).toMatch(/No gates configured: the safe default gate applied/);
    // and every record exists where the contract says
    const s3c = s3Client();
    const decision = await getJson<{ deploy: boolean; reasons: string[]; failedGates: string[] }>(s3c, ARTIFACTS_BUCKET, 'runs/run-slice/decision.json');
    expect(decision.deploy).toBe(false);
    expect(decision.failedGates).toContain('slice_no_regression:roc_auc@country=FR');
    const evaluation = await getJson<{ slices: { items: { key: string; rows: number }[] }; gates: { id: string; pass: boolean }[] }>(s3c, ARTIFACTS_BUCKET, 'runs/run-slice/evaluation/evaluation.json');
    expect(evaluation.slices.items.map((s) => s.key)).toEqual(expect.arrayContaining(['country=FR', 'plan=pro', 'country=DE & plan=basic']));
    expect(evaluation.slices.items.find((s) => s.key === 'country=FR')!.rows).toBe(1000);
    expect(evaluation.gates.find((g) => g.id === 'no_regression:roc_auc')!.pass).toBe(true);
    const html = (await getBuffer(s3c, ARTIFACTS_BUCKET, 'runs/run-slice/evaluation/report.html')).toString('utf8');
    expect(html).toContain('DO NOT DEPLOY');
    expect(html).toContain('tenure mean moved by 0.3 sd');
    expect(ref.reportUri).toBe(`s3://${ARTIFACTS_BUCKET}/runs/run-slice/evaluation/report.html`);
  });

  test('a candidate better everywhere is deployed', async () => {
    // GIVEN
    setLambdaEnv({ dataset: { idColumn: 'customer_id', sliceColumns: ['country'] } });
    const event = await putRun('run-better', scenario(3000, { champion: true }));
    // WHEN
    const ref = await handler(event);
    // THEN
    expect(ref.deploy).toBe(true);
    expect(ref.reasons[0]).toMatch(/^Deploy: all \d+ gate checks passed/);
  });

  test('first run: judged on absolute gates only, and the decision says so', async () => {
    // GIVEN no champion scores, and a configured floor the candidate clears
    setLambdaEnv({ dataset: { idColumn: 'customer_id', sliceColumns: ['country'] }, evaluation: { gates: { min: { roc_auc: 0.6 }, noRegression: { metrics: ['roc_auc'] } } } });
    const event = await putRun('run-first', scenario(900, { champion: false }));
    // WHEN
    const ref = await handler(event);
    // THEN
    expect(ref.deploy).toBe(true);
    expect(ref.primaryMetric.champion).toBeNull();
    expect(ref.reasons.join('\n')).toMatch(/First run: no champion to compare with, so only the absolute gates were applied/);
  });

  test('approval: manual -> the verdict passes but says a person must approve; anomalies of an unknown shape are noted, not fatal', async () => {
    // GIVEN manual approval, and an anomalies.json another version of ValidateData might write
    setLambdaEnv({ dataset: { idColumn: 'customer_id', sliceColumns: ['country'] }, evaluation: { approval: 'manual' } });
    const event = await putRun('run-manual', scenario(3000, { champion: true }), { version: 2, findings: [] });
    // WHEN
    const ref = await handler(event);
    // THEN
    expect(ref.deploy).toBe(true);
    expect(ref.reasons[1]).toBe('Approval is manual: the candidate is registered as PendingManualApproval and deploys only when a person approves it.');
    const html = (await getBuffer(s3Client(), ARTIFACTS_BUCKET, 'runs/run-manual/evaluation/report.html')).toString('utf8');
    expect(html).toContain('PASSED: AWAITS APPROVAL');
    expect(html).toContain('anomalies.json has an unknown shape');
  });

  test('a missing anomalies.json is noted in the report, not fatal', async () => {
    setLambdaEnv({ dataset: { idColumn: 'customer_id', sliceColumns: [] } });
    const event = await putRun('run-noanom', scenario(600, { champion: true }));
    await handler(event);
    const html = (await getBuffer(s3Client(), ARTIFACTS_BUCKET, 'runs/run-noanom/evaluation/report.html')).toString('utf8');
    expect(html).toContain('anomalies.json was not found');
    expect(html).toContain('No slice columns configured');
  });

  test('a prediction whose id is not in the validation split is an error naming the id', async () => {
    // GIVEN predictions for ids the split does not have
    setLambdaEnv({ dataset: { idColumn: 'customer_id', sliceColumns: ['country'] } });
    const data = scenario(30, { champion: true });
    const event = await putRun('run-orphan', { csv: data.csv, predictions: data.predictions.replace('"c7"', '"zz7"') });
    // WHEN / THEN
    await expect(handler(event)).rejects.toThrow(/1 prediction row\(s\) have no row in the validation split .* \(first: id "zz7", line 8 of predictions.jsonl\)/);
  });

  test('a slice column missing from the split is an error naming the file and the column', async () => {
    setLambdaEnv({ dataset: { idColumn: 'customer_id', sliceColumns: ['region'] } });
    const event = await putRun('run-nocol', scenario(30, { champion: true }));
    await expect(handler(event)).rejects.toThrow(/part-00000\.csv line 1: slice\/group column "region" is not in the header/);
  });
});
