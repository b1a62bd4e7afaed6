import { stageHandler } from '../shared/handler';
import { restoreChampion } from './core';

/** RestoreChampion: the rolled-back-to model is the champion again, in champion/ and in the model registry (`$.champion`). */
export const handler = stageHandler('RestoreChampion', restoreChampion);
