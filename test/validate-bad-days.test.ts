import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { generateChurn, ChurnVariant } from '../examples/churn/generate';
import { handler as ingest } from '../lambdas/ingest/handler';
import { handler as shard } from '../lambdas/shard-statistics/handler';
import { handler as validate } from '../lambdas/validate-data/handler';
import { RelearnConfigInput } from '../lambdas/shared/config';
import { ValidationRef } from '../lambdas/shared/contracts';
import { ARTIFACTS_BUCKET, DATA_BUCKET, putChampionOf, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/**
 * The example generator's "bad days" (examples/churn/generate.ts) against a champion trained on a clean day,
 * through Ingest -> ShardStatistics -> ValidateData on a real local S3 with the example's configuration:
 * each bad day stops at ValidateData with the anomaly that names what broke.
 */
const CONFIG: RelearnConfigInput = {
  dataset: { labelColumn: 'churned', idColumn: 'customer_id', sliceColumns: ['country', 'plan'], validationFraction: 0.2, rowsPerPart: 1000 },
};

async function text(variant: ChurnVariant, seed: number, rows = 2000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of generateChurn({ rows, seed, variant })) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

describe('the example bad days stop at ValidateData', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  beforeAll(async () => {
    s3 = await startTestS3();
    setLambdaEnv(CONFIG);
    // GIVEN a champion whose baselines come from a clean day
    const exec = 'clean-day';
    await run(exec, await text('clean', 1, 3000));
    await putChampionOf(s3.client, exec);
  });
  afterAll(async () => s3.cleanup());

  async function run(exec: string, body: Buffer): Promise<ValidationRef> {
    const key = `incoming/${exec}/churn.csv`;
    await s3.client.send(new PutObjectCommand({ Bucket: DATA_BUCKET, Key: key, Body: body }));
    const source = { bucket: DATA_BUCKET, keys: [key] };
    const dataset = await ingest({ executionName: exec, state: { source } });
    await Promise.all(dataset.parts.map((item) => shard({ executionName: exec, state: { source, dataset }, item })));
    return validate({ executionName: exec, state: { source, dataset } });
  }

  async function anomalies(exec: string): Promise<{ rule: string; column?: string; severity: string; message: string }[]> {
    const res = await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: `runs/${exec}/validation/anomalies.json` }));
    return JSON.parse(Buffer.from(await res.Body!.transformToByteArray()).toString()).anomalies;
  }

  async function blocking(exec: string): Promise<{ rule: string; column?: string }[]> {
    return (await anomalies(exec)).filter((a) => a.severity === 'block').map((a) => ({ rule: a.rule, column: a.column }));
  }

  test('a clean day from the same source passes (drift, if any, only warns)', async () => {
    const v = await run('clean-day-2', await text('clean', 2));
    expect(v.blocking).toBe(0);
    expect(v.summary).toContain('against the champion schema');
  });

  test.each([
    ['nulls', 'missing_share', 'monthly_usage_hours', 'column "monthly_usage_hours": 100.0% of values are missing'],
    ['empty-text', 'empty_text', 'last_message', 'column "last_message": 100.0% of texts are empty or blank'],
    ['new-category', 'unexpected_category', 'plan', 'column "plan":'],
    ['missing-column', 'missing_column', 'support_tickets', 'column "support_tickets" is missing (required by the champion schema)'],
  ] as const)('%s -> %s on %s', async (variant, rule, column, words) => {
    // WHEN the bad day lands
    const exec = `bad-${variant}`;
    const err = await run(exec, await text(variant, 3)).then(
      () => undefined,
      (e: Error) => e,
    );
    // THEN ValidateData fails the state (the Catch goes to NotifyFailure: no training starts) and says why
    expect(err).toMatchObject({ name: 'DataValidationFailed' });
    expect(err!.message).toContain(words);
    expect(await blocking(exec)).toContainEqual({ rule, column });
  });

  test('a shifted day (same concept: less usage, more free plans) passes with drift warnings naming the columns', async () => {
    // Drift warns by default: it may be the very change a retrain is for (set drift_* to block where it is not).
    const v = await run('shift-day', await text('shift', 4));
    expect(v.blocking).toBe(0);
    expect(v.summary).toContain('column "monthly_usage_hours": Jensen-Shannon divergence');
    // (the summary is cut at 2,000 characters; anomalies.json has every warning in full)
    const warnings = await anomalies('shift-day');
    expect(warnings.map((a) => a.message)).toContainEqual(expect.stringMatching(/column "plan": category "free" moved from \d+\.\d% to \d+\.\d% of values/));
    expect(warnings.every((a) => a.severity === 'warn')).toBe(true);
  });
});
