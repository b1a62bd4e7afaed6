import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bodyOf, E2eProject, firstVisits, RunJson } from './helpers/e2e';

/**
 * Issue 3's end-to-end tests: `relearn local run` on the bundled example, through the CLI function in
 * process (the same code bin/relearn.js runs), with real local S3 and SageMaker servers and real training.
 * The scenarios build on each other, in order: first run -> second run sees the champion -> failed training
 * leaves the endpoint alone -> failed endpoint update leaves the previous model answering.
 */

jest.setTimeout(600000);

let project: E2eProject;
const run = async (...flags: string[]) => project.run({ extra: flags });
const invoke = (body: string) => project.invoke(body);
const servingConfig = (endpointName: string) => project.servingConfig(endpointName);

const HAPPY_PATH = [
  'Ingest', 'ComputeStatistics', 'ValidateData', 'StartTraining', 'WaitForTraining', 'CheckTraining', 'TrainingComplete?',
  'Evaluate', 'PackageModel', 'Register', 'Blessed?', 'Deploy', 'WaitForEndpoint', 'CheckEndpoint', 'EndpointReady?', 'VerifyServing',
  'PromoteBaseline', 'Notify', 'Done',
];

let first: RunJson;
let sampleBody: string;

beforeAll(() => {
  project = new E2eProject();
});
afterAll(() => project.cleanup());

describe('relearn local run, end to end', () => {
  test('a first run on the example succeeds through every state in order, deploys, and the endpoint answers', async () => {
    // WHEN
    const { code, json } = await run('--fresh');
    first = json;
    // THEN
    expect({ status: json.status, error: json.error, failed: json.states.filter((s) => s.error) }).toEqual({ status: 'SUCCEEDED', error: undefined, failed: [] });
    expect(code).toBe(0);
    expect(firstVisits(json)).toEqual(HAPPY_PATH);
    for (const s of json.states) expect(s.durationMs).toBeGreaterThanOrEqual(0);
    expect(json.decision).toMatchObject({ deploy: true, promoted: true });
    expect(json.decision!.reasons.length).toBeGreaterThan(0);
    expect(json.report && existsSync(json.report.path)).toBe(true);
    expect(readFileSync(json.report!.path, 'utf8')).toMatch(/<html/i);
    expect(json.champion?.executionName).toBe(json.executionName);
    expect(json.endpointName).toBeTruthy();

    // AND Notify priced the run from its own history (GetExecutionHistory on the local Step Functions API, with the
    // role's credentials): the notification's last line and outcome.json say what it cost
    const notifications = readFileSync(join(project.pipelineDir('relearn'), 'sagemaker', 'notifications.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { subject: string; message: string });
    const notification = notifications.find((n) => n.subject.includes(json.executionName))!;
    expect(notification.message.split('\n').pop()).toMatch(
      /^Cost: \$\d+\.\d{4} at list prices \(us-east-1, 2026-12-01\): \d+ state transitions, \d+\.\d Lambda GB-s, training \d+ s on ml\.\S+ \(\$\d+\.\d{4}\)/,
    );
    const outcome = JSON.parse((await project.inspect((look) => look.artifact(`runs/${json.executionName}/outcome.json`)))!) as { message: string; cost: Record<string, unknown> };
    expect(outcome.message).toBe(notification.message);
    // 19 states entered on the happy path (polls may add more) plus the end state after Notify; every stage invoked
    expect(outcome.cost).toMatchObject({ currency: 'USD', pricesAsOf: '2026-12-01', stateTransitions: expect.any(Number), lambdaRequests: expect.any(Number), unpriced: ['the endpoint update (not measured yet)'] });
    expect(outcome.cost.stateTransitions as number).toBeGreaterThanOrEqual(HAPPY_PATH.length);
    expect(outcome.cost.lambdaRequests as number).toBeGreaterThanOrEqual(13);
    expect(outcome.cost.lambdaGbSeconds as number).toBeGreaterThan(0);
    expect(outcome.cost.trainingUsd as number).toBeGreaterThan(0);

    // AND the one-line invoke command answers with a prediction
    sampleBody = bodyOf(json.invoke!);
    const answer = await invoke(sampleBody);
    expect(answer.err).toBe('');
    expect(answer.code).toBe(0);
    const parsed = JSON.parse(answer.answer) as { predictions: number[] };
    expect(parsed.predictions).toHaveLength(1);
    expect(parsed.predictions[0]).toBeGreaterThanOrEqual(0);
    expect(parsed.predictions[0]).toBeLessThanOrEqual(1);
  });

  test('a second run on the same data compares the candidate with the first run’s champion', async () => {
    const { code, json } = await run();
    expect({ status: json.status, error: json.error, failed: json.states.filter((s) => s.error) }).toEqual({ status: 'SUCCEEDED', error: undefined, failed: [] });
    expect(code).toBe(0);
    // The champion's metric was there to compare with.
    expect(json.decision?.primaryMetric?.champion).toEqual(expect.any(Number));
    expect(json.decision!.reasons.join('\n')).toMatch(/champion/i);
    expect(firstVisits(json).slice(0, 9)).toEqual(HAPPY_PATH.slice(0, 9));
  });

  test('a failed training fails the execution at the training stage, NotifyFailure runs, the endpoint is untouched', async () => {
    // GIVEN the model the endpoint serves now
    const before = await servingConfig(first.endpointName);
    const championBefore = (await run_lastChampion()) ?? before;
    const answerBefore = (await invoke(sampleBody)).answer;
    // WHEN the next training job fails
    const { code, json } = await run('--fault-training', 'AlgorithmError: injected by the test');
    // THEN
    expect(code).toBe(1);
    expect(json.status).toBe('FAILED');
    const failedAt = json.states.find((s) => s.error && s.type !== 'Fail');
    expect(failedAt?.name).toBe('CheckTraining');
    expect(failedAt?.error).toBe('TrainingFailed');
    expect(json.error?.Cause).toContain('injected by the test');
    expect(firstVisits(json)).toEqual(expect.arrayContaining(['NotifyFailure', 'Failed']));
    expect(firstVisits(json)).not.toContain('Deploy');
    // AND the endpoint still serves the previous model
    expect(await servingConfig(first.endpointName)).toBe(before);
    expect(json.champion?.endpointConfigName).toBe(championBefore);
    const answer = await invoke(sampleBody);
    expect(answer.code).toBe(0);
    expect(answer.answer).toBe(answerBefore);
  });

  test('a failed endpoint update fails the execution and the previous model still answers', async () => {
    const before = await servingConfig(first.endpointName);
    const answerBefore = (await invoke(sampleBody)).answer;
    // WHEN the endpoint update fails to load the new model
    const { code, json } = await run('--fault-endpoint-update', 'ModelError: injected by the test');
    // THEN
    expect(code).toBe(1);
    expect(json.status).toBe('FAILED');
    const failedAt = json.states.find((s) => s.error && s.type !== 'Fail');
    expect(['Deploy', 'CheckEndpoint']).toContain(failedAt?.name);
    expect(firstVisits(json)).toEqual(expect.arrayContaining(['Deploy', 'NotifyFailure', 'Failed']));
    expect(firstVisits(json)).not.toContain('PromoteBaseline');
    // AND the endpoint is back on (still on) the previous config, answering as before
    expect(await servingConfig(first.endpointName)).toBe(before);
    const answer = await invoke(sampleBody);
    expect(answer.code).toBe(0);
    expect(answer.answer).toBe(answerBefore);
  });

  test('--fresh forgets the earlier runs: no champion to compare with', async () => {
    const { code, json } = await run('--fresh');
    expect(code).toBe(0);
    expect(json.status).toBe('SUCCEEDED');
    expect(json.decision?.primaryMetric?.champion ?? null).toBeNull();
    expect(json.champion?.executionName).toBe(json.executionName);
  });
});

/** The endpoint config of the champion recorded by the last successful run (last-run.json). */
async function run_lastChampion(): Promise<string | undefined> {
  const file = join(project.stateDir, 'last-run.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as { champion?: { endpointConfigName?: string } }).champion?.endpointConfigName;
}
