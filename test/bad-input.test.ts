import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { gzipSync } from 'node:zlib';
import { handler as ingest } from '../lambdas/ingest/handler';
import { handler as shard } from '../lambdas/shard-statistics/handler';
import { handler as validate } from '../lambdas/validate-data/handler';
import { parseConfig, RelearnConfigInput } from '../lambdas/shared/config';
import { DatasetRef, ValidationRef } from '../lambdas/shared/contracts';
import { ARTIFACTS_BUCKET, DATA_BUCKET, putChampionOf, setLambdaEnv, startTestS3 } from './helpers/local-s3';
import { Definition, runDefinition, synthDefinition } from './helpers/state-machine';

/**
 * The bad-input catalogue: one test per way a batch can be bad. Each runs the synthesized state machine with
 * the real data stages (Ingest -> ShardStatistics per part -> ValidateData) on a real local S3 and expects the
 * run to stop with the named error (IngestError, NoNewData or DataValidationFailed), caught into NotifyFailure,
 * with StartTraining never reached: no training job starts.
 */

type Row = Record<string, string>;

function churnRows(n: number, seed = 1): Row[] {
  let a = seed;
  const rnd = () => (a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const plans = ['basic', 'pro', 'enterprise'];
  const countries = ['DE', 'FR', 'US', 'GB'];
  const words = ['great', 'slow', 'billing', 'support', 'cancel', 'price', 'thanks'];
  return Array.from({ length: n }, (_, i) => ({
    customer_id: `c${seed}-${i}`,
    age: String(18 + Math.floor(rnd() * 60)),
    monthly: (20 + rnd() * 80).toFixed(2),
    plan: plans[Math.floor(rnd() * plans.length)],
    country: countries[Math.floor(rnd() * countries.length)],
    comment: `"${words[Math.floor(rnd() * words.length)]}, ${words[Math.floor(rnd() * words.length)]} ${Math.floor(rnd() * 1000)}"`,
    churned: rnd() < 0.3 ? '1' : '0',
  }));
}

function csv(rows: Row[], columns = Object.keys(rows[0])): string {
  return [columns.join(','), ...rows.map((r) => columns.map((c) => r[c] ?? '').join(','))].join('\n') + '\n';
}

function edit(rows: Row[], fn: (r: Row, i: number) => void): Row[] {
  return rows.map((r, i) => {
    const copy = { ...r };
    fn(copy, i);
    return copy;
  });
}

const BASE_CONFIG: RelearnConfigInput = { dataset: { idColumn: 'customer_id', rowsPerPart: 1000 } };
/** For files without the churn columns: rows get a `_row_id`. */
const PLAIN: RelearnConfigInput = { dataset: { rowsPerPart: 1000 } };

describe('bad-input catalogue: every bad batch stops before training', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let n = 0;
  let definition: Definition;
  beforeAll(async () => {
    s3 = await startTestS3();
    definition = synthDefinition(parseConfig(BASE_CONFIG));
  });
  afterAll(async () => s3.cleanup());

  const put = (bucket: string, key: string, body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(body) }));
  const getJson = async (key: string) =>
    JSON.parse(Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: key }))).Body!.transformToByteArray()).toString());

  /**
   * Lands `files` under a fresh prefix and runs them through the synthesized state machine, with the real data
   * stages (Ingest, ShardStatistics, ValidateData) and a StartTraining that only records that it was reached.
   * Resolves with the results when training would have started; rejects with the data stage's error, after
   * checking that the run went to NotifyFailure and never reached StartTraining.
   */
  async function run(files: Record<string, string | Buffer>, config: RelearnConfigInput = BASE_CONFIG): Promise<{ exec: string; dataset: DatasetRef; validation: ValidationRef }> {
    setLambdaEnv(config);
    const exec = `case-${++n}`;
    const prefix = `incoming/${exec}/`;
    for (const [name, body] of Object.entries(files)) await put(DATA_BUCKET, prefix + name, body);
    let reached: { dataset: DatasetRef; validation: ValidationRef } | undefined;
    const { calls, error } = await runDefinition(
      definition,
      {
        Ingest: ingest,
        ShardStatistics: shard,
        ValidateData: validate,
        StartTraining: (input) => {
          reached = { dataset: input.state.dataset, validation: input.state.validation };
          throw Object.assign(new Error('training reached'), { name: 'TrainingReached' });
        },
        NotifyFailure: () => ({ published: true }),
      },
      { source: { bucket: DATA_BUCKET, prefix } },
      exec,
    );
    if (reached) return { exec, ...reached };
    // Stopped before training: the Catch handed the stage's error to NotifyFailure, and the run failed with it.
    const states = calls.map((c) => c.state);
    expect(states).not.toContain('StartTraining');
    expect(states[states.length - 1]).toBe('NotifyFailure');
    const caught = calls[calls.length - 1].input.state.error as { Error: string; Cause: string };
    const cause = (() => {
      try {
        return (JSON.parse(caught.Cause) as { errorMessage?: string }).errorMessage ?? caught.Cause;
      } catch {
        return caught.Cause;
      }
    })();
    expect(error).toBeDefined();
    throw Object.assign(new Error(cause), { name: caught.Error });
  }

  /** Expects the run to stop with `name`, and (for validation failures) the rule listed as blocking. */
  async function expectStopped(files: Record<string, string | Buffer>, name: string, message: string | RegExp, config?: RelearnConfigInput, rule?: string) {
    const exec = `case-${n + 1}`;
    let error: Error | undefined;
    try {
      await run(files, config);
    } catch (err) {
      error = err as Error;
    }
    expect(error).toBeDefined();
    expect(error!.name).toBe(name);
    if (typeof message === 'string') expect(error!.message).toContain(message);
    else expect(error!.message).toMatch(message);
    if (rule) {
      const anomalies = await getJson(`runs/${exec}/validation/anomalies.json`);
      expect(anomalies.anomalies).toEqual(expect.arrayContaining([expect.objectContaining({ rule, severity: 'block' })]));
    }
  }

  describe('parse and encoding errors (Ingest: IngestError / NoNewData)', () => {
    test('1. unbalanced quote', () => expectStopped({ 'a.csv': 'a,b\n1,2\n3,"never closed\n4,5\n' }, 'IngestError', /a\.csv line 3: unbalanced quote/, PLAIN));
    test('2. ragged row', () => expectStopped({ 'a.csv': 'a,b,c\n1,2,3\n4,5\n' }, 'IngestError', /a\.csv line 3: ragged row: 2 fields, but the header \(line 1\) has 3/, PLAIN));
    test('3. non-UTF-8 bytes', () =>
      expectStopped({ 'a.csv': Buffer.concat([Buffer.from('a,b\n1,caf'), Buffer.from([0xe9]), Buffer.from('\n')]) }, 'IngestError', /a\.csv line 2: field 2 is not valid UTF-8/, PLAIN));
    test('4. an over-long line (1 MiB cap)', () => expectStopped({ 'a.csv': `a,b\n1,${'x'.repeat(1100000)}\n` }, 'IngestError', /a\.csv line 2: line is longer than 1048576 bytes/, PLAIN));
    test('5. truncated gzip', () => {
      const gz = gzipSync(csv(churnRows(3000)));
      return expectStopped({ 'a.csv.gz': gz.subarray(0, Math.floor(gz.length / 2)) }, 'IngestError', /a\.csv\.gz line \d+: gzip stream is corrupt or truncated/);
    });
    test('6. a JSON line that is not an object', () =>
      expectStopped({ 'a.jsonl': '{"a":1,"b":2}\n[1,2]\n' }, 'IngestError', /a\.jsonl line 2: a JSON line must be an object, but got an array/, PLAIN));
    test('7. files with different headers', () =>
      expectStopped({ 'a.csv': 'a,b\n1,2\n', 'b.csv': 'a,c\n1,2\n' }, 'IngestError', /b\.csv does not have the same header as incoming\/case-\d+\/a\.csv/, PLAIN));
    test('8. a file without a header (blank lines only)', () => expectStopped({ 'a.csv': '\n\n\n' }, 'IngestError', /a\.csv: the file has no header/, PLAIN));
    test('9. only markers and empty objects', () => expectStopped({ _SUCCESS: '', 'empty.csv': '' }, 'NoNewData', /nothing to ingest/, PLAIN));
    test('10. the configured id column is not in the data', () =>
      expectStopped({ 'a.csv': csv(churnRows(200)) }, 'IngestError', 'the id column "account" (dataset.idColumn) is not in the header', { dataset: { idColumn: 'account', rowsPerPart: 1000 } }));
  });

  describe('anomalies against the dataset itself (first run, no champion)', () => {
    test('11. too few rows', () => expectStopped({ 'a.csv': csv(churnRows(50)) }, 'DataValidationFailed', '[too_few_rows] the dataset has 50 rows, expected at least 100', undefined, 'too_few_rows'));
    test('12. text in a numeric column', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600), (r, i) => i % 50 === 7 && (r.age = 'forty'))) },
        'DataValidationFailed',
        // located in the user's file (the 8th row is line 9), not in the dataset part
        /\[wrong_type\] column "age": 12 of 600 values \(2\.0%\) are not numbers, expected numeric \(first: incoming\/case-\d+\/a\.csv line 9 column "age": "forty" is not a number\)/,
        undefined,
        'wrong_type',
      ));
    test('13. NaN and infinite values', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600), (r, i) => (i % 100 === 1 ? (r.monthly = 'NaN') : i % 100 === 2 ? (r.monthly = 'inf') : null))) },
        'DataValidationFailed',
        '[non_finite] column "monthly" has 6 NaN and 6 infinite values, expected none',
        undefined,
        'non_finite',
      ));
    test('14. nulls from a broken upstream', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600), (r, i) => i % 10 < 6 && (r.age = ''))) },
        'DataValidationFailed',
        '[missing_share] column "age": 60.0% of values are missing, expected at most 20.0%',
        undefined,
        'missing_share',
      ));
    test('15. empty texts', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600), (r, i) => i % 10 < 8 && (r.comment = i % 2 ? '""' : '   '))) },
        'DataValidationFailed',
        '[empty_text] column "comment": 80.0% of texts are empty or blank, expected at most 50.0%',
        undefined,
        'empty_text',
      ));
    test('16. the label column is absent', () =>
      expectStopped({ 'a.csv': csv(churnRows(600), ['customer_id', 'age', 'monthly', 'plan', 'country', 'comment']) }, 'DataValidationFailed', '[label_missing] the label column "churned" is missing', undefined, 'label_missing'));
    test('17. rows without a label', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600), (r, i) => i % 10 === 0 && (r.churned = ''))) },
        'DataValidationFailed',
        '[label_missing] the label "churned" is missing in 60 of 600 rows (10.0%), expected at most 0.0%',
        undefined,
        'label_missing',
      ));
    test('18. a single class', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600), (r) => (r.churned = '0'))) },
        'DataValidationFailed',
        /\[single_class\] the label "churned" has a single class \("0"\), expected at least 2 classes \(first: incoming\/case-\d+\/a\.csv line 2 column "churned": "0", the only class\)/,
        undefined,
        'single_class',
      ));
    test('19. a feature identical to the label', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600), (r) => (r.cancelled = r.churned))) },
        'DataValidationFailed',
        '[label_leakage] column "cancelled" is identical to the label "churned" on 100.0% of rows',
        undefined,
        'label_leakage',
      ));
    test('20. duplicate rows', () => {
      const rows = churnRows(400);
      return expectStopped({ 'a.csv': csv([...rows, ...rows.slice(0, 200)]) }, 'DataValidationFailed', /\[duplicate_rows\] about 3\d\.\d% of rows \(\d+ of 600, estimated\) repeat another row, expected at most 10\.0%/, undefined, 'duplicate_rows');
    });
    test('21. a malformed curated schema', async () => {
      await put(ARTIFACTS_BUCKET, 'config/schema.json', JSON.stringify({ columns: [{ name: 'age', type: 'number' }] }));
      try {
        await expectStopped({ 'a.csv': csv(churnRows(600)) }, 'DataValidationFailed', /the curated schema s3:\/\/test-artifacts\/config\/schema\.json is not valid: columns\.0\.type/);
      } finally {
        await s3.client.send(new DeleteObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'config/schema.json' }));
      }
    });
    test('22. values outside a curated range', async () => {
      const schema = {
        labelColumn: 'churned',
        columns: [
          { name: 'customer_id', type: 'text' },
          { name: 'age', type: 'numeric', min: 18, max: 100 },
          { name: 'monthly', type: 'numeric' },
          { name: 'plan', type: 'categorical' },
          { name: 'country', type: 'categorical' },
          { name: 'comment', type: 'text' },
          { name: 'churned', type: 'numeric' },
        ],
      };
      await put(ARTIFACTS_BUCKET, 'config/schema.json', JSON.stringify(schema));
      try {
        await expectStopped(
          { 'a.csv': csv(edit(churnRows(600), (r, i) => i % 10 === 0 && (r.age = String(-5 - (i % 7))))) },
          'DataValidationFailed',
          /\[out_of_range\] column "age": values range over \[-11, 77\] with about 10\.\d% outside the expected \[18, 100\]/,
          undefined,
          'out_of_range',
        );
      } finally {
        await s3.client.send(new DeleteObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'config/schema.json' }));
      }
    });
    test('control: a clean batch passes, and a warning alone does not block', async () => {
      const rows = edit(churnRows(600), (r, i) => (r.churned = i < 3 ? '1' : '0'));
      const { validation } = await run({ 'a.csv': csv(rows) });
      expect(validation.blocking).toBe(0);
      expect(validation.warnings).toBe(1);
      expect(validation.summary).toContain('the label\'s rarest class "1" holds 0.5% of rows, expected at least 1.0%');
    });
  });

  describe('the label, checked before any training job (issue 9)', () => {
    /** Rows with a 3-class label `tier` and a numeric `spend` (the regression label of case 34). */
    function tierRows(n: number, seed = 1, tiers = ['bronze', 'silver', 'gold']): Row[] {
      return churnRows(n, seed).map((r, i) => {
        const { churned, ...rest } = r;
        return { ...rest, spend: (Number(r.monthly) * 3 + (Number(churned) ? 40 : 0)).toFixed(2), tier: tiers[(i * 7 + seed) % tiers.length] };
      });
    }
    const MULTICLASS: RelearnConfigInput = { dataset: { idColumn: 'customer_id', labelColumn: 'tier', rowsPerPart: 1000 }, evaluation: { problemType: 'multiclass_classification' } };
    const REGRESSION: RelearnConfigInput = { dataset: { idColumn: 'customer_id', labelColumn: 'spend', rowsPerPart: 1000 }, evaluation: { problemType: 'regression' } };

    test('30. a third class under binary classification (classes inferred)', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600), (r, i) => i % 50 === 13 && (r.churned = '2'))) },
        'DataValidationFailed',
        // the 14th row is line 15 of the user's file
        /\[unexpected_class\] the label "churned" has 3 classes \("0" \d+, "1" \d+, "2" 12\), expected exactly 2 for binary_classification .*\(first: incoming\/case-\d+\/a\.csv line 15 column "churned": "2", a third class\)/,
        undefined,
        'unexpected_class',
      ));
    test('31. a third class under binary classification (classes named in the config)', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600), (r, i) => i === 400 && (r.churned = 'yes'))) },
        'DataValidationFailed',
        /\[unexpected_class\] the label "churned" has a class that dataset\.classes does not know: "yes" 1 row\(s\) \(known: "0", "1"\) \(first: incoming\/case-\d+\/a\.csv line 402 column "churned": "yes" is not a known class\)/,
        { ...BASE_CONFIG, dataset: { ...BASE_CONFIG.dataset, classes: ['0', '1'] } },
        'unexpected_class',
      ));
    test('32. an all-null label', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600), (r) => (r.churned = ''))) },
        'DataValidationFailed',
        /\[label_missing\] the label "churned" is missing in 600 of 600 rows \(100\.0%\), expected at most 0\.0% \(first: incoming\/case-\d+\/a\.csv line 2 column "churned": no label\).*\[single_class\] the label "churned" has no values/,
        undefined,
        'label_missing',
      ));
    test('33. text in a regression label', () =>
      expectStopped(
        { 'a.csv': csv(edit(tierRows(600), (r, i) => (i === 77 ? (r.spend = 'twelve') : i === 300 ? (r.spend = 'inf') : null))) },
        'DataValidationFailed',
        /\[label_type\] the label "spend" of a regression must be a finite number, but 1 value\(s\) are not numbers and 1 are NaN or infinite \(first: incoming\/case-\d+\/a\.csv line 79 column "spend": "twelve" is not a number\)/,
        REGRESSION,
        'label_type',
      ));
    test('control: a clean regression label and a clean multiclass label pass', async () => {
      expect((await run({ 'a.csv': csv(tierRows(600)) }, REGRESSION)).validation.blocking).toBe(0);
      const { exec, validation } = await run({ 'a.csv': csv(tierRows(600)) }, MULTICLASS);
      expect(validation.blocking).toBe(0);
      // the classes are pinned in the run's schema, sorted, with the problem type, label, id and roles
      const schema = await getJson(`runs/${exec}/validation/schema.json`);
      expect(schema).toMatchObject({ problemType: 'multiclass_classification', labelColumn: 'tier', idColumn: 'customer_id', classes: ['bronze', 'gold', 'silver'] });
      expect(schema.columns.find((c: { name: string }) => c.name === 'tier')).toMatchObject({ role: 'label' });
      expect(schema.columns.find((c: { name: string }) => c.name === 'customer_id')).toMatchObject({ role: 'id' });
      expect(schema.columns.find((c: { name: string }) => c.name === 'age')).toMatchObject({ type: 'numeric', role: 'feature' });
    });

    test('control: a class with a single row trains, with a rare_class warning naming its row (Ingest cannot put it in both splits)', async () => {
      const rows = edit(tierRows(600), (r, i) => i === 321 && (r.tier = 'platinum'));
      const { dataset, exec, validation } = await run({ 'a.csv': csv(rows) }, MULTICLASS);
      expect(validation.blocking).toBe(0);
      expect(dataset.warnings).toEqual([expect.stringMatching(/^class "platinum" of the label "tier" has a single row \(incoming\/case-\d+\/a\.csv line 323\)/)]);
      const anomalies = (await getJson(`runs/${exec}/validation/anomalies.json`)).anomalies;
      expect(anomalies).toContainEqual(
        expect.objectContaining({
          rule: 'rare_class',
          severity: 'warn',
          message: expect.stringMatching(/^class "platinum" has 1 row, too few to be in both splits: it is in the (train|validation) split only.* \(first: incoming\/case-\d+\/a\.csv line 323 column "tier": "platinum"\)$/),
        }),
      );
    });

    describe('against a multiclass champion', () => {
      beforeAll(async () => {
        const { exec } = await run({ 'a.csv': csv(tierRows(600, 1)) }, MULTICLASS);
        await putChampionOf(s3.client, exec);
      });
      afterAll(() => s3.client.send(new DeleteObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'champion/current.json' })));

      test('34. a class the champion never saw blocks; a class it saw that is absent only warns', async () => {
        // GIVEN a batch where "gold" became "platinum" (from the first row on)
        const rows = edit(tierRows(600, 2), (r) => r.tier === 'gold' && (r.tier = 'platinum'));
        const firstNew = rows.findIndex((r) => r.tier === 'platinum');
        await expectStopped(
          { 'a.csv': csv(rows) },
          'DataValidationFailed',
          new RegExp(
            `\\[unexpected_class\\] the label "tier" has a class that the champion's schema does not know: "platinum" 200 row\\(s\\) \\(known: "bronze", "gold", "silver"\\) ` +
              `\\(first: incoming/case-\\d+/a\\.csv line ${firstNew + 2} column "tier": "platinum" is not a known class\\)`,
          ),
          MULTICLASS,
          'unexpected_class',
        );
        const anomalies = (await getJson(`runs/case-${n}/validation/anomalies.json`)).anomalies;
        expect(anomalies).toContainEqual(expect.objectContaining({ rule: 'missing_class', severity: 'warn', message: 'class "gold" of the champion\'s schema is not in this dataset' }));
      });
      test('control: a new class set to warn trains, appended after the champion\'s pinned classes', async () => {
        const rows = edit(tierRows(600, 3), (r, i) => i % 10 === 0 && (r.tier = 'aluminium'));
        const { exec, validation } = await run({ 'a.csv': csv(rows) }, { ...MULTICLASS, validation: { rules: { unexpected_class: 'warn' } } });
        expect(validation.blocking).toBe(0);
        expect((await getJson(`runs/${exec}/validation/schema.json`)).classes).toEqual(['bronze', 'gold', 'silver', 'aluminium']);
      });
    });
  });

  describe('anomalies located in the user\'s files, not in the dataset parts (issue 13)', () => {
    test('35. a type error in the second file of a folder', () => {
      const rows = churnRows(900);
      const files = { 'a.csv': csv(rows.slice(0, 300)), 'b.csv': csv(edit(rows.slice(300, 600), (r, i) => i === 123 && (r.age = '4O'))), 'c.csv': csv(rows.slice(600)) };
      return expectStopped(files, 'DataValidationFailed', /\(first: incoming\/case-\d+\/b\.csv line 125 column "age": "4O" is not a number\)/, undefined, 'wrong_type');
    });
    test('36. a type error in a gzipped file, past a quoted line break', () => {
      const rows = edit(churnRows(600), (r, i) => (i === 5 ? (r.comment = '"two\nlines"') : i === 250 ? (r.monthly = '"12,5"') : null));
      // the quoted line break in row 6 pushes row 251 to line 253
      return expectStopped({ 'a.csv.gz': gzipSync(csv(rows)) }, 'DataValidationFailed', /\(first: incoming\/case-\d+\/a\.csv\.gz line 253 column "monthly": "12,5" is not a number\)/, undefined, 'wrong_type');
    });
    test('37. an out-of-range value in a folder of a CSV and a gzipped CSV', async () => {
      await put(ARTIFACTS_BUCKET, 'config/schema.json', JSON.stringify({ columns: [{ name: 'age', type: 'numeric', min: 18, max: 100 }] }));
      try {
        const rows = churnRows(900);
        const late = edit(rows.slice(450), (r, i) => (i === 10 || i === 400) && (r.age = String(-3 - i)));
        await expectStopped(
          { 'a.csv': csv(rows.slice(0, 450)), 'b.csv.gz': gzipSync(csv(late)) },
          'DataValidationFailed',
          /\[out_of_range\] column "age": .*\(first: incoming\/case-\d+\/b\.csv\.gz line 12 column "age": -13 is below the minimum 18\)/,
          { ...BASE_CONFIG, validation: { maxOutOfRangeShare: 0 } },
          'out_of_range',
        );
      } finally {
        await s3.client.send(new DeleteObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'config/schema.json' }));
      }
    });
  });

  describe('anomalies against the champion baseline', () => {
    beforeAll(async () => {
      // The serving model's baselines: a clean batch's statistics and schema.
      const { exec } = await run({ 'a.csv': csv(churnRows(600, 1)) });
      await putChampionOf(s3.client, exec);
    });
    afterAll(async () => {
      await s3.client.send(new DeleteObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'champion/current.json' }));
    });

    test('control: a new clean batch passes against the champion schema', async () => {
      const { validation } = await run({ 'a.csv': csv(churnRows(600, 2)) });
      expect(validation.blocking).toBe(0);
      expect(validation.summary).toContain('against the champion schema');
    });
    test('control: dataset.columnRoles override the champion\'s kinds and ignore a column, in the checks and in the run\'s schema', async () => {
      // GIVEN a batch whose comments are mostly empty (empty_text would block) and whose age is meant as a category
      const rows = edit(churnRows(600, 10), (r, i) => i % 10 < 8 && (r.comment = '""'));
      const config = { ...BASE_CONFIG, dataset: { ...BASE_CONFIG.dataset, columnRoles: { comment: 'ignore', age: 'categorical' } } } as RelearnConfigInput;
      // WHEN
      const { exec, validation } = await run({ 'a.csv': csv(rows) }, config);
      // THEN nothing about either column blocks (age is no longer compared as a number with the champion's)
      expect(validation.blocking).toBe(0);
      const anomalies = (await getJson(`runs/${exec}/validation/anomalies.json`)).anomalies as { column?: string }[];
      expect(anomalies.filter((a) => a.column === 'comment' || a.column === 'age')).toEqual([]);
      const schema = await getJson(`runs/${exec}/validation/schema.json`);
      expect(schema.columns.find((c: { name: string }) => c.name === 'comment')).toMatchObject({ role: 'ignore' });
      expect(schema.columns.find((c: { name: string }) => c.name === 'age')).toMatchObject({ type: 'categorical', role: 'feature' });
      expect(schema).toMatchObject({ problemType: 'binary_classification', labelColumn: 'churned', idColumn: 'customer_id', classes: ['0', '1'] });
    });
    test('23. a required column disappears', () =>
      expectStopped({ 'a.csv': csv(churnRows(600, 3), ['customer_id', 'age', 'monthly', 'country', 'comment', 'churned']) }, 'DataValidationFailed', '[missing_column] column "plan" is missing (required by the champion schema)', undefined, 'missing_column'));
    test('24. unexpected categories', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600, 4), (r, i) => i % 10 < 3 && (r.country = 'Germany'))) },
        'DataValidationFailed',
        '[unexpected_category] column "country": 30.0% of values are categories the schema does not know ("Germany"), expected at most 5.0%',
        undefined,
        'unexpected_category',
      ));
    test('25. a unit change (mean/std shift)', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600, 5), (r) => (r.monthly = (Number(r.monthly) * 100).toFixed(2)))) },
        'DataValidationFailed',
        /\[distribution_shift\] column "monthly": mean \d+\.?\d* and std \d+\.?\d* against the champion's \d+\.?\d* and \d+\.?\d*/,
        undefined,
        'distribution_shift',
      ));
    test('26. a row-count swing, set to block', () =>
      expectStopped({ 'a.csv': csv(churnRows(120, 6)) }, 'DataValidationFailed', "[row_count_change] the dataset has 120 rows against 600 in the champion's dataset (x0.20), expected within x3", { ...BASE_CONFIG, validation: { rules: { row_count_change: 'block' } } }, 'row_count_change'));
    test('27. numeric drift, set to block', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600, 7), (r) => (r.age = String(Number(r.age) + 25)))) },
        'DataValidationFailed',
        /\[drift_numeric\] column "age": Jensen-Shannon divergence 0\.\d+ from the champion's distribution/,
        { ...BASE_CONFIG, validation: { rules: { drift_numeric: 'block' } } },
        'drift_numeric',
      ));
    test('28. categorical drift, set to block for one column', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600, 8), (r, i) => i % 10 < 9 && (r.plan = 'pro'))) },
        'DataValidationFailed',
        /\[drift_categorical\] column "plan": category "pro" moved from \d+\.\d% to 9\d\.\d% of values/,
        { ...BASE_CONFIG, validation: { columns: { plan: { drift_categorical: 'block' } } } },
        'drift_categorical',
      ));
    test('29. a new column, set to block for that column', () =>
      expectStopped(
        { 'a.csv': csv(edit(churnRows(600, 9), (r, i) => (r.extra = String(i % 3)))) },
        'DataValidationFailed',
        '[new_column] column "extra" is new: the champion schema does not have it',
        { ...BASE_CONFIG, validation: { columns: { extra: { new_column: 'block' } } } },
        'new_column',
      ));
  });
});
