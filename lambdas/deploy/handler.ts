import { stageHandler } from '../shared/handler';
import { endpointPollSchedule, withFirstWait } from '../shared/polling';
import { deploy } from './core';

/** Deploy, with the first WaitForEndpoint's seconds (deployment.pollIntervalSeconds). */
export const handler = stageHandler('Deploy', async (event, env) => withFirstWait(await deploy(event, env), endpointPollSchedule(env.config)));
