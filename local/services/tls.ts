import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';

/**
 * TLS for the local servers. The buckets' and the topic's policies deny any request with
 * `aws:SecureTransport: false`, so local mode serves S3, SageMaker and SNS over HTTPS, as AWS does, with a
 * certificate for 127.0.0.1 signed by a local CA that is generated once (openssl, P-256) and trusted only by
 * this process: while local services run, TLS clients created without their own `ca` (every SDK client, in
 * the bundles and in the CLI) trust the default roots plus this CA. Nothing is installed system-wide.
 *
 * The Python training and serving subprocesses never talk to the local servers (the SageMaker server fetches
 * their inputs and uploads their outputs itself), so they need no trust.
 */

export interface LocalTls {
  readonly ca: string;
  readonly key: string;
  readonly cert: string;
  readonly directory: string;
}

/** Where the CA and the server certificate live (one per user; regenerated when missing). */
export const TLS_DIR = join(tmpdir(), `relearn-local-tls-v1-${process.getuid?.() ?? 'user'}`);

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? ((r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'openssl is not installed (apt-get install openssl)' : r.error.message) : r.stderr.trim();
    throw new Error(`could not create the local TLS certificate: openssl ${args[0]}: ${why}`);
  }
}

/** The local CA and a 127.0.0.1 certificate, created on first use (atomically: concurrent test workers race here). */
export function localTls(dir = TLS_DIR): LocalTls {
  const files = ['ca.crt', 'server.key', 'server.crt'].map((f) => join(dir, f));
  if (!files.every((f) => existsSync(f))) {
    mkdirSync(join(dir, '..'), { recursive: true });
    const work = mkdtempSync(join(tmpdir(), 'relearn-tls-'));
    try {
      openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', '/CN=relearn local mode CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], work);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], work);
      writeFileSync(join(work, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
      openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '825', '-extfile', 'ext.cnf'], work);
      rmSync(join(work, 'ca.key')); // nothing else is ever signed with it
      try {
        renameSync(work, dir);
      } catch {
        // another process won the race: use its files
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { ca: read('ca.crt'), key: read('server.key'), cert: read('server.crt'), directory: dir };
}

// Options that make a secure context of their own: a client that sets any of them is left alone.
const OWN_CONTEXT = ['ca', 'cert', 'key', 'pfx', 'secureContext', 'secureProtocol', 'minVersion', 'maxVersion', 'ecdhCurve', 'sigalgs', 'crl', 'secureOptions', 'passphrase'];

let trusted = 0;
let original: typeof tls.createSecureContext | undefined;
let shared: tls.SecureContext | undefined;

/**
 * Trusts the local CA in this process until the returned function is called (counted: nested local services
 * share it). Patches `tls.createSecureContext`, which `tls.connect` calls for a client without `secureContext`.
 */
export function trustLocalCa(ca: string): () => void {
  if (trusted++ === 0) {
    original = tls.createSecureContext;
    const make = original;
    (tls as { createSecureContext: typeof tls.createSecureContext }).createSecureContext = function createSecureContext(options?: tls.SecureContextOptions) {
      const o = (options ?? {}) as Record<string, unknown>;
      // tls.connect always passes ciphers (tls.DEFAULT_CIPHERS unless the client chose its own).
      if (OWN_CONTEXT.some((k) => o[k] !== undefined) || (o.ciphers !== undefined && o.ciphers !== tls.DEFAULT_CIPHERS)) return make.call(tls, options);
      return (shared ??= make.call(tls, { ...options, ca: [...tls.rootCertificates, ca] }));
    };
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--trusted === 0 && original) {
      (tls as { createSecureContext: typeof tls.createSecureContext }).createSecureContext = original;
      original = undefined;
      shared = undefined;
    }
  };
}
