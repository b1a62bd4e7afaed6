import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { create } from 'tar';
import { parsePredictions, readPredictions } from '../lambdas/shared/predictions';
import { s3Client } from '../lambdas/shared/clients';
import { ARTIFACTS_BUCKET, startTestS3 } from './helpers/local-s3';

describe('predictions.jsonl', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  beforeAll(async () => {
    s3 = await startTestS3();
  });
  afterAll(async () => s3.cleanup());

  test('is read out of output.tar.gz in S3', async () => {
    // GIVEN an output.tar.gz as SageMaker writes it (entries relative to the output data dir)
    const dir = mkdtempSync(join(tmpdir(), 'relearn-pred-'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'metrics.json'), '{}');
    writeFileSync(
      join(dir, 'data', 'predictions.jsonl'),
      '{"id":"a","label":1,"candidate":0.9,"champion":0.7}\n{"id":7,"label":0,"candidate":0.2}\n',
    );
    const tarball = join(dir, 'output.tar.gz');
    await create({ gzip: true, file: tarball, cwd: join(dir, 'data') }, ['metrics.json', 'predictions.jsonl']);
    await s3.client.send(new PutObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: 'runs/r1/output.tar.gz', Body: readFileSync(tarball) }));
    // WHEN
    const rows = await readPredictions(s3Client(), `s3://${ARTIFACTS_BUCKET}/runs/r1/output.tar.gz`);
    // THEN
    expect(rows).toEqual([
      { id: 'a', label: 1, candidate: 0.9, champion: 0.7 },
      { id: '7', label: 0, candidate: 0.2, champion: null },
    ]);
  });

  test('a bad line names the file, the line and the field', () => {
    expect(() => parsePredictions('{"id":"a","label":1,"candidate":0.5}\n{"id":"b","label":"yes","candidate":0.5}\n', 'p.jsonl')).toThrow(
      /p\.jsonl line 2: field "label"/,
    );
    expect(() => parsePredictions('{oops\n', 'p.jsonl')).toThrow(/p\.jsonl line 1: not valid JSON/);
  });
});
