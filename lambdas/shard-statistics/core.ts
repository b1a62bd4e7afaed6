import { S3Client } from '@aws-sdk/client-s3';
import { DataValidationFailed, InvalidStageInput } from '../shared/errors';
import { DatasetRef, StageEvent } from '../shared/contracts';
import { getJson, getStream, putJson } from '../shared/s3';
import { DatasetStats, RowLocation, statsOfCsv, StatsPlan } from '../shared/stats';
import { ParseError } from '../shared/tabular';
import { LineMap, LineMapJson, lineMapKey } from '../ingest/line-map';
import { PlanConfig, resolveContext, shardStatsKey } from './plan';

export interface ShardDeps {
  readonly s3: S3Client;
  readonly artifactsBucket: string;
  readonly kmsKeyArn?: string;
  readonly config: PlanConfig;
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
  const { plan } = await resolveContext(deps.s3, deps.artifactsBucket, dataset, deps.config, { curatedSchemaUri: deps.curatedSchemaUri });
  const stats = await computeShard(deps.s3, deps.artifactsBucket, part, plan, dataset);
  const key = shardStatsKey(event.executionName, part);
  const file: ShardFile = { part, plan, stats: stats.toJSON() };
  await putJson(deps.s3, deps.artifactsBucket, key, file, { kmsKeyArn: deps.kmsKeyArn });
  return { shardStatsKey: key, rows: stats.rows };
}

/**
 * The statistics of one part; an unreadable part is a validation failure naming file and line. With the part's
 * line map (snapshots made since line maps exist), every example row is located in the user's source file.
 */
export async function computeShard(s3: S3Client, bucket: string, part: string, plan: StatsPlan, dataset?: Pick<DatasetRef, 'lineMaps'>): Promise<DatasetStats> {
  const lines = dataset?.lineMaps ? LineMap.fromJSON(await getJson<LineMapJson>(s3, bucket, lineMapKey(part))) : undefined;
  const locate = lines ? (row: number, line: number): RowLocation => lines.at(row) ?? { file: part, line } : undefined;
  try {
    return await statsOfCsv(await getStream(s3, bucket, part), plan, { file: part, locate, orderedRows: lines?.ordered });
  } catch (err) {
    if (err instanceof ParseError) throw new DataValidationFailed(err.message, { cause: err });
    throw err;
  }
}
