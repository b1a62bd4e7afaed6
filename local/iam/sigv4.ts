import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Identity, IdentityStore } from './identities';

/**
 * Signature Version 4 verification, as AWS does it for the services local mode serves: the caller's access key
 * must exist, the request must be signed with its secret, and a temporary key must come with its own session
 * token. The answer names what went wrong in the terms each service uses (see `AuthFailure.kind`).
 */

export type AuthFailureKind = 'missing' | 'unknown-key' | 'bad-signature' | 'bad-token' | 'malformed';

export class AuthFailure extends Error {
  constructor(
    readonly kind: AuthFailureKind,
    message: string,
    readonly accessKeyId?: string,
  ) {
    super(message);
    this.name = 'AuthFailure';
  }
}

export interface SignedRequest {
  readonly method: string;
  /** The path and query exactly as sent (`req.url`). */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The body's SHA-256 (hex), or S3's `x-amz-content-sha256` value (which may be UNSIGNED-PAYLOAD). */
  readonly payloadHash: string;
  /** S3 signs the path as sent; other services sign it URI-encoded once more. */
  readonly service: 's3' | 'other';
}

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
const encode = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const decode = (s: string): string => {
  try {
    return decodeURIComponent(s.replace(/\+/g, '%20'));
  } catch {
    return s;
  }
};

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

function canonicalQuery(query: string): string {
  if (!query) return '';
  return query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      const k = i < 0 ? p : p.slice(0, i);
      const v = i < 0 ? '' : p.slice(i + 1);
      return [encode(decode(k)), encode(decode(v))] as const;
    })
    .filter(([k]) => k !== 'X-Amz-Signature')
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function canonicalPath(path: string, service: SignedRequest['service']): string {
  if (service === 's3') return path || '/';
  // Other services: normalized, then each segment encoded (the SDK encodes the already-encoded path again).
  return (path || '/').split('/').map((seg) => encode(seg)).join('/');
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};

/** Verifies a request's Authorization header; returns the caller's identity or throws AuthFailure. */
export function verifySignature(req: SignedRequest, store: IdentityStore): Identity {
  const auth = header(req.headers, 'authorization');
  if (!auth) {
    if (req.url.includes('X-Amz-Signature=')) throw new AuthFailure('malformed', 'presigned (query string) requests are not supported by the local servers');
    throw new AuthFailure('missing', 'Request is missing Authentication Token');
  }
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(auth.trim());
  if (!m) throw new AuthFailure('malformed', `Authorization header requires Credential, SignedHeaders and Signature (AWS4-HMAC-SHA256), got "${auth.slice(0, 60)}..."`);
  const [, accessKeyId, date, region, service, signedHeaders, signature] = m;
  const identity = store.byAccessKey(accessKeyId);
  if (!identity) throw new AuthFailure('unknown-key', 'The AWS Access Key Id you provided does not exist in our records.', accessKeyId);
  const token = header(req.headers, 'x-amz-security-token');
  if ((identity.credentials.sessionToken ?? undefined) !== (token ?? undefined)) {
    throw new AuthFailure('bad-token', 'The security token included in the request is invalid.', accessKeyId);
  }
  const amzDate = header(req.headers, 'x-amz-date') ?? '';
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = q < 0 ? '' : req.url.slice(q + 1);
  const names = signedHeaders.split(';');
  const canonicalHeaders = names.map((n) => `${n}:${(header(req.headers, n) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalRequest = [req.method, canonicalPath(path, req.service), canonicalQuery(query), canonicalHeaders, signedHeaders, req.payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${identity.credentials.secretAccessKey}`, date), region), service), 'aws4_request');
  const expected = hmac(key, stringToSign);
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AuthFailure(
      'bad-signature',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      accessKeyId,
    );
  }
  return identity;
}

/**
 * Signs a raw request as `credentials` (SigV4, the way the SDK does for a JSON/query service): for tests and
 * tools that send what the SDK cannot (an unknown operation, a malformed body). Returns the headers to send.
 */
export function signRequest(opts: {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | Buffer;
  service: string;
  region?: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  now?: Date;
}): Record<string, string> {
  const u = new URL(opts.url);
  const amzDate = (opts.now ?? new Date()).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const date = amzDate.slice(0, 8);
  const region = opts.region ?? 'us-east-1';
  const headers: Record<string, string> = {
    ...Object.fromEntries(Object.entries(opts.headers).map(([k, v]) => [k.toLowerCase(), v])),
    host: u.host,
    'x-amz-date': amzDate,
    ...(opts.credentials.sessionToken ? { 'x-amz-security-token': opts.credentials.sessionToken } : {}),
  };
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers[n].trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const canonical = [opts.method, canonicalPath(u.pathname, opts.service === 's3' ? 's3' : 'other'), canonicalQuery(u.search.slice(1)), canonicalHeaders, signedHeaders, sha256Hex(opts.body)].join('\n');
  const scope = `${date}/${region}/${opts.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${opts.credentials.secretAccessKey}`, date), region), opts.service), 'aws4_request');
  const signature = hmac(key, stringToSign).toString('hex');
  return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${opts.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}` };
}
