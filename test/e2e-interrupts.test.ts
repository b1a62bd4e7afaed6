import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bodyOf, E2eProject, RunJson } from './helpers/e2e';
import { RelearnProcess } from './helpers/process-tree';

/**
 * Issue 13: a Ctrl-C (or SIGTERM) at any moment of `relearn local run` stops the run, exits 130, leaves no process
 * behind, and leaves the pipeline as it was before the run (or as a cleanly failed run): the champion keeps
 * answering, and the next run succeeds.
 *
 * Each interrupted run is a real `node bin/relearn.js local run` in its own process group (as a terminal runs it),
 * started without --openssl-legacy-provider so that bin/relearn.js re-runs node as a user's `npx relearn` does; the
 * test sends the signal to the whole group, as the terminal's Ctrl-C does. The moments: during the synth, while the
 * local serving process starts (the reproduction), during a stage, during the training job, during an
 * endpoint update, during VerifyServing.
 */

jest.setTimeout(1800000);

const CONFIG = {
  dataset: { labelColumn: 'churned', idColumn: 'customer_id', sliceColumns: ['country', 'plan'], validationFraction: 0.2 },
  training: { hyperparameters: { estimator: 'logistic', 'max-text-features': 500 } },
};
/** The same pipeline with another hyperparameter: a config-only change, so the next run synthesizes again. */
const CHANGED = { ...CONFIG, training: { hyperparameters: { estimator: 'logistic', 'max-text-features': 400 } } };

const project = new E2eProject('relearn-e2e-interrupts-');
let configFile: string;
let changedFile: string;
let data: string;
let champion: RunJson;
let sampleBody: string;
let answer: string;
const started: RelearnProcess[] = [];

beforeAll(async () => {
  configFile = project.writeConfig('config', CONFIG);
  changedFile = project.writeConfig('changed', CHANGED);
  data = await project.writeData('day', { rows: 3000, seed: 5 });
});
afterAll(() => {
  for (const p of started) p.killAll();
  project.cleanup();
});

/** `relearn local run` as a user starts it, interrupted with `signal` once `moment` has come. */
async function interrupted(signal: NodeJS.Signals, config: string, moment: (p: RelearnProcess) => boolean, what: string, direct = false) {
  const p = new RelearnProcess(['local', 'run', '--config', config, '--data', data], { cwd: project.dir, direct });
  started.push(p);
  await p.waitFor(what, () => moment(p), 900000);
  p.signalGroup(signal);
  const exit = await p.exited;
  // Whatever the run had started stops with it: give the kernel a moment to reap what the run killed.
  const deadline = Date.now() + 10000;
  while (p.survivors().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return { exit, text: p.text, survivors: p.survivors(), p };
}

/** The pipeline is as it was: no lock, the champion unchanged, serving it and answering as before. */
async function expectChampionIntact(): Promise<void> {
  expect(existsSync(join(project.stateDir, 'lock'))).toBe(false);
  const look = await project.inspect(async (l) => ({
    serving: await l.servingConfig(champion.endpointName),
    record: JSON.parse((await l.artifact('champion/current.json'))!) as { executionName: string },
  }));
  expect(look.record.executionName).toBe(champion.executionName);
  expect(look.serving).toBe(champion.champion!.endpointConfigName);
  const now = await project.invoke(sampleBody);
  expect({ code: now.code, err: now.err }).toEqual({ code: 0, err: '' });
  expect(now.answer).toBe(answer);
}

const line = (p: RelearnProcess, re: RegExp) => re.test(p.text);

describe('interrupting relearn local run', () => {
  test('GIVEN a champion from a first run', async () => {
    const { code, json } = await project.run({ config: 'config', data, extra: ['--fresh'] });
    expect({ code, status: json.status, error: json.error }).toEqual({ code: 0, status: 'SUCCEEDED', error: undefined });
    champion = json;
    sampleBody = bodyOf(json.invoke!);
    const first = await project.invoke(sampleBody);
    expect(first.code).toBe(0);
    answer = first.answer;
  });

  test('during the synth (SIGINT): exit 130, nothing started, no process left', async () => {
    const r = await interrupted('SIGINT', changedFile, (p) => line(p, /relearn local run · pipeline/), 'the start of the synth');
    expect(r.exit.code).toBe(130);
    expect(r.text).toMatch(/relearn: interrupted during the synth: no execution started/);
    expect(r.text).not.toMatch(/^execution /m);
    expect(r.survivors).toEqual([]);
    await expectChampionIntact();
  });

  test.each([
    ['as npx relearn runs it (bin/relearn.js re-runs node)', false],
    ['with node started with --openssl-legacy-provider (no re-run: the serving process is in the signalled group unless it has its own)', true],
  ])('while the local serving process starts (the issue\'s reproduction, SIGINT), %s: exit 130, the endpoint is not left Failed', async (_how, direct) => {
    const r = await interrupted('SIGINT', configFile, (p) => p.descendants(/serve\.py/).length > 0, 'a serving process', direct);
    expect(r.exit.code).toBe(130);
    expect(r.text).toMatch(/relearn: interrupted during the start of the local services: no execution started/);
    expect(r.text).not.toMatch(/KeyboardInterrupt|DeploymentFailed/);
    expect(r.survivors).toEqual([]);
    await expectChampionIntact();
  });

  test('during a stage (SIGTERM): the execution is aborted, exit 130', async () => {
    const r = await interrupted('SIGTERM', configFile, (p) => line(p, /→ ComputeStatistics/), 'ComputeStatistics');
    expect(r.exit.code).toBe(130);
    expect(r.text).toMatch(/interrupted \(SIGTERM\)/);
    expect(r.text).toMatch(/Outcome: ABORTED — interrupted/);
    expect(r.text).toMatch(/: no training job \S+: the run had not started one/);
    expect(r.survivors).toEqual([]);
    await expectChampionIntact();
  });

  test('during the training job (SIGINT): the job is stopped by the abort clean-up, exit 130', async () => {
    const r = await interrupted('SIGINT', configFile, (p) => p.descendants(/train_harness\.py|python3?\S*\s+train\.py/).length > 0, 'a training process');
    expect(r.exit.code).toBe(130);
    expect(r.text).toMatch(/Outcome: ABORTED — interrupted/);
    // The template's abort clean-up (EventBridge's target in the cloud) ran and stopped the job, unless it had just ended.
    expect(r.text).toMatch(/: training job \S+ (was still InProgress: stopped|was not running \((Completed|Stopped)\))/);
    const jobs = await project.inspect(async (l) => l.trainingJobStatuses());
    expect(Object.values(jobs)).not.toContain('InProgress');
    if (/was still InProgress: stopped/.test(r.text)) expect(Object.values(jobs)).toContain('Stopped');
    expect(r.survivors).toEqual([]);
    await expectChampionIntact();
  });

  test('during an endpoint update (SIGTERM): the endpoint goes back to the champion, exit 130', async () => {
    const r = await interrupted('SIGTERM', configFile, (p) => line(p, /→ WaitForEndpoint/), 'WaitForEndpoint');
    expect(r.exit.code).toBe(130);
    expect(r.text).toMatch(/Outcome: ABORTED — interrupted/);
    expect(r.text).toMatch(/rolling back to|nothing to roll back/);
    expect(r.survivors).toEqual([]);
    await expectChampionIntact();
  });

  test('during VerifyServing (SIGINT): the endpoint goes back to the champion, exit 130', async () => {
    const r = await interrupted('SIGINT', configFile, (p) => line(p, /→ VerifyServing/), 'VerifyServing');
    expect(r.exit.code).toBe(130);
    expect(r.text).toMatch(/Outcome: ABORTED — interrupted/);
    expect(r.text).toMatch(/is rolling back to/);
    expect(r.survivors).toEqual([]);
    await expectChampionIntact();
  });

  test('THEN the next run succeeds and its model answers', async () => {
    const { code, json } = await project.run({ config: 'config', data });
    expect({ code, status: json.status, error: json.error }).toEqual({ code: 0, status: 'SUCCEEDED', error: undefined });
    const now = await project.invoke(sampleBody);
    expect(now.code).toBe(0);
    expect(JSON.parse(now.answer).predictions).toHaveLength(1);
  });
});
