import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalServices } from '../local-env';
import { stateDirOf } from '../local-run';

/**
 * `relearn local replace-instance [--endpoint <name>]`: the endpoint's instance dies and is replaced, as SageMaker
 * replaces an unhealthy instance, long after the model was deployed: a new model server starts from scratch and
 * downloads the model again as the execution role. A model that cannot start any more (its code or artifact gone or
 * no longer readable) leaves the endpoint Failed, with the reason.
 */
export async function replaceInstanceCommand(flags: Record<string, string | true>, io: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown }; cwd: string }): Promise<number> {
  const stateDir = stateDirOf(io.cwd);
  let endpointName = typeof flags.endpoint === 'string' ? flags.endpoint : undefined;
  const lastRun = join(stateDir, 'last-run.json');
  if (!endpointName && existsSync(lastRun)) endpointName = (JSON.parse(readFileSync(lastRun, 'utf8')) as { endpointName?: string }).endpointName;
  if (!endpointName) {
    io.stderr.write('relearn: no endpoint known: run "relearn local run" first, or pass --endpoint <name>\n');
    return 2;
  }
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
  }
}
