import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ApiError } from './api-error';
import { ControlPlane } from './control-plane';
import { localS3Client } from './s3io';
import { CaptureWriter, invoke } from './serving';
import { CLOUDWATCH_TARGET_PREFIX, LocalCloudWatch } from '../cloudwatch';
import { Store } from './store';
import { ACCOUNT, EventInput, LocalFaults, LocalSageMakerEvent, region } from './types';

export type { LocalFaults, LocalSageMakerEvent } from './types';

export interface LocalSageMakerOptions {
  /** State (state.json, notifications.jsonl) and job/endpoint folders live here; a second start sees the first's resources. */
  readonly directory: string;
  /** The local S3 (credentials S3RVER/S3RVER, see local/services/s3-server.ts). */
  readonly s3Endpoint: string;
  /** Interpreter for training and serving. @default - findPython() */
  readonly python?: string;
  /** Faults to start with; merged over `RELEARN_LOCAL_FAULTS` (JSON) from the environment. @default - none */
  readonly faults?: LocalFaults;
  /** Progress: training status/log lines/metrics, endpoint status, serving logs, notifications. @default - none */
  readonly onEvent?: (e: LocalSageMakerEvent) => void;
  /** How long a model may take to load before its endpoint fails. @default 120000 */
  readonly servingStartTimeoutMs?: number;
}

export interface LocalSageMaker {
  /** http://127.0.0.1:<port>: the value for AWS_ENDPOINT_URL_SAGEMAKER, _SAGEMAKER_RUNTIME and _SNS. */
  readonly endpoint: string;
  setFaults(f: LocalFaults): void;
  /** Writes the captured traffic buffered so far (data capture) to S3; resolves once it is there. */
  flushCaptures(): Promise<void>;
  /** Stops every child process (training jobs, model servers) and the HTTP server. */
  stop(): Promise<void>;
}

/** The SDK's standard endpoint variables pointing the SageMaker, runtime, SNS and CloudWatch clients at the local server. */
export function localSageMakerEnv(endpoint: string): Record<string, string> {
  return { AWS_ENDPOINT_URL_SAGEMAKER: endpoint, AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: endpoint, AWS_ENDPOINT_URL_SNS: endpoint, AWS_ENDPOINT_URL_CLOUDWATCH: endpoint };
}

const pythonCache = new Map<string, boolean>();

/**
 * An interpreter that can `import sklearn`: `preferred`, then RELEARN_PYTHON, then /usr/bin/python3, then
 * python3 on PATH. Throws naming every candidate tried and how to get scikit-learn.
 */
export function findPython(preferred?: string, fallbacks: readonly string[] = ['/usr/bin/python3', 'python3']): string {
  const candidates = [preferred, process.env.RELEARN_PYTHON, ...fallbacks].filter((c): c is string => !!c);
  const tried: string[] = [];
  for (const c of [...new Set(candidates)]) {
    let ok = pythonCache.get(c);
    let why = 'cannot import sklearn';
    if (ok === undefined) {
      const r = spawnSync(c, ['-c', 'import sklearn, numpy'], { encoding: 'utf8', timeout: 60000 });
      ok = r.status === 0;
      if (r.error) why = (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : r.error.message;
      pythonCache.set(c, ok);
    }
    if (ok) return c;
    tried.push(`${c} (${why})`);
  }
  throw new Error(
    `No Python interpreter with scikit-learn found; tried ${tried.join(', ')}. ` +
      'Install it with `apt-get install python3-sklearn python3-pandas` (Debian/Ubuntu), or set RELEARN_PYTHON to an interpreter that has it.',
  );
}

function parseEnvFaults(): LocalFaults {
  const raw = process.env.RELEARN_LOCAL_FAULTS;
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new Error(`RELEARN_LOCAL_FAULTS must be JSON like {"failTraining":"reason"} or {"throttle":6}, but got ${raw} (${(err as Error).message})`);
  }
  return checkFaults(parsed, 'RELEARN_LOCAL_FAULTS');
}

const KNOWN_FAULTS: readonly string[] = ['failTraining', 'failEndpointUpdate', 'delayMs', 'throttle'];

/** Operations the throttle fault leaves alone: set-up calls that are not the pipeline's (see LocalFaults.throttle). */
const NOT_THROTTLED = new Set(['CreateModelPackageGroup']);

function checkFaults(f: unknown, where: string): LocalFaults {
  if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new Error(`${where} must be an object with ${KNOWN_FAULTS.join(', ')}`);
  const o = f as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN_FAULTS.includes(k)) throw new Error(`${where}: unknown fault "${k}" (known: ${KNOWN_FAULTS.join(', ')})`);
  }
  for (const k of ['failTraining', 'failEndpointUpdate']) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new Error(`${where}.${k} must be a string (the failure reason), but got ${JSON.stringify(o[k])}`);
  }
  if (o.delayMs !== undefined && (typeof o.delayMs !== 'number' || !(o.delayMs >= 0))) throw new Error(`${where}.delayMs must be a number >= 0, but got ${JSON.stringify(o.delayMs)}`);
  if (o.throttle !== undefined && (typeof o.throttle !== 'number' || !Number.isInteger(o.throttle) || o.throttle < 0)) {
    throw new Error(`${where}.throttle must be a whole number of calls >= 0, but got ${JSON.stringify(o.throttle)}`);
  }
  return o as LocalFaults;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body: string | Buffer, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)), 'x-amzn-requestid': randomUUID() });
  res.end(body);
}

const xmlEscape = (s: string): string => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

/**
 * Starts the local SageMaker control plane + runtime + SNS on one 127.0.0.1 port (a free one). Endpoints
 * that were InService in the persisted state are serving again before this resolves.
 */
export async function startLocalSageMaker(opts: LocalSageMakerOptions): Promise<LocalSageMaker> {
  mkdirSync(opts.directory, { recursive: true });
  let faults: LocalFaults = { ...parseEnvFaults(), ...(opts.faults ? checkFaults(opts.faults, 'faults') : {}) };
  const python = opts.python ?? findPython();
  const store = new Store(opts.directory);
  const s3 = localS3Client(opts.s3Endpoint);
  const emit = (e: EventInput): void => {
    try {
      opts.onEvent?.({ ...e, time: Date.now() } as LocalSageMakerEvent);
    } catch {
      // a listener's failure must not break a training job or an endpoint
    }
  };
  const cp = new ControlPlane({
    store,
    s3,
    python,
    directory: opts.directory,
    emit,
    faults: () => faults,
    consumeFault: (f) => {
      const { [f]: _used, ...rest } = faults;
      faults = rest;
    },
    servingStartTimeoutMs: opts.servingStartTimeoutMs ?? 120000,
  });
  const notifications = join(opts.directory, 'notifications.jsonl');
  /** What SNS Publish does locally: one line in notifications.jsonl and a progress event. */
  const publish = (topicArn: string, message: string, subject?: string, attributes: Record<string, unknown> = {}): string => {
    const messageId = randomUUID();
    appendFileSync(notifications, JSON.stringify({ messageId, topicArn, subject, message, messageAttributes: attributes, timestamp: new Date().toISOString() }) + '\n');
    emit({ kind: 'notification', topicArn, messageId, subject, message });
    return messageId;
  };
  // Data capture of the endpoints, and CloudWatch (the endpoints' invocation metrics, the monitor's metrics, alarms).
  const captures = new CaptureWriter(s3, emit);
  const cloudwatch = new LocalCloudWatch({ directory: opts.directory, region: region(), account: ACCOUNT, publish: (topic, subject, message) => void publish(topic, message, subject) });
  // Delayed answers (the delayMs fault) end early when the server stops, so no timer outlives it.
  const sleeping = new Set<() => void>();
  const delay = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        sleeping.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleeping.add(wake);
    });

  const controlPlane = async (target: string, body: Buffer, res: http.ServerResponse): Promise<void> => {
    const headers = { 'content-type': 'application/x-amz-json-1.1' };
    const m = /^SageMaker\.(\w+)$/.exec(target);
    try {
      if (!m) throw new ApiError('UnknownOperationException', `x-amz-target "${target}" is not a SageMaker operation (expected SageMaker.<Operation>)`);
      let input: Record<string, unknown>;
      try {
        input = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
      } catch {
        throw new ApiError('SerializationException', `${m[1]}: the request body is not valid JSON`);
      }
      if (faults.delayMs) await delay(faults.delayMs);
      if (faults.throttle && !NOT_THROTTLED.has(m[1])) {
        // What SageMaker answers over its request rate: the SDK classifies it as a throttling error by name.
        faults = { ...faults, throttle: faults.throttle - 1 };
        throw new ApiError('ThrottlingException', 'Rate exceeded');
      }
      const out = await cp.call(m[1], input);
      send(res, 200, JSON.stringify(out), headers);
    } catch (err) {
      if (err instanceof ApiError) return send(res, err.status, JSON.stringify({ __type: `com.amazonaws.sagemaker#${err.type}`, message: err.message }), headers);
      send(res, 500, JSON.stringify({ __type: 'com.amazonaws.sagemaker#InternalFailure', message: (err as Error).message }), headers);
    }
  };

  const runtime = async (endpointName: string, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> => {
    const headers = { 'content-type': 'application/json' };
    const error = (status: number, type: string, fields: Record<string, unknown>): void =>
      send(res, status, JSON.stringify(fields), { ...headers, 'x-amzn-errortype': type });
    const ep = store.state.endpoints[endpointName];
    const proc = cp.servingFor(endpointName);
    if (!ep) return error(400, 'ValidationError', { Message: `Endpoint ${endpointName} of account ${ACCOUNT} not found.` });
    if (!proc) return error(400, 'ValidationError', { Message: `Endpoint ${endpointName} of account ${ACCOUNT} is not in service (status ${String(ep.EndpointStatus)}).` });
    const logStream = `arn:aws:logs:${region()}:${ACCOUNT}:log-group:/aws/sagemaker/Endpoints/${endpointName}`;
    // The endpoint's CloudWatch metrics, as SageMaker publishes them (AWS/SageMaker, per endpoint and variant).
    const metric = (name: string) =>
      cloudwatch.record('AWS/SageMaker', name, [{ Name: 'EndpointName', Value: endpointName }, { Name: 'VariantName', Value: proc.variantName }], 1);
    metric('Invocations');
    try {
      const out = await invoke(proc.port, body, {
        contentType: req.headers['content-type'],
        accept: req.headers.accept,
        customAttributes: req.headers['x-amzn-sagemaker-custom-attributes'] as string | undefined,
      });
      if (out.status >= 200 && out.status < 300) {
        const contentType = out.contentType || 'application/json';
        captures.record(endpointName, proc.variantName, store.state.endpointConfigs[proc.endpointConfigName], { body, contentType: req.headers['content-type'] }, { body: out.body, contentType }, new Date(), req.headers['x-amzn-sagemaker-inference-id'] as string | undefined);
        return send(res, 200, out.body, { 'content-type': contentType, 'x-amzn-invoked-production-variant': proc.variantName });
      }
      metric(out.status < 500 ? 'Invocation4XXErrors' : 'Invocation5XXErrors');
      const original = out.body.toString('utf8');
      const kind = out.status < 500 ? 'client' : 'server';
      error(424, 'ModelError', {
        Message: `Received ${kind} error (${out.status}) from primary with message "${original}". See ${logStream} in account ${ACCOUNT} for more information.`,
        OriginalStatusCode: out.status,
        OriginalMessage: original,
        LogStreamArn: logStream,
        ErrorCode: kind === 'client' ? 'CLIENT_ERROR_FROM_MODEL' : 'SERVER_ERROR_FROM_MODEL',
      });
    } catch (err) {
      metric('Invocation5XXErrors');
      error(424, 'ModelError', {
        Message: `Received server error (0) from primary with message "${(err as Error).message}". See ${logStream} in account ${ACCOUNT} for more information.`,
        OriginalStatusCode: 0,
        OriginalMessage: (err as Error).message,
        LogStreamArn: logStream,
      });
    }
  };

  const sns = (body: Buffer, res: http.ServerResponse): void => {
    const params = new URLSearchParams(body.toString('utf8'));
    const action = params.get('Action') ?? '';
    const xml = { 'content-type': 'text/xml' };
    const requestId = randomUUID();
    const fail = (code: string, message: string): void =>
      send(res, 400, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`, xml);
    if (action !== 'Publish') return fail('InvalidAction', `The local SNS server implements Publish only, not "${action}"`);
    const message = params.get('Message');
    const topicArn = params.get('TopicArn') ?? params.get('TargetArn') ?? params.get('PhoneNumber');
    if (message === null) return fail('InvalidParameter', 'Invalid parameter: Empty message');
    if (!topicArn) return fail('InvalidParameter', 'Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter');
    const attributes: Record<string, unknown> = {};
    for (let i = 1; params.has(`MessageAttributes.entry.${i}.Name`); i++) {
      attributes[params.get(`MessageAttributes.entry.${i}.Name`)!] = {
        DataType: params.get(`MessageAttributes.entry.${i}.Value.DataType`),
        StringValue: params.get(`MessageAttributes.entry.${i}.Value.StringValue`) ?? undefined,
      };
    }
    const messageId = publish(topicArn, message, params.get('Subject') ?? undefined, attributes);
    send(res, 200, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></PublishResponse>`, xml);
  };

  const cloudwatchApi = (operation: string, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void => {
    const headers = { 'content-type': 'application/x-amz-json-1.0' };
    try {
      const input = LocalCloudWatch.body(body, req.headers['content-encoding']);
      send(res, 200, JSON.stringify(cloudwatch.call(operation, input)), headers);
    } catch (err) {
      if (err instanceof ApiError) return send(res, err.status, JSON.stringify({ __type: `com.amazonaws.cloudwatch#${err.type}`, message: err.message }), { ...headers, 'x-amzn-query-error': `${err.type};Sender` });
      send(res, 500, JSON.stringify({ __type: 'com.amazonaws.cloudwatch#InternalServiceFault', message: (err as Error).message }), headers);
    }
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const inv = /^\/endpoints\/([^/]+)\/invocations$/.exec(path);
      const target = req.headers['x-amz-target'];
      if (req.method === 'POST' && inv) return runtime(decodeURIComponent(inv[1]), req, body, res);
      if (req.method === 'POST' && typeof target === 'string' && target.startsWith(CLOUDWATCH_TARGET_PREFIX)) return cloudwatchApi(target.slice(CLOUDWATCH_TARGET_PREFIX.length), req, body, res);
      if (req.method === 'POST' && typeof target === 'string') return controlPlane(target, body, res);
      if (req.method === 'POST' && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return sns(body, res);
      send(res, 404, JSON.stringify({ message: `The local SageMaker server has no route for ${req.method} ${path}` }), { 'content-type': 'application/json' });
    })().catch((err: Error) => {
      if (!res.headersSent) send(res, 500, JSON.stringify({ message: err.message }), { 'content-type': 'application/json' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await cp.restore();
  } catch (err) {
    await cp.stopAll();
    server.close();
    throw err;
  }
  return {
    endpoint,
    setFaults: (f) => {
      faults = checkFaults(f, 'faults');
    },
    flushCaptures: () => captures.flush(),
    stop: async () => {
      for (const wake of [...sleeping]) wake();
      await captures.flush();
      await cp.stopAll();
      s3.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
