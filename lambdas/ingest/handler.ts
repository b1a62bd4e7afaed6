import { s3Client } from '../shared/clients';
import { InvalidStageInput } from '../shared/errors';
import { stageHandler } from '../shared/handler';
import { ingest } from './core';

/** Ingest: `state.source` -> a dataset snapshot + manifest in the artifacts bucket (`$.dataset`). */
export const handler = stageHandler('Ingest', (event, env) => {
  if (!event.state.source) throw new InvalidStageInput('Ingest: the execution input has no source: expected {"source": {"bucket": ..., "keys" | "prefix": ...}}');
  return ingest(event.state.source, {
    s3: s3Client(),
    artifactsBucket: env.artifactsBucket,
    kmsKeyArn: env.kmsKeyArn,
    dataset: env.config.dataset,
    problemType: env.config.evaluation.problemType,
  });
});
