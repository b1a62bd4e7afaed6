import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('Register', async () => {
  throw new Error('Register is not implemented yet');
});
