import { s3Client } from '../shared/clients';
import { stageHandler } from '../shared/handler';
import { shardStatistics } from './core';
import { planConfigOf } from './plan';

/** ShardStatistics (a Map iteration of ComputeStatistics): one dataset part -> its statistics in S3. */
export const handler = stageHandler('ShardStatistics', (event, env) =>
  shardStatistics(event, {
    s3: s3Client(),
    artifactsBucket: env.artifactsBucket,
    kmsKeyArn: env.kmsKeyArn,
    config: planConfigOf(env.config),
    curatedSchemaUri: env.curatedSchemaUri,
  }),
);
