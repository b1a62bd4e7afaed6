import { stageHandler } from '../shared/handler';
import { trainingPollSchedule, withFirstWait } from '../shared/polling';
import { startTraining } from './core';

/**
 * StartTraining: `$.dataset` (+ champion/current.json) -> a SageMaker training job (`$.training`), with the
 * first WaitForTraining's seconds (training.pollIntervalSeconds).
 */
export const handler = stageHandler('StartTraining', async (event, env) => withFirstWait(await startTraining(event, env), trainingPollSchedule(env.config)));
