import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appChoiceOf, prepareAppPipeline, rollbackMachineOf } from '../local/app-run';
import { resolvePipeline } from '../local/asl/assembly';
import { ensureBuilt, REPO_ROOT } from './helpers/consumer';
import { AppSynthError, cdkAppOf, errorLineOf, synthesizeApp } from '../local/app-synth';
import { CliIO, main } from '../local/cli';
import { Interrupted, runLocal } from '../local/local-run';
import { pipelineForCommand } from '../local/project';

/**
 * `relearn local run` on a user's CDK app, before any pipeline runs: which app and pipeline a command line means,
 * the app run as the CDK CLI runs it (its context, its failure as one line), and the CLI's exit 2 for each bad input.
 * The whole run on a real app installed from the packed tarball is test/consumer.test.ts.
 */
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'relearn-app-run-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function folder(name: string, files: Record<string, string> = {}): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
  return d;
}

function capture(cwd: string): CliIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { cwd, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, out: () => out, err: () => err };
}

describe('which app a run means', () => {
  test('GIVEN --app or --pipeline THEN a CDK app; with --config as well THEN one line saying to give one', () => {
    const d = folder('plain');
    expect(appChoiceOf({ app: 'node app.js' }, d)).toEqual({ command: 'node app.js' });
    expect(appChoiceOf({ pipeline: 'Churn' }, d)).toEqual({ pipeline: 'Churn' });
    expect(() => appChoiceOf({ app: 'node app.js', config: 'c.json' }, d)).toThrow(AppSynthError);
    expect(appChoiceOf({ config: 'c.json' }, d)).toBeUndefined();
    expect(appChoiceOf({}, d)).toBeUndefined();
  });

  test('GIVEN a folder with a cdk.json THEN it is a CDK app, unless it also has a relearn.config.json', () => {
    const cdk = folder('cdk', { 'cdk.json': '{"app": "node app.js"}' });
    expect(appChoiceOf({}, cdk)).toEqual({});
    const both = folder('both', { 'cdk.json': '{"app": "node app.js"}', 'relearn.config.json': '{}' });
    expect(appChoiceOf({}, both)).toBeUndefined();
  });

  test('GIVEN cdk.json and cdk.context.json THEN the command and the context are the CDK CLI\'s (cdk.json wins)', () => {
    const d = folder('ctx', { 'cdk.json': '{"app": "node app.js", "context": {"a": 1, "b": 2}}', 'cdk.context.json': '{"b": 3, "c": 4}' });
    expect(cdkAppOf(d)).toEqual({ dir: d, command: 'node app.js', context: { a: 1, b: 2, c: 4 }, source: join(d, 'cdk.json') });
    expect(cdkAppOf(d, 'npx tsx other.ts').command).toBe('npx tsx other.ts');
    expect(() => cdkAppOf(folder('none'))).toThrow(`no CDK app in ${join(dir, 'none')}: expected a cdk.json with "app", or --app "<command>"`);
    expect(() => cdkAppOf(folder('noapp', { 'cdk.json': '{}' }))).toThrow('cdk.json has no "app"');
    expect(() => cdkAppOf(folder('badjson', { 'cdk.json': '{"app": ' }))).toThrow('cdk.json: not valid JSON');
  });
});

describe('the app run as cdk synth runs it', () => {
  test('GIVEN an app that throws THEN AppSynthError carries its error line, not its stack', async () => {
    const d = folder('throws', { 'app.js': "console.log('synthesizing');\nthrow new TypeError('RetrainingPipeline: trainingInstanceType must be ...');\n" });
    const err = await synthesizeApp(cdkAppOf(d, 'app.js'), join(d, 'out')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppSynthError);
    expect((err as Error).message).toBe('the CDK app `app.js` (--app) failed (exit 1): TypeError: RetrainingPipeline: trainingInstanceType must be ...');
  });

  test('GIVEN an app that writes no assembly THEN it says so', async () => {
    const d = folder('silent', { 'app.js': '' });
    await expect(synthesizeApp(cdkAppOf(d, 'node app.js'), join(d, 'out'))).rejects.toThrow('wrote no cloud assembly to CDK_OUTDIR');
  });

  test('GIVEN an app THEN it runs in its folder with CDK_OUTDIR and the context, including the asset metadata local mode needs', async () => {
    const d = folder('records', {
      'cdk.json': '{"app": "node app.js", "context": {"team": "ml"}}',
      'app.js': "const fs = require('fs');\nfs.writeFileSync(process.env.CDK_OUTDIR + '/manifest.json', JSON.stringify({ cwd: process.cwd(), context: JSON.parse(process.env.CDK_CONTEXT_JSON) }));\n",
    });
    const result = await synthesizeApp(cdkAppOf(d), join(d, 'out'));
    const seen = JSON.parse(require('node:fs').readFileSync(join(d, 'out', 'manifest.json'), 'utf8'));
    expect(seen.cwd).toBe(d);
    expect(seen.context).toMatchObject({ team: 'ml', 'aws:cdk:enable-asset-metadata': true });
    expect(result.outdir).toBe(join(d, 'out'));
  });

  test('errorLineOf picks the thrown error over the last line', () => {
    expect(errorLineOf('a\nError: boom\n    at x (y.js:1)\nlast')).toBe('Error: boom');
    expect(errorLineOf('only\nlines\n')).toBe('lines');
    expect(errorLineOf('')).toBe('no output');
  });
});

describe('the CLI on bad input (exit 2, one line)', () => {
  test.each<[string, string[], string]>([
    ['--app with --config', ['local', 'run', '--app', 'node app.js', '--config', 'c.json'], "--config is for relearn's own app, --app and --pipeline for a CDK app of yours"],
    ['an app that fails', ['local', 'run', '--app', 'node -e "throw new Error(\'no such stack\')"'], 'failed (exit 1): Error: no such stack'],
    ['an unknown pipeline for invoke', ['local', 'invoke', '--pipeline', 'nope', '--body', '{}'], '--pipeline nope: no local state for it'],
  ])('GIVEN %s THEN exit 2 and one line', async (_what, argv, message) => {
    const d = folder(`cli-${argv.length}-${argv[1]}`, { 'data.csv': 'a,churned\n1,0\n' });
    const io = capture(d);
    expect(await main([...argv, ...(argv[1] === 'run' ? ['--data', 'data.csv'] : [])], io)).toBe(2);
    const lines = io.err().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(message);
  });

  test('GIVEN --pipeline and --config for invoke THEN it says to give one', () => {
    expect(() => pipelineForCommand(folder('both-flags'), join(dir, 'c.json'), 'churn')).toThrow('--pipeline and --config both name a pipeline: give one');
  });
});

describe('an interrupt while the app synthesizes', () => {
  test('GIVEN a slow app WHEN the run is aborted THEN the app is stopped, the run is Interrupted during the synth, and no staged assembly is left', async () => {
    const d = folder('slow', { 'data.csv': 'a,churned\n1,0\n', 'cdk.json': '{"app": "node app.js"}', 'app.js': 'setTimeout(() => {}, 120000);\n' });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 500);
    const err = await runLocal({ projectDir: d, data: join(d, 'data.csv'), app: {}, signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Interrupted);
    expect((err as Interrupted).phase).toBe('the synth');
    expect(Date.now() - started).toBeLessThan(60_000); // the app was stopped, not waited for
    const staging = join(d, '.relearn', 'app-synth');
    expect(existsSync(staging) ? readdirSync(staging) : []).toEqual([]);
    expect(existsSync(join(d, '.relearn', 'pipelines'))).toBe(false);
  });
});

describe('a pipeline inside a Stage (a nested assembly)', () => {
  test('GIVEN an app with a Stage WHEN prepared THEN the pipeline is found in the nested assembly, its config read back, and the adopted assembly keeps the nesting', async () => {
    ensureBuilt(); // the app uses the pre-built bundles, as an installed relearn does
    const lib = JSON.stringify(join(REPO_ROOT, 'lib'));
    const d = folder('staged', {
      'cdk.json': JSON.stringify({ app: 'npx tsx app.ts', context: { 'relearn:lambdaCode': 'prebuilt' } }),
      'app.ts': [
        "import { App, Stack, Stage } from 'aws-cdk-lib';",
        `import { RetrainingPipeline } from ${lib};`,
        'const app = new App();',
        "const prod = new Stage(app, 'Prod');",
        "new RetrainingPipeline(new Stack(prod, 'Ml'), 'Churn', { config: { name: 'staged-churn' } });",
        'app.synth();',
        '',
      ].join('\n'),
    });
    // the app runs with the repository's node_modules (aws-cdk-lib, tsx), as an app with relearn installed would
    require('node:fs').symlinkSync(join(REPO_ROOT, 'node_modules'), join(d, 'node_modules'));
    const run = await prepareAppPipeline(d, { pipeline: 'Prod/Ml/Churn' });
    expect(run.found).toMatchObject({ path: 'Prod/Ml/Churn', id: 'Churn', name: 'staged-churn', stackName: 'Prod-Ml' });
    expect(run.found.outdir).toMatch(/assembly-Prod$/);
    expect(run.pipeline.config.name).toBe('staged-churn');
    expect(run.pipeline.stateDir).toBe(join(d, '.relearn', 'pipelines', 'staged-churn'));
    const adopted = run.adopt();
    expect(adopted).toBe(join(d, '.relearn', 'pipelines', 'staged-churn', 'cdk.out', 'assembly-Prod'));
    expect(existsSync(join(adopted, 'manifest.json'))).toBe(true);
    expect(readdirSync(join(d, '.relearn', 'app-synth'))).toEqual([]);
    // relearn local rollback --pipeline staged-churn: the pipeline's own rollback machine, found by its metadata
    const machine = rollbackMachineOf(join(d, '.relearn', 'pipelines', 'staged-churn', 'cdk.out'), 'staged-churn');
    expect(machine.outdir).toBe(adopted);
    expect(machine.resolve).toMatchObject({ stateMachine: expect.stringMatching(/^ChurnRollbackStateMachine/), stackName: 'Prod-Ml' });
    const rollback = resolvePipeline(machine.outdir, machine.resolve);
    expect(Object.keys(rollback.stateMachine.definition.States)).toEqual(expect.arrayContaining(['ResolveRollback', 'RestoreChampion']));
  });
});
