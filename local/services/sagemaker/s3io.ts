import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, posix, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar';

export function parseS3Uri(uri: string, what: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new Error(`${what} must be an s3:// URI, but got "${uri}"`);
  return { bucket: m[1], key: m[2] };
}

async function writeBody(body: unknown, file: string): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  await pipeline(body as Readable, createWriteStream(file));
}

export async function downloadObject(s3: S3Client, uri: string, file: string, what: string): Promise<void> {
  const { bucket, key } = parseS3Uri(uri, what);
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    await writeBody(out.Body, file);
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'NoSuchKey' || name === 'NoSuchBucket' || name === 'NotFound') {
      throw new Error(`${what}: ${uri} does not exist`);
    }
    throw err;
  }
}

/**
 * SageMaker's S3Prefix semantics: every object whose key starts with the prefix lands in `dir`, at its key
 * relative to the prefix (a prefix that names one object gives that object's file name). Returns the count.
 */
export async function downloadPrefix(s3: S3Client, uri: string, dir: string): Promise<number> {
  const { bucket, key: prefix } = parseS3Uri(uri, 'S3Uri');
  mkdirSync(dir, { recursive: true });
  let token: string | undefined;
  let count = 0;
  const root = resolve(dir);
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const obj of page.Contents ?? []) {
      const key = obj.Key ?? '';
      if (key.endsWith('/')) continue; // folder placeholder objects
      let rel = key.slice(prefix.length).replace(/^\/+/, '');
      if (rel === '') rel = posix.basename(key);
      else if (!prefix.endsWith('/') && !key.slice(prefix.length).startsWith('/')) {
        // "s3://b/data/tr" matching "data/train/x.csv": keep the path from the prefix's last folder on.
        rel = key.slice(prefix.lastIndexOf('/') + 1);
      }
      const file = resolve(root, ...rel.split('/'));
      if (!file.startsWith(root + sep)) throw new Error(`S3 key ${key} escapes the channel folder`);
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await writeBody(out.Body, file);
      count++;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return count;
}

export async function uploadFile(s3: S3Client, file: string, uri: string): Promise<void> {
  const { bucket, key } = parseS3Uri(uri, 'S3 output');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(file) }));
}

/** Every file under `dir`, at its relative path under the `uri` prefix (SageMaker's checkpoint sync). Returns the count. */
export async function uploadFolder(s3: S3Client, dir: string, uri: string): Promise<number> {
  if (!existsSync(dir)) return 0;
  const base = uri.endsWith('/') ? uri : `${uri}/`;
  let count = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const entry of readdirSync(resolve(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) {
        await uploadFile(s3, resolve(dir, child), `${base}${child}`);
        count++;
      }
    }
  };
  await walk('');
  return count;
}

/** A gzipped tar of a folder's contents, entries at the archive root (as SageMaker packs /opt/ml/model). */
export async function tarFolder(dir: string, file: string): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const entries = existsSync(dir) ? readdirSync(dir) : [];
  if (entries.length === 0) {
    mkdirSync(dir, { recursive: true });
    await tar.c({ gzip: true, file, cwd: dir, portable: true }, ['.']);
    return;
  }
  await tar.c({ gzip: true, file, cwd: dir, portable: true }, entries.sort());
}

export async function untar(file: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await tar.x({ file, cwd: dir });
}

/**
 * Brings a code or model location into `dir`: an s3:// tar.gz is downloaded and extracted; a local folder is
 * used as it is (returned); a local .tar.gz is extracted. Returns the folder that holds the content.
 */
export async function materialize(s3: S3Client, location: string, dir: string, what: string): Promise<string> {
  if (location.startsWith('s3://')) {
    const archive = `${dir}.tar.gz`;
    await downloadObject(s3, location, archive, what);
    await untar(archive, dir);
    return dir;
  }
  const path = location.replace(/^file:\/\//, '');
  if (!existsSync(path)) throw new Error(`${what}: ${location} does not exist`);
  if (statSync(path).isDirectory()) return path;
  await untar(path, dir);
  return dir;
}

export const joinUri = (base: string, ...parts: string[]): string => [base.replace(/\/+$/, ''), ...parts].join('/');
