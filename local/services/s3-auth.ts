import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { Authorizer, AuthorizationResult } from '../iam/authorizer';
import type { Identity } from '../iam/identities';
import type { RequestContext } from '../iam/policy';
import { AuthFailure, verifySignature } from '../iam/sigv4';

/**
 * The local S3's IAM layer: runs before s3rver handles a request. It verifies the SigV4 signature against the
 * credentials local mode handed out, maps the request to its IAM action(s) and resource(s) as S3 does, checks
 * SSE-KMS (kms:GenerateDataKey to write, kms:Decrypt to read, by identity policy and key policy), and answers
 * S3's own 403 XML when something is refused. It also remembers how each object was encrypted, since s3rver
 * does not, and answers a missing key with 403 instead of 404 when the caller may not list the bucket, as S3 does.
 */

/** How an object is encrypted: the KMS key ARN for SSE-KMS, else SSE-S3. */
type Encryption = { readonly kmsKeyArn?: string };

/** What a request needs, in IAM terms. */
export interface S3Access {
  /** S3's operation name, for the log. */
  readonly operation: string;
  readonly checks: { action: string; resource: string; context?: RequestContext }[];
  /** The object written (PutObject, CopyObject, CreateMultipartUpload): its encryption is checked and recorded. */
  readonly writes?: { bucket: string; key: string };
  /** The object read (GetObject, CopyObject's source): its key's kms:Decrypt is checked. */
  readonly reads?: { bucket: string; key: string };
  /** GetObject/HeadObject: a 404 becomes 403 unless the caller may list the bucket. */
  readonly missingIs403?: { bucket: string };
}

const S3_KEYS = ['s3:prefix', 's3:delimiter', 's3:max-keys', 's3:x-amz-server-side-encryption', 's3:x-amz-server-side-encryption-aws-kms-key-id', 's3:VersionId', 's3:signatureversion', 's3:authType', 's3:x-amz-content-sha256', 's3:TlsVersion', 's3:ResourceAccount', 's3:x-amz-acl', 's3:ExistingObjectTag/*', 's3:RequestObjectTag/*', 's3:RequestObjectTagKeys', 's3:object-lock-*'];
const KMS_KEYS = ['kms:ViaService', 'kms:CallerAccount', 'kms:EncryptionContext:*', 'kms:EncryptionContextKeys', 'kms:RequestAlias', 'kms:ResourceAliases', 'kms:KeySpec', 'kms:KeyUsage', 'kms:KeyOrigin', 'kms:GrantIsForAWSResource', 'kms:GrantOperations', 'kms:GranteePrincipal', 'kms:RetiringPrincipal'];

/** Maps one S3 request (path-style) to the IAM actions S3 authorizes it with. Throws for what local S3 does not map. */
export function s3AccessOf(method: string, path: string, query: URLSearchParams, headers: IncomingMessage['headers']): S3Access {
  const segments = path.split('/').slice(1);
  const bucket = decodeURIComponent(segments[0] ?? '');
  const key = segments.length > 1 ? segments.slice(1).map((s) => decodeURIComponent(s)).join('/') : '';
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const objectArn = `${bucketArn}/${key}`;
  const one = (operation: string, action: string, resource: string, context?: RequestContext): S3Access => ({ operation, checks: [{ action, resource, ...(context ? { context } : {}) }] });
  if (!bucket) {
    if (method === 'GET') return one('ListBuckets', 's3:ListAllMyBuckets', '*');
    throw new NotMapped(`${method} /`);
  }
  if (!key) {
    const sub = ['policy', 'cors', 'website', 'acl', 'tagging', 'versioning', 'lifecycle', 'encryption', 'notification', 'logging'].find((s) => query.has(s));
    switch (method) {
      case 'PUT':
        if (sub) throw new NotMapped(`PUT /${bucket}?${sub}`);
        return one('CreateBucket', 's3:CreateBucket', bucketArn);
      case 'DELETE':
        if (sub) throw new NotMapped(`DELETE /${bucket}?${sub}`);
        return one('DeleteBucket', 's3:DeleteBucket', bucketArn);
      case 'HEAD':
        return one('HeadBucket', 's3:ListBucket', bucketArn, { values: {}, known: S3_KEYS });
      case 'GET': {
        if (query.has('location')) return one('GetBucketLocation', 's3:GetBucketLocation', bucketArn);
        if (query.has('uploads')) return one('ListMultipartUploads', 's3:ListBucketMultipartUploads', bucketArn);
        if (query.has('versions')) return one('ListObjectVersions', 's3:ListBucketVersions', bucketArn, listContext(query));
        if (sub) throw new NotMapped(`GET /${bucket}?${sub}`);
        return one(query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects', 's3:ListBucket', bucketArn, listContext(query));
      }
      default:
        // POST ?delete (DeleteObjects) names its keys in the body: not mapped (no handler uses it).
        throw new NotMapped(`${method} /${bucket}${query.toString() ? `?${query}` : ''}`);
    }
  }
  const sse = sseContext(headers);
  switch (method) {
    case 'GET':
      if (query.has('uploadId')) return one('ListParts', 's3:ListMultipartUploadParts', objectArn);
      if (query.has('tagging')) return one('GetObjectTagging', query.has('versionId') ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging', objectArn);
      if (query.has('acl')) return one('GetObjectAcl', 's3:GetObjectAcl', objectArn);
      return {
        operation: 'GetObject',
        checks: [{ action: query.has('versionId') ? 's3:GetObjectVersion' : 's3:GetObject', resource: objectArn }],
        reads: { bucket, key },
        missingIs403: { bucket },
      };
    case 'HEAD':
      // HeadObject is authorized as GetObject; it returns metadata only, so it needs no kms:Decrypt.
      return { operation: 'HeadObject', checks: [{ action: query.has('versionId') ? 's3:GetObjectVersion' : 's3:GetObject', resource: objectArn }], missingIs403: { bucket } };
    case 'PUT': {
      if (query.has('tagging')) return one('PutObjectTagging', 's3:PutObjectTagging', objectArn);
      if (query.has('acl')) return one('PutObjectAcl', 's3:PutObjectAcl', objectArn);
      if (query.has('uploadId')) return one('UploadPart', 's3:PutObject', objectArn);
      const source = headers['x-amz-copy-source'];
      if (typeof source === 'string') {
        const m = /^\/?([^/]+)\/(.+?)(\?versionId=.*)?$/.exec(decodeURIComponent(source));
        if (!m) throw new NotMapped(`PUT with x-amz-copy-source ${source}`);
        return {
          operation: 'CopyObject',
          checks: [
            { action: m[3] ? 's3:GetObjectVersion' : 's3:GetObject', resource: `arn:aws:s3:::${m[1]}/${m[2]}` },
            { action: 's3:PutObject', resource: objectArn, context: sse },
          ],
          reads: { bucket: m[1], key: m[2] },
          writes: { bucket, key },
        };
      }
      return { operation: 'PutObject', checks: [{ action: 's3:PutObject', resource: objectArn, context: sse }], writes: { bucket, key } };
    }
    case 'POST':
      if (query.has('uploads')) return { operation: 'CreateMultipartUpload', checks: [{ action: 's3:PutObject', resource: objectArn, context: sse }], writes: { bucket, key } };
      if (query.has('uploadId')) return one('CompleteMultipartUpload', 's3:PutObject', objectArn);
      throw new NotMapped(`POST /${bucket}/${key}`);
    case 'DELETE':
      if (query.has('uploadId')) return one('AbortMultipartUpload', 's3:AbortMultipartUpload', objectArn);
      if (query.has('tagging')) return one('DeleteObjectTagging', 's3:DeleteObjectTagging', objectArn);
      return one('DeleteObject', query.has('versionId') ? 's3:DeleteObjectVersion' : 's3:DeleteObject', objectArn);
    default:
      throw new NotMapped(`${method} /${bucket}/${key}`);
  }
}

function listContext(query: URLSearchParams): RequestContext {
  const values: Record<string, string> = {};
  if (query.has('prefix')) values['s3:prefix'] = query.get('prefix')!;
  if (query.has('delimiter')) values['s3:delimiter'] = query.get('delimiter')!;
  if (query.has('max-keys')) values['s3:max-keys'] = query.get('max-keys')!;
  return { values, known: S3_KEYS };
}

function sseContext(headers: IncomingMessage['headers']): RequestContext {
  const values: Record<string, string> = {};
  const alg = headers['x-amz-server-side-encryption'];
  const key = headers['x-amz-server-side-encryption-aws-kms-key-id'];
  if (typeof alg === 'string') values['s3:x-amz-server-side-encryption'] = alg;
  if (typeof key === 'string') values['s3:x-amz-server-side-encryption-aws-kms-key-id'] = key;
  return { values, known: S3_KEYS };
}

/** A request local S3's IAM layer cannot map to actions: refused (501), never let through unchecked. */
export class NotMapped extends Error {
  constructor(what: string) {
    super(`the local S3 does not map ${what} to IAM actions, so it refuses it rather than let it through unchecked`);
    this.name = 'NotImplemented';
  }
}

/** The encryption of every object written through this layer, persisted beside s3rver's folders. */
export class EncryptionRecords {
  private readonly file: string;
  private readonly records: Record<string, Encryption>;
  private timer?: NodeJS.Timeout;

  constructor(directory: string) {
    this.file = join(directory, '.relearn-sse.json');
    this.records = existsSync(this.file) ? (JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, Encryption>) : {};
  }

  get(bucket: string, key: string): Encryption | undefined {
    return this.records[`${bucket}/${key}`];
  }

  set(bucket: string, key: string, e: Encryption): void {
    this.records[`${bucket}/${key}`] = e;
    // Written soon after, in one go: a run writes hundreds of objects.
    this.timer ??= setTimeout(() => this.save(), 50);
  }

  save(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.records));
    renameSync(tmp, this.file);
  }
}

const xmlEscape = (s: string): string => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

/** S3's error document. */
export function s3ErrorXml(code: string, message: string, extra: Record<string, string> = {}): string {
  const fields = Object.entries(extra).map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${fields}<RequestId>${Date.now().toString(16).toUpperCase()}</RequestId></Error>`;
}

// The part of Koa's context this layer uses (s3rver is a Koa app).
interface KoaContext {
  readonly req: IncomingMessage;
  readonly method: string;
  readonly path: string;
  readonly querystring: string;
  readonly url: string;
  status: number;
  body: unknown;
  type: string;
  set(name: string, value: string): void;
}

export interface S3AuthOptions {
  readonly authorizer: Authorizer;
  readonly directory: string;
}

/** Koa middleware: authentication and authorization in front of s3rver. */
export function s3AuthMiddleware(opts: S3AuthOptions): { middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>; records: EncryptionRecords } {
  const { authorizer } = opts;
  const records = new EncryptionRecords(opts.directory);
  const fail = (ctx: KoaContext, status: number, code: string, message: string, extra: Record<string, string> = {}) => {
    ctx.status = status;
    ctx.type = 'application/xml';
    ctx.body = s3ErrorXml(code, message, extra);
  };

  const keyArnOf = (id: string | undefined): string | undefined => (id === undefined ? undefined : (authorizer.model?.keyAliases.get(id) ?? (id.startsWith('arn:aws:kms:') ? id : undefined)));

  /** kms:<action> on the key, as S3 calls KMS for the caller (kms:ViaService = s3). */
  const kmsCheck = (identity: Identity, actions: string[], keyArn: string, bucket: string, request: string): AuthorizationResult => {
    const context: RequestContext = {
      values: {
        'aws:SecureTransport': 'true', // S3 -> KMS
        'kms:ViaService': `s3.${authorizer.region}.amazonaws.com`,
        'kms:CallerAccount': identity.principal.accountId,
        // A bucket with an S3 Bucket Key encrypts under the bucket's ARN as encryption context.
        'kms:EncryptionContext:aws:s3:arn': `arn:aws:s3:::${bucket}`,
      },
      known: KMS_KEYS,
    };
    return authorizer.authorizeAll(identity, actions.map((action) => ({ action, resource: keyArn })), request, context);
  };

  const middleware = async (ctx: KoaContext, next: () => Promise<void>): Promise<void> => {
    const req = ctx.req;
    let identity: Identity;
    try {
      const payloadHash = String(req.headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD');
      identity = verifySignature({ method: ctx.method, url: req.url ?? '/', headers: req.headers, payloadHash, service: 's3' }, authorizer.identities);
    } catch (err) {
      if (!(err instanceof AuthFailure)) throw err;
      const code = { missing: 'AccessDenied', 'unknown-key': 'InvalidAccessKeyId', 'bad-signature': 'SignatureDoesNotMatch', 'bad-token': 'InvalidToken', malformed: 'AuthorizationHeaderMalformed' }[err.kind];
      return fail(ctx, err.kind === 'malformed' ? 400 : 403, code, err.kind === 'missing' ? 'Access Denied' : err.message, err.accessKeyId ? { AWSAccessKeyId: err.accessKeyId } : {});
    }
    const query = new URLSearchParams(ctx.querystring);
    let access: S3Access;
    try {
      access = s3AccessOf(ctx.method, ctx.path, query, req.headers);
    } catch (err) {
      if (err instanceof NotMapped) return fail(ctx, 501, 'NotImplemented', err.message);
      throw err;
    }
    const secure = Boolean((req.socket as { encrypted?: boolean }).encrypted);
    const base: RequestContext = { values: { 'aws:SecureTransport': String(secure) }, known: S3_KEYS };
    const request = `S3 ${access.operation}`;
    let result: AuthorizationResult;
    try {
      result = authorizer.authorizeAll(identity, access.checks, request, base);
      // SSE-KMS: writing needs kms:GenerateDataKey (multipart also kms:Decrypt), reading needs kms:Decrypt.
      let writeKey: string | undefined;
      if (result.allowed && access.writes) {
        const alg = req.headers['x-amz-server-side-encryption'];
        const given = req.headers['x-amz-server-side-encryption-aws-kms-key-id'];
        const defaultKey = authorizer.model?.bucketKeys.get(access.writes.bucket);
        if (alg === 'aws:kms' || alg === 'aws:kms:dsse') {
          writeKey = keyArnOf(typeof given === 'string' ? given : defaultKey) ?? (typeof given === 'string' ? given : undefined);
          if (typeof given === 'string' && !keyArnOf(given) && authorizer.model) return fail(ctx, 400, 'KMS.NotFoundException', `Invalid keyId '${given}'`);
        } else if (alg === undefined) {
          writeKey = defaultKey;
        }
        if (writeKey) {
          const actions = access.operation === 'CreateMultipartUpload' ? ['kms:GenerateDataKey', 'kms:Decrypt'] : ['kms:GenerateDataKey'];
          result = kmsCheck(identity, actions, writeKey, access.writes.bucket, request);
        }
      }
      if (result.allowed && access.reads) {
        const enc = records.get(access.reads.bucket, access.reads.key) ?? { kmsKeyArn: authorizer.model?.bucketKeys.get(access.reads.bucket) };
        if (enc.kmsKeyArn) result = kmsCheck(identity, ['kms:Decrypt'], enc.kmsKeyArn, access.reads.bucket, request);
      }
      if (!result.allowed) return fail(ctx, 403, 'AccessDenied', result.message);
      let thrown: (Error & { status?: number }) | undefined;
      try {
        await next();
      } catch (err) {
        thrown = err as Error & { status?: number }; // s3rver throws its S3Errors (NoSuchKey, ...) for Koa to render
      }
      const status = thrown ? (thrown.status ?? 500) : ctx.status;
      if (access.missingIs403 && status === 404) {
        // S3 tells "no such key" only to a caller that may list the bucket; anyone else gets 403.
        const list = authorizer.authorize({
          identity,
          action: 's3:ListBucket',
          resource: `arn:aws:s3:::${access.missingIs403.bucket}`,
          context: { values: base.values, known: S3_KEYS },
          request: `${request} (404 -> 403 check)`,
        });
        if (!list.allowed) return fail(ctx, 403, 'AccessDenied', `${list.message} (S3 answers a missing key with 403 to a caller that may not list the bucket)`);
      }
      if (thrown) throw thrown;
      if (access.writes && status >= 200 && status < 300) {
        records.set(access.writes.bucket, access.writes.key, writeKey ? { kmsKeyArn: writeKey } : {});
        if (writeKey) {
          ctx.set('x-amz-server-side-encryption', 'aws:kms');
          ctx.set('x-amz-server-side-encryption-aws-kms-key-id', writeKey);
        }
      }
    } catch (err) {
      const e = err as Error;
      if (e.name === 'UnknownConditionKey' || e.name === 'UnsupportedPolicy') return fail(ctx, 500, 'InternalError', `local IAM: ${e.message}`);
      throw err;
    }
  };
  return { middleware, records };
}
