import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalServices } from '../local-env';
import { acquireLock } from '../lock';
import { pipelineForCommand } from '../project';
import { CliIO, Command, configFileOf, Flags, UsageError } from './common';

/**
 * `relearn local replace-instance [--endpoint <name>]`: the endpoint's instance dies and is replaced, as SageMaker
 * replaces an unhealthy instance, long after the model was deployed: a new model server starts from scratch and
 * downloads the model again as the execution role. A model that cannot start any more (its code or artifact gone or
 * no longer readable) leaves the endpoint Failed, with the reason.
 */
async function run(flags: Flags, io: CliIO): Promise<number> {
  const { stateDir, name } = pipelineForCommand(io.cwd, configFileOf(flags, io), typeof flags.pipeline === 'string' ? flags.pipeline : undefined);
  let endpointName = typeof flags.endpoint === 'string' ? flags.endpoint : undefined;
  const lastRun = join(stateDir, 'last-run.json');
  if (!endpointName && existsSync(lastRun)) endpointName = (JSON.parse(readFileSync(lastRun, 'utf8')) as { endpointName?: string }).endpointName;
  if (!endpointName) throw new UsageError(`no endpoint known for pipeline "${name}": run "relearn local run" first, or pass --endpoint <name>`);
  const lock = acquireLock(stateDir, name, 'relearn local replace-instance');
  const services = await startLocalServices({ stateDir });
  try {
    let result: { status: string; failureReason?: string };
    try {
      result = await services.sagemaker.replaceInstance(endpointName);
    } catch (err) {
      // No instance to replace: the endpoint does not exist, or it could not even start with the services.
      io.stderr.write(`relearn: ${(err as Error).message}\n`);
      return 1;
    }
    if (result.status === 'Failed') {
      io.stderr.write(`relearn: the new instance of ${endpointName} did not start: ${result.failureReason}\n`);
      return 1;
    }
    io.stdout.write(`replaced the instance of ${endpointName}: a new one started from scratch and serves (${result.status})\n`);
    return 0;
  } finally {
    await services.stop();
    lock.release();
  }
}

export const replaceInstanceCommand: Command = { valueFlags: ['endpoint', 'config', 'pipeline'], run };
