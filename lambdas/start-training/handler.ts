import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('StartTraining', async () => {
  throw new Error('StartTraining is not implemented yet');
});
