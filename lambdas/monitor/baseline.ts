import { S3Client } from '@aws-sdk/client-s3';
import { ChampionRecord, ChampionRecordSchema, Layout, ModelManifestSchema } from '../shared/contracts';
import { readPredictions } from '../shared/predictions';
import { getJson, getJsonIfExists, isNotFound, parseS3Uri, putJson } from '../shared/s3';
import { CsvStatsScanner, DatasetSchema, DatasetSchemaSchema, DatasetStatsJson, StatsPlan } from '../shared/stats';
import { writeCsvRow } from '../shared/tabular';
import { UnreadableBody } from './capture';
import { Baselines, BaselineRef } from './compare';
import { MonitorPlan, predictionValues } from './window-stats';

/**
 * The champion's baselines, as they travel with the model (champion/current.json): its schema and dataset
 * statistics (what ValidateData wrote for its run), and the distribution of its predictions on its own validation
 * rows (predictions.jsonl in its training output), computed once per champion and kept under
 * `monitoring/baselines/<champion execution>/predictions.json`. A rollback that restores an earlier champion
 * record therefore restores its baselines too.
 */

export const predictionBaselineKey = (championExecution: string): string => `monitoring/baselines/${championExecution}/predictions.json`;

/** champion/current.json, or undefined when there is none (or it is not a champion record). */
export async function readChampion(s3: S3Client, bucket: string): Promise<ChampionRecord | undefined> {
  const raw = await getJsonIfExists(s3, bucket, Layout.champion);
  if (raw === undefined) return undefined;
  const parsed = ChampionRecordSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

export async function readSchema(s3: S3Client, uri: string): Promise<DatasetSchema> {
  const { bucket, key } = parseS3Uri(uri);
  const parsed = DatasetSchemaSchema.safeParse(await getJson(s3, bucket, key));
  if (!parsed.success) throw new Error(`${uri} is not a dataset schema: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`);
  return parsed.data;
}

export function baselineRef(champion: ChampionRecord): BaselineRef {
  return {
    executionName: champion.executionName,
    promotedAt: champion.promotedAt,
    modelPackageArn: champion.modelPackageArn,
    statsUri: champion.statsUri,
    schemaUri: champion.schemaUri,
  };
}

/** The key of a run's model manifest (PackageModel's runs/<exec>/model/manifest.json). */
export const modelManifestKey = (executionName: string): string => `${Layout.model(executionName)}manifest.json`;

/**
 * Where the champion's validation predictions are (its training job's output.tar.gz, predictions.jsonl): the
 * `outputDataUri` of its model manifest (the served model.tar.gz is PackageModel's repack under runs/<exec>/model/,
 * not the job's output), else, for a model served straight from its job's output, next to its model.tar.gz in
 * SageMaker's layout (`.../<job>/output/model.tar.gz` -> `.../<job>/output/output.tar.gz`).
 */
export async function championOutputUri(s3: S3Client, bucket: string, champion: ChampionRecord & { outputDataUri?: string }): Promise<string | undefined> {
  if (champion.outputDataUri) return champion.outputDataUri;
  const manifest = ModelManifestSchema.pick({ outputDataUri: true }).safeParse(await getJsonIfExists(s3, bucket, modelManifestKey(champion.executionName)));
  if (manifest.success) return manifest.data.outputDataUri;
  if (champion.modelDataUri.includes(`/${Layout.model(champion.executionName)}`)) return undefined;
  return /\/model\.tar\.gz$/.test(champion.modelDataUri) ? champion.modelDataUri.replace(/\/model\.tar\.gz$/, '/output.tar.gz') : undefined;
}

interface PredictionBaselineFile {
  readonly source: string;
  readonly plan: StatsPlan;
  readonly threshold: number;
  readonly rows: number;
  readonly stats: DatasetStatsJson;
}

/** The statistics of the champion's validation predictions in the prediction table of `plan` (cached per champion). */
export async function predictionBaseline(
  s3: S3Client,
  bucket: string,
  champion: ChampionRecord,
  plan: MonitorPlan,
  kmsKeyArn?: string,
): Promise<{ stats: DatasetStatsJson; uri: string } | { note: string }> {
  const source = await championOutputUri(s3, bucket, champion);
  if (!source) {
    return { note: `the champion's model ${champion.modelDataUri} has no readable model manifest (${modelManifestKey(champion.executionName)}) and is not in SageMaker's output layout, so its validation predictions cannot be found: the prediction distribution was not compared` };
  }
  const cacheKey = predictionBaselineKey(champion.executionName);
  const cached = await getJsonIfExists<PredictionBaselineFile>(s3, bucket, cacheKey);
  if (cached && cached.source === source && cached.threshold === plan.threshold && JSON.stringify(cached.plan) === JSON.stringify(plan.predictions)) {
    return { stats: cached.stats, uri: source };
  }
  let rows: { candidate: unknown }[];
  try {
    rows = await readPredictions(s3, source);
  } catch (err) {
    if (isNotFound(err)) return { note: `${source} does not exist: the champion's validation predictions are gone, so the prediction distribution was not compared` };
    return { note: `the champion's validation predictions (${source}) cannot be read (${(err as Error).message}): the prediction distribution was not compared` };
  }
  const scanner = new CsvStatsScanner(plan.predictions, { file: `${source}!predictions.jsonl` });
  scanner.push(Buffer.from(writeCsvRow(plan.predictions.columns.map((c) => c.name))));
  const lines: string[] = [];
  try {
    for (const r of rows) lines.push(writeCsvRow(predictionValues(r.candidate as number | number[], plan)));
  } catch (err) {
    if (!(err instanceof UnreadableBody)) throw err;
    return { note: `the champion's validation predictions (${source}) do not fit its ${plan.problemType} model (${err.message}): the prediction distribution was not compared` };
  }
  scanner.push(Buffer.from(lines.join('')));
  const stats = scanner.end().toJSON();
  const file: PredictionBaselineFile = { source, plan: plan.predictions, threshold: plan.threshold, rows: rows.length, stats };
  await putJson(s3, bucket, cacheKey, file, { kmsKeyArn });
  return { stats, uri: source };
}

/** Everything the comparison needs of the champion named in the plan file. */
export async function loadBaselines(
  s3: S3Client,
  bucket: string,
  champion: ChampionRecord,
  schema: DatasetSchema,
  plan: MonitorPlan,
  kmsKeyArn?: string,
): Promise<Baselines> {
  const { bucket: sb, key } = parseS3Uri(champion.statsUri);
  const features = await getJson<DatasetStatsJson>(s3, sb, key);
  const pred = await predictionBaseline(s3, bucket, champion, plan, kmsKeyArn);
  const ref = baselineRef(champion);
  return 'stats' in pred
    ? { ref: { ...ref, predictionsUri: pred.uri }, schema, features, predictions: pred.stats }
    : { ref, schema, features, predictions: null, predictionsNote: pred.note };
}
