import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliIO, HELP, main, parseArgs } from '../local/cli';
import { pipelineDirOf, resetState, stateDirOf } from '../local/local-run';

/** The command line's contract: usage, and clear errors before anything starts. */

function capture(cwd: string): CliIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    cwd,
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    out: () => out,
    err: () => err,
  };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'relearn-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('relearn CLI', () => {
  test('--help documents every command and flag', async () => {
    const io = capture(dir);
    expect(await main(['--help'], io)).toBe(0);
    for (const word of ['local run', 'local invoke', 'local reset', '--data', '--config', '--json', '--fresh', '--fault-training', '--fault-endpoint-update', '--body', '--content-type', 'RELEARN_PYTHON']) {
      expect(io.out()).toContain(word);
    }
    expect(io.out()).toBe(HELP);
  });

  test('an unknown command or option is a usage error (exit 2)', async () => {
    const io = capture(dir);
    expect(await main(['local', 'frobnicate'], io)).toBe(2);
    expect(io.err()).toMatch(/unknown command "local frobnicate"/);
    expect(await main(['local', 'run', '--colour'], io)).toBe(2);
    expect(io.err()).toMatch(/unknown option --colour/);
    expect(() => parseArgs(['local', 'run', '--data'])).toThrow('--data needs a value');
  });

  test('a missing data file is named', async () => {
    const io = capture(dir);
    expect(await main(['local', 'run', '--data', 'no-such.csv'], io)).toBe(2);
    expect(io.err()).toContain(`data not found: ${join(dir, 'no-such.csv')}`);
  });

  test('a bad config lists every bad field, before anything starts', async () => {
    // GIVEN a config with three problems
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ name: 'Not OK', dataset: { validationFraction: 2, colour: 'red' } }));
    const io = capture(dir);
    // WHEN
    const code = await main(['local', 'run', '--config', 'bad.json'], io);
    // THEN
    expect(code).toBe(2);
    expect(io.err()).toContain('bad.json');
    expect(io.err()).toMatch(/- name: /);
    expect(io.err()).toMatch(/- dataset\.validationFraction: /);
    expect(io.err()).toMatch(/- dataset: Unrecognized key: "colour"/);
    expect(io.out()).toBe('');
  });

  test('a config file that is not JSON says so', async () => {
    writeFileSync(join(dir, 'broken.json'), '{ name: ');
    const io = capture(dir);
    expect(await main(['local', 'run', '--config', 'broken.json'], io)).toBe(2);
    expect(io.err()).toMatch(/broken\.json: not valid JSON at line 1, column 3: Expected property name/);
    expect(io.err().trim().split('\n')).toHaveLength(1);
  });

  test('invoke needs a body, and a previous run', async () => {
    const io = capture(dir);
    expect(await main(['local', 'invoke'], io)).toBe(2);
    expect(io.err()).toMatch(/--body is required/);
    expect(await main(['local', 'invoke', '--body', '{"a":1}'], io)).toBe(2);
    expect(io.err()).toMatch(/run "relearn local run" first/);
  });

  test('bad fault and wait values are refused with what came in', async () => {
    const io = capture(dir);
    expect(await main(['local', 'run', '--max-wait', 'soon'], io)).toBe(2);
    expect(io.err()).toMatch(/--max-wait must be a number of seconds >= 0, but got soon/);
  });

  test('--fresh forgets the pipeline\'s runs but keeps its synthesized app; reset removes one pipeline, --all every one', async () => {
    // GIVEN two pipelines with an assembly and run state each
    const mine = pipelineDirOf(dir, 'relearn');
    const other = pipelineDirOf(dir, 'other');
    for (const p of [mine, other]) {
      for (const d of ['cdk.out', 's3/bucket', 'sagemaker', 'reports/x']) mkdirSync(join(p, d), { recursive: true });
      writeFileSync(join(p, 'last-run.json'), '{}');
    }
    // WHEN --fresh's reset of one pipeline
    resetState(mine, false);
    // THEN only its run state is gone
    expect(['cdk.out', 's3', 'sagemaker', 'reports', 'last-run.json'].filter((e) => existsSync(join(mine, e)))).toEqual(['cdk.out']);
    expect(['cdk.out', 's3', 'sagemaker', 'reports', 'last-run.json'].filter((e) => existsSync(join(other, e)))).toHaveLength(5);
    // WHEN relearn local reset (no config here: the default pipeline "relearn")
    const io = capture(dir);
    expect(await main(['local', 'reset'], io)).toBe(0);
    expect(io.out()).toContain('pipeline "relearn"');
    expect(existsSync(mine)).toBe(false);
    expect(existsSync(other)).toBe(true);
    // WHEN relearn local reset --all
    expect(await main(['local', 'reset', '--all'], capture(dir))).toBe(0);
    expect(existsSync(stateDirOf(dir))).toBe(false);
  });

  test('bin/relearn.js runs the CLI, re-running node with --openssl-legacy-provider when it is missing', () => {
    // GIVEN a node started without the flag (NODE_OPTIONS emptied)
    const bin = join(__dirname, '..', 'bin', 'relearn.js');
    const env = { ...process.env, NODE_OPTIONS: '' };
    // WHEN
    const help = spawnSync(process.execPath, [bin, '--help'], { env, encoding: 'utf8', cwd: dir });
    const bad = spawnSync(process.execPath, [bin, 'local', 'nope'], { env, encoding: 'utf8', cwd: dir });
    // THEN the exit codes and output pass through the re-run
    expect(help.status).toBe(0);
    expect(help.stdout).toBe(HELP);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown command "local nope"/);
  });
});
