import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTraining } from '../lambdas/check-training/core';
import { s3Client, sageMakerClient } from '../lambdas/shared/clients';
import { DatasetRef, PipelineState, TrainingRef } from '../lambdas/shared/contracts';
import { loadEnv } from '../lambdas/shared/env';
import { readPredictions } from '../lambdas/shared/predictions';
import { startTraining } from '../lambdas/start-training/core';
import { packageSourceDir } from '../lib/training-code';
import { LocalSageMaker, localSageMakerEnv, startLocalSageMaker } from '../local/services/sagemaker';
import { ARTIFACTS_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';

/**
 * StartTraining -> CheckTraining for real: the packaged source directory and the dataset in the local S3, the job
 * run by the local SageMaker server (which runs train.py as the SKLearn container would), predictions read back
 * from output.tar.gz with the reader Evaluate uses. No mocks.
 */
const ROOT = join(__dirname, '..');
const CLEAN = readFileSync(join(ROOT, 'examples/churn/data/churn-clean.csv'), 'utf8').trimEnd().split('\n');
const DAY2 = readFileSync(join(ROOT, 'examples/churn/data/churn-day2.csv'), 'utf8').trimEnd().split('\n');

describe('StartTraining and CheckTraining on the local SageMaker server', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let sm: LocalSageMaker;
  let dir: string;

  beforeAll(async () => {
    s3 = await startTestS3();
    dir = mkdtempSync(join(tmpdir(), 'relearn-training-local-'));
    sm = await startLocalSageMaker({ directory: dir, s3Endpoint: s3.endpoint });
    Object.assign(process.env, localSageMakerEnv(sm.endpoint));
    setLambdaEnv({ dataset: { idColumn: 'customer_id' }, training: { pollIntervalSeconds: 1 } });
    const put = (key: string, body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: key, Body: body }));
    await put('code/sourcedir.tar.gz', readFileSync(packageSourceDir(join(ROOT, 'training-scripts/tabular'))));
  });
  afterAll(async () => {
    await sm.stop();
    await s3.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A dataset snapshot laid out as Ingest writes it: train/ and validation/ parts under datasets/<id>/. */
  async function dataset(id: string, header: string, train: string[], validation: string[]): Promise<DatasetRef> {
    const base = `datasets/${id}/`;
    for (const [split, rows] of [['train', train], ['validation', validation]] as const) {
      await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: `${base}${split}/part-00000.csv`, Body: [header, ...rows].join('\n') + '\n' }));
    }
    const uri = (k: string) => `s3://${ARTIFACTS_BUCKET}/${base}${k}`;
    return {
      datasetId: id,
      uri: uri(''),
      trainUri: uri('train/'),
      validationUri: uri('validation/'),
      manifestUri: uri('manifest.json'),
      parts: [`${base}train/part-00000.csv`, `${base}validation/part-00000.csv`],
      rows: { train: train.length, validation: validation.length },
      columns: header.split(','),
      reused: false,
    };
  }

  /** StartTraining, then CheckTraining every 200 ms (the state machine's Wait, shortened) until done or thrown. */
  async function run(executionName: string, ds: DatasetRef): Promise<TrainingRef> {
    const env = loadEnv();
    const state: PipelineState = { source: { bucket: 'test-data', keys: ['incoming/x.csv'] }, dataset: ds };
    let training = await startTraining({ executionName, executionStartTime: new Date().toISOString(), state }, env, { sagemaker: sageMakerClient(), s3: s3Client() });
    for (let i = 0; i < 600 && !training.done; i++) {
      await new Promise((r) => setTimeout(r, 200));
      training = await checkTraining({ executionName, state: { ...state, training } }, env, { sagemaker: sageMakerClient() });
    }
    return training;
  }

  test('first run trains without a champion; the second scores the promoted champion on the same rows', async () => {
    // GIVEN the bundled example as the first snapshot
    const first = await run('run-1', await dataset('ds-1', CLEAN[0], CLEAN.slice(1, 4001), CLEAN.slice(4001)));
    // THEN the job completed with a model, an output holding a prediction per validation row, and the scraped metrics
    expect(first).toMatchObject({ status: 'Completed', done: true });
    expect(first.championModelDataUri).toBeUndefined();
    expect(first.modelDataUri).toBe(`s3://${ARTIFACTS_BUCKET}/runs/run-1/training/${first.jobName}/output/model.tar.gz`);
    expect(first.finalMetrics?.['validation:roc_auc']).toBeGreaterThan(0.75);
    const p1 = await readPredictions(s3Client(), first.outputDataUri!);
    expect(p1).toHaveLength(1000);
    expect(p1.every((p) => p.champion === null)).toBe(true);

    // GIVEN that model promoted (champion/current.json) and day 2's data
    await s3.client.send(
      new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'champion/current.json', Body: JSON.stringify({ modelDataUri: first.modelDataUri }) }),
    );
    const second = await run('run-2', await dataset('ds-2', DAY2[0], DAY2.slice(1, 1601), DAY2.slice(1601)));
    // THEN the champion channel was used and every validation row carries both scores
    expect(second).toMatchObject({ done: true, championModelDataUri: first.modelDataUri });
    const p2 = await readPredictions(s3Client(), second.outputDataUri!);
    expect(p2).toHaveLength(400);
    expect(p2.every((p) => typeof p.champion === 'number')).toBe(true);
    expect(p2.some((p) => Math.abs(p.candidate - p.champion!) > 1e-6)).toBe(true);
  });

  test("a script failure reaches the run as TrainingFailed carrying the script's reason", async () => {
    // GIVEN a train split whose label column has a value that is not 0/1 (a stray word among numbers)
    const bad = CLEAN.slice(1, 301).map((line, i) => (i === 9 ? line.replace(/,[01]$/, ',yes') : line));
    const ds = await dataset('ds-bad', CLEAN[0], bad, CLEAN.slice(4001, 4101));
    // WHEN it trains, THEN CheckTraining throws TrainingFailed naming the row and column
    await expect(run('run-bad', ds)).rejects.toMatchObject({
      name: 'TrainingFailed',
      message: expect.stringMatching(/failed: AlgorithmError: .*part-00000\.csv row 11 column 'churned': label "yes" /),
    });
  });
});
