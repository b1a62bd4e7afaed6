import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('Deploy', async () => {
  throw new Error('Deploy is not implemented yet');
});
