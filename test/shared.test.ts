import { GetObjectCommand } from '@aws-sdk/client-s3';
import { parseConfig, ConfigError, driftThreshold } from '../lambdas/shared/config';
import { runResourceName, trainingJobName } from '../lambdas/shared/names';
import { getJson, putJson, getJsonIfExists } from '../lambdas/shared/s3';
import { s3Client } from '../lambdas/shared/clients';
import { ARTIFACTS_BUCKET, startTestS3 } from './helpers/local-s3';

describe('resource names', () => {
  test('are valid SageMaker names, deterministic, and distinct per execution', () => {
    // GIVEN an execution name longer than SageMaker allows, with characters it refuses
    const exec = 'retrain_2026-11-29T08:39:15.123Z_' + 'x'.repeat(60);
    // WHEN
    const a = trainingJobName('relearn', exec);
    // THEN
    expect(a).toMatch(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(trainingJobName('relearn', exec)).toBe(a);
    expect(trainingJobName('relearn', exec + 'y')).not.toBe(a);
    expect(runResourceName('relearn', 'run-1', 'model')).not.toBe(runResourceName('relearn', 'run-1', 'epc'));
  });
});

describe('configuration', () => {
  test('defaults fill an empty config', () => {
    const c = parseConfig({});
    expect(c.name).toBe('relearn');
    expect(c.training.maxRuntimeSeconds).toBe(3600);
    expect(c.dataset.labelColumn).toBe('churned');
  });

  test('each bad field gets its own message naming it', () => {
    // GIVEN three bad fields
    const bad = { name: 'Bad Name', training: { instanceCount: 0 }, dataset: { validationFraction: 1.5 } };
    // WHEN / THEN
    let error: ConfigError | undefined;
    try {
      parseConfig(bad, 'relearn.config.json');
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toHaveLength(3);
    expect(error!.message).toContain('relearn.config.json');
    expect(error!.problems.some((p) => p.startsWith('name:'))).toBe(true);
    expect(error!.problems.some((p) => p.startsWith('training.instanceCount:'))).toBe(true);
    expect(error!.problems.some((p) => p.startsWith('dataset.validationFraction:'))).toBe(true);
  });

  test('unknown fields are rejected, not ignored', () => {
    expect(() => parseConfig({ trainng: {} })).toThrow(/trainng/);
  });

  test('dataset.classes and dataset.columnRoles are checked against the problem type and the fixed columns', () => {
    const problems = (input: object) => {
      try {
        parseConfig(input);
        return [];
      } catch (e) {
        return (e as ConfigError).problems;
      }
    };
    expect(problems({ dataset: { classes: ['no', 'yes'] } })).toEqual([]);
    expect(problems({ dataset: { classes: ['a', 'b', 'c'] } })).toEqual([
      'dataset.classes: binary_classification needs exactly 2 classes (the positive one second), but got 3: use multiclass_classification for more',
    ]);
    expect(problems({ dataset: { classes: ['a', 'b', 'c'] }, evaluation: { problemType: 'multiclass_classification' } })).toEqual([]);
    expect(problems({ dataset: { classes: ['1', '2'] }, evaluation: { problemType: 'regression' } })).toEqual([
      'dataset.classes: classes apply to classification only, but evaluation.problemType is regression',
    ]);
    expect(problems({ dataset: { classes: ['a', 'a'] } })).toEqual(['dataset.classes: each class may be listed once']);
    expect(problems({ dataset: { idColumn: 'id', columnRoles: { churned: 'ignore', id: 'text', notes: 'text' } } })).toEqual([
      'dataset.columnRoles.churned: "churned" is the label column (dataset.labelColumn): its role is fixed, but got "ignore"',
      'dataset.columnRoles.id: "id" is the id column (dataset.idColumn): its role is fixed, but got "text"',
    ]);
    expect(problems({ dataset: { columnRoles: { notes: 'words' } } })[0]).toMatch(/^dataset\.columnRoles\.notes: /);
  });

  test('drift thresholds: blocking ones default, fall back per column, can be off, and are never below the warning ones', () => {
    const v = parseConfig({ validation: { drift: { meanShiftStd: 4, block: { numericJs: null }, columns: { price: { numericJs: 0.2, block: { categoricalLinf: 0.7 } } } } } }).validation;
    expect(driftThreshold(v, 'age', 'numericJs')).toEqual({ warn: 0.1, warnField: 'drift.numericJs', block: null, blockField: 'drift.block.numericJs' });
    expect(driftThreshold(v, 'age', 'meanShiftStd')).toEqual({ warn: 4, warnField: 'drift.meanShiftStd', block: 4, blockField: 'drift.block.meanShiftStd' });
    expect(driftThreshold(v, 'price', 'numericJs')).toMatchObject({ warn: 0.2, warnField: 'drift.columns.price.numericJs', block: null });
    expect(driftThreshold(v, 'price', 'categoricalLinf')).toMatchObject({ warn: 0.2, block: 0.7, blockField: 'drift.columns.price.block.categoricalLinf' });
    expect(driftThreshold(parseConfig({}).validation, 'x', 'stdRatio')).toMatchObject({ warn: 2, block: 5 });
  });

  test('spot maxWait shorter than the max runtime is refused with both values', () => {
    expect(() => parseConfig({ training: { maxRuntimeSeconds: 7200, spot: { enabled: true, maxWaitSeconds: 3600 } } })).toThrow(
      /training\.spot\.maxWaitSeconds: must be >= training\.maxRuntimeSeconds \(7200\), but got 3600/,
    );
  });
});

describe('S3 helpers against a real local S3 server', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  beforeAll(async () => {
    s3 = await startTestS3();
  });
  afterAll(async () => s3.cleanup());

  test('putJson then getJson round-trips, byte for byte, with no checksum trailer stored', async () => {
    const value = { a: 1, b: ['x', 'y'], text: 'héllo' };
    await putJson(s3Client(), ARTIFACTS_BUCKET, 'x/value.json', value);
    expect(await getJson(s3Client(), ARTIFACTS_BUCKET, 'x/value.json')).toEqual(value);
    const raw = await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'x/value.json' }));
    expect(await raw.Body!.transformToString()).toBe(JSON.stringify(value, null, 2));
  });

  test('getJsonIfExists is undefined for a missing key', async () => {
    expect(await getJsonIfExists(s3Client(), ARTIFACTS_BUCKET, 'missing.json')).toBeUndefined();
  });
});
