import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { handler } from '../lambdas/ingest/handler';
import { ingest, resolveSource, ROW_ID_COLUMN, splitPosition } from '../lambdas/ingest/core';
import { DatasetConfigSchema } from '../lambdas/shared/config';
import { readRows } from '../lambdas/shared/tabular';
import { ARTIFACTS_BUCKET, DATA_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';
import { createHash } from 'node:crypto';

describe('Ingest handler (real local S3)', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  beforeAll(async () => {
    s3 = await startTestS3();
  });
  afterAll(async () => s3.cleanup());

  const put = (key: string, body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: DATA_BUCKET, Key: key, Body: Buffer.from(body) }));
  const get = async (key: string) =>
    Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: key }))).Body!.transformToByteArray());
  const event = (source: object, executionName = 'exec-1') => ({ executionName, state: { source: { bucket: DATA_BUCKET, ...source } } });

  function csv(n: number, from = 0): string {
    let s = 'customer_id,tenure,plan,churned\n';
    for (let i = from; i < from + n; i++) s += `c${i},${i % 40},"${i % 3 === 0 ? 'pro, yearly' : 'basic'}",${i % 2}\n`;
    return s;
  }

  test('snapshots a prefix (CSV + gzipped CSV) into a deterministic split with a manifest, and reuses it', async () => {
    // GIVEN two files and the markers a producer writes
    setLambdaEnv({ dataset: { idColumn: 'customer_id', validationFraction: 0.25, rowsPerPart: 1000 } });
    await put('incoming/b1/a.csv', csv(1500));
    await put('incoming/b1/b.csv.gz', gzipSync(csv(700, 1500)));
    await put('incoming/b1/_SUCCESS', '');
    await put('incoming/b1/manifest.json', '{}');
    // WHEN
    const ref = await handler(event({ prefix: 'incoming/b1/' }));
    // THEN every row lands once, in the split its id hashes to
    expect(ref.rows.train + ref.rows.validation).toBe(2200);
    expect(ref.columns).toEqual(['customer_id', 'tenure', 'plan', 'churned']);
    expect(ref.reused).toBe(false);
    const expectedValidation = Array.from({ length: 2200 }, (_, i) => `c${i}`).filter((id) => splitPosition('relearn', id) < 0.25);
    expect(ref.rows.validation).toBe(expectedValidation.length);
    const seen: string[] = [];
    for (const key of ref.parts.filter((k) => k.includes('/validation/'))) {
      for await (const { row } of readRows(Readable.from(await get(key)), { format: 'csv', file: key })) seen.push(row.customer_id!);
    }
    expect(seen.sort()).toEqual(expectedValidation.sort());
    // parts hold at most rowsPerPart rows; the manifest has checksums and source ETags
    expect(ref.parts.filter((k) => k.includes('/train/')).length).toBe(Math.ceil(ref.rows.train / 1000));
    const manifest = JSON.parse((await get(`datasets/${ref.datasetId}/manifest.json`)).toString());
    expect(manifest.source.objects.map((o: { key: string }) => o.key)).toEqual(['incoming/b1/a.csv', 'incoming/b1/b.csv.gz']);
    expect(manifest.source.objects[0].etag).toMatch(/\w+/);
    const part0 = await get(ref.parts[0]);
    expect(manifest.parts[0].sha256).toBe(createHash('sha256').update(part0).digest('hex'));
    expect(part0.toString().split('\n')[0]).toBe('customer_id,tenure,plan,churned');
    // WHEN ingested again THEN the same snapshot is reused
    const again = await handler(event({ prefix: 'incoming/b1/' }, 'exec-2'));
    expect(again).toEqual({ ...ref, reused: true });
  });

  test('JSON Lines without an id column get a _row_id hash column', async () => {
    setLambdaEnv({ dataset: { format: 'jsonl', rowsPerPart: 1000 } });
    await put('incoming/j/x.jsonl', '{"a":1,"b":"x"}\n{"a":2,"b":null}\n{"b":"z","a":3}\n');
    const ref = await handler(event({ keys: ['incoming/j/x.jsonl'] }));
    expect(ref.columns).toEqual(['a', 'b', ROW_ID_COLUMN]);
    expect(ref.rows.train + ref.rows.validation).toBe(3);
    const rows: Record<string, string | null>[] = [];
    for (const key of ref.parts) for await (const { row } of readRows(Readable.from(await get(key)), { format: 'csv', file: key })) rows.push(row);
    expect(rows.map((r) => r.a).sort()).toEqual(['1', '2', '3']);
    expect(rows.find((r) => r.a === '2')!.b).toBeNull();
    expect(new Set(rows.map((r) => r[ROW_ID_COLUMN])).size).toBe(3);
  });

  test('only markers and empty objects -> NoNewData', async () => {
    setLambdaEnv();
    await put('incoming/empty/_SUCCESS', '');
    await put('incoming/empty/zero.csv', '');
    await expect(handler(event({ prefix: 'incoming/empty/' }))).rejects.toMatchObject({ name: 'NoNewData' });
  });

  test('files with different headers -> IngestError naming both files', async () => {
    setLambdaEnv();
    await put('incoming/h/1.csv', 'a,b\n1,2\n');
    await put('incoming/h/2.csv', 'a,c\n1,2\n');
    await expect(handler(event({ prefix: 'incoming/h/' }))).rejects.toMatchObject({
      name: 'IngestError',
      message: 'incoming/h/2.csv does not have the same header as incoming/h/1.csv (missing b; extra c): all files of a batch must share one header',
    });
  });

  test('a parse error -> IngestError naming file and line', async () => {
    setLambdaEnv();
    await put('incoming/p/1.csv', 'a,b\n1,2\n3\n');
    await expect(handler(event({ keys: ['incoming/p/1.csv'] }))).rejects.toMatchObject({
      name: 'IngestError',
      message: 'incoming/p/1.csv line 3: ragged row: 1 fields, but the header (line 1) has 2',
    });
  });

  test('a key that does not exist -> IngestError', async () => {
    setLambdaEnv();
    await expect(handler(event({ keys: ['incoming/nope.csv'] }))).rejects.toMatchObject({ name: 'IngestError', message: expect.stringContaining('does not exist') });
  });

  test('a prefix is listed page by page (every page, markers skipped)', async () => {
    // GIVEN 5 data files and a marker, listed 2 keys per page
    for (let i = 0; i < 5; i++) await put(`incoming/pages/f${i}.csv`, csv(10, i * 10));
    await put('incoming/pages/_SUCCESS', '');
    // WHEN (a spy counts the real ListObjectsV2 calls)
    const send = jest.spyOn(s3.client, 'send');
    const objects = await resolveSource(s3.client, { bucket: DATA_BUCKET, prefix: 'incoming/pages/' }, 2);
    const listCalls = send.mock.calls.filter(([cmd]) => cmd.constructor.name === 'ListObjectsV2Command').length;
    send.mockRestore();
    expect(listCalls).toBe(3);
    const ref = await ingest({ bucket: DATA_BUCKET, prefix: 'incoming/pages/' }, {
      s3: s3.client,
      artifactsBucket: ARTIFACTS_BUCKET,
      dataset: DatasetConfigSchema.parse({ idColumn: 'customer_id', rowsPerPart: 1000 }),
      listPageSize: 2,
    });
    // THEN
    expect(objects.map((o) => o.key)).toEqual([0, 1, 2, 3, 4].map((i) => `incoming/pages/f${i}.csv`));
    expect(ref.rows.train + ref.rows.validation).toBe(50);
  });
});
