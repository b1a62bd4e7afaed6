import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { captureKey, captureRecord } from '../../../lambdas/monitor/capture';
import { writeFileAtomic } from '../../atomic';
import { signalTree, spawnChild, stopTree } from './children';
import { materialize, parseS3Uri } from './s3io';
import type { Doc } from './store';
import type { Emit } from './types';
import { PACKAGE_ROOT } from '../../../lib/package-root';

/** From relearn's own folder (the Python files are shipped as they are; dist/ holds only compiled TypeScript). */
export const SERVE_SCRIPT = join(PACKAGE_ROOT, 'local', 'python', 'serve.py');

/** Where SageMaker extracts a model's ModelDataUrl in the serving container. */
export const MODEL_DIR = '/opt/ml/model';

/** One running model server (local/python/serve.py) for one endpoint config. */
export interface ServingProcess {
  readonly endpointConfigName: string;
  readonly variantName: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly folder: string;
  /** Set by stopServing: an exit after this is expected, not a crash. */
  stopping?: boolean;
}

export interface ServingContext {
  readonly s3: S3Client;
  readonly python: string;
  readonly emit: Emit;
  /** How long a model may take to load before the endpoint is declared Failed. */
  readonly startTimeoutMs: number;
}

/**
 * Starts a model server for `model` (CreateModel's document) the way the SKLearn serving container starts, from
 * scratch each time (a new instance: a fresh folder, everything downloaded again): model.tar.gz extracted to the
 * instance's model folder (/opt/ml/model), the code from SAGEMAKER_SUBMIT_DIRECTORY (under /opt/ml/model: the
 * model's own code/, nothing fetched; an s3:// tar.gz: downloaded, which an isolated container cannot do),
 * SAGEMAKER_PROGRAM imported, model_fn called, then /ping must answer. Rejects with the FailureReason SageMaker
 * would show.
 */
export async function startServing(
  ctx: ServingContext,
  opts: { endpoint: string; endpointConfigName: string; variantName: string; model: Doc; folder: string; failLoad?: string },
): Promise<ServingProcess> {
  const { model, folder } = opts;
  const container = ((model.PrimaryContainer ?? (model.Containers as Doc[] | undefined)?.[0]) ?? {}) as Doc;
  const env = (container.Environment as Record<string, string> | undefined) ?? {};
  const healthFailure = (detail: string): Error =>
    new Error(`The primary container for production variant ${opts.variantName} did not pass the ping health check: ${detail} (log: ${join(folder, 'serving.log')})`);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  const logFile = join(folder, 'serving.log');
  writeFileSync(logFile, '');

  const program = env.SAGEMAKER_PROGRAM;
  if (!program) throw healthFailure('the model has no SAGEMAKER_PROGRAM in its Environment');
  const submit = env.SAGEMAKER_SUBMIT_DIRECTORY;
  // An isolated container has no network: the SKLearn container cannot download an s3:// submit directory and fails
  // to start, as it would in SageMaker.
  if (model.EnableNetworkIsolation === true && submit && !submit.startsWith('/')) {
    throw healthFailure(`the container runs with network isolation and cannot download SAGEMAKER_SUBMIT_DIRECTORY ${submit}: put the code in the model (code/ in model.tar.gz, SAGEMAKER_SUBMIT_DIRECTORY=${MODEL_DIR}/code)`);
  }
  // SageMaker extracts ModelDataUrl into /opt/ml/model, which is this instance's model folder.
  let modelDir = join(folder, 'model');
  // Set only for code that is downloaded; code inside the model is found by serve.py from SAGEMAKER_SUBMIT_DIRECTORY.
  let codeDir: string | undefined;
  try {
    mkdirSync(modelDir, { recursive: true });
    if (container.ModelDataUrl) modelDir = await materialize(ctx.s3, String(container.ModelDataUrl), modelDir, 'ModelDataUrl');
    if (submit && !submit.startsWith(`${MODEL_DIR}/`) && submit !== MODEL_DIR) codeDir = await materialize(ctx.s3, submit, join(folder, 'code'), 'SAGEMAKER_SUBMIT_DIRECTORY');
  } catch (err) {
    const e = err as Error;
    throw new Error(`Failed to download model data for production variant ${opts.variantName}: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}`);
  }

  const childEnv: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ...env,
    SAGEMAKER_BIND_TO_PORT: '0',
    PYTHONUNBUFFERED: '1',
    ...(opts.failLoad !== undefined ? { RELEARN_FAIL_LOAD: opts.failLoad } : {}),
  };
  const child = spawnChild(ctx.python, [SERVE_SCRIPT, '--model-dir', modelDir, ...(codeDir ? ['--code-dir', codeDir] : []), '--program', program], {
    cwd: folder,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  let resolvePort: (port: number) => void = () => undefined;
  const portLine = new Promise<number>((r) => (resolvePort = r));
  const onLine = (line: string): void => {
    appendFileSync(logFile, line + '\n');
    const m = /^RELEARN_SERVING_PORT (\d+)$/.exec(line);
    if (m) return resolvePort(Number(m[1]));
    tail.push(line);
    if (tail.length > 20) tail.shift();
    ctx.emit({ kind: 'serving-log', endpoint: opts.endpoint, line });
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  const errClosed = new Promise<void>((r) => createInterface({ input: child.stderr! }).on('line', onLine).on('close', r));
  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => resolve(`the model server exited (${signal ?? `code ${code}`})`));
    child.on('error', (err) => resolve(`could not start ${ctx.python}: ${err.message}`));
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((r) => {
    timer = setTimeout(() => r(`the model did not load within ${ctx.startTimeoutMs} ms`), ctx.startTimeoutMs);
  });
  const first = await Promise.race([portLine, exited, timeout]);
  clearTimeout(timer);
  if (typeof first === 'string') {
    signalTree(child, 'SIGKILL');
    await Promise.race([errClosed, new Promise((r) => setTimeout(r, 500))]);
    const lastError = [...tail].reverse().find((l) => /\w+(Error|Exception)\b.*:/.test(l)) ?? tail.at(-1) ?? first;
    throw healthFailure(lastError.trim());
  }
  const port = first;
  const status = await ping(port).catch((err: Error) => err.message);
  if (status !== 200) {
    signalTree(child, 'SIGKILL');
    throw healthFailure(`GET /ping answered ${status}`);
  }
  writeFileAtomic(join(folder, 'serving.pid'), `${child.pid}\n`);
  return { endpointConfigName: opts.endpointConfigName, variantName: opts.variantName, port, child, folder };
}

export function ping(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/ping', timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('GET /ping timed out')));
    req.on('error', reject);
  });
}

export async function stopServing(p: ServingProcess | undefined): Promise<void> {
  if (!p) return;
  p.stopping = true;
  await stopTree(p.child, 2000);
}

/** Forwards one invocation to a model server; resolves with its status, content type and body. */
export function invoke(
  port: number,
  body: Buffer,
  headers: { contentType?: string; accept?: string; customAttributes?: string },
  timeoutMs = 60000,
): Promise<{ status: number; contentType: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { 'content-length': String(body.length) };
    if (headers.contentType) h['content-type'] = headers.contentType;
    if (headers.accept) h.accept = headers.accept;
    if (headers.customAttributes) h['x-amzn-sagemaker-custom-attributes'] = headers.customAttributes;
    const req = http.request({ host: '127.0.0.1', port, path: '/invocations', method: 'POST', headers: h, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('Your invocation timed out while waiting for a response from container primary.')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Data capture, as a SageMaker endpoint does it (DataCaptureConfig of the endpoint config that serves): a sampled
 * share of the invocations the model answered, request and/or response, in SageMaker's JSON Lines format
 * (lambdas/monitor/capture.ts), written to `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl`
 * with SSE-KMS under the config's KmsKeyId. Records are buffered per endpoint and variant and written as one file per
 * flush (every `flushMs`, at `maxRecords`, and on stop), as SageMaker writes a file every few minutes. A failed write
 * is reported on the event stream and never fails the invocation.
 */
export class CaptureWriter {
  private readonly buffers = new Map<string, { destination: string; endpoint: string; variant: string; role: string; kms?: string; lines: string[]; first: Date }>();
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    /** SageMaker writes captures as the model's execution role: the S3 client acting as that role. */
    private readonly s3ForRole: (roleArn: string) => S3Client,
    private readonly emit: Emit,
    private readonly opts: { readonly flushMs?: number; readonly maxRecords?: number; readonly random?: () => number } = {},
  ) {}

  /** Records one answered invocation when the endpoint config captures (and the sample draws it); `role` is the model's execution role. */
  record(endpoint: string, variant: string, config: Doc | undefined, role: string, input: { body: Buffer; contentType?: string }, output: { body: Buffer; contentType?: string }, time: Date, inferenceId?: string): void {
    const dc = config?.DataCaptureConfig as Doc | undefined;
    if (!dc || dc.EnableCapture === false) return;
    const percent = Number(dc.InitialSamplingPercentage ?? 0);
    if (!((this.opts.random ?? Math.random)() * 100 < percent)) return;
    const modes = new Set(((dc.CaptureOptions as Doc[] | undefined) ?? []).map((o) => String(o.CaptureMode)));
    const withInput = modes.has('Input') || modes.has('InputAndOutput');
    const withOutput = modes.has('Output') || modes.has('InputAndOutput');
    const header = dc.CaptureContentTypeHeader as { CsvContentTypes?: string[]; JsonContentTypes?: string[] } | undefined;
    const types = header ? { csv: header.CsvContentTypes ?? [], json: header.JsonContentTypes ?? [] } : null;
    const rec = captureRecord({ ...(withInput ? { input } : {}), ...(withOutput ? { output } : {}), time, inferenceId, textTypes: types });
    const destination = String(dc.DestinationS3Uri);
    const key = `${destination}|${endpoint}|${variant}|${role}`;
    let buf = this.buffers.get(key);
    if (!buf) {
      buf = { destination, endpoint, variant, role, ...(dc.KmsKeyId ? { kms: String(dc.KmsKeyId) } : {}), lines: [], first: time };
      this.buffers.set(key, buf);
    }
    buf.lines.push(JSON.stringify(rec));
    if (buf.lines.length >= (this.opts.maxRecords ?? 1000)) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs ?? 1000).unref();
  }

  /** Writes every buffered record now (one file per endpoint and variant); resolves when they are in S3. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batches = [...this.buffers.values()];
    this.buffers.clear();
    this.writing = this.writing.then(async () => {
      for (const b of batches) {
        const { bucket, key: prefix } = parseS3Uri(b.destination, 'DataCaptureConfig.DestinationS3Uri');
        const key = captureKey(prefix ? `${prefix.replace(/\/+$/, '')}/` : '', b.endpoint, b.variant, b.first);
        try {
          await this.s3ForRole(b.role).send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: b.lines.join('\n') + '\n',
              ContentType: 'application/jsonl',
              ...(b.kms ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: b.kms } : {}),
            }),
          );
        } catch (err) {
          this.emit({ kind: 'serving-log', endpoint: b.endpoint, line: `data capture: ${b.lines.length} record(s) could not be written to s3://${bucket}/${key}: ${(err as Error).message}` });
        }
      }
    });
    return this.writing;
  }
}
