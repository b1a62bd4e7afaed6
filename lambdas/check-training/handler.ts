import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('CheckTraining', async () => {
  throw new Error('CheckTraining is not implemented yet');
});
