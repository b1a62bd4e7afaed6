import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { parseConfig } from '../lambdas/shared/config';
import { buildRelearnApp, PIPELINE_STACK_ID } from '../lib/app';
import { loadConfigFile } from '../lib/config-file';

const ROOT = path.resolve(__dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'relearn-cdk-app-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the synthesized app with real bundles (as cdk synth and local mode see it)', () => {
  let outdir: string;
  let fns: { id: string; dir: string; env: Record<string, unknown>; handler: string }[];
  beforeAll(() => {
    // GIVEN the reference config, WHEN synthesized with esbuild bundling and asset metadata (as under the CLI)
    outdir = path.join(tmp, 'cdk.out');
    const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
    buildRelearnApp(app, loadConfigFile(path.join(ROOT, 'relearn.config.json')), { nag: false });
    const assembly = app.synth();
    const template = assembly.getStackArtifact(PIPELINE_STACK_ID).template as {
      Resources: Record<string, { Type: string; Metadata?: Record<string, string>; Properties: any }>;
    };
    fns = Object.entries(template.Resources)
      // CDK's custom resource provider framework (the endpoint owner's) ships its own code, not one of our bundles.
      .filter(([id, r]) => r.Type === 'AWS::Lambda::Function' && !id.startsWith('PipelineEndpointOwnerProviderframework'))
      .map(([id, r]) => ({ id, dir: path.join(outdir, r.Metadata!['aws:asset:path']), env: r.Properties.Environment.Variables, handler: r.Properties.Handler }));
  });

  test('every stage (and the abort clean-up, the endpoint owner, the trigger and the monitor) has a minified CommonJS bundle with a handler, no source map, and the SDK clients inside', () => {
    // 13 retrain stages + 2 rollback stages + the AbortCleanup function + the EndpointOwner handler + the Trigger
    // function + the monitor's three tasks (one bundle, three exports)
    expect(fns).toHaveLength(21);
    for (const f of fns) {
      const files = fs.readdirSync(f.dir);
      expect({ id: f.id, files }).toEqual({ id: f.id, files: ['index.js'] });
      const code = fs.readFileSync(path.join(f.dir, 'index.js'), 'utf8');
      // Minified: long lines (esbuild keeps only the newlines inside template literals).
      expect(code.length / code.split('\n').length).toBeGreaterThan(2000);
      // Clients are bundled at their pinned versions: nothing requires an @aws-sdk/client-* package at run time.
      expect(code).not.toMatch(/require\("@aws-sdk\/client-/);
      expect(code).not.toMatch(/require\("zod"\)/);
    }
  });

  test('each bundle loads and exports its function\'s handler (index.<export>)', () => {
    for (const f of fns) {
      const exportName = f.handler.replace(/^index\./, '');
      const r = spawnSync(process.execPath, ['-e', `const m=require(${JSON.stringify(path.join(f.dir, 'index.js'))});process.exit(typeof m[${JSON.stringify(exportName)}]==='function'?0:3)`], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1' },
      });
      expect({ id: f.id, status: r.status, stderr: r.stderr }).toEqual({ id: f.id, status: 0, stderr: '' });
    }
  });

  test('the training code ships as a sourcedir.tar.gz asset that holds the entry point', () => {
    // The S3 key is `<content hash>.gz` (CDK keeps only the last extension); the object is a gzipped tar.
    const uri = JSON.stringify(fns[0].env.TRAINING_CODE_URI);
    expect(uri).toMatch(/^"?\{"Fn::Sub":"s3:\/\/cdk-[a-z0-9]+-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}\/[0-9a-f]{64}\.gz"\}/);
    const archives = fs.readdirSync(outdir).filter((f) => f.endsWith('.tar.gz'));
    expect(archives).toHaveLength(1);
    const list = spawnSync('tar', ['tzf', path.join(outdir, archives[0])], { encoding: 'utf8' });
    expect(list.stdout.split('\n')).toContain('train.py');
  });
});

describe('bin/app.ts and the config file', () => {
  const runBin = (configFile: string) =>
    spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tsx'), [path.join(ROOT, 'bin', 'app.ts')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ config: configFile }), CDK_OUTDIR: path.join(tmp, 'bin.out') },
    });

  test('a bad config fails the app with one line per bad field and a non-zero exit', () => {
    // GIVEN a config with three bad fields
    const file = path.join(tmp, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ name: 'Bad Name', training: { instanceCount: 0 }, deployment: { instanceType: 'm5.large' } }));
    // WHEN the app runs
    const r = runBin(file);
    // THEN it exits 1 and names each field on its own line
    expect(r.status).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('  - '));
    expect(lines).toHaveLength(3);
    expect(lines.find((l) => l.includes('name:'))).toBeDefined();
    expect(lines.find((l) => l.includes('training.instanceCount:'))).toBeDefined();
    expect(lines.find((l) => l.includes('deployment.instanceType:'))).toMatch(/must be one of SageMaker's ProductionVariantInstanceType .* but got 'm5\.large'/);
    expect(r.stderr).toContain(file);
  });

  test('a config file that is not JSON fails naming the file', () => {
    const file = path.join(tmp, 'broken.json');
    fs.writeFileSync(file, '{ "name": ');
    const r = runBin(file);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`${file}: not valid JSON at line 1, column 11: Unexpected end of JSON input`.replace('Unexpected end of JSON input', 'the file ends before the JSON does'));
  });

  test('a missing config file means all defaults; the reference config parses', () => {
    expect(loadConfigFile(path.join(tmp, 'absent.json'))).toEqual(parseConfig({}));
    const ref = loadConfigFile(path.join(ROOT, 'relearn.config.json'));
    expect(ref.name).toBe('relearn');
    expect(ref.dataset.idColumn).toBe('customer_id');
  });
});
