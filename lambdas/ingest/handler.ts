import { stageHandler } from '../shared/handler';

// Placeholder until the stage's owner lands its core; replaced, never shipped as done.
export const handler = stageHandler('Ingest', async () => {
  throw new Error('Ingest is not implemented yet');
});
