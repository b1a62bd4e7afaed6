import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('ShardStatistics', async () => {
  throw new Error('ShardStatistics is not implemented yet');
});
