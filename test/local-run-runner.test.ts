import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePipeline, ResolvedPipeline } from '../local/asl/assembly';
import { parseCause } from '../local/lambda-host';
import { LocalExecutionResult, RunEvent, runLocalExecution } from '../local/runner';
import { synthTestApp, writeFixtures } from '../local/testing/fixture-app';

/**
 * The runner on the fixture app: the synthesized ASL run by aws-local-stepfunctions, each Lambda task running
 * its esbuild bundle in process with the function's own environment.
 */

let work: string;
let pipeline: ResolvedPipeline;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'relearn-runner-'));
  writeFixtures(work);
  pipeline = resolvePipeline(synthTestApp(work));
}, 120000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const topLevel = (r: LocalExecutionResult) => r.states.filter((s) => s.mapIndex === undefined).map((s) => s.name);

describe('runLocalExecution', () => {
  test('runs every state in order, Map iterations included, with the functions environment', async () => {
    // GIVEN
    const events: RunEvent[] = [];
    delete process.env.STAGE;
    // WHEN
    const result = await runLocalExecution({
      pipeline,
      input: { source: { bucket: 'b', prefix: 'incoming/' } },
      executionName: 'exec-ok',
      env: { LOCAL_MARK: 'from-local-env' },
      onEvent: (e) => events.push(e),
    });
    // THEN
    expect(result.status).toBe('SUCCEEDED');
    expect(topLevel(result)).toEqual(['Ingest', 'ComputeStatistics', 'StartTraining', 'WaitForTraining', 'CheckTraining', 'TrainingComplete?', 'Done']);
    expect(result.states.filter((s) => s.name === 'ShardStatistics').map((s) => s.mapIndex).sort()).toEqual([0, 1, 2]);
    const output = result.output as Record<string, { out: Record<string, unknown> }>;
    // The ResultSelector `$.Payload` worked on the invoke envelope, and the function saw its own environment.
    expect(output.training.out.stage).toBe('Train');
    expect(output.training.out.functionName).toBe(pipeline.functions[pipeline.tasks.StartTraining].name);
    expect((output.training.out.env as Record<string, string>).LOCAL_MARK).toBe('from-local-env');
    expect((output.training.out.env as Record<string, string>).DATA_BUCKET).toBe(pipeline.functions[pipeline.tasks.StartTraining].environment.DATA_BUCKET);
    // A payloadResponseOnly task (Resource = the function ARN) gets the handler's result as it is.
    expect((output.check as unknown as Record<string, unknown>).stage).toBe('Check');
    expect(pipeline.stateMachine.definition.States.CheckTraining.Resource).toBe(pipeline.tasks.CheckTraining);
    // Each visit has a duration, and events were emitted for each state entered and exited.
    for (const s of result.states) expect(s.durationMs).toBeGreaterThanOrEqual(0);
    expect(events.filter((e) => e.type === 'StateEntered').length).toBe(result.states.length);
    expect(events.filter((e) => e.type === 'StateExited').length).toBe(result.states.length);
    expect(events[events.length - 1]).toMatchObject({ type: 'ExecutionEnded', status: 'SUCCEEDED' });
    // The function's variables were put back once the run was over.
    expect(process.env.STAGE).toBeUndefined();
    expect(process.env.LOCAL_MARK).toBeUndefined();
  });

  test('a TransientError is retried as the definition says, and the retries are counted', async () => {
    // WHEN StartTraining throws TransientError on its first two attempts
    const result = await runLocalExecution({
      pipeline,
      input: { mode: { flaky: 'Train' } },
      executionName: 'exec-flaky',
      retryIntervalMs: 0,
    });
    // THEN
    expect(result.status).toBe('SUCCEEDED');
    const train = result.states.find((s) => s.name === 'StartTraining')!;
    expect(train.retries).toBe(2);
    expect(train.status).toBe('succeeded');
  });

  test('an error keeps its name: the Catch routes it to NotifyFailure with Lambda’s Cause, and the execution fails', async () => {
    // WHEN CheckTraining throws TrainingFailed
    const result = await runLocalExecution({
      pipeline,
      input: { mode: { fail: { at: 'Check', name: 'TrainingFailed', message: 'AlgorithmError: boom' } } },
      executionName: 'exec-fail',
    });
    // THEN
    expect(result.status).toBe('FAILED');
    expect(topLevel(result)).toEqual(['Ingest', 'ComputeStatistics', 'StartTraining', 'WaitForTraining', 'CheckTraining', 'NotifyFailure', 'Failed']);
    expect(result.states.find((s) => s.name === 'CheckTraining')).toMatchObject({ status: 'caught', error: { Error: 'TrainingFailed' } });
    expect(result.error?.Error).toBe('TrainingFailed');
    // NotifyFailure saw $.error as Step Functions stores it: Error = the name, Cause = Lambda's JSON.
    expect(parseCause(result.error?.Cause)).toEqual({ errorType: 'TrainingFailed', errorMessage: 'AlgorithmError: boom' });
  });

  test('an aborted execution reports ABORTED', async () => {
    const controller = new AbortController();
    const result = await runLocalExecution({
      pipeline,
      input: {},
      executionName: 'exec-abort',
      maxWaitSeconds: 30,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'StateEntered' && e.visit.name === 'WaitForTraining') controller.abort();
      },
    });
    expect(result.status).toBe('ABORTED');
    expect(topLevel(result)).not.toContain('CheckTraining');
  });
});
