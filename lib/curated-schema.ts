import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../lambdas/shared/config';
import { DatasetSchema, DatasetSchemaSchema } from '../lambdas/shared/stats/schema';

/**
 * Reads and checks `validation.schemaFile` at synth: a missing file, a file that is not JSON or a schema that
 * does not pass DatasetSchemaSchema fails the synth with a ConfigError naming the file and every bad field
 * (`columns.2.type: ...`; the CLI prints it and exits 2), instead of a run that fails later in ValidateData. `source` may be left out or be
 * any of DatasetSchemaSchema's values: it is read as `curated`, as ShardStatistics and ValidateData do.
 * Returns the absolute path (shipped as it is, as an S3 file asset) and the parsed schema.
 */
export function loadCuratedSchemaFile(schemaFile: string, baseDir: string): { file: string; schema: DatasetSchema } {
  const file = path.resolve(baseDir, schemaFile);
  const source = schemaFile === file ? `validation.schemaFile ${file}` : `validation.schemaFile '${schemaFile}': ${file}`;
  const fail = (...problems: string[]): never => {
    throw new ConfigError(problems, source);
  };
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) fail(`the file does not exist (the path is relative to ${baseDir})`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`not JSON: ${(err as Error).message}`);
  }
  const isObject = typeof raw === 'object' && raw !== null && !Array.isArray(raw);
  const parsed = DatasetSchemaSchema.safeParse(isObject ? { source: 'curated', ...(raw as object) } : raw);
  if (!parsed.success) {
    fail(...parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message} (a schema as in docs/validation.md)`));
  }
  const names = parsed.data!.columns.map((c) => c.name);
  const repeated = names.filter((n, i) => names.indexOf(n) !== i);
  if (repeated.length) fail(`columns: '${repeated[0]}' is listed more than once`);
  return { file, schema: parsed.data! };
}
