import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Layout, RunManifest } from '../shared/contracts';
import { emptyState, TriggerState, TriggerStateSchema } from './state';

/**
 * The single-flight state in S3 (`trigger/state.json`), replaced only by conditional writes: If-Match with the ETag
 * that was read (If-None-Match: * for the first write). A concurrent invocation that wrote in between makes S3 answer
 * 412 (or 409 while both writes are in progress), and the loser reads again and re-decides. S3 has offered these
 * conditional writes since 2024; the local S3 answers them the same way (local/services/s3-conditional.ts).
 */
export class StateStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly kmsKeyArn?: string,
  ) {}

  /**
   * The state and the ETag it was read at. The key is listed first: the role's s3:ListBucket is limited to the
   * trigger/ prefix, and without list rights S3 answers a missing key with 403, not 404.
   */
  async read(now: Date): Promise<{ state: TriggerState; etag?: string }> {
    const key = Layout.triggerState;
    const listed = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: key, MaxKeys: 1 }));
    if (!(listed.Contents ?? []).some((o) => o.Key === key)) return { state: emptyState(now) };
    try {
      const res = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const text = await res.Body!.transformToString('utf8');
      return { state: TriggerStateSchema.parse(JSON.parse(text)), ...(res.ETag ? { etag: res.ETag } : {}) };
    } catch (err) {
      // Deleted between the listing and the read (by hand): start over from an empty state.
      if ((err as Error).name === 'NoSuchKey') return { state: emptyState(now) };
      throw err;
    }
  }

  /** Writes `state` if the object is still at `etag` (absent when `etag` is undefined); 'conflict' when it is not. */
  async write(state: TriggerState, etag: string | undefined): Promise<'written' | 'conflict'> {
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: Layout.triggerState,
          Body: JSON.stringify(state),
          ContentType: 'application/json',
          ...(etag ? { IfMatch: etag } : { IfNoneMatch: '*' }),
          ...this.encryption(),
        }),
      );
      return 'written';
    } catch (err) {
      if (isConflict(err)) return 'conflict';
      throw err;
    }
  }

  /** The run's manifest: content-addressed by its execution name, so writing it again writes the same bytes. */
  async putManifest(manifest: RunManifest): Promise<string> {
    const key = Layout.runManifest(manifest.executionName);
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: JSON.stringify(manifest, null, 2),
        ContentType: 'application/json',
        ...this.encryption(),
      }),
    );
    return key;
  }

  private encryption() {
    return this.kmsKeyArn ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: this.kmsKeyArn } : {};
  }
}

/** S3's answers to a conditional write that lost: 412 PreconditionFailed, 409 ConditionalRequestConflict, 404 (If-Match on a deleted key). */
export function isConflict(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  return e?.name === 'PreconditionFailed' || e?.name === 'ConditionalRequestConflict' || status === 412 || status === 409 || (status === 404 && e?.name === 'NoSuchKey');
}
