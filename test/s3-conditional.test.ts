import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalS3, LocalS3 } from '../local/services/s3-server';
import { StateStore } from '../lambdas/trigger/store';
import { emptyState } from '../lambdas/trigger/state';

/** The local S3 answers conditional requests as S3 does (local/services/s3-conditional.ts); the trigger's state relies on them. */
let s3: LocalS3;
let dir: string;
const Bucket = 'artifacts';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relearn-s3cond-'));
  s3 = await startLocalS3({ directory: dir, buckets: [Bucket] });
});
afterAll(async () => {
  await s3.stop();
  rmSync(dir, { recursive: true, force: true });
});

const put = (Key: string, Body: string, cond: { IfMatch?: string; IfNoneMatch?: string } = {}) => s3.client.send(new PutObjectCommand({ Bucket, Key, Body, ...cond }));
const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; $metadata: { httpStatusCode: number } };
    return { name: e.name, status: e.$metadata.httpStatusCode };
  }
  throw new Error('the request succeeded');
};

describe('conditional writes', () => {
  test('If-None-Match: * creates once; a second create is 412 PreconditionFailed; other values are 501', async () => {
    await put('a.json', '1', { IfNoneMatch: '*' });
    expect(await failure(put('a.json', '2', { IfNoneMatch: '*' }))).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await failure(put('a.json', '2', { IfNoneMatch: '"abc"' }))).toEqual({ name: 'NotImplemented', status: 501 });
  });

  test('If-Match: 404 on a missing key, 412 on another ETag, and the write when it matches', async () => {
    expect(await failure(put('missing.json', 'x', { IfMatch: '"0123"' }))).toEqual({ name: 'NoSuchKey', status: 404 });
    const first = await put('b.json', 'v1');
    expect(await failure(put('b.json', 'v2', { IfMatch: '"not-it"' }))).toEqual({ name: 'PreconditionFailed', status: 412 });
    const second = await put('b.json', 'v2', { IfMatch: first.ETag });
    expect(second.ETag).not.toBe(first.ETag);
    const body = await (await s3.client.send(new GetObjectCommand({ Bucket, Key: 'b.json' }))).Body!.transformToString();
    expect(body).toBe('v2');
  });

  test('of 20 writers that read the same ETag, exactly one wins', async () => {
    const base = await put('race.json', 'base');
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => put('race.json', `writer ${i}`, { IfMatch: base.ETag })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as Error).name).toBe('PreconditionFailed');
  });

  test('GetObject with If-Match answers 412 once the object changed', async () => {
    const v1 = await put('c.csv', 'a,b\n1,2\n');
    await expect(s3.client.send(new GetObjectCommand({ Bucket, Key: 'c.csv', IfMatch: v1.ETag }))).resolves.toBeDefined();
    await put('c.csv', 'a,b\n3,4\n');
    expect(await failure(s3.client.send(new GetObjectCommand({ Bucket, Key: 'c.csv', IfMatch: v1.ETag })))).toEqual({ name: 'PreconditionFailed', status: 412 });
  });
});

describe("the trigger's state store", () => {
  test('the first write creates, a stale writer gets a conflict, the current one wins', async () => {
    const store = new StateStore(s3.client, Bucket);
    const now = new Date();
    const empty = await store.read(now);
    expect(empty.etag).toBeUndefined();
    expect(await store.write(emptyState(now), empty.etag)).toBe('written');
    // a second "first writer" that also saw no state loses
    expect(await store.write(emptyState(now), undefined)).toBe('conflict');
    const a = await store.read(now);
    const b = await store.read(now);
    expect(await store.write({ ...a.state, updatedAt: 'a' }, a.etag)).toBe('written');
    expect(await store.write({ ...b.state, updatedAt: 'b' }, b.etag)).toBe('conflict');
    expect((await store.read(now)).state.updatedAt).toBe('a');
  });
});
