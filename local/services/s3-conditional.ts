/**
 * S3's conditional requests, which s3rver 3.7.1 does not implement, as AWS answers them:
 *
 * - PutObject with `If-None-Match: *` (since August 2024): 412 PreconditionFailed when the key exists; any other
 *   value is 501 NotImplemented.
 * - PutObject with `If-Match: <etag>` (since November 2024): 404 NoSuchKey when the key does not exist, 412 when its
 *   ETag differs.
 * - GetObject / HeadObject with `If-Match: <etag>`: 412 when the ETag differs (s3rver ignores the header).
 *
 * Every PutObject of a key is serialized with the others of that key, so a condition is checked and the write done
 * as one step, as S3 does (where two writes race, one of them gets 412; S3 may also answer 409
 * ConditionalRequestConflict while both are in progress, which callers treat the same way).
 *
 * Path-style requests only (local mode addresses 127.0.0.1, so the SDK never goes virtual-hosted).
 */

// s3rver ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3Error = require('s3rver/lib/models/error') as new (code: string, message: string, detail?: Record<string, string>) => Error;

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}
type Next = () => Promise<unknown>;
interface Store {
  getMetadata(bucket: string, key: string): Promise<{ etag: string }>;
}

/** Query parameters a plain PutObject may carry (the SDK adds `x-id`); anything else is a sub-resource or multipart call. */
const PLAIN_OBJECT_QUERY = new Set(['x-id']);

const unquote = (etag: string): string => etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');

/** True when `header` (`"a"`, `"a", "b"` or `*`) matches `etag`. */
export function etagMatches(header: string, etag: string): boolean {
  const wanted = header.split(',').map((h) => h.trim());
  return wanted.includes('*') || wanted.some((w) => unquote(w) === unquote(etag));
}

/** The Koa middleware, first in s3rver's chain: `server.middleware.unshift(conditionalRequests(server.store))`. */
export function conditionalRequests(store: Store) {
  const locks = new Map<string, Promise<unknown>>();
  const serialized = async <T>(id: string, fn: () => Promise<T>): Promise<T> => {
    const previous = locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = previous.then(() => mine);
    locks.set(id, chained);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (locks.get(id) === chained) locks.delete(id);
    }
  };
  const currentEtag = async (bucket: string, key: string): Promise<string | undefined> => {
    try {
      return (await store.getMetadata(bucket, key)).etag;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  const header = (ctx: KoaContext, name: string): string | undefined => {
    const v = ctx.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };

  return async (ctx: KoaContext, next: Next): Promise<unknown> => {
    const m = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
    if (!m) return next();
    const bucket = m[1];
    const key = decodeURIComponent(m[2]);
    const ifMatch = header(ctx, 'if-match');
    const ifNoneMatch = header(ctx, 'if-none-match');

    if (ctx.method === 'PUT' && Object.keys(ctx.query).every((q) => PLAIN_OBJECT_QUERY.has(q)) && !ctx.headers['x-amz-copy-source']) {
      return serialized(`${bucket}/${key}`, async () => {
        if (ifNoneMatch !== undefined) {
          if (ifNoneMatch.trim() !== '*') throw new S3Error('NotImplemented', 'A header you provided implies functionality that is not implemented', { Header: 'If-None-Match' });
          if ((await currentEtag(bucket, key)) !== undefined) {
            throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' });
          }
        }
        if (ifMatch !== undefined) {
          const etag = await currentEtag(bucket, key);
          if (etag === undefined) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
          if (!etagMatches(ifMatch, etag)) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
        }
        return next();
      });
    }
    if ((ctx.method === 'GET' || ctx.method === 'HEAD') && ifMatch !== undefined && Object.keys(ctx.query).every((q) => PLAIN_OBJECT_QUERY.has(q) || q === 'versionId')) {
      const etag = await currentEtag(bucket, key);
      // A missing key is s3rver's own 404.
      if (etag !== undefined && !etagMatches(ifMatch, etag)) {
        throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
      }
    }
    return next();
  };
}
