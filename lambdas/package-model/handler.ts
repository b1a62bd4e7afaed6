import { stageHandler } from '../shared/handler';
import { packageModel } from './core';

/** PackageModel: the candidate's model.tar.gz with its serving code inside (`$.model`). */
export const handler = stageHandler('PackageModel', packageModel);
