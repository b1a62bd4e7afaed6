import { S3Client } from '@aws-sdk/client-s3';
import { StageEvent } from '../shared/contracts';
import { DataValidationFailed, InvalidStageInput } from '../shared/errors';
import { getStream, putJson } from '../shared/s3';
import { DatasetStats, statsOfCsv, StatsPlan } from '../shared/stats';
import { ParseError } from '../shared/tabular';
import { resolveContext, shardStatsKey } from './plan';

export interface ShardDeps {
  readonly s3: S3Client;
  readonly artifactsBucket: string;
  readonly kmsKeyArn?: string;
  readonly labelColumn: string;
  /** CURATED_SCHEMA_URI: the config's curated schema. @default - config/schema.json in the artifacts bucket, if any */
  readonly curatedSchemaUri?: string;
}

export interface ShardResult {
  readonly shardStatsKey: string;
  readonly rows: number;
}

/** What a shard file holds: the part it covers, the plan it used, and its mergeable statistics. */
export interface ShardFile {
  readonly part: string;
  readonly plan: StatsPlan;
  readonly stats: ReturnType<DatasetStats['toJSON']>;
}

/** One Map iteration: the statistics of one dataset part, written to S3 (too big for the state). */
export async function shardStatistics(event: StageEvent, deps: ShardDeps): Promise<ShardResult> {
  const part = event.item;
  const dataset = event.state.dataset;
  if (!part) throw new InvalidStageInput('ShardStatistics needs `item`: the key of a dataset part');
  if (!dataset) throw new InvalidStageInput('ShardStatistics needs `state.dataset` (the Ingest result)');
  const { plan } = await resolveContext(deps.s3, deps.artifactsBucket, dataset, deps.labelColumn, { curatedSchemaUri: deps.curatedSchemaUri });
  const stats = await computeShard(deps.s3, deps.artifactsBucket, part, plan);
  const key = shardStatsKey(event.executionName, part);
  const file: ShardFile = { part, plan, stats: stats.toJSON() };
  await putJson(deps.s3, deps.artifactsBucket, key, file, { kmsKeyArn: deps.kmsKeyArn });
  return { shardStatsKey: key, rows: stats.rows };
}

/** The statistics of one part; an unreadable part is a validation failure naming file and line. */
export async function computeShard(s3: S3Client, bucket: string, part: string, plan: StatsPlan): Promise<DatasetStats> {
  try {
    return await statsOfCsv(await getStream(s3, bucket, part), plan, { file: part });
  } catch (err) {
    if (err instanceof ParseError) throw new DataValidationFailed(err.message, { cause: err });
    throw err;
  }
}
