import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { sageMakerClient } from '../shared/clients';
import { DeploymentRef, StageEvent } from '../shared/contracts';
import { LambdaEnv } from '../shared/env';
import { DeploymentFailed, DeploymentRolledBack, InvalidStageInput } from '../shared/errors';
import { logger } from '../shared/logger';
import { ageSeconds, endpointPollSchedule, nextPollWaitSeconds } from '../shared/polling';
import { describeEndpoint, rollBackEndpoint } from '../deploy/endpoint';

export interface CheckEndpointDeps {
  readonly sagemaker: SageMakerClient;
}

/**
 * CheckEndpoint (polled by WaitForEndpoint): is the endpoint serving this run's config yet?
 * - InService on our config: done.
 * - InService on another config: SageMaker rolled the update back (failed health check or alarm): DeploymentRolledBack
 *   with its FailureReason. The previous model serves, untouched.
 * - Failed: DeploymentFailed with the FailureReason. On a first deploy the Failed endpoint is ours and serves
 *   nothing, so it is deleted: the next run can create it afresh.
 * - Anything else (Creating, Updating, ...): done=false, poll again.
 */
export async function checkEndpoint(
  event: StageEvent,
  env: LambdaEnv,
  deps: CheckEndpointDeps = { sagemaker: sageMakerClient() },
  now: Date = new Date(),
): Promise<DeploymentRef> {
  const deployment = event.state.deployment;
  if (!deployment) throw new InvalidStageInput('CheckEndpoint: the state has no deployment: CheckEndpoint runs after Deploy');
  const { endpointName, endpointConfigName } = deployment;
  const endpoint = await describeEndpoint(deps.sagemaker, endpointName);
  if (!endpoint) throw new DeploymentFailed(`endpoint ${endpointName} does not exist (deleted while this run deployed ${endpointConfigName}?)`);

  const status = endpoint.EndpointStatus ?? 'Unknown';
  const reason = endpoint.FailureReason ? `: ${endpoint.FailureReason}` : '';
  if (status === 'InService') {
    if (endpoint.EndpointConfigName === endpointConfigName) return { ...deployment, status, done: true };
    throw new DeploymentRolledBack(
      `endpoint ${endpointName} is InService on ${endpoint.EndpointConfigName}, not this run's ${endpointConfigName}: SageMaker rolled the update back${reason}. The previous model still serves`,
    );
  }
  if (status === 'Failed') {
    let cleanup = '';
    if (!deployment.previousEndpointConfigName && endpoint.EndpointConfigName === endpointConfigName) {
      const result = await rollBackEndpoint(deps.sagemaker, deployment);
      cleanup = `; ${result.detail}`;
    }
    throw new DeploymentFailed(`endpoint ${endpointName} failed to deploy ${endpointConfigName}${reason || ' (no FailureReason)'}${cleanup}`);
  }
  // The update's age sets the next wait (lambdas/shared/polling.ts). Its start is the first poll minus the wait before it.
  const schedule = endpointPollSchedule(env.config);
  const pollingSince = deployment.pollingSince ?? new Date(now.getTime() - (deployment.nextWaitSeconds ?? schedule.firstSeconds) * 1000).toISOString();
  const nextWaitSeconds = nextPollWaitSeconds(ageSeconds(pollingSince, now), schedule);
  logger.info('CheckEndpoint: not ready yet', { endpointName, status, nextWaitSeconds });
  return { ...deployment, status, done: false, pollingSince, nextWaitSeconds };
}
