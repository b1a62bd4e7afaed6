import { s3Client } from '../shared/clients';
import { stageHandler } from '../shared/handler';
import { shardStatistics } from './core';

/** ShardStatistics (a Map iteration of ComputeStatistics): one dataset part -> its statistics in S3. */
export const handler = stageHandler('ShardStatistics', (event, env) =>
  shardStatistics(event, {
    s3: s3Client(),
    artifactsBucket: env.artifactsBucket,
    kmsKeyArn: env.kmsKeyArn,
    labelColumn: env.config.dataset.labelColumn,
    curatedSchemaUri: env.curatedSchemaUri,
  }),
);
