import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { getJson } from '../shared/s3';

/**
 * Like getJsonIfExists, for roles that have s3:ListBucket only under a prefix (an `s3:prefix` condition), as
 * the pipeline's roles do: without an unconditional ListBucket, S3 answers GetObject on a missing key with
 * 403, not 404. Listing the exact key under its prefix tells "absent" from "forbidden" with least privilege.
 */
export async function getJsonIfListed<T = unknown>(s3: S3Client, bucket: string, key: string): Promise<T | undefined> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 10 }));
  if (!(listed.Contents ?? []).some((o) => o.Key === key)) return undefined;
  return getJson<T>(s3, bucket, key);
}
