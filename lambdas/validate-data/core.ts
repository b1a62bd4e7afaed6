import { S3Client } from '@aws-sdk/client-s3';
import { RelearnConfig } from '../shared/config';
import { Layout, StageEvent, ValidationRef } from '../shared/contracts';
import { DataValidationFailed, InvalidStageInput } from '../shared/errors';
import { logger } from '../shared/logger';
import { getJsonIfExists, putJson, s3Uri } from '../shared/s3';
import { Anomaly, applyRules, DatasetSchema, DatasetStats, describe, inferSchema, summarize } from '../shared/stats';
import { ROW_ID_COLUMN } from '../ingest/core';
import { computeShard, ShardFile } from '../shard-statistics/core';
import { championStats, resolveContext, shardStatsKey } from '../shard-statistics/plan';
import { countAnomalies } from '../shared/telemetry';

export interface ValidateDeps {
  readonly s3: S3Client;
  readonly artifactsBucket: string;
  readonly kmsKeyArn?: string;
  readonly config: RelearnConfig;
  /** CURATED_SCHEMA_URI: the config's curated schema. @default - config/schema.json in the artifacts bucket, if any */
  readonly curatedSchemaUri?: string;
}

/** Shard files read at once. */
const CONCURRENCY = 8;

/**
 * ValidateData: merges the shard statistics, picks the expected schema (the config's schema file >
 * config/schema.json in the artifacts bucket > the champion's > inferred from this dataset), applies the
 * anomaly rules against it and the champion's baseline statistics, and writes stats.json, schema.json and
 * anomalies.json. Any blocking anomaly throws DataValidationFailed, whose message lists them in words:
 * nothing trains, nothing deploys.
 */
export async function validateData(event: StageEvent, deps: ValidateDeps): Promise<ValidationRef> {
  const dataset = event.state.dataset;
  if (!dataset) throw new InvalidStageInput('ValidateData needs `state.dataset` (the Ingest result)');
  const label = deps.config.dataset.labelColumn;
  const ctx = await resolveContext(deps.s3, deps.artifactsBucket, dataset, label, { curatedSchemaUri: deps.curatedSchemaUri });

  // 1. Merge the shards (computing any the Map did not leave behind, e.g. after a partial retry).
  let merged: DatasetStats | undefined;
  for (let i = 0; i < dataset.parts.length; i += CONCURRENCY) {
    const batch = await Promise.all(dataset.parts.slice(i, i + CONCURRENCY).map((part) => loadShard(event.executionName, part, ctx.plan, deps)));
    for (const s of batch) merged = merged ? merged.merge(s) : s;
  }
  const stats = merged ?? new DatasetStats(ctx.plan);

  // 2. The expected schema and the baseline.
  const inferred = inferSchema(stats, label);
  const schema: DatasetSchema = ctx.curated ?? ctx.championSchema ?? inferred;
  const baselineJson = await championStats(deps.s3, ctx.champion);
  const baseline = baselineJson ? DatasetStats.fromJSON(baselineJson) : undefined;

  // 3. The rules.
  const idColumns = [deps.config.dataset.idColumn ?? ROW_ID_COLUMN];
  const anomalies: Anomaly[] = applyRules({
    stats,
    schema,
    baseline,
    config: deps.config.validation,
    labelColumn: label,
    classification: deps.config.evaluation.problemType === 'binary_classification',
    idColumns,
  });
  const { summary, blocking } = describe(anomalies, stats.rows, stats.columns.length, schema.source);
  countAnomalies(anomalies); // the dashboard's "validation anomalies by rule"

  // 4. Outputs. The schema written is the one that travels with the model if this run is promoted.
  const prefix = Layout.validation(event.executionName);
  const put = (name: string, value: unknown) => putJson(deps.s3, deps.artifactsBucket, `${prefix}${name}`, value, { kmsKeyArn: deps.kmsKeyArn });
  const [statsUri, schemaUri, anomaliesUri] = await Promise.all([
    put('stats.json', { summary: summarize(stats), ...stats.toJSON() }),
    put('schema.json', schema),
    put('anomalies.json', {
      datasetId: dataset.datasetId,
      schemaSource: schema.source,
      ...(ctx.curatedUri ? { curatedSchemaUri: ctx.curatedUri } : {}),
      baseline: ctx.champion ? { executionName: ctx.champion.executionName, statsUri: ctx.champion.statsUri } : null,
      blocking: blocking.length,
      warnings: anomalies.length - blocking.length,
      summary,
      anomalies,
    }),
  ]);
  logger.info('validation', { blocking: blocking.length, warnings: anomalies.length - blocking.length, rows: stats.rows });
  if (blocking.length > 0) throw new DataValidationFailed(summary);
  return { statsUri, schemaUri, anomaliesUri, blocking: 0, warnings: anomalies.length, summary: summary.slice(0, 1000) };
}

async function loadShard(executionName: string, part: string, plan: ShardFile['plan'], deps: ValidateDeps): Promise<DatasetStats> {
  const file = await getJsonIfExists<ShardFile>(deps.s3, deps.artifactsBucket, shardStatsKey(executionName, part));
  if (file && samePlan(file.plan, plan)) return DatasetStats.fromJSON(file.stats);
  logger.warn('shard statistics missing or planned differently; computing them here', { part, uri: s3Uri(deps.artifactsBucket, part) });
  return computeShard(deps.s3, deps.artifactsBucket, part, plan);
}

function samePlan(a: ShardFile['plan'], b: ShardFile['plan']): boolean {
  return JSON.stringify(a.columns) === JSON.stringify(b.columns) && a.labelColumn === b.labelColumn;
}
