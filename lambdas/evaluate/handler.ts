import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('Evaluate', async () => {
  throw new Error('Evaluate is not implemented yet');
});
