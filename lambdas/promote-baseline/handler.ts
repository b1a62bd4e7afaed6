import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('PromoteBaseline', async () => {
  throw new Error('PromoteBaseline is not implemented yet');
});
