import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';

/** `s3://bucket/key` <-> { bucket, key } */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new Error(`not an s3:// URI: ${uri}`);
  return { bucket: m[1], key: m[2] };
}

export const s3Uri = (bucket: string, key: string): string => `s3://${bucket}/${key}`;

export interface PutOptions {
  /** KMS key for SSE-KMS; the artifacts bucket's default encryption applies when omitted. */
  readonly kmsKeyArn?: string;
  readonly contentType?: string;
}

export async function putJson(s3: S3Client, bucket: string, key: string, value: unknown, opts: PutOptions = {}): Promise<string> {
  return putText(s3, bucket, key, JSON.stringify(value, null, 2), { contentType: 'application/json', ...opts });
}

export async function putText(s3: S3Client, bucket: string, key: string, body: string | Buffer, opts: PutOptions = {}): Promise<string> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: opts.contentType ?? 'text/plain; charset=utf-8',
      ...(opts.kmsKeyArn ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: opts.kmsKeyArn } : {}),
    }),
  );
  return s3Uri(bucket, key);
}

export async function getStream(s3: S3Client, bucket: string, key: string): Promise<Readable> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return res.Body as Readable;
}

export async function getBuffer(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

export async function getJson<T = unknown>(s3: S3Client, bucket: string, key: string): Promise<T> {
  return JSON.parse((await getBuffer(s3, bucket, key)).toString('utf8')) as T;
}

/**
 * Like getJson, but undefined when the object does not exist. It lists the exact key first: the pipeline's
 * roles have s3:ListBucket only under prefixes (an `s3:prefix` condition), and without an unconditional
 * ListBucket S3 answers GetObject on a missing key with 403, not 404. Listing tells "absent" from
 * "forbidden" with least privilege; a real AccessDenied still throws.
 */
export async function getJsonIfExists<T = unknown>(s3: S3Client, bucket: string, key: string): Promise<T | undefined> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 10 }));
  if (!(listed.Contents ?? []).some((o) => o.Key === key)) return undefined;
  return getJson<T>(s3, bucket, key);
}

export async function exists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}
