import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { handlerNames } from '../scripts/bundle-lambdas';
import { cdkSynth, copyApp, npmInstall, Packed, packRelearn, relearn, REPO_ROOT, templateOf, writeJsApp } from './helpers/consumer';

/**
 * relearn used as a consumer uses it (issue 14): the repository is built and packed, the tarball installed into two
 * fresh CDK apps (examples/team-app, TypeScript through ts-node as the classic `cdk init` sets it up, with two
 * pipelines; and a plain JavaScript app), each synthesized by its own `cdk synth` with its own cdk-nag, and both of
 * the TypeScript app's pipelines run by the installed `relearn local run` at the same time, then invoked. The
 * JavaScript app synthesizes and refuses a bad prop; its local run is the same code path as the TypeScript app's and
 * is not repeated (one e2e run per pipeline keeps the suite lean).
 */
jest.setTimeout(15 * 60_000);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'relearn-consumer-'));
const teamApp = path.join(work, 'team-app');
const jsApp = path.join(work, 'forecasts-app');
let packed: Packed;
const DATA = path.join(REPO_ROOT, 'examples', 'churn', 'data', 'churn-clean.csv');
const ROW = { customer_id: 'c-1', company_size: 149, monthly_usage_hours: 38.8, tenure_months: 7, seats: 7, support_tickets: 1, plan: 'basic', country: 'IN', last_message: 'please close our account' };

beforeAll(() => {
  packed = packRelearn(work);
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('the packed package', () => {
  /** What a consumer needs, each by a pattern; anything else in the tarball fails the test. */
  const ALLOWED = [
    /^package\.json$/,
    /^README\.md$/,
    /^CHANGELOG\.md$/,
    /^LICENSE$/,
    /^bin\/relearn\.js$/,
    /^dist\/(lib|local|lambdas)\/.+\.(js|d\.ts)$/,
    /^dist\/lambda-bundles\/[a-z-]+\/index\.js$/,
    /^training-scripts\/[a-z_-]+\/([a-z_]+\/)*[a-z_0-9]+\.(py|txt|json)$/,
    /^local\/python\/[a-z_]+\.py$/,
    /^local\/services\/api-models\/[a-z-]+\.json$/,
    /^examples\/churn\/data\/churn-clean\.csv$/,
    /^docs\/.+\.md$/,
  ];

  test('GIVEN npm pack WHEN its file list is read THEN it holds the compiled API, the CLI, one bundle per handler, the training and serving scripts, and nothing else', () => {
    const files = [...packed.files].sort();
    expect(files.filter((f) => !ALLOWED.some((re) => re.test(f)))).toEqual([]);
    const required = [
      'package.json',
      'README.md',
      'CHANGELOG.md',
      'bin/relearn.js',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/local/cli.js',
      ...handlerNames().map((h) => `dist/lambda-bundles/${h}/index.js`),
      'local/python/serve.py',
      'local/python/train_harness.py',
      'local/services/api-models/sagemaker.json',
    ];
    expect(required.filter((f) => !files.includes(f))).toEqual([]);
    // the built-in training script (whichever folder holds it) ships, its tests do not
    expect(files.some((f) => /^training-scripts\/[a-z_-]+\/train\.py$/.test(f))).toBe(true);
    expect(files.filter((f) => /tests?\/|\.ts$(?<!\.d\.ts)|\.map$|__pycache__|\.relearn|cdk\.out/.test(f))).toEqual([]);
    console.log(`relearn ${path.basename(packed.tarball)}: packed ${(packed.size / 1024 / 1024).toFixed(2)} MiB, unpacked ${(packed.unpackedSize / 1024 / 1024).toFixed(2)} MiB, ${files.length} files (build ${packed.buildMs ? `${(packed.buildMs / 1000).toFixed(1)} s` : 'up to date'})`);
  });

  test('GIVEN the packed package.json THEN aws-cdk-lib and constructs are peers, and every module the compiled code requires is a dependency or a peer', () => {
    const unpacked = fs.mkdtempSync(path.join(work, 'unpacked-'));
    require('node:child_process').execFileSync('tar', ['xzf', packed.tarball, '-C', unpacked]);
    const root = path.join(unpacked, 'package');
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(Object.keys(pkg.peerDependencies).sort()).toEqual(['aws-cdk-lib', 'constructs']);
    expect(pkg.dependencies['aws-cdk-lib']).toBeUndefined();
    expect(pkg.dependencies.constructs).toBeUndefined();
    expect(pkg.main).toBe('dist/lib/index.js');
    expect(pkg.types).toBe('dist/lib/index.d.ts');
    expect(pkg.bin).toEqual({ relearn: 'bin/relearn.js' });
    const declared = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)]);
    const builtins = new Set(builtinModules);
    const missing = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(p);
        else if (p.endsWith('.js') && !p.includes(`${path.sep}lambda-bundles${path.sep}`)) {
          for (const [, spec] of fs.readFileSync(p, 'utf8').matchAll(/require\(["']([^"'.][^"']*)["']\)/g)) {
            const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
            if (!spec.startsWith('node:') && !builtins.has(name) && !declared.has(name)) missing.add(`${name} (${path.relative(root, p)})`);
          }
        }
      }
    };
    walk(path.join(root, 'dist'));
    walk(path.join(root, 'bin'));
    // bin/relearn.js loads tsx only in relearn's own repository (where local/cli.ts exists); an install has no sources
    expect(fs.existsSync(path.join(root, 'local', 'cli.ts'))).toBe(false);
    expect([...missing].filter((m) => m !== 'tsx (bin/relearn.js)')).toEqual([]);
  });
});

describe('a TypeScript CDK app (ts-node) with two pipelines', () => {
  beforeAll(() => {
    copyApp(path.join(REPO_ROOT, 'examples', 'team-app'), teamApp);
    const ms = npmInstall(teamApp, [packed.tarball]);
    console.log(`npm install (examples/team-app + the tarball, --prefer-offline): ${(ms / 1000).toFixed(1)} s`);
  });

  test('GIVEN the installed package WHEN an app loads the construct API THEN none of local mode\'s servers or SDK clients is loaded', () => {
    const script = "require('relearn'); console.log(JSON.stringify(Object.keys(require.cache)))";
    const loaded = JSON.parse(require('node:child_process').execFileSync(process.execPath, ['-e', script], { cwd: teamApp, encoding: 'utf8' })) as string[];
    const packages = new Set(loaded.filter((f) => f.includes('/node_modules/')).map((f) => f.split('/node_modules/').pop()!.split('/').slice(0, f.split('/node_modules/').pop()!.startsWith('@') ? 2 : 1).join('/')));
    expect(packages.has('relearn')).toBe(true);
    for (const cliOnly of ['s3rver', 'aws-local-stepfunctions', '@aws-sdk/client-s3', '@aws-sdk/client-sagemaker', '@aws-lambda-powertools/logger']) expect(packages.has(cliOnly)).toBe(false);
  });

  test('GIVEN the installed tarball WHEN cdk synth runs with the team\'s cdk-nag THEN both pipelines synthesize clean next to the team\'s own resources', () => {
    const synth = cdkSynth(teamApp);
    expect(synth.output).not.toMatch(/AwsSolutions-/);
    expect(synth.code).toBe(0);
    console.log(`cdk synth (examples/team-app, ts-node): ${(synth.ms / 1000).toFixed(1)} s`);
    const t = templateOf(teamApp, 'TeamMl');
    const of = (type: string) => Object.values(t.Resources).filter((r) => r.Type === type);
    expect(of('AWS::StepFunctions::StateMachine').map((r) => r.Properties!.StateMachineName).sort()).toEqual(['team-churn-monitor', 'team-churn-retraining', 'team-churn-rollback', 'team-upsell-monitor', 'team-upsell-retrain', 'team-upsell-rollback']);
    // Churn uses the team's key, landing bucket and topic; Upsell builds its own: 2 keys, 1 + 1 (Upsell: data, artifacts) + Churn's artifacts
    expect(of('AWS::KMS::Key')).toHaveLength(2);
    expect(of('AWS::SNS::Topic')).toHaveLength(2);
    expect(of('AWS::SageMaker::ModelPackageGroup').map((r) => r.Properties!.ModelPackageGroupName)).toEqual(['team-upsell-models']);
    // the Lambda code is relearn's pre-built bundles (no esbuild ran in the consumer's synth)
    const assets = JSON.parse(fs.readFileSync(path.join(teamApp, 'cdk.out', 'TeamMl.assets.json'), 'utf8')) as { files: Record<string, { source: { path: string } }> };
    expect(Object.keys(assets.files).length).toBeGreaterThan(handlerNames().length);
  });

  test('GIVEN both pipelines WHEN relearn local run runs each at the same time THEN both deploy, each on its own state and endpoint, and invoke answers from each', async () => {
    const [churn, upsell] = await Promise.all([
      relearn(teamApp, ['local', 'run', '--pipeline', 'Churn', '--data', DATA, '--json']),
      relearn(teamApp, ['local', 'run', '--pipeline', 'team-upsell', '--data', DATA, '--json']),
    ]);
    for (const r of [churn, upsell]) {
      if (r.code !== 0) throw new Error(`relearn local run exited ${r.code}:\n${r.stderr.slice(-4000)}`);
    }
    const [c, u] = [JSON.parse(churn.stdout), JSON.parse(upsell.stdout)];
    expect(c).toMatchObject({ status: 'SUCCEEDED', endpointName: 'team-churn-endpoint', pipeline: 'team-churn', app: { path: 'TeamMl/Churn', command: 'npx ts-node --prefer-ts-exts bin/team-app.ts' } });
    expect(u).toMatchObject({ status: 'SUCCEEDED', endpointName: 'team-upsell-endpoint', pipeline: 'team-upsell', app: { path: 'TeamMl/Upsell' } });
    // Churn reads the team's own landing bucket; Upsell the bucket it built
    expect(c.source.bucket).toMatch(/^teamml-landing/);
    expect(u.source.bucket).toMatch(/^teamml-upselldatabucket/);
    expect(churn.stderr).toContain('npx ts-node --prefer-ts-exts bin/team-app.ts');
    expect(fs.readdirSync(path.join(teamApp, '.relearn', 'pipelines')).sort()).toEqual(['team-churn', 'team-upsell']);
    // the printed invoke command reaches the pipeline by name, and each endpoint serves its own model
    expect(c.invoke).toContain('relearn local invoke --pipeline team-churn');
    for (const name of ['team-churn', 'team-upsell']) {
      const invoke = await relearn(teamApp, ['local', 'invoke', '--pipeline', name, '--body', JSON.stringify(ROW)]);
      expect(invoke).toMatchObject({ code: 0 });
      const answer = JSON.parse(invoke.stdout) as { predictions: number[] };
      expect(answer.predictions).toHaveLength(1);
      expect(answer.predictions[0]).toBeGreaterThanOrEqual(0);
      expect(answer.predictions[0]).toBeLessThanOrEqual(1);
    }
    const unknown = await relearn(teamApp, ['local', 'invoke', '--pipeline', 'nope', '--body', JSON.stringify(ROW)]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toEqual([expect.stringContaining('--pipeline nope: no local state for it')]);
  });
});

describe('a plain JavaScript CDK app', () => {
  beforeAll(() => {
    writeJsApp(jsApp);
    const ms = npmInstall(jsApp, [packed.tarball, 'aws-cdk-lib@2.276.0', 'constructs@10.8.1', 'cdk-nag@3.0.2', 'aws-cdk@2.1148.1']);
    console.log(`npm install (a JavaScript app + the tarball, --prefer-offline): ${(ms / 1000).toFixed(1)} s`);
  });

  test('GIVEN non-default props WHEN cdk synth runs with the team\'s cdk-nag THEN it synthesizes clean with the given names', () => {
    const synth = cdkSynth(jsApp);
    expect(synth.output).not.toMatch(/AwsSolutions-/);
    expect(synth.code).toBe(0);
    console.log(`cdk synth (a JavaScript app): ${(synth.ms / 1000).toFixed(1)} s`);
    const t = templateOf(jsApp, 'Forecasts');
    const of = (type: string) => Object.values(t.Resources).filter((r) => r.Type === type);
    expect(of('AWS::StepFunctions::StateMachine').map((r) => r.Properties!.StateMachineName).sort()).toEqual(['forecasts-monitor', 'forecasts-rollback', 'platform-forecasts-retrain']);
    // a model package group given by name is not built, and Register writes to it
    expect(of('AWS::SageMaker::ModelPackageGroup')).toEqual([]);
    expect(JSON.stringify(of('AWS::IAM::Policy'))).toContain('model-package-group/platform-forecasts');
    expect(of('AWS::Logs::LogGroup').every((r) => r.Properties!.RetentionInDays === 14)).toBe(true);
  });

  test('GIVEN a bad prop WHEN cdk synth or relearn local run synthesizes the app THEN it fails naming the prop', async () => {
    const synth = cdkSynth(jsApp, { RELEARN_BAD_PROP: '1' });
    expect(synth.code).not.toBe(0);
    expect(synth.output).toContain("RetrainingPipeline: servingInstanceType must be a SageMaker ML instance type such as ml.m5.large, but got 'large'");
    const run = await relearn(jsApp, ['local', 'run', '--data', DATA], { RELEARN_BAD_PROP: '1' });
    expect(run.code).toBe(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines[lines.length - 1]).toContain("servingInstanceType must be a SageMaker ML instance type such as ml.m5.large, but got 'large'");
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });
});
