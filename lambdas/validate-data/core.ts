import { S3Client } from '@aws-sdk/client-s3';
import { RelearnConfig } from '../shared/config';
import { DatasetRef, Layout, StageEvent, ValidationRef } from '../shared/contracts';
import { DataValidationFailed, InvalidStageInput } from '../shared/errors';
import { logger } from '../shared/logger';
import { getJson, getJsonIfExists, parseS3Uri, putJson, s3Uri } from '../shared/s3';
import {
  Anomaly,
  applyRules,
  DatasetSchema,
  DatasetStats,
  describe,
  expectedClasses,
  inferSchema,
  observedClasses,
  RareClass,
  runClasses,
  runSchema,
  SchemaRole,
  summarize,
  withKindOverrides,
} from '../shared/stats';
import { DatasetManifest, ROW_ID_COLUMN } from '../ingest/core';
import { computeShard, ShardFile } from '../shard-statistics/core';
import { championStats, planConfigOf, resolveContext, shardStatsKey } from '../shard-statistics/plan';
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
  const { dataset: dc, evaluation } = deps.config;
  const label = dc.labelColumn;
  const problemType = evaluation.problemType;
  const ctx = await resolveContext(deps.s3, deps.artifactsBucket, dataset, planConfigOf(deps.config), { curatedSchemaUri: deps.curatedSchemaUri });

  // 1. Merge the shards (computing any the Map did not leave behind, e.g. after a partial retry).
  let merged: DatasetStats | undefined;
  for (let i = 0; i < dataset.parts.length; i += CONCURRENCY) {
    const batch = await Promise.all(dataset.parts.slice(i, i + CONCURRENCY).map((part) => loadShard(event.executionName, part, ctx.plan, dataset, deps)));
    for (const s of batch) merged = merged ? merged.merge(s) : s;
  }
  const stats = merged ?? new DatasetStats(ctx.plan);

  // 2. The expected schema (with the config's kind overrides), the baseline, the roles and the classes.
  const inferred = inferSchema(stats, label);
  const schema: DatasetSchema = withKindOverrides(ctx.curated ?? ctx.championSchema ?? inferred, dc.columnRoles);
  const baselineJson = await championStats(deps.s3, ctx.champion);
  const baseline = baselineJson ? DatasetStats.fromJSON(baselineJson) : undefined;
  const idColumn = dc.idColumn ?? ROW_ID_COLUMN;
  const role = roleOf(deps.config, ctx.curated);
  const labelStats = stats.column(label);
  const observed = problemType !== 'regression' && labelStats ? observedClasses(labelStats) : undefined;
  // The reference classes (Contract A): the config's, else a curated schema's, else the champion's.
  const references = [
    { classes: dc.classes, source: 'config' as const },
    { classes: ctx.curated?.classes, source: 'curated' as const },
    { classes: ctx.championSchema?.classes, source: 'champion' as const },
  ];
  const expected = observed ? expectedClasses(references, observed.numeric) : undefined;

  // 3. The rules.
  const anomalies: Anomaly[] = applyRules({
    stats,
    schema,
    baseline,
    config: deps.config.validation,
    labelColumn: label,
    problemType,
    idColumns: [idColumn],
    ignoredColumns: stats.columns.map((c) => c.name).filter((c) => role(c) === 'ignore'),
    expectedClasses: expected,
    rareClasses: await rareClasses(deps, dataset.manifestUri),
  });
  const { summary, blocking } = describe(anomalies, stats.rows, stats.columns.length, schema.source);
  countAnomalies(anomalies); // the dashboard's "validation anomalies by rule"

  // 4. Outputs. The schema written is the one that travels with the model if this run is promoted.
  const prefix = Layout.validation(event.executionName);
  const put = (name: string, value: unknown) => putJson(deps.s3, deps.artifactsBucket, `${prefix}${name}`, value, { kmsKeyArn: deps.kmsKeyArn });
  const [statsUri, schemaUri, anomaliesUri] = await Promise.all([
    put('stats.json', { summary: summarize(stats), ...stats.toJSON() }),
    put('schema.json', runSchema({ expected: schema, inferred, problemType, labelColumn: label, idColumn, classes: observed ? runClasses(observed, expected) : undefined, role })),
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

async function loadShard(executionName: string, part: string, plan: ShardFile['plan'], dataset: DatasetRef, deps: ValidateDeps): Promise<DatasetStats> {
  const file = await getJsonIfExists<ShardFile>(deps.s3, deps.artifactsBucket, shardStatsKey(executionName, part));
  if (file && samePlan(file.plan, plan)) return DatasetStats.fromJSON(file.stats);
  logger.warn('shard statistics missing or planned differently; computing them here', { part, uri: s3Uri(deps.artifactsBucket, part) });
  return computeShard(deps.s3, deps.artifactsBucket, part, plan, dataset);
}

/**
 * A column's role in the run's schema: the label and the id column are fixed; `ignore` comes from
 * `dataset.columnRoles`, or from a curated schema's `role` where the config says nothing about the column.
 */
export function roleOf(config: RelearnConfig, curated: DatasetSchema | undefined): (column: string) => SchemaRole {
  const { labelColumn, idColumn = ROW_ID_COLUMN, columnRoles = {} } = config.dataset;
  return (column) => {
    if (column === labelColumn) return 'label';
    if (column === idColumn) return 'id';
    const configured = columnRoles[column];
    if (configured) return configured === 'ignore' ? 'ignore' : 'feature';
    return curated?.columns.find((c) => c.name === column)?.role === 'ignore' ? 'ignore' : 'feature';
  };
}

/** The classes Ingest's stratified split could not put in both splits (its manifest's `split.tooRare`). */
async function rareClasses(deps: ValidateDeps, manifestUri: string): Promise<RareClass[]> {
  const { bucket, key } = parseS3Uri(manifestUri);
  const manifest = await getJson<Partial<DatasetManifest>>(deps.s3, bucket, key);
  return (manifest.split?.tooRare ?? []).map((t) => ({ name: t.name, rows: t.rows, split: t.split, at: t.at }));
}

function samePlan(a: ShardFile['plan'], b: ShardFile['plan']): boolean {
  return JSON.stringify(a.columns) === JSON.stringify(b.columns) && a.labelColumn === b.labelColumn;
}
