import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { conditionalRequests } from './s3-conditional';

// s3rver ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver');

/** Credentials s3rver accepts (it checks signatures). */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface LocalS3 {
  /** http://127.0.0.1:<port> (an IP, so the SDK uses path-style addressing). */
  readonly endpoint: string;
  readonly directory: string;
  /** A client for this server (explicit endpoint and credentials; it does not rely on process.env). */
  readonly client: S3Client;
  /** s3rver's in-process S3 event records (ObjectCreated:*), usable as the local trigger. */
  onEvent(listener: (event: unknown) => void): void;
  stop(): Promise<void>;
}

/**
 * Starts an S3-compatible server on 127.0.0.1 (a free port unless given), backed by `directory`,
 * and creates `buckets`. Used by local mode and by the tests.
 */
export async function startLocalS3(opts: { directory: string; buckets?: string[]; port?: number }): Promise<LocalS3> {
  mkdirSync(opts.directory, { recursive: true });
  const server = new S3rver({ address: '127.0.0.1', port: opts.port ?? 0, directory: opts.directory, silent: true });
  // Conditional writes and reads (If-Match / If-None-Match), which the trigger's state relies on, answered as S3 does.
  server.middleware.unshift(conditionalRequests(server.store));
  const address = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({ endpoint, region: 'us-east-1', credentials: LOCAL_S3_CREDENTIALS, forcePathStyle: true });
  for (const bucket of opts.buckets ?? []) {
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      const name = (err as Error).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
    }
  }
  return {
    endpoint,
    directory: opts.directory,
    client,
    onEvent: (listener) => server.on('event', listener),
    stop: async () => {
      client.destroy();
      await server.close();
    },
  };
}

/**
 * The process environment that points SDK clients at a local S3 (the SDK's standard variables),
 * with s3rver's credentials and its checksum quirk worked around.
 */
export function localS3Env(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
  };
}
