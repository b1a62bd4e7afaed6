import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('Notify', async () => {
  throw new Error('Notify is not implemented yet');
});
