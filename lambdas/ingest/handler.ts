import { s3Client } from '../shared/clients';
import { stageHandler } from '../shared/handler';
import { ingest } from './core';

/** Ingest: `state.source` -> a dataset snapshot + manifest in the artifacts bucket (`$.dataset`). */
export const handler = stageHandler('Ingest', (event, env) =>
  ingest(event.state.source, {
    s3: s3Client(),
    artifactsBucket: env.artifactsBucket,
    kmsKeyArn: env.kmsKeyArn,
    dataset: env.config.dataset,
    problemType: env.config.evaluation.problemType,
  }),
);
