import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { handler as ingest } from '../lambdas/ingest/handler';
import { handler as shard } from '../lambdas/shard-statistics/handler';
import { handler as validate } from '../lambdas/validate-data/handler';
import { CURATED_SCHEMA_KEY, shardStatsKey } from '../lambdas/shard-statistics/plan';
import { DatasetRef } from '../lambdas/shared/contracts';
import { RelearnConfigInput } from '../lambdas/shared/config';
import { loadEnv } from '../lambdas/shared/env';
import { ARTIFACTS_BUCKET, DATA_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/**
 * The curated schema of `validation.schemaFile` (an S3 file asset in the bootstrap bucket, named by
 * CURATED_SCHEMA_URI) on a real local S3: it wins over config/schema.json in the artifacts bucket, which
 * wins over the champion's and the inferred schema.
 */

/** Where `cdk deploy` (and local mode's provision) publishes file assets. */
const ASSET_BUCKET = 'cdk-hnb659fds-assets-000000000000-us-east-1';
const ASSET_URI = `s3://${ASSET_BUCKET}/0123abcd.json`;

/** A deterministic churn-like CSV: plan takes basic, pro and enterprise about equally often. */
function churnCsv(rows: number, seed = 1): string {
  let a = seed;
  const rnd = () => ((a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const plans = ['basic', 'pro', 'enterprise'];
  const countries = ['DE', 'FR', 'US', 'GB'];
  const lines = ['customer_id,age,monthly,plan,country,churned'];
  for (let i = 0; i < rows; i++) {
    const plan = plans[Math.floor(rnd() * plans.length)];
    lines.push(`c${seed}-${i},${18 + Math.floor(rnd() * 60)},${(20 + rnd() * 80).toFixed(2)},${plan},${countries[Math.floor(rnd() * 4)]},${rnd() < 0.3 ? 1 : 0}`);
  }
  return lines.join('\n') + '\n';
}

/** A curated schema whose `plan` domain is `planDomain`. */
function schemaWith(planDomain: string[]) {
  return {
    labelColumn: 'churned',
    columns: [
      { name: 'customer_id', type: 'text' },
      { name: 'age', type: 'numeric' },
      { name: 'monthly', type: 'numeric' },
      { name: 'plan', type: 'categorical', domain: planDomain },
      { name: 'country', type: 'categorical' },
      { name: 'churned', type: 'numeric' },
    ],
  };
}

describe('a curated schema from validation.schemaFile (CURATED_SCHEMA_URI), real local S3', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  beforeAll(async () => {
    s3 = await startTestS3([DATA_BUCKET, ARTIFACTS_BUCKET, ASSET_BUCKET]);
  });
  afterAll(async () => s3.cleanup());
  afterEach(async () => {
    delete process.env.CURATED_SCHEMA_URI;
    await s3.client.send(new DeleteObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: CURATED_SCHEMA_KEY }));
  });

  const config: RelearnConfigInput = { dataset: { idColumn: 'customer_id', rowsPerPart: 1000 }, validation: { schemaFile: 'my-schema.json' } };
  const put = (bucket: string, key: string, value: unknown) =>
    s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(JSON.stringify(value)) }));
  const getJson = async (key: string) =>
    JSON.parse(Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: key }))).Body!.transformToByteArray()).toString());

  /** Ingest -> ShardStatistics per part -> ValidateData, as the state machine runs them. */
  async function dataStages(exec: string, body = churnCsv(2200)) {
    const key = `incoming/${exec}/a.csv`;
    await s3.client.send(new PutObjectCommand({ Bucket: DATA_BUCKET, Key: key, Body: Buffer.from(body) }));
    const dataset: DatasetRef = await ingest({ executionName: exec, state: { source: { bucket: DATA_BUCKET, keys: [key] } } });
    const state = { source: { bucket: DATA_BUCKET, keys: [key] }, dataset };
    await Promise.all(dataset.parts.map((item) => shard({ executionName: exec, state, item })));
    return { dataset, validation: await validate({ executionName: exec, state }) };
  }

  test('without a curated schema the data passes against the inferred schema (the control)', async () => {
    // GIVEN no CURATED_SCHEMA_URI and no config/schema.json
    setLambdaEnv(config);
    // WHEN / THEN
    const { validation } = await dataStages('run-control');
    expect(validation.summary).toMatch(/against the inferred schema: no blocking anomalies/);
  });

  test("the schema file's categorical domain makes a value unexpected: unexpected_category blocks, naming the column", async () => {
    // GIVEN a schema file that knows only basic and pro, shipped as an asset and named by CURATED_SCHEMA_URI
    await put(ASSET_BUCKET, '0123abcd.json', schemaWith(['basic', 'pro']));
    setLambdaEnv(config, { CURATED_SCHEMA_URI: ASSET_URI });
    expect(loadEnv().curatedSchemaUri).toBe(ASSET_URI);
    // WHEN the same kind of data arrives
    // THEN about a third of `plan` is "enterprise", a category the curated schema does not know
    await expect(dataStages('run-file')).rejects.toMatchObject({
      name: 'DataValidationFailed',
      message: expect.stringMatching(/against the curated schema.*\[unexpected_category\] column "plan": 3\d\.\d% of values are categories the schema does not know \("enterprise"\)/s),
    });
    const anomalies = await getJson('runs/run-file/validation/anomalies.json');
    expect(anomalies).toMatchObject({ schemaSource: 'curated', curatedSchemaUri: ASSET_URI, blocking: 1 });
    expect(anomalies.anomalies[0]).toMatchObject({ rule: 'unexpected_category', column: 'plan', severity: 'block' });
    // The run's schema.json is the curated one (with what training needs: roles, problem type): it travels with
    // the model if a later run is promoted.
    expect(await getJson('runs/run-file/validation/schema.json')).toMatchObject({
      source: 'curated',
      problemType: 'binary_classification',
      columns: expect.arrayContaining([{ name: 'plan', type: 'categorical', required: true, domain: ['basic', 'pro'], role: 'feature' }]),
    });
  });

  test('the schema file wins over config/schema.json in the artifacts bucket', async () => {
    // GIVEN a permissive bucket schema and a strict schema file
    await put(ARTIFACTS_BUCKET, CURATED_SCHEMA_KEY, schemaWith(['basic', 'pro', 'enterprise']));
    await put(ASSET_BUCKET, '0123abcd.json', schemaWith(['basic', 'pro']));
    setLambdaEnv(config, { CURATED_SCHEMA_URI: ASSET_URI });
    // WHEN / THEN the file's domain applies
    await expect(dataStages('run-both')).rejects.toMatchObject({ name: 'DataValidationFailed', message: expect.stringContaining('[unexpected_category] column "plan"') });
    expect((await getJson('runs/run-both/validation/anomalies.json')).curatedSchemaUri).toBe(ASSET_URI);
  });

  test('without a schema file, config/schema.json in the artifacts bucket still overrides the inferred schema', async () => {
    // GIVEN only the bucket schema, strict
    await put(ARTIFACTS_BUCKET, CURATED_SCHEMA_KEY, schemaWith(['basic', 'enterprise']));
    setLambdaEnv(config);
    // WHEN / THEN
    await expect(dataStages('run-bucket')).rejects.toMatchObject({ name: 'DataValidationFailed', message: expect.stringContaining('("pro")') });
    expect((await getJson('runs/run-bucket/validation/anomalies.json')).curatedSchemaUri).toBe(`s3://${ARTIFACTS_BUCKET}/${CURATED_SCHEMA_KEY}`);
  });

  test("ShardStatistics plans with the schema file's kinds, so every shard and ValidateData agree", async () => {
    // GIVEN a schema file that declares `age` categorical (the data alone would make it numeric)
    const schema = schemaWith(['basic', 'pro', 'enterprise']);
    schema.columns[1] = { name: 'age', type: 'categorical' };
    await put(ASSET_BUCKET, '0123abcd.json', schema);
    setLambdaEnv(config, { CURATED_SCHEMA_URI: ASSET_URI });
    // WHEN the data stages run
    const { dataset, validation } = await dataStages('run-kinds');
    // THEN each shard file was planned with the curated kind, and the data passed against the curated schema
    expect(dataset.parts.length).toBeGreaterThan(1);
    for (const part of dataset.parts) {
      const file = await getJson(shardStatsKey('run-kinds', part));
      expect(file.plan.columns.find((c: { name: string }) => c.name === 'age')).toEqual({ name: 'age', kind: 'categorical' });
    }
    expect(validation.summary).toMatch(/against the curated schema: no blocking anomalies/);
  });

  test('a schema file that is missing from S3 or not a schema stops the run naming the URI and the field', async () => {
    // GIVEN CURATED_SCHEMA_URI naming an object that is not there
    setLambdaEnv(config, { CURATED_SCHEMA_URI: `s3://${ASSET_BUCKET}/missing.json` });
    // THEN ShardStatistics stops with DataValidationFailed naming it
    await expect(dataStages('run-missing')).rejects.toMatchObject({
      name: 'DataValidationFailed',
      message: expect.stringContaining(`the curated schema s3://${ASSET_BUCKET}/missing.json (validation.schemaFile) cannot be read: the object does not exist`),
    });
    // GIVEN one whose column type is wrong (a deploy that skipped the synth check)
    await put(ASSET_BUCKET, 'bad.json', { columns: [{ name: 'age', type: 'integer' }] });
    setLambdaEnv(config, { CURATED_SCHEMA_URI: `s3://${ASSET_BUCKET}/bad.json` });
    await expect(dataStages('run-badfile')).rejects.toMatchObject({
      name: 'DataValidationFailed',
      message: expect.stringMatching(new RegExp(`the curated schema s3://${ASSET_BUCKET}/bad\\.json is not valid: columns\\.0\\.type`)),
    });
  });
});
