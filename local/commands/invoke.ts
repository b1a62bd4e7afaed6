import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LOCAL_REGION, startLocalServices } from '../local-env';
import { stateDirOf } from '../local-run';
import { LOCAL_S3_CREDENTIALS } from '../services/s3-server';
import { CliIO, Command, findPythonWithSklearn, Flags, UsageError } from './common';

/** `relearn local invoke`: one request to the local endpoint through the SDK's SageMaker runtime client. */

async function run(flags: Flags, io: CliIO): Promise<number> {
  const body = flags.body;
  if (typeof body !== 'string' || !body.trim()) throw new UsageError(`--body is required: a JSON object/array or CSV rows with a header row`);
  const contentType = typeof flags['content-type'] === 'string' ? flags['content-type'] : /^\s*[[{]/.test(body) ? 'application/json' : 'text/csv';
  const stateDir = stateDirOf(io.cwd);
  if (!existsSync(stateDir)) throw new UsageError(`no local state in ${stateDir}: run "relearn local run" first`);
  let endpointName = typeof flags.endpoint === 'string' ? flags.endpoint : undefined;
  if (!endpointName) {
    const lastRun = resolve(stateDir, 'last-run.json');
    if (existsSync(lastRun)) endpointName = (JSON.parse(readFileSync(lastRun, 'utf8')) as { endpointName?: string }).endpointName;
  }
  if (!endpointName) throw new UsageError('no endpoint known: run "relearn local run" first, or pass --endpoint <name>');
  const python = findPythonWithSklearn();
  const services = await startLocalServices({ stateDir, python });
  const client = new SageMakerRuntimeClient({ endpoint: services.sagemaker.endpoint, region: LOCAL_REGION, credentials: LOCAL_S3_CREDENTIALS });
  try {
    const answer = await invokeWhenReady(client, endpointName, body, contentType);
    io.stdout.write(answer.endsWith('\n') ? answer : answer + '\n');
    return 0;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    io.stderr.write(`relearn: InvokeEndpoint ${endpointName} failed: ${e.name}: ${e.message}\n`);
    return 1;
  } finally {
    client.destroy();
    await services.stop();
  }
}

/** InvokeEndpoint, waiting (up to 60 s) while a restarted endpoint is still loading its model. */
async function invokeWhenReady(client: SageMakerRuntimeClient, endpointName: string, body: string, contentType: string): Promise<string> {
  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      const res = await client.send(new InvokeEndpointCommand({ EndpointName: endpointName, Body: Buffer.from(body, 'utf8'), ContentType: contentType }));
      return Buffer.from(res.Body ?? new Uint8Array()).toString('utf8');
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      const loading = /not (yet )?(ready|in ?service)|Creating|Updating|loading/i.test(e.message) || e.$metadata?.httpStatusCode === 503;
      if (!loading || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export const invokeCommand: Command = {
  valueFlags: ['body', 'content-type', 'endpoint'],
  run,
};
