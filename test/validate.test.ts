import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { handler as ingest } from '../lambdas/ingest/handler';
import { handler as shard } from '../lambdas/shard-statistics/handler';
import { handler as validate } from '../lambdas/validate-data/handler';
import { shardStatsKey } from '../lambdas/shard-statistics/plan';
import { DatasetRef } from '../lambdas/shared/contracts';
import { RelearnConfigInput } from '../lambdas/shared/config';
import { ARTIFACTS_BUCKET, DATA_BUCKET, putChampionOf, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/** A deterministic churn-like CSV: id, numeric, categorical, text and a 0/1 label. */
function churnCsv(rows: number, seed = 1, edit: (row: Record<string, string>, i: number) => void = () => undefined): string {
  let a = seed;
  const rnd = () => ((a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const plans = ['basic', 'pro', 'enterprise'];
  const countries = ['DE', 'FR', 'US', 'GB'];
  const words = ['great', 'slow', 'billing', 'support', 'cancel', 'price', 'thanks'];
  const out: Record<string, string>[] = [];
  for (let i = 0; i < rows; i++) {
    const row: Record<string, string> = {
      customer_id: `c${seed}-${i}`,
      age: String(18 + Math.floor(rnd() * 60)),
      monthly: (20 + rnd() * 80).toFixed(2),
      plan: plans[Math.floor(rnd() * plans.length)],
      country: countries[Math.floor(rnd() * countries.length)],
      comment: `"${words[Math.floor(rnd() * words.length)]}, ${words[Math.floor(rnd() * words.length)]} ${Math.floor(rnd() * 1000)}"`,
      churned: rnd() < 0.3 ? '1' : '0',
    };
    edit(row, i);
    out.push(row);
  }
  const cols = Object.keys(out[0]);
  return [cols.join(','), ...out.map((r) => cols.map((c) => r[c]).join(','))].join('\n') + '\n';
}

describe('ShardStatistics + ValidateData (real local S3)', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  beforeAll(async () => {
    s3 = await startTestS3();
  });
  afterAll(async () => s3.cleanup());

  const config: RelearnConfigInput = { dataset: { idColumn: 'customer_id', rowsPerPart: 1000 } };
  const getJson = async (key: string) =>
    JSON.parse(Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: key }))).Body!.transformToByteArray()).toString());

  /** Ingest -> the Map of ShardStatistics -> ValidateData, as the state machine runs them. */
  async function dataStages(key: string, body: string, exec: string) {
    await s3.client.send(new PutObjectCommand({ Bucket: DATA_BUCKET, Key: key, Body: Buffer.from(body) }));
    const dataset: DatasetRef = await ingest({ executionName: exec, state: { source: { bucket: DATA_BUCKET, keys: [key] } } });
    const state = { source: { bucket: DATA_BUCKET, keys: [key] }, dataset };
    const shards = await Promise.all(dataset.parts.map((item) => shard({ executionName: exec, state, item })));
    const validation = await validate({ executionName: exec, state });
    return { dataset, shards, validation };
  }

  test('a good first dataset passes, with stats, an inferred schema and shard files in the run folder', async () => {
    // GIVEN a clean dataset and no champion
    setLambdaEnv(config);
    // WHEN
    const { dataset, shards, validation } = await dataStages('incoming/good/a.csv', churnCsv(2500), 'run-good');
    // THEN
    expect(dataset.parts.length).toBeGreaterThan(2);
    expect(shards.map((s) => s.shardStatsKey)).toEqual(dataset.parts.map((p) => shardStatsKey('run-good', p)));
    expect(shards.reduce((s, x) => s + x.rows, 0)).toBe(2500);
    expect(validation).toMatchObject({ blocking: 0, statsUri: `s3://${ARTIFACTS_BUCKET}/runs/run-good/validation/stats.json` });
    expect(validation.summary).toMatch(/^validated 2,500 rows x 7 columns against the inferred schema: no blocking anomalies/);
    const stats = await getJson('runs/run-good/validation/stats.json');
    expect(stats.rows).toBe(2500);
    const age = stats.summary.columns.find((c: { name: string }) => c.name === 'age');
    expect(age).toMatchObject({ kind: 'numeric', missing: 0, typeConsistency: 1 });
    expect(age.numeric.min).toBeGreaterThanOrEqual(18);
    const schema = await getJson('runs/run-good/validation/schema.json');
    expect(schema.source).toBe('inferred');
    expect(schema.columns.find((c: { name: string }) => c.name === 'country')).toMatchObject({ type: 'categorical', domain: ['DE', 'FR', 'GB', 'US'] });
    expect(schema.columns.find((c: { name: string }) => c.name === 'comment').type).toBe('text');
  });

  test('against a champion baseline: a broken upstream (nulls) blocks, naming the column, observed and expected', async () => {
    // GIVEN the good run promoted as champion
    setLambdaEnv(config);
    await putChampionOf(s3.client, 'run-good');
    // WHEN a new batch from the same source passes
    const ok = await dataStages('incoming/good2/a.csv', churnCsv(2400, 7), 'run-ok');
    expect(ok.validation.blocking).toBe(0);
    expect(ok.validation.summary).toMatch(/against the champion schema/);
    // WHEN a batch with 60% of `monthly` missing arrives
    const bad = churnCsv(2400, 9, (r, i) => {
      if (i % 5 < 3) r.monthly = '';
    });
    // THEN it stops at ValidateData with the anomaly in words, and anomalies.json has it
    await expect(dataStages('incoming/bad/a.csv', bad, 'run-bad')).rejects.toMatchObject({
      name: 'DataValidationFailed',
      message: expect.stringContaining('[missing_share] column "monthly": 60.0% of values are missing, expected at most 20.0% (baseline 0.0%)'),
    });
    const anomalies = await getJson('runs/run-bad/validation/anomalies.json');
    expect(anomalies).toMatchObject({ schemaSource: 'champion', blocking: 1 });
    expect(anomalies.anomalies[0]).toMatchObject({ rule: 'missing_share', severity: 'block', column: 'monthly', observed: 0.6, expected: 0.2 });
  });

  test('ValidateData computes a shard itself when the Map left none behind', async () => {
    setLambdaEnv(config);
    await s3.client.send(new PutObjectCommand({ Bucket: DATA_BUCKET, Key: 'incoming/nomap/a.csv', Body: Buffer.from(churnCsv(300, 3)) }));
    const dataset = await ingest({ executionName: 'run-nomap', state: { source: { bucket: DATA_BUCKET, keys: ['incoming/nomap/a.csv'] } } });
    const v = await validate({ executionName: 'run-nomap', state: { source: { bucket: DATA_BUCKET, keys: ['incoming/nomap/a.csv'] }, dataset } });
    expect((await getJson('runs/run-nomap/validation/stats.json')).rows).toBe(300);
    expect(v.blocking).toBe(0);
  });

  test('a missing dataset or part key is InvalidStageInput', async () => {
    setLambdaEnv(config);
    await expect(validate({ executionName: 'e', state: { source: { bucket: DATA_BUCKET, prefix: 'x/' } } })).rejects.toMatchObject({ name: 'InvalidStageInput' });
    await expect(shard({ executionName: 'e', state: { source: { bucket: DATA_BUCKET, prefix: 'x/' } } })).rejects.toMatchObject({ name: 'InvalidStageInput' });
  });
});
