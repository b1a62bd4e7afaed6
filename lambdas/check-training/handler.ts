import { stageHandler } from '../shared/handler';
import { checkTraining } from './core';

/** CheckTraining: DescribeTrainingJob -> `$.training` (done, model and output URIs, final metrics). */
export const handler = stageHandler('CheckTraining', (event, env) => checkTraining(event, env));
