import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolvePipeline } from '../local/asl/assembly';
import { loadConfig } from '../local/local-run';
import { inputKey } from '../local/synth';
import { schemaFileOf } from '../lib/config-file';
import { main } from '../local/cli';
import { E2eProject, firstVisits } from './helpers/e2e';

/**
 * `validation.schemaFile` through `relearn local run --config conf/cfg.json`: the path is relative to the
 * config file's folder, the synthesized app ships the file as an S3 file asset, local mode publishes it to the
 * bootstrap bucket and resolves CURATED_SCHEMA_URI to it, and ValidateData judges the data by it. Both runs
 * stop at ValidateData (no training), so the test costs two syntheses and two short executions.
 */

jest.setTimeout(600000);

const project = new E2eProject('relearn-curated-schema-');
const CONFIG = {
  dataset: { labelColumn: 'churned', idColumn: 'customer_id', rowsPerPart: 1000 },
  validation: { schemaFile: 'my-schema.json' },
};
const confDir = join(project.dir, 'conf');
const schemaPath = join(confDir, 'my-schema.json');
/** A partial curated schema: the columns it names are checked against it, the others only warn (new_column). */
const writeSchema = (column: string, domain: string[]) => writeFileSync(schemaPath, JSON.stringify({ columns: [{ name: column, type: 'categorical', domain }] }, null, 2));
let data: string;

beforeAll(async () => {
  mkdirSync(confDir, { recursive: true });
  project.writeConfig('conf/cfg', CONFIG);
  data = await project.writeData('day', { rows: 1500, seed: 7 });
});
afterAll(() => project.cleanup());

test('loadConfig resolves schemaFile against the config file folder, and the synth key follows the file', () => {
  // GIVEN a schema file next to the config (not in the project folder or the repository)
  writeSchema('plan', ['basic', 'pro', 'enterprise']);
  // WHEN
  const { config, baseDir } = loadConfig({ configFile: join(confDir, 'cfg.json'), projectDir: project.dir });
  // THEN
  expect(baseDir).toBe(confDir);
  expect(schemaFileOf(config, baseDir)).toBe(schemaPath);
  const before = inputKey(baseDir, config);
  writeSchema('plan', ['basic', 'pro']);
  expect(inputKey(baseDir, config)).not.toBe(before);
});

test('a run with the curated schema stops at ValidateData on a category the schema does not know; an edit to the file is picked up', async () => {
  // GIVEN a curated schema whose plan domain leaves out "free"
  writeSchema('plan', ['basic', 'pro', 'enterprise']);
  // WHEN relearn local run --config conf/cfg.json
  const first = await project.run({ config: 'conf/cfg', data });
  // THEN it stops at ValidateData with unexpected_category on plan, judged against the curated schema
  expect(first.code).toBe(1);
  expect(first.json.error?.Error).toBe('DataValidationFailed');
  expect(first.json.error?.Cause).toMatch(/against the curated schema/);
  expect(first.json.error?.Cause).toMatch(/\[unexpected_category\] column "plan": .* \("free"\)/);
  expect(firstVisits(first.json)).toEqual(['Ingest', 'ComputeStatistics', 'ValidateData', 'NotifyFailure', 'Failed']);

  // The synthesized ShardStatistics and ValidateData functions name the published asset, whose bytes are the file's.
  const pipeline = resolvePipeline(join(project.stateDir, 'cdk.out'));
  const uris = Object.values(pipeline.functions)
    .map((f) => f.environment.CURATED_SCHEMA_URI)
    .filter(Boolean);
  expect(uris).toHaveLength(2);
  const uri = uris[0]!;
  expect(uri).toMatch(/^s3:\/\/cdk-hnb659fds-assets-\d{12}-[a-z0-9-]+\/[0-9a-f]{64}\.json$/);
  const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri)!;
  expect(pipeline.fileAssets.some((a) => a.bucket === bucket && a.key === key && a.packaging === 'file')).toBe(true);
  const { published, anomalies, runSchema } = await project.inspect(async (look) => ({
    published: await look.object(bucket, key),
    anomalies: JSON.parse((await look.artifact(`runs/${first.json.executionName}/validation/anomalies.json`))!),
    runSchema: JSON.parse((await look.artifact(`runs/${first.json.executionName}/validation/schema.json`))!),
  }));
  expect(published).toBe(readFileSync(schemaPath, 'utf8'));
  expect(anomalies).toMatchObject({ schemaSource: 'curated', curatedSchemaUri: uri });

  // `relearn local schema --out` writes the schema that run used (no champion yet: the last run's), minus `source`.
  let out = '';
  const io = { cwd: project.dir, stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (out += t) } };
  expect(await main(['local', 'schema', '--out', 'conf/start.json'], io)).toBe(0);
  expect(out).toContain(`the schema of ${first.json.executionName}`);
  const { source, ...withoutSource } = runSchema;
  expect(source).toBe('curated');
  expect(JSON.parse(readFileSync(join(confDir, 'start.json'), 'utf8'))).toEqual(withoutSource);

  // WHEN the schema file is edited (now country must be "XX") and the same command runs again
  writeSchema('country', ['XX']);
  const second = await project.run({ config: 'conf/cfg', data });
  // THEN the app is re-synthesized and the new schema applies
  expect(second.json.timings.synthCached).toBe(false);
  expect(second.json.error?.Cause).toMatch(/\[unexpected_category\] column "country": 100\.0% of values/);
  expect(second.json.error?.Cause).not.toContain('column "plan"');
});
