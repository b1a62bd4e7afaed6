import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('VerifyServing', async () => {
  throw new Error('VerifyServing is not implemented yet');
});
