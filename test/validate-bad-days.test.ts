import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

// One S3 server for the file: the handlers' clients are created once per process.
let s3: Awaited<ReturnType<typeof startTestS3>>;
beforeAll(async () => {
  s3 = await startTestS3();
});
afterAll(async () => s3.cleanup());

/** Ingest -> ShardStatistics -> ValidateData on one file, as the state machine runs them. */
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

describe('the example bad days stop at ValidateData', () => {
  beforeAll(async () => {
    setLambdaEnv(CONFIG);
    // GIVEN a champion whose baselines come from a clean day
    const exec = 'clean-day';
    await run(exec, await text('clean', 1, 3000));
    await putChampionOf(s3.client, exec);
  });

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

describe('drift severities on the bundled example days (issue 13)', () => {
  const clean = readFileSync(join(__dirname, '../examples/churn/data/churn-clean.csv'));
  const day2 = readFileSync(join(__dirname, '../examples/churn/data/churn-day2.csv'));
  beforeAll(async () => {
    setLambdaEnv(CONFIG);
    // GIVEN a champion trained on the bundled clean day
    await run('example-clean', clean);
    await putChampionOf(s3.client, 'example-clean');
  });

  /**
   * Day 2 with one column scaled (to `ratio` times the champion's std) and shifted (its mean `shiftStd` champion
   * stds away from the champion's): a unit or pipeline change on top of an ordinary day.
   */
  function scaled(column: string, ratio: number, shiftStd: number): Buffer {
    const lines = day2.toString().trimEnd().split('\n');
    const i = lines[0].split(',').indexOf(column);
    const values = (text: string) => text.split('\n').slice(1).map((l) => l.split(',')[i]).filter((v) => v !== '').map(Number);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = (xs: number[]) => {
      const m = mean(xs);
      return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
    };
    const base = values(clean.toString().trimEnd());
    const today = values(day2.toString().trimEnd());
    const factor = (ratio * std(base)) / std(today);
    const c = mean(base) + shiftStd * std(base) - factor * mean(today);
    return Buffer.from([lines[0], ...lines.slice(1).map((l) => l.split(',').map((v, j) => (j === i && v !== '' ? (factor * Number(v) + c).toFixed(2) : v)).join(','))].join('\n') + '\n');
  }

  test('day 2 (the normal day-to-day variation of the example) passes', async () => {
    const v = await run('example-day2', day2);
    expect(v.blocking).toBe(0);
    expect(v.summary).toContain('against the champion schema');
  });

  test('a column scaled x3 and shifted +1.7 std blocks, and the message says the blocking threshold was crossed', async () => {
    // WHEN company_size arrives scaled x3 and shifted (+1.7 std, std ratio 3.0: the case of issue 13)
    const err = await run('example-x3', scaled('company_size', 3, 1.7)).then(() => undefined, (e: Error) => e);
    // THEN ValidateData stops the run (Jensen-Shannon about four times its warning threshold)
    expect(err).toMatchObject({ name: 'DataValidationFailed' });
    expect(err!.message).toMatch(
      /\[drift_numeric\] column "company_size": Jensen-Shannon divergence 0\.4\d\d from the champion's distribution \(over its deciles\), above the blocking threshold 0\.3 \(drift\.block\.numericJs; warns above 0\.1\)/,
    );
    // and the mean/std figures are there too, as a warning naming the warning threshold it crossed
    const shift = (await anomalies('example-x3')).find((a) => a.rule === 'distribution_shift')!;
    expect(shift).toMatchObject({ severity: 'warn', column: 'company_size' });
    expect(shift.message).toMatch(/\(mean shift 1\.70 std, std ratio 3\.00\): the mean shift is above the warning threshold 1 std \(drift\.meanShiftStd; blocks above 3 std\); the std ratio is above the warning threshold 2x \(drift\.stdRatio; blocks above 5x\)/);
  });

  test('blocking thresholds are configurable per column, both ways', async () => {
    // a looser blocking threshold for company_size: the same day only warns
    setLambdaEnv({ ...CONFIG, validation: { drift: { columns: { company_size: { block: { numericJs: 0.6 } } } } } });
    const v = await run('example-x3-loose', scaled('company_size', 3, 1.7));
    expect(v.blocking).toBe(0);
    const js = (await anomalies('example-x3-loose')).find((a) => a.rule === 'drift_numeric')!;
    expect(js.message).toContain('above the warning threshold 0.1 (drift.numericJs; blocks above 0.6)');
    // a much tighter one for seats: day 2's ordinary variation of seats blocks, naming the column's own setting
    setLambdaEnv({ ...CONFIG, validation: { drift: { columns: { seats: { numericJs: 0.0001, block: { numericJs: 0.0002 } } } } } });
    const err = await run('example-day2-strict', day2).then(() => undefined, (e: Error) => e);
    expect(err!.message).toMatch(/\[drift_numeric\] column "seats": Jensen-Shannon divergence 0\.\d+ .*above the blocking threshold 0\.0002 \(drift\.columns\.seats\.block\.numericJs; warns above 0\.0001\)/);
    setLambdaEnv(CONFIG);
  });
});
