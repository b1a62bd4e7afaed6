import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { RelearnConfig } from '../shared/config';
import { ChampionRecord, ChampionRecordSchema, DatasetRef, Layout } from '../shared/contracts';
import { DataValidationFailed } from '../shared/errors';
import { getBuffer, getJson, getJsonIfExists, isNotFound, parseS3Uri, s3Uri } from '../shared/s3';
import { DatasetSchema, DatasetSchemaSchema, DatasetStatsJson, planFor, StatsPlan } from '../shared/stats';
import { openTable, ParseError, Value } from '../shared/tabular';

/** Where a curated schema lives in the artifacts bucket; when present it overrides the inferred one. */
export const CURATED_SCHEMA_KEY = 'config/schema.json';
/** Bytes of the first part read to infer column kinds. */
export const SAMPLE_BYTES = 1 << 20;

export interface ValidationContext {
  readonly plan: StatsPlan;
  readonly curated?: DatasetSchema;
  /** Where the curated schema came from (CURATED_SCHEMA_URI, or config/schema.json in the artifacts bucket). */
  readonly curatedUri?: string;
  readonly champion?: ChampionRecord;
  readonly championSchema?: DatasetSchema;
}

/** The config fields the plan depends on (`dataset.labelColumn`, `dataset.columnRoles`, `evaluation.problemType`). */
export interface PlanConfig {
  readonly labelColumn: string;
  readonly problemType?: string;
  readonly columnRoles?: Readonly<Record<string, string>>;
}

export function planConfigOf(config: RelearnConfig): PlanConfig {
  return { labelColumn: config.dataset.labelColumn, problemType: config.evaluation.problemType, columnRoles: config.dataset.columnRoles };
}

export interface ResolveOptions {
  /**
   * s3:// URI of the curated schema from `validation.schemaFile` (CURATED_SCHEMA_URI). It wins over
   * `config/schema.json` in the artifacts bucket, which is then not read.
   * @default - config/schema.json in the artifacts bucket, when it exists
   */
  readonly curatedSchemaUri?: string;
}

/**
 * Everything every shard must agree on, derived deterministically from S3 (so each Map iteration and
 * ValidateData compute the same plan): the curated schema, the champion's schema, and column kinds
 * inferred from the first 1 MB of the first part. Kinds named by a schema win over inferred ones.
 * The expected schema is, in order: the config's schema file > config/schema.json > the champion's > inferred.
 */
export async function resolveContext(
  s3: S3Client,
  bucket: string,
  dataset: DatasetRef,
  config: PlanConfig,
  opts: ResolveOptions = {},
): Promise<ValidationContext> {
  const found = await curatedSchema(s3, bucket, opts.curatedSchemaUri);
  const curated = found?.schema;
  const championRaw = await getJsonIfExists(s3, bucket, Layout.champion);
  const champion = championRaw !== undefined ? ChampionRecordSchema.safeParse(championRaw).data : undefined;
  let championSchema: DatasetSchema | undefined;
  if (champion) {
    const { bucket: b, key } = parseS3Uri(champion.schemaUri);
    const raw = await getJsonIfExists(s3, b, key);
    const parsed = raw !== undefined ? DatasetSchemaSchema.safeParse(raw) : undefined;
    if (parsed?.success) championSchema = { ...parsed.data, source: 'champion' };
  }
  const sample = dataset.parts.length ? await sampleOf(s3, bucket, dataset.parts[0]) : { columns: dataset.columns, rows: [] };
  const plan = planFor(sample.columns, sample.rows, { labelColumn: config.labelColumn, schema: curated ?? championSchema, roles: config.columnRoles, problemType: config.problemType });
  return { plan, curated, ...(found ? { curatedUri: found.uri } : {}), champion, championSchema };
}

/**
 * The curated schema: the config's schema file (an asset: it must exist, a missing one is a broken deploy) or
 * else config/schema.json in the artifacts bucket when it exists. Either one that does not parse is a
 * DataValidationFailed naming the object and the bad field: nothing trains against a schema nobody meant.
 */
export async function curatedSchema(
  s3: S3Client,
  artifactsBucket: string,
  curatedSchemaUri?: string,
): Promise<{ schema: DatasetSchema; uri: string } | undefined> {
  let raw: unknown;
  let uri: string;
  if (curatedSchemaUri) {
    uri = curatedSchemaUri;
    const { bucket, key } = parseS3Uri(uri);
    try {
      raw = JSON.parse((await getBuffer(s3, bucket, key)).toString('utf8'));
    } catch (err) {
      const why = err instanceof SyntaxError ? `not JSON: ${err.message}` : isNotFound(err) ? 'the object does not exist' : (err as Error).message;
      throw new DataValidationFailed(`the curated schema ${uri} (validation.schemaFile) cannot be read: ${why}`, { cause: err });
    }
  } else {
    uri = s3Uri(artifactsBucket, CURATED_SCHEMA_KEY);
    raw = await getJsonIfExists(s3, artifactsBucket, CURATED_SCHEMA_KEY);
    if (raw === undefined) return undefined;
  }
  return { schema: parseCuratedSchema(raw, uri), uri };
}

/** A curated schema as a person wrote it (`source` may be left out); throws DataValidationFailed naming `where` and the bad field. */
export function parseCuratedSchema(raw: unknown, where: string): DatasetSchema {
  const parsed = DatasetSchemaSchema.safeParse(typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? { source: 'curated', ...raw } : raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DataValidationFailed(`the curated schema ${where} is not valid: ${problems}`);
  }
  return { ...parsed.data, source: 'curated' };
}

/** The champion's statistics, when there is a champion and its statistics can be read. */
export async function championStats(s3: S3Client, champion: ChampionRecord | undefined): Promise<DatasetStatsJson | undefined> {
  if (!champion) return undefined;
  const { bucket, key } = parseS3Uri(champion.statsUri);
  try {
    return await getJson<DatasetStatsJson>(s3, bucket, key);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function sampleOf(s3: S3Client, bucket: string, key: string): Promise<{ columns: string[]; rows: Value[][] }> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=0-${SAMPLE_BYTES - 1}` }));
  const bytes = Buffer.from(await res.Body!.transformToByteArray());
  // Cut at the last line end: a row cut in half would look ragged. (A quoted newline there only costs a row.)
  const cut = bytes.length >= SAMPLE_BYTES ? bytes.subarray(0, bytes.lastIndexOf(0x0a) + 1) : bytes;
  const rows: Value[][] = [];
  try {
    const table = await openTable(Readable.from([cut]), { format: 'csv', file: key });
    for await (const r of table.rows) rows.push(r.values);
    return { columns: table.columns, rows };
  } catch (err) {
    if (err instanceof ParseError) throw new DataValidationFailed(`cannot read ${key}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** runs/<exec>/validation/shards/<part key with / replaced by __>.json */
export function shardStatsKey(executionName: string, partKey: string): string {
  return `${Layout.validation(executionName)}shards/${partKey.replace(/\//g, '__')}.json`;
}
