import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { Authorizer, AuthorizationResult } from '../../iam/authorizer';
import { Identity, LOCAL_ADMIN } from '../../iam/identities';
import type { RequestContext } from '../../iam/policy';
import { AuthFailure, sha256Hex, verifySignature } from '../../iam/sigv4';
import { ApiModelService, SerializationError, validateInput, validationMessage } from '../api-model';
import { localS3Client } from '../s3-server';
import { localTls, trustLocalCa } from '../tls';
import { ApiError } from './api-error';
import { checkAssumableBySageMaker, SAGEMAKER_KEYS, sagemakerArn, sagemakerChecks } from './auth';
import { ControlPlane } from './control-plane';
import { CaptureWriter, invoke } from './serving';
import { CLOUDWATCH_TARGET_PREFIX, LocalCloudWatch } from '../cloudwatch';
import { Store } from './store';
import { ACCOUNT, EventInput, LocalFaults, LocalSageMakerEvent, region } from './types';

export type { LocalFaults, LocalSageMakerEvent } from './types';

export interface LocalSageMakerOptions {
  /** State (state.json, notifications.jsonl) and job/endpoint folders live here; a second start sees the first's resources. */
  readonly directory: string;
  /** The local S3: training and serving read and write it as the execution role (local/services/s3-server.ts). */
  readonly s3Endpoint: string;
  /** Who may do what; share the local S3's so both know the same credentials. @default - a new Authorizer (only the operator) */
  readonly authorizer?: Authorizer;
  /** HTTP, no authentication, validation or authorization: bench/enforcement.ts's baseline only. @default false */
  readonly bare?: boolean;
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
  /**
   * Replaces the endpoint's instance as SageMaker replaces an unhealthy one: the model server is killed and a new one
   * starts from scratch (the model downloaded again). Resolves with the endpoint's status once it serves again, or
   * Failed with the reason the new instance could not start.
   */
  replaceInstance(endpointName: string): Promise<{ status: string; failureReason?: string }>;
  readonly authorizer: Authorizer;
  /** Requests checked against the service models (botocore's), by service and operation, and how many were refused. */
  readonly apiModel: ApiModelCounts;
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

const KNOWN_FAULTS: readonly string[] = ['failTraining', 'failEndpointUpdate', 'spotInterruption', 'holdEndpointUpdateMs', 'delayMs', 'throttle'];

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
  if (o.spotInterruption !== undefined && typeof o.spotInterruption !== 'boolean') throw new Error(`${where}.spotInterruption must be true or false, but got ${JSON.stringify(o.spotInterruption)}`);
  if (o.holdEndpointUpdateMs !== undefined && (typeof o.holdEndpointUpdateMs !== 'number' || !(o.holdEndpointUpdateMs >= 0))) {
    throw new Error(`${where}.holdEndpointUpdateMs must be a number >= 0, but got ${JSON.stringify(o.holdEndpointUpdateMs)}`);
  }
  if (o.delayMs !== undefined && (typeof o.delayMs !== 'number' || !(o.delayMs >= 0))) throw new Error(`${where}.delayMs must be a number >= 0, but got ${JSON.stringify(o.delayMs)}`);
  if (o.throttle !== undefined && (typeof o.throttle !== 'number' || !Number.isInteger(o.throttle) || o.throttle < 0)) {
    throw new Error(`${where}.throttle must be a whole number of calls >= 0, but got ${JSON.stringify(o.throttle)}`);
  }
  return o as LocalFaults;
}

/** What the API-model validation saw: every request the server received is counted here. */
export interface ApiModelCounts {
  validated: number;
  rejected: number;
  /** `service.Operation` -> requests validated. */
  readonly byOperation: Record<string, number>;
  /** Members sent that the pinned model does not know (ignored, as the SDK is newer), by `service.Operation.path`. */
  readonly unknownMembers: Record<string, number>;
}

/**
 * InvokeEndpoint's request limit for real-time endpoints: 6 MB (the SageMaker runtime service model's `Body`,
 * max 6291456 bytes; docs: "Maximum payload size ... 6 MB").
 */
export const MAX_INVOCATION_BYTES = 6 * 1024 * 1024;

/** The request body, or undefined (drained, not kept) when it is longer than `max` bytes. */
function readBody(req: http.IncomingMessage, max = Infinity): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (c: Buffer) => {
      length += c.length;
      if (length <= max) chunks.push(c);
      else chunks.length = 0;
    });
    req.on('end', () => resolve(length <= max ? Buffer.concat(chunks) : undefined));
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
  const authorizer = opts.authorizer ?? new Authorizer();
  // SageMaker acts as the execution role a job or model was given: one S3 client per role.
  const roleClients = new Map<string, S3Client>();
  const s3ForRole = (roleArn: string): S3Client => {
    let client = roleClients.get(roleArn);
    if (!client) {
      const session = !opts.bare && /^arn:aws:iam::\d{12}:role\//.test(roleArn) ? authorizer.identities.session(roleArn, 'SageMaker') : undefined;
      // A malformed role never got past CreateTrainingJob/CreateModel's validation; the operator stands in for old state.
      client = localS3Client(opts.s3Endpoint, session?.credentials);
      roleClients.set(roleArn, client);
    }
    return client;
  };
  const apiModel: ApiModelCounts = { validated: 0, rejected: 0, byOperation: {}, unknownMembers: {} };
  const emit = (e: EventInput): void => {
    try {
      opts.onEvent?.({ ...e, time: Date.now() } as LocalSageMakerEvent);
    } catch {
      // a listener's failure must not break a training job or an endpoint
    }
  };
  const cp = new ControlPlane({
    store,
    s3ForRole,
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
  /** What an SNS delivery does locally: one line in notifications.jsonl and a progress event (Publish, alarm actions). */
  const deliver = (topicArn: string, message: string, subject?: string, attributes: Record<string, unknown> = {}): string => {
    const messageId = randomUUID();
    appendFileSync(notifications, JSON.stringify({ messageId, topicArn, subject, message, messageAttributes: attributes, timestamp: new Date().toISOString() }) + '\n');
    emit({ kind: 'notification', topicArn, messageId, subject, message });
    return messageId;
  };
  // Data capture of the endpoints, and CloudWatch (the endpoints' invocation metrics, the monitor's metrics, alarms).
  const captures = new CaptureWriter(s3ForRole, emit);
  const cloudwatch = new LocalCloudWatch({ directory: opts.directory, region: region(), account: ACCOUNT, publish: (topic, subject, message) => void deliver(topic, message, subject) });
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

  /** SigV4: the caller's identity, or an ApiError in the JSON protocol's terms. */
  const authenticate = (req: http.IncomingMessage, body: Buffer): Identity => {
    if (opts.bare) return LOCAL_ADMIN;
    try {
      return verifySignature({ method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, payloadHash: sha256Hex(body), service: 'other' }, authorizer.identities);
    } catch (err) {
      if (!(err instanceof AuthFailure)) throw err;
      if (err.kind === 'unknown-key' || err.kind === 'bad-token') throw new ApiError('UnrecognizedClientException', 'The security token included in the request is invalid.');
      if (err.kind === 'bad-signature') throw new ApiError('InvalidSignatureException', err.message, 403);
      if (err.kind === 'missing') throw new ApiError('MissingAuthenticationTokenException', 'Missing Authentication Token', 403);
      throw new ApiError('IncompleteSignatureException', err.message, 403);
    }
  };

  /** Validates a request against the pinned service model; throws AWS's ValidationException / SerializationException. */
  const validate = (service: ApiModelService, op: string, input: unknown): void => {
    if (opts.bare) return;
    const key = `${service}.${op}`;
    apiModel.validated++;
    apiModel.byOperation[key] = (apiModel.byOperation[key] ?? 0) + 1;
    let result;
    try {
      result = validateInput(service, op, input);
    } catch (err) {
      apiModel.rejected++;
      if (err instanceof SerializationError) throw new ApiError('SerializationException', err.message);
      throw err;
    }
    for (const path of result.unknownMembers) apiModel.unknownMembers[`${key}.${path}`] = (apiModel.unknownMembers[`${key}.${path}`] ?? 0) + 1;
    if (result.errors.length) {
      apiModel.rejected++;
      throw new ApiError('ValidationException', validationMessage(result.errors));
    }
  };

  const denied = (result: AuthorizationResult): ApiError | undefined => (result.allowed ? undefined : new ApiError('AccessDeniedException', result.message));
  const baseContext = (req: http.IncomingMessage): RequestContext => ({ values: { 'aws:SecureTransport': String(Boolean((req.socket as { encrypted?: boolean }).encrypted)) }, known: SAGEMAKER_KEYS });

  /** sagemaker:<Operation> (and PassRole, AddTags, kms:CreateGrant) for the caller; throws AccessDeniedException. */
  const authorizeCall = (req: http.IncomingMessage, identity: Identity, op: string, input: Record<string, unknown>): void => {
    let result: AuthorizationResult;
    try {
      result = authorizer.authorizeAll(identity, sagemakerChecks(authorizer, op, input, store.state), `SageMaker.${op}`, baseContext(req));
    } catch (err) {
      if ((err as Error).name === 'UnknownConditionKey' || (err as Error).name === 'UnsupportedPolicy') throw new ApiError('InternalFailure', `local IAM: ${(err as Error).message}`, 500);
      throw err;
    }
    const refusal = denied(result);
    if (refusal) throw refusal;
    if (op === 'CreateTrainingJob') checkAssumableBySageMaker(authorizer, input.RoleArn, 'RoleArn');
    if (op === 'CreateModel') checkAssumableBySageMaker(authorizer, input.ExecutionRoleArn, 'ExecutionRoleArn');
  };

  const controlPlane = async (req: http.IncomingMessage, target: string, body: Buffer, res: http.ServerResponse): Promise<void> => {
    const headers = { 'content-type': 'application/x-amz-json-1.1' };
    const m = /^SageMaker\.(\w+)$/.exec(target);
    try {
      const identity = authenticate(req, body);
      if (!m) throw new ApiError('UnknownOperationException', `x-amz-target "${target}" is not a SageMaker operation (expected SageMaker.<Operation>)`);
      let input: Record<string, unknown>;
      try {
        input = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
      } catch {
        throw new ApiError('SerializationException', `${m[1]}: the request body is not valid JSON`);
      }
      if (!cp.ops[m[1]]) await cp.call(m[1], input); // UnknownOperationException, naming what is served
      validate('sagemaker', m[1], input);
      if (!opts.bare) authorizeCall(req, identity, m[1], input);
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
    try {
      const identity = authenticate(req, body);
      const h = (n: string) => (typeof req.headers[n] === 'string' ? (req.headers[n] as string) : undefined);
      const input = {
        EndpointName: endpointName,
        Body: body,
        ...(h('content-type') !== undefined ? { ContentType: h('content-type') } : {}),
        ...(h('accept') !== undefined ? { Accept: h('accept') } : {}),
        ...(h('x-amzn-sagemaker-custom-attributes') !== undefined ? { CustomAttributes: h('x-amzn-sagemaker-custom-attributes') } : {}),
        ...(h('x-amzn-sagemaker-target-model') !== undefined ? { TargetModel: h('x-amzn-sagemaker-target-model') } : {}),
        ...(h('x-amzn-sagemaker-target-variant') !== undefined ? { TargetVariant: h('x-amzn-sagemaker-target-variant') } : {}),
        ...(h('x-amzn-sagemaker-inference-id') !== undefined ? { InferenceId: h('x-amzn-sagemaker-inference-id') } : {}),
      };
      validate('sagemaker-runtime', 'InvokeEndpoint', input);
      const refusal = opts.bare ? undefined : denied(authorizer.authorize({ identity, action: 'sagemaker:InvokeEndpoint', resource: sagemakerArn(authorizer, 'endpoint', endpointName), context: baseContext(req), request: 'SageMakerRuntime.InvokeEndpoint' }));
      if (refusal) throw refusal;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      // Body too large: the runtime's ValidationError with HTTP 413 is what AWS answers; others as their type says.
      return error(err.status, err.type === 'ValidationException' ? 'ValidationError' : err.type, { message: err.message, Message: err.message });
    }
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
        const epc = store.state.endpointConfigs[proc.endpointConfigName];
        const modelName = ((epc?.ProductionVariants as { VariantName?: string; ModelName?: string }[] | undefined) ?? []).find((v) => v.VariantName === proc.variantName)?.ModelName;
        const role = String(store.state.models[modelName ?? '']?.ExecutionRoleArn ?? '');
        captures.record(endpointName, proc.variantName, epc, role, { body, contentType: req.headers['content-type'] }, { body: out.body, contentType }, new Date(), req.headers['x-amzn-sagemaker-inference-id'] as string | undefined);
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

  const sns = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void => {
    const params = new URLSearchParams(body.toString('utf8'));
    const action = params.get('Action') ?? '';
    const xml = { 'content-type': 'text/xml' };
    const requestId = randomUUID();
    const fail = (code: string, message: string, status = 400): void =>
      send(res, status, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`, xml);
    let identity: Identity = LOCAL_ADMIN;
    if (!opts.bare) try {
      identity = verifySignature({ method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, payloadHash: sha256Hex(body), service: 'other' }, authorizer.identities);
    } catch (err) {
      if (!(err instanceof AuthFailure)) throw err;
      if (err.kind === 'unknown-key' || err.kind === 'bad-token') return fail('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
      if (err.kind === 'bad-signature') return fail('SignatureDoesNotMatch', err.message, 403);
      return fail(err.kind === 'missing' ? 'MissingAuthenticationToken' : 'IncompleteSignature', err.message, 403);
    }
    if (action !== 'Publish') return fail('InvalidAction', `The local SNS server implements Publish only, not "${action}"`);
    const message = params.get('Message');
    const topicArn = params.get('TopicArn') ?? params.get('TargetArn') ?? params.get('PhoneNumber');
    const attributes: Record<string, { DataType: string | null; StringValue?: string }> = {};
    for (let i = 1; params.has(`MessageAttributes.entry.${i}.Name`); i++) {
      attributes[params.get(`MessageAttributes.entry.${i}.Name`)!] = {
        DataType: params.get(`MessageAttributes.entry.${i}.Value.DataType`),
        ...(params.has(`MessageAttributes.entry.${i}.Value.StringValue`) ? { StringValue: params.get(`MessageAttributes.entry.${i}.Value.StringValue`)! } : {}),
      };
    }
    // The query protocol's flattened parameters, back into Publish's input shape for the model.
    const input: Record<string, unknown> = {};
    for (const k of ['TopicArn', 'TargetArn', 'PhoneNumber', 'Message', 'Subject', 'MessageStructure', 'MessageDeduplicationId', 'MessageGroupId']) if (params.has(k)) input[k] = params.get(k);
    if (Object.keys(attributes).length) input.MessageAttributes = attributes;
    const publish = (): void => {
      if (message === null || !topicArn) return;
      const messageId = deliver(topicArn, message, params.get('Subject') ?? undefined, attributes);
      send(res, 200, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></PublishResponse>`, xml);
    };
    try {
      validate('sns', 'Publish', input);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      return fail(err.type === 'ValidationException' ? 'ValidationError' : err.type, err.message);
    }
    if (message === null) return fail('InvalidParameter', 'Invalid parameter: Empty message');
    if (!topicArn) return fail('InvalidParameter', 'Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter');
    if (opts.bare) return publish();
    // sns:Publish on the topic; an encrypted topic also needs the publisher's kms:GenerateDataKey and kms:Decrypt.
    const topicKey = authorizer.model?.topicKeys.get(topicArn);
    const secure = String(Boolean((req.socket as { encrypted?: boolean }).encrypted));
    const result = authorizer.authorizeAll(
      identity,
      [
        { action: 'sns:Publish', resource: topicArn },
        ...(topicKey
          ? ['kms:GenerateDataKey', 'kms:Decrypt'].map((a) => ({
              action: a,
              resource: authorizer.model?.keyAliases.get(topicKey) ?? topicKey,
              context: { values: { 'aws:SecureTransport': 'true', 'kms:ViaService': `sns.${authorizer.region}.amazonaws.com`, 'kms:CallerAccount': authorizer.accountId, 'kms:EncryptionContext:aws:sns:topicArn': topicArn }, known: ['kms:ViaService', 'kms:CallerAccount', 'kms:EncryptionContext:*', 'kms:EncryptionContextKeys'] },
            }))
          : []),
      ],
      'SNS.Publish',
      { values: { 'aws:SecureTransport': secure }, known: ['sns:Endpoint', 'sns:Protocol'] },
    );
    // SNS spells its actions in capitals in its AuthorizationError.
    if (!result.allowed) return fail('AuthorizationError', result.message.replace(/perform: sns:Publish/, 'perform: SNS:Publish').replace(/the sns:Publish action/, 'the SNS:Publish action'), 403);
    publish();
  };

  /** What a CloudWatch call needs: PutMetricData per namespace (`cloudwatch:namespace`), alarms by their ARNs. */
  const cloudwatchChecks = (operation: string, input: Record<string, unknown>): { action: string; resource: string; context?: RequestContext }[] => {
    const alarmArn = (name: string) => `arn:aws:cloudwatch:${region()}:${ACCOUNT}:alarm:${name}`;
    const names = (input.AlarmNames as string[] | undefined) ?? (typeof input.AlarmName === 'string' ? [input.AlarmName] : []);
    if (operation === 'PutMetricData') return [{ action: 'cloudwatch:PutMetricData', resource: '*', context: { values: { 'cloudwatch:namespace': String(input.Namespace ?? '') } } }];
    if (['PutMetricAlarm', 'DescribeAlarms', 'DeleteAlarms'].includes(operation)) {
      return names.length ? names.map((n) => ({ action: `cloudwatch:${operation}`, resource: alarmArn(n) })) : [{ action: `cloudwatch:${operation}`, resource: '*' }];
    }
    return [{ action: `cloudwatch:${operation}`, resource: '*' }];
  };

  /** CloudWatch (AWS JSON 1.0): authenticated and authorized like the rest (metrics by namespace, alarms by ARN). */
  const cloudwatchApi = (operation: string, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void => {
    const headers = { 'content-type': 'application/x-amz-json-1.0' };
    try {
      const identity = authenticate(req, body);
      const input = LocalCloudWatch.body(body, req.headers['content-encoding']);
      if (!opts.bare) {
        const result = authorizer.authorizeAll(identity, cloudwatchChecks(operation, input), `CloudWatch.${operation}`, { values: { 'aws:SecureTransport': String(Boolean((req.socket as { encrypted?: boolean }).encrypted)) }, known: ['cloudwatch:namespace'] });
        if (!result.allowed) throw new ApiError('AccessDenied', result.message, 403);
      }
      send(res, 200, JSON.stringify(cloudwatch.call(operation, input)), headers);
    } catch (err) {
      if (err instanceof ApiError) return send(res, err.status, JSON.stringify({ __type: `com.amazonaws.cloudwatch#${err.type}`, message: err.message }), { ...headers, 'x-amzn-query-error': `${err.type};Sender` });
      send(res, 500, JSON.stringify({ __type: 'com.amazonaws.cloudwatch#InternalServiceFault', message: (err as Error).message }), headers);
    }
  };

  // HTTPS with local mode's CA, as the services are in AWS (the topic's policy denies Publish without TLS).
  const tls = opts.bare ? undefined : localTls();
  const releaseTrust = tls ? trustLocalCa(tls.ca) : () => undefined;
  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const inv = /^\/endpoints\/([^/]+)\/invocations$/.exec(path);
      if (req.method === 'POST' && inv) {
        // Over the limit, SageMaker's front end refuses the request before any endpoint sees it (HTTP 413). The
        // body is read to its end (not kept) first, so the client gets the answer rather than a reset connection.
        const payload = await readBody(req, MAX_INVOCATION_BYTES);
        if (!payload) {
          const message = `HTTP content length exceeded ${MAX_INVOCATION_BYTES} bytes.`;
          return send(res, 413, JSON.stringify({ message }), { 'content-type': 'application/json' });
        }
        return runtime(decodeURIComponent(inv[1]), req, payload, res);
      }
      const body = (await readBody(req))!;
      const target = req.headers['x-amz-target'];
      if (req.method === 'POST' && typeof target === 'string' && target.startsWith(CLOUDWATCH_TARGET_PREFIX)) return cloudwatchApi(target.slice(CLOUDWATCH_TARGET_PREFIX.length), req, body, res);
      if (req.method === 'POST' && typeof target === 'string') return controlPlane(req, target, body, res);
      if (req.method === 'POST' && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return sns(req, body, res);
      send(res, 404, JSON.stringify({ message: `The local SageMaker server has no route for ${req.method} ${path}` }), { 'content-type': 'application/json' });
    })().catch((err: Error) => {
      if (!res.headersSent) send(res, 500, JSON.stringify({ message: err.message }), { 'content-type': 'application/json' });
    });
  };
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handle) : http.createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closeAll = async (): Promise<void> => {
    for (const client of roleClients.values()) client.destroy();
    roleClients.clear();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    authorizer.flush();
    releaseTrust();
  };
  try {
    await cp.restore();
  } catch (err) {
    await cp.stopAll();
    await closeAll();
    throw err;
  }
  let stopped = false;
  return {
    endpoint,
    authorizer,
    apiModel,
    setFaults: (f) => {
      faults = checkFaults(f, 'faults');
    },
    flushCaptures: () => captures.flush(),
    replaceInstance: (endpointName) => cp.replaceInstance(endpointName),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      for (const wake of [...sleeping]) wake();
      await captures.flush();
      await cp.stopAll();
      await closeAll();
    },
  };
}
