import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { LOCAL_REGION, startLocalServices } from '../local-env';
import { acquireLock } from '../lock';
import { pipelineForCommand } from '../project';
import { LOCAL_S3_CREDENTIALS } from '../services/s3-server';
import { MAX_INVOCATION_BYTES } from '../services/sagemaker';
import { CliIO, Command, configFileOf, findPythonWithSklearn, Flags, UsageError } from './common';

/**
 * `relearn local invoke`: one request to the pipeline's local endpoint through the SDK's SageMaker runtime client
 * (InvokeEndpoint). The body comes from `--body <text>`, `--body -` (standard input) or `--body-file <path>` (its
 * bytes, as they are: a 20 MB body never goes through the shell's argument list). The local endpoint refuses a
 * body over SageMaker's 6 MB limit with SageMaker's answer.
 */

/** The request body and where it came from. */
async function bodyOf(flags: Flags, io: CliIO): Promise<{ body: Buffer; from: string }> {
  const given = ['body', 'body-file'].filter((f) => typeof flags[f] === 'string');
  if (given.length !== 1) {
    throw new UsageError(
      given.length === 0
        ? '--body is required: a JSON object/array or CSV rows with a header row (or --body - to read it from standard input, or --body-file <path>)'
        : 'give the request body once: --body <text>, --body - (standard input) or --body-file <path>',
    );
  }
  if (typeof flags['body-file'] === 'string') {
    const file = resolve(io.cwd, flags['body-file']);
    if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`--body-file: no such file: ${file}`);
    return { body: readFileSync(file), from: file };
  }
  const text = flags.body as string;
  if (text !== '-') {
    if (!text.trim()) throw new UsageError('--body is empty: give a JSON object/array or CSV rows with a header row');
    return { body: Buffer.from(text, 'utf8'), from: '--body' };
  }
  const chunks: Buffer[] = [];
  for await (const c of (io.stdin ?? process.stdin) as AsyncIterable<Buffer | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  const body = Buffer.concat(chunks);
  if (!body.toString('utf8').trim()) throw new UsageError('--body -: standard input was empty');
  return { body, from: 'standard input' };
}

/** The content type: given, else from a file's extension, else from the first character (JSON or CSV). */
function contentTypeOf(flags: Flags, body: Buffer, from: string): string {
  if (typeof flags['content-type'] === 'string') return flags['content-type'];
  const ext = extname(from).toLowerCase();
  if (ext === '.json' || ext === '.jsonl') return 'application/json';
  if (ext === '.csv') return 'text/csv';
  return /^\s*[[{]/.test(body.subarray(0, 256).toString('utf8').replace(/^\uFEFF/, '')) ? 'application/json' : 'text/csv';
}

async function run(flags: Flags, io: CliIO): Promise<number> {
  const { body, from } = await bodyOf(flags, io);
  const contentType = contentTypeOf(flags, body, from);
  const pipeline = pipelineForCommand(io.cwd, configFileOf(flags, io), typeof flags.pipeline === 'string' ? flags.pipeline : undefined);
  const { stateDir } = pipeline;
  if (!existsSync(join(stateDir, 'sagemaker'))) throw new UsageError(`no local state for pipeline "${pipeline.name}" in ${stateDir}: run "relearn local run" first`);
  let endpointName = typeof flags.endpoint === 'string' ? flags.endpoint : undefined;
  if (!endpointName) {
    const lastRun = join(stateDir, 'last-run.json');
    if (existsSync(lastRun)) endpointName = (JSON.parse(readFileSync(lastRun, 'utf8')) as { endpointName?: string }).endpointName;
  }
  if (!endpointName) throw new UsageError('no endpoint known: run "relearn local run" first, or pass --endpoint <name>');
  if (body.length > MAX_INVOCATION_BYTES) {
    io.stderr.write(`relearn: the request body (${from}) is ${body.length} bytes; SageMaker accepts at most ${MAX_INVOCATION_BYTES} (6 MB) per InvokeEndpoint: sending it shows what the endpoint answers\n`);
  }
  const python = findPythonWithSklearn();
  // The endpoint's server runs from the pipeline's state: never beside a run that is using it.
  const lock = acquireLock(stateDir, pipeline.name, 'relearn local invoke');
  try {
    const services = await startLocalServices({ stateDir, python });
    const client = new SageMakerRuntimeClient({ endpoint: services.sagemaker.endpoint, region: LOCAL_REGION, credentials: LOCAL_S3_CREDENTIALS });
    try {
      const answer = await invokeWhenReady(client, endpointName, body, contentType);
      io.stdout.write(answer.endsWith('\n') ? answer : answer + '\n');
      return 0;
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : '';
      io.stderr.write(`relearn: InvokeEndpoint ${endpointName} failed${status}: ${e.name}: ${e.message}\n`);
      return 1;
    } finally {
      client.destroy();
      await services.stop();
    }
  } finally {
    lock.release();
  }
}

/** InvokeEndpoint, waiting (up to 60 s) while a restarted endpoint is still loading its model. */
async function invokeWhenReady(client: SageMakerRuntimeClient, endpointName: string, body: Buffer, contentType: string): Promise<string> {
  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      const res = await client.send(new InvokeEndpointCommand({ EndpointName: endpointName, Body: body, ContentType: contentType }));
      return Buffer.from(res.Body ?? new Uint8Array()).toString('utf8');
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      const loading = /\(status (Creating|Updating|SystemUpdating)\)|not (yet )?ready|loading/i.test(e.message) || e.$metadata?.httpStatusCode === 503;
      if (!loading || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export const invokeCommand: Command = {
  valueFlags: ['body', 'body-file', 'content-type', 'endpoint', 'config', 'pipeline'],
  run,
};
