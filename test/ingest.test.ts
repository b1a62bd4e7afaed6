import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { handler } from '../lambdas/ingest/handler';
import { ingest, resolveSource, ROW_ID_COLUMN, splitPosition } from '../lambdas/ingest/core';
import { DatasetConfigSchema } from '../lambdas/shared/config';
import { readRows } from '../lambdas/shared/tabular';
import { ARTIFACTS_BUCKET, DATA_BUCKET, setLambdaEnv, startTestS3 } from './helpers/local-s3';
import { createHash } from 'node:crypto';
import { DatasetRef } from '../lambdas/shared/contracts';
import { LineMap, lineMapKey } from '../lambdas/ingest/line-map';
import { Stratifier } from '../lambdas/ingest/split';

// One S3 server for the file: the handlers' clients are created once per process.
let s3: Awaited<ReturnType<typeof startTestS3>>;
beforeAll(async () => {
  s3 = await startTestS3();
});
afterAll(async () => s3.cleanup());

describe('Ingest handler (real local S3)', () => {

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

describe('Ingest: the stratified split and the line maps (real local S3)', () => {

  const put = (key: string, body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: DATA_BUCKET, Key: key, Body: Buffer.from(body) }));
  const get = async (key: string) =>
    Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: ARTIFACTS_BUCKET, Key: key }))).Body!.transformToByteArray());
  const CONFIG = { dataset: { idColumn: 'id', labelColumn: 'y', validationFraction: 0.2, rowsPerPart: 1000 } };
  const event = (prefix: string) => ({ executionName: 'e', state: { source: { bucket: DATA_BUCKET, prefix } } });
  /** Ids whose split position is below (validation) or above (train) the fraction. */
  const ids = (n: number, validation: boolean, tag: string) => {
    const out: string[] = [];
    for (let i = 0; out.length < n; i++) if (splitPosition('relearn', `${tag}${i}`) < 0.2 === validation) out.push(`${tag}${i}`);
    return out;
  };
  /** Every row of the dataset: its id, class, split and (from the line map) where it was read. */
  async function rowsOf(ref: DatasetRef) {
    const out: { id: string; y: string | null; split: string; file: string; line: number }[] = [];
    for (const key of ref.parts) {
      const map = LineMap.fromJSON(JSON.parse((await get(lineMapKey(key))).toString()));
      let r = 0;
      for await (const { row } of readRows(Readable.from(await get(key)), { format: 'csv', file: key })) {
        const at = map.at(r++)!;
        out.push({ id: row.id!, y: row.y, split: key.includes('/validation/') ? 'validation' : 'train', file: at.file, line: at.line });
      }
      expect(r).toBe(map.rows);
    }
    return out;
  }

  // GIVEN 2,000 rows of two common classes, a class of 3 rows that the hash puts all in train, a class of 2 rows it
  // puts all in validation, and a class of a single row
  const common = Array.from({ length: 2000 }, (_, i) => [`c${i}`, i % 3 ? 'no' : 'yes']);
  const rare = [...ids(3, false, 'r'), ...ids(2, true, 'v')].map((id) => [id, id.startsWith('r') ? 'rare' : 'valonly']);
  const rows = [...common.slice(0, 700), ...rare.slice(0, 2), ['solo0', 'solo'], ...common.slice(700, 1500), ...rare.slice(2), ...common.slice(1500)];
  const text = (rs: string[][]) => 'id,x,y\n' + rs.map(([id, y], i) => `${id},${i},${y}`).join('\n') + '\n';

  test('puts every class with two rows or more in both splits, moving only one row per such class', async () => {
    setLambdaEnv(CONFIG);
    await put('incoming/strat/a.csv', text(rows));
    const ref = await handler(event('incoming/strat/'));
    const got = await rowsOf(ref);
    const bySplit = (y: string, split: string) => got.filter((r) => r.y === y && r.split === split).length;
    // THEN each class with 2+ rows is in both splits
    for (const y of ['yes', 'no', 'rare', 'valonly']) {
      expect(bySplit(y, 'train')).toBeGreaterThan(0);
      expect(bySplit(y, 'validation')).toBeGreaterThan(0);
    }
    // the moved rows are the ones nearest the boundary: the rare class's smallest position, the other's largest
    const minRare = rare.filter(([, y]) => y === 'rare').sort((a, b) => splitPosition('relearn', a[0]) - splitPosition('relearn', b[0]))[0][0];
    const maxVal = rare.filter(([, y]) => y === 'valonly').sort((a, b) => splitPosition('relearn', b[0]) - splitPosition('relearn', a[0]))[0][0];
    const manifest = JSON.parse((await get(`datasets/${ref.datasetId}/manifest.json`)).toString());
    expect(manifest.split.moved.map((m: { id: string; to: string }) => [m.id, m.to])).toEqual([
      [minRare, 'validation'],
      [maxVal, 'train'],
    ]);
    // every other row keeps the split the plain hash gives it
    const moved = new Set([minRare, maxVal]);
    for (const r of got) if (!moved.has(r.id)) expect(r.split).toBe(splitPosition('relearn', r.id) < 0.2 ? 'validation' : 'train');
    // common classes keep their share of the validation split (within binomial noise)
    expect(bySplit('no', 'validation') / (bySplit('no', 'validation') + bySplit('no', 'train'))).toBeCloseTo(0.2, 1);
    // the single row cannot be in both: the manifest and the state say so, by name and count, with its line
    expect(manifest.split.tooRare).toEqual([{ name: 'solo', rows: 1, split: 'train', at: { file: 'incoming/strat/a.csv', line: 704 } }].map((t) => ({ ...t, split: got.find((r) => r.y === 'solo')!.split })));
    expect(ref.warnings).toEqual([expect.stringMatching(/^class "solo" of the label "y" has a single row \(incoming\/strat\/a\.csv line 704\): it cannot be in both splits and is in the (train|validation) split only$/)]);
    expect(manifest.split.classes).toContainEqual({ name: 'rare', rows: 3, train: 2, validation: 1 });
    // the line maps point every row (moved ones included) at its line in the source
    for (const r of got) expect(r.line).toBe(rows.findIndex(([id]) => id === r.id) + 2);
    // and the rewritten parts still match their manifest checksums and row counts
    for (const p of manifest.parts) {
      const body = await get(p.key);
      expect(createHash('sha256').update(body).digest('hex')).toBe(p.sha256);
      expect(body.toString().split('\n').length - 2).toBe(p.rows);
    }
    expect(ref.rows.train + ref.rows.validation).toBe(rows.length);
  });

  test('is deterministic: the same rows, in another order and another batch, land in the same splits', async () => {
    setLambdaEnv(CONFIG);
    await put('incoming/strat-2/a.csv', text([...rows].reverse()));
    const first = await handler(event('incoming/strat/'));
    const again = await handler(event('incoming/strat-2/'));
    expect(again.datasetId).not.toBe(first.datasetId);
    const split = async (ref: DatasetRef) => Object.fromEntries((await rowsOf(ref)).map((r) => [r.id, r.split]));
    expect(await split(again)).toEqual(await split(first));
  });

  test('regression keeps the plain hash split', async () => {
    setLambdaEnv({ ...CONFIG, dataset: { ...CONFIG.dataset, labelColumn: 'x' }, evaluation: { problemType: 'regression' } });
    const ref = await handler(event('incoming/strat/'));
    for (const r of await rowsOf(ref)) expect(r.split).toBe(splitPosition('relearn', r.id) < 0.2 ? 'validation' : 'train');
    const manifest = JSON.parse((await get(`datasets/${ref.datasetId}/manifest.json`)).toString());
    expect(manifest.split.stratifiedBy).toBeUndefined();
    expect(ref.warnings).toBeUndefined();
  });

  test('line maps cover a folder of files, gzip, quoted line breaks and several parts', async () => {
    setLambdaEnv({ dataset: { idColumn: 'id', labelColumn: 'y', rowsPerPart: 1000 } });
    const a = text(common.slice(0, 1500));
    const b = 'id,x,y\n' + common.slice(1500).map(([id, y], i) => `${id},"${i}\nmore",${y}`).join('\n') + '\n';
    await put('incoming/maps/a.csv', a);
    await put('incoming/maps/b.csv.gz', gzipSync(b));
    const ref = await handler(event('incoming/maps/'));
    expect(ref.parts.filter((p) => p.includes('/train/')).length).toBe(2);
    const got = await rowsOf(ref);
    for (const r of got) {
      const i = Number(r.id.slice(1));
      if (i < 1500) expect([r.file, r.line]).toEqual(['incoming/maps/a.csv', i + 2]);
      else expect([r.file, r.line]).toEqual(['incoming/maps/b.csv.gz', 2 * (i - 1500) + 2]);
    }
  });
});

describe('Stratifier', () => {
  const writer = (split: 'train' | 'validation') => ({ split, lastPlacement: () => ({ split, part: 0, row: 0, offset: 0, length: 1 }) });
  test('labels beyond the class cap keep the hash split and are counted; "1" and "1.0" are one class; empty labels are in none', () => {
    const s = new Stratifier(2);
    s.observe('1', 0.5, 'a', writer('train'), 'f', 2);
    s.observe(' 1.0 ', 0.1, 'b', writer('validation'), 'f', 3);
    s.observe('x', 0.6, 'c', writer('train'), 'f', 4);
    s.observe('y', 0.7, 'd', writer('train'), 'f', 5);
    s.observe('y', 0.8, 'e', writer('train'), 'f', 6);
    s.observe('', 0.9, 'g', writer('train'), 'f', 7);
    s.observe(null, 0.9, 'h', writer('train'), 'f', 8);
    const r = s.finish();
    expect(r.classes).toEqual([
      { name: '1', rows: 2, train: 1, validation: 1 },
      { name: 'x', rows: 1, train: 1, validation: 0 },
    ]);
    expect(r.untrackedRows).toBe(2);
    expect(r.tooRare).toEqual([{ name: 'x', rows: 1, split: 'train', at: { file: 'f', line: 4 } }]);
    expect(r.moves).toEqual([]);
  });
});
