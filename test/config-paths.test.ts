import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { ConfigError, parseConfig } from '../lambdas/shared/config';
import { buildRelearnApp, PIPELINE_STACK_ID } from '../lib/app';
import { BUILTIN_TRAINING_SOURCE_DIR, checkConfigPaths, ConfigFileError, loadConfigFile, PACKAGE_ROOT, parseJsonText, trainingSourceDirOf } from '../lib/config-file';
import { CliIO, main } from '../local/cli';

/**
 * Issue 9, a user's own project: relative paths in the config are relative to the config file, for `cdk synth`
 * (bin/app.ts) and local mode alike; an absent training.sourceDir is relearn's built-in script from its own install;
 * a bad path or a bad config is one line (exit 2 for the CLI), before anything is synthesized. Issue 13: JSON errors
 * in the config give a line and a column.
 */

const ROOT = resolve(__dirname, '..');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'relearn-paths-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(cwd: string): CliIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { cwd, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, out: () => out, err: () => err };
}

describe('invalid JSON in the config names the line and the column', () => {
  test.each([
    ['a missing value', '{\n  "name": "churn",\n  "dataset": \n}\n', 'line 4, column 1: Unexpected token'],
    ['a trailing comma', '{\n  "name": "churn",\n  "dataset": { "labelColumn": "y", }\n}\n', 'line 3, column 36: Expected double-quoted property name (a comma before "}" is not allowed in JSON)'],
    ['an unquoted key', '{ name: "x" }', 'line 1, column 3: Expected property name'],
    ['a file that ends early', '{ "name": "x"', 'line 1, column 14: '],
    ['text after the JSON', '{ "name": "x" }\n}', 'line 2, column 1: Unexpected non-whitespace character after JSON'],
    ['a line end inside a string', '{"a": "x\ny"}', 'line 1, column 9: Bad control character in string literal'],
  ])('%s', (_what, text, where) => {
    let err: unknown;
    try {
      parseJsonText(text, '/p/relearn.config.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigFileError);
    expect((err as Error).message).toContain(`/p/relearn.config.json: not valid JSON at ${where}`);
    expect((err as Error).message).not.toContain('\n');
  });

  test('a UTF-8 byte order mark (Windows editors) is not an error', () => {
    expect(parseJsonText('\ufeff{"name":"x"}', 'f.json')).toEqual({ name: 'x' });
  });
});

describe('relative paths are relative to the config file', () => {
  test('training.sourceDir: relative to the config folder; absent, relearn\'s built-in script in its own install', () => {
    const config = parseConfig({ training: { sourceDir: '../scripts/mine' } });
    expect(trainingSourceDirOf(config, '/home/u/project/conf')).toBe('/home/u/project/scripts/mine');
    expect(trainingSourceDirOf(parseConfig({}), '/home/u/project/conf')).toBe(join(PACKAGE_ROOT, BUILTIN_TRAINING_SOURCE_DIR));
    expect(existsSync(join(PACKAGE_ROOT, BUILTIN_TRAINING_SOURCE_DIR, 'train.py'))).toBe(true);
    // An absent sourceDir is not turned into a path by the defaults (the Lambdas' RELEARN_CONFIG stays the same).
    expect(parseConfig({}).training.sourceDir).toBeUndefined();
  });

  test('a missing path is one line naming the field, what it says and where it led', () => {
    const base = join(dir, 'conf');
    expect(() => checkConfigPaths(parseConfig({ training: { sourceDir: 'nope' } }), base, `${base}/cfg.json`)).toThrow(
      new ConfigFileError(`training.sourceDir 'nope' in ${base}/cfg.json (relative to ${base}) is ${join(base, 'nope')}, which is not a folder: expected the folder of your training script`),
    );
    mkdirSync(join(dir, 'empty-script'), { recursive: true });
    expect(() => checkConfigPaths(parseConfig({ training: { sourceDir: '../empty-script' } }), base)).toThrow(/^training\.entryPoint 'train\.py' is not in the training source folder .*empty-script: expected .*empty-script\/train\.py$/);
    expect(() => checkConfigPaths(parseConfig({ validation: { schemaFile: 'schema.json' } }), base)).toThrow(/^validation\.schemaFile 'schema\.json' in the config \(relative to .*conf\) is .*conf\/schema\.json, which does not exist/);
  });

  test('cdk synth packages the sourceDir the config file names, relative to the config file, from any working directory', () => {
    // GIVEN a project folder with the config in conf/ and the training script in scripts/mine (a copy with a marker)
    const project = join(dir, 'synth-project');
    mkdirSync(join(project, 'conf'), { recursive: true });
    cpSync(join(ROOT, 'training-scripts', 'tabular'), join(project, 'scripts', 'mine'), { recursive: true, filter: (p) => !p.includes('__pycache__') });
    writeFileSync(join(project, 'scripts', 'mine', 'MARKER.txt'), 'mine');
    const configFile = join(project, 'conf', 'cfg.json');
    writeFileSync(configFile, JSON.stringify({ training: { sourceDir: '../scripts/mine' } }));
    // WHEN the app is built as bin/app.ts builds it (appRoot = the config file's folder)
    const outdir = join(dir, 'synth.out');
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    buildRelearnApp(app, loadConfigFile(configFile), { appRoot: join(project, 'conf'), nag: false });
    app.synth();
    // THEN the training code asset is that folder, packaged
    const manifest = JSON.parse(readFileSync(join(outdir, `${PIPELINE_STACK_ID}.assets.json`), 'utf8')) as { files: Record<string, { source: { path: string } }> };
    const archive = Object.values(manifest.files).map((f) => f.source.path).find((p) => p.endsWith('.tar.gz'))!;
    const list = spawnSync('tar', ['tzf', join(outdir, archive)], { encoding: 'utf8' }).stdout.split('\n');
    expect(list).toEqual(expect.arrayContaining(['MARKER.txt', 'train.py']));
  });

  test('bin/app.ts (cdk synth) names a missing path in one line, before anything is synthesized', () => {
    const conf = join(dir, 'elsewhere');
    mkdirSync(conf, { recursive: true });
    const file = join(conf, 'cfg.json');
    writeFileSync(file, JSON.stringify({ training: { sourceDir: 'scripts/missing' } }));
    const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'bin', 'app.ts')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ config: file }), CDK_OUTDIR: join(dir, 'bin.out') },
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`training.sourceDir 'scripts/missing' in ${file} (relative to ${conf}) is ${join(conf, 'scripts', 'missing')}, which is not a folder: expected the folder of your training script`);
    expect(existsSync(join(dir, 'bin.out', 'manifest.json'))).toBe(false);
  });
});

describe('relearn local run refuses bad input before the synth: exit 2, one line, no stack trace', () => {
  const runIn = async (cwd: string, ...args: string[]) => {
    const io = capture(cwd);
    const code = await main(['local', 'run', ...args], io);
    return { code, out: io.out(), err: io.err() };
  };

  test.each([
    ['a config file that is not there', ['--config', 'conf/missing.json'], (d: string) => `relearn: config file not found: ${join(d, 'conf', 'missing.json')}`],
    ['a training.sourceDir that is not there', ['--config', 'conf/bad-path.json'], (d: string) => `relearn: training.sourceDir '../no-such-script' in ${join(d, 'conf', 'bad-path.json')} (relative to ${join(d, 'conf')}) is ${join(d, 'no-such-script')}, which is not a folder: expected the folder of your training script`],
    ['invalid JSON', ['--config', 'conf/broken.json'], (d: string) => `relearn: ${join(d, 'conf', 'broken.json')}: not valid JSON at line 2, column 1: Expected double-quoted property name (a comma before "}" is not allowed in JSON)`],
    ['a --data file that is not there', ['--data', 'nope.csv'], (d: string) => `relearn: data not found: ${join(d, 'nope.csv')}`],
    ['an empty --data folder', ['--data', 'empty'], (d: string) => `relearn: data directory is empty: ${join(d, 'empty')} has no files (dotfiles are skipped)`],
  ])('%s', async (_what, args, message) => {
    // GIVEN a user's folder with a config in conf/
    const project = mkdtempSync(join(dir, 'user-'));
    mkdirSync(join(project, 'conf'));
    mkdirSync(join(project, 'empty'));
    writeFileSync(join(project, 'empty', '.hidden'), 'x');
    writeFileSync(join(project, 'conf', 'bad-path.json'), JSON.stringify({ training: { sourceDir: '../no-such-script' } }));
    writeFileSync(join(project, 'conf', 'broken.json'), '{ "name": "x",\n}');
    // WHEN
    const r = await runIn(project, ...args);
    // THEN exit 2 with exactly that line, and nothing was started or synthesized
    expect(r.code).toBe(2);
    expect(r.err).toBe(message(project) + '\n');
    expect(r.out).toBe('');
    expect(existsSync(join(project, '.relearn'))).toBe(false);
  });

  test('a config with bad fields lists each one (ConfigError), still before anything starts', async () => {
    const project = mkdtempSync(join(dir, 'user-'));
    writeFileSync(join(project, 'relearn.config.json'), JSON.stringify({ name: 'Bad Name' }));
    const r = await runIn(project);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^relearn: Invalid relearn configuration \(.*relearn\.config\.json\):\n {2}- name: /);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(() => loadConfigFile(join(project, 'relearn.config.json'))).toThrow(ConfigError);
  });
});
