import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Authorizer } from '../iam/authorizer';
import { LOCAL_ADMIN_CREDENTIALS } from '../iam/identities';
import { conditionalRequests } from './s3-conditional';
import { s3AuthMiddleware } from './s3-auth';
import { localTls, trustLocalCa } from './tls';

// s3rver ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver');
// s3rver's own (global) key registry: it looks the access key up after our layer has verified the signature.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };

/**
 * The operator's credentials (what `cdk deploy`, the CLI's reads and the tests' inspection use): local mode's
 * admin identity (local/iam/identities.ts). Lambda functions and the SageMaker server get role credentials.
 * (The old name: every caller used to share one s3rver key.)
 */
export const LOCAL_S3_CREDENTIALS = LOCAL_ADMIN_CREDENTIALS;

export interface LocalS3 {
  /** https://127.0.0.1:<port> (an IP, so the SDK uses path-style addressing). */
  readonly endpoint: string;
  readonly directory: string;
  /** A client for this server as the operator (explicit endpoint and credentials; it does not rely on process.env). */
  readonly client: S3Client;
  readonly authorizer: Authorizer;
  /** s3rver's in-process S3 event records (ObjectCreated:*), usable as the local trigger. */
  onEvent(listener: (event: unknown) => void): void;
  stop(): Promise<void>;
}

export interface LocalS3Options {
  readonly directory: string;
  readonly buckets?: string[];
  readonly port?: number;
  /** Who may do what (shared with the other local servers). @default - a new Authorizer with only the operator */
  readonly authorizer?: Authorizer;
  /**
   * Plain s3rver as it was before enforcement: HTTP, no signature check beyond s3rver's, no IAM. Only for
   * bench/enforcement.ts's baseline; never in local mode or tests. @default false
   */
  readonly bare?: boolean;
}

/**
 * Starts an S3-compatible server on 127.0.0.1 over HTTPS (a free port unless given), backed by `directory`,
 * with local mode's IAM layer in front (local/services/s3-auth.ts), and creates `buckets`. Used by local mode
 * and by the tests.
 */
export async function startLocalS3(opts: LocalS3Options): Promise<LocalS3> {
  mkdirSync(opts.directory, { recursive: true });
  const authorizer = opts.authorizer ?? new Authorizer();
  const cert = opts.bare ? undefined : localTls();
  const release = cert ? trustLocalCa(cert.ca) : () => undefined;
  const server = new S3rver({ address: '127.0.0.1', port: opts.port ?? 0, directory: opts.directory, silent: true, ...(cert ? { key: cert.key, cert: cert.cert } : {}) });
  const auth = s3AuthMiddleware({ authorizer, directory: opts.directory });
  // Conditional writes and reads (If-Match / If-None-Match), which the trigger's state relies on, answered as S3 does
  // (after authorization, which goes first below).
  server.middleware.unshift(conditionalRequests(server.store));
  if (opts.bare) DUMMY_ACCOUNT.createKeyPair(LOCAL_ADMIN_CREDENTIALS.accessKeyId, LOCAL_ADMIN_CREDENTIALS.secretAccessKey);
  // First in s3rver's (Koa) chain: nothing reaches s3rver unauthenticated or unauthorized.
  if (!opts.bare) server.middleware.unshift(async (ctx: Parameters<typeof auth.middleware>[0], next: () => Promise<void>) => {
    const key = /Credential=([^/]+)\//.exec(String(ctx.req.headers.authorization ?? ''))?.[1];
    const identity = key ? authorizer.identities.byAccessKey(key) : undefined;
    if (identity) DUMMY_ACCOUNT.createKeyPair(identity.credentials.accessKeyId, identity.credentials.secretAccessKey);
    return auth.middleware(ctx, next);
  });
  let address: AddressInfo;
  try {
    address = (await server.run()) as AddressInfo;
  } catch (err) {
    release();
    throw err;
  }
  const endpoint = `${cert ? 'https' : 'http'}://127.0.0.1:${address.port}`;
  const client = localS3Client(endpoint);
  for (const bucket of opts.buckets ?? []) {
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      const name = (err as Error).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
    }
  }
  let stopped = false;
  return {
    endpoint,
    directory: opts.directory,
    client,
    authorizer,
    onEvent: (listener) => server.on('event', listener),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      client.destroy();
      auth.records.save();
      authorizer.flush();
      // A response nobody reads (a stream a handler dropped) would keep close() waiting forever: stopping ends
      // every connection, so a forgotten stream can never hang a run.
      const closed = server.close();
      (server.httpServer as import('node:http').Server | undefined)?.closeAllConnections();
      await closed;
      release();
    },
  };
}

/** An S3 client for the local S3 with explicit credentials (the operator's unless given). */
export function localS3Client(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = LOCAL_ADMIN_CREDENTIALS): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    credentials,
    forcePathStyle: true,
    // s3rver stores the SDK's trailing CRC32 as part of the object otherwise (FIELD-NOTES).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * The process environment that points SDK clients at a local S3 (the SDK's standard variables), with the
 * operator's credentials and s3rver's checksum quirk worked around. Local mode gives each Lambda its own role's
 * credentials on top of this (local/lambda-host.ts).
 */
export function localS3Env(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: LOCAL_ADMIN_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_ADMIN_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
  };
}
