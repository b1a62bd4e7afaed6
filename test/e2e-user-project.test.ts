import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, readdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolvePipeline } from '../local/asl/assembly';
import { ensureBuilt, packedFiles } from './helpers/consumer';

/**
 * Issue 9, a user's own project: relearn installed as a dependency (npm's layout: relearn's published files in
 * node_modules/relearn, its dependencies hoisted beside it, their bins in node_modules/.bin), the user's configs in
 * conf/, their data in data/ and their own training script in scripts/. Everything runs as the user types it:
 * `npx relearn local run --config conf/alpha.json ...` from their folder, and then the invoke command the run printed,
 * in a shell, exactly as printed.
 *
 * Two pipelines (two configs, two names) in one folder keep separate state and champions; `--fresh` and `reset` on
 * one leave the other intact; `training.sourceDir` in conf/alpha.json is relative to conf/.
 */

jest.setTimeout(2400000);

const REPO = resolve(__dirname, '..');
let user: string;

/** What `npm install relearn` would lay out, from this checkout: the published files (npm pack's list) and links. */
function install(into: string): void {
  // An installed relearn runs its compiled dist/ (bin/relearn.js): build it if the sources are newer.
  ensureBuilt();
  const pkg = join(into, 'node_modules', 'relearn');
  for (const f of packedFiles()) cpSync(join(REPO, f), join(pkg, f));
  expect(existsSync(join(pkg, 'package-lock.json'))).toBe(false); // npm never publishes it
  for (const dep of readdirSync(join(REPO, 'node_modules'))) {
    if (dep === '.bin' || dep === '.package-lock.json') continue;
    symlinkSync(join(REPO, 'node_modules', dep), join(into, 'node_modules', dep));
  }
  mkdirSync(join(into, 'node_modules', '.bin'));
  for (const bin of readdirSync(join(REPO, 'node_modules', '.bin'))) {
    symlinkSync(realpathSync(join(REPO, 'node_modules', '.bin', bin)), join(into, 'node_modules', '.bin', bin));
  }
  symlinkSync('../relearn/bin/relearn.js', join(into, 'node_modules', '.bin', 'relearn'));
}

/** A command as the user types it in their folder (a shell, npx, node without --openssl-legacy-provider). */
function sh(command: string): { code: number | null; out: string; err: string } {
  const r = spawnSync('bash', ['-c', command], { cwd: user, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The invoke command a run printed (its last "npx relearn local invoke" line). */
const printedInvoke = (out: string) => /^ {2}(npx relearn local invoke .*)$/m.exec(out)?.[1];

const lastRun = (name: string) => JSON.parse(readFileSync(join(user, '.relearn', 'pipelines', name, 'last-run.json'), 'utf8')) as { champion?: { executionName: string }; executionName: string };

const DATASET = { labelColumn: 'churned', idColumn: 'customer_id', sliceColumns: ['country', 'plan'] };

beforeAll(() => {
  user = mkdtempSync(join(tmpdir(), 'relearn-user-'));
  install(user);
  mkdirSync(join(user, 'conf'));
  mkdirSync(join(user, 'data'));
  cpSync(join(REPO, 'examples', 'churn', 'data', 'churn-clean.csv'), join(user, 'data', 'day.csv'));
  // Their own training script: a copy of the example with a marker, in scripts/ (not relearn's folder).
  cpSync(join(REPO, 'training-scripts', 'tabular'), join(user, 'scripts', 'mine'), { recursive: true, filter: (p) => !p.includes('__pycache__') });
  writeFileSync(join(user, 'scripts', 'mine', 'MARKER.txt'), 'alpha');
  writeFileSync(join(user, 'conf', 'alpha.json'), JSON.stringify({ name: 'alpha', dataset: DATASET, training: { sourceDir: '../scripts/mine' } }));
  // beta: no sourceDir, so relearn's built-in script, from node_modules/relearn.
  writeFileSync(join(user, 'conf', 'beta.json'), JSON.stringify({ name: 'beta', dataset: DATASET, training: { hyperparameters: { 'max-text-features': 300 } } }));
});
afterAll(() => rmSync(user, { recursive: true, force: true }));

describe('relearn as a dependency, in a user\'s own folder', () => {
  test('npx relearn local run --config conf/alpha.json: the training script named relative to conf/, and the printed invoke runs as printed', () => {
    const run = sh('npx --offline relearn local run --config conf/alpha.json --data data/day.csv');
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: '' });
    expect(run.out).toMatch(/Outcome: SUCCEEDED — promoted and serving on alpha-endpoint/);
    // The training code it shipped is scripts/mine (relative to conf/), packaged.
    const pipeline = resolvePipeline(join(user, '.relearn', 'pipelines', 'alpha', 'cdk.out'));
    const archive = pipeline.fileAssets.find((a) => a.path.endsWith('.tar.gz'))!.path;
    expect(execFileSync('tar', ['tzf', archive], { encoding: 'utf8' }).split('\n')).toEqual(expect.arrayContaining(['MARKER.txt', 'train.py']));
    // The invoke command names the config, and runs as printed.
    const invoke = printedInvoke(run.out)!;
    expect(invoke).toMatch(/^npx relearn local invoke --config conf\/alpha\.json --body '\{/);
    const answer = sh(invoke);
    expect({ code: answer.code, err: answer.err }).toEqual({ code: 0, err: '' });
    expect(JSON.parse(answer.out).predictions).toHaveLength(1);
  });

  test('a second pipeline in the same folder (the built-in script from node_modules/relearn) keeps its own champion', () => {
    const run = sh('npx --offline relearn local run --config conf/beta.json --data data/day.csv');
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: '' });
    expect(run.out).toMatch(/Outcome: SUCCEEDED — promoted and serving on beta-endpoint/);
    // A first run for beta, whatever alpha did.
    expect(run.out).toMatch(/First run: no champion to compare with/);
    const pipeline = resolvePipeline(join(user, '.relearn', 'pipelines', 'beta', 'cdk.out'));
    const archive = pipeline.fileAssets.find((a) => a.path.endsWith('.tar.gz'))!.path;
    expect(execFileSync('tar', ['tzf', archive], { encoding: 'utf8' }).split('\n')).not.toContain('MARKER.txt');
    expect(lastRun('beta').champion?.executionName).toBe(lastRun('beta').executionName);
    expect(lastRun('alpha').champion?.executionName).toBe(lastRun('alpha').executionName);
    expect(lastRun('alpha').executionName).not.toBe(lastRun('beta').executionName);
    expect(sh(printedInvoke(run.out)!).code).toBe(0);
  });

  test('--fresh on beta forgets beta\'s runs only; reset of beta leaves alpha answering', () => {
    const alphaChampion = lastRun('alpha').champion!.executionName;
    const fresh = sh('npx --offline relearn local run --config conf/beta.json --data data/day.csv --fresh');
    expect(fresh.code).toBe(0);
    expect(fresh.out).toMatch(/First run: no champion to compare with/);
    expect(lastRun('alpha').champion!.executionName).toBe(alphaChampion);
    const reset = sh('npx --offline relearn local reset --config conf/beta.json');
    expect({ code: reset.code, out: reset.out }).toEqual({ code: 0, out: expect.stringContaining('pipeline "beta"') });
    expect(existsSync(join(user, '.relearn', 'pipelines', 'beta'))).toBe(false);
    const answer = sh(`npx --offline relearn local invoke --config conf/alpha.json --body-file data/day.csv`);
    expect({ code: answer.code, err: answer.err }).toEqual({ code: 0, err: '' });
    expect(JSON.parse(answer.out).predictions.length).toBe(5000);
    expect(lastRun('alpha').champion!.executionName).toBe(alphaChampion);
  });

  test('a missing path exits 2 with one line, naming the field and where it led', () => {
    writeFileSync(join(user, 'conf', 'broken.json'), JSON.stringify({ name: 'broken', training: { sourceDir: '../scripts/typo' } }));
    const run = sh('npx --offline relearn local run --config conf/broken.json');
    expect(run.code).toBe(2);
    expect(run.err).toBe(
      `relearn: training.sourceDir '../scripts/typo' in ${join(user, 'conf', 'broken.json')} (relative to ${join(user, 'conf')}) is ${join(user, 'scripts', 'typo')}, which is not a folder: expected the folder of your training script\n`,
    );
  });
});
