import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { ManifestObject } from '../shared/contracts';
import { RelearnError } from '../shared/errors';
import { getJson, isNotFound } from '../shared/s3';
import { quoteEtag } from './messages';
import { isMarkerKey } from './state';

/**
 * What a marker covers, or a prefix holds, read from S3 itself (never from the events, which may arrive after the
 * marker's): every object with its version id, size and ETag (HeadObject: the version is pinned so the run reads
 * exactly that, however the key changes later).
 */

/** A marker or a start request that names objects S3 does not have, or a producer manifest that does not parse. */
export class MarkerError extends RelearnError {
  override readonly name = 'MarkerError';
}

/** HEADs in flight at once. */
const HEAD_CONCURRENCY = 16;

/**
 * `manifest.json` written by a producer: the files of its batch, relative to the manifest's folder. An entry may
 * name the ETag or size it expects; a mismatch means the producer wrote the manifest before the file.
 */
export const ProducerManifestSchema = z
  .object({
    files: z
      .array(
        z.union([
          z.string().min(1),
          z.object({ path: z.string().min(1), etag: z.string().optional(), size: z.number().int().min(0).optional() }).strict(),
        ]),
      )
      .min(1),
  })
  .strict();

/** The folder of a key: `incoming/a/_SUCCESS` -> `incoming/a/`. */
export const folderOf = (key: string): string => key.slice(0, key.lastIndexOf('/') + 1);

/**
 * The objects a marker covers: `_SUCCESS` covers every object under its folder (markers, folders and empty objects
 * left out); `manifest.json` exactly the files it lists.
 */
export async function expandMarker(s3: S3Client, bucket: string, markerKey: string): Promise<ManifestObject[]> {
  const folder = folderOf(markerKey);
  if (markerKey.endsWith('/_SUCCESS') || markerKey === '_SUCCESS') return listObjects(s3, bucket, folder);
  let raw: unknown;
  try {
    raw = await getJson(s3, bucket, markerKey);
  } catch (err) {
    if (err instanceof SyntaxError) throw new MarkerError(`s3://${bucket}/${markerKey} is not JSON: ${err.message}`);
    throw err;
  }
  const parsed = ProducerManifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new MarkerError(`s3://${bucket}/${markerKey} must be {"files": ["<path relative to ${folder}>", ...]}: ${z.prettifyError(parsed.error)}`);
  }
  const entries = parsed.data.files.map((f) => (typeof f === 'string' ? { path: f } : f));
  for (const e of entries) {
    if (e.path.startsWith('/') || e.path.split('/').includes('..')) throw new MarkerError(`s3://${bucket}/${markerKey}: "${e.path}" must be a path inside ${folder}`);
  }
  const heads = await headAll(s3, bucket, entries.map((e) => `${folder}${e.path}`), markerKey);
  return heads.map((h, i) => {
    const want = entries[i];
    if (want.etag !== undefined && quoteEtag(want.etag) !== h.etag) {
      throw new MarkerError(`s3://${bucket}/${h.key}: ${markerKey} expects ETag ${quoteEtag(want.etag)}, but S3 has ${h.etag} (was the manifest written before the file?)`);
    }
    if (want.size !== undefined && want.size !== h.size) {
      throw new MarkerError(`s3://${bucket}/${h.key}: ${markerKey} expects ${want.size} bytes, but S3 has ${h.size}`);
    }
    return h;
  });
}

/** Every data object under `prefix` (markers, folders and empty objects left out), each HEADed for its version. */
export async function listObjects(s3: S3Client, bucket: string, prefix: string): Promise<ManifestObject[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      if (o.Key && !isMarkerKey(o.Key) && !o.Key.endsWith('/') && (o.Size ?? 0) > 0) keys.push(o.Key);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return headAll(s3, bucket, keys, `s3://${bucket}/${prefix}`);
}

async function headAll(s3: S3Client, bucket: string, keys: readonly string[], named: string): Promise<ManifestObject[]> {
  const out: ManifestObject[] = new Array(keys.length);
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const i = next++;
      const key = keys[i];
      try {
        const h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        out[i] = { key, ...(h.VersionId && h.VersionId !== 'null' ? { versionId: h.VersionId } : {}), size: h.ContentLength ?? 0, etag: quoteEtag(h.ETag ?? '') };
      } catch (err) {
        if (isNotFound(err)) throw new MarkerError(`s3://${bucket}/${key} (named by ${named}) does not exist`, { cause: err });
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, keys.length) }, worker));
  return out;
}
