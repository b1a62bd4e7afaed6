import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('CheckEndpoint', async () => {
  throw new Error('CheckEndpoint is not implemented yet');
});
