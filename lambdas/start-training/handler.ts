import { stageHandler } from '../shared/handler';
import { startTraining } from './core';

/** StartTraining: `$.dataset` (+ champion/current.json) -> a SageMaker training job (`$.training`). */
export const handler = stageHandler('StartTraining', (event, env) => startTraining(event, env));
