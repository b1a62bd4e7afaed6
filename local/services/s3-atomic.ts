import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * S3's atomic object writes, which s3rver 3.7.1's filesystem store does not give: it truncates the object's file and
 * writes it in place, then its metadata, so a GetObject during a PutObject of the same key can read part of the new
 * body (or an empty metadata file). S3 never shows a partial write: a read returns the old object or the new one.
 * The trigger reads and replaces `trigger/state.json` from concurrent invocations and found torn JSON here.
 *
 * This wraps the store: per key, writes (put, copy, delete) are exclusive and reads (metadata, get) shared, and a
 * put writes its body to a temporary file renamed over the object, so a read that opened the old body before the
 * put keeps reading the old body (the old inode) to its end.
 */

interface S3rverObject {
  readonly bucket: string;
  readonly key: string;
  readonly content: Buffer | NodeJS.ReadableStream;
  readonly metadata: Record<string, string>;
}

/** The parts of s3rver's FilesystemStore this patches. */
interface FilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  getMetadata(bucket: string, key: string): Promise<unknown>;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  copyObject(srcBucket: string, srcKey: string, destBucket: string, destKey: string, replacementMetadata?: unknown): Promise<unknown>;
  deleteObject(bucket: string, key: string): Promise<void>;
}

/** A readers-writer lock (readers first: a read inside a read never waits for a queued writer). */
class RwLock {
  private readers = 0;
  private writer = false;
  private waiters: (() => void)[] = [];

  get idle(): boolean {
    return this.readers === 0 && !this.writer && this.waiters.length === 0;
  }

  async read<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.wait();
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  async write<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer || this.readers > 0) await this.wait();
    this.writer = true;
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.wake();
    }
  }

  private wait(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

export function atomicObjects(store: FilesystemStore): void {
  const locks = new Map<string, RwLock>();
  // The keys this async context holds already: the store's own methods call each other (getObject -> getMetadata,
  // copyObject -> getMetadata), which must not wait for themselves.
  const held = new AsyncLocalStorage<ReadonlySet<string>>();
  const locked = async <T>(mode: 'read' | 'write', bucket: string, key: string, fn: () => Promise<T>): Promise<T> => {
    const id = `${bucket}/${key}`;
    const mine = held.getStore();
    if (mine?.has(id)) return fn();
    let lock = locks.get(id);
    if (!lock) locks.set(id, (lock = new RwLock()));
    try {
      return await lock[mode](() => held.run(new Set([...(mine ?? []), id]), fn));
    } finally {
      if (lock.idle && locks.get(id) === lock) locks.delete(id);
    }
  };

  const getMetadata = store.getMetadata.bind(store);
  const getObject = store.getObject.bind(store);
  const copyObject = store.copyObject.bind(store);
  const deleteObject = store.deleteObject.bind(store);

  store.getMetadata = (bucket, key) => locked('read', bucket, key, () => getMetadata(bucket, key));
  // Shared until the body's file is open: what it reads from there on is that version, whatever is written next.
  store.getObject = (bucket, key, options) => locked('read', bucket, key, () => getObject(bucket, key, options));
  store.copyObject = (srcBucket, srcKey, destBucket, destKey, replacement) =>
    locked('write', destBucket, destKey, () => copyObject(srcBucket, srcKey, destBucket, destKey, replacement));
  store.deleteObject = (bucket, key) => locked('write', bucket, key, () => deleteObject(bucket, key));
  store.putObject = (object) =>
    locked('write', object.bucket, object.key, async () => {
      const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
      await fsp.mkdir(dirname(objectPath), { recursive: true });
      // `<key>._S3rver_object.<random>.tmp` is not an object to s3rver's listings (they want the `._S3rver_object` suffix).
      const tmp = `${objectPath}.${randomBytes(6).toString('hex')}.tmp`;
      const md5 = createHash('md5');
      let size = 0;
      const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : (object.content as NodeJS.ReadableStream);
      try {
        await pipeline(
          source,
          new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              md5.update(chunk);
              size += chunk.length;
              callback(null, chunk);
            },
          }),
          createWriteStream(tmp),
        );
        await fsp.rename(tmp, objectPath);
      } catch (err) {
        await fsp.rm(tmp, { force: true });
        throw err;
      }
      const digest = md5.digest('hex');
      await store.putMetadata(object.bucket, object.key, object.metadata, digest);
      return { size, md5: digest };
    });
}
