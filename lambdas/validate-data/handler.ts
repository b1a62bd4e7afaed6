import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('ValidateData', async () => {
  throw new Error('ValidateData is not implemented yet');
});
