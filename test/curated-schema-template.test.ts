import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig, RelearnConfigInput } from '../lambdas/shared/config';
import { LambdaEnvSchema } from '../lambdas/shared/env';
import { buildRelearnApp } from '../lib/app';
import { CURATED_SCHEMA_STAGES } from '../lib/constructs/retraining-pipeline';
import { STAGE_IDS, stageConstructId } from '../lib/constructs/stages';

/**
 * `validation.schemaFile` in the template: an S3 file asset, CURATED_SCHEMA_URI on exactly the two stages that
 * validate data, s3:GetObject on exactly that object for their roles, and a synth that fails on a bad file.
 * Bundling is skipped (context `aws:cdk:bundling-stacks: []`), as in template.test.ts.
 */

const TRAINING_SOURCES = path.resolve(__dirname, '..', 'training-scripts', 'tabular');
const SCHEMA = {
  labelColumn: 'churned',
  columns: [
    { name: 'tenure_months', type: 'numeric', min: 0, max: 600 },
    { name: 'plan', type: 'categorical', domain: ['basic', 'pro'] },
  ],
};

let appRoot: string;
beforeAll(() => {
  appRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'relearn-schema-app-'));
  fs.writeFileSync(path.join(appRoot, 'my-schema.json'), JSON.stringify(SCHEMA));
});
afterAll(() => fs.rmSync(appRoot, { recursive: true, force: true }));

function synth(input: RelearnConfigInput) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const config = parseConfig({ training: { sourceDir: TRAINING_SOURCES }, ...input });
  const { pipeline } = buildRelearnApp(app, config, { nag: false, appRoot });
  return { template: Template.fromStack(pipeline), pipeline: pipeline.pipeline, assembly: app.synth() };
}

type Statement = { Action: string | string[]; Resource: unknown };
const list = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

function statementsOfRole(t: Template, rolePrefix: string): Statement[] {
  const out: Statement[] = [];
  for (const p of Object.values(t.findResources('AWS::IAM::Policy'))) {
    const roles = list(p.Properties.Roles as { Ref: string }[]).map((r) => r.Ref);
    if (roles.some((r) => r.startsWith(rolePrefix))) out.push(...(p.Properties.PolicyDocument.Statement as Statement[]));
  }
  return out;
}

/** The function of a stage: its logical id starts with the stage's construct id (and is not its role or logs). */
function functionOf(t: Template, stage: (typeof STAGE_IDS)[number]) {
  const cid = stageConstructId(stage);
  const [, fn] = Object.entries(t.findResources('AWS::Lambda::Function')).find(([id]) => new RegExp(`^Pipeline${cid}[0-9A-F]{8}$`).test(id))!;
  return fn;
}

describe('validation.schemaFile', () => {
  let template: Template;
  let assetKey: string;
  let assetFile: string;
  beforeAll(() => {
    // GIVEN a config naming a schema file relative to the app root, WHEN the pipeline stack synthesizes
    const out = synth({ validation: { schemaFile: 'my-schema.json' } });
    template = out.template;
    assetKey = out.pipeline.curatedSchema!.s3ObjectKey;
    const manifest = out.assembly.artifacts.find((a) => a.manifest.type === 'cdk:asset-manifest' && a.id.startsWith('Pipeline'))!;
    const files = JSON.parse(fs.readFileSync(path.join(out.assembly.directory, (manifest.manifest.properties as { file: string }).file), 'utf8')).files;
    const entry = Object.values(files as Record<string, { source: { path: string; packaging: string } }>).find((f) => f.source.path.endsWith('.json'))!;
    assetFile = path.join(out.assembly.directory, entry.source.path);
    expect(entry.source.packaging).toBe('file');
  });

  test('the file is shipped as it is, as an S3 file asset', () => {
    expect(assetKey).toMatch(/^[0-9a-f]{64}\.json$/);
    expect(JSON.parse(fs.readFileSync(assetFile, 'utf8'))).toEqual(SCHEMA);
  });

  test('ShardStatistics and ValidateData get CURATED_SCHEMA_URI (the asset), no other stage does', () => {
    for (const stage of STAGE_IDS) {
      const vars = functionOf(template, stage).Properties.Environment.Variables as Record<string, unknown>;
      if (CURATED_SCHEMA_STAGES.includes(stage)) {
        const uri = JSON.stringify(vars.CURATED_SCHEMA_URI);
        expect(uri).toContain(`/${assetKey}`);
        expect(uri).toContain('s3://');
        expect(uri).toContain('cdk-hnb659fds-assets-');
      } else {
        expect(vars.CURATED_SCHEMA_URI).toBeUndefined();
      }
    }
    expect(CURATED_SCHEMA_STAGES).toEqual(['shard-statistics', 'validate-data']);
    // The variable is one loadEnv accepts.
    expect(LambdaEnvSchema.shape.CURATED_SCHEMA_URI.safeParse(`s3://bucket/${assetKey}`).success).toBe(true);
  });

  test('their roles may GetObject exactly that object; no role gets more of the asset bucket', () => {
    const mentionsAsset = (s: Statement) => JSON.stringify(s.Resource).includes(assetKey);
    for (const stage of STAGE_IDS) {
      const grants = statementsOfRole(template, `Pipeline${stageConstructId(stage)}Role`).filter((s) => JSON.stringify(s.Resource).includes('cdk-hnb659fds-assets-'));
      // PackageModel reads the training code asset (exactly that object): the code it packs into the model.
      if (stage === 'package-model') {
        expect(grants).toHaveLength(1);
        expect(list(grants[0].Action)).toEqual(['s3:GetObject']);
        expect(mentionsAsset(grants[0])).toBe(false);
        expect(JSON.stringify(grants[0].Resource)).not.toContain('*');
      } else if (CURATED_SCHEMA_STAGES.includes(stage)) {
        expect(grants).toHaveLength(1);
        expect(list(grants[0].Action)).toEqual(['s3:GetObject']);
        expect(list(grants[0].Resource)).toHaveLength(1);
        expect(mentionsAsset(grants[0])).toBe(true);
        expect(JSON.stringify(grants[0].Resource)).not.toContain('*');
      } else {
        expect(grants).toEqual([]);
      }
    }
    // The SageMaker role does not read the schema.
    expect(statementsOfRole(template, 'PipelineSageMakerRole').filter(mentionsAsset)).toEqual([]);
  });

  test('without schemaFile there is no such asset, variable or grant', () => {
    const { template: plain, pipeline } = synth({});
    expect(pipeline.curatedSchema).toBeUndefined();
    for (const stage of CURATED_SCHEMA_STAGES) {
      expect(functionOf(plain, stage).Properties.Environment.Variables.CURATED_SCHEMA_URI).toBeUndefined();
    }
  });
});

describe('a bad schema file fails the synth, naming the file and the field', () => {
  const write = (name: string, body: string) => fs.writeFileSync(path.join(appRoot, name), body);

  test('a column type that is not numeric, categorical or text', () => {
    // GIVEN
    write('bad-type.json', JSON.stringify({ columns: [{ name: 'age', type: 'numeric' }, { name: 'plan', type: 'string' }] }));
    // WHEN / THEN
    const escaped = path.join(appRoot, 'bad-type.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    expect(() => synth({ validation: { schemaFile: 'bad-type.json' } })).toThrow(
      new RegExp(`^Invalid relearn configuration \\(validation\\.schemaFile 'bad-type\\.json': ${escaped}\\):\\n  - columns\\.1\\.type: Invalid option`),
    );
  });

  test('an unknown field (a typo) and a missing columns list', () => {
    write('typo.json', JSON.stringify({ columns: [{ name: 'age', type: 'numeric', maximum: 3 }] }));
    expect(() => synth({ validation: { schemaFile: 'typo.json' } })).toThrow(/typo\.json\):\n  - columns\.0: Unrecognized key: "maximum"/);
    write('no-columns.json', JSON.stringify({ labelColumn: 'churned' }));
    expect(() => synth({ validation: { schemaFile: 'no-columns.json' } })).toThrow(/no-columns\.json\):\n  - columns: /);
  });

  test('not JSON, a missing file, a repeated column', () => {
    write('broken.json', '{ "columns": [ ');
    expect(() => synth({ validation: { schemaFile: 'broken.json' } })).toThrow(/validation\.schemaFile 'broken\.json'.*\n  - not JSON: /);
    expect(() => synth({ validation: { schemaFile: 'nope.json' } })).toThrow(/validation\.schemaFile 'nope\.json': .*nope\.json\):\n  - the file does not exist \(the path is relative to /);
    write('twice.json', JSON.stringify({ columns: [{ name: 'age', type: 'numeric' }, { name: 'age', type: 'text' }] }));
    expect(() => synth({ validation: { schemaFile: 'twice.json' } })).toThrow(/twice\.json\):\n  - columns: 'age' is listed more than once/);
  });
});
